package integration_test

import (
	"bufio"
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

// TestSyncMemory syncs a directory holding a 1 GiB file among small ones
// to a local directory and over OpenSSH, and holds the gftp process's peak
// RSS under 64 MiB (issue 17): the file is hashed and sent as a stream,
// never held. The peak is GNU time's, so the test's own memory does not
// count.
func TestSyncMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1 GiB file")
	}
	timeBin := "/usr/bin/time"
	if _, err := os.Stat(timeBin); err != nil {
		t.Skip("GNU time is not installed (apt-get install time)")
	}
	const bigSize = 1 << 30
	site := filepath.Join(t.TempDir(), "public")
	if err := os.MkdirAll(filepath.Join(site, "s"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(site, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
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
	for i := 0; i < 32; i++ {
		if err := os.WriteFile(filepath.Join(site, "s", fmt.Sprintf("f%02d.html", i)), []byte(fmt.Sprintf("<p>%d</p>", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) *servers.Server
	}{
		{"local", func(t *testing.T) *servers.Server {
			dir := t.TempDir()
			return &servers.Server{Name: "local", URL: dir, Root: dir}
		}},
		{"sshd", func(t *testing.T) *servers.Server { return servers.StartSSHD(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			args := append([]string{"-f", "maxrss_kib=%M", gftpBin, "sync"}, srv.Flags...)
			args = append(args, site, under(srv, "www"))
			cmd := exec.Command(timeBin, args...)
			cmd.Env = append(gittest.Env(), srv.Env...)
			cmd.Env = append(cmd.Env, "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("gftp sync: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`maxrss_kib=(\d+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no peak RSS in:\n%s", out)
			}
			kib, _ := strconv.Atoi(string(m[1]))
			fi, err := os.Stat(filepath.Join(srv.Root, "www", "big.bin"))
			if err != nil || fi.Size() != bigSize {
				t.Fatalf("big.bin on the server: %v, want %d bytes", err, bigSize)
			}
			if got, err := os.ReadFile(filepath.Join(srv.Root, "www", "s", "f31.html")); err != nil || string(got) != "<p>31</p>" {
				t.Errorf("s/f31.html on the server: %q, %v", got, err)
			}
			t.Logf("sync of 1 GiB and 32 small files, %s: peak RSS %d MiB", tc.name, kib>>10)
			if kib > 64<<10 {
				t.Errorf("peak RSS %d MiB, want under 64 MiB", kib>>10)
			}
		})
	}
}
