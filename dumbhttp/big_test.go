package dumbhttp

import (
	"crypto/rand"
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
