package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

func readMarker(t *testing.T, srv *servers.Server) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(srv.Root, ".git-ftp.log"))
	if err != nil {
		t.Fatalf("read marker: %v", err)
	}
	return string(b)
}

func expectFailure(t *testing.T, r result, code int, stderrWants ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstderr: %s", r.code, code, r.stderr)
	}
	for _, w := range stderrWants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "gftp: hint: ") {
		t.Errorf("stderr has no hint:\n%s", r.stderr)
	}
	if n := strings.Count(r.stderr, "gftp: error: "); n != 1 {
		t.Errorf("want exactly one error line, got %d:\n%s", n, r.stderr)
	}
}

// TestPushRefusedMidBatch: pure-ftpd refuses one file of a batch by policy.
// The deploy must fail with exit 4, name the file and the server's reason,
// leave the marker, and complete once the file is gone.
func TestPushRefusedMidBatch(t *testing.T) {
	srv := servers.Start(t, servers.PureFTPdTLS)
	g, c1 := initedRepo(t, srv)

	g.Write("a.txt", []byte("a"))
	g.Write(`back\slash.txt`, []byte("refused"))
	g.Write("z.txt", []byte("z"))
	g.Remove("index.html")
	g.Commit("two")
	r := gftp(t, srv, g.Dir, "push", srv.URL)
	expectFailure(t, r, 4, `failed upload back\slash.txt`, "Prohibited file name", "the marker was not moved")
	if !strings.Contains(r.stdout, "FAILED") {
		t.Errorf("stdout summary does not say FAILED: %q", r.stdout)
	}
	if got := readMarker(t, srv); got != c1+"\n" {
		t.Fatalf("marker moved to %q after a failed file", got)
	}
	if _, err := os.Stat(filepath.Join(srv.Root, "index.html")); err != nil {
		t.Errorf("a delete ran although an upload had failed: %v", err)
	}

	g.Remove(`back\slash.txt`)
	c3 := g.Commit("three")
	mustGftp(t, srv, g.Dir, "push", srv.URL)
	checkServed(t, srv, g, c3)
}

// TestPushObstructed: on every FTP server and sshd, a file whose place on
// the server is taken by a directory the server cannot replace fails the
// deploy with exit 4 and an unmoved marker.
func TestPushObstructed(t *testing.T) {
	targets := pushTargets()[1:] // not local: the CLI scripts cover it
	for _, tc := range targets {
		if tc.noDirs {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			g, c1 := initedRepo(t, srv)
			for _, n := range []string{"b.txt", "c.txt", "d.txt"} {
				g.Write(n, []byte(n))
			}
			g.Commit("two")
			// Made by root: no server user can remove or replace it.
			if err := os.MkdirAll(filepath.Join(srv.Root, "c.txt", "blocker"), 0o755); err != nil {
				t.Fatal(err)
			}
			r := gftp(t, srv, g.Dir, "push", srv.URL)
			expectFailure(t, r, 4, "failed upload c.txt", "the marker was not moved")
			if got := readMarker(t, srv); got != c1+"\n" {
				t.Fatalf("marker moved to %q after a failed file", got)
			}
			if err := os.RemoveAll(filepath.Join(srv.Root, "c.txt")); err != nil {
				t.Fatal(err)
			}
			// Someone changes b.txt, which the failed run delivered, to
			// other bytes of the same size. Where the server digests
			// files (proftpd's HASH), the change is dated before the
			// failed run ended, so that only the digest can tell; on
			// the others it is dated after, as any later edit is.
			jfi, err := os.Stat(filepath.Join(srv.Root, ".gftp.journal"))
			if err != nil {
				t.Fatalf("the failed push left no journal: %v", err)
			}
			b := filepath.Join(srv.Root, "b.txt")
			if err := os.WriteFile(b, []byte("B.TXT"), 0o644); err != nil {
				t.Fatal(err)
			}
			when := jfi.ModTime().Add(2 * time.Second)
			if tc.hashes {
				when = jfi.ModTime().Add(-time.Hour)
			}
			if err := os.Chtimes(b, when, when); err != nil {
				t.Fatal(err)
			}
			r = mustGftp(t, srv, g.Dir, "push", "-v", srv.URL)
			if !strings.Contains(r.stdout, "2 uploaded (1 more already there from an earlier run)") {
				t.Errorf("the re-run should send the file that failed and the one changed since, and skip d.txt: %q", r.stdout)
			}
			if want := "checked=\"size and sha256\""; tc.hashes && !strings.Contains(r.stderr, want) {
				t.Errorf("d.txt was not checked by its digest (%s):\n%s", want, r.stderr)
			}
			checkServed(t, srv, g, g.Git("rev-parse", "HEAD"))
		})
	}
}

// TestWrongPassword: exit 5 (git-ftp's code when push cannot read the marker), a hint about credentials, the marker unmoved,
// and the password never printed, even at -vv.
func TestWrongPassword(t *testing.T) {
	for _, k := range servers.FTPKinds() {
		t.Run(string(k), func(t *testing.T) {
			srv := servers.Start(t, k)
			g, c1 := initedRepo(t, srv)
			g.Write("index.html", []byte("two"))
			g.Commit("two")

			bad := *srv
			bad.Password = "Wrong-Passw0rd-xyzzy"
			r := gftp(t, &bad, g.Dir, "push", "-vv", srv.URL)
			expectFailure(t, r, 5, "authentication failed", "check the user and password")
			if strings.Contains(r.stderr+r.stdout, bad.Password) {
				t.Errorf("the password appears in the output:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "PASS ****") {
				t.Errorf("-vv should show the login dialogue with PASS masked:\n%s", r.stderr)
			}
			// The pool's other connections, opened at once, wait for the
			// first login and quit without trying the password.
			if n := strings.Count(r.stderr, "> PASS ****"); n != 1 {
				t.Errorf("the wrong password was sent %d times, want once:\n%s", n, r.stderr)
			}
			if got := readMarker(t, srv); got != c1+"\n" {
				t.Fatalf("marker moved to %q", got)
			}
		})
	}
}

// TestUntrustedCertificate: each reason a certificate is not trusted gets
// its own words, exit 4 (git-ftp's code when init cannot reach the server) and a hint; --insecure goes ahead with a warning.
func TestUntrustedCertificate(t *testing.T) {
	cases := []struct {
		name string
		cert servers.CertKind
		want string
	}{
		{"self-signed", servers.CertSelfSigned, "self-signed"},
		{"expired", servers.CertExpired, "expired"},
		{"wrong-host", servers.CertWrongHost, "host name mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := servers.Start(t, servers.VsftpdFTPES13, servers.WithCert(tc.cert))
			g := gittest.New(t)
			g.Write("index.html", []byte("one"))
			c1 := g.Commit("one")
			r := gftp(t, srv, g.Dir, "init", srv.URL)
			expectFailure(t, r, 4, "TLS certificate verification failed", tc.want, "--cacert", "--insecure")
			if _, err := os.Stat(filepath.Join(srv.Root, "index.html")); !os.IsNotExist(err) {
				t.Fatalf("a file was uploaded to an untrusted server")
			}
			r = mustGftp(t, srv, g.Dir, "init", "--insecure", srv.URL)
			if !strings.Contains(r.stderr, "warning: --insecure") {
				t.Errorf("--insecure must warn:\n%s", r.stderr)
			}
			checkServed(t, srv, g, c1)
		})
	}
}

// TestFTPESNeverFallsBack: ftpes:// to a server without TLS fails before
// any credential is sent.
func TestFTPESNeverFallsBack(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdPlain)
	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	g.Commit("one")
	url := strings.Replace(srv.URL, "ftp://", "ftpes://", 1)
	r := gftp(t, srv, g.Dir, "init", "-vv", url)
	if r.code != 4 { // init: git-ftp's code for a server it cannot reach
		t.Fatalf("exit %d, want 4\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "> USER") || strings.Contains(r.stderr, "> PASS") {
		t.Errorf("credentials were sent in clear text:\n%s", r.stderr)
	}
	if !strings.Contains(strings.ToLower(r.stderr), "tls") {
		t.Errorf("the error should say TLS was refused:\n%s", r.stderr)
	}
}

// TestRealServerGitErrors: an unknown deployed SHA and a dirty tree, against
// a real server, leave the marker alone.
func TestRealServerGitErrors(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES12)
	g, _ := initedRepo(t, srv)

	g.Write("index.html", []byte("dirty"))
	r := gftp(t, srv, g.Dir, "push", srv.URL)
	expectFailure(t, r, 8, "uncommitted changes to tracked files: index.html", "--allow-dirty")
	g.Git("checkout", "-q", "index.html")

	unknown := "0123456789abcdef0123456789abcdef01234567\n"
	if err := os.WriteFile(filepath.Join(srv.Root, ".git-ftp.log"), []byte(unknown), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Write("index.html", []byte("two"))
	g.Commit("two")
	r = gftp(t, srv, g.Dir, "push", srv.URL)
	expectFailure(t, r, 8, "is not in the local repository", "--force", "catchup")
	if got := readMarker(t, srv); got != unknown {
		t.Fatalf("marker moved to %q", got)
	}
}
