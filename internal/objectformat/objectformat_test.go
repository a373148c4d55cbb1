package objectformat

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
)

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestCheckWorkTree runs real git: SHA-1 repositories pass; a SHA-256 one
// is refused, from its own work tree and from a linked one (whose .git is
// a file and whose config lives in the common directory).
func TestCheckWorkTree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	sha1 := t.TempDir()
	git(t, sha1, "init", "-q")
	if err := CheckWorkTree(sha1); err != nil {
		t.Fatalf("sha1 repository: %v", err)
	}

	sha256 := t.TempDir()
	git(t, sha256, "init", "-q", "-b", "main", "--object-format=sha256")
	git(t, sha256, "commit", "-q", "--allow-empty", "-m", "one")
	linked := filepath.Join(t.TempDir(), "linked")
	git(t, sha256, "worktree", "add", "-q", linked)
	for _, dir := range []string{sha256, linked} {
		var e *Error
		if err := CheckWorkTree(dir); !errors.As(err, &e) || e.Format != "sha256" || e.Dir != dir {
			t.Errorf("%s: err = %v, want *Error for sha256", dir, err)
		}
	}
}
