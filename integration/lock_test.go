package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/integration/servers"
)

// lockTargets are one server of each kind of lock: a directory made with
// MKD (vsftpd, proftpd), an SFTP mkdir, and an S3 conditional PUT.
func lockTargets() map[string]func(t *testing.T) *servers.Server {
	return map[string]func(t *testing.T) *servers.Server{
		"vsftpd-ftpes-tls13": func(t *testing.T) *servers.Server { return servers.Start(t, servers.VsftpdFTPES13) },
		"proftpd-tls":        func(t *testing.T) *servers.Server { return servers.Start(t, servers.ProFTPdTLS) },
		"sshd-password":      func(t *testing.T) *servers.Server { return servers.StartSSHD(t) },
		"versitygw":          func(t *testing.T) *servers.Server { return servers.StartS3(t) },
	}
}

// TestLockRace starts two pushes of a large change at the same moment:
// exactly one deploys, the other fails fast with exit 7 naming the holder,
// and no lock is left behind.
func TestLockRace(t *testing.T) {
	for name, start := range lockTargets() {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			g, _ := initedRepo(t, srv)
			for i := 0; i < 500; i++ {
				g.Write(fmt.Sprintf("files/f%03d.txt", i), []byte(strings.Repeat("x", i)))
			}
			head := g.Commit("many files")

			var wg sync.WaitGroup
			results := make([]result, 2)
			for i := range results {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					results[i] = gftp(t, srv, g.Dir, "push", "-j", "1", srv.URL)
				}(i)
			}
			wg.Wait()
			codes := []int{results[0].code, results[1].code}
			if !(codes[0] == 0 && codes[1] == 7 || codes[0] == 7 && codes[1] == 0) {
				t.Fatalf("exit codes %v, want one 0 and one 7\nfirst: %s\nsecond: %s", codes, results[0].stderr, results[1].stderr)
			}
			loser := results[0]
			if codes[1] == 7 {
				loser = results[1]
			}
			if !strings.Contains(loser.stderr, "the remote is locked by") || !strings.Contains(loser.stderr, "gftp push of "+head[:7]) {
				t.Errorf("the loser does not name the holder:\n%s", loser.stderr)
			}
			checkServed(t, srv, g, head)
			if _, err := os.Stat(filepath.Join(srv.Root, ".gftp.lock")); !os.IsNotExist(err) {
				t.Errorf("the lock was left behind: %v", err)
			}
		})
	}
}

// TestStaleLockOnServers: a lock left by a deploy that died long ago
// refuses the next push with exit 7 and the way out, and --break-lock
// breaks it with a warning, deploys, and releases it, on each kind of
// transport (a directory made with MKD on FTP and SFTP, an object on S3).
func TestStaleLockOnServers(t *testing.T) {
	const stale = `{"host": "build-7", "user": "alice", "pid": 4242, "commit": "0123456789abcdef0123456789abcdef01234567", "command": "push", "time": "2020-01-01T00:00:00Z"}`
	for name, start := range lockTargets() {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			g, _ := initedRepo(t, srv)

			lock := filepath.Join(srv.Root, ".gftp.lock")
			if name == "versitygw" {
				// Through S3, which keeps an object's metadata beside
				// the file.
				r, err := openS3(t, srv.URL, s3Options(srv, nil))
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Put(context.Background(), ".gftp.lock", strings.NewReader(stale), int64(len(stale))); err != nil {
					t.Fatal(err)
				}
				r.Close()
			} else {
				if err := os.Mkdir(lock, 0o755); err != nil {
					t.Fatal(err)
				}
				chownLike(t, srv.Root, lock)
				writeOwned(t, srv.Root, filepath.Join(lock, "holder.json"), stale)
			}
			g.Write("two.txt", []byte("two"))
			head := g.Commit("two")

			r := gftp(t, srv, g.Dir, "push", srv.URL)
			expectFailure(t, r, 7, "locked by alice@build-7", "older than --lock-ttl", "--break-lock")
			if _, err := os.Stat(filepath.Join(srv.Root, "two.txt")); !os.IsNotExist(err) {
				t.Errorf("a push refused by the lock uploaded a file: %v", err)
			}

			r = mustGftp(t, srv, g.Dir, "push", "--break-lock", srv.URL)
			if !strings.Contains(r.stderr, "warning: breaking a stale lock") {
				t.Errorf("--break-lock gave no warning:\n%s", r.stderr)
			}
			checkServed(t, srv, g, head)
			if _, err := os.Stat(lock); !os.IsNotExist(err) {
				t.Errorf("the lock outlived the deploy that broke it: %v", err)
			}
		})
	}
}

func writeOwned(t *testing.T, like, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	chownLike(t, like, path)
}

// TestLockIdentityOnServers: a lock names its holder in its own directory
// (or, on S3, its body). A holder elsewhere refuses the push with exit 7,
// its identity and its age, and the refused push leaves nothing in the
// lock; a holder on this host that no longer runs is broken at once, with
// a warning, on every kind of transport.
func TestLockIdentityOnServers(t *testing.T) {
	host, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true(1)")
	}
	me := deploy.NewLockInfo("push", "")
	for name, start := range lockTargets() {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			g, _ := initedRepo(t, srv)
			put := func(info deploy.LockInfo) {
				t.Helper()
				if name == "versitygw" {
					data, _ := json.Marshal(info)
					r, err := openS3(t, srv.URL, s3Options(srv, nil))
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					if err := r.Put(context.Background(), deploy.LockName, bytes.NewReader(data), int64(len(data))); err != nil {
						t.Fatal(err)
					}
					return
				}
				lock := filepath.Join(srv.Root, deploy.LockName)
				for _, d := range []string{lock, filepath.Join(lock, info.Entry())} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
					chownLike(t, srv.Root, d)
				}
			}
			elsewhere := deploy.LockInfo{Host: "build-7", User: "alice", PID: 4242, Start: 1, Space: "deadbeef", Run: "aaaaaaaa",
				Command: "push", Commit: "0123456789abcdef0123456789abcdef01234567", Time: time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)}
			put(elsewhere)
			g.Write("two.txt", []byte("two"))
			head := g.Commit("two")
			r := gftp(t, srv, g.Dir, "push", srv.URL)
			expectFailure(t, r, 7, "locked by alice@build-7 (pid 4242, gftp push of 0123456)", "the lock is 2h0m", "--break-lock")
			if name != "versitygw" {
				des, _ := os.ReadDir(filepath.Join(srv.Root, deploy.LockName))
				if len(des) != 1 || des[0].Name() != elsewhere.Entry() {
					t.Errorf("the refused push left the lock holding %v", des)
				}
				os.RemoveAll(filepath.Join(srv.Root, deploy.LockName))
			}

			here := me
			here.Host, here.PID, here.Run, here.Time = host, dead.Process.Pid, "bbbbbbbb", time.Now().UTC().Truncate(time.Second)
			put(here)
			r = mustGftp(t, srv, g.Dir, "push", srv.URL)
			if !strings.Contains(r.stderr, "breaking the lock of a deploy on this host that no longer runs") {
				t.Errorf("no warning for the dead holder's lock:\n%s", r.stderr)
			}
			checkServed(t, srv, g, head)
			if _, err := os.Stat(filepath.Join(srv.Root, deploy.LockName)); !os.IsNotExist(err) {
				t.Errorf("lock left: %v", err)
			}
		})
	}
}

// TestLockGoesWithMarker: once a deploy is complete its lock is gone before
// the post-ftp-push hook runs, on every transport. On OpenSSH's sftp-server
// the lock's removal goes out behind the marker's rename in one exchange
// (-vv says so), and the server, handling a session's requests in order,
// moves the marker first.
func TestLockGoesWithMarker(t *testing.T) {
	for name, start := range lockTargets() {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			g, _ := initedRepo(t, srv)
			seen := filepath.Join(t.TempDir(), "seen")
			hook := "#!/bin/sh\nif [ -e '" + filepath.Join(srv.Root, deploy.LockName) + "' ]; then echo held; else echo free; fi > '" + seen + "'\n"
			if err := os.WriteFile(filepath.Join(g.Dir, ".git", "hooks", "post-ftp-push"), []byte(hook), 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				g.Write(fmt.Sprintf("d/f%02d.txt", i), []byte(strings.Repeat("y", i+1)))
			}
			g.Remove("index.html")
			head := g.Commit("two")
			r := mustGftp(t, srv, g.Dir, "push", "-j", "4", "-vv", srv.URL)
			checkServed(t, srv, g, head)
			if _, err := os.Stat(filepath.Join(srv.Root, deploy.LockName)); !os.IsNotExist(err) {
				t.Errorf("the lock was left behind: %v", err)
			}
			if b, err := os.ReadFile(seen); err != nil || string(b) != "free\n" {
				t.Errorf("post-ftp-push found the lock %q (%v), want it gone", b, err)
			}
			combined := strings.Contains(r.stderr, "lock released with the marker's move")
			if want := name == "sshd-password"; combined != want {
				t.Errorf("lock released with the marker's move: %v, want %v\n%s", combined, want, tail(r.stderr, 3000))
			}
		})
	}
}
