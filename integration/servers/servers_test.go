package servers

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// curlURL is the URL curl wants for path on s: curl spells explicit TLS as
// ftp:// with --ssl-reqd.
func curlURL(s *Server, kind Kind, path string) (string, []string) {
	args := []string{"-sS", "--user", s.User + ":" + s.Password, "--max-time", "30"}
	if s.CACert != "" {
		args = append(args, "--cacert", s.CACert)
	}
	if strings.HasPrefix(string(kind), "vsftpd") && kind.TLS() {
		// vsftpd over TLS 1.3 sends session tickets on the data connection;
		// curl never reads them, so its close after an upload is a TCP RST
		// and vsftpd answers 426 (the quirk STYLE.md describes). The Go
		// client test covers TLS 1.3; curl checks the rest.
		args = append(args, "--tls-max", "1.2")
	}
	switch kind.Scheme() {
	case "ftpes":
		args = append(args, "--ssl-reqd")
		return "ftp://" + s.Addr + path, args
	case "ftps":
		return "ftps://" + s.Addr + path, args
	}
	return "ftp://" + s.Addr + path, args
}

// TestCurl uploads and downloads a file with curl, a client nobody here
// wrote, through every kind of server.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		Unavailable(t, "curl not found", "apt-get install curl")
	}
	for _, kind := range FTPKinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind)
			data := make([]byte, 300<<10)
			rand.Read(data)
			src := filepath.Join(t.TempDir(), "src")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			u, args := curlURL(s, kind, "/dir/up load.bin")
			up := exec.Command("curl", append(args, "--ftp-create-dirs", "-T", src, strings.ReplaceAll(u, " ", "%20"))...)
			if out, err := up.CombinedOutput(); err != nil {
				t.Fatalf("curl upload: %v\n%s", err, out)
			}
			got, err := os.ReadFile(filepath.Join(s.Root, "dir", "up load.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("uploaded file in Root: %d bytes, err %v; want %d bytes", len(got), err, len(data))
			}
			down := exec.Command("curl", append(args, strings.ReplaceAll(u, " ", "%20"))...)
			var stderr bytes.Buffer
			down.Stderr = &stderr
			got, err = down.Output()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("curl download: %d bytes, err %v\n%s", len(got), err, stderr.Bytes())
			}
		})
	}
}

// TestFTP logs in to every kind of server with jlaffaye/ftp, the reference
// client (TLS verified against the test CA, data connections resuming the
// control session, close_notify), uploads and downloads in passive mode,
// then with lftp in active mode, and checks the bytes and owner in Root.
func TestFTP(t *testing.T) {
	acct := lookupAccount(t)
	for _, kind := range FTPKinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ca := NewCA(t)
			s := Start(t, kind, WithCA(ca))
			if want := kind.Scheme() + "://" + s.Addr + "/"; s.URL != want {
				t.Errorf("URL = %q, want %q", s.URL, want)
			}
			var cfg *tls.Config
			if kind.TLS() {
				if s.CACert != ca.Path {
					t.Errorf("CACert = %q, want %q", s.CACert, ca.Path)
				}
				cfg = clientTLS(s, ca)
			}
			f, err := dialFTP(t, s, kind, cfg)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if kind.TLS() {
				v := f.Control().Version
				t.Logf("control: %s, verified chain of %d", tls.VersionName(v), len(f.Control().VerifiedChains[0]))
				switch {
				case kind == VsftpdFTPES12 && v != tls.VersionTLS12,
					kind == VsftpdFTPES13 && v != tls.VersionTLS13:
					t.Errorf("negotiated %s", tls.VersionName(v))
				}
			}

			// Over 1 MiB: vsftpd over TLS 1.3 loses the tail of uploads that
			// size from clients that close carelessly.
			data := make([]byte, 1<<20+12345)
			rand.Read(data)
			check := func(mode, dir string) {
				t.Helper()
				p := filepath.Join(s.Root, dir, "a #%b.bin")
				got, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s upload: %d bytes in Root, err %v; want %d bytes", mode, len(got), err, len(data))
				}
				if fi, err := os.Stat(p); err == nil {
					if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != acct.uid {
						t.Errorf("%s upload: owned by uid %d, want %d", mode, st.Uid, acct.uid)
					}
				}
			}

			dir := "passive dir"
			if err := f.MakeDir(dir); err != nil {
				t.Fatalf("MKD: %v", err)
			}
			name := dir + "/a #%b.bin"
			f.put(name, data)
			// pure-ftpd neither requires nor offers resumption on data
			// connections; vsftpd and proftpd require it.
			if kind.TLS() && kind != PureFTPdTLS && !f.Data().DidResume {
				t.Errorf("passive upload: data connection did not resume the TLS session")
			}
			check("passive", dir)
			if got := f.get(name); !bytes.Equal(got, data) {
				t.Fatalf("passive download: %d bytes, want %d", len(got), len(data))
			}
			if kind.TLS() {
				t.Logf("passive data: %s, resumed %v", tls.VersionName(f.Data().Version), f.Data().DidResume)
			}
			if err := f.Quit(); err != nil {
				t.Errorf("QUIT: %v", err)
			}

			// Active mode, through lftp. A successful transfer over TLS on
			// vsftpd and proftpd shows resumption too: they require it.
			local := t.TempDir()
			if err := os.WriteFile(filepath.Join(local, "src"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := lftp(t, s, kind, local, `set ftp:passive-mode off; mkdir "active dir"; cd "active dir"; `+
				`put src -o "a #%b.bin"; get "a #%b.bin" -o back`)
			if err != nil {
				t.Fatalf("lftp active upload and download: %v\n%s", err, tail([]byte(out), 40))
			}
			if !strings.Contains(out, "---> PORT ") && !strings.Contains(out, "---> EPRT ") {
				t.Errorf("lftp did not use active mode (no PORT or EPRT):\n%s", tail([]byte(out), 40))
			}
			check("active", "active dir")
			if got, err := os.ReadFile(filepath.Join(local, "back")); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("active download: %d bytes, err %v; want %d", len(got), err, len(data))
			}

			// vsftpd (debug_ssl) and proftpd (TLSLog) log the TLS version.
			if kind.TLS() && kind != PureFTPdTLS && !strings.Contains(Logs(s), "TLSv1.") {
				t.Errorf("Logs(s) does not show the TLS version:\n%s", Logs(s))
			}
		})
	}
}

// TestCertificates checks that each certificate choice is served, and fails
// verification in the way it should.
func TestCertificates(t *testing.T) {
	cases := []struct {
		cert  CertKind
		check func(error) bool
	}{
		{CertValid, func(err error) bool { return err == nil }},
		{CertSelfSigned, func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
		{CertExpired, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{CertWrongHost, func(err error) bool {
			var e x509.HostnameError
			return errors.As(err, &e)
		}},
	}
	for _, kind := range []Kind{VsftpdFTPES12, VsftpdImplicit, PureFTPdTLS, ProFTPdTLS} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", kind, c.cert), func(t *testing.T) {
				t.Parallel()
				ca := NewCA(t)
				s := Start(t, kind, WithCA(ca), WithCert(c.cert))
				_, err := dialFTP(t, s, kind, clientTLS(s, ca))
				if !c.check(err) {
					t.Fatalf("verified handshake: %v (%T)", err, errors.Unwrap(err))
				}
				// The server itself works: without verification it logs in.
				cfg := clientTLS(s, ca)
				cfg.InsecureSkipVerify = true
				if _, err := dialFTP(t, s, kind, cfg); err != nil {
					t.Fatalf("unverified handshake: %v", err)
				}
			})
		}
	}
}

// TestPassiveOnly checks that PassiveOnly refuses EPRT and PORT and still
// transfers in passive mode (TestFTP shows active mode on without it).
func TestPassiveOnly(t *testing.T) {
	for _, kind := range []Kind{VsftpdPlain, VsftpdFTPES13, ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ca := NewCA(t)
			s := Start(t, kind, WithCA(ca), PassiveOnly())
			var cfg *tls.Config
			if kind.TLS() {
				cfg = clientTLS(s, ca)
			}
			f, err := dialFTP(t, s, kind, cfg)
			if err != nil {
				t.Fatal(err)
			}
			f.put("p", []byte("passive"))
			if got, _ := os.ReadFile(filepath.Join(s.Root, "p")); string(got) != "passive" {
				t.Errorf("passive upload: %q", got)
			}

			local := t.TempDir()
			if err := os.WriteFile(filepath.Join(local, "a"), []byte("active"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := lftp(t, s, kind, local, "set ftp:passive-mode off; put a")
			if err == nil {
				t.Errorf("lftp's active upload succeeded:\n%s", tail([]byte(out), 40))
			}
			if !regexp.MustCompile(`---> (PORT|EPRT) .*\n.*<--- 5\d\d`).MatchString(out) {
				t.Errorf("lftp's PORT or EPRT was not refused with 5xx:\n%s", tail([]byte(out), 40))
			}
			// lftp sends its STOR even after the refusal, and proftpd
			// creates the file before it finds no data connection: the
			// bytes are what must not arrive.
			if got, _ := os.ReadFile(filepath.Join(s.Root, "a")); len(got) != 0 {
				t.Errorf("active upload landed in Root: %q", got)
			}
		})
	}
}

// TestQuota checks that pure-ftpd refuses an upload over the user's quota.
func TestQuota(t *testing.T) {
	ca := NewCA(t)
	s := Start(t, PureFTPdTLS, WithCA(ca), Quota(100<<10))
	f, err := dialFTP(t, s, PureFTPdTLS, clientTLS(s, ca))
	if err != nil {
		t.Fatal(err)
	}
	f.put("small", make([]byte, 10<<10))
	err = f.Stor("big", bytes.NewReader(make([]byte, 300<<10)))
	t.Logf("STOR big: %v", err)
	if code := replyCode(err); code != 552 && code != 451 && code != 452 {
		t.Fatalf("upload over quota: reply %d (%v), want 552", code, err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file over quota left in Root: %v", err)
	}
}

// TestSessionReuseRequired checks that the servers configured to require
// TLS session resumption on data connections refuse one that does not
// resume, so that a client's resumption bug shows up here and not on a
// customer's host.
func TestSessionReuseRequired(t *testing.T) {
	for _, kind := range []Kind{VsftpdFTPES12, VsftpdFTPES13, VsftpdImplicit, ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ca := NewCA(t)
			s := Start(t, kind, WithCA(ca))
			f, err := dialFTP(t, s, kind, clientTLS(s, ca))
			if err != nil {
				t.Fatal(err)
			}
			fresh := clientTLS(s, ca) // a cache of its own: nothing to resume
			f.secure = func(raw net.Conn) net.Conn {
				return &carefulConn{Conn: tls.Client(raw, fresh), f: f}
			}
			_, err = f.NameList("")
			t.Logf("NLST over a data connection that does not resume: %v", err)
			if code := replyCode(err); code < 400 {
				t.Fatalf("data connection without resumption accepted: reply %d (%v)", code, err)
			}
			if f.Data().DidResume {
				t.Errorf("the data connection resumed a session it could not have")
			}
			t.Logf("after the refusal, NOOP: %v", f.NoOp())
		})
	}
}
