package dumbhttp

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gftp/gftp/internal/objectformat"
)

// TestSHA256Refused: a SHA-256 repository is refused before anything is
// read or uploaded; go-git v5 would misread its objects.
func TestSHA256Refused(t *testing.T) {
	requireGit(t)
	src := t.TempDir()
	git(t, src, "init", "-q", "-b", "main", "--object-format=sha256")
	commit(t, src, "README", "hello\n")
	dst := filepath.Join(t.TempDir(), "pub")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := tryPublish(src, dst, Options{})
	var oe *objectformat.Error
	if !errors.As(err, &oe) || oe.Format != "sha256" {
		t.Fatalf("publish of a sha256 repository: err = %v, want *objectformat.Error for sha256", err)
	}
	if list, _ := os.ReadDir(dst); len(list) != 0 {
		t.Fatalf("publish wrote %d entries to the target", len(list))
	}
}
