package ftpconn_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
	"github.com/gftp/gftp/remote/ftp/ftptest"
)

// logBuf collects log lines, safe for concurrent use.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startLocal(t testing.TB, mode ftptest.TLSMode) *ftptest.Server {
	t.Helper()
	s, err := ftptest.Start(t.TempDir(), ftptest.Config{User: "u", Password: "p", TLS: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tlsFor(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA in " + caFile)
	}
	return &tls.Config{RootCAs: pool}
}

func dial(t testing.TB, cfg ftpconn.Config) *ftpconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := ftpconn.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", cfg.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPipelinedLogin logs in with one write and reads every reply in order:
// the counters see one round trip for the login batch.
func TestPipelinedLogin(t *testing.T) {
	srv := startLocal(t, ftptest.RequireTLS)
	var logs logBuf
	var n ftpconn.Counters
	c := dial(t, ftpconn.Config{Addr: srv.Addr(), Mode: ftpconn.Explicit, TLS: tlsFor(t, srv.CACertFile()),
		Counters: &n, Timeout: 10 * time.Second, ID: 7,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	before := n.RoundTrips.Load()
	s, err := c.Login("u", "p", "PWD")
	if err != nil {
		t.Fatal(err)
	}
	if got := n.RoundTrips.Load() - before; got != 1 {
		t.Errorf("login took %d round trips, want 1", got)
	}
	if pwd, err := ftpconn.ParsePWD(s.Extra[0]); err != nil || pwd != "/" {
		t.Errorf("PWD: %q, %v", pwd, err)
	}
	if !c.InStep() {
		t.Error("connection out of step after the login")
	}
	out := logs.String()
	if strings.Contains(out, "PASS p") || !strings.Contains(out, "PASS ****") {
		t.Errorf("the password is not redacted in the dialogue:\n%s", out)
	}
	if !strings.Contains(out, `msg="> USER u" conn=7`) || !strings.Contains(out, `msg="< 230`) {
		t.Errorf("the dialogue is not logged:\n%s", out)
	}
	if err := c.CheckOneReader(); err != nil {
		t.Error(err)
	}
}

// TestLoginRefused: a wrong password is the server's reply, and the
// connection stays in step (every batched reply was read).
func TestLoginRefused(t *testing.T) {
	srv := startLocal(t, ftptest.NoTLS)
	c := dial(t, ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second})
	_, err := c.Login("u", "wrong")
	var te interface{ Error() string }
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	te = err
	if !strings.Contains(te.Error(), "530") {
		t.Errorf("error %v does not carry the 530", err)
	}
}

// TestCRLFRefused: a command with CR or LF is not sent.
func TestCRLFRefused(t *testing.T) {
	srv := startLocal(t, ftptest.NoTLS)
	c := dial(t, ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second})
	if _, err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	err := c.Send("DELE a\r\nDELE b")
	if !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("Send with CR LF: %v, want fs.ErrInvalid", err)
	}
	if c.Pending() != 0 || !c.InStep() {
		t.Error("a refused command was counted as sent")
	}
	if r, err := c.Cmd("NOOP"); err != nil || r.Code != 200 {
		t.Errorf("NOOP after the refusal: %v %v", r, err)
	}
}

// TestTLSRefused: ftpes:// against a server without TLS ends before USER.
func TestTLSRefused(t *testing.T) {
	srv := startLocal(t, ftptest.NoTLS)
	ctx := context.Background()
	_, err := ftpconn.Dial(ctx, ftpconn.Config{Addr: srv.Addr(), Mode: ftpconn.Explicit, TLS: &tls.Config{}, Timeout: 5 * time.Second})
	if !errors.Is(err, ftpconn.ErrTLSRefused) {
		t.Fatalf("err %v, want ErrTLSRefused", err)
	}
}

// TestSecondReaderPanics: the connection has one reader, and says so loudly
// if code tries to attach another.
func TestSecondReaderPanics(t *testing.T) {
	srv := startLocal(t, ftptest.NoTLS)
	c := dial(t, ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second})
	defer func() {
		if recover() == nil {
			t.Error("a second reader was attached without a panic")
		}
	}()
	ftpconn.AttachSecondReader(c)
}

// TestStrayReadDetected: a read of the socket past the one reader (what a
// second parser would do) is caught by CheckOneReader.
func TestStrayReadDetected(t *testing.T) {
	srv := startLocal(t, ftptest.NoTLS)
	c := dial(t, ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second})
	if _, err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckOneReader(); err != nil {
		t.Fatalf("before the stray read: %v", err)
	}
	ftpconn.StrayRead(c, "NOOP")
	if err := c.CheckOneReader(); err == nil {
		t.Error("a reply read past the reader went unnoticed")
	}
}

// TestTransfers stores, lists and reads back over passive and active
// channels, clear and TLS, with the transfer commands pipelined.
func TestTransfers(t *testing.T) {
	for _, mode := range []ftptest.TLSMode{ftptest.NoTLS, ftptest.RequireTLS, ftptest.ImplicitTLS} {
		for _, active := range []bool{false, true} {
			srv := startLocal(t, mode)
			cfg := ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second}
			switch mode {
			case ftptest.RequireTLS:
				cfg.Mode, cfg.TLS = ftpconn.Explicit, tlsFor(t, srv.CACertFile())
			case ftptest.ImplicitTLS:
				cfg.Mode, cfg.TLS = ftpconn.Implicit, tlsFor(t, srv.CACertFile())
			}
			if active {
				a, err := ftpconn.ParseActive("127.0.0.1", "")
				if err != nil {
					t.Fatal(err)
				}
				cfg.Active = a
			}
			c := dial(t, cfg)
			if _, err := c.Login("u", "p"); err != nil {
				t.Fatal(err)
			}
			content := bytes.Repeat([]byte("0123456789abcdef"), 70000) // over 1 MiB
			transfer(t, c, "STOR /f.bin", func(d *ftpconn.Data) error {
				if _, err := d.Write(content); err != nil {
					return err
				}
				return d.Finish()
			})
			got, err := os.ReadFile(filepath.Join(srv.Root(), "f.bin"))
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("mode %v active %v: the server holds %d bytes (%v), want %d", mode, active, len(got), err, len(content))
			}
			var back bytes.Buffer
			transfer(t, c, "RETR /f.bin", func(d *ftpconn.Data) error {
				_, err := io.Copy(&back, d)
				if err == nil {
					err = d.Close()
				}
				return err
			})
			if !bytes.Equal(back.Bytes(), content) {
				t.Errorf("mode %v active %v: read back %d bytes", mode, active, back.Len())
			}
			var listing bytes.Buffer
			transfer(t, c, "MLSD /", func(d *ftpconn.Data) error {
				_, err := io.Copy(&listing, d)
				if err == nil {
					err = d.Close()
				}
				return err
			})
			if !strings.Contains(listing.String(), "f.bin") {
				t.Errorf("listing: %q", listing.String())
			}
			if !c.InStep() {
				t.Error("out of step after the transfers")
			}
			if err := c.CheckOneReader(); err != nil {
				t.Error(err)
			}
		}
	}
}

// transfer runs one transfer command with its data channel asked for in
// the same write (active: EPRT; passive: EPSV, then the command once the
// port is known).
func transfer(t *testing.T, c *ftpconn.Conn, cmd string, fn func(*ftpconn.Data) error) {
	t.Helper()
	ctx := context.Background()
	var ch *ftpconn.Channel
	if c.IsActive() {
		var err error
		if ch, err = c.Listen(); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(ch.Cmd, cmd); err != nil {
			t.Fatal(err)
		}
		r, err := c.Reply()
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Accepted(r); err != nil {
			t.Fatalf("%s: %v", ch.Cmd, err)
		}
	} else {
		var err error
		if ch, err = c.OpenChannel(); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(cmd); err != nil {
			t.Fatal(err)
		}
	}
	d, err := ch.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fn(d) }()
	r, err := c.Reply()
	if err != nil || r.Code >= 300 {
		d.Abort()
		<-done
		t.Fatalf("%s: %v %v", cmd, r, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("%s: data: %v", cmd, err)
	}
	if r.Code < 200 {
		if r, err = c.Reply(); err != nil || r.Code != 226 && r.Code != 250 {
			t.Fatalf("%s: %v %v", cmd, r, err)
		}
	}
}

// TestPassiveAddress: EPSV's port is dialled at the control connection's
// peer; a PASV address is ignored unless trusted.
func TestPassiveAddress(t *testing.T) {
	srv := startLocal(t, ftptest.NoTLS)
	c := dial(t, ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second})
	for _, tc := range []struct {
		cmd  string
		r    ftpconn.Reply
		want string
	}{
		{"EPSV", ftpconn.Reply{Code: 229, Msg: "Entering Extended Passive Mode (|||6446|)"}, "127.0.0.1:6446"},
		{"PASV", ftpconn.Reply{Code: 227, Msg: "Entering Passive Mode (10,1,2,3,25,32)"}, "127.0.0.1:6432"},
		{"PASV", ftpconn.Reply{Code: 227, Msg: "Entering Passive Mode 10,1,2,3,25,32"}, "127.0.0.1:6432"},
	} {
		got, err := ftpconn.PassiveAddr(c, tc.cmd, tc.r)
		if err != nil || got != tc.want {
			t.Errorf("%s %v: %q, %v; want %q", tc.cmd, tc.r, got, err, tc.want)
		}
	}
	if _, err := ftpconn.PassiveAddr(c, "EPSV", ftpconn.Reply{Code: 500, Msg: "no"}); err == nil {
		t.Error("a refused EPSV gave an address")
	}
	var _ net.Addr
}

// TestFinalLine: which lines end a reply that the client waits for, so
// that a read after which none is owed skips its quick ACK.
func TestFinalLine(t *testing.T) {
	for line, want := range map[string]bool{
		"226 Transfer complete.\r": true,
		"250 Rename successful.":   true,
		"221":                      true,
		"150 Ok to send data.\r":   false, // preliminary: the final one follows
		"211-Features:\r":          false, // a multi-line reply goes on
		" EPSV\r":                  false,
		"211 End\r":                true,
		"550 No such file.":        true,
		"2x0 odd":                  false,
		"":                         false,
	} {
		if got := ftpconn.FinalLine([]byte(line)); got != want {
			t.Errorf("finalLine(%q) = %v, want %v", line, got, want)
		}
	}
}
