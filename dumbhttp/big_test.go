package dumbhttp

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// BenchmarkPublishRepo publishes a clone of the repository GFTP_PERF_REPO
// names (default: the one this test runs in) to a local directory: all of
// it to an empty target, one new commit, and nothing new. It fails when an
// incremental publish sends more than the new commit's objects, or an
// up-to-date one uploads anything.
//
//	GFTP_PERF_REPO=/path/to/big.git go test -run '^$' -bench PublishRepo ./dumbhttp/
func BenchmarkPublishRepo(b *testing.B) {
	requireGit(b)
	repo := os.Getenv("GFTP_PERF_REPO")
	if repo == "" {
		repo = strings.TrimSpace(git(b, ".", "rev-parse", "--show-toplevel"))
	}
	src := filepath.Join(b.TempDir(), "src")
	git(b, "", "clone", "-q", "--no-local", repo, src)

	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			res := publish(b, src, b.TempDir(), Options{})
			if res.NewObjects == 0 || res.Pack == "" {
				b.Fatalf("first publish sent no pack: %+v", res)
			}
		}
		b.ReportMetric(peakRSSKiB(), "peak-RSS-KiB")
	})
	dst := b.TempDir()
	publish(b, src, dst, Options{})
	b.Run("one-commit", func(b *testing.B) {
		n := 0
		for b.Loop() {
			b.StopTimer()
			n++
			commit(b, src, "perf.txt", fmt.Sprintf("commit %d\n", n))
			b.StartTimer()
			// A new blob, the root tree and the commit.
			if res := publish(b, src, dst, Options{}); res.NewObjects != 3 {
				b.Fatalf("one new commit sent %d objects, want 3", res.NewObjects)
			}
		}
	})
	b.Run("up-to-date", func(b *testing.B) {
		for b.Loop() {
			if res := publish(b, src, dst, Options{}); !res.UpToDate || len(res.Uploaded) > 0 {
				b.Fatalf("nothing new, yet uploaded %v", res.Uploaded)
			}
		}
	})
}

// peakRSSKiB is peakRSS as a number (0 when unknown).
func peakRSSKiB() float64 {
	var kib float64
	fmt.Sscanf(peakRSS(), "%g kB", &kib)
	return kib
}
