package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

// TestProxySetting: git-ftp's order (-x, git-ftp.proxy, git config
// http.proxy) with GFTP_PROXY and .git-ftp-config in between, checked
// URLs, and active mode refused for FTP only.
func TestProxySetting(t *testing.T) {
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	noHTTP := t.TempDir() // no http.proxy here
	if out, err := exec.Command("git", "-C", repo, "config", "http.proxy", "http://corp:3128").CombinedOutput(); err != nil {
		t.Fatalf("git config: %v %s", err, out)
	}
	cases := []struct {
		name   string
		env    string
		file   map[string]string
		git    map[string]string
		dir    string
		scheme string
		active bool
		want   string
		code   int // of a usage error, else 0
		errHas string
	}{
		{name: "none", dir: noHTTP, want: ""},
		{name: "http.proxy, as git-ftp", dir: repo, want: "http://corp:3128"},
		{name: "git-ftp.proxy first", dir: repo, git: map[string]string{"git-ftp.proxy": "socks5h://g:1080"}, want: "socks5h://g:1080"},
		{name: "scope key", dir: repo, git: map[string]string{"git-ftp.proxy": "socks5h://g:1080", "git-ftp.live.proxy": "socks5://s:1"}, want: "socks5://s:1"},
		{name: ".git-ftp-config over git config", dir: repo, file: map[string]string{"git-ftp.proxy": "f:8080"}, git: map[string]string{"git-ftp.proxy": "g:1"}, want: "f:8080"},
		{name: "GFTP_PROXY over files", dir: repo, env: "socks5h://e:1", file: map[string]string{"git-ftp.proxy": "f:8080"}, want: "socks5h://e:1"},
		{name: "bad scheme", dir: noHTTP, env: "socks4://u:secret@h:1", code: exitUsage, errHas: `unsupported proxy scheme "socks4"`},
		{name: "active FTP", dir: noHTTP, env: "socks5h://u:secret@h:1", scheme: "ftpes", active: true, code: exitUsage, errHas: "active mode cannot work through a proxy"},
		{name: "active ignored for SFTP", dir: noHTTP, env: "socks5h://h:1", scheme: "sftp", active: true, want: "socks5h://h:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GFTP_PROXY", c.env)
			a := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
			a.log = slog.New(slog.DiscardHandler)
			s := &settings{scope: "live", file: c.file, git: c.git}
			scheme := c.scheme
			if scheme == "" {
				scheme = "ftp"
			}
			got, err := a.proxySetting(context.Background(), s, c.dir, scheme, c.active)
			if c.code != 0 {
				var ce *cliError
				if !errors.As(err, &ce) || ce.code != c.code || !strings.Contains(ce.msg, c.errHas) || ce.hint == "" {
					t.Fatalf("err = %v, want exit %d with %q and a hint", err, c.code, c.errHas)
				}
				if strings.Contains(ce.msg, "secret") {
					t.Errorf("the error shows the proxy password: %s", ce.msg)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("proxy = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestProxyFromLoadedSettings: http.proxy comes with the git-ftp.* keys in
// one git config call (no second one on the way to connecting), and is not
// taken for a git-ftp key.
func TestProxyFromLoadedSettings(t *testing.T) {
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GFTP_PROXY", "")
	repo := t.TempDir()
	for _, args := range [][]string{{"init", "-q", repo}, {"-C", repo, "config", "http.proxy", "http://corp:3128"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	s, err := loadSettings(context.Background(), &cli.Command{}, repo)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.git["http.proxy"]; ok || len(s.git) != 0 {
		t.Errorf("git settings = %v, want no keys", s.git)
	}
	a := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
	a.log = slog.New(slog.DiscardHandler)
	t.Setenv("PATH", "") // no git to ask again
	got, err := a.proxySetting(context.Background(), s, repo, "sftp", false)
	if err != nil || got != "http://corp:3128" {
		t.Fatalf("proxy = %q, %v; want http://corp:3128", got, err)
	}
}
