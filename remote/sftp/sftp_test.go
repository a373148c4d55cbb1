package sftp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sftplib "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/remotetest"
	"github.com/gftp/gftp/remote/sftp"
)

const (
	testUser     = "deploy"
	testPassword = "s3cret-pw"
)

// server is an in-process SSH server whose "sftp" subsystem is pkg/sftp's
// server on the real file system (or a RequestServer, for failure cases).
type server struct {
	addr       string
	hostKeys   []ssh.Signer
	home       string // the SFTP session's working directory
	authorized []ssh.PublicKey
	silent     bool // accept TCP and never speak: a hung server
	handlers   *sftplib.Handlers
	noSFTP     bool // refuse the sftp subsystem
	// sniff, when set, is told the type of each SFTP request as the
	// server reads it off the channel (handlers only), before it is
	// handled.
	sniff func(typ byte)

	mu    sync.Mutex
	conns []net.Conn
}

func newSigner(t testing.TB, kind string) ssh.Signer {
	t.Helper()
	var key any
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	default:
		t.Fatalf("key kind %q", kind)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startServer(t testing.TB, srv *server) *server {
	t.Helper()
	if len(srv.hostKeys) == 0 {
		srv.hostKeys = []ssh.Signer{newSigner(t, "ed25519")}
	}
	if srv.home == "" {
		srv.home = t.TempDir()
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == testUser && string(pw) == testPassword {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range srv.authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) && c.User() == testUser {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorized")
		},
	}
	for _, k := range srv.hostKeys {
		cfg.AddHostKey(k)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = l.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		srv.mu.Lock()
		for _, c := range srv.conns {
			c.Close()
		}
		srv.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			srv.mu.Lock()
			srv.conns = append(srv.conns, c)
			srv.mu.Unlock()
			if srv.silent {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.serve(c, cfg)
			}()
		}
	}()
	return srv
}

func (srv *server) serve(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "no")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range creqs {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp" && !srv.noSFTP
				req.Reply(ok, nil)
				if !ok {
					continue
				}
				go func() {
					defer ch.Close()
					if srv.handlers != nil {
						var rw io.ReadWriteCloser = ch
						if srv.sniff != nil {
							rw = &sniffer{ReadWriteCloser: ch, on: srv.sniff}
						}
						rs := sftplib.NewRequestServer(rw, *srv.handlers)
						rs.Serve()
						return
					}
					s, err := sftplib.NewServer(ch, sftplib.WithServerWorkingDirectory(srv.home))
					if err != nil {
						return
					}
					s.Serve()
				}()
			}
		}()
	}
}

// sniffer reads SFTP packets (uint32 length, byte type, ...) and reports
// each one's type as it arrives.
type sniffer struct {
	io.ReadWriteCloser
	on   func(typ byte)
	hdr  []byte
	skip int // bytes of the current packet still to come
}

func (s *sniffer) Read(p []byte) (int, error) {
	n, err := s.ReadWriteCloser.Read(p)
	for b := p[:n]; len(b) > 0; {
		if s.skip > 0 {
			k := min(s.skip, len(b))
			s.skip, b = s.skip-k, b[k:]
			continue
		}
		k := min(5-len(s.hdr), len(b))
		s.hdr, b = append(s.hdr, b[:k]...), b[k:]
		if len(s.hdr) == 5 {
			s.on(s.hdr[4])
			s.skip = int(binary.BigEndian.Uint32(s.hdr)) - 1
			s.hdr = s.hdr[:0]
		}
	}
	return n, err
}

// knownHosts writes a known_hosts file trusting keys for the server.
func (srv *server) knownHosts(t testing.TB, keys ...ssh.PublicKey) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "known_hosts")
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(knownLine(srv.addr, k) + "\n")
	}
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func knownLine(addr string, k ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("[%s]:%s %s", host, port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))))
}

func (srv *server) url(p string) *url.URL {
	u, err := remote.ParseURL("sftp://" + testUser + "@" + srv.addr + p)
	if err != nil {
		panic(err)
	}
	return u
}

// isolate keeps the developer's ~/.ssh and agent out of the test.
func isolate(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
}

func open(t *testing.T, srv *server, p string, opts remote.Options) (remote.Remote, error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := remote.Open(ctx, srv.url(p), opts)
	if err == nil {
		t.Cleanup(func() { r.Close() })
	}
	return r, err
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestConformance(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	var root string
	remotetest.Run(t, remotetest.Config{
		New: func(t *testing.T) remote.Remote {
			root = t.TempDir()
			r, err := open(t, srv, root, remote.Options{Password: testPassword, KnownHosts: kh, Jobs: 4,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		ReadBacking: func(t *testing.T, name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		},
	})
}

func TestHomeRelativePath(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	if err := os.Mkdir(filepath.Join(srv.home, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, "/~/www", remote.Options{Password: testPassword, KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	if sr, _ := remote.As[*sftp.Remote](r); sr == nil {
		t.Fatal("not an sftp remote")
	} else if got := sr.Root(); got != filepath.ToSlash(filepath.Join(srv.home, "www")) {
		t.Errorf("root = %q, want %q", got, filepath.Join(srv.home, "www"))
	}
	if err := r.Put(context.Background(), "f", strings.NewReader("hi"), 2); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(srv.home, "www", "f")); err != nil || string(b) != "hi" {
		t.Fatalf("file in home/www: %q %v", b, err)
	}
}

func TestHostKeyUnknown(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t) // empty
	_, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh})
	if !errors.Is(err, sftp.ErrHostKeyUnknown) {
		t.Fatalf("got %v, want ErrHostKeyUnknown", err)
	}
	t.Logf("unknown host: %v", err)
	var he *sftp.HostKeyError
	if !errors.As(err, &he) {
		t.Fatalf("%v is not a *HostKeyError", err)
	}
	key := srv.hostKeys[0].PublicKey()
	fp := ssh.FingerprintSHA256(key)
	line := knownLine(srv.addr, key)
	if he.Fingerprint != fp || he.Line != line || he.File != kh {
		t.Errorf("HostKeyError = %+v, want fingerprint %s, line %q, file %s", he, fp, line, kh)
	}
	if !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), line) {
		t.Errorf("message lacks the fingerprint or the line: %v", err)
	}
	// The default known_hosts (in $HOME/.ssh) is missing: still "unknown".
	_, err = open(t, srv, "/", remote.Options{Password: testPassword})
	if !errors.Is(err, sftp.ErrHostKeyUnknown) {
		t.Fatalf("with no known_hosts at all: got %v, want ErrHostKeyUnknown", err)
	}
	if errors.Is(err, remote.ErrAuth) {
		t.Errorf("a host-key failure must not look like an auth failure: %v", err)
	}
}

func TestHostKeyChanged(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	other := newSigner(t, "ed25519").PublicKey()
	kh := srv.knownHosts(t, other)
	for _, accept := range []bool{false, true} {
		_, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, AcceptNewHostKey: accept})
		if !errors.Is(err, sftp.ErrHostKeyChanged) {
			t.Fatalf("accept-new=%v: got %v, want ErrHostKeyChanged", accept, err)
		}
		t.Logf("changed host key: %v", err)
		if !strings.Contains(err.Error(), "CHANGED") || !strings.Contains(err.Error(), kh+":1") ||
			!strings.Contains(err.Error(), ssh.FingerprintSHA256(srv.hostKeys[0].PublicKey())) {
			t.Errorf("message not loud enough: %v", err)
		}
	}
	b, _ := os.ReadFile(kh)
	if strings.Count(string(b), "\n") != 1 {
		t.Errorf("known_hosts was modified for a changed key:\n%s", b)
	}
}

func TestAcceptNewHostKey(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts") // neither file nor directory exists
	if _, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, AcceptNewHostKey: true}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	if want := knownLine(srv.addr, srv.hostKeys[0].PublicKey()) + "\n"; string(b) != want {
		t.Errorf("known_hosts = %q, want %q", b, want)
	}
	if _, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh}); err != nil {
		t.Fatalf("second connection, key on record: %v", err)
	}
}

func TestInsecureSkipsHostKeyCheck(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t, newSigner(t, "ed25519").PublicKey())
	if _, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, Insecure: true}); err != nil {
		t.Fatal(err)
	}
}

// A server with several host keys must present the one known_hosts has,
// not the one the client likes best (skeema/knownhosts).
func TestHostKeyAlgorithmNegotiation(t *testing.T) {
	isolate(t)
	ed, ec := newSigner(t, "ed25519"), newSigner(t, "ecdsa")
	srv := startServer(t, &server{hostKeys: []ssh.Signer{ed, ec}})
	kh := srv.knownHosts(t, ec.PublicKey())
	if _, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh}); err != nil {
		t.Fatal(err)
	}
}

func TestWrongPassword(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	_, err := open(t, srv, "/", remote.Options{Password: "wrong", KnownHosts: kh})
	if !errors.Is(err, remote.ErrAuth) {
		t.Fatalf("got %v, want remote.ErrAuth", err)
	}
	t.Logf("wrong password: %v", err)
	if strings.Contains(err.Error(), "wrong") && strings.Contains(err.Error(), "\"wrong\"") {
		t.Errorf("error shows the password: %v", err)
	}
}

func writeKey(t *testing.T, file string, s ssh.Signer, key any, passphrase string) {
	t.Helper()
	var blk *pem.Block
	var err error
	if passphrase == "" {
		blk, err = ssh.MarshalPrivateKey(key, "test")
	} else {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(key, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file+".pub", ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestKeyFile(t *testing.T) {
	isolate(t)
	s, k := newKey(t)
	srv := startServer(t, &server{authorized: []ssh.PublicKey{s.PublicKey()}})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	dir := t.TempDir()

	plain := filepath.Join(dir, "plain")
	writeKey(t, plain, s, k, "")
	if _, err := open(t, srv, "/", remote.Options{KeyFile: plain, KnownHosts: kh}); err != nil {
		t.Fatalf("plain key: %v", err)
	}

	enc := filepath.Join(dir, "enc")
	writeKey(t, enc, s, k, "hunter2")
	asked := 0
	pass := func(pw string) func() ([]byte, error) {
		return func() ([]byte, error) { asked++; return []byte(pw), nil }
	}
	if _, err := open(t, srv, "/", remote.Options{KeyFile: enc, KnownHosts: kh, KeyPassphrase: pass("hunter2")}); err != nil {
		t.Fatalf("encrypted key: %v", err)
	}
	if asked != 1 {
		t.Errorf("passphrase asked %d times, want 1", asked)
	}
	_, err := open(t, srv, "/", remote.Options{KeyFile: enc, KnownHosts: kh, KeyPassphrase: pass("nope")})
	if !errors.Is(err, remote.ErrAuth) || !errors.Is(err, sftp.ErrPassphrase) {
		t.Errorf("wrong passphrase: got %v, want ErrAuth and ErrPassphrase", err)
	}
	_, err = open(t, srv, "/", remote.Options{KeyFile: enc, KnownHosts: kh})
	if !errors.Is(err, remote.ErrAuth) {
		t.Errorf("no passphrase source: got %v, want ErrAuth", err)
	}

	// An encrypted key the server does not accept is never decrypted.
	other, ok := newKey(t)
	otherFile := filepath.Join(dir, "other")
	writeKey(t, otherFile, other, ok, "x")
	asked = 0
	_, err = open(t, srv, "/", remote.Options{KeyFile: otherFile, KnownHosts: kh, KeyPassphrase: pass("x")})
	if !errors.Is(err, remote.ErrAuth) || asked != 0 {
		t.Errorf("unaccepted encrypted key: err %v, asked %d; want ErrAuth without asking", err, asked)
	}
}

func TestDefaultKeys(t *testing.T) {
	isolate(t)
	s, k := newKey(t)
	srv := startServer(t, &server{authorized: []ssh.PublicKey{s.PublicKey()}})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	home, _ := os.UserHomeDir()
	writeKey(t, filepath.Join(home, ".ssh", "id_ed25519"), s, k, "")
	if _, err := open(t, srv, "/", remote.Options{KnownHosts: kh}); err != nil {
		t.Fatal(err)
	}
}

func TestAgent(t *testing.T) {
	isolate(t)
	s, k := newKey(t)
	srv := startServer(t, &server{authorized: []ssh.PublicKey{s.PublicKey()}})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())

	ring := agent.NewKeyring()
	if err := ring.Add(agent.AddedKey{PrivateKey: k, Comment: "test key"}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
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
			go func() { agent.ServeAgent(ring, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := open(t, srv, "/", remote.Options{KnownHosts: kh, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"ssh-agent", "kex=", "cipher=", "fingerprint=SHA256:", "server="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("debug log lacks %q:\n%s", want, logs.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestPasswordNotLogged(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), testPassword) {
		t.Errorf("password in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "method=password") {
		t.Errorf("log does not say password auth succeeded:\n%s", logs.String())
	}
}

// A server that accepts TCP and says nothing: the idle deadline ends the
// connection attempt, and so does the context.
func TestHungServer(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{silent: true})
	start := time.Now()
	_, err := open(t, srv, "/", remote.Options{Password: testPassword, Insecure: true, Timeout: 300 * time.Millisecond})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("idle timeout: err %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, remote.ErrTemporary) {
		t.Errorf("idle timeout: got %v, want ErrTemporary", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = remote.Open(ctx, srv.url("/"), remote.Options{Password: testPassword, Insecure: true, Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel: got %v after %v, want context.DeadlineExceeded at once", err, time.Since(start))
	}
}

// failWriter fails every write the way a full disk does behind OpenSSH:
// a bare SSH_FX_FAILURE.
type failWriter struct{}

func (failWriter) WriteAt([]byte, int64) (int, error) { return 0, errors.New("Failure") }

type failPut struct{ sftplib.FileWriter }

func (failPut) Filewrite(*sftplib.Request) (io.WriterAt, error) { return failWriter{}, nil }

func TestWriteFailureIsStorageFull(t *testing.T) {
	isolate(t)
	h := sftplib.InMemHandler()
	h.FilePut = failPut{h.FilePut}
	srv := startServer(t, &server{handlers: &h})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	data := remotetest.Content(1, 1<<20)
	err = r.Put(context.Background(), "f", bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, remote.ErrStorageFull) {
		t.Fatalf("got %v, want ErrStorageFull", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "put" || pe.Path != "f" {
		t.Errorf("%v is not a PathError about put f", err)
	}
}

// blockPut holds every upload until the test lets it go.
type blockPut struct {
	sftplib.FileWriter
	entered chan struct{}
	release chan struct{}
}

func (b blockPut) Filewrite(*sftplib.Request) (io.WriterAt, error) {
	b.entered <- struct{}{}
	<-b.release
	return nil, errors.New("released")
}

// Connection loss under a request gives ErrTemporary, and the next call
// reconnects.
func TestConnectionLossIsTemporaryAndReconnects(t *testing.T) {
	isolate(t)
	h := sftplib.InMemHandler()
	bp := blockPut{h.FilePut, make(chan struct{}, 1), make(chan struct{})}
	h.FilePut = bp
	srv := startServer(t, &server{handlers: &h})
	defer close(bp.release)
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() { errc <- r.Put(ctx, "a", strings.NewReader("x"), 1) }()
	<-bp.entered
	srv.mu.Lock()
	for _, c := range srv.conns {
		c.Close()
	}
	srv.mu.Unlock()
	if err := <-errc; !errors.Is(err, remote.ErrTemporary) {
		t.Fatalf("after connection loss: got %v, want ErrTemporary", err)
	}
	if _, err := r.List(ctx, ""); err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
}

func TestPutCancelled(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, srv.home, remote.Options{Password: testPassword, KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() { pw.Write(make([]byte, 100000)) }() // then blocks: the source stalls
	errc := make(chan error, 1)
	go func() { errc <- r.Put(ctx, "f", pr, 1<<20) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	pw.CloseWithError(errors.New("closed by test")) // lets a blocked source Read return
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Put did not return after cancel")
	}
}

// gatePut holds the OPEN of each upload named in gates until its channel is
// closed, then creates the file as the handler it wraps does.
type gatePut struct {
	sftplib.FileWriter
	gates   map[string]chan struct{} // by base name; set before use
	entered chan string
}

func (g gatePut) Filewrite(r *sftplib.Request) (io.WriterAt, error) {
	if ch := g.gates[path.Base(r.Filepath)]; ch != nil {
		g.entered <- path.Base(r.Filepath)
		<-ch
	}
	return g.FileWriter.Filewrite(r)
}

// An upload cancelled while its OPEN is still on the server must not leave
// its file behind once the caller has removed it. Before, Put returned at
// once; the caller's removal of the temporary file (remote.PutViaTemp) ran
// on another, idle session, found nothing, and the OPEN created the file
// after it. TestCrashSIGTERM on sshd found it in CI.
func TestPutCancelledNoFileAfterRemove(t *testing.T) {
	isolate(t)
	h := sftplib.InMemHandler()
	const tmp = ".gftp-tmp-test-1"
	gp := gatePut{h.FilePut, map[string]chan struct{}{"hold": make(chan struct{}), tmp: make(chan struct{})}, make(chan string, 2)}
	h.FilePut = gp
	srv := startServer(t, &server{handlers: &h})
	defer close(gp.gates["hold"])
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, Jobs: 8})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	// Session A: an upload held on the server; a second request behind it
	// makes the remote open session B.
	go func() { _ = r.Put(bg, "hold", strings.NewReader("x"), 1) }()
	<-gp.entered
	go func() { _, _ = r.Stat(bg, "") }()
	time.Sleep(300 * time.Millisecond)
	// Session B: the upload that is cancelled; a request behind it makes
	// the remote open session C, where the removal goes.
	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() { errc <- r.Put(ctx, tmp, strings.NewReader("content"), 7) }()
	if got := <-gp.entered; got != tmp {
		t.Fatalf("entered %q", got)
	}
	go func() { _, _ = r.Stat(bg, "") }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		close(gp.gates[tmp])
		close(released)
	}()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: got %v, want context.Canceled", err)
	}
	_ = r.Remove(bg, tmp) // what remote.PutViaTemp does after a failed upload
	<-released
	time.Sleep(200 * time.Millisecond) // a pending OPEN has created its file by now
	if fi, err := r.Stat(bg, tmp); err == nil {
		t.Fatalf("%s is on the server after its upload was cancelled and it was removed: %+v", tmp, fi)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat: %v", err)
	}
}

// relay forwards TCP connections to target, delaying every byte by delay in
// each direction without limiting bandwidth: a long, fat pipe.
func relay(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			at   time.Time
			data []byte
		}
		ch := make(chan chunk, 1<<14)
		go func() {
			defer close(ch)
			for {
				b := make([]byte, 64<<10)
				n, err := src.Read(b)
				if n > 0 {
					ch <- chunk{time.Now().Add(delay), b[:n]}
				}
				if err != nil {
					return
				}
			}
		}()
		for c := range ch {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.data); err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return l.Addr().String()
}

// TestPutIsConcurrent uploads 4 MiB over a 20 ms round trip. One 32 KiB write
// per round trip (what pkg/sftp does when the reader hides its size) needs
// 128 of them, over 2.5 s; with writes in flight together it takes a few.
// The source is a bare io.Reader, so only Put's own wrapping can tell
// pkg/sftp the size.
func TestPutIsConcurrent(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	addr := relay(t, srv.addr, 10*time.Millisecond)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(knownLine(addr, srv.hostKeys[0].PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, _ := remote.ParseURL("sftp://" + testUser + "@" + addr + srv.home)
	r, err := remote.Open(context.Background(), u, remote.Options{Password: testPassword, KnownHosts: kh})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data := remotetest.Content(3, 4<<20)
	for _, size := range []int64{int64(len(data)), -1} {
		start := time.Now()
		if err := r.Put(context.Background(), "f", struct{ io.Reader }{bytes.NewReader(data)}, size); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		t.Logf("size %d: 4 MiB in %v at 20 ms RTT", size, took)
		if took > 1500*time.Millisecond {
			t.Errorf("size %d: 4 MiB took %v at 20 ms RTT: writes are not concurrent", size, took)
		}
		if b, err := os.ReadFile(filepath.Join(srv.home, "f")); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("content differs (%v)", err)
		}
	}
}

// TestConformanceWithoutPosixRename runs the suite against a server that
// does not offer posix-rename@openssh.com and, like SFTP v3 says, refuses to
// rename onto an existing name (pkg/sftp's in-memory server): Rename must
// fall back to remove + rename.
func TestConformanceWithoutPosixRename(t *testing.T) {
	isolate(t)
	if err := sftplib.SetSFTPExtensions("statvfs@openssh.com"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sftplib.SetSFTPExtensions("hardlink@openssh.com", "posix-rename@openssh.com", "statvfs@openssh.com")
	})
	h := sftplib.InMemHandler()
	srv := startServer(t, &server{handlers: &h})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	opts := remote.Options{Password: testPassword, KnownHosts: kh, Jobs: 2, Logger: slog.New(slog.DiscardHandler)}
	var logs bytes.Buffer
	var mu sync.Mutex
	topOpts := opts
	topOpts.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	top, err := open(t, srv, "/", topOpts)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "posix-rename=false") {
		t.Fatalf("the server still offers posix-rename:\n%s", logs.String())
	}
	mu.Unlock()
	n := 0
	remotetest.Run(t, remotetest.Config{
		New: func(t *testing.T) remote.Remote {
			n++
			dir := fmt.Sprintf("t%d", n)
			if err := top.Mkdir(context.Background(), dir); err != nil {
				t.Fatal(err)
			}
			r, err := open(t, srv, "/"+dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	})
}

// A reconnection reuses the decrypted key: the passphrase is asked once.
func TestReconnectKeepsDecryptedKey(t *testing.T) {
	isolate(t)
	s, k := newKey(t)
	srv := startServer(t, &server{authorized: []ssh.PublicKey{s.PublicKey()}})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	enc := filepath.Join(t.TempDir(), "enc")
	writeKey(t, enc, s, k, "pw")
	asked := 0
	r, err := open(t, srv, srv.home, remote.Options{KeyFile: enc, KnownHosts: kh,
		KeyPassphrase: func() ([]byte, error) { asked++; return []byte("pw"), nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	for _, c := range srv.conns {
		c.Close()
	}
	srv.mu.Unlock()
	ctx := context.Background()
	if _, err := r.List(ctx, ""); err != nil {
		if _, err := r.List(ctx, ""); err != nil {
			t.Fatalf("after reconnecting: %v", err)
		}
	}
	if asked != 1 {
		t.Errorf("passphrase asked %d times, want 1", asked)
	}
}

func TestMissingKeyFile(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	_, err := open(t, srv, "/", remote.Options{KeyFile: filepath.Join(t.TempDir(), "nope"), KnownHosts: kh})
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing key file: got %v; want an error naming it that is not fs.ErrNotExist", err)
	}
}
