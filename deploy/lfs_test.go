package deploy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/local"
	"github.com/gftp/gftp/remote/remotetest"
)

// lfsRepo is a repository where git-lfs itself tracks *.bin and
// assets/**, as `git lfs track` writes it, with an image committed
// through the filter. It skips the test when git-lfs is not installed.
func lfsRepo(t *testing.T) (*gittest.Repo, []byte) {
	t.Helper()
	if _, err := exec.LookPath("git-lfs"); err != nil {
		if os.Getenv("GFTP_REAL_SERVERS") != "" {
			t.Fatal("git-lfs is not installed (.ci/install-servers.sh installs it)")
		}
		t.Skip("git-lfs is not installed")
	}
	g := gittest.New(t)
	g.Git("lfs", "install", "--local")
	g.Git("lfs", "track", "*.bin")
	g.Git("lfs", "track", "assets/**")
	big := remotetest.Content(7, 3<<20+17)
	g.Write("img/photo.bin", big)
	g.Write("assets/logo.svg", []byte("<svg/>\n"))
	g.Write("index.html", []byte("<img src=img/photo.bin>\n"))
	g.Commit("one")
	// The commit holds pointers: what a site would get without gftp
	// resolving them.
	if ptr := g.Git("cat-file", "-p", "HEAD:img/photo.bin"); !strings.HasPrefix(ptr, "version https://git-lfs.github.com/spec/v1\noid sha256:") {
		t.Fatalf("git-lfs did not store a pointer: %q", ptr)
	}
	return g, big
}

// TestLFSDeploysContent: an LFS-tracked path is deployed as its content,
// not as its pointer, sized as the content in the plan; a push that
// changes it sends the new content.
func TestLFSDeploysContent(t *testing.T) {
	g, big := lfsRepo(t)
	dir := t.TempDir()
	plan, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := served(t, dir)
	if files["img/photo.bin"] != string(big) {
		t.Fatalf("img/photo.bin on the server: %d bytes starting %q, want the %d-byte content", len(files["img/photo.bin"]), head(files["img/photo.bin"]), len(big))
	}
	if files["assets/logo.svg"] != "<svg/>\n" || files["index.html"] != "<img src=img/photo.bin>\n" {
		t.Fatalf("served: %q, %q", files["assets/logo.svg"], files["index.html"])
	}
	for _, a := range plan.Uploads {
		if a.Path == "img/photo.bin" && a.Size != int64(len(big)) {
			t.Fatalf("plan size of img/photo.bin = %d, want %d", a.Size, len(big))
		}
	}
	if plan.Bytes() != int64(len(big))+7+24+int64(len(g.Git("cat-file", "-p", "HEAD:.gitattributes"))+1) {
		t.Fatalf("plan bytes = %d", plan.Bytes())
	}

	// gftp check compares sizes: the content's, so the deploy is clean.
	repo, err := deploy.OpenRepo(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	r, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := deploy.Check(context.Background(), repo, r, c, deploy.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Clean() {
		t.Fatalf("drift after an LFS deploy: %+v", d)
	}

	next := []byte("a small new photo\n")
	g.Write("img/photo.bin", next)
	g.Commit("two")
	plan, _, err = deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Uploads) != 1 || plan.Uploads[0].Size != int64(len(next)) || !strings.Contains(plan.Uploads[0].Reason, "Git LFS") {
		t.Fatalf("push plan: %+v", plan.Uploads)
	}
	if got := served(t, dir)["img/photo.bin"]; got != string(next) {
		t.Fatalf("after push: %q", head(got))
	}
}

// TestLFSMissingObject: when the clone lacks the LFS content (a checkout
// without lfs: true), the plan fails before anything is uploaded, naming
// the files and git lfs pull.
func TestLFSMissingObject(t *testing.T) {
	g, _ := lfsRepo(t)
	if err := os.RemoveAll(filepath.Join(g.Dir, ".git", "lfs", "objects")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	var me *deploy.LFSMissingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want *deploy.LFSMissingError", err)
	}
	if want := "assets/logo.svg, img/photo.bin"; !strings.Contains(me.Error(), want) || !strings.Contains(me.Hint(), "git lfs pull") {
		t.Fatalf("error %q / hint %q: want the files (%s) and git lfs pull", me.Error(), me.Hint(), want)
	}
	if list, _ := os.ReadDir(dir); len(list) != 0 {
		t.Fatalf("the failed plan left %d entries on the server", len(list))
	}
	// Ignored files are not needed.
	ign := deploy.ParseIgnore([]byte("img/*\nassets/*\n"))
	if _, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{Ignore: ign}); err != nil {
		t.Fatalf("with the LFS files ignored: %v", err)
	}
}

// TestLFSDamagedObject: an object whose bytes do not hash to its oid fails
// its upload, and the server keeps neither a half file nor a new marker.
func TestLFSDamagedObject(t *testing.T) {
	g, big := lfsRepo(t)
	sum := sha256.Sum256(big)
	oid := hex.EncodeToString(sum[:])
	obj := filepath.Join(g.Dir, ".git", "lfs", "objects", oid[:2], oid[2:4], oid)
	bad := append([]byte(nil), big...)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(obj, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{})
	var fe *deploy.FailedError
	if !errors.As(err, &fe) || !strings.Contains(err.Error()+fe.Failures[0].Err.Error(), "hashes to sha256:") {
		t.Fatalf("err = %v, want a failed upload naming the bad hash", err)
	}
	files := gittest.Files(t, dir)
	if _, ok := files["img/photo.bin"]; ok {
		t.Fatal("the damaged object was deployed")
	}
	if _, ok := files[deploy.DefaultMarker]; ok {
		t.Fatal("the marker was written")
	}
}

// TestLFSStorage: lfs.storage moves the store; gftp reads it there.
func TestLFSStorage(t *testing.T) {
	if _, err := exec.LookPath("git-lfs"); err != nil {
		t.Skip("git-lfs is not installed")
	}
	g := gittest.New(t)
	store := filepath.Join(t.TempDir(), "lfs-store")
	g.Git("config", "lfs.storage", store)
	g.Git("lfs", "install", "--local")
	g.Git("lfs", "track", "*.bin")
	g.Write("a.bin", []byte("content in the moved store\n"))
	g.Commit("one")
	if _, err := os.Stat(filepath.Join(g.Dir, ".git", "lfs", "objects")); err == nil {
		t.Fatal("git-lfs used .git/lfs despite lfs.storage")
	}
	dir := t.TempDir()
	if _, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := served(t, dir)["a.bin"]; got != "content in the moved store\n" {
		t.Fatalf("a.bin = %q", got)
	}
}

// TestLFSPointerOutsideLFSPath: a pointer-shaped file that no
// gitattributes line sends through the LFS filter is deployed as it is,
// and so is a file under an LFS pattern that is not a pointer.
func TestLFSPointerOutsideLFSPath(t *testing.T) {
	g := gittest.New(t)
	ptr := "version https://git-lfs.github.com/spec/v1\noid sha256:" + strings.Repeat("ab", 32) + "\nsize 5\n"
	g.Write("docs/pointer.txt", []byte(ptr))
	g.Write(".gitattributes", []byte("*.bin filter=lfs diff=lfs merge=lfs -text\ndocs/ filter=lfs\n"))
	g.Write("plain.bin", []byte("not a pointer\n"))
	g.Commit("one")
	dir := t.TempDir()
	if _, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	files := served(t, dir)
	if files["docs/pointer.txt"] != ptr || files["plain.bin"] != "not a pointer\n" {
		t.Fatalf("served %q and %q", files["docs/pointer.txt"], files["plain.bin"])
	}
}

func head(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}
