package dumbhttp

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// peakRSS is the process's high-water resident set size, from
// /proc/self/status (Linux only; "" elsewhere).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return ""
}

// TestBigBlobMemory publishes a repository holding two versions of a large
// random file and reports the peak RSS. It is slow and needs disk, so it
// runs only with GFTP_BIG_BLOB_MIB set (e.g. 200).
func TestBigBlobMemory(t *testing.T) {
	mib := os.Getenv("GFTP_BIG_BLOB_MIB")
	if mib == "" {
		t.Skip("set GFTP_BIG_BLOB_MIB to run")
	}
	requireGit(t)
	src := t.TempDir()
	git(t, src, "init", "-q", "-b", "main")
	f, err := os.Create(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range mib {
		n = n*10 + int64(c-'0')
	}
	if _, err := io.CopyN(f, rand.Reader, n<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	git(t, src, "add", "-A")
	git(t, src, "commit", "-q", "-m", "big")
	dst := t.TempDir()
	t.Logf("before first publish: peak RSS %s", peakRSS())
	res := publish(t, src, dst, Options{})
	t.Logf("first publish (%d objects, pack %d bytes): peak RSS %s", res.NewObjects, res.PackSize, peakRSS())
	fa, _ := os.OpenFile(filepath.Join(src, "big.bin"), os.O_WRONLY|os.O_APPEND, 0)
	fa.WriteString("appended\n")
	fa.Close()
	git(t, src, "commit", "-q", "-am", "big 2")
	res = publish(t, src, dst, Options{})
	t.Logf("second publish (%d objects, pack %d bytes): peak RSS %s", res.NewObjects, res.PackSize, peakRSS())
	checkClone(t, src, dst)
}

// TestPerfRepo times a first and an incremental publish of a copy of the
// repository GFTP_PERF_REPO names.
func TestPerfRepo(t *testing.T) {
	repo := os.Getenv("GFTP_PERF_REPO")
	if repo == "" {
		t.Skip("set GFTP_PERF_REPO to run")
	}
	requireGit(t)
	src := filepath.Join(t.TempDir(), "src")
	git(t, "", "clone", "-q", repo, src)
	dst := t.TempDir()
	start := time.Now()
	res := publish(t, src, dst, Options{})
	t.Logf("first publish: %d objects, %d bytes, %v, peak RSS %s", res.NewObjects, res.PackSize, time.Since(start), peakRSS())
	commit(t, src, "perf.txt", "one more\n")
	start = time.Now()
	res = publish(t, src, dst, Options{})
	t.Logf("one new commit: %d objects, %v, peak RSS %s", res.NewObjects, time.Since(start), peakRSS())
	start = time.Now()
	res = publish(t, src, dst, Options{})
	t.Logf("nothing new: up to date %v, %v", res.UpToDate, time.Since(start))
}
