package integration_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/bench"
	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/remotetest"
)

var statsLineRE = regexp.MustCompile(`(?m)^ftp statistics .*$`)

// statsPerFile reads round_trips and files from gftp's -v statistics line.
func statsPerFile(t *testing.T, stderr string) (line string, perFile float64) {
	t.Helper()
	line = statsLineRE.FindString(stderr)
	if line == "" {
		t.Fatalf("no statistics line:\n%s", tail(stderr, 3000))
	}
	field := func(k string) float64 {
		m := regexp.MustCompile(`\b` + k + `=(\d+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no %s in %q", k, line)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	return line, field("round_trips") / field("files")
}

// TestFTPActiveRoundTrips runs an init with -j 1 in passive and in active
// mode over TLS on each real server, and reads the round trips per file
// from the -v statistics line: active mode (EPRT or PORT, pipelined with
// the transfer as EPSV is) must cost at most half a round trip per file more
// than passive mode (issue 15).
func TestFTPActiveRoundTrips(t *testing.T) {
	const files = 40
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.VsftpdFTPES12, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			g := gittest.New(t)
			for i := 0; i < files; i++ {
				g.Write(fmt.Sprintf("d/f%02d.txt", i), remotetest.Content(int64(i), 4096))
			}
			c1 := g.Commit("one")
			per := map[bool]float64{}
			for _, active := range []bool{false, true} {
				clearRoot(t, srv.Root)
				args := []string{"init", "-j", "1", "--no-lock", "-v"}
				if active {
					args = append(args, "--active")
				}
				r := mustGftp(t, srv, g.Dir, append(args, srv.URL)...)
				checkServed(t, srv, g, c1)
				line, pf := statsPerFile(t, r.stderr)
				per[active] = pf
				t.Logf("%s active=%v: %.2f RTT/file: %s", kind, active, pf, line)
			}
			if per[true] > per[false]+0.5 {
				t.Errorf("active mode costs %.2f round trips per file, passive %.2f: more than half a round trip apart", per[true], per[false])
			}
		})
	}
}

// clearRoot empties a server's directory, keeping its owner.
func clearRoot(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFTPPushWAN measures the push of 70 changes (50 changed, 10 deleted,
// 10 added, of 2,000 files) at 50 ms RTT on vsftpd FTPES with TLS 1.2, as
// make bench does, and logs gftp's -v statistics line and the time. It
// needs root (network namespaces) and runs only with GFTP_FTP_WAN=1.
func TestFTPPushWAN(t *testing.T) {
	if os.Getenv("GFTP_FTP_WAN") != "1" {
		t.Skip("GFTP_FTP_WAN=1 runs the 50 ms push measurement (root)")
	}
	w, err := bench.NewWAN(25 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	old := servers.Hosts
	servers.Hosts = append(append([]string{}, old...), w.ServerIP)
	srv := servers.Start(t, servers.VsftpdFTPES12, servers.InNetns(w.ServerNS, w.ServerIP))
	servers.Hosts = old

	g := gittest.New(t)
	name := func(i int) string { return fmt.Sprintf("d%02d/page%04d.html", i%20, i) }
	for i := 0; i < 2000; i++ {
		g.Write(name(i), remotetest.Content(int64(i), 4096))
	}
	c1 := g.Commit("one")
	step := 2000 / 60
	for i := 0; i < 50; i++ {
		g.Write(name(i*step), remotetest.Content(int64(5000+i), 4096))
	}
	for i := 0; i < 10; i++ {
		g.Remove(name(1999 - i*step))
	}
	for i := 0; i < 9; i++ {
		g.Write(name(2000+i), remotetest.Content(int64(6000+i), 4096))
	}
	g.Write("new/added.html", []byte("added"))
	c2 := g.Commit("two")
	// GFTP_FTP_WAN_BINS lists gftp binaries to compare (before and
	// after a change), run in turns under the same load.
	bins := []string{gftpBin}
	if v := os.Getenv("GFTP_FTP_WAN_BINS"); v != "" {
		bins = strings.Split(v, ",")
	}
	for round := 0; round < 2; round++ {
		for _, bin := range bins {
			seedServer(t, srv.Root, 2000, name, c1)
			cmd := bench.Command(w.ClientNS, bin, "push", "-j", "8", "-v", "--insecure", srv.URL)
			cmd.Dir = g.Dir
			cmd.Env = append(gittest.Env(), "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(start)
			if err != nil {
				t.Fatalf("push: %v\n%s", err, tail(string(out), 3000))
			}
			checkServed(t, srv, g, c2)
			line := statsLineRE.FindString(string(out))
			if line == "" {
				t.Errorf("no statistics line")
			}
			t.Logf("%s: push of 70 changes at 50 ms RTT: %v: %s", bin, d.Round(10*time.Millisecond), line)
		}
	}
}

// seedServer puts the first commit's files and its marker on the server
// (the state after an init), and nothing else.
func seedServer(t *testing.T, root string, n int, name func(int) string, c1 string) {
	t.Helper()
	clearRoot(t, root)
	var st syscall.Stat_t
	if err := syscall.Stat(root, &st); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		p := filepath.Join(root, name(i))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, remotetest.Content(int64(i), 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, ".git-ftp.log"), []byte(c1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", st.Uid, st.Gid), root).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
}

// TestFTPESNoHelloRetry deploys over TLS 1.3 to vsftpd, whose OpenSSL takes
// the P-256 group only, and to proftpd: no data connection's handshake is
// sent back with a HelloRetryRequest (each offers the key share of the group
// its control connection settled on), and every one resumes the control
// session (issue 16).
func TestFTPESNoHelloRetry(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			g := gittest.New(t)
			for i := 0; i < 6; i++ {
				g.Write(fmt.Sprintf("f%d.txt", i), remotetest.Content(int64(i), 4096))
			}
			c1 := g.Commit("one")
			// -vv: at -v only the first data connection of each control
			// connection is logged, and any that did not resume or retried
			// its hello.
			r := mustGftp(t, srv, g.Dir, "init", "-j", "2", "-vv", srv.URL)
			checkServed(t, srv, g, c1)
			lines := regexp.MustCompile(`(?m)^data connection TLS .*$`).FindAllString(r.stderr, -1)
			if len(lines) < 6 {
				t.Fatalf("%d data connections logged, want 6 or more:\n%s", len(lines), tail(r.stderr, 3000))
			}
			for _, l := range lines {
				if !strings.Contains(l, `version="TLS 1.3"`) || !strings.Contains(l, "hello_retry=false") || !strings.Contains(l, "resumed=true") {
					t.Errorf("want TLS 1.3, resumed, no hello retry: %s", l)
				}
			}
		})
	}
}
