package integration_test

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestSFTPMemoryInFlight deploys, over OpenSSH, a 1 GiB file among 63
// files of 512 KiB with 64 files in flight (--in-flight 64), and holds
// the gftp process's peak RSS under 128 MiB: each file in flight holds a
// transfer buffer, never its whole content, and the large one streams from
// go-git to the server. The peak is GNU time's (the getrusage of a child
// it forks), so that none of this test process's own memory counts.
func TestSFTPMemoryInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1 GiB file")
	}
	timeBin := "/usr/bin/time"
	if _, err := os.Stat(timeBin); err != nil {
		t.Skip("GNU time is not installed (apt-get install time)")
	}
	const (
		bigSize   = 1 << 30
		smallSize = 512 << 10
		small     = 63
	)
	srv := servers.StartSSHD(t)
	g := gittest.New(t)
	f, err := os.Create(filepath.Join(g.Dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// Varied but cheap to compress, written in pieces: the test itself
	// must not hold the file.
	w := bufio.NewWriterSize(f, 1<<20)
	for n := 0; n < bigSize; {
		k, _ := fmt.Fprintf(w, "line %012d of the large file\n", n)
		n += k
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(bigSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for i := 0; i < small; i++ {
		b := make([]byte, smallSize)
		_, _ = rand.Read(b)
		g.Write(fmt.Sprintf("s/f%02d.bin", i), b)
	}
	g.Git("-c", "core.bigFileThreshold=1m", "add", "-A")
	g.Git("commit", "-q", "-m", "big")

	args := append([]string{"-f", "maxrss_kib=%M", gftpBin, "init"}, srv.Flags...)
	args = append(args, "--in-flight", "64", srv.URL)
	cmd := exec.Command(timeBin, args...)
	cmd.Dir = g.Dir
	cmd.Env = append(gittest.Env(), srv.Env...)
	cmd.Env = append(cmd.Env, "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gftp init: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`maxrss_kib=(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no peak RSS in:\n%s", out)
	}
	kib, _ := strconv.Atoi(string(m[1]))

	fi, err := os.Stat(filepath.Join(srv.Root, "big.bin"))
	if err != nil || fi.Size() != bigSize {
		t.Fatalf("big.bin on the server: %v, want %d bytes", err, bigSize)
	}
	for i := 0; i < small; i++ {
		name := fmt.Sprintf("s/f%02d.bin", i)
		got, err := os.ReadFile(filepath.Join(srv.Root, name))
		want, _ := os.ReadFile(filepath.Join(g.Dir, name))
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s on the server differs from the commit (%v)", name, err)
		}
	}
	t.Logf("1 GiB and %d × %d KiB over SFTP, 64 in flight: peak RSS %d MiB", small, smallSize>>10, kib>>10)
	if kib > 128<<10 {
		t.Errorf("peak RSS %d MiB, want under 128 MiB", kib>>10)
	}
}
