package ftpconn_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/ftpconn"
	"github.com/gftp/gftp/remote/ftp/ftptest"
)

// countingDialer is a net.Dialer that counts the sockets it creates.
func countingDialer(n *atomic.Int64, timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: func(string, string, syscall.RawConn) error {
		n.Add(1)
		return nil
	}}
}

// storeReleased uploads content to path over a passive data connection
// asked for ahead, the way remote/ftp does: the data connection is
// released once the server's reply is in. It returns whether the data
// connection's TLS resumed the control session.
func storeReleased(t *testing.T, c *ftpconn.Conn, path string, content []byte) (resumed bool) {
	t.Helper()
	ch, err := c.OpenChannel()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send("STOR " + path); err != nil {
		t.Fatal(err)
	}
	d, err := ch.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	done := make(chan error, 1)
	go func() {
		_, err := d.Write(content)
		if err == nil {
			err = d.Finish()
		}
		done <- err
	}()
	r, err := c.Reply()
	if err == nil && r.Code < 200 {
		r, err = c.Reply()
	}
	if err != nil || r.Code != 226 && r.Code != 250 {
		d.Abort()
		<-done
		t.Fatalf("STOR %s: %v %v", path, r, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("STOR %s: data: %v", path, err)
	}
	return d.Resumed()
}

// checkReuse uploads 12 files of several sizes on one control connection
// and checks that the server holds each byte for byte, that the data
// connections took at most two sockets (the rest connected again on
// released ones), and, over TLS, that each resumed the control session.
func checkReuse(t *testing.T, cfg ftpconn.Config, user, password, dir, root string, resumes bool) {
	t.Helper()
	var sockets atomic.Int64
	cfg.Dialer = countingDialer(&sockets, cfg.Timeout)
	c := dial(t, cfg)
	if _, err := c.Login(user, password); err != nil {
		t.Fatal(err)
	}
	control := sockets.Load()
	sizes := []int{0, 1, 4096, 70000, 1 << 20, 3}
	for i := 0; i < 12; i++ {
		content := bytes.Repeat([]byte{byte('a' + i)}, sizes[i%len(sizes)])
		name := fmt.Sprintf("reuse %d #?.bin", i)
		resumed := storeReleased(t, c, dir+"/"+name, content)
		if resumes && !resumed {
			t.Errorf("file %d: the data connection did not resume the control session", i)
		}
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("file %d: the server holds %d bytes (%v), want %d", i, len(got), err, len(content))
		}
	}
	if n := sockets.Load() - control; n > 2 {
		t.Errorf("12 uploads made %d data sockets, want at most 2: released sockets were not connected again", n)
	}
	if !c.InStep() {
		t.Error("out of step after the uploads")
	}
	if err := c.CheckOneReader(); err != nil {
		t.Error(err)
	}
}

// TestDataSocketReused: on the in-process server, plain and TLS, with a
// timeout and without one (no deadline of the connection before may
// remain: crypto/tls leaves one of now after its close_notify).
func TestDataSocketReused(t *testing.T) {
	for _, mode := range []ftptest.TLSMode{ftptest.NoTLS, ftptest.RequireTLS} {
		for _, timeout := range []time.Duration{10 * time.Second, 0} {
			srv := startLocal(t, mode)
			cfg := ftpconn.Config{Addr: srv.Addr(), Timeout: timeout}
			if mode == ftptest.RequireTLS {
				cfg.Mode, cfg.TLS = ftpconn.Explicit, tlsFor(t, srv.CACertFile())
			}
			checkReuse(t, cfg, "u", "p", "", srv.Root(), mode == ftptest.RequireTLS)
		}
	}
}

// TestDataSocketReusedReal: vsftpd (TLS 1.3 and 1.2, and plain), proftpd
// and pure-ftpd take data connections on a socket that carried one
// before, and vsftpd's require_ssl_reuse and proftpd see each resume.
func TestDataSocketReusedReal(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.VsftpdFTPES12, servers.VsftpdPlain, servers.ProFTPdTLS, servers.PureFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			c := dial(t, realConfig(t, srv, kind, false))
			pwd := loginPWD(t, c, srv)
			c.Close()
			_, isTLS := c.TLS()
			checkReuse(t, realConfig(t, srv, kind, false), srv.User, srv.Password, pwd, srv.Root, isTLS && kind != servers.PureFTPdTLS)
		})
	}
}

// TestDataSocketRefused: a passive port that refuses the connection fails
// that transfer only; the next one connects and its file arrives whole.
func TestDataSocketRefused(t *testing.T) {
	srv := startLocal(t, ftptest.RequireTLS)
	cfg := ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second, Mode: ftpconn.Explicit, TLS: tlsFor(t, srv.CACertFile())}
	c := dial(t, cfg)
	if _, err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	storeReleased(t, c, "/one", []byte("one"))
	// A port nobody listens on: the kept socket's connect is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ch, err := c.Passive("EPSV", ftpconn.Reply{Code: 229, Msg: fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Open(context.Background()); err == nil {
		t.Fatal("a data connection to a closed port opened")
	}
	storeReleased(t, c, "/two", []byte("two"))
	if got, err := os.ReadFile(filepath.Join(srv.Root(), "two")); err != nil || string(got) != "two" {
		t.Fatalf("after a refused data connection the server holds %q (%v)", got, err)
	}
}
