package integration_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestInterrupt sends SIGINT in the middle of a push to a real server: gftp
// stops, removes its temporary files and the lock, leaves the marker,
// reports what was done, exits 130, and the next push completes.
func TestInterrupt(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			g, c1 := initedRepo(t, srv)
			for i := 0; i < 400; i++ {
				g.Write(fmt.Sprintf("d%d/f%03d.bin", i%7, i), bytes.Repeat([]byte{byte(i)}, 20000+i))
			}
			c2 := g.Commit("two")

			cmd := exec.Command(gftpBin, "push", "-v", "-j", "2", "--cacert", srv.CACert, srv.URL)
			cmd.Dir = g.Dir
			cmd.Env = append(gittest.Env(), "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			sc := bufio.NewScanner(stderr)
			sent := false
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if !sent && strings.HasPrefix(sc.Text(), "uploaded path=") && strings.Count(log.String(), "uploaded path=") == 20 {
					if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
						t.Fatal(err)
					}
					sent = true
				}
			}
			io.Copy(&log, stderr)
			err = cmd.Wait()
			if !sent {
				t.Fatalf("the push ended before it could be interrupted:\n%s", log.String())
			}
			code := cmd.ProcessState.ExitCode()
			if code != 130 {
				t.Fatalf("exit %d (%v), want 130\n%s", code, err, log.String())
			}
			if !strings.Contains(log.String(), "gftp: error: interrupted") || !strings.Contains(log.String(), "hint: ") {
				t.Errorf("stderr does not say it was interrupted:\n%s", log.String())
			}
			if !strings.Contains(stdout.String(), "INTERRUPTED") {
				t.Errorf("stdout does not report what was done: %q", stdout.String())
			}
			if got := readMarker(t, srv); got != c1+"\n" {
				t.Fatalf("marker moved to %q by an interrupted push", got)
			}
			var temps []string
			filepath.Walk(srv.Root, func(p string, fi os.FileInfo, err error) error {
				if err == nil && (strings.HasPrefix(fi.Name(), ".gftp-tmp-") || fi.Name() == ".gftp.lock") {
					temps = append(temps, p)
				}
				return nil
			})
			if len(temps) > 0 {
				t.Errorf("left behind after the interrupt: %q", temps)
			}

			r := mustGftp(t, srv, g.Dir, "push", srv.URL)
			m := regexp.MustCompile(`(\d+) more already there from an earlier run`).FindStringSubmatch(r.stdout)
			if m == nil {
				t.Errorf("the re-run did not resume (skip what arrived before the interrupt): %q", r.stdout)
			} else if n, _ := strconv.Atoi(m[1]); n < 20 {
				t.Errorf("the re-run skipped %d files, want at least the 20 uploaded before the interrupt", n)
			}
			checkServed(t, srv, g, c2)
			if _, err := os.Stat(filepath.Join(srv.Root, ".gftp.journal")); !os.IsNotExist(err) {
				t.Errorf("the journal outlived the completed deploy: %v", err)
			}
		})
	}
}

// TestDoubleInterrupt: a second Ctrl-C exits at once, with 130 and the
// marker unmoved; push --repair then completes and removes what the abrupt
// exit left.
func TestDoubleInterrupt(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdPlain)
	g, c1 := initedRepo(t, srv)
	for i := 0; i < 300; i++ {
		g.Write(fmt.Sprintf("f%03d.bin", i), bytes.Repeat([]byte{byte(i)}, 50000))
	}
	c2 := g.Commit("two")
	cmd := exec.Command(gftpBin, "push", "-v", "-j", "1", srv.URL)
	cmd.Dir = g.Dir
	cmd.Env = append(gittest.Env(), "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "uploaded path=") {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Process.Signal(syscall.SIGINT)
			break
		}
	}
	io.Copy(&log, stderr)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d after two interrupts, want 130\n%s", code, log.String())
	}
	if got := readMarker(t, srv); got != c1+"\n" {
		t.Fatalf("marker moved to %q", got)
	}
	// Whether the abrupt exit came before the lock's release is a race. If
	// the lock stayed, its holder no longer runs on this host, so the next
	// run breaks it by itself, with a warning.
	_, lockErr := os.Stat(filepath.Join(srv.Root, ".gftp.lock"))
	r := mustGftp(t, srv, g.Dir, "push", "--repair", srv.URL)
	if lockErr == nil && !strings.Contains(r.stderr, "no longer runs") {
		t.Errorf("the dead holder's lock should be broken with a warning:\n%s", r.stderr)
	}
	checkServed(t, srv, g, c2)
	if l := leftovers(srv.Root); len(l) > 0 {
		t.Errorf("left behind after push --repair: %q", l)
	}
}
