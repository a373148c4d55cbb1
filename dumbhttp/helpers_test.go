package dumbhttp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gftp/gftp/remote/local"
)

func requireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

var commitClock atomic.Int64

// gitEnv is a clean environment for the git CLI: no user or system config,
// fixed identities, and no proxy (the test servers are on loopback).
func gitEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "home",
			"git_dir", "git_work_tree", "git_config", "git_config_global", "git_config_system":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+filepath.Join(home, ".gitconfig"),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
}

var gitHome string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dumbhttp-home-")
	if err != nil {
		panic(err)
	}
	gitHome = dir
	_ = os.WriteFile(filepath.Join(dir, ".gitconfig"), []byte("[init]\n\tdefaultBranch = main\n[advice]\n\tnestedTag = false\n"), 0o644)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// git runs the git CLI in dir and returns its trimmed stdout.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s (in %s): %v", strings.Join(args, " "), dir, err)
	}
	return out
}

func gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	n := commitClock.Add(1)
	date := fmt.Sprintf("%d +0000", 1700000000+n)
	cmd.Env = append(gitEnv(gitHome), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// newRepo makes a work tree with a few commits on main.
func newRepo(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commit(t, dir, "README", "hello\n")
	commit(t, dir, "src/a.txt", strings.Repeat("line a\n", 200))
	return dir
}

// commit writes name and commits it.
func commit(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "change "+name)
	return git(t, dir, "rev-parse", "HEAD")
}

// publish publishes src to the directory dst through the local transport.
func publish(t testing.TB, src, dst string, opts Options) *Result {
	t.Helper()
	res, err := tryPublish(src, dst, opts)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return res
}

func tryPublish(src, dst string, opts Options) (*Result, error) {
	r, err := local.New(dst)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return Publish(context.Background(), src, r, opts)
}

// serve serves dir over HTTP on loopback, as a static web host would.
func serve(t testing.TB, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// refsOf lists "<oid> <name>" for the branches and tags of a work tree
// (source) or of a clone (its remote-tracking branches renamed to heads).
func refsOf(t testing.TB, dir string, clone bool) []string {
	t.Helper()
	out := git(t, dir, "for-each-ref", "--format=%(objectname) %(refname)")
	var refs []string
	for _, l := range strings.Split(out, "\n") {
		oid, name, _ := strings.Cut(l, " ")
		switch {
		case clone && name == "refs/remotes/origin/HEAD":
			continue
		case clone && strings.HasPrefix(name, "refs/remotes/origin/"):
			name = "refs/heads/" + strings.TrimPrefix(name, "refs/remotes/origin/")
		case clone && strings.HasPrefix(name, "refs/heads/"):
			continue // the local branch the clone checked out
		case !strings.HasPrefix(name, "refs/heads/") && !strings.HasPrefix(name, "refs/tags/"):
			continue
		}
		refs = append(refs, oid+" "+name)
	}
	sort.Strings(refs)
	return refs
}

// checkClone clones url into a new directory, checks it with fsck, and
// compares its branches, tags and HEAD with src.
func checkClone(t testing.TB, src, url string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "clone")
	git(t, "", "clone", "-q", url, dst)
	git(t, dst, "fsck", "--full", "--strict", "--no-dangling")
	want, got := refsOf(t, src, false), refsOf(t, dst, true)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("clone of %s has refs\n%s\nwant\n%s", url, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	srcHead := git(t, src, "symbolic-ref", "HEAD")
	if h := git(t, dst, "symbolic-ref", "HEAD"); h != srcHead {
		t.Errorf("clone HEAD is %s, want %s", h, srcHead)
	}
	if a, b := git(t, dst, "rev-parse", "HEAD"), git(t, src, "rev-parse", "HEAD"); a != b {
		t.Errorf("clone HEAD at %s, want %s", a, b)
	}
	return dst
}

func readFileT(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// packFiles lists objects/pack of a published directory.
func packFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "objects", "pack"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
