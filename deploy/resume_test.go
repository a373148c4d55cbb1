package deploy_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// noHash hides the local transport's Hasher: a server that can only tell
// sizes and times, as SFTP.
type noHash struct{ remote.Remote }

// runOn pushes HEAD to r.
func runOn(t *testing.T, repoDir string, r remote.Remote) (*deploy.Result, error) {
	t.Helper()
	_, res, err := deployOn(t, repoDir, r, deploy.PlanOptions{})
	return res, err
}

// TestResumeChecksContent: a re-run after a failed push skips only the
// files that are still what the failed run delivered. A file changed on
// the server since, with the same size, is caught by its digest where the
// server has one, and by its time where it has not.
func TestResumeChecksContent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hashes bool
	}{{"digest", true}, {"time", false}} {
		t.Run(tc.name, func(t *testing.T) {
			g := gittest.New(t)
			g.Write("index.html", []byte("one"))
			g.Commit("one")
			dir := t.TempDir()
			lr, err := local.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			var r remote.Remote = lr
			if !tc.hashes {
				r = noHash{lr}
			}
			if _, err := runOn(t, g.Dir, r); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"b.txt", "c.txt", "d.txt"} {
				g.Write(n, []byte(n+" content"))
			}
			g.Commit("two")
			// The server refuses c.txt: a directory sits where it goes.
			if err := os.MkdirAll(filepath.Join(dir, "c.txt", "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := runOn(t, g.Dir, r); err == nil {
				t.Fatal("the obstructed push succeeded")
			}
			journal := filepath.Join(dir, deploy.JournalName)
			jfi, err := os.Stat(journal)
			if err != nil {
				t.Fatalf("the failed push left no journal: %v", err)
			}

			// Someone changes b.txt on the server: same size, other
			// bytes. With a digest, its time does not matter: it is
			// set back to before the journal. Without, the change has
			// a later time, as any edit would.
			b := filepath.Join(dir, "b.txt")
			if err := os.WriteFile(b, []byte("B.TXT CONTENT"), 0o644); err != nil {
				t.Fatal(err)
			}
			when := jfi.ModTime().Add(-time.Hour)
			if !tc.hashes {
				when = jfi.ModTime().Add(2 * time.Second)
			}
			if err := os.Chtimes(b, when, when); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(dir, "c.txt")); err != nil {
				t.Fatal(err)
			}
			res, err := runOn(t, g.Dir, r)
			if err != nil {
				t.Fatalf("re-run: %v", err)
			}
			if res.Resumed != 1 || res.Uploaded != 2 {
				t.Errorf("re-run resumed %d and uploaded %d; want d.txt resumed, b.txt and c.txt uploaded", res.Resumed, res.Uploaded)
			}
			for _, n := range []string{"b.txt", "c.txt", "d.txt"} {
				got, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil || string(got) != n+" content" {
					t.Errorf("%s on the server = %q, %v", n, got, err)
				}
			}
			if _, err := os.Stat(journal); !os.IsNotExist(err) {
				t.Errorf("the journal outlived the completed push: %v", err)
			}
		})
	}
}
