package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/local"
)

// pushWorktree deploys HEAD of g to the directory srv as push does, with
// the include rules, the syncroot and the remote (so the manifest is read).
func pushWorktree(t *testing.T, g *gittest.Repo, srv, syncroot string) (*deploy.Plan, *deploy.Result) {
	t.Helper()
	ig, err := deploy.LoadIgnore(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := deploy.LoadInclude(g.Dir, syncroot)
	if err != nil {
		t.Fatal(err)
	}
	r, err := local.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	plan, res, err := deployOn(t, g.Dir, r, deploy.PlanOptions{Syncroot: syncroot, Ignore: ig, Include: inc, Remote: r})
	if err != nil {
		t.Fatal(err)
	}
	return plan, res
}

func paths(acts []deploy.Action) []string {
	out := []string{}
	for _, a := range acts {
		out = append(out, a.Path)
	}
	sort.Strings(out)
	return out
}

// serverManifest parses the manifest on the server, which must be trusted.
func serverManifest(t *testing.T, srv string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(srv, manifest.Name))
	if err != nil {
		t.Fatal(err)
	}
	m, warns, err := manifest.Parse(bytes.NewReader(data))
	if err != nil || len(warns) > 0 {
		t.Fatalf("manifest on the server: %v %v\n%s", err, warns, data)
	}
	out := map[string]string{}
	for _, e := range m.Entries() {
		content, err := os.ReadFile(filepath.Join(srv, filepath.FromSlash(e.Path)))
		if err != nil || sha256.Sum256(content) != e.SHA256 || int64(len(content)) != e.Size {
			t.Errorf("manifest entry %s does not match the server's file: %v", e.Path, err)
		}
		out[e.Path] = string(content)
	}
	return out
}

// hugo writes a build of a static site into dir/public: the asset names
// carry a hash of their content, as Hugo's and Vite's do.
func hugo(t *testing.T, g *gittest.Repo, css, js string) {
	t.Helper()
	os.RemoveAll(filepath.Join(g.Dir, "public"))
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return string([]byte{"0123456789abcdef"[h[0]>>4], "0123456789abcdef"[h[0]&15]})
	}
	g.Write("public/index.html", []byte("<link href=css/main."+sum(css)+".css>"))
	g.Write("public/css/main."+sum(css)+".css", []byte(css))
	g.Write("public/js/app."+sum(js)+".js", []byte(js))
	g.Write("public/img/logo.png", []byte("PNG"))
}

// TestIncludeBangUsesManifest: !public/ uploads only what changed since
// the manifest, deletes the stale hashed assets gftp uploaded, and never
// touches a file it did not upload.
func TestIncludeBangUsesManifest(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", []byte("public/\n"))
	g.Write(".git-ftp-include", []byte("!public/\n"))
	g.Write("content/post.md", []byte("# one"))
	g.Commit("one")
	hugo(t, g, "body{}", "alert(1)")
	srv := t.TempDir()
	// Someone else's files on the server.
	os.MkdirAll(filepath.Join(srv, "public", "css"), 0o755)
	os.WriteFile(filepath.Join(srv, "public", "css", "foreign.css"), []byte("theirs"), 0o644)
	os.WriteFile(filepath.Join(srv, "foreign.txt"), []byte("theirs"), 0o644)

	plan, res := pushWorktree(t, g, srv, "")
	if res.Uploaded != 7 || !res.Manifest || plan.Manifest.Len() != 4 {
		t.Fatalf("first deploy: %d uploads %v, manifest %v", res.Uploaded, paths(plan.Uploads), res.Manifest)
	}
	first := serverManifest(t, srv)

	// A new build: the CSS changed, so did its name; the rest is the same.
	g.Write("content/post.md", []byte("# two"))
	g.Commit("two")
	hugo(t, g, "body{color:red}", "alert(1)")
	plan, res = pushWorktree(t, g, srv, "")
	ups, dels := paths(plan.Uploads), paths(plan.Deletes)
	var oldCSS string
	for p := range first {
		if strings.HasPrefix(p, "public/css/main.") {
			oldCSS = p
		}
	}
	if len(ups) != 3 || ups[0] != "content/post.md" || !strings.HasPrefix(ups[1], "public/css/main.") || ups[2] != "public/index.html" {
		t.Errorf("second deploy uploads %v, want the post, the new CSS and index.html", ups)
	}
	if !reflect.DeepEqual(dels, []string{oldCSS}) {
		t.Errorf("second deploy deletes %v, want %v", dels, oldCSS)
	}
	if res.Uploaded != 3 || res.Deleted != 1 {
		t.Errorf("result %+v", res)
	}
	for _, f := range []string{"foreign.txt", "public/css/foreign.css"} {
		if b, err := os.ReadFile(filepath.Join(srv, filepath.FromSlash(f))); err != nil || string(b) != "theirs" {
			t.Errorf("%s was touched: %q %v", f, b, err)
		}
	}
	got := serverManifest(t, srv)
	want := gittest.Files(t, filepath.Join(g.Dir, "public"))
	if len(got) != len(want) {
		t.Errorf("manifest lists %v, the build has %v", got, want)
	}
	for p, c := range want {
		if got["public/"+p] != c {
			t.Errorf("manifest/server %s = %q, want %q", p, got["public/"+p], c)
		}
	}

	// The build did not run: public/ is gone. Nothing is deleted.
	os.RemoveAll(filepath.Join(g.Dir, "public"))
	g.Write("content/post.md", []byte("# three"))
	g.Commit("three")
	plan, _ = pushWorktree(t, g, srv, "")
	if len(plan.Deletes) != 0 || plan.Manifest != nil {
		t.Errorf("a missing build directory deletes %v (manifest %v)", paths(plan.Deletes), plan.Manifest)
	}
	if !strings.Contains(strings.Join(plan.Warnings, "\n"), "public/ is missing locally") {
		t.Errorf("warnings: %q", plan.Warnings)
	}
}

// TestIncludeSourceTargetUsesManifest: a target:source rule uploads the
// target when its source changed and its content differs from the
// manifest's; a target gone locally is deleted (git-ftp's rule).
func TestIncludeSourceTargetUsesManifest(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", []byte("app.css\n"))
	g.Write(".git-ftp-include", []byte("app.css:scss/app.scss\n"))
	g.Write("scss/app.scss", []byte("$a: 1;"))
	g.Commit("one")
	g.Write("app.css", []byte("a{}"))
	srv := t.TempDir()
	pushWorktree(t, g, srv, "")
	if got := serverManifest(t, srv); got["app.css"] != "a{}" {
		t.Fatalf("manifest: %v", got)
	}
	// The source changed (a comment), the compiled CSS did not.
	g.Write("scss/app.scss", []byte("$a: 1; // x"))
	g.Commit("two")
	plan, _ := pushWorktree(t, g, srv, "")
	if ups := paths(plan.Uploads); !reflect.DeepEqual(ups, []string{"scss/app.scss"}) || plan.Manifest != nil {
		t.Errorf("unchanged target: uploads %v, manifest %v", ups, plan.Manifest)
	}
	g.Write("scss/app.scss", []byte("$a: 2;"))
	g.Write("app.css", []byte("b{}"))
	g.Commit("three")
	plan, _ = pushWorktree(t, g, srv, "")
	if ups := paths(plan.Uploads); !reflect.DeepEqual(ups, []string{"app.css", "scss/app.scss"}) {
		t.Errorf("changed target: uploads %v", ups)
	}
	g.Write("scss/app.scss", []byte("$a: 3;"))
	g.Remove("app.css")
	g.Commit("four")
	plan, _ = pushWorktree(t, g, srv, "")
	if dels := paths(plan.Deletes); !reflect.DeepEqual(dels, []string{"app.css"}) {
		t.Errorf("target gone: deletes %v", dels)
	}
	if _, err := os.Stat(filepath.Join(srv, "app.css")); !os.IsNotExist(err) {
		t.Errorf("app.css still on the server: %v", err)
	}
	if got := serverManifest(t, srv); len(got) != 0 {
		t.Errorf("manifest after the delete: %v", got)
	}
}

// deployedSite commits a README and deploys it with the gitignored build
// files public/NAME (content: NAME's first letter) under !public/.
func deployedSite(t *testing.T, names ...string) (*gittest.Repo, string) {
	t.Helper()
	g := gittest.New(t)
	g.Write(".gitignore", []byte("public/\n"))
	g.Write(".git-ftp-include", []byte("!public/\n"))
	g.Write("README", []byte("r"))
	g.Commit("one")
	for _, n := range names {
		g.Write("public/"+n, []byte(n[:1]))
	}
	srv := t.TempDir()
	pushWorktree(t, g, srv, "")
	return g, srv
}

// TestMaliciousManifest: a manifest on the server with an escaping path is
// not trusted: nothing is deleted, every work-tree file is sent, a warning
// says why, and the deploy replaces it.
func TestMaliciousManifest(t *testing.T) {
	g, srv := deployedSite(t, "a.html")

	os.WriteFile(filepath.Join(srv, "victim.php"), []byte("<?php"), 0o644)
	sum := sha256.Sum256([]byte("a"))
	forged := manifest.New(
		manifest.Entry{Path: "../../etc/passwd", Size: 1},
		manifest.Entry{Path: "victim.php", Size: 5},
		manifest.Entry{Path: "public/a.html", Size: 1, SHA256: sum},
	).Bytes()
	os.WriteFile(filepath.Join(srv, manifest.Name), forged, 0o644)
	g.Write("README", []byte("r2"))
	g.Commit("two")
	plan, res := pushWorktree(t, g, srv, "")
	if len(plan.Deletes) != 0 || res.Deleted != 0 {
		t.Errorf("deletes from a malicious manifest: %v", paths(plan.Deletes))
	}
	if _, err := os.Stat(filepath.Join(srv, "victim.php")); err != nil {
		t.Errorf("victim.php: %v", err)
	}
	if ups := paths(plan.Uploads); !reflect.DeepEqual(ups, []string{"README", "public/a.html"}) {
		t.Errorf("uploads %v: an untrusted manifest must not hold back an upload", ups)
	}
	w := strings.Join(plan.Warnings, "\n")
	if !strings.Contains(w, `"../../etc/passwd"`) || !strings.Contains(w, "not trusted") || !strings.Contains(w, "--rebuild-manifest") {
		t.Errorf("warnings: %s", w)
	}
	if got := serverManifest(t, srv); !reflect.DeepEqual(got, map[string]string{"public/a.html": "a"}) {
		t.Errorf("replaced manifest: %v", got)
	}
}

// TestTruncatedManifest: a cut manifest deletes nothing, says how to
// rebuild it, and is replaced.
func TestTruncatedManifest(t *testing.T) {
	g, srv := deployedSite(t, "a.html", "b.html")
	mf := filepath.Join(srv, manifest.Name)
	data, _ := os.ReadFile(mf)
	os.WriteFile(mf, data[:len(data)-20], 0o644)
	g.Remove("public/b.html")
	g.Write("README", []byte("r2"))
	g.Commit("two")
	plan, _ := pushWorktree(t, g, srv, "")
	if len(plan.Deletes) != 0 {
		t.Errorf("deletes from a truncated manifest: %v", paths(plan.Deletes))
	}
	if w := strings.Join(plan.Warnings, "\n"); !strings.Contains(w, "corrupt manifest") || !strings.Contains(w, "--rebuild-manifest") {
		t.Errorf("warnings: %s", w)
	}
	if got := serverManifest(t, srv); !reflect.DeepEqual(got, map[string]string{"public/a.html": "a"}) {
		t.Errorf("replaced manifest: %v", got)
	}
}

// TestGitignoredSyncroot: a syncroot that is only in the work tree deploys
// what .git-ftp-include takes from it, through the manifest, as git-ftp
// does; without include rules it deploys nothing, with a warning.
func TestGitignoredSyncroot(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", []byte("public/\n"))
	g.Write("src/main.scss", []byte("$x: 1;"))
	g.Commit("one")
	hugo(t, g, "body{}", "alert(1)")
	srv := t.TempDir()

	plan, _ := pushWorktree(t, g, srv, "public")
	if len(plan.Uploads) != 0 || !strings.Contains(strings.Join(plan.Warnings, "\n"), "!public/") {
		t.Errorf("without include rules: uploads %v, warnings %q", paths(plan.Uploads), plan.Warnings)
	}

	g.Write(".git-ftp-include", []byte("!public/\n"))
	g.Commit("two")
	plan, res := pushWorktree(t, g, srv, "public")
	if res.Uploaded != 4 {
		t.Errorf("uploads %v", paths(plan.Uploads))
	}
	served1 := gittest.Files(t, srv)
	if _, ok := served1["index.html"]; !ok {
		t.Fatalf("the syncroot's files are not at the target root: %v", served1)
	}
	hugo(t, g, "body{color:red}", "alert(1)")
	g.Write("src/main.scss", []byte("$x: 2;"))
	g.Commit("three")
	plan, res = pushWorktree(t, g, srv, "public")
	if res.Uploaded != 2 || res.Deleted != 1 {
		t.Errorf("second build: uploads %v deletes %v", paths(plan.Uploads), paths(plan.Deletes))
	}
	got := serverManifest(t, srv)
	want := gittest.Files(t, filepath.Join(g.Dir, "public"))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("manifest %v, build %v", got, want)
	}
	files := gittest.Files(t, srv)
	delete(files, deploy.DefaultMarker)
	delete(files, manifest.Name)
	if !reflect.DeepEqual(files, want) {
		t.Errorf("server %v, build %v", files, want)
	}
	// A target:source rule into a gitignored syncroot (issue 17's example).
	g.Write(".git-ftp-include", []byte("public/main.css:/src/main.scss\n"))
	g.Write("public/main.css", []byte("compiled"))
	g.Write("src/main.scss", []byte("$x: 3;"))
	g.Commit("four")
	plan, _ = pushWorktree(t, g, srv, "public")
	if ups := paths(plan.Uploads); !reflect.DeepEqual(ups, []string{"main.css"}) {
		t.Errorf("target:source into the syncroot: uploads %v", ups)
	}
}

// TestIncludeBangNoSlashMissing: !public without the slash, and the build
// did not run: git-ftp's rule deletes the name public, and nothing the
// manifest lists below it is deleted on its account.
func TestIncludeBangNoSlashMissing(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", []byte("public/\n"))
	g.Write(".git-ftp-include", []byte("!public\n"))
	g.Write("README", []byte("r"))
	g.Commit("one")
	g.Write("public/a.html", []byte("a"))
	g.Write("public/css/b.css", []byte("b"))
	srv := t.TempDir()
	pushWorktree(t, g, srv, "")
	if got := serverManifest(t, srv); len(got) != 2 {
		t.Fatalf("manifest: %v", got)
	}
	os.RemoveAll(filepath.Join(g.Dir, "public"))
	g.Write("README", []byte("r2"))
	g.Commit("two")
	r, err := local.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	ig, _ := deploy.LoadIgnore(g.Dir)
	inc, _ := deploy.LoadInclude(g.Dir, "")
	plan, _, _ := deployOn(t, g.Dir, r, deploy.PlanOptions{Ignore: ig, Include: inc, Remote: r})
	if dels := paths(plan.Deletes); !reflect.DeepEqual(dels, []string{"public"}) {
		t.Errorf("deletes %v, want only git-ftp's delete of public", dels)
	}
	if _, err := os.Stat(filepath.Join(srv, "public", "a.html")); err != nil {
		t.Errorf("public/a.html: %v", err)
	}
}

// TestCheckKnowsManifest: gftp check after a deploy through the manifest is
// clean: the manifest is gftp's own file, not an extra one, with the work
// tree's files expected (with and without the server's manifest read).
func TestCheckKnowsManifest(t *testing.T) {
	g, srv := deployedSite(t, "a.html", "b.html")
	repo, err := deploy.OpenRepo(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	r, err := local.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	inc, _ := deploy.LoadInclude(g.Dir, "")
	for _, remote := range []bool{false, true} {
		opts := deploy.PlanOptions{Include: inc}
		if remote {
			opts.Remote = r
		}
		d, err := deploy.Check(context.Background(), repo, r, c, opts)
		if err != nil || !d.Clean() {
			t.Errorf("check (manifest read: %v): %v %+v", remote, err, d)
		}
	}
}
