package ftpconn_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/ftpconn"
)

// realConfig is how to reach one of the real servers.
func realConfig(t *testing.T, srv *servers.Server, kind servers.Kind, active bool) ftpconn.Config {
	t.Helper()
	cfg := ftpconn.Config{Addr: srv.Addr, Timeout: 20 * time.Second}
	switch kind {
	case servers.VsftpdPlain:
	case servers.VsftpdImplicit:
		cfg.Mode, cfg.TLS = ftpconn.Implicit, tlsFor(t, srv.CACert)
	default:
		cfg.Mode, cfg.TLS = ftpconn.Explicit, tlsFor(t, srv.CACert)
	}
	if active {
		a, err := ftpconn.ParseActive("", "")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Active = a
	}
	return cfg
}

// loginPWD logs c in to srv and returns the login directory.
func loginPWD(t *testing.T, c *ftpconn.Conn, srv *servers.Server) string {
	t.Helper()
	sess, err := c.Login(srv.User, srv.Password, "PWD")
	if err != nil {
		t.Fatal(err)
	}
	pwd, err := ftpconn.ParsePWD(sess.Extra[0])
	if err != nil {
		t.Fatal(err)
	}
	return pwd
}

// TestRealServers logs in to vsftpd, pure-ftpd and proftpd over TLS, and
// stores and reads back a file in passive and active mode, with every data
// connection's TLS resuming the control session (vsftpd's
// require_ssl_reuse and proftpd's default refuse the transfer otherwise).
// Over TLS 1.3 (vsftpd), no data connection gets a HelloRetryRequest: it
// offers the key share of the group the control connection settled on
// (issue 16). Run with GFTP_REAL_SERVERS=1 to fail where a server is
// missing.
func TestRealServers(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.VsftpdFTPES12, servers.PureFTPdTLS, servers.ProFTPdTLS, servers.VsftpdPlain} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			for _, active := range []bool{false, true} {
				c := dial(t, realConfig(t, srv, kind, active))
				pwd := loginPWD(t, c, srv)
				cs, isTLS := c.TLS()
				name := "f-active.bin"
				if !active {
					name = "f-passive.bin"
				}
				path := strings.TrimSuffix(pwd, "/") + "/" + name
				content := bytes.Repeat([]byte("gftp"), 300000) // over 1 MiB: vsftpd's TLS 1.3 close
				var datas []*ftpconn.Data
				for i := 0; i < 3; i++ {
					datas = append(datas, transfer2(t, c, "STOR "+path, func(d *ftpconn.Data) error {
						if _, err := d.Write(content); err != nil {
							return err
						}
						return d.Finish()
					}))
				}
				got, err := os.ReadFile(filepath.Join(srv.Root, name))
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("active %v: the server holds %d bytes (%v)", active, len(got), err)
				}
				var back bytes.Buffer
				datas = append(datas, transfer2(t, c, "RETR "+path, func(d *ftpconn.Data) error {
					_, err := io.Copy(&back, d)
					if err == nil {
						err = d.Close()
					}
					return err
				}))
				if !bytes.Equal(back.Bytes(), content) {
					t.Errorf("active %v: read back %d bytes", active, back.Len())
				}
				for i, d := range datas {
					// pure-ftpd neither requires nor offers
					// resumption: full handshakes.
					if isTLS && kind != servers.PureFTPdTLS && !d.Resumed() {
						t.Errorf("active %v: data connection %d did not resume the control session", active, i)
					}
					if d.HelloRetried() {
						t.Errorf("active %v: data connection %d got a HelloRetryRequest (control group %v)", active, i, cs.CurveID)
					}
				}
				if err := c.CheckOneReader(); err != nil {
					t.Error(err)
				}
				if !c.InStep() {
					t.Error("out of step")
				}
			}
		})
	}
}

// TestNoHelloRetryVsftpdTLS13 shows what the group memory saves: vsftpd
// with TLS 1.3 takes P-256 only, so the first control connection to it,
// which offers Go's default key shares, gets a HelloRetryRequest; a second
// control connection to the same server in the same process offers P-256
// and gets none, and neither do the data connections.
func TestNoHelloRetryVsftpdTLS13(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13)
	ftpconn.ForgetGroup(srv.Addr)
	first := dial(t, realConfig(t, srv, servers.VsftpdFTPES13, false))
	cs, _ := first.TLS()
	if cs.Version != tls.VersionTLS13 || cs.CurveID != tls.CurveP256 {
		t.Fatalf("vsftpd negotiated %x with group %v; the test expects TLS 1.3 with P-256", cs.Version, cs.CurveID)
	}
	if !first.HelloRetried() {
		t.Error("the first control connection got no HelloRetryRequest: the counter does not see them, or vsftpd takes X25519 now")
	}
	second := dial(t, realConfig(t, srv, servers.VsftpdFTPES13, false))
	if second.HelloRetried() {
		t.Error("the second control connection got a HelloRetryRequest: the server's group was not remembered")
	}
	if _, err := second.Login(srv.User, srv.Password); err != nil {
		t.Fatal(err)
	}
	d := transfer2(t, second, "LIST", func(d *ftpconn.Data) error {
		_, err := io.Copy(io.Discard, d)
		if err == nil {
			err = d.Close()
		}
		return err
	})
	if d.HelloRetried() || !d.Resumed() {
		t.Errorf("data connection: hello retry %v, resumed %v; want false, true", d.HelloRetried(), d.Resumed())
	}
}

// transfer2 is transfer, returning the data connection.
func transfer2(t *testing.T, c *ftpconn.Conn, cmd string, fn func(*ftpconn.Data) error) *ftpconn.Data {
	t.Helper()
	var got *ftpconn.Data
	transfer(t, c, cmd, func(d *ftpconn.Data) error {
		got = d
		return fn(d)
	})
	return got
}

var _ = context.Background

// TestStaleGroup: the group learnt for an address is offered first, not
// alone. A group remembered from another server that listened on the same
// port (here ML-KEM, which Go's own test servers choose and the OpenSSL of
// pure-ftpd and vsftpd lacks) must not fail the handshake.
func TestStaleGroup(t *testing.T) {
	for _, kind := range []servers.Kind{servers.PureFTPdTLS, servers.VsftpdFTPES13} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			ftpconn.RememberGroup(srv.Addr, tls.X25519MLKEM768)
			c := dial(t, realConfig(t, srv, kind, false))
			if _, err := c.Login(srv.User, srv.Password); err != nil {
				t.Fatalf("login after a stale group: %v", err)
			}
			cs, _ := c.TLS()
			if cs.CurveID == tls.X25519MLKEM768 {
				t.Errorf("%s chose ML-KEM, which this test assumes it lacks", kind)
			}
		})
	}
	// vsftpd takes P-256 only: a remembered P-521 fails the handshake
	// once, and is forgotten, so that the next connection succeeds.
	srv := servers.Start(t, servers.VsftpdFTPES13)
	ftpconn.RememberGroup(srv.Addr, tls.CurveP521)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if c, err := ftpconn.Dial(ctx, realConfig(t, srv, servers.VsftpdFTPES13, false)); err == nil {
		c.Close()
		t.Fatal("vsftpd accepted a ClientHello with P-521 alone; the test expects P-256 only")
	}
	c := dial(t, realConfig(t, srv, servers.VsftpdFTPES13, false))
	if _, err := c.Login(srv.User, srv.Password); err != nil {
		t.Fatalf("login after a failed handshake forgot the group: %v", err)
	}
}
