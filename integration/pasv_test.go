package integration_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestPASVAddress: behind the proxy on 127.0.0.2 the server's PASV replies
// name 127.0.0.1. By default gftp connects data channels to the control
// host (right behind NAT), so they pass the proxy; with --trust-pasv-ip it
// connects to the address in the reply, so they bypass it. The first run is
// issue 3's `gftp init --passive --insecure`.
func TestPASVAddress(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13)
	proxy := startFaultProxy(t, srv)
	proxy.mu.Lock()
	proxy.script = func(port, seq int) fault { return fault{kind: "pass"} }
	proxy.mu.Unlock()
	_, port, _ := net.SplitHostPort(srv.Addr)
	url := "ftpes://" + net.JoinHostPort(proxy.host, port) + "/"
	env := append(gittest.Env(), "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	g.Commit("one")

	data := func() int {
		proxy.mu.Lock()
		defer proxy.mu.Unlock()
		n := proxy.dataSeq
		proxy.dataSeq = 0
		return n
	}
	r := runGftp(t, g.Dir, env, time.Minute, "init", "--passive", "--insecure", "--disable-epsv", "-vv", url)
	if r.code != 0 {
		t.Fatalf("init --passive --insecure: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "> PASV") {
		t.Errorf("--disable-epsv should use PASV:\n%s", tail(r.stderr, 2000))
	}
	if n := data(); n == 0 {
		t.Errorf("by default data connections should go to the control host (the proxy); it saw none")
	}

	g.Write("index.html", []byte("two"))
	head := g.Commit("two")
	r = runGftp(t, g.Dir, env, time.Minute, "push", "--insecure", "--disable-epsv", "--trust-pasv-ip", url)
	if r.code != 0 {
		t.Fatalf("push --trust-pasv-ip: exit %d\n%s", r.code, r.stderr)
	}
	if n := data(); n != 0 {
		t.Errorf("with --trust-pasv-ip data connections should go to the PASV address, but %d passed the proxy", n)
	}
	checkServed(t, srv, g, head)
}
