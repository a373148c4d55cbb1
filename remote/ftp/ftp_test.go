package ftp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/ftp"
	"github.com/gftp/gftp/remote/ftp/ftptest"
	"github.com/gftp/gftp/remote/remotetest"
	"github.com/gftp/gftp/remote/retry"
)

// logBuf collects log lines for assertions.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func start(t *testing.T, cfg ftptest.Config) *ftptest.Server {
	t.Helper()
	s, err := ftptest.Start(t.TempDir(), cfg)
	if err != nil {
		t.Fatalf("start ftptest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func open(t *testing.T, rawURL string, opts remote.Options) (remote.Remote, error) {
	t.Helper()
	u, err := remote.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return remote.Open(ctx, u, opts)
}

// conformance runs the suite, each subtest in a fresh directory of srv.
func conformance(t *testing.T, srv *ftptest.Server, opts remote.Options) {
	n := 0
	var cur string // the directory of the subtest running now; they run one by one
	remotetest.Run(t, remotetest.Config{
		New: func(t *testing.T) remote.Remote {
			n++
			dir := fmt.Sprintf("t%d", n)
			if err := os.Mkdir(filepath.Join(srv.Root(), dir), 0o755); err != nil {
				t.Fatal(err)
			}
			r, err := open(t, srv.URL()+dir, opts)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			cur = filepath.Join(srv.Root(), dir)
			return r
		},
		ReadBacking: func(t *testing.T, name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(cur, filepath.FromSlash(name)))
		},
	})
}

func TestConformancePlain(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p"})
	conformance(t, srv, remote.Options{User: "u", Password: "p", Jobs: 4})
}

func TestConformancePlainNoMLST(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", DisableMLST: true})
	conformance(t, srv, remote.Options{User: "u", Password: "p", Jobs: 4, DisableEPSV: true})
}

func TestConformanceExplicitTLS(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS})
	conformance(t, srv, remote.Options{User: "u", Password: "p", Jobs: 4, CACert: srv.CACertFile()})
}

func TestConformanceImplicitTLS(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.ImplicitTLS})
	conformance(t, srv, remote.Options{User: "u", Password: "p", Jobs: 4, CACert: srv.CACertFile()})
}

func TestConformanceNoRenameOver(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", NoRenameOver: true})
	conformance(t, srv, remote.Options{User: "u", Password: "p", Jobs: 2})
}

func TestConformanceActive(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p"})
	conformance(t, srv, remote.Options{User: "u", Password: "p", Jobs: 4, Active: true})
}

func TestConformanceActiveTLS(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS})
	conformance(t, srv, remote.Options{User: "u", Password: "p", Jobs: 4, CACert: srv.CACertFile(),
		Active: true, ActivePorts: "31000-31999", DisableEPSV: true})
}

func TestActiveLog(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS})
	var logs logBuf
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", CACert: srv.CACertFile(), Active: true, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, `msg="> EPRT |1|127.0.0.1|`) || strings.Contains(out, `msg="> EPSV"`) && !strings.Contains(out, "EPRT") {
		t.Errorf("no EPRT in the dialogue:\n%s", out)
	}
	if !strings.Contains(out, "resumed=true") {
		t.Errorf("active data connection did not resume TLS:\n%s", out)
	}
}

func TestURLUserAndPaths(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p"})
	if err := os.MkdirAll(filepath.Join(srv.Root(), "www", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	u := strings.Replace(srv.URL(), "ftp://", "ftp://u:p@", 1)
	r, err := open(t, u+"www", remote.Options{})
	if err != nil {
		t.Fatalf("open with URL credentials: %v", err)
	}
	defer r.Close()
	if err := r.Put(context.Background(), "sub/x", strings.NewReader("hi"), 2); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(srv.Root(), "www", "sub", "x")); err != nil || string(b) != "hi" {
		t.Fatalf("file did not land in www/sub: %q %v", b, err)
	}
	// ftp://host//www is absolute; ftptest's login directory is /.
	r2, err := open(t, u+"/www/sub", remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if fi, err := r2.Stat(context.Background(), "x"); err != nil || fi.Size != 2 {
		t.Fatalf("stat through absolute root: %+v %v", fi, err)
	}
	if fr, ok := remote.As[*ftp.Remote](r2); !ok || fr.Root() != "/www/sub" {
		t.Fatalf("root = %v", r2)
	}
}

func TestWrongPassword(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p"})
	_, err := open(t, srv.URL(), remote.Options{User: "u", Password: "wrong"})
	if !errors.Is(err, remote.ErrAuth) {
		t.Fatalf("got %v, want remote.ErrAuth", err)
	}
}

func TestExplicitTLSRefused(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p"}) // no TLS
	var logs logBuf
	u := strings.Replace(srv.URL(), "ftp://", "ftpes://", 1)
	_, err := open(t, u, remote.Options{User: "u", Password: "p", Logger: logs.logger()})
	if err == nil {
		t.Fatal("ftpes:// against a server without TLS succeeded")
	}
	if !errors.Is(err, ftp.ErrTLSRefused) || errors.Is(err, remote.ErrAuth) {
		t.Errorf("got %v, want ftp.ErrTLSRefused and not remote.ErrAuth", err)
	}
	if strings.Contains(logs.String(), "USER") {
		t.Errorf("USER was sent after AUTH TLS was refused:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "> AUTH TLS") {
		t.Errorf("dialogue not logged:\n%s", logs.String())
	}
}

// TestExplicitTLSRefusedWire checks on the wire, with a fake server, that
// nothing follows the refused AUTH TLS.
func TestExplicitTLSRefusedWire(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		io.WriteString(c, "220 hello\r\n")
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		io.WriteString(c, "500 AUTH not understood\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		rest, _ := io.ReadAll(c)
		got <- string(buf[:n]) + string(rest)
	}()
	_, err = open(t, "ftpes://127.0.0.1:"+fmt.Sprint(l.Addr().(*net.TCPAddr).Port)+"/", remote.Options{User: "u", Password: "secret"})
	if err == nil {
		t.Fatal("login succeeded")
	}
	wire := <-got
	if strings.Contains(wire, "USER") || strings.Contains(wire, "secret") {
		t.Fatalf("client sent credentials in clear: %q", wire)
	}
	if !strings.HasPrefix(wire, "AUTH TLS\r\n") {
		t.Fatalf("client sent %q", wire)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS})
	_, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p"})
	var ua x509.UnknownAuthorityError
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &ua) || !errors.As(err, &cve) {
		t.Fatalf("got %v, want an x509.UnknownAuthorityError", err)
	}
	if errors.Is(err, remote.ErrTemporary) {
		t.Errorf("a verification failure is not temporary: %v", err)
	}
	// Hostname mismatch: the certificate has no name "127.0.0.2"... use
	// "localhost" in the URL instead, which the certificate does carry, and
	// check that it passes with the CA.
	u := strings.Replace(srv.URL(), "127.0.0.1", "localhost", 1)
	r, err := open(t, u, remote.Options{User: "u", Password: "p", CACert: srv.CACertFile()})
	if err != nil {
		t.Fatalf("localhost with CA: %v", err)
	}
	r.Close()
}

func TestHostnameMismatch(t *testing.T) {
	key, der := selfSigned(t, "other.example")
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.ImplicitTLS, Certificate: &cert})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, ca, der)
	_, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", CACert: ca})
	var he x509.HostnameError
	if !errors.As(err, &he) {
		t.Fatalf("got %v, want x509.HostnameError", err)
	}
	// A pinned leaf is accepted whatever its name.
	sum := sha256.Sum256(der)
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", PinSHA256: []string{hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatalf("pinned: %v", err)
	}
	r.Close()
	_, err = open(t, srv.URL(), remote.Options{User: "u", Password: "p", PinSHA256: []string{strings.Repeat("00", 32)}})
	if !errors.As(err, &he) {
		t.Fatalf("wrong pin: got %v, want x509.HostnameError", err)
	}
}

// TestExpiredInsecureResumes checks that an expired certificate accepted
// with --insecure still lets data connections resume the TLS session, which
// crypto/tls would otherwise refuse (and vsftpd then answers 522).
func TestExpiredInsecureResumes(t *testing.T) {
	key, der := selfSignedAt(t, "localhost", time.Now().Add(-72*time.Hour), time.Now().Add(-24*time.Hour))
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS, Certificate: &cert})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, ca, der)
	_, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", CACert: ca})
	var ci x509.CertificateInvalidError
	if !errors.As(err, &ci) || ci.Reason != x509.Expired {
		t.Fatalf("got %v, want an expired x509.CertificateInvalidError", err)
	}
	var logs logBuf
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", Insecure: true, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 2; i++ {
		if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	if out := logs.String(); !strings.Contains(out, "resumed=true") || strings.Contains(out, "resumed=false") {
		t.Fatalf("data connections did not resume:\n%s", out)
	}
}

func TestInsecure(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS})
	var logs logBuf
	var keys bytes.Buffer
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", Insecure: true, Logger: logs.logger(), KeyLog: &keys})
	if err != nil {
		t.Fatalf("insecure: %v", err)
	}
	defer r.Close()
	if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(keys.String(), "CLIENT_") {
		t.Errorf("no key log written")
	}
}

// TestLogging checks the dialogue at Debug, PASS redacted, and the Info
// lines about TLS, including data-connection session resumption.
func TestLogging(t *testing.T) {
	srv := start(t, ftptest.Config{User: "deploy", Password: "s3cret", TLS: ftptest.RequireTLS})
	var logs logBuf
	r, err := open(t, srv.URL(), remote.Options{User: "deploy", Password: "s3cret", CACert: srv.CACertFile(), Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	r.Close()
	out := logs.String()
	for _, want := range []string{
		`msg="> USER deploy"`, `msg="> PASS ****"`, `msg="< 230`,
		`msg="control connection TLS"`, `msg="data connection TLS"`, "resumed=true",
		`msg=connected`, `msg=disconnected`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("password in the log:\n%s", out)
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}

// TestDataTLSLoggedOnce: at -v (Info) a control connection's data
// connections log their TLS once, the first; at -vv (Debug) each does.
func TestDataTLSLoggedOnce(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS})
	for _, tc := range []struct {
		level slog.Level
		want  int
	}{{slog.LevelInfo, 1}, {slog.LevelDebug, 3}} {
		var logs logBuf
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: tc.level}))
		r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", CACert: srv.CACertFile(), Jobs: 1, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := r.Put(context.Background(), fmt.Sprintf("f%d", i), strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
		out := logs.String()
		if got := strings.Count(out, `msg="data connection TLS"`); got != tc.want {
			t.Errorf("level %v: %d data connection TLS lines for 3 uploads on one connection, want %d:\n%s", tc.level, got, tc.want, out)
		}
		if !strings.Contains(out, "resumed=true") {
			t.Errorf("level %v: no resumed=true:\n%s", tc.level, out)
		}
	}
}

// TestDataConnectionsClosed: an upload's data connection, left unread
// after its close_notify (Data.Finish), is closed once the STOR's reply is
// in: 60 uploads leave no sockets open behind them.
func TestDataConnectionsClosed(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS})
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", CACert: srv.CACertFile(), Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	if err := r.Put(context.Background(), "warm", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	before := fds()
	for i := 0; i < 60; i++ {
		data := strings.Repeat("y", 4096)
		if err := remote.PutAtomic(context.Background(), r, fmt.Sprintf("d%d", i), strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for fds() > before+8 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := fds(); n > before+8 {
		t.Fatalf("%d file descriptors open after 60 uploads, %d before", n, before)
	}
	for i := 0; i < 60; i += 17 {
		b, err := os.ReadFile(filepath.Join(srv.Root(), fmt.Sprintf("d%d", i)))
		if err != nil || len(b) != 4096 {
			t.Fatalf("d%d on the server: %d bytes, %v", i, len(b), err)
		}
	}
}

func TestTooManyConnections(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", MaxConns: 2})
	var logs logBuf
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", Jobs: 8, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			data := remotetest.Content(int64(i), 50000)
			errs <- r.Put(context.Background(), fmt.Sprintf("f%d", i), bytes.NewReader(data), int64(len(data)))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("put with a connection limit: %v", err)
		}
	}
	if srv.MaxSeen() > 2 {
		t.Errorf("server saw %d connections", srv.MaxSeen())
	}
	if !strings.Contains(logs.String(), "going on with fewer") {
		t.Errorf("shrink not logged")
	}
}

func TestCancel(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p"})
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		time.AfterFunc(300*time.Millisecond, cancel)
		for {
			if _, err := pw.Write([]byte("some")); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	done := make(chan error, 1)
	go func() { done <- r.Put(ctx, "blocked", pr, -1) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not abort the upload")
	}
	pr.Close()
	// The Remote still works afterwards.
	if err := r.Put(context.Background(), "after", strings.NewReader("ok"), 2); err != nil {
		t.Fatalf("put after cancel: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	// A server that greets and then says nothing.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "220 hello\r\n")
		time.Sleep(3 * time.Second)
	}()
	u, _ := url.Parse("ftp://" + l.Addr().String() + "/")
	start := time.Now()
	_, err = remote.Open(context.Background(), u, remote.Options{User: "u", Password: "p", Timeout: 300 * time.Millisecond})
	if !errors.Is(err, remote.ErrTemporary) {
		t.Fatalf("got %v, want remote.ErrTemporary", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestRedactURL(t *testing.T) {
	_, err := open(t, "ftp://u:hunter2@127.0.0.1:1/", remote.Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}

func selfSigned(t *testing.T, name string) (*ecdsa.PrivateKey, []byte) {
	return selfSignedAt(t, name, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func selfSignedAt(t *testing.T, name string, notBefore, notAfter time.Time) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func writePEM(t *testing.T, file string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRenameOverRemovesFirst(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p", NoRenameOver: true})
	var logs logBuf
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if err := r.Put(ctx, n, strings.NewReader(n), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Rename(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(srv.Root(), "b")); err != nil || string(b) != "a" {
		t.Fatalf("b = %q %v", b, err)
	}
	if !strings.Contains(logs.String(), "removing the target first") {
		t.Errorf("fallback not taken:\n%s", logs.String())
	}
	if err := r.Rename(ctx, "missing", "b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rename of a missing file: got %v, want fs.ErrNotExist", err)
	}
}

// TestStaleConnection lets the server drop an idle pooled connection: the
// NOOP check finds it dead, and the next operation gets a fresh one.
func TestStaleConnection(t *testing.T) {
	defer ftp.SetIdleCheck(500 * time.Millisecond)()
	srv := start(t, ftptest.Config{User: "u", Password: "p", IdleTimeout: time.Second})
	var logs logBuf
	r, err := open(t, srv.URL(), remote.Options{User: "u", Password: "p", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	time.Sleep(2500 * time.Millisecond)
	if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
		t.Fatalf("put after the server dropped the idle connection: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "conn=2") {
		t.Errorf("no second connection:\n%s", logs.String())
	}
}

// stallServer logs anyone in and then never answers.
func stallServer(t *testing.T) string {
	t.Helper()
	return serveFTP(t, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, "220 hi\r\n")
		// One command a line: clients send several in one write.
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			cmd := strings.ToUpper(strings.Fields(sc.Text() + " x")[0])
			switch cmd {
			case "USER":
				io.WriteString(c, "331 pass\r\n")
			case "PASS":
				io.WriteString(c, "230 ok\r\n")
			case "FEAT":
				io.WriteString(c, "502 no\r\n")
			case "TYPE":
				io.WriteString(c, "200 ok\r\n")
			case "PWD":
				io.WriteString(c, "257 \"/\"\r\n")
			case "OPTS":
				io.WriteString(c, "501 no\r\n")
			case "EPSV": // sent with the login
				io.WriteString(c, "502 no\r\n")
			case "QUIT":
				return
			default: // stall
			}
		}
	})
}

// serveFTP serves each connection to a loopback listener with session, for
// as long as the test runs, and returns the listener's ftp:// URL.
func serveFTP(t *testing.T, session func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go session(c)
		}
	}()
	return "ftp://" + l.Addr().String() + "/"
}

func TestCancelBlockedRead(t *testing.T) {
	r, err := open(t, stallServer(t), remote.Options{User: "u", Password: "p", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.Stat(ctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

// TestMaxProcsThroughOpen: an FTP target, as Open returns it (name checks
// around the transport) and with retries around that, asks the executor
// for one CPU.
func TestMaxProcsThroughOpen(t *testing.T) {
	srv := start(t, ftptest.Config{})
	opened, err := open(t, srv.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := retry.New(opened, retry.Policy{})
	defer r.Close()
	if got := remote.MaxProcs(r); got != 1 {
		t.Errorf("remote.MaxProcs(ftp) = %d, want 1", got)
	}
}
