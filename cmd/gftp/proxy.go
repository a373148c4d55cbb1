package main

import (
	"context"
	"os/exec"
	"strings"

	"github.com/gftp/gftp/internal/proxy"
)

// proxySetting resolves the proxy the way git-ftp does (its
// set_curl_proxy): -x/--proxy, else git-ftp.proxy (GFTP_PROXY and
// .git-ftp-config in between, as for every key), else git config
// http.proxy. An empty --proxy ” connects directly, as curl's -x ”
// does. active refuses a proxy for FTP: the server could not connect back.
func (a *app) proxySetting(ctx context.Context, s *settings, dir, scheme string, active bool) (string, error) {
	p, src := s.get("proxy")
	from := src.String()
	if src == srcNone && dir != "" && dir == s.dir {
		if s.httpProxy != "" {
			p, from = strings.TrimSpace(s.httpProxy), "git config http.proxy"
		}
	} else if src == srcNone && dir != "" {
		out, err := exec.CommandContext(ctx, "git", "-C", dir, "config", "--get", "http.proxy").Output()
		if err == nil {
			p, from = strings.TrimSpace(string(out)), "git config http.proxy"
		}
	}
	if p == "" {
		return "", nil
	}
	if _, err := proxy.Parse(p); err != nil {
		return "", usageErr("give the proxy as [socks5://|socks5h://|http://][user:password@]host[:port] (--proxy, GFTP_PROXY, git config git-ftp.proxy)", "%v (from %s)", err, from)
	}
	if active && (scheme == "ftp" || scheme == "ftpes" || scheme == "ftps") {
		return "", usageErr("use passive mode (--passive, the default) with a proxy, or --proxy '' to connect directly",
			"active mode cannot work through a proxy (%s, from %s): the server cannot connect back through it", proxy.Redact(p), from)
	}
	a.log.Info("connecting through a proxy", "proxy", proxy.Redact(p), "from", from)
	return p, nil
}
