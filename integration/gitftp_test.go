package integration_test

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// gitFTP runs Debian's git-ftp (1.6) against srv over FTPES.
func gitFTP(t *testing.T, srv *servers.Server, dir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git-ftp"); err != nil {
		servers.Unavailable(t, "git-ftp not found", "run .ci/install-servers.sh (apt-get install git-ftp)")
	}
	// The password on git-ftp's command line is acceptable in a test.
	full := append([]string{"ftp"}, args[0], "--user", srv.User, "--passwd", srv.Password, "--cacert", srv.CACert)
	full = append(full, args[1:]...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = gittest.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestGitFTPInterop: a server deployed by git-ftp is continued by gftp with
// only the difference, and the other way round.
func TestGitFTPInterop(t *testing.T) {
	t.Run("git-ftp init, gftp push", func(t *testing.T) {
		srv := servers.Start(t, servers.VsftpdFTPES12)
		g := gittest.New(t)
		g.Write("index.html", []byte("one"))
		g.Write("css/site.css", []byte("body{}"))
		g.Write("old/gone.txt", []byte("bye"))
		c1 := g.Commit("one")
		gitFTP(t, srv, g.Dir, "init", srv.URL)
		checkServed(t, srv, g, c1)

		g.Write("index.html", []byte("two"))
		g.Write("new page.html", []byte("new"))
		g.Remove("old/gone.txt")
		c2 := g.Commit("two")
		r := mustGftp(t, srv, g.Dir, "push", "-v", srv.URL)
		if got, want := uploadedPaths(r.stderr), []string{"index.html", "new page.html"}; !reflect.DeepEqual(got, want) {
			t.Errorf("gftp uploaded %q after git-ftp's init, want only %q", got, want)
		}
		if !strings.Contains(r.stdout, "2 uploaded, 1 deleted") {
			t.Errorf("summary: %q", r.stdout)
		}
		checkServed(t, srv, g, c2)
	})

	t.Run("gftp init, git-ftp push", func(t *testing.T) {
		srv := servers.Start(t, servers.VsftpdFTPES12)
		g := gittest.New(t)
		g.Write("index.html", []byte("one"))
		g.Write("a/b.txt", []byte("b"))
		c1 := g.Commit("one")
		mustGftp(t, srv, g.Dir, "init", srv.URL)
		checkServed(t, srv, g, c1)

		g.Write("index.html", []byte("two"))
		g.Remove("a/b.txt")
		g.Write("c.txt", []byte("c"))
		c2 := g.Commit("two")
		out := gitFTP(t, srv, g.Dir, "push", srv.URL)
		if !strings.Contains(out, "3 files to sync") { // 2 uploads, 1 delete
			t.Errorf("git-ftp should sync only the difference after gftp's init:\n%s", out)
		}
		files, marker, _ := served(t, srv.Root)
		if marker != c2+"\n" {
			t.Errorf("git-ftp's marker %q, want %q", marker, c2)
		}
		if files["index.html"] != "two" || files["c.txt"] != "c" {
			t.Errorf("git-ftp did not deploy the change on top of gftp's init: %q", files)
		}
		if _, ok := files["a/b.txt"]; ok {
			t.Errorf("git-ftp did not delete a/b.txt")
		}
	})
}
