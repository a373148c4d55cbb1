package integration_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/diag"
	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/internal/proxy/proxytest"
)

// proxiedHost is the name gftp is given for the server. Only the test
// proxies resolve it: Go never looks up a .onion name (RFC 7686), so a
// connection that went around the proxy would fail at once instead of
// reaching the server.
const proxiedHost = "deploy-target.gftp-test.onion"

const proxySecret = "pr0xy-s3cret"

// viaName returns srv's URL with its host replaced by proxiedHost.
func viaName(t *testing.T, srv *servers.Server) string {
	t.Helper()
	if !strings.Contains(srv.URL, "127.0.0.1") {
		t.Fatalf("server URL %s is not on 127.0.0.1", srv.URL)
	}
	return strings.Replace(srv.URL, "127.0.0.1", proxiedHost, 1)
}

// checkTargets fails unless every connection the proxy made went to
// proxiedHost, and returns how many went to the control port and how many
// elsewhere (data connections).
func checkTargets(t *testing.T, p *proxytest.Server, srv *servers.Server) (control, data int) {
	t.Helper()
	_, ctlPort, _ := net.SplitHostPort(srv.Addr)
	for _, tgt := range p.Targets() {
		host, port, _ := net.SplitHostPort(tgt)
		if host != proxiedHost {
			t.Errorf("the proxy connected to %s, want only %s", tgt, proxiedHost)
		}
		if port == ctlPort {
			control++
		} else {
			data++
		}
	}
	return control, data
}

// TestProxyFTPES deploys to vsftpd (explicit TLS 1.3, data connections
// must resume the control connection's TLS session) through a SOCKS5 and
// an HTTP CONNECT proxy: the control connection and every passive data
// connection go through the proxy, and TLS session reuse still works.
// Wrong proxy credentials and active mode are refused.
func TestProxyFTPES(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13, servers.CertHosts(proxiedHost))
	url := viaName(t, srv)

	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	g.Write("css/site.css", []byte("body{}"))
	g.Write("img/big.bin", bytes.Repeat([]byte("0123456789abcdef"), 96<<10)) // 1.5 MiB: TLS 1.3 close_notify on the way up
	g.Write("js/app.js", []byte("x()"))
	c1 := g.Commit("one")

	// Without a proxy the name does not resolve: nothing reaches the
	// server but through the proxy.
	r := gftp(t, srv, g.Dir, "init", "--retries", "0", url)
	if r.code != 4 || !strings.Contains(r.stderr, proxiedHost) {
		t.Fatalf("without a proxy: exit %d, want 4 (git-ftp's for init) naming %s\n%s", r.code, proxiedHost, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(srv.Root, ".git-ftp.log")); !os.IsNotExist(err) {
		t.Fatalf("deployed without the proxy")
	}

	socks := proxytest.Start(t, proxytest.SOCKS5, "deploy", proxySecret)
	socks.Hosts[proxiedHost] = "127.0.0.1"
	// -vv: -v logs only the first data connection's TLS of each control
	// connection (and any that did not resume).
	r = mustGftp(t, srv, g.Dir, "init", "-vv", "-x", socks.URL("socks5h"), url)
	checkServed(t, srv, g, c1)
	control, data := checkTargets(t, socks, srv)
	if control < 1 || data < 5 { // 4 files and the marker, one data connection each at least
		t.Errorf("through the proxy: %d control and %d data connections, want at least 1 and 5", control, data)
	}
	if strings.Count(r.stderr, "resumed=true") < 5 || strings.Contains(r.stderr, "resumed=false") {
		t.Errorf("data connections did not all resume the TLS session:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, proxySecret) {
		t.Errorf("the proxy password was printed:\n%s", r.stderr)
	}

	// A push through an HTTP CONNECT proxy, from git config.
	g.Write("index.html", []byte("two"))
	g.Remove("js/app.js")
	c2 := g.Commit("two")
	httpProxy := proxytest.Start(t, proxytest.HTTP, "deploy", proxySecret)
	httpProxy.Hosts[proxiedHost] = "127.0.0.1"
	g.Git("config", "git-ftp.proxy", httpProxy.URL("http"))
	r = mustGftp(t, srv, g.Dir, "push", "-vv", url)
	checkServed(t, srv, g, c2)
	if control, data := checkTargets(t, httpProxy, srv); control < 1 || data < 2 {
		t.Errorf("through the HTTP proxy: %d control and %d data connections", control, data)
	}
	if strings.Contains(r.stderr+r.stdout, proxySecret) {
		t.Errorf("the proxy password was printed at -vv:\n%s", r.stderr)
	}

	// Wrong credentials: exit 5 (git-ftp's for a push that cannot
	// connect), a hint about the proxy, no password.
	g.Write("index.html", []byte("three"))
	g.Commit("three")
	bad := strings.Replace(socks.URL("socks5h"), proxySecret, "wrong-s3cret", 1)
	r = gftp(t, srv, g.Dir, "push", "-x", bad, url)
	expectFailure(t, r, 5, "proxy", "refused the credentials", "hint: check the user and password in the proxy URL")
	if strings.Contains(r.stderr, "wrong-s3cret") {
		t.Errorf("the proxy password was printed:\n%s", r.stderr)
	}
	if socks.Refused() == 0 {
		t.Errorf("the proxy saw no login")
	}
	if got := readMarker(t, srv); got != c2+"\n" {
		t.Errorf("marker = %q after a refused proxy login, want %s", got, c2)
	}

	// Active mode through a proxy: refused before connecting.
	before := len(socks.Targets())
	r = gftp(t, srv, g.Dir, "push", "--active", "-x", socks.URL("socks5h"), url)
	expectFailure(t, r, 2, "active mode cannot work through a proxy", "passive")
	if len(socks.Targets()) != before {
		t.Errorf("active mode with a proxy connected anyway")
	}

	// socks5:// resolves here: the name fails, the address goes through.
	r = gftp(t, srv, g.Dir, "push", "--retries", "0", "-x", socks.URL("socks5"), url)
	expectFailure(t, r, 5, proxiedHost)
	mustGftp(t, srv, g.Dir, "push", "-x", socks.URL("socks5"), srv.URL)
	if got := socks.Targets(); !strings.HasPrefix(got[len(got)-1], "127.0.0.1:") {
		t.Errorf("socks5:// sent %s, want an address", got[len(got)-1])
	}
}

// TestProxySFTP deploys over SFTP through an HTTP CONNECT proxy, with the
// host key checked against the URL's name.
func TestProxySFTP(t *testing.T) {
	srv := servers.StartSSHD(t)
	url := viaName(t, srv)
	// The server's known_hosts line under the name gftp is given.
	for i, f := range srv.Flags {
		if f == "--known-hosts" {
			data, err := os.ReadFile(srv.Flags[i+1])
			if err != nil {
				t.Fatal(err)
			}
			kh := filepath.Join(t.TempDir(), "known_hosts")
			named := strings.ReplaceAll(string(data), "[127.0.0.1]:", fmt.Sprintf("[%s]:", proxiedHost))
			if err := os.WriteFile(kh, []byte(named), 0o600); err != nil {
				t.Fatal(err)
			}
			srv.Flags[i+1] = kh
		}
	}
	p := proxytest.Start(t, proxytest.HTTP, "deploy", proxySecret)
	p.Hosts[proxiedHost] = "127.0.0.1"

	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	g.Write("a/b/c.txt", []byte("deep"))
	c1 := g.Commit("one")
	r := mustGftp(t, srv, g.Dir, "init", "-vv", "--proxy", p.URL("http"), url)
	checkServed(t, srv, g, c1)
	if control, _ := checkTargets(t, p, srv); control < 1 {
		t.Errorf("no connection went through the proxy")
	}
	if strings.Contains(r.stderr+r.stdout, proxySecret) {
		t.Errorf("the proxy password was printed:\n%s", r.stderr)
	}

	// GFTP_PROXY, with the wrong password: exit 5, as for any push that
	// cannot log in.
	g.Write("index.html", []byte("two"))
	g.Commit("two")
	srv.Env = append(srv.Env, "GFTP_PROXY="+strings.Replace(p.URL("http"), proxySecret, "wrong-s3cret", 1))
	r = gftp(t, srv, g.Dir, "push", url)
	expectFailure(t, r, 5, "refused the credentials")
	if strings.Contains(r.stderr, "wrong-s3cret") {
		t.Errorf("the proxy password was printed:\n%s", r.stderr)
	}
	if got := readMarker(t, srv); got != c1+"\n" {
		t.Errorf("marker = %q, want %s", got, c1)
	}
}

// TestProxyDiag: gftp diag through a SOCKS5 proxy checks the path through
// it: no local DNS lookup, the control and the passive data connections
// through the proxy, active mode not tried, TLS session reuse tested.
func TestProxyDiag(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13, servers.CertHosts(proxiedHost))
	p := proxytest.Start(t, proxytest.SOCKS5, "deploy", proxySecret)
	p.Hosts[proxiedHost] = "127.0.0.1"
	tg, err := diag.ParseURL(viaName(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	o := creds(srv)
	o.Proxy = p.URL("socks5h")
	rep, text := diagRun(t, tg, o)
	status(t, rep, "dns", diag.Skip, "the proxy")
	status(t, rep, "connect", diag.OK, "through the proxy")
	status(t, rep, "epsv", diag.OK)
	status(t, rep, "pasv", diag.OK)
	status(t, rep, "active", diag.Skip, "through a proxy")
	status(t, rep, "reuse", diag.OK)
	if rep.Failed() {
		t.Errorf("diag through the proxy failed:\n%s", text)
	}
	if strings.Contains(text, proxySecret) {
		t.Errorf("the proxy password is in the report")
	}
	if control, data := checkTargets(t, p, srv); control < 2 || data < 3 {
		t.Errorf("through the proxy: %d control and %d data connections, want at least 2 and 3", control, data)
	}

	// Wrong credentials: the connect check fails and says why.
	o.Proxy = strings.Replace(o.Proxy, proxySecret, "wrong-s3cret", 1)
	rep, text = diagRun(t, tg, o)
	status(t, rep, "connect", diag.Fail, "refused the credentials", "check the user and password in the proxy URL")
	if strings.Contains(text, "wrong-s3cret") {
		t.Errorf("the proxy password is in the report")
	}
}
