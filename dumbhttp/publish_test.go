package dumbhttp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// tagRepo adds lightweight, annotated, nested and non-commit tags and a
// second branch, and spreads the objects over two local packs plus loose
// objects.
func tagRepo(t *testing.T) string {
	t.Helper()
	src := newRepo(t)
	git(t, src, "tag", "light")
	git(t, src, "tag", "-a", "-m", "annotated", "v1.0")
	git(t, src, "repack", "-q", "-d")
	commit(t, src, "src/b.txt", strings.Repeat("line b\n", 300))
	git(t, src, "tag", "-a", "-m", "nested once", "nested1", "v1.0")
	git(t, src, "tag", "-a", "-m", "nested twice", "nested2", "nested1")
	blob := git(t, src, "rev-parse", "HEAD:README")
	git(t, src, "tag", "-a", "-m", "a blob", "blobtag", blob)
	git(t, src, "tag", "-a", "-m", "a tree", "treetag", "HEAD^{tree}")
	git(t, src, "repack", "-q", "-d")
	git(t, src, "checkout", "-q", "-b", "feature/x")
	commit(t, src, "feature.txt", "feature\n")
	git(t, src, "checkout", "-q", "main")
	commit(t, src, "src/a.txt", strings.Repeat("line a\n", 201))
	packs, _ := filepath.Glob(filepath.Join(src, ".git", "objects", "pack", "*.pack"))
	if len(packs) < 2 {
		t.Fatalf("want at least 2 local packs, have %d", len(packs))
	}
	return src
}

// Tests 1 and 4: a dumb HTTP clone and a local clone of the published
// directory are fsck-clean and equal to the source, with every kind of tag
// and a source spread over several packs.
func TestCloneOverDumbHTTPAndLocal(t *testing.T) {
	requireGit(t)
	src := tagRepo(t)
	root := t.TempDir()
	dst := filepath.Join(root, "project.git")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	res := publish(t, src, dst, Options{})
	if res.UpToDate || res.NewObjects == 0 || res.Pack == "" || res.Head != "refs/heads/main" {
		t.Fatalf("first publish: %+v", res)
	}
	if got := string(readFileT(t, filepath.Join(dst, "config"))); !strings.Contains(got, "bare = true") {
		t.Errorf("config = %q", got)
	}
	if got := git(t, dst, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("published dir is not a bare repository: %s", got)
	}
	git(t, dst, "fsck", "--full", "--strict", "--no-dangling")

	url := serve(t, root) + "/project.git"
	checkClone(t, src, url)
	checkClone(t, src, dst)
	checkClone(t, src, "file://"+dst)

	// The peeled lines of info/refs follow tag chains to the end.
	info := string(readFileT(t, filepath.Join(dst, "info", "refs")))
	commitOID := git(t, src, "rev-parse", "v1.0^{commit}")
	if !strings.Contains(info, commitOID+"\trefs/tags/nested2^{}\n") {
		t.Errorf("nested2 not fully peeled in info/refs:\n%s", info)
	}
	if blob := git(t, src, "rev-parse", "HEAD:README"); !strings.Contains(info, blob+"\trefs/tags/blobtag^{}\n") {
		t.Errorf("blobtag not peeled to its blob:\n%s", info)
	}
}

// Test 2: one new commit uploads exactly one pack, its index, and the files
// that changed; a publish with nothing new uploads nothing.
func TestIncrementalUploads(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	git(t, src, "tag", "v1")
	dst := t.TempDir()
	first := publish(t, src, dst, Options{})
	wantFirst := []string{
		"config",
		"objects/pack/" + first.Pack + ".pack",
		"objects/pack/" + first.Pack + ".idx",
		"packed-refs",
		"HEAD",
		"objects/info/packs",
		"info/refs",
	}
	if !slices.Equal(first.Uploaded, wantFirst) {
		t.Errorf("first publish uploaded\n%q\nwant\n%q", first.Uploaded, wantFirst)
	}

	again := publish(t, src, dst, Options{})
	if !again.UpToDate || len(again.Uploaded) != 0 || len(again.Deleted) != 0 || again.NewObjects != 0 {
		t.Errorf("publish with nothing new: %+v", again)
	}

	before := packFiles(t, dst)
	newHead := commit(t, src, "src/a.txt", strings.Repeat("line a\n", 200)+"one more\n")
	res := publish(t, src, dst, Options{})
	want := []string{
		"objects/pack/" + res.Pack + ".pack",
		"objects/pack/" + res.Pack + ".idx",
		"packed-refs",
		"objects/info/packs",
		"info/refs",
	}
	if !slices.Equal(res.Uploaded, want) {
		t.Errorf("incremental publish uploaded\n%q\nwant\n%q", res.Uploaded, want)
	}
	if res.NewObjects != 4 { // the commit, two trees and the blob
		t.Errorf("new objects = %d, want 4", res.NewObjects)
	}
	if len(res.Deleted) != 0 {
		t.Errorf("deleted %q", res.Deleted)
	}
	if len(res.Changes) != 1 || res.Changes[0].Name != "refs/heads/main" || res.Changes[0].New.String() != newHead {
		t.Errorf("changes = %+v", res.Changes)
	}
	after := packFiles(t, dst)
	added := slices.DeleteFunc(slices.Clone(after), func(n string) bool { return slices.Contains(before, n) })
	if !slices.Equal(added, []string{res.Pack + ".idx", res.Pack + ".pack"}) {
		t.Errorf("objects/pack gained %q", added)
	}
	// The new pack holds only the new objects, and it is deltified against
	// nothing outside itself (git verify-pack checks it stands alone).
	idx := filepath.Join(dst, "objects", "pack", res.Pack+".idx")
	out := git(t, dst, "verify-pack", "-v", idx)
	if !strings.Contains(out, newHead) {
		t.Errorf("new pack lacks the new commit:\n%s", out)
	}
	packs := string(readFileT(t, filepath.Join(dst, "objects", "info", "packs")))
	if !strings.HasSuffix(packs, "P "+res.Pack+".pack\n\n") {
		t.Errorf("objects/info/packs does not list the new pack last:\n%s", packs)
	}
}

// Test 5: git fetch in an existing dumb clone gets what a later publish
// added.
func TestFetchAfterPublish(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	root := t.TempDir()
	dst := filepath.Join(root, "r.git")
	os.Mkdir(dst, 0o755)
	publish(t, src, dst, Options{})
	url := serve(t, root) + "/r.git"
	clone := checkClone(t, src, url)

	c1 := commit(t, src, "new.txt", "new\n")
	git(t, src, "tag", "-a", "-m", "release", "v2")
	git(t, src, "branch", "side")
	publish(t, src, dst, Options{})
	git(t, clone, "fetch", "-q", "--tags", "origin")
	if got := git(t, clone, "rev-parse", "origin/main"); got != c1 {
		t.Errorf("origin/main after fetch = %s, want %s", got, c1)
	}
	if got := git(t, clone, "rev-parse", "v2^{commit}"); got != c1 {
		t.Errorf("v2 after fetch = %s, want %s", got, c1)
	}
	git(t, clone, "fsck", "--full", "--strict", "--no-dangling")
	git(t, clone, "merge", "-q", "--ff-only", "origin/main")
	if got := string(readFileT(t, filepath.Join(clone, "new.txt"))); got != "new\n" {
		t.Errorf("new.txt = %q", got)
	}
}

// Test 6: info/refs and objects/info/packs are the bytes git
// update-server-info writes for the same refs and packs, both when git
// keeps an existing list and when it builds one from nothing.
func TestServerInfoMatchesGit(t *testing.T) {
	requireGit(t)
	src := tagRepo(t)
	dst := t.TempDir()
	check := func(step string) {
		t.Helper()
		packs := ParsePacks(readFileT(t, filepath.Join(dst, "objects", "info", "packs")))
		for _, mode := range []string{"existing list", "from nothing"} {
			cp := filepath.Join(t.TempDir(), "copy.git")
			if out, err := exec.Command("cp", "-a", dst, cp).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			os.Remove(filepath.Join(cp, "info", "refs"))
			if mode == "from nothing" {
				os.Remove(filepath.Join(cp, "objects", "info", "packs"))
			}
			git(t, cp, "update-server-info")
			for _, f := range []string{"info/refs", "objects/info/packs"} {
				want := readFileT(t, filepath.Join(cp, f))
				got := readFileT(t, filepath.Join(dst, f))
				if f == "objects/info/packs" && mode == "from nothing" && len(packs) > 1 {
					// Without a list to keep, git orders packs by the
					// address of its in-memory pack structs (compare_info),
					// which is not a stable order: compare as sets.
					want, got = sortedLines(want), sortedLines(got)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s, %s: %s differs from git update-server-info\ngot:\n%s\nwant:\n%s", step, mode, f, got, want)
				}
			}
		}
		if len(packs) == 0 {
			t.Errorf("%s: no packs listed", step)
		}
	}
	publish(t, src, dst, Options{})
	check("first publish")
	for i := 0; i < 3; i++ {
		commit(t, src, "more.txt", strings.Repeat("x", i+1))
		git(t, src, "tag", "-a", "-m", "t", "t"+string(rune('a'+i)))
		publish(t, src, dst, Options{})
	}
	check("after three incremental publishes")
	// A tag-only change: no new commit, but a new annotated tag object.
	git(t, src, "tag", "-a", "-m", "nested again", "nested3", "nested2")
	res := publish(t, src, dst, Options{})
	if res.NewObjects != 1 {
		t.Errorf("a new tag object: %d new objects, want 1", res.NewObjects)
	}
	check("new nested tag")
	// A removed ref: no objects, info/refs shrinks (with Prune).
	git(t, src, "tag", "-d", "light")
	res = publish(t, src, dst, Options{Prune: true})
	if res.Pack != "" || len(res.Changes) != 1 || !res.Changes[0].New.IsZero() {
		t.Errorf("ref removal: %+v", res)
	}
	check("removed ref")
}

// --repack consolidates into one pack, keeps the superseded packs on the
// target for clones in flight, and a later publish removes them.
func TestRepackRemovesOnLaterPublish(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	root := t.TempDir()
	dst := filepath.Join(root, "r.git")
	os.Mkdir(dst, 0o755)
	for i := 0; i < 3; i++ {
		commit(t, src, "f.txt", strings.Repeat("y", i+1))
		publish(t, src, dst, Options{})
	}
	old := packFiles(t, dst)
	if len(old) != 6 {
		t.Fatalf("want 3 packs before repack, have %q", old)
	}
	res := publish(t, src, dst, Options{Repack: true})
	if len(res.Deleted) != 0 {
		t.Errorf("repack deleted %q in the same publish", res.Deleted)
	}
	for _, f := range old {
		if _, err := os.Stat(filepath.Join(dst, "objects", "pack", f)); err != nil {
			t.Errorf("superseded %s removed by the repack publish", f)
		}
	}
	if got := string(readFileT(t, filepath.Join(dst, "objects", "info", "packs"))); got != "P "+res.Pack+".pack\n\n" {
		t.Errorf("objects/info/packs after repack = %q", got)
	}
	checkClone(t, src, serve(t, root)+"/r.git")

	// Nothing new, but the superseded packs go now.
	res2 := publish(t, src, dst, Options{})
	if !res2.UpToDate || len(res2.Uploaded) != 0 {
		t.Errorf("publish after repack uploaded %q", res2.Uploaded)
	}
	if len(res2.Deleted) != 6 {
		t.Errorf("publish after repack deleted %q, want the 6 superseded files", res2.Deleted)
	}
	if got := packFiles(t, dst); !slices.Equal(got, []string{res.Pack + ".idx", res.Pack + ".pack"}) {
		t.Errorf("objects/pack = %q", got)
	}
	checkClone(t, src, serve(t, root)+"/r.git")
	git(t, dst, "fsck", "--full", "--strict", "--no-dangling")
}

func TestDivergedTarget(t *testing.T) {
	requireGit(t)
	a, b := newRepo(t), t.TempDir()
	git(t, b, "init", "-q", "-b", "main")
	commit(t, b, "other.txt", "someone else\n")
	dst := t.TempDir()
	publish(t, a, dst, Options{})
	before := readFileT(t, filepath.Join(dst, "info", "refs"))
	_, err := tryPublish(b, dst, Options{})
	var rej *RejectedError
	if !errors.As(err, &rej) || !rej.FetchFirst() {
		t.Fatalf("publish over someone else's refs: %v, want a RejectedError (fetch first)", err)
	}
	if !strings.Contains(err.Error(), "refs/heads/main") {
		t.Errorf("error does not name the ref: %v", err)
	}
	if !bytes.Equal(before, readFileT(t, filepath.Join(dst, "info", "refs"))) {
		t.Error("a refused publish changed info/refs")
	}
	publish(t, b, dst, Options{Force: true})
	checkClone(t, b, dst)
}

func TestDryRunTouchesNothing(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	dst := t.TempDir()
	plan := func() *Result {
		t.Helper()
		lr, _ := local.New(dst)
		p, err := NewPlan(context.Background(), src, lr, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		return p.Result()
	}
	res := plan()
	if !res.DryRun || len(res.Uploaded) == 0 || res.NewObjects == 0 {
		t.Errorf("dry run: %+v", res)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Errorf("dry run wrote %v", entries)
	}
	publish(t, src, dst, Options{})
	commit(t, src, "x", "x")
	before := packFiles(t, dst)
	res = plan()
	if res.UpToDate || res.NewObjects != 3 {
		t.Errorf("dry run after a commit: %+v", res)
	}
	if !slices.Equal(before, packFiles(t, dst)) {
		t.Error("dry run changed objects/pack")
	}
}

func TestRefPatternsAndHead(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	git(t, src, "branch", "dev")
	git(t, src, "branch", "feature/deep/x")
	git(t, src, "tag", "v1")
	git(t, src, "tag", "w1")
	dst := t.TempDir()
	res := publish(t, src, dst, Options{Refs: []string{"dev", "refs/heads/feature/*", "v*"}, Head: "dev"})
	refs, err := ParseInfoRefs(readFileT(t, filepath.Join(dst, "info", "refs")))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, r.Name)
	}
	if want := []string{"refs/heads/dev", "refs/heads/feature/deep/x", "refs/tags/v1"}; !slices.Equal(names, want) {
		t.Errorf("published %q, want %q", names, want)
	}
	if got := string(readFileT(t, filepath.Join(dst, "HEAD"))); got != "ref: refs/heads/dev\n" || res.Head != "refs/heads/dev" {
		t.Errorf("HEAD = %q", got)
	}
	if _, err := tryPublish(src, dst, Options{Refs: []string{"v*"}, Head: "main"}); !errors.Is(err, ErrHeadNotPublished) {
		t.Errorf("head neither selected nor published: %v", err)
	}
	// dev is no longer selected, but it stays published, so HEAD may name it.
	if _, err := tryPublish(src, dst, Options{Refs: []string{"v*"}, Head: "dev"}); err != nil {
		t.Errorf("head outside the published refs: %v", err)
	}
}

// Test 3: clones in a loop while 20 publishes run; every clone succeeds and
// is fsck-clean.
func TestConsistentUnderConcurrentPublish(t *testing.T) {
	requireGit(t)
	if testing.Short() {
		t.Skip("slow")
	}
	src := newRepo(t)
	root := t.TempDir()
	dst := filepath.Join(root, "r.git")
	os.Mkdir(dst, 0o755)
	publish(t, src, dst, Options{})
	url := serve(t, root) + "/r.git"

	var (
		mu        sync.Mutex
		published = map[string]bool{git(t, src, "rev-parse", "HEAD"): true}
		done      = make(chan struct{})
		wg        sync.WaitGroup
		clones    int
	)
	deadline := time.Now().Add(90 * time.Second)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-done:
					return
				default:
				}
				dir := filepath.Join(t.TempDir(), "c")
				if _, err := gitErr("", "clone", "-q", url, dir); err != nil {
					t.Errorf("clone during publish: %v", err)
					return
				}
				if _, err := gitErr(dir, "fsck", "--full", "--strict", "--no-dangling"); err != nil {
					t.Errorf("fsck of a clone made during publish: %v", err)
					return
				}
				head, err := gitErr(dir, "rev-parse", "HEAD")
				mu.Lock()
				ok := published[head]
				clones++
				mu.Unlock()
				if err != nil || !ok {
					t.Errorf("clone HEAD %s (%v) was never published", head, err)
				}
				os.RemoveAll(dir)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		h := commit(t, src, "f.txt", strings.Repeat("z\n", i+1))
		if i%5 == 4 {
			git(t, src, "tag", "-a", "-m", "t", "t"+string(rune('a'+i)))
		}
		mu.Lock()
		published[h] = true // before publishing: a clone may see it at once
		mu.Unlock()
		publish(t, src, dst, Options{Jobs: 4})
		time.Sleep(20 * time.Millisecond)
	}
	close(done)
	wg.Wait()
	t.Logf("%d clones during 20 publishes", clones)
	if clones == 0 {
		t.Error("no clone ran during the publishes")
	}
	checkClone(t, src, url)
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		name     string
		patterns []string
		want     bool
	}{
		{"refs/heads/main", []string{"main"}, true},
		{"refs/tags/main", []string{"main"}, true},
		{"refs/heads/main", []string{"refs/heads/*"}, true},
		{"refs/heads/a/b", []string{"refs/heads/*"}, true},
		{"refs/tags/v1.2", []string{"v*"}, true},
		{"refs/tags/x1", []string{"v*"}, false},
		{"refs/heads/mainline", []string{"main"}, false},
		{"refs/heads/mai", []string{"ma?"}, true},
		{"refs/notes/commits", []string{"refs/heads/*", "refs/tags/*"}, false},
	} {
		if got := matchRef(c.name, c.patterns); got != c.want {
			t.Errorf("matchRef(%q, %q) = %v", c.name, c.patterns, got)
		}
	}
}

func sortedLines(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	slices.Sort(lines)
	return []byte(strings.Join(lines, "\n"))
}

// The pack is deltified, and its index is the one git index-pack makes.
func TestPackDeltasAndIndex(t *testing.T) {
	requireGit(t)
	src := t.TempDir()
	git(t, src, "init", "-q", "-b", "main")
	var body strings.Builder
	for i := 0; i < 2000; i++ {
		body.WriteString("a line of text that repeats with a number " + strings.Repeat("x", i%7) + "\n")
	}
	for i := 0; i < 5; i++ {
		commit(t, src, "doc.txt", body.String()+strings.Repeat("tail\n", i))
	}
	dst := t.TempDir()
	res := publish(t, src, dst, Options{})
	pack := filepath.Join(dst, "objects", "pack", res.Pack)
	out := git(t, dst, "verify-pack", "-v", pack+".idx")
	if !strings.Contains(out, "chain length = 1") {
		t.Errorf("no deltas in the pack:\n%s", out)
	}
	cp := filepath.Join(t.TempDir(), "copy.pack")
	if err := os.WriteFile(cp, readFileT(t, pack+".pack"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dst, "index-pack", cp)
	if !bytes.Equal(readFileT(t, pack+".idx"), readFileT(t, strings.TrimSuffix(cp, ".pack")+".idx")) {
		t.Error("index differs from the one git index-pack writes")
	}
	checkClone(t, src, dst)
}

// hookRemote runs hook after each successful rename.
type hookRemote struct {
	remote.Remote
	hook func(to string)
}

func (h *hookRemote) Rename(ctx context.Context, from, to string) error {
	err := h.Remote.Rename(ctx, from, to)
	if err == nil {
		h.hook(to)
	}
	return err
}

// A publish that finds the refs changed under it (another publish ran)
// stops before it changes any ref; the next publish reuses its pack.
func TestTargetChangedDuringPublish(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	dst := t.TempDir()
	publish(t, src, dst, Options{})
	commit(t, src, "x.txt", "x\n")
	infoRefs := filepath.Join(dst, "info", "refs")
	packedRefs := readFileT(t, filepath.Join(dst, "packed-refs"))
	lr, _ := local.New(dst)
	hr := &hookRemote{Remote: lr, hook: func(to string) {
		if strings.HasSuffix(to, ".idx") {
			b := readFileT(t, infoRefs)
			oid, _, _ := strings.Cut(string(b), "\t")
			os.WriteFile(infoRefs, append(b, oid+"\trefs/heads/other\n"...), 0o644)
		}
	}}
	_, err := Publish(context.Background(), src, hr, Options{})
	if !errors.Is(err, ErrTargetChanged) {
		t.Fatalf("publish over a concurrent change: %v, want ErrTargetChanged", err)
	}
	if !bytes.Equal(packedRefs, readFileT(t, filepath.Join(dst, "packed-refs"))) {
		t.Error("packed-refs changed after the conflict was seen")
	}
	res := publish(t, src, dst, Options{Prune: true})
	for _, u := range res.Uploaded {
		if strings.HasPrefix(u, "objects/pack/") {
			t.Errorf("the pack the failed publish left was uploaded again: %q", res.Uploaded)
		}
	}
	if len(res.Changes) != 2 { // main moved, other removed
		t.Errorf("changes = %+v", res.Changes)
	}
	checkClone(t, src, dst)
}

// Temporary files that an interrupted publish left in objects/pack go.
func TestLeftoverTempsRemoved(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	dst := t.TempDir()
	publish(t, src, dst, Options{})
	tmp := filepath.Join(dst, "objects", "pack", remote.TempPrefix+"0123456789ab")
	if err := os.WriteFile(tmp, []byte("partial pack"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := publish(t, src, dst, Options{})
	if !res.UpToDate || !slices.Equal(res.Deleted, []string{"objects/pack/" + remote.TempPrefix + "0123456789ab"}) {
		t.Errorf("result %+v", res)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file still there: %v", err)
	}
}

// The source may be a bare repository or a linked work tree; a linked work
// tree's HEAD is its own branch.
func TestSourceKinds(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	git(t, src, "tag", "-a", "-m", "v", "v1")
	bare := filepath.Join(t.TempDir(), "bare.git")
	git(t, "", "clone", "-q", "--bare", src, bare)
	dst := t.TempDir()
	publish(t, bare, dst, Options{})
	checkClone(t, src, dst)

	wt := filepath.Join(t.TempDir(), "wt")
	git(t, src, "worktree", "add", "-q", "-b", "topic", wt)
	commit(t, wt, "topic.txt", "topic\n")
	dst2 := t.TempDir()
	res := publish(t, wt, dst2, Options{})
	if res.Head != "refs/heads/topic" {
		t.Errorf("head from a linked work tree = %s, want refs/heads/topic", res.Head)
	}
	checkClone(t, wt, dst2)
}
