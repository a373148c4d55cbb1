package integration_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/ftp"
	"github.com/gftp/gftp/remote/remotetest"
)

// ftpLog collects a Remote's log for assertions.
type ftpLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *ftpLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *ftpLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *ftpLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ftpOptions(srv *servers.Server, log *slog.Logger) remote.Options {
	return remote.Options{
		User:     srv.User,
		Password: srv.Password,
		CACert:   srv.CACert,
		Jobs:     4,
		Timeout:  20 * time.Second,
		Logger:   log,
	}
}

func openFTP(t *testing.T, rawURL string, opts remote.Options) (remote.Remote, error) {
	t.Helper()
	u, err := remote.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return remote.Open(ctx, u, opts)
}

// openOneFTP opens srv's root with one connection, closed with the test.
func openOneFTP(t *testing.T, srv *servers.Server, log *slog.Logger) remote.Remote {
	t.Helper()
	opts := ftpOptions(srv, log)
	opts.Jobs = 1
	r, err := openFTP(t, srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// mkdirOwned makes a directory in the server's root that the FTP account
// can write.
func mkdirOwned(t *testing.T, srv *servers.Server, name string) string {
	t.Helper()
	dir := filepath.Join(srv.Root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chownLike(t, srv.Root, dir)
	return dir
}

// chownLike gives path the owner of like, so that the server's user can
// remove it.
func chownLike(t *testing.T, like, path string) {
	t.Helper()
	fi, err := os.Stat(like)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no owner for %s", like)
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

func TestFTPConformance(t *testing.T) {
	ftpConformance(t, false)
}

// TestFTPConformanceActive is the suite in active mode (EPRT/PORT: the
// server connects back; over TLS the client stays the TLS client).
func TestFTPConformanceActive(t *testing.T) {
	ftpConformance(t, true)
}

func ftpConformance(t *testing.T, active bool) {
	for _, kind := range servers.FTPKinds() {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			var n int
			var dir string
			var logs *ftpLog
			remotetest.Run(t, remotetest.Config{
				Hashes: kind == servers.ProFTPdTLS, // mod_digest
				New: func(t *testing.T) remote.Remote {
					if kind == servers.PureFTPdTLS && strings.HasSuffix(t.Name(), "/HardNames") {
						t.Skip("pure-ftpd refuses names with a backslash (553 Prohibited file name) and turns a tab into '_'; TestFTPPureFTPdNames covers the rest")
					}
					n++
					name := fmt.Sprintf("run%d", n)
					dir = mkdirOwned(t, srv, name)
					logs = &ftpLog{}
					opts := ftpOptions(srv, logs.logger())
					opts.Active = active
					r, err := openFTP(t, srv.URL+name, opts)
					if err != nil {
						t.Fatalf("open %s: %v", srv.URL+name, err)
					}
					t.Cleanup(func() {
						if t.Failed() {
							t.Logf("client log:\n%s", tail(logs.String(), 6000))
						}
					})
					return r
				},
				ReadBacking: func(t *testing.T, name string) ([]byte, error) {
					return os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
				},
			})
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// TestFTPSessionReuse uploads to the servers that insist that the data
// connection resumes the control connection's TLS session (vsftpd
// require_ssl_reuse=YES, proftpd's default) and checks the log says so.
func TestFTPSessionReuse(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES12, servers.VsftpdFTPES13, servers.VsftpdImplicit, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		// pure-ftpd neither requires nor offers resumption: its data
		// connections do full handshakes.
		mustResume := kind != servers.PureFTPdTLS
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			for _, active := range []bool{false, true} {
				var logs ftpLog
				opts := ftpOptions(srv, logs.logger())
				opts.Active = active
				r, err := openFTP(t, srv.URL, opts)
				if err != nil {
					t.Fatal(err)
				}
				data := remotetest.Content(1, 3<<20)
				ctx := context.Background()
				if err := r.Put(ctx, "big", bytes.NewReader(data), int64(len(data))); err != nil {
					t.Fatalf("put (active %v): %v\n%s", active, err, tail(logs.String(), 4000))
				}
				if _, err := r.List(ctx, ""); err != nil {
					t.Fatalf("list (active %v): %v", active, err)
				}
				r.Close()
				out := logs.String()
				if !strings.Contains(out, `msg="data connection TLS"`) {
					t.Fatalf("no data connection TLS in the log:\n%s", tail(out, 4000))
				}
				if mustResume && (!strings.Contains(out, "resumed=true") || strings.Contains(out, "resumed=false")) {
					t.Errorf("a data connection did not resume (active %v):\n%s", active, tail(out, 4000))
				}
				if active != (strings.Contains(out, `msg="> EPRT `) || strings.Contains(out, `msg="> PORT `)) {
					t.Errorf("active %v, but the dialogue says otherwise:\n%s", active, tail(out, 4000))
				}
				want := "TLS 1.3"
				if kind == servers.VsftpdFTPES12 {
					want = "TLS 1.2"
				}
				if !strings.Contains(out, `version="`+want+`"`) {
					t.Errorf("log does not show %s:\n%s", want, tail(out, 4000))
				}
			}
		})
	}
}

// TestFTPExplicitTLSRefused asks a clear-text-only vsftpd for ftpes://: the
// client must give up after AUTH TLS is refused, before USER.
func TestFTPExplicitTLSRefused(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdPlain)
	var logs ftpLog
	u := strings.Replace(srv.URL, "ftp://", "ftpes://", 1)
	_, err := openFTP(t, u, ftpOptions(srv, logs.logger()))
	if err == nil {
		t.Fatal("ftpes:// against a server without TLS succeeded")
	}
	if !errors.Is(err, ftp.ErrTLSRefused) || errors.Is(err, remote.ErrAuth) {
		t.Errorf("got %v, want ftp.ErrTLSRefused and not remote.ErrAuth", err)
	}
	out := logs.String()
	if !strings.Contains(out, "> AUTH TLS") {
		t.Errorf("AUTH TLS not in the dialogue:\n%s", out)
	}
	if strings.Contains(out, "> USER") || strings.Contains(out, "> PASS") {
		t.Errorf("credentials sent after AUTH TLS was refused:\n%s", out)
	}
	t.Logf("error: %v", err)
}

func TestFTPWrongPassword(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdPlain, servers.VsftpdFTPES13, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			opts := ftpOptions(srv, nil)
			opts.Password = "wrong"
			_, err := openFTP(t, srv.URL, opts)
			if !errors.Is(err, remote.ErrAuth) {
				t.Fatalf("got %v, want remote.ErrAuth", err)
			}
		})
	}
}

// TestFTPCertificates checks that bad certificates fail with the x509
// reason, and that --insecure and a pin get through.
func TestFTPCertificates(t *testing.T) {
	cases := []struct {
		cert  servers.CertKind
		check func(error) bool
		what  string
	}{
		{servers.CertSelfSigned, func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) }, "x509.UnknownAuthorityError"},
		{servers.CertExpired, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}, "x509.CertificateInvalidError (expired)"},
		{servers.CertWrongHost, func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) }, "x509.HostnameError"},
	}
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.VsftpdImplicit, servers.ProFTPdTLS} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", kind, c.what), func(t *testing.T) {
				srv := servers.Start(t, kind, servers.WithCert(c.cert))
				var logs ftpLog
				opts := ftpOptions(srv, logs.logger())
				_, err := openFTP(t, srv.URL, opts)
				var cve *tls.CertificateVerificationError
				if !c.check(err) || !errors.As(err, &cve) {
					t.Fatalf("got %v, want %s", err, c.what)
				}
				if strings.Contains(logs.String(), "> USER") {
					t.Errorf("USER sent despite the bad certificate")
				}
				opts.Insecure = true
				r, err := openFTP(t, srv.URL, opts)
				if err != nil {
					t.Fatalf("--insecure: %v", err)
				}
				defer r.Close()
				if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
					t.Fatalf("--insecure put: %v", err)
				}
			})
		}
	}
}

// TestFTPPureFTPdNames is HardNames for pure-ftpd, which refuses names with
// a backslash (553), and stores control characters as '_' while reporting
// success. gftp refuses both with fs.ErrInvalid; the rest round-trip.
func TestFTPPureFTPdNames(t *testing.T) {
	srv := servers.Start(t, servers.PureFTPdTLS)
	r, err := openFTP(t, srv.URL, ftpOptions(srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.Mkdir(ctx, "dir with #?%"); err != nil {
		t.Fatal(err)
	}
	refused := func(n string) bool { return strings.ContainsAny(n, "\\\t") }
	for i, n := range remotetest.HardNames {
		for _, name := range []string{n, remote.Join("dir with #?%", n)} {
			data := remotetest.Content(int64(i), 100+i)
			err := r.Put(ctx, name, bytes.NewReader(data), int64(len(data)))
			if refused(n) {
				if !errors.Is(err, fs.ErrInvalid) {
					t.Errorf("put %q: got %v, want fs.ErrInvalid", name, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("put %q: %v", name, err)
			}
			got, err := os.ReadFile(filepath.Join(srv.Root, filepath.FromSlash(name)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("server copy of %q: %v", name, err)
			}
			rc, err := r.Open(ctx, name)
			if err != nil {
				t.Fatalf("open %q: %v", name, err)
			}
			got, err = io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %q: %v", name, err)
			}
			if fi, err := r.Stat(ctx, name); err != nil || fi.Size != int64(len(data)) {
				t.Fatalf("stat %q: %+v %v", name, fi, err)
			}
		}
	}
	list, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, fi := range list {
		seen[fi.Name] = true
	}
	for _, n := range remotetest.HardNames {
		if !refused(n) && !seen[n] {
			t.Errorf("list lacks %q", n)
		}
	}
}

// TestFTPQuota fills a pure-ftpd virtual quota: the upload that goes over
// must fail with remote.ErrStorageFull.
func TestFTPQuota(t *testing.T) {
	srv := servers.Start(t, servers.PureFTPdTLS, servers.Quota(100<<10))
	var logs ftpLog
	r, err := openFTP(t, srv.URL, ftpOptions(srv, logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	var last error
	for i := 0; i < 4 && last == nil; i++ {
		data := remotetest.Content(int64(i), 60<<10)
		last = r.Put(ctx, fmt.Sprintf("f%d", i), bytes.NewReader(data), int64(len(data)))
	}
	if !errors.Is(last, remote.ErrStorageFull) {
		t.Fatalf("got %v, want remote.ErrStorageFull\n%s", last, tail(logs.String(), 3000))
	}
	t.Logf("over quota: %v", last)
	// The connection is still usable.
	if _, err := r.List(ctx, ""); err != nil {
		t.Fatalf("list after the quota error: %v", err)
	}
}

// TestFTPPlainToTLSServer uses ftp:// against servers that require TLS: the
// error must say so, and must not pass for wrong credentials.
func TestFTPPlainToTLSServer(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			u := strings.Replace(srv.URL, "ftpes://", "ftp://", 1)
			_, err := openFTP(t, u, ftpOptions(srv, nil))
			t.Logf("error: %v", err)
			if !errors.Is(err, ftp.ErrTLSRequired) || errors.Is(err, remote.ErrAuth) {
				t.Fatalf("got %v, want ftp.ErrTLSRequired and not remote.ErrAuth", err)
			}
		})
	}
}

// TestFTPPASV transfers with --disable-epsv (PASV), passive and active
// (PORT instead of EPRT).
func TestFTPPASV(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			for _, active := range []bool{false, true} {
				var logs ftpLog
				opts := ftpOptions(srv, logs.logger())
				opts.DisableEPSV = true
				opts.Active = active
				r, err := openFTP(t, srv.URL, opts)
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				data := remotetest.Content(3, 2<<20)
				name := fmt.Sprintf("f-%v", active)
				if err := r.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Fatalf("put (active %v): %v", active, err)
				}
				rc, err := r.Open(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back (active %v): %v", active, err)
				}
				r.Close()
				out := logs.String()
				want := `msg="> PASV"`
				if active {
					want = `msg="> PORT `
				}
				if !strings.Contains(out, want) || strings.Contains(out, `msg="> EPSV"`) || strings.Contains(out, `msg="> EPRT`) {
					t.Errorf("active %v: dialogue lacks %s or has EPSV/EPRT:\n%s", active, want, tail(out, 3000))
				}
			}
		})
	}
}

// TestFTPDroppedDataConnection alternates downloads, which open the next
// data connection ahead, with Stats, which drop it, on a server whose every
// EPSV names the same port. A dropped connection still being dialled when
// the next EPSV went out once landed on the new listener, was accepted in
// place of the download's own and took its content, and the download read
// a reset.
func TestFTPDroppedDataConnection(t *testing.T) {
	r, _, data, logs := onePortFile(t, servers.VsftpdPlain)
	ctx := context.Background()
	for i := 0; i < 400; i++ {
		rc, err := r.Open(ctx, "f")
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		got, err := io.ReadAll(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d: %d bytes, %v\n%s", i, len(got), err, tail(logs.String(), 3000))
		}
		if fi, err := r.Stat(ctx, "f"); err != nil || fi.Size != int64(len(data)) {
			t.Fatalf("stat %d: %+v, %v", i, fi, err)
		}
		// A LIST goes through the library, which asks for a port of
		// its own: the connection opened ahead is dropped first.
		if _, err := r.List(ctx, ""); err != nil {
			t.Fatalf("list %d: %v", i, err)
		}
	}
}

// onePortFile starts kind with a single passive port (every EPSV names
// the same one) and opens, with one connection, a directory of it that
// holds a file f of data.
func onePortFile(t *testing.T, kind servers.Kind) (r remote.Remote, dir string, data []byte, logs *ftpLog) {
	t.Helper()
	srv := servers.Start(t, kind, servers.OnePassivePort())
	dir = mkdirOwned(t, srv, "d")
	data = remotetest.Content(7, 3000)
	if err := os.WriteFile(filepath.Join(dir, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	logs = &ftpLog{}
	opts := ftpOptions(srv, logs.logger())
	opts.Jobs = 1
	r, err := openFTP(t, srv.URL+"d", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir, data, logs
}

// TestFTPRefusedThenTransfer: a transfer the server refuses (a missing
// file, a missing directory) and then one it takes, again and again on one
// connection, with one passive port so that every EPSV names the same one.
// vsftpd over TLS would hand the refused transfer's data connection to the
// next transfer on the port of the EPSV sent with the refused one, and that
// transfer failed with "connection reset by peer" within 100 rounds.
func TestFTPRefusedThenTransfer(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdImplicit, servers.VsftpdFTPES12} {
		t.Run(string(kind), func(t *testing.T) {
			r, dir, data, logs := onePortFile(t, kind)
			ctx := context.Background()
			for i := 0; i < 150; i++ {
				if _, err := r.Open(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("open missing %d: %v", i, err)
				}
				rc, err := r.Open(ctx, "f")
				if err != nil {
					t.Fatalf("open %d: %v\n%s", i, err, tail(logs.String(), 3000))
				}
				got, err := io.ReadAll(rc)
				if cerr := rc.Close(); err == nil {
					err = cerr
				}
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d: %d bytes, %v\n%s", i, len(got), err, tail(logs.String(), 3000))
				}
				if err := r.Put(ctx, "no dir/x", bytes.NewReader(data), int64(len(data))); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("put into a missing directory %d: %v", i, err)
				}
				if err := r.Put(ctx, "up", bytes.NewReader(data), int64(len(data))); err != nil {
					t.Fatalf("put %d: %v\n%s", i, err, tail(logs.String(), 3000))
				}
			}
			if got, err := os.ReadFile(filepath.Join(dir, "up")); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the server holds %d bytes of up (%v)", len(got), err)
			}
		})
	}
}

// TestPortSurvivesCommands: the data connection dialled with the login (to
// the port of the EPSV sent with it) carries the first transfer even when
// MKD, SIZE, DELE, RNFR and RNTO come in between, on every FTP server: no
// second EPSV goes out before the first STOR, and the bytes arrive.
func TestPortSurvivesCommands(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES12, servers.ProFTPdTLS, servers.PureFTPdTLS, servers.VsftpdPlain} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			if err := os.WriteFile(filepath.Join(srv.Root, "old"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			chownLike(t, srv.Root, filepath.Join(srv.Root, "old"))
			var logs ftpLog
			r := openOneFTP(t, srv, logs.logger())
			ctx := context.Background()
			if err := r.Mkdir(ctx, "dir"); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Stat(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stat missing: %v", err)
			}
			if err := r.Remove(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("remove missing: %v", err)
			}
			if err := r.Rename(ctx, "old", "dir/renamed"); err != nil {
				t.Fatal(err)
			}
			data := remotetest.Content(7, 100_000)
			if err := r.Put(ctx, "dir/new file", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("put: %v\n%s", err, tail(logs.String(), 4000))
			}
			got, err := os.ReadFile(filepath.Join(srv.Root, "dir", "new file"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the server holds %d bytes (%v), want the %d sent", len(got), err, len(data))
			}
			out := logs.String()
			before, _, ok := strings.Cut(out, `msg="> STOR `)
			if !ok {
				t.Fatalf("no STOR in the dialogue:\n%s", tail(out, 4000))
			}
			if n := strings.Count(before, `msg="> EPSV"`); n != 1 {
				t.Errorf("%d EPSVs before the first STOR, want the login's only:\n%s", n, tail(before, 4000))
			}
		})
	}
}

// TestFTPRemoveDir: a lock comes down in one round trip (DELE and RMD
// pipelined) on every FTP server; a file that is not there is no error,
// and a directory that holds more than the names given stays.
func TestFTPRemoveDir(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES12, servers.ProFTPdTLS, servers.PureFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			for _, d := range []string{"lock", "full"} {
				mkdirOwned(t, srv, d)
				for _, f := range []string{"holder.json", "other"} {
					if d == "lock" && f == "other" {
						continue
					}
					p := filepath.Join(srv.Root, d, f)
					if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
						t.Fatal(err)
					}
					chownLike(t, srv.Root, p)
				}
			}
			r := openOneFTP(t, srv, nil)
			ctx := context.Background()
			fr, _ := remote.As[*ftp.Remote](r)
			if _, err := r.Stat(ctx, "lock"); err != nil { // logged in, settled
				t.Fatal(err)
			}
			before := fr.Stats().RoundTrips
			if err := fr.RemoveDir(ctx, "lock", []string{"holder.json", "missing"}); err != nil {
				t.Fatalf("RemoveDir: %v", err)
			}
			if n := fr.Stats().RoundTrips - before; n != 1 {
				t.Errorf("RemoveDir took %d round trips, want 1", n)
			}
			if _, err := os.Stat(filepath.Join(srv.Root, "lock")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("lock directory still there: %v", err)
			}
			if err := fr.RemoveDir(ctx, "lock", []string{"holder.json"}); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("RemoveDir of a missing directory: %v, want fs.ErrNotExist", err)
			}
			if err := fr.RemoveDir(ctx, "full", []string{"holder.json"}); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("RemoveDir of a directory that holds another file: %v, want a failure", err)
			}
			if _, err := os.Stat(filepath.Join(srv.Root, "full", "other")); err != nil {
				t.Errorf("the other file: %v", err)
			}
		})
	}
}
