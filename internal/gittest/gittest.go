// Package gittest builds throwaway git repositories for tests with the real
// git command, so that what the tests deploy is what users have.
package gittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a work tree in a temporary directory.
type Repo struct {
	Dir string
	t   testing.TB
}

// New makes an empty repository on branch main.
func New(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{Dir: t.TempDir(), t: t}
	r.Git("init", "-q", "-b", "main")
	r.Git("config", "user.email", "test@example.com")
	r.Git("config", "user.name", "gftp test")
	r.Git("config", "commit.gpgsign", "false")
	r.Git("config", "core.autocrlf", "false")
	return r
}

// Env is the environment git runs with: fixed dates, no user config.
func Env() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir(),
		// gftp speaks a CI system's log format under one; tests expect a terminal's.
		"GITHUB_ACTIONS=", "GITLAB_CI=",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z")
}

// Git runs git in the work tree and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write creates or replaces a file, making its directories.
func (r *Repo) Write(name string, data []byte) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	os.Remove(p) // replace a symlink rather than write through it
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Symlink creates a symlink name -> target.
func (r *Repo) Symlink(name, target string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatal(err)
	}
}

// Remove deletes a file from the work tree.
func (r *Repo) Remove(name string) {
	r.t.Helper()
	if err := os.Remove(filepath.Join(r.Dir, filepath.FromSlash(name))); err != nil {
		r.t.Fatal(err)
	}
}

// Commit stages everything and commits; it returns the new commit's SHA.
func (r *Repo) Commit(msg string) string {
	r.t.Helper()
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Git("rev-parse", "HEAD")
}

// Files lists every regular file below dir (relative, slash-separated) with
// its content; a helper for comparing a deployed tree with a commit.
func Files(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Tree lists every file of a commit with its content, as git stores it
// (symlinks as their target), via git archive-like plumbing.
func (r *Repo) Tree(rev string) map[string]string {
	r.t.Helper()
	out := map[string]string{}
	list := r.Git("ls-tree", "-r", "-z", "--name-only", rev)
	for _, name := range strings.Split(list, "\x00") {
		if name == "" {
			continue
		}
		cmd := exec.Command("git", "cat-file", "blob", rev+":"+name)
		cmd.Dir = r.Dir
		data, err := cmd.Output()
		if err != nil {
			r.t.Fatalf("git cat-file %s:%s: %v", rev, name, err)
		}
		out[name] = string(data)
	}
	return out
}

// MainWithGFTP is the TestMain of a package whose tests run gftp as a
// command: it builds the binary once into a temporary directory, sets *bin,
// runs the tests, removes the directory, and returns the exit code.
func MainWithGFTP(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "gftp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildGFTP(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// BuildGFTP builds cmd/gftp into dir, the binary users run, for tests that
// run it as a command, and returns its path. It is built as the release
// binaries, the image and the Action's are (make release): static, with
// CGO_ENABLED=0. A binary linked against libc also pays the dynamic
// loader at every start (about 8 ms of CPU for `gftp --version`).
func BuildGFTP(dir string) (string, error) {
	bin := filepath.Join(dir, "gftp")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/gftp/gftp/cmd/gftp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build gftp: %v\n%s", err, out)
	}
	return bin, nil
}
