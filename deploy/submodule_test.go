package deploy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// SubmoduleRepos is a superproject with the repository lib added as the
// submodule vendor/lib by `git submodule add`, as users do it.
type submoduleRepos struct {
	super, lib *gittest.Repo
}

func newSubmoduleRepos(t *testing.T) submoduleRepos {
	t.Helper()
	lib := gittest.New(t)
	lib.Write("lib.js", []byte("v1\n"))
	lib.Write("css/lib.css", []byte("body{}\n"))
	lib.Write("old.txt", []byte("to be deleted\n"))
	lib.Write(".git-ftp-ignore", []byte("secret.txt\n"))
	lib.Write("secret.txt", []byte("not for the server\n"))
	lib.Commit("lib one")
	super := gittest.New(t)
	super.Write("index.html", []byte("<script src=vendor/lib/lib.js>\n"))
	super.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.Dir, "vendor/lib")
	super.Commit("super one")
	return submoduleRepos{super: super, lib: lib}
}

// movePointer commits a change in lib, then moves the superproject's
// pointer to it, the way a user updates a submodule.
func (s submoduleRepos) movePointer(t *testing.T) {
	t.Helper()
	s.lib.Write("lib.js", []byte("v2\n"))
	s.lib.Write("js/extra.js", []byte("extra\n"))
	s.lib.Remove("old.txt")
	s.lib.Commit("lib two")
	s.super.Git("-C", "vendor/lib", "-c", "protocol.file.allow=always", "pull", "-q", "--ff-only", "origin", "main")
	s.super.Git("add", "vendor/lib")
	s.super.Commit("super two: lib two")
}

// initedSubmodule makes the repositories and deploys them to a new
// directory.
func initedSubmodule(t *testing.T) (submoduleRepos, string, remote.Remote) {
	t.Helper()
	s := newSubmoduleRepos(t)
	dir := t.TempDir()
	r, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deploySub(t, s.super.Dir, r); err != nil {
		t.Fatal(err)
	}
	return s, dir, r
}

// deploySub deploys HEAD of repoDir to r with the submodules' markers read
// from r, as gftp push does.
func deploySub(t *testing.T, repoDir string, r remote.Remote) (*deploy.Plan, error) {
	t.Helper()
	opts := deploy.PlanOptions{Remote: r}
	plan, _, err := deployOn(t, repoDir, r, opts)
	return plan, err
}

// TestSubmoduleDeploy: init deploys the submodule's files under its path
// with its own marker; moving the pointer pushes the submodule's changes
// (adds, changes, deletes, its own .git-ftp-ignore) and moves both markers.
func TestSubmoduleDeploy(t *testing.T) {
	s, dir, r := initedSubmodule(t)
	assertFiles(t, dir, map[string]string{
		"index.html":                 "<script src=vendor/lib/lib.js>\n",
		".gitmodules":                "[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = " + s.lib.Dir + "\n",
		".git-ftp.log":               s.super.Git("rev-parse", "HEAD") + "\n",
		"vendor/lib/lib.js":          "v1\n",
		"vendor/lib/css/lib.css":     "body{}\n",
		"vendor/lib/old.txt":         "to be deleted\n",
		"vendor/lib/.git-ftp-ignore": "secret.txt\n",
		"vendor/lib/.git-ftp.log":    s.lib.Git("rev-parse", "HEAD") + "\n",
	})

	s.movePointer(t)
	plan, err := deploySub(t, s.super.Dir, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Submodules) != 1 || plan.Submodules[0].From.String() == plan.Submodules[0].To.String() || plan.Submodules[0].From.IsZero() {
		t.Fatalf("plan submodules: %+v", plan.Submodules)
	}
	assertFiles(t, dir, map[string]string{
		"index.html":                 "<script src=vendor/lib/lib.js>\n",
		".gitmodules":                "[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = " + s.lib.Dir + "\n",
		".git-ftp.log":               s.super.Git("rev-parse", "HEAD") + "\n",
		"vendor/lib/lib.js":          "v2\n",
		"vendor/lib/js/extra.js":     "extra\n",
		"vendor/lib/css/lib.css":     "body{}\n",
		"vendor/lib/.git-ftp-ignore": "secret.txt\n",
		"vendor/lib/.git-ftp.log":    s.lib.Git("rev-parse", "HEAD") + "\n",
	})
	// Only the submodule's changes went: three files, one delete.
	if len(plan.Uploads) != 2 || len(plan.Deletes) != 1 {
		t.Fatalf("push plan: %d uploads %+v, %d deletes", len(plan.Uploads), plan.Uploads, len(plan.Deletes))
	}
}

// TestSubmoduleMarkerMissing: a submodule that has no marker on the server
// (deployed before gftp knew submodules, or by hand) gets every file, as
// git-ftp's push falls back to init.
func TestSubmoduleMarkerMissing(t *testing.T) {
	s, dir, r := initedSubmodule(t)
	for _, name := range []string{"vendor/lib/.git-ftp.log", "vendor/lib/css/lib.css"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	s.movePointer(t)
	if _, err := deploySub(t, s.super.Dir, r); err != nil {
		t.Fatal(err)
	}
	files := gittest.Files(t, dir)
	if files["vendor/lib/css/lib.css"] != "body{}\n" || files["vendor/lib/lib.js"] != "v2\n" ||
		files["vendor/lib/.git-ftp.log"] != s.lib.Git("rev-parse", "HEAD")+"\n" {
		t.Fatalf("after a push without the submodule's marker: %v", files)
	}
}

// TestSubmoduleNotCheckedOut: a clone without --recurse-submodules cannot
// deploy the submodule's files: the plan says so, naming it, and nothing
// is uploaded.
func TestSubmoduleNotCheckedOut(t *testing.T) {
	s := newSubmoduleRepos(t)
	clone := t.TempDir()
	s.super.Git("clone", "-q", s.super.Dir, clone)
	dir := t.TempDir()
	r, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = deploySub(t, clone, r)
	var se *deploy.SubmoduleError
	if !errors.As(err, &se) || se.Paths[0] != "vendor/lib" {
		t.Fatalf("err = %v, want a SubmoduleError for vendor/lib", err)
	}
	if list, _ := os.ReadDir(dir); len(list) != 0 {
		t.Fatalf("%d entries on the server", len(list))
	}
	// Ignored, it is left alone.
	if _, _, err := deployOn(t, clone, r, deploy.PlanOptions{Remote: r, Ignore: deploy.ParseIgnore([]byte("vendor/lib\n"))}); err != nil {
		t.Fatal(err)
	}
}

// TestSubmoduleCheck: gftp check knows the submodule's files and marker.
func TestSubmoduleCheck(t *testing.T) {
	s, _, r := initedSubmodule(t)
	repo, err := deploy.OpenRepo(s.super.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	d, err := deploy.Check(context.Background(), repo, r, c, deploy.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Clean() || d.Checked != 6 {
		t.Fatalf("drift: %+v", d)
	}
	ms, err := deploy.SubmoduleMarkers(context.Background(), repo, c, "", "")
	if err != nil || len(ms) != 1 || ms[0].Marker != "vendor/lib/.git-ftp.log" || ms[0].To.String() != s.lib.Git("rev-parse", "HEAD") {
		t.Fatalf("SubmoduleMarkers: %+v, %v", ms, err)
	}
}

func assertFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := gittest.Files(t, dir)
	for name, content := range want {
		if got[name] != content {
			t.Errorf("%s on the server = %q, want %q", name, got[name], content)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected %s on the server", name)
		}
	}
}

// TestLinkedWorkTree: a linked work tree (git worktree add; its .git is a
// file) deploys its own branch, with the objects from the main repository.
func TestLinkedWorkTree(t *testing.T) {
	g := gittest.New(t)
	g.Write("a.txt", []byte("main\n"))
	g.Commit("one")
	wt := filepath.Join(t.TempDir(), "wt")
	g.Git("worktree", "add", "-q", "-b", "topic", wt)
	g.Git("-C", wt, "rm", "-q", "a.txt")
	if err := os.WriteFile(filepath.Join(wt, "b.txt"), []byte("topic\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Git("-C", wt, "add", "b.txt")
	g.Git("-C", wt, "commit", "-q", "-m", "topic")
	dir := t.TempDir()
	if _, _, err := deployTo(t, wt, dir, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir, map[string]string{"b.txt": "topic\n", deploy.DefaultMarker: g.Git("rev-parse", "topic") + "\n"})
}

// TestSubmoduleIncludeLine: a submodule's own .git-ftp-include applies
// inside it (its gitignored build output goes up under the submodule's
// path), and a line of it that cannot be read fails the plan naming the
// submodule and the line, before anything is uploaded.
func TestSubmoduleIncludeLine(t *testing.T) {
	s, dir, r := initedSubmodule(t)
	work := filepath.Join(s.super.Dir, "vendor", "lib")
	s.lib.Write(".gitignore", []byte("dist/\n"))
	s.lib.Write(".git-ftp-include", []byte("dist/app.js:lib.js\n"))
	s.movePointer(t)
	if err := os.MkdirAll(filepath.Join(work, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "dist", "app.js"), []byte("built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := deploySub(t, s.super.Dir, r); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Files(t, dir)["vendor/lib/dist/app.js"]; got != "built\n" {
		t.Fatalf("vendor/lib/dist/app.js = %q, want the submodule's build output", got)
	}

	s.lib.Write("lib.js", []byte("v3\n"))
	s.lib.Write(".git-ftp-include", []byte("no colon here\n"))
	s.lib.Commit("lib three")
	s.super.Git("-C", "vendor/lib", "-c", "protocol.file.allow=always", "pull", "-q", "--ff-only", "origin", "main")
	s.super.Git("add", "vendor/lib")
	s.super.Commit("super three")
	_, err := deploySub(t, s.super.Dir, r)
	var ie *deploy.IncludeError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "submodule vendor/lib: .git-ftp-include:1:") {
		t.Fatalf("plan with a bad line in the submodule's .git-ftp-include: %v, want an IncludeError naming it", err)
	}
	if got := gittest.Files(t, dir)["vendor/lib/lib.js"]; got != "v2\n" {
		t.Errorf("vendor/lib/lib.js = %q after a refused plan, want it untouched", got)
	}
}
