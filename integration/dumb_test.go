package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/dumbhttp"
	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// dumbEnv is gittest's environment with every directory declared safe: the
// published files belong to the FTP account. It goes in a global config
// file because git drops GIT_CONFIG_COUNT and -c settings before it runs
// upload-pack for a local clone.
func dumbEnv() []string {
	dumbConfigOnce.Do(func() {
		// One fixed file, rewritten by each run, rather than one left per run.
		_ = os.WriteFile(dumbConfig, []byte("[safe]\n\tdirectory = *\n"), 0o644)
	})
	return append(gittest.Env(), "GIT_CONFIG_GLOBAL="+dumbConfig)
}

var (
	dumbConfigOnce sync.Once
	dumbConfig     = filepath.Join(os.TempDir(), "gftp-dumb-test.gitconfig")
)

// dumbGit runs git in dir with dumbEnv.
func dumbGit(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = dumbEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

func mustDumbGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = dumbEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// dumbRefs lists "<oid> <name>" for the branches and tags of a work tree,
// or of a clone with its remote-tracking branches named as branches.
func dumbRefs(t *testing.T, dir string, clone bool) string {
	t.Helper()
	var refs []string
	for _, l := range strings.Split(mustDumbGit(t, dir, "for-each-ref", "--format=%(objectname) %(refname)"), "\n") {
		oid, name, _ := strings.Cut(l, " ")
		switch {
		case clone && name == "refs/remotes/origin/HEAD":
			continue
		case clone && strings.HasPrefix(name, "refs/remotes/origin/"):
			name = "refs/heads/" + strings.TrimPrefix(name, "refs/remotes/origin/")
		case clone && strings.HasPrefix(name, "refs/heads/"):
			continue
		case !strings.HasPrefix(name, "refs/heads/") && !strings.HasPrefix(name, "refs/tags/"):
			continue
		}
		refs = append(refs, oid+" "+name)
	}
	sort.Strings(refs)
	return strings.Join(refs, "\n")
}

// TestDumbPublishFTP publishes through a real FTP server (vsftpd with
// explicit TLS 1.3 first, then proftpd and pure-ftpd) and clones, with git,
// what it stored: over dumb HTTP from a static file server on the same
// directory, and as a local path.
func TestDumbPublishFTP(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.ProFTPdTLS, servers.PureFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) { dumbPublishFTP(t, kind) })
	}
}

func dumbPublishFTP(t *testing.T, kind servers.Kind) {
	srv := servers.Start(t, kind)
	dir := mkdirOwned(t, srv, "project.git")
	logs := &ftpLog{}
	r, err := openFTP(t, srv.URL+"project.git", ftpOptions(srv, logs.logger()))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", tail(logs.String(), 6000))
		}
	})
	ctx := context.Background()
	g := gittest.New(t)
	publish := func(opts dumbhttp.Options) *dumbhttp.Result {
		t.Helper()
		opts.Jobs = 4
		res, err := dumbhttp.Publish(ctx, g.Dir, r, opts)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		return res
	}

	// A source with every kind of tag, spread over two packs.
	g.Write("README", []byte("hello\n"))
	g.Write("site/index.html", []byte(strings.Repeat("<p>one</p>\n", 100)))
	g.Commit("one")
	g.Git("tag", "light")
	g.Git("tag", "-a", "-m", "annotated", "v1")
	g.Git("repack", "-q", "-d")
	g.Write("site/index.html", []byte(strings.Repeat("<p>two</p>\n", 100)))
	g.Commit("two")
	g.Git("tag", "-a", "-m", "nested", "v1-nested", "v1")
	g.Git("tag", "-a", "-m", "nested twice", "v1-nested2", "v1-nested")
	g.Git("repack", "-q", "-d")
	g.Git("branch", "stable", "HEAD~1")
	g.Write("more.txt", []byte("loose\n"))
	g.Commit("three")

	first := publish(dumbhttp.Options{})
	if first.UpToDate || first.Pack == "" {
		t.Fatalf("first publish: %+v", first)
	}
	web := httptest.NewServer(http.FileServer(http.Dir(srv.Root)))
	defer web.Close()
	url := web.URL + "/project.git"

	check := func(from string) string {
		t.Helper()
		c := filepath.Join(t.TempDir(), "clone")
		mustDumbGit(t, "", "clone", "-q", from, c)
		mustDumbGit(t, c, "fsck", "--full", "--strict", "--no-dangling")
		if got, want := dumbRefs(t, c, true), dumbRefs(t, g.Dir, false); got != want {
			t.Errorf("clone of %s has refs\n%s\nwant\n%s", from, got, want)
		}
		if got, want := mustDumbGit(t, c, "rev-parse", "HEAD"), g.Git("rev-parse", "HEAD"); got != want {
			t.Errorf("clone of %s: HEAD %s, want %s", from, got, want)
		}
		return c
	}
	clone := check(url)
	check(dir)

	// info/refs and objects/info/packs as git update-server-info writes them.
	sameAsGit := func() {
		t.Helper()
		cp := filepath.Join(t.TempDir(), "copy.git")
		if out, err := exec.Command("cp", "-a", dir, cp).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		os.Remove(filepath.Join(cp, "info", "refs"))
		mustDumbGit(t, cp, "update-server-info")
		for _, f := range []string{"info/refs", "objects/info/packs"} {
			got, _ := os.ReadFile(filepath.Join(dir, f))
			want, _ := os.ReadFile(filepath.Join(cp, f))
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from git update-server-info:\n%s\nwant:\n%s", f, got, want)
			}
		}
	}
	sameAsGit()

	// One new commit: one pack, its index, and the changed files, no more.
	g.Write("site/index.html", []byte(strings.Repeat("<p>four</p>\n", 100)))
	g.Commit("four")
	res := publish(dumbhttp.Options{})
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
	sameAsGit()
	mustDumbGit(t, clone, "fetch", "-q", "origin")
	if got, want := mustDumbGit(t, clone, "rev-parse", "origin/main"), g.Git("rev-parse", "HEAD"); got != want {
		t.Errorf("fetch after publish: origin/main %s, want %s", got, want)
	}
	if again := publish(dumbhttp.Options{}); !again.UpToDate || len(again.Uploaded) != 0 {
		t.Errorf("publish with nothing new: %+v", again)
	}

	// Clones in a loop while 20 publishes go through vsftpd.
	var (
		mu     sync.Mutex
		seen   = map[string]bool{g.Git("rev-parse", "HEAD"): true}
		done   = make(chan struct{})
		wg     sync.WaitGroup
		clones int
	)
	deadline := time.Now().Add(2 * time.Minute)
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(done) }); wg.Wait() }
	defer stop() // also when a publish fails the test: no clone may outlive it
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				select {
				case <-done:
					return
				default:
				}
				c := filepath.Join(t.TempDir(), "c")
				if _, err := dumbGit("", "clone", "-q", url, c); err != nil {
					t.Errorf("clone during publish: %v", err)
					return
				}
				if _, err := dumbGit(c, "fsck", "--full", "--strict", "--no-dangling"); err != nil {
					t.Errorf("fsck of a clone made during publish: %v", err)
					return
				}
				head, _ := dumbGit(c, "rev-parse", "HEAD")
				mu.Lock()
				ok := seen[head]
				clones++
				mu.Unlock()
				if !ok {
					t.Errorf("clone HEAD %s was never published", head)
				}
				os.RemoveAll(c)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		g.Write("n.txt", []byte(strings.Repeat("n\n", i+1)))
		g.Commit("n")
		mu.Lock()
		seen[g.Git("rev-parse", "HEAD")] = true
		mu.Unlock()
		publish(dumbhttp.Options{})
	}
	stop()
	t.Logf("%d clones during 20 publishes through %s", clones, srv.Name)
	check(url)
	sameAsGit()
}

// TestDumbPublishRefsLikeGitPush is issue 15's scenario through the gftp
// binary and vsftpd (FTPES), cloned with git over HTTP: main and feature
// are published, then a fresh single-branch clone whose main is older
// publishes. Nothing is rewound or deleted: exit 8 with a hint, and a clone
// still sees both branches at their published commits. With --force main
// moves back, and with --prune feature goes; a clone sees each move.
func TestDumbPublishRefsLikeGitPush(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	srv := servers.Start(t, servers.VsftpdFTPES13)
	url := under(srv, "project.git")
	web := httptest.NewServer(http.FileServer(http.Dir(srv.Root)))
	defer web.Close()
	cloneRefs := func() string {
		t.Helper()
		c := filepath.Join(t.TempDir(), "clone")
		mustDumbGit(t, "", "clone", "-q", web.URL+"/project.git", c)
		mustDumbGit(t, c, "fsck", "--full", "--strict")
		return dumbRefs(t, c, true)
	}

	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	g.Commit("one")
	g.Write("index.html", []byte("two"))
	newMain := g.Commit("two")
	g.Git("branch", "feature")
	mustGftp(t, srv, g.Dir, "publish-dumb", url)
	// dumbRefs sorts "<oid> <name>" lines.
	refs := func(lines ...string) string { sort.Strings(lines); return strings.Join(lines, "\n") }
	published := refs(newMain+" refs/heads/feature", newMain+" refs/heads/main")
	if got := cloneRefs(); got != published {
		t.Fatalf("after the first publish a clone has\n%s\nwant\n%s", got, published)
	}

	// A CI checkout: one branch, older than the published one.
	ci := filepath.Join(t.TempDir(), "ci")
	mustDumbGit(t, "", "clone", "-q", "--single-branch", "--no-tags", "-b", "main", g.Dir, ci)
	mustDumbGit(t, ci, "reset", "-q", "--hard", "HEAD~1")
	oldMain := mustDumbGit(t, ci, "rev-parse", "HEAD")

	r := gftp(t, srv, ci, "publish-dumb", url)
	if r.code != 8 {
		t.Fatalf("publish of an older main exited %d, want 8\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"rejected", "refs/heads/main", "non-fast-forward", "kept", "refs/heads/feature"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "gftp: error: ") || !strings.Contains(r.stderr, "gftp: hint: ") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("want one error and a hint naming --force:\n%s", r.stderr)
	}
	if got := cloneRefs(); got != published {
		t.Fatalf("a refused publish changed what a clone sees:\n%s\nwant\n%s", got, published)
	}

	// --force rewinds main; feature stays.
	r = mustGftp(t, srv, ci, "publish-dumb", "--force", url)
	if !strings.Contains(r.stdout, "forced") || !strings.Contains(r.stdout, "kept") {
		t.Errorf("forced publish printed:\n%s", r.stdout)
	}
	want := refs(newMain+" refs/heads/feature", oldMain+" refs/heads/main")
	if got := cloneRefs(); got != want {
		t.Fatalf("after --force a clone has\n%s\nwant\n%s", got, want)
	}

	// --prune deletes feature, which the checkout lacks.
	r = mustGftp(t, srv, ci, "publish-dumb", "--prune", url)
	if !strings.Contains(r.stdout, "deleted") {
		t.Errorf("pruning publish printed:\n%s", r.stdout)
	}
	if got, want := cloneRefs(), oldMain+" refs/heads/main"; got != want {
		t.Fatalf("after --prune a clone has\n%s\nwant\n%s", got, want)
	}
}
