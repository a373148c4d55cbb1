package integration_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/remotetest"
	"github.com/gftp/gftp/remote/sftp"
)

// sftpOptions maps the server's gftp flags and environment to Options the
// way the command does, and keeps the developer's ~/.ssh and agent out.
func sftpOptions(t *testing.T, srv *servers.Server) remote.Options {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	for _, kv := range srv.Env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	opts := remote.Options{
		User:     srv.User,
		Password: srv.Password,
		Jobs:     4,
		Timeout:  30 * time.Second,
		Logger:   slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for i := 0; i < len(srv.Flags); i++ {
		switch srv.Flags[i] {
		case "--known-hosts":
			i++
			opts.KnownHosts = srv.Flags[i]
		case "--key":
			i++
			opts.KeyFile = srv.Flags[i]
		default:
			t.Fatalf("unknown server flag %q", srv.Flags[i])
		}
	}
	return opts
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func openSFTP(t *testing.T, rawURL string, opts remote.Options) (remote.Remote, error) {
	t.Helper()
	u, err := remote.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := remote.Open(ctx, u, opts)
	if err == nil {
		t.Cleanup(func() { r.Close() })
	}
	return r, err
}

// userDir makes a fresh directory below srv.Root owned by the SSH user.
func userDir(t *testing.T, srv *servers.Server) string {
	t.Helper()
	u, err := user.Lookup(servers.SSHUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	d, err := os.MkdirTemp(srv.Root, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, uid, gid); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSFTPConformance(t *testing.T) {
	for _, auth := range servers.SSHAuths() {
		t.Run(string(auth), func(t *testing.T) {
			srv := servers.StartSSHD(t, servers.WithSSHAuth(auth))
			opts := sftpOptions(t, srv)
			var dir string
			remotetest.Run(t, remotetest.Config{
				New: func(t *testing.T) remote.Remote {
					dir = userDir(t, srv)
					url := strings.TrimSuffix(srv.URL, filepath.ToSlash(srv.Root)) + filepath.ToSlash(dir)
					r, err := openSFTP(t, url, opts)
					if err != nil {
						t.Fatal(err)
					}
					return r
				},
				ReadBacking: func(t *testing.T, name string) ([]byte, error) {
					return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
				},
			})
		})
	}
}

// TestSFTPAuthMethod checks that each variant logs in by the method it is
// meant to exercise, not by some other credential.
func TestSFTPAuthMethod(t *testing.T) {
	for _, auth := range servers.SSHAuths() {
		t.Run(string(auth), func(t *testing.T) {
			srv := servers.StartSSHD(t, servers.WithSSHAuth(auth))
			opts := sftpOptions(t, srv)
			var want string
			switch auth {
			case servers.SSHAuthPassword:
				want = "method=password"
			case servers.SSHAuthAgent:
				want = `method="publickey from ssh-agent `
			default:
				want = `method="publickey ` + opts.KeyFile + `"`
			}
			var logs bytes.Buffer
			opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			r, err := openSFTP(t, srv.URL, opts)
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, logs.String())
			}
			for _, w := range []string{"SSH-2.0-OpenSSH", "kex=", "cipher=", "hostkey=", "fingerprint=SHA256:"} {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("handshake log lacks %q:\n%s", w, logs.String())
				}
			}
			if strings.Contains(logs.String(), servers.SSHPassword) {
				t.Errorf("password in the log")
			}
		})
	}
}

func otherHostKey(t *testing.T) ssh.PublicKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

func TestSFTPHostKeys(t *testing.T) {
	srv := servers.StartSSHD(t)
	base := sftpOptions(t, srv)
	known, err := os.ReadFile(base.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	hostPrefix := strings.Fields(string(known))[0] // [127.0.0.1]:PORT

	t.Run("Unknown", func(t *testing.T) {
		opts := base
		opts.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(opts.KnownHosts, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := openSFTP(t, srv.URL, opts)
		if !errors.Is(err, sftp.ErrHostKeyUnknown) {
			t.Fatalf("got %v, want ErrHostKeyUnknown", err)
		}
		var he *sftp.HostKeyError
		if !errors.As(err, &he) {
			t.Fatalf("%v is not a *sftp.HostKeyError", err)
		}
		// The line to add must be one the harness's own known_hosts holds:
		// the same host pattern, type and key.
		if !strings.Contains(string(known), he.Line+"\n") || !strings.HasPrefix(he.Line, hostPrefix+" ") {
			t.Errorf("line to add %q is not in the server's known_hosts:\n%s", he.Line, known)
		}
		if !strings.Contains(err.Error(), he.Line) || !strings.Contains(err.Error(), "SHA256:") {
			t.Errorf("message lacks the line or the fingerprint: %v", err)
		}
		pub, _, _, _, perr := ssh.ParseAuthorizedKey([]byte(strings.SplitN(he.Line, " ", 2)[1]))
		if perr != nil || ssh.FingerprintSHA256(pub) != he.Fingerprint {
			t.Errorf("fingerprint %s does not match the line's key (%v)", he.Fingerprint, perr)
		}
	})

	t.Run("Changed", func(t *testing.T) {
		opts := base
		opts.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		line := hostPrefix + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherHostKey(t)))) + "\n"
		if err := os.WriteFile(opts.KnownHosts, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, accept := range []bool{false, true} {
			opts.AcceptNewHostKey = accept
			_, err := openSFTP(t, srv.URL, opts)
			if !errors.Is(err, sftp.ErrHostKeyChanged) {
				t.Fatalf("accept-new=%v: got %v, want ErrHostKeyChanged", accept, err)
			}
			if !strings.Contains(err.Error(), "REMOTE HOST IDENTIFICATION HAS CHANGED") {
				t.Errorf("not loud: %v", err)
			}
		}
		if b, _ := os.ReadFile(opts.KnownHosts); string(b) != line {
			t.Errorf("known_hosts changed after a refused key:\n%s", b)
		}
	})

	t.Run("AcceptNew", func(t *testing.T) {
		opts := base
		opts.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(opts.KnownHosts, []byte("# other hosts\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		opts.AcceptNewHostKey = true
		r, err := openSFTP(t, srv.URL, opts)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		b, _ := os.ReadFile(opts.KnownHosts)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || !strings.Contains(string(known), lines[1]+"\n") {
			t.Fatalf("known_hosts after accept-new:\n%s\nwant the comment and one of:\n%s", b, known)
		}
		opts.AcceptNewHostKey = false
		if _, err := openSFTP(t, srv.URL, opts); err != nil {
			t.Fatalf("after accept-new, without it: %v", err)
		}
	})

	t.Run("Insecure", func(t *testing.T) {
		opts := base
		opts.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		opts.Insecure = true
		if _, err := openSFTP(t, srv.URL, opts); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("WrongPassword", func(t *testing.T) {
		opts := base
		opts.Password = "wrong-password"
		_, err := openSFTP(t, srv.URL, opts)
		if !errors.Is(err, remote.ErrAuth) {
			t.Fatalf("got %v, want remote.ErrAuth", err)
		}
		if errors.Is(err, remote.ErrTemporary) {
			t.Errorf("an auth failure must not be retried: %v", err)
		}
	})
}

// sshd offers ed25519, ECDSA and RSA host keys; known_hosts holds one type.
func TestSFTPHostKeyNegotiation(t *testing.T) {
	for _, typ := range []string{"ecdsa-sha2-nistp256", "ssh-rsa"} {
		t.Run(typ, func(t *testing.T) {
			srv := servers.StartSSHD(t, servers.WithSSHKnownHostsType(typ))
			r, err := openSFTP(t, srv.URL, sftpOptions(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.List(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSFTPErrors(t *testing.T) {
	srv := servers.StartSSHD(t)
	opts := sftpOptions(t, srv)
	ctx := context.Background()

	t.Run("PermissionDenied", func(t *testing.T) {
		ro := filepath.Join(srv.Root, "root-owned")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		r, err := openSFTP(t, srv.URL, opts)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Put(ctx, "root-owned/f", strings.NewReader("x"), 1)
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("put into a directory the user cannot write: got %v, want fs.ErrPermission", err)
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Op != "put" || pe.Path != "root-owned/f" {
			t.Errorf("%v is not a PathError about put root-owned/f", err)
		}
	})

	t.Run("MissingDirectory", func(t *testing.T) {
		r, err := openSFTP(t, srv.URL, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Put(ctx, "no/such/f", strings.NewReader("x"), 1); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("put into a missing directory: got %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("DiskFull", func(t *testing.T) {
		full := userDir(t, srv)
		u, _ := user.Lookup(servers.SSHUser)
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0755,uid="+u.Uid+",gid="+u.Gid, "gftp-full", full).CombinedOutput()
		if err != nil {
			t.Skipf("cannot mount a small tmpfs here (%v %s)", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", full).Run() })
		url := strings.TrimSuffix(srv.URL, filepath.ToSlash(srv.Root)) + filepath.ToSlash(full)
		r, err := openSFTP(t, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		data := remotetest.Content(1, 2<<20)
		err = r.Put(ctx, "big", bytes.NewReader(data), int64(len(data)))
		if !errors.Is(err, remote.ErrStorageFull) {
			t.Fatalf("put 2 MiB into 256 KiB: got %v, want remote.ErrStorageFull", err)
		}
		// The connection survives a full disk.
		if err := r.Remove(ctx, "big"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("remove after a full disk: %v", err)
		}
	})

	t.Run("HomeRelative", func(t *testing.T) {
		u, err := user.Lookup(servers.SSHUser)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(u.HomeDir); err != nil || !fi.IsDir() {
			t.Skipf("%s has no home directory (%s)", servers.SSHUser, u.HomeDir)
		}
		url := strings.TrimSuffix(srv.URL, filepath.ToSlash(srv.Root)) + "/~/"
		r, err := openSFTP(t, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		if sr, _ := remote.As[*sftp.Remote](r); sr == nil {
			t.Fatal("not an sftp remote")
		} else if got := sr.Root(); got != u.HomeDir {
			t.Errorf("root of /~/ = %q, want %q", got, u.HomeDir)
		}
	})
}

// TestSFTPEncryptedKey logs in with passphrase-protected keys made by
// ssh-keygen: OpenSSH's own format (the public key is readable without the
// passphrase) and legacy PEM (it is not; FILE.pub or decrypting up front
// supplies it). The passphrase is asked for once, and a wrong one is an auth
// error.
func TestSFTPEncryptedKey(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		servers.Unavailable(t, "ssh-keygen is not installed", "run .ci/install-sshd.sh")
	}
	const pass = "correct horse battery staple"
	dir := t.TempDir()
	type keyCase struct {
		name    string
		args    []string
		keepPub bool
	}
	cases := []keyCase{
		{"openssh-ed25519", []string{"-t", "ed25519"}, true},
		{"openssh-ed25519-nopub", []string{"-t", "ed25519"}, false},
		{"pem-rsa", []string{"-t", "rsa", "-b", "2048", "-m", "PEM"}, true},
		{"pem-rsa-nopub", []string{"-t", "rsa", "-b", "2048", "-m", "PEM"}, false},
	}
	var pubs []ssh.PublicKey
	files := map[string]string{}
	for _, c := range cases {
		file := filepath.Join(dir, c.name)
		args := append([]string{"-q", "-N", pass, "-C", c.name, "-f", file}, c.args...)
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v %s", args, err, out)
		}
		b, err := os.ReadFile(file + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
		if !c.keepPub {
			os.Remove(file + ".pub")
		}
		files[c.name] = file
	}
	srv := servers.StartSSHD(t, servers.WithSSHAuthorizedKeys(pubs...))
	base := sftpOptions(t, srv)
	base.Password = ""
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			asked := 0
			opts := base
			opts.KeyFile = files[c.name]
			opts.KeyPassphrase = func() ([]byte, error) { asked++; return []byte(pass), nil }
			r, err := openSFTP(t, srv.URL, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Put(context.Background(), c.name, strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
			if asked != 1 {
				t.Errorf("passphrase asked %d times, want 1", asked)
			}
			opts.KeyPassphrase = func() ([]byte, error) { return []byte("wrong"), nil }
			if _, err := openSFTP(t, srv.URL, opts); !errors.Is(err, remote.ErrAuth) || !errors.Is(err, sftp.ErrPassphrase) {
				t.Errorf("wrong passphrase: got %v, want remote.ErrAuth and sftp.ErrPassphrase", err)
			}
		})
	}
}

// slowReader yields a little at a time, so that an upload is still going
// when the test breaks the connection.
type slowReader struct {
	n       int
	started chan struct{}
	once    bool
}

func (s *slowReader) Read(p []byte) (int, error) {
	if !s.once {
		s.once = true
		close(s.started)
	}
	if s.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(5 * time.Millisecond)
	n := min(len(p), s.n, 4096)
	s.n -= n
	return n, nil
}

// TestSFTPConnectionLoss drops the SSH connection under an upload: the Put
// fails with remote.ErrTemporary, and the next call reconnects.
func TestSFTPConnectionLoss(t *testing.T) {
	srv := servers.StartSSHD(t)
	r, err := openSFTP(t, srv.URL, sftpOptions(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := &slowReader{n: 4 << 20, started: make(chan struct{})}
	errc := make(chan error, 1)
	go func() { errc <- r.Put(ctx, "f", src, 4<<20) }()
	<-src.started
	time.Sleep(100 * time.Millisecond)
	dropped := time.Now()
	if n := servers.DropSSHConnections(t, srv); n == 0 {
		t.Fatal("no sshd connection to drop")
	}
	select {
	case err := <-errc:
		if !errors.Is(err, remote.ErrTemporary) {
			t.Fatalf("put under a dropped connection: got %v, want remote.ErrTemporary", err)
		}
		t.Logf("put failed %v after the drop: %v", time.Since(dropped), err)
	case <-time.After(30 * time.Second):
		t.Fatal("put did not notice the dropped connection")
	}
	if err := r.Put(ctx, "g", strings.NewReader("after"), 5); err != nil {
		t.Fatalf("put after reconnecting: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(srv.Root, "g")); err != nil || string(b) != "after" {
		t.Fatalf("server copy: %q %v", b, err)
	}
}

// TestSFTPCancel cancels an upload whose source stalls: Put returns at once
// with the context's error.
func TestSFTPCancel(t *testing.T) {
	srv := servers.StartSSHD(t)
	r, err := openSFTP(t, srv.URL, sftpOptions(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src := &slowReader{n: 64 << 20, started: make(chan struct{})}
	errc := make(chan error, 1)
	go func() { errc <- r.Put(ctx, "f", src, 64<<20) }()
	<-src.started
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("put did not return after cancel")
	}
	if _, err := r.List(context.Background(), ""); err != nil {
		t.Fatalf("list after a cancelled put: %v", err)
	}
}
