package integration_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestStorageFull: a server out of space (a pure-ftpd quota) gives the
// "storage full" message and hint, exit 4, and the marker does not move.
func TestStorageFull(t *testing.T) {
	srv := servers.Start(t, servers.PureFTPdTLS, servers.Quota(256<<10))
	g := gittest.New(t)
	g.Write("index.html", []byte("small"))
	c1 := g.Commit("one")
	mustGftp(t, srv, g.Dir, "init", srv.URL)
	g.Write("big.bin", make([]byte, 1<<20))
	g.Commit("two")
	r := gftp(t, srv, g.Dir, "push", srv.URL)
	expectFailure(t, r, 4, "failed upload big.bin", "storage full", "out of space")
	if got := readMarker(t, srv); got != c1+"\n" {
		t.Fatalf("marker moved to %q", got)
	}
}

// TestSecretsNeverPrinted: at -vv, on every transport, in success and in
// failure, neither the password, nor an SSH key's passphrase, nor the S3
// secret appears in gftp's output.
func TestSecretsNeverPrinted(t *testing.T) {
	check := func(t *testing.T, secret string, rs ...result) {
		t.Helper()
		for _, r := range rs {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the secret %q appears in the output:\n%s\n%s", secret, r.stdout, r.stderr)
			}
		}
	}
	repo := func(t *testing.T) *gittest.Repo {
		g := gittest.New(t)
		g.Write("index.html", []byte("one"))
		g.Commit("one")
		return g
	}
	for _, k := range []servers.Kind{servers.VsftpdPlain, servers.VsftpdFTPES13, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		t.Run(string(k), func(t *testing.T) {
			srv := servers.Start(t, k)
			g := repo(t)
			ok := mustGftp(t, srv, g.Dir, "init", "-vv", srv.URL)
			bad := *srv
			bad.Password = "Not-the-Passw0rd"
			fail := gftp(t, &bad, g.Dir, "push", "-vv", srv.URL)
			check(t, srv.Password, ok, fail)
			check(t, bad.Password, fail)
		})
	}
	t.Run("sshd-password", func(t *testing.T) {
		srv := servers.StartSSHD(t)
		g := repo(t)
		ok := mustGftp(t, srv, g.Dir, "init", "-vv", srv.URL)
		bad := *srv
		bad.Password = "Not-the-Passw0rd"
		fail := gftp(t, &bad, g.Dir, "push", "-vv", srv.URL)
		check(t, srv.Password, ok, fail)
		check(t, bad.Password, fail)
	})
	t.Run("sshd-key-passphrase", func(t *testing.T) {
		const pass = "Key-Passphrase-xyzzy"
		key := filepath.Join(t.TempDir(), "id_ed25519")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", pass, "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
		b, _ := os.ReadFile(key + ".pub")
		pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			t.Fatal(err)
		}
		srv := servers.StartSSHD(t, servers.WithSSHAuthorizedKeys(pub))
		srv.Password = ""
		srv.Flags = append(srv.Flags, "--key", key)
		g := repo(t)
		good := *srv
		good.Env = append(append([]string{}, srv.Env...), "GFTP_KEY_PASSPHRASE="+pass)
		ok := mustGftp(t, &good, g.Dir, "init", "-vv", srv.URL)
		bad := *srv
		bad.Env = append(append([]string{}, srv.Env...), "GFTP_KEY_PASSPHRASE=wrong-"+pass)
		fail := gftp(t, &bad, g.Dir, "push", "-vv", srv.URL)
		if fail.code != 5 { // push: git-ftp's code when the marker cannot be read
			t.Errorf("a wrong passphrase exited %d, want 5:\n%s", fail.code, fail.stderr)
		}
		check(t, pass, ok, fail)
	})
	t.Run("versitygw", func(t *testing.T) {
		srv := servers.StartS3(t)
		g := repo(t)
		ok := mustGftp(t, srv, g.Dir, "init", "-vv", srv.URL)
		bad := *srv
		bad.Password = "Not-the-S3-secret-key"
		fail := gftp(t, &bad, g.Dir, "push", "-vv", srv.URL)
		if fail.code != 5 {
			t.Errorf("a wrong secret exited %d, want 5:\n%s", fail.code, fail.stderr)
		}
		check(t, srv.Password, ok, fail)
		check(t, bad.Password, fail)
		for _, e := range srv.Env {
			if k, v, _ := strings.Cut(e, "="); k == "AWS_SECRET_ACCESS_KEY" && v != "" {
				check(t, v, ok, fail)
			}
		}
	})
}
