package deploy_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
)

// bigRepo is a repository of n files made with git fast-import (seconds
// for 100,000 files, where a work tree and git add take a minute): commit
// "one" holds them all; "two" changes n/100 of them, deletes n/1000 and
// adds n/1000. It has no work tree files, which planning does not read.
type bigRepo struct {
	dir    string
	c1, c2 string
}

var (
	bigOnce sync.Once
	big     bigRepo
)

func makeBigRepo(t testing.TB, n int) bigRepo {
	t.Helper()
	dir := t.TempDir()
	g := gittest.New(t)
	g.Dir = dir
	g.Git("init", "-q", "-b", "main")
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Env = gittest.Env()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := os.CreateTemp(t.TempDir(), "fi"); err == nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	name := func(i int) string { return fmt.Sprintf("s%02d/d%03d/f%06d.html", i%10, i%1000, i) }
	blob := func(mark int, content string) {
		fmt.Fprintf(w, "blob\nmark :%d\ndata %d\n%s\n", mark, len(content), content)
	}
	for i := 0; i < n; i++ {
		blob(i+1, fmt.Sprintf("<p>file %d of the big repository</p>\n", i))
	}
	fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter t <t@example.com> 1700000000 +0000\ndata 3\none\n", n+1)
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "M 100644 :%d %s\n", i+1, name(i))
	}
	w.WriteString("\n")
	mark := n + 2
	var mods []string
	for i := 0; i < n/100; i++ {
		blob(mark, fmt.Sprintf("<p>file %d, changed</p>\n", i*100))
		mods = append(mods, fmt.Sprintf("M 100644 :%d %s\n", mark, name(i*100)))
		mark++
	}
	for i := 0; i < n/1000; i++ {
		blob(mark, fmt.Sprintf("<p>file %d, added</p>\n", n+i))
		mods = append(mods, fmt.Sprintf("M 100644 :%d %s\n", mark, name(n+i)))
		mark++
		mods = append(mods, fmt.Sprintf("D %s\n", name(i*1000+1)))
	}
	fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter t <t@example.com> 1700000100 +0000\ndata 3\ntwo\nfrom :%d\n", mark, n+1)
	w.WriteString(strings.Join(mods, ""))
	w.WriteString("\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git fast-import: %v", err)
	}
	return bigRepo{dir: dir, c1: g.Git("rev-parse", "main~1"), c2: g.Git("rev-parse", "main")}
}

// planOnce opens the repository and plans from..to, as gftp does.
func planOnce(dir, from, to string) (*deploy.Plan, error) {
	repo, err := deploy.OpenRepo(dir)
	if err != nil {
		return nil, err
	}
	c, err := repo.Resolve(to)
	if err != nil {
		return nil, err
	}
	return deploy.NewPlan(context.Background(), repo, plumbing.NewHash(from), c, deploy.PlanOptions{})
}

// TestMain lets a test run the planner in a child process, whose peak RSS
// (VmHWM) is then its own and nothing else's.
func TestMain(m *testing.M) {
	if argv := os.Getenv("GFTP_MAXRSS_CMD"); argv != "" {
		os.Exit(maxRSSLauncher(strings.Split(argv, "\x1f")))
	}
	if spec := os.Getenv("GFTP_PLAN_CHILD"); spec != "" {
		f := strings.Split(spec, ",")
		start := time.Now()
		p, err := planOnce(f[0], f[1], f[2])
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("uploads=%d deletes=%d mkdirs=%d bytes=%d elapsed_ms=%d hwm_kb=%d\n",
			len(p.Uploads), len(p.Deletes), len(p.Mkdirs), p.Bytes(), time.Since(start).Milliseconds(), vmHWM())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// maxRSSLauncher runs argv and prints its peak RSS in KiB, then its
// output. Linux carries the peak RSS of the memory a process had before
// exec into the child's (getrusage ru_maxrss), and a test process that
// built a big repository is big: a small, fresh process launches instead.
func maxRSSLauncher(argv []string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Printf("error %v\n%s", err, out)
		return 1
	}
	fmt.Printf("%d\n%s", cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, out)
	return 0
}

// peakRSS runs argv in dir through maxRSSLauncher and returns its peak RSS
// in KiB.
func peakRSS(t *testing.T, dir string, argv ...string) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Dir = dir
	cmd.Env = append(gittest.Env(), "GFTP_MAXRSS_CMD="+strings.Join(argv, "\x1f"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	kb, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("%s: %s", strings.Join(argv, " "), out)
	}
	return kb
}

// vmHWM is this process's peak resident set, in KiB.
func vmHWM() int {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return -1
}

// TestPlanMemory100k plans an init (which sizes every blob) and a push for
// a 100,000-file repository in a child process, and holds its peak RSS
// under 200 MiB. The time is logged, not asserted: BenchmarkPlan100k.
func TestPlanMemory100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-file repository")
	}
	b := makeBigRepo(t, 100_000)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		from    string
		uploads int
	}{
		{"init", plumbing.ZeroHash.String(), 100_000},
		{"push", b.c1, 1000 + 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(self)
			cmd.Env = append(os.Environ(), "GFTP_PLAN_CHILD="+b.dir+","+tc.from+","+b.c2)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("plan: %v\n%s", err, out)
			}
			var uploads, deletes, mkdirs, ms, hwm int
			var bytes int64
			if _, err := fmt.Sscanf(string(out), "uploads=%d deletes=%d mkdirs=%d bytes=%d elapsed_ms=%d hwm_kb=%d",
				&uploads, &deletes, &mkdirs, &bytes, &ms, &hwm); err != nil {
				t.Fatalf("child said %q: %v", out, err)
			}
			t.Logf("%s plan of 100,000 files: %d uploads, %d deletes, %d mkdirs, %d bytes in %d ms, peak RSS %d MiB",
				tc.name, uploads, deletes, mkdirs, bytes, ms, hwm>>10)
			if uploads != tc.uploads {
				t.Errorf("%d uploads, want %d", uploads, tc.uploads)
			}
			if hwm > 200<<10 {
				t.Errorf("peak RSS %d MiB, want under 200 MiB", hwm>>10)
			}
		})
	}
}

// BenchmarkPlan100k times planning an init and a push of a 100,000-file
// repository, opening the repository each time as gftp does.
func BenchmarkPlan100k(b *testing.B) {
	bigOnce.Do(func() { big = makeBigRepo(b, 100_000) })
	for _, tc := range []struct{ name, from string }{{"init", plumbing.ZeroHash.String()}, {"push", big.c1}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := planOnce(big.dir, tc.from, big.c2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLargeFileMemory deploys one large file from a loose object and from a
// pack, each with the gftp process's peak RSS read back (getrusage), which
// must stay under 64 MiB: the content streams from go-git to the target. The
// file is 1 GiB with GFTP_BIG=1, else 256 MiB.
func TestLargeFileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large file")
	}
	size := int64(256 << 20)
	if os.Getenv("GFTP_BIG") == "1" {
		size = 1 << 30
	}
	bin, err := gittest.BuildGFTP(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, packed := range []bool{false, true} {
		name := map[bool]string{false: "loose", true: "packed"}[packed]
		t.Run(name, func(t *testing.T) {
			g := gittest.New(t)
			// Varied but cheap to compress content, written in
			// pieces: the test itself must not hold the file.
			f, err := os.Create(filepath.Join(g.Dir, "big.bin"))
			if err != nil {
				t.Fatal(err)
			}
			w := bufio.NewWriterSize(f, 1<<20)
			for n := int64(0); n < size; {
				k, _ := fmt.Fprintf(w, "line %012d of the large file\n", n)
				n += int64(k)
			}
			w.Flush()
			f.Truncate(size)
			f.Close()
			g.Write("small.txt", []byte("small"))
			// A loose object above core.bigFileThreshold would go
			// straight into a pack: raise it for the loose case.
			if packed {
				g.Git("-c", "core.bigFileThreshold=1m", "add", "-A")
			} else {
				g.Git("-c", "core.bigFileThreshold=4g", "-c", "core.compression=1", "add", "-A")
			}
			g.Git("commit", "-q", "-m", "big")
			objs := g.Git("count-objects", "-v")
			if inPack := !strings.Contains(objs, "in-pack: 0\n"); inPack != packed {
				t.Fatalf("want a %s object:\n%s", name, objs)
			}
			target := t.TempDir()
			kb := peakRSS(t, g.Dir, bin, "init", target)
			fi, err := os.Stat(filepath.Join(target, "big.bin"))
			if err != nil || fi.Size() != size {
				t.Fatalf("deployed big.bin: %v, want %d bytes", err, size)
			}
			maxRSS := int64(kb)
			t.Logf("%s object of %d MiB deployed with a peak RSS of %d MiB", name, size>>20, maxRSS>>10)
			if maxRSS > 64<<10 {
				t.Errorf("peak RSS %d MiB, want under 64 MiB", maxRSS>>10)
			}
		})
	}
}
