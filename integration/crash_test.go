package integration_test

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// crashRounds is how many kills each target gets: GFTP_CRASH_ROUNDS, 3 by
// default (make soak runs 50).
func crashRounds(t *testing.T) int {
	if s := os.Getenv("GFTP_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("GFTP_CRASH_ROUNDS=%q: want a positive number", s)
		}
		return n
	}
	return 3
}

// crashSeed is GFTP_CRASH_SEED, to replay a failed run, or a fresh one; a
// failing test prints it.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GFTP_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GFTP_CRASH_SEED=%q: want a number", s)
		}
		seed = n
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with GFTP_CRASH_SEED=%d GFTP_CRASH_ROUNDS=%d", seed, crashRounds(t))
		}
	})
	return seed
}

// crashRig is one target under the kill-anywhere test: a repository whose
// history grows each round, a site deployed with init and push, and the
// repository published with publish-dumb beside it.
type crashRig struct {
	t    *testing.T
	srv  *servers.Server
	g    *gittest.Repo
	rng  *rand.Rand
	site int               // the current site directory is site<N>/
	at   map[string]string // site dir -> deployed commit ("" before init)
	tree map[string]map[string]string
	web  *httptest.Server
	next int // file name counter
	dur  map[string]time.Duration
}

// newCrashRig starts a rig on srv with a new repository; its random
// choices follow seed and name (the target's).
func newCrashRig(t *testing.T, srv *servers.Server, seed uint64, name string) *crashRig {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &crashRig{t: t, srv: srv, g: gittest.New(t), rng: rand.New(rand.NewPCG(seed, h.Sum64())),
		at: map[string]string{}, tree: map[string]map[string]string{}}
}

func (c *crashRig) url(dir string) string {
	return strings.TrimSuffix(c.srv.URL, "/") + "/" + dir + "/"
}

func (c *crashRig) treeOf(sha string) map[string]string {
	if c.tree[sha] == nil {
		c.tree[sha] = c.g.Tree(sha)
	}
	return c.tree[sha]
}

// change makes a commit: some files changed, some added, some removed.
func (c *crashRig) change(round int) string {
	files := c.treeOf("HEAD")
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		switch p := c.rng.IntN(100); {
		case p < 8 && len(names) > 20:
			c.g.Remove(n)
		case p < 20:
			c.g.Write(n, c.content(round))
		}
	}
	for i := 0; i < 5+c.rng.IntN(20); i++ {
		c.next++
		c.g.Write(fmt.Sprintf("d%d/f%04d.txt", c.rng.IntN(8), c.next), c.content(round))
	}
	sha := c.g.Commit(fmt.Sprintf("round %d", round))
	delete(c.tree, "HEAD")
	return sha
}

func (c *crashRig) content(round int) []byte {
	n := 100 + c.rng.IntN(20000)
	if c.rng.IntN(20) == 0 {
		n = 300 << 10
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i*7+round)%26)
	}
	b[0] = byte(c.rng.IntN(256))
	return b
}

// start runs gftp OP ... URL and returns at once.
func (c *crashRig) start(op, url string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	args := append([]string{op}, c.srv.Flags...)
	if c.srv.CACert != "" {
		args = append(args, "--cacert", c.srv.CACert)
	}
	args = append(args, "-v", "-j", "4", url)
	cmd := exec.Command(gftpBin, args...)
	cmd.Dir = c.g.Dir
	cmd.Env = append(dumbEnv(), c.srv.Env...)
	cmd.Env = append(cmd.Env, "GFTP_USER="+c.srv.User, "GFTP_PASSWORD="+c.srv.Password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

// files lists the regular files below dir on the server, without the
// S3 server's own bookkeeping.
func (c *crashRig) files(dir string) map[string]string {
	root := filepath.Join(c.srv.Root, dir)
	if _, err := os.Stat(root); os.IsNotExist(err) {
		return map[string]string{}
	}
	files := gittest.Files(c.t, root)
	for name := range files {
		if strings.HasPrefix(name, ".sys/") || strings.HasPrefix(name, ".versitygw") || strings.HasPrefix(name, ".sgwtmp") {
			delete(files, name)
		}
	}
	return files
}

// gftpLeftovers lists every .gftp* name (file or directory) under the
// server's root: a lock, a journal, a temporary file.
func (c *crashRig) gftpLeftovers() []string {
	var out []string
	filepath.Walk(c.srv.Root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".gftp") {
			rel, _ := filepath.Rel(c.srv.Root, p)
			out = append(out, rel)
			if fi.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	return out
}

// siteDiff says how the site's files differ from commit sha's (leftovers
// of gftp itself aside); "" when they are the same.
func (c *crashRig) siteDiff(dir, sha string) string {
	got := c.files(dir)
	delete(got, ".git-ftp.log")
	for n := range got {
		if strings.HasPrefix(filepath.Base(n), ".gftp") || strings.HasPrefix(n, ".gftp.lock/") {
			delete(got, n)
		}
	}
	want := c.treeOf(sha)
	var d []string
	for n, w := range want {
		g, ok := got[n]
		switch {
		case !ok:
			d = append(d, "missing "+n)
		case g != w:
			d = append(d, fmt.Sprintf("differs %s (%d bytes, want %d)", n, len(g), len(w)))
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			d = append(d, "extra "+n)
		}
	}
	sort.Strings(d)
	if len(d) > 8 {
		d = append(d[:8], fmt.Sprintf("... %d more", len(d)-8))
	}
	return strings.Join(d, "; ")
}

func (c *crashRig) marker(dir string) string {
	data, err := os.ReadFile(filepath.Join(c.srv.Root, dir, ".git-ftp.log"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// checkSite checks the marker is never ahead of the files: when it names
// a commit, every file of that commit is in place. Right after a kill,
// the marker may still name the commit deployed before (then the files may
// be part old, part new: that deploy is resumed by the next run).
func (c *crashRig) checkSite(dir, before, after, when string) {
	m := c.marker(dir)
	switch m {
	case "", before:
	case after:
		if d := c.siteDiff(dir, after); d != "" {
			c.t.Fatalf("%s: the marker names %s, whose files are not all in place: %s", when, after[:7], d)
		}
	default:
		c.t.Fatalf("%s: the marker names %q, neither %.7s nor %.7s", when, m, before, after)
	}
}

// checkDumb clones what the server publishes, over dumb HTTP, when it
// publishes anything: info/refs never names an object that is not there.
func (c *crashRig) checkDumb(when string) string {
	if _, err := os.Stat(filepath.Join(c.srv.Root, "dumb.git", "info", "refs")); err != nil {
		return ""
	}
	dst := filepath.Join(c.t.TempDir(), "clone")
	cmd := exec.Command("git", "clone", "-q", "--mirror", c.web.URL+"/dumb.git", dst)
	cmd.Env = dumbEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s: the published repository does not clone: %v\n%s", when, err, out)
	}
	out, err := dumbGit(dst, "fsck", "--full", "--strict")
	if err != nil {
		c.t.Fatalf("%s: git fsck of the clone: %v\n%s", when, err, out)
	}
	head, _ := dumbGit(dst, "rev-parse", "refs/heads/main")
	return head
}

// TestCrash kills gftp with SIGKILL at a seeded random instant of an init, a
// push or a publish-dumb, on every kind of target, and runs the same
// command again with no extra flag. Right after the kill the marker must
// not be ahead of the files and the published repository must clone; after
// the re-run (exit 0) the server must hold the commit byte for byte, the
// marker must name it, and no .gftp* file (lock, journal, temporary file)
// may be left anywhere. GFTP_CRASH_ROUNDS sets the rounds per target;
// GFTP_CRASH_SEED replays a run.
func TestCrash(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	rounds := crashRounds(t)
	seed := crashSeed(t)
	for name, start := range lockTargets() {
		t.Run(name, func(t *testing.T) {
			c := newCrashRig(t, start(t), seed, name)
			c.dur = map[string]time.Duration{"init": 2 * time.Second, "push": time.Second, "publish-dumb": time.Second}
			c.web = httptest.NewServer(http.FileServer(http.Dir(c.srv.Root)))
			defer c.web.Close()
			for i := 0; i < 150; i++ {
				c.next++
				c.g.Write(fmt.Sprintf("d%d/f%04d.txt", i%8, c.next), c.content(0))
			}
			c.g.Commit("base")
			for round := 1; round <= rounds; round++ {
				c.round(round)
			}
		})
	}
}

func (c *crashRig) round(round int) {
	t := c.t
	ops := []string{"init", "push", "publish-dumb"}
	op := ops[c.rng.IntN(len(ops))]
	if c.at[c.siteDir()] == "" && op == "push" {
		op = "init"
	}
	dir := c.siteDir()
	if op == "init" && c.at[dir] != "" {
		c.site++
		dir = c.siteDir()
	}
	if op == "publish-dumb" {
		dir = "dumb.git"
	}
	before := c.at[dir]
	after := c.change(round)
	delay := time.Duration(c.rng.Int64N(int64(c.dur[op])))
	when := fmt.Sprintf("round %d: %s of %.7s to %s killed after %s", round, op, after, dir, delay.Round(time.Millisecond))
	t.Log(when)

	cmd, stdout, stderr := c.start(op, c.url(dir))
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killedDone := strings.Contains(stdout.String(), "Deployed ") || strings.Contains(stdout.String(), "Published ")

	if op == "publish-dumb" {
		c.checkDumb(when + ", right after the kill")
	} else {
		c.checkSite(dir, before, after, when+", right after the kill")
	}

	began := time.Now()
	cmd, stdout2, stderr2 := c.start(op, c.url(dir))
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	took := time.Since(began)
	if code == 2 && op == "init" && killedDone && strings.Contains(stderr2.String(), "already deployed") {
		// Killed after it completed and released the lock: there is
		// nothing to finish, and init refuses over a marker, as
		// git-ftp's does.
		code = 0
	}
	if code != 0 {
		t.Fatalf("%s; the re-run exited %d (%v)\nkilled run's stderr:\n%s\nre-run's stdout:\n%s\nre-run's stderr:\n%s",
			when, code, err, tail(stderr.String(), 3000), stdout2.String(), tail(stderr2.String(), 4000))
	}
	// The next kill of this command comes at any instant of a run as long
	// as the longest uninterrupted one.
	c.dur[op] = max(c.dur[op], took)
	when += ", then run again"
	if op == "publish-dumb" {
		if head := c.checkDumb(when); head != after {
			t.Fatalf("%s: the published main is %q, want %s", when, head, after)
		}
	} else {
		if m := c.marker(dir); m != after {
			t.Fatalf("%s: marker %q, want %s", when, m, after)
		}
		if d := c.siteDiff(dir, after); d != "" {
			t.Fatalf("%s: the server does not hold the commit: %s\nre-run's stderr:\n%s", when, d, tail(stderr2.String(), 4000))
		}
	}
	c.at[dir] = after
	if l := c.gftpLeftovers(); len(l) > 0 {
		t.Fatalf("%s: left on the server: %q\nre-run's stderr:\n%s", when, l, tail(stderr2.String(), 4000))
	}
	t.Logf("re-run: %s", lastLine(stdout2.String()))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func (c *crashRig) siteDir() string { return fmt.Sprintf("site%d", c.site) }

// TestCrashSIGTERM sends SIGTERM at a seeded random instant of a push, on
// every kind of target: gftp must exit 130 within 5 s (or 0, when the
// signal came after the deploy completed), with the lock released and no
// temporary file left; the next push completes.
func TestCrashSIGTERM(t *testing.T) {
	seed := crashSeed(t)
	for name, start := range lockTargets() {
		t.Run(name, func(t *testing.T) {
			c := newCrashRig(t, start(t), seed, name)
			c.g.Write("index.html", []byte("one"))
			first := c.g.Commit("one")
			cmd, _, stderr := c.start("init", c.url("site0"))
			if err := cmd.Wait(); err != nil {
				t.Fatalf("init: %v\n%s", err, stderr.String())
			}
			for i := 0; i < 400; i++ {
				c.next++
				c.g.Write(fmt.Sprintf("d%d/f%04d.txt", i%8, c.next), c.content(1))
			}
			after := c.g.Commit("many")
			delay := 200*time.Millisecond + time.Duration(c.rng.Int64N(int64(time.Second)))
			cmd, stdout, stderr := c.start("push", c.url("site0"))
			time.Sleep(delay)
			sent := time.Now()
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running 5 s after SIGTERM (sent after %s)\n%s", delay, tail(stderr.String(), 3000))
			}
			took := time.Since(sent)
			code := cmd.ProcessState.ExitCode()
			t.Logf("SIGTERM after %s: exit %d in %s", delay.Round(time.Millisecond), code, took.Round(time.Millisecond))
			switch {
			case code == 130:
				if !strings.Contains(stderr.String(), "gftp: terminated: stopping") {
					t.Errorf("stderr does not say it was terminated:\n%s", tail(stderr.String(), 2000))
				}
				c.checkSite("site0", first, after, "after SIGTERM")
			case code == 0 && strings.Contains(stdout.String(), "Deployed "):
			default:
				t.Fatalf("exit %d after SIGTERM, want 130\n%s", code, tail(stderr.String(), 3000))
			}
			for _, l := range c.gftpLeftovers() {
				if l != filepath.Join("site0", ".gftp.journal") {
					t.Errorf("left after SIGTERM: %s", l)
				}
			}
			cmd, _, stderr = c.start("push", c.url("site0"))
			if err := cmd.Wait(); err != nil {
				t.Fatalf("push after SIGTERM: %v\n%s", err, tail(stderr.String(), 3000))
			}
			if d := c.siteDiff("site0", after); d != "" || c.marker("site0") != after {
				t.Fatalf("after the next push: marker %q; %s", c.marker("site0"), d)
			}
			if l := c.gftpLeftovers(); len(l) > 0 {
				t.Errorf("left after the next push: %q", l)
			}
		})
	}
}

// TestCrashLateResume kills a 2,000-file init with SIGKILL once 1,600 files
// are up, and runs it again: the re-run must skip every file the journal
// could have recorded, that is all but those uploaded in the last 1.5 s
// before the kill (the journal is written at most once a second, beside the
// uploads). It logs the figures.
func TestCrashLateResume(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13)
	c := newCrashRig(t, srv, 1, "late")
	const total, killAt = 2000, 1600
	for i := 0; i < total; i++ {
		c.g.Write(fmt.Sprintf("d%02d/f%04d.txt", i%40, i), []byte(strings.Repeat(strconv.Itoa(i), 50)))
	}
	head := c.g.Commit("many")
	args := append([]string{"init"}, srv.Flags...)
	args = append(args, "--cacert", srv.CACert, "-v", "-j", "8", c.url("site"))
	cmd := exec.Command(gftpBin, args...)
	cmd.Dir = c.g.Dir
	cmd.Env = append(gittest.Env(), "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	buf := make([]byte, 64<<10)
	var pending string
	for len(at) < killAt {
		n, err := stderr.Read(buf)
		pending += string(buf[:n])
		for {
			i := strings.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			if strings.HasPrefix(pending[:i], "uploaded path=") {
				at = append(at, time.Now())
			}
			pending = pending[i+1:]
		}
		if err != nil {
			t.Fatalf("init ended before %d uploads (%d): %v", killAt, len(at), err)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	cmd.Wait()
	recent := 0
	for _, a := range at {
		if killed.Sub(a) < 1500*time.Millisecond {
			recent++
		}
	}

	r := mustGftp(t, srv, c.g.Dir, "init", "-j", "8", c.url("site"))
	m := regexp.MustCompile(`(\d+) uploaded \((\d+) more already there from an earlier run\)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("the re-run resumed nothing: %q", r.stdout)
	}
	resent, skipped := atoi(m[1]), atoi(m[2])
	t.Logf("killed after %d of %d uploads (%d in the last 1.5 s); the re-run sent %d and skipped %d", len(at), total, recent, resent, skipped)
	if skipped < len(at)-recent {
		t.Errorf("the re-run skipped %d files, want at least %d (%d uploaded before the kill, %d of them in its last 1.5 s)", skipped, len(at)-recent, len(at), recent)
	}
	if c.marker("site") != head {
		t.Fatalf("marker %q, want %s", c.marker("site"), head)
	}
	if d := c.siteDiff("site", head); d != "" {
		t.Fatal(d)
	}
	if l := c.gftpLeftovers(); len(l) > 0 {
		t.Errorf("left on the server: %q", l)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
