package integration_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/remotetest"
)

// gftpBin is the gftp binary these tests run, built once, exactly as users
// run it.
var gftpBin string

func TestMain(m *testing.M) {
	os.Exit(gittest.MainWithGFTP(m, &gftpBin))
}

// result is one gftp run.
type result struct {
	stdout, stderr string
	code           int
}

// gftp runs the binary in dir against srv, with its credentials in the
// environment (never on the command line) and its extra flags.
func gftp(t *testing.T, srv *servers.Server, dir string, args ...string) result {
	t.Helper()
	return gftpVia(t, nil, srv, dir, args...)
}

// gftpVia is gftp run through the command prefix (setpriv ...).
func gftpVia(t *testing.T, prefix []string, srv *servers.Server, dir string, args ...string) result {
	t.Helper()
	// The server's flags go right after the subcommand.
	full := append(append([]string{}, prefix...), gftpBin, args[0])
	full = append(full, srv.Flags...)
	if srv.CACert != "" {
		full = append(full, "--cacert", srv.CACert)
	}
	full = append(full, args[1:]...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Dir = dir
	cmd.Env = append(gittest.Env(), srv.Env...)
	cmd.Env = append(cmd.Env, "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run gftp: %v", err)
	}
	if testing.Verbose() {
		t.Logf("gftp %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func mustGftp(t *testing.T, srv *servers.Server, dir string, args ...string) result {
	t.Helper()
	r := gftp(t, srv, dir, args...)
	if r.code != 0 {
		t.Fatalf("gftp %s exited %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// initedRepo makes a repository whose one commit (index.html, "one") is
// deployed to srv with gftp init, and returns it with that commit.
func initedRepo(t *testing.T, srv *servers.Server) (*gittest.Repo, string) {
	t.Helper()
	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	c1 := g.Commit("one")
	mustGftp(t, srv, g.Dir, "init", srv.URL)
	return g, c1
}

// pushTarget is a server the push suite runs against.
type pushTarget struct {
	name   string
	start  func(t *testing.T) *servers.Server
	noDirs bool // S3: directories are not real
	// resumes: every TLS data connection must resume the control
	// connection's session (vsftpd require_ssl_reuse, proftpd).
	resumes bool
	// prohibited names the server refuses by policy (TestPushFailures
	// checks that such a refusal fails the deploy cleanly).
	prohibited func(name string) bool
	// hashes: the server digests files (proftpd's mod_digest: HASH).
	hashes bool
}

// pureProhibited: pure-ftpd answers 553 "Prohibited file name" for a
// backslash or a control character.
func pureProhibited(name string) bool { return strings.ContainsAny(name, "\\\t") }

func pushTargets() []pushTarget {
	targets := []pushTarget{{name: "local", start: func(t *testing.T) *servers.Server {
		dir := t.TempDir()
		return &servers.Server{Name: "local", URL: dir, Root: dir}
	}}}
	for _, k := range servers.FTPKinds() {
		tc := pushTarget{name: string(k), start: func(t *testing.T) *servers.Server { return servers.Start(t, k) }}
		if k == servers.PureFTPdTLS {
			tc.prohibited = pureProhibited
		}
		tc.resumes = k.TLS() && k != servers.PureFTPdTLS
		tc.hashes = k == servers.ProFTPdTLS
		targets = append(targets, tc)
	}
	// Active mode (PORT/EPRT) against every server that allows it.
	for _, k := range []servers.Kind{servers.VsftpdPlain, servers.VsftpdFTPES12, servers.VsftpdFTPES13, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		tc := pushTarget{name: string(k) + "-active", start: func(t *testing.T) *servers.Server {
			srv := servers.Start(t, k)
			srv.Flags = append(srv.Flags, "--active")
			return srv
		}}
		if k == servers.PureFTPdTLS {
			tc.prohibited = pureProhibited
		}
		tc.resumes = k.TLS() && k != servers.PureFTPdTLS
		tc.hashes = k == servers.ProFTPdTLS
		targets = append(targets, tc)
	}
	for _, a := range servers.SSHAuths() {
		targets = append(targets, pushTarget{name: "sshd-" + string(a), start: func(t *testing.T) *servers.Server {
			return servers.StartSSHD(t, servers.WithSSHAuth(a))
		}})
	}
	targets = append(targets, pushTarget{name: "versitygw", start: func(t *testing.T) *servers.Server { return servers.StartS3(t) }, noDirs: true})
	return targets
}

// served lists the files under root with their content, and the temporary
// files gftp must never leave behind.
func served(t *testing.T, root string) (files map[string]string, marker string, temps []string) {
	t.Helper()
	files = gittest.Files(t, root)
	marker = files[".git-ftp.log"]
	delete(files, ".git-ftp.log")
	for name := range files {
		if strings.HasPrefix(filepath.Base(name), ".gftp-tmp-") {
			temps = append(temps, name)
		}
		if strings.HasPrefix(name, ".sys/") || strings.HasPrefix(name, ".versitygw") {
			delete(files, name) // an S3 server's own bookkeeping
		}
	}
	return files, marker, temps
}

func checkServed(t *testing.T, srv *servers.Server, g *gittest.Repo, sha string) {
	t.Helper()
	files, marker, temps := served(t, srv.Root)
	if marker != sha+"\n" {
		t.Errorf("marker = %q, want %q", marker, sha+"\n")
	}
	if len(temps) > 0 {
		t.Errorf("temporary files left on the server: %q", temps)
	}
	want := g.Tree(sha)
	if !reflect.DeepEqual(files, want) {
		var missing, extra, differ []string
		for n, c := range want {
			got, ok := files[n]
			switch {
			case !ok:
				missing = append(missing, n)
			case got != c:
				differ = append(differ, fmt.Sprintf("%s (%d bytes, want %d)", n, len(got), len(c)))
			}
		}
		for n := range files {
			if _, ok := want[n]; !ok {
				extra = append(extra, n)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		t.Fatalf("server does not hold commit %s:\nmissing %q\nextra %q\ndiffer %q", sha[:7], missing, extra, differ)
	}
}

var uploadedRE = regexp.MustCompile(`(?m)^uploaded path=("(?:[^"\\]|\\.)*"|\S+)`)

// uploadedPaths reads the -v log for what was uploaded.
func uploadedPaths(stderr string) []string {
	var out []string
	for _, m := range uploadedRE.FindAllStringSubmatch(stderr, -1) {
		p := m[1]
		if strings.HasPrefix(p, `"`) {
			fmt.Sscanf(p, "%q", &p)
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// TestPushSuite deploys the same history to every server: init, a push with
// changes, additions, a deletion that empties a directory, an 8 MiB file,
// an empty file and names that break naive clients, then a push of a
// deletion only. After each, every byte on the server must equal the commit
// and the marker must name it.
func TestPushSuite(t *testing.T) {
	for _, tc := range pushTargets() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			g := gittest.New(t)
			for i, n := range remotetest.HardNames {
				if tc.prohibited == nil || !tc.prohibited(n) {
					g.Write("names/"+n, remotetest.Content(int64(i), 64+i))
				}
			}
			g.Write("big.bin", remotetest.Content(1, 8<<20))
			g.Write("empty", nil)
			g.Write("doomed/only.txt", []byte("removed in the second commit"))
			g.Write("a/b/c/d/e/deep.txt", []byte("deep"))
			g.Write("index.html", []byte("<h1>one</h1>"))
			c1 := g.Commit("one")

			mustGftp(t, srv, g.Dir, "init", srv.URL)
			checkServed(t, srv, g, c1)

			g.Write("index.html", []byte("<h1>two</h1>"))
			g.Write("names/with space.txt", []byte("changed"))
			g.Write("big.bin", remotetest.Content(2, 8<<20))
			g.Write("new dir/ünï #1.txt", []byte("new"))
			g.Write("new dir/empty too", nil)
			g.Remove("doomed/only.txt")
			c2 := g.Commit("two")

			r := mustGftp(t, srv, g.Dir, "push", "-vv", srv.URL)
			want := []string{"big.bin", "index.html", "names/with space.txt", "new dir/empty too", "new dir/ünï #1.txt"}
			if got := uploadedPaths(r.stderr); !reflect.DeepEqual(got, want) {
				t.Errorf("push uploaded %q, want only the changes %q", got, want)
			}
			if tc.resumes {
				lines := regexp.MustCompile(`(?m)^data connection TLS .*$`).FindAllString(r.stderr, -1)
				if len(lines) < 5 {
					t.Errorf("expected a TLS line per data connection at -v, got %d:\n%s", len(lines), r.stderr)
				}
				for _, l := range lines {
					if !strings.Contains(l, "resumed=true") {
						t.Errorf("a data connection did not resume the TLS session: %s", l)
					}
				}
			}
			if strings.HasPrefix(srv.URL, "ftp") {
				active := strings.Contains(r.stderr, "> EPRT ") || strings.Contains(r.stderr, "> PORT ")
				passive := strings.Contains(r.stderr, "> EPSV") || strings.Contains(r.stderr, "> PASV")
				if wantActive := strings.HasSuffix(tc.name, "-active"); active != wantActive || passive == wantActive {
					t.Errorf("active=%v passive=%v in the -vv dialogue, want active=%v", active, passive, wantActive)
				}
			}
			if tc.noDirs && (!strings.Contains(r.stderr, "op=DeleteObjects ") || strings.Contains(r.stderr, "op=DeleteObject method=DELETE path=/gftp-test/doomed")) {
				t.Errorf("S3 deletes should go in one DeleteObjects batch:\n%s", r.stderr)
			}
			if !strings.Contains(r.stdout, "5 uploaded, 1 deleted") {
				t.Errorf("summary %q does not say 5 uploaded, 1 deleted", r.stdout)
			}
			checkServed(t, srv, g, c2)
			if !tc.noDirs {
				if _, err := os.Stat(filepath.Join(srv.Root, "doomed")); !os.IsNotExist(err) {
					t.Errorf("directory doomed/ should have been removed once empty: %v", err)
				}
			}

			g.Remove("a/b/c/d/e/deep.txt")
			g.Remove("names/-leading-dash.txt")
			c3 := g.Commit("three")
			mustGftp(t, srv, g.Dir, "push", srv.URL)
			checkServed(t, srv, g, c3)
			if !tc.noDirs {
				if _, err := os.Stat(filepath.Join(srv.Root, "a")); !os.IsNotExist(err) {
					t.Errorf("the emptied chain a/b/c/d/e should have been removed: %v", err)
				}
			}

			r = mustGftp(t, srv, g.Dir, "push", srv.URL)
			if !strings.Contains(r.stdout, "Everything up to date") {
				t.Errorf("a push with nothing new said %q", r.stdout)
			}
		})
	}
}
