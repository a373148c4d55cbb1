package deploy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
	"github.com/gftp/gftp/remote/remotetest"
)

// deployTo plans and runs a deploy of HEAD into dir, from the marker there.
func deployTo(t *testing.T, repoDir, dir string, opts deploy.PlanOptions) (*deploy.Plan, *deploy.Result, error) {
	t.Helper()
	r, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return deployOn(t, repoDir, r, opts)
}

// deployOn plans and runs a deploy of HEAD to r, from the marker there.
func deployOn(t *testing.T, repoDir string, r remote.Remote, opts deploy.PlanOptions) (*deploy.Plan, *deploy.Result, error) {
	t.Helper()
	ctx := context.Background()
	repo, err := deploy.OpenRepo(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	from, err := deploy.ReadMarker(ctx, r, deploy.DefaultMarker)
	if err != nil && !errors.Is(err, deploy.ErrNoMarker) {
		t.Fatal(err)
	}
	to, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := deploy.NewPlan(ctx, repo, from, to, opts)
	if err != nil {
		return nil, nil, err
	}
	ex := &deploy.Executor{Remote: r, Repo: repo, Jobs: 4}
	res, err := ex.Run(ctx, plan)
	return plan, res, err
}

func marker(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, deploy.DefaultMarker))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// served is the deployed tree without the marker.
func served(t *testing.T, dir string) map[string]string {
	files := gittest.Files(t, dir)
	delete(files, deploy.DefaultMarker)
	return files
}

func TestInitThenPush(t *testing.T) {
	g := gittest.New(t)
	for i, n := range remotetest.HardNames {
		g.Write("names/"+n, remotetest.Content(int64(i), 50))
	}
	g.Write("big.bin", remotetest.Content(1, 8<<20))
	g.Write("empty", nil)
	g.Write("doomed/only.txt", []byte("bye"))
	g.Write("deep/a/b/c/d/e/f.txt", []byte("deep"))
	g.Write("keep/x.txt", []byte("x"))
	g.Write("keep/y.txt", []byte("y"))
	c1 := g.Commit("one")

	dir := t.TempDir()
	plan, res, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if !reflect.DeepEqual(served(t, dir), g.Tree(c1)) {
		t.Fatalf("after init the server does not hold the commit's files")
	}
	if got := marker(t, dir); got != c1+"\n" {
		t.Fatalf("marker = %q, want %q", got, c1+"\n")
	}
	if res.Uploaded != len(plan.Uploads) || res.Bytes != plan.Bytes() {
		t.Errorf("result %+v does not match plan (%d uploads, %d bytes)", res, len(plan.Uploads), plan.Bytes())
	}

	// A foreign file the deploy must not remove with its directory.
	os.WriteFile(filepath.Join(dir, "keep", "foreign.txt"), []byte("mine"), 0o644)

	g.Remove("doomed/only.txt")
	g.Remove("keep/x.txt")
	g.Remove("keep/y.txt")
	g.Write("names/with space.txt", []byte("changed"))
	g.Write("new dir/new file", []byte("new"))
	c2 := g.Commit("two")

	plan, _, err = deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	var ups []string
	for _, a := range plan.Uploads {
		ups = append(ups, a.Path)
	}
	if want := []string{"names/with space.txt", "new dir/new file"}; !reflect.DeepEqual(ups, want) {
		t.Errorf("push uploaded %q, want only the changes %q", ups, want)
	}
	if plan.Commits != 1 {
		t.Errorf("plan.Commits = %d, want 1", plan.Commits)
	}
	want := g.Tree(c2)
	want["keep/foreign.txt"] = "mine"
	if got := served(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("after push the server holds %d files, want %d", len(got), len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, "doomed")); !os.IsNotExist(err) {
		t.Errorf("the emptied directory doomed/ is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Errorf("keep/ holds a foreign file and must stay: %v", err)
	}
	if got := marker(t, dir); got != c2+"\n" {
		t.Fatalf("marker = %q, want %q", got, c2+"\n")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".gftp-tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestSymlinksAndTypeChanges(t *testing.T) {
	g := gittest.New(t)
	g.Write("real.txt", []byte("real content"))
	g.Symlink("link.txt", "real.txt")
	g.Symlink("sub/up.txt", "../real.txt")
	g.Symlink("outside", "/etc/passwd")
	g.Symlink("escape", "../../x")
	g.Write("becomes-link", []byte("was a file"))
	g.Commit("one")
	dir := t.TempDir()
	plan, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := served(t, dir)
	if files["link.txt"] != "real content" || files["sub/up.txt"] != "real content" {
		t.Errorf("symlinks inside the repository must deploy their target's content: %q", files)
	}
	if _, ok := files["outside"]; ok {
		t.Errorf("a symlink out of the repository was deployed")
	}
	if len(plan.Warnings) != 2 || !strings.Contains(strings.Join(plan.Warnings, "\n"), "outside the repository") {
		t.Errorf("warnings = %q, want two about links outside the repository", plan.Warnings)
	}

	g.Symlink("becomes-link", "real.txt")
	g.Remove("link.txt")
	g.Write("link.txt", []byte("now a file"))
	g.Commit("two")
	plan, _, err = deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files = served(t, dir)
	if files["becomes-link"] != "real content" || files["link.txt"] != "now a file" {
		t.Errorf("type changes not deployed: %q", files)
	}
	for _, a := range plan.Uploads {
		if a.Path == "link.txt" && a.Reason != "type changed" {
			t.Errorf("reason for link.txt = %q, want type changed", a.Reason)
		}
	}
}

func TestIgnoreIncludeSyncroot(t *testing.T) {
	g := gittest.New(t)
	g.Write(".git-ftp-ignore", []byte("# comment\r\n\r\nsite/*.log\r\nsite/secret[0-9].txt\nsite/cache/*\n"))
	g.Write(".git-ftp-include", []byte("!site/build/\nsite/app.css:/scss/app.scss\n!site/gone.txt\n"))
	g.Write("site/index.html", []byte("<h1>"))
	g.Write("site/debug.log", []byte("log"))
	g.Write("site/deep/x.log", []byte("log")) // '*' matches '/'
	g.Write("site/secret1.txt", []byte("s"))
	g.Write("site/cache/a/b", []byte("c"))
	g.Write("scss/app.scss", []byte("a { }"))
	g.Write("outside.txt", []byte("not in syncroot"))
	g.Git("add", "-A")
	g.Git("commit", "-qm", "one")
	// Untracked build output, uploaded because of the include rules.
	g.Write("site/build/bundle.js", []byte("js1"))
	g.Write("site/app.css", []byte("css1"))
	os.WriteFile(filepath.Join(g.Dir, ".git", "info", "exclude"), []byte("site/build/\nsite/app.css\n"), 0o644)

	dir := t.TempDir()
	opts := func() deploy.PlanOptions {
		ig, err := deploy.LoadIgnore(g.Dir)
		if err != nil {
			t.Fatal(err)
		}
		inc, err := deploy.LoadInclude(g.Dir, "site")
		if err != nil {
			t.Fatal(err)
		}
		return deploy.PlanOptions{Syncroot: "site", Ignore: ig, Include: inc}
	}
	if _, _, err := deployTo(t, g.Dir, dir, opts()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"index.html": "<h1>", "build/bundle.js": "js1", "app.css": "css1"}
	if got := served(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("init with syncroot, ignore and include served %q, want %q", got, want)
	}

	// Only the include source changes: the target is uploaded again.
	g.Write("scss/app.scss", []byte("b { }"))
	g.Write("site/app.css", []byte("css2"))
	g.Write("site/build/bundle.js", []byte("js2"))
	g.Commit("two")
	os.WriteFile(filepath.Join(dir, "gone.txt"), []byte("old"), 0o644)
	plan, _, err := deployTo(t, g.Dir, dir, opts())
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"index.html": "<h1>", "build/bundle.js": "js2", "app.css": "css2"}
	if got := served(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("push served %q, want %q", got, want)
	}
	if len(plan.Deletes) != 1 || plan.Deletes[0].Path != "gone.txt" {
		t.Errorf("!gone.txt is missing locally and must be deleted remotely; deletes = %+v", plan.Deletes)
	}
}

func TestFailureKeepsMarker(t *testing.T) {
	g := gittest.New(t)
	g.Write("a.txt", []byte("a"))
	c1 := g.Commit("one")
	dir := t.TempDir()
	if _, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b.txt", "c.txt", "d.txt"} {
		g.Write(n, []byte(n))
	}
	g.Remove("a.txt")
	g.Commit("two")
	// The server refuses c.txt: a non-empty directory sits where it goes.
	os.MkdirAll(filepath.Join(dir, "c.txt", "x"), 0o755)

	_, res, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	var fe *deploy.FailedError
	if !errors.As(err, &fe) || len(fe.Failures) != 1 || fe.Failures[0].Action.Path != "c.txt" {
		t.Fatalf("err = %v, want a FailedError naming c.txt", err)
	}
	if res.Marker {
		t.Errorf("result says the marker moved")
	}
	if got := marker(t, dir); got != c1+"\n" {
		t.Errorf("marker moved to %q after a failure; want %q", got, c1)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err != nil {
		t.Errorf("a delete ran although an upload failed: %v", err)
	}
	// Once the obstacle is gone, the same push completes.
	os.RemoveAll(filepath.Join(dir, "c.txt"))
	if _, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{}); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if got := marker(t, dir); got != g.Git("rev-parse", "HEAD")+"\n" {
		t.Errorf("marker after re-run = %q", got)
	}
}

func TestUnknownCommit(t *testing.T) {
	g := gittest.New(t)
	g.Write("a", []byte("a"))
	g.Commit("one")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, deploy.DefaultMarker), []byte(strings.Repeat("ab", 20)+"\n"), 0o644)
	_, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	var uc *deploy.UnknownCommitError
	if !errors.As(err, &uc) {
		t.Fatalf("err = %v, want UnknownCommitError", err)
	}
	if !strings.Contains(uc.Hint(), "--force") || !strings.Contains(uc.Hint(), "catchup") {
		t.Errorf("hint %q lacks the ways out", uc.Hint())
	}
}

func TestParseMarker(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	for _, in := range []string{sha, sha + "\n", "  " + sha + "\r\n", strings.ToUpper(sha)} {
		h, err := deploy.ParseMarker("m", []byte(in))
		if err != nil || h != plumbing.NewHash(sha) {
			t.Errorf("ParseMarker(%q) = %v, %v", in, h, err)
		}
	}
	for _, in := range []string{"", "xyz", sha[:39], sha + "0", "g123456789abcdef0123456789abcdef01234567", sha + "\nmore"} {
		if _, err := deploy.ParseMarker("m", []byte(in)); err == nil {
			t.Errorf("ParseMarker(%q) accepted garbage", in)
		}
	}
}

func TestIgnoreGlobs(t *testing.T) {
	ig := deploy.ParseIgnore([]byte("*.md\nsrc/?.go\nlib/[!a]*\n\\#lit\nx[\nconf/[[:digit:]]\n"))
	cases := map[string]bool{
		"README.md": true, "docs/deep/a.md": true, "src/a.go": true, "src/ab.go": false,
		"lib/b.c": true, "lib/a.c": false, "#lit": true, "x[": true, "conf/7": true, "conf/x": false,
		"other": false,
	}
	for p, want := range cases {
		if got := ig.Match(p); got != want {
			t.Errorf("Match(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestSubmoduleGitlinkOnly: a gitlink whose submodule is not checked out
// (no .git in its directory) is refused before anything is uploaded.
func TestSubmoduleGitlinkOnly(t *testing.T) {
	g := gittest.New(t)
	g.Write("index.html", []byte("x"))
	c1 := g.Commit("one")
	// A gitlink, as `git submodule add` records it.
	g.Git("update-index", "--add", "--cacheinfo", "160000,"+c1+",vendor/lib")
	g.Git("commit", "-q", "-m", "add submodule")
	dir := t.TempDir()
	_, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	var se *deploy.SubmoduleError
	if !errors.As(err, &se) || len(se.Paths) != 1 || se.Paths[0] != "vendor/lib" {
		t.Fatalf("err = %v, want a SubmoduleError naming vendor/lib", err)
	}
	if !strings.Contains(se.Hint(), "git submodule update --init") || !strings.Contains(se.Error(), "not checked out") {
		t.Errorf("error %q, hint %q: want not checked out, and git submodule update --init", se.Error(), se.Hint())
	}
	if _, err := os.Stat(filepath.Join(dir, deploy.DefaultMarker)); !os.IsNotExist(err) {
		t.Errorf("a marker was written although the plan was refused")
	}
}
