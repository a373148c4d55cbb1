package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/remote/local"
)

func holdLock(t *testing.T, dir string, info deploy.LockInfo) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, deploy.LockName), 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(info)
	if err := os.WriteFile(filepath.Join(dir, deploy.LockName, "holder.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLockOfDeadHolderOnThisHost(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, _ := local.New(dir)
	// A process that certainly no longer runs.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	host, _ := os.Hostname()
	holdLock(t, dir, deploy.LockInfo{Host: host, User: "x", PID: cmd.Process.Pid, Command: "push", Time: time.Now().UTC()})
	var warned []string
	l, err := deploy.AcquireLock(ctx, r, deploy.NewLockInfo("push", "abc"), deploy.LockOptions{TTL: time.Hour, Warn: func(m string) { warned = append(warned, m) }})
	if err != nil {
		t.Fatalf("the lock of a dead holder on this host was not broken: %v", err)
	}
	defer l.Release(ctx)
	if len(warned) != 1 || !strings.Contains(warned[0], "no longer runs") {
		t.Errorf("warnings = %q", warned)
	}
}

func TestLockOfLiveOrRemoteHolderHolds(t *testing.T) {
	ctx := context.Background()
	host, _ := os.Hostname()
	for name, info := range map[string]deploy.LockInfo{
		"live here":      {Host: host, PID: os.Getppid(), Command: "push", Time: time.Now().UTC()},
		"dead elsewhere": {Host: host + "-other", PID: 999999, Command: "push", Time: time.Now().UTC()},
	} {
		dir := t.TempDir()
		r, _ := local.New(dir)
		holdLock(t, dir, info)
		_, err := deploy.AcquireLock(ctx, r, deploy.NewLockInfo("push", "abc"), deploy.LockOptions{TTL: time.Hour, Break: true})
		var le *deploy.LockedError
		if !errors.As(err, &le) {
			t.Errorf("%s: err = %v, want LockedError (a fresh lock is not broken, even with --break-lock)", name, err)
		}
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	return cmd.Process.Pid
}

func lockEntries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, deploy.LockName))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// The lock names its holder from the instant it exists: a rival reads
// who, and leaves nothing of its own in the lock.
func TestLockNamesHolderFromTheStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, _ := local.New(dir)
	me := deploy.NewLockInfo("push", "0123456789abcdef0123456789abcdef01234567")
	l, err := deploy.AcquireLock(ctx, r, me, deploy.LockOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := lockEntries(t, dir); len(got) != 1 || got[0] != me.Entry() {
		t.Fatalf("lock holds %q, want only %q", got, me.Entry())
	}
	rival := me
	rival.Run, rival.Command = "ffffffff", "init"
	_, err = deploy.AcquireLock(ctx, r, rival, deploy.LockOptions{TTL: time.Hour, Break: true})
	var le *deploy.LockedError
	if !errors.As(err, &le) || le.Holder == nil {
		t.Fatalf("err = %v, want a LockedError naming the holder", err)
	}
	if le.Holder.PID != os.Getpid() || le.Holder.Run != me.Run || le.Holder.Command != "push" || le.Holder.Commit != "0123456789ab" {
		t.Errorf("holder = %+v", *le.Holder)
	}
	if !strings.Contains(le.Error(), "gftp push of 0123456") {
		t.Errorf("message %q does not say what the holder deploys", le.Error())
	}
	if got := lockEntries(t, dir); len(got) != 1 {
		t.Errorf("the rival left its name in the lock: %q", got)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, deploy.LockName)); !os.IsNotExist(err) {
		t.Errorf("lock not released: %v", err)
	}
}

func TestLockEntryRoundTrip(t *testing.T) {
	in := deploy.NewLockInfo("publish-dumb", "0123456789abcdef0123456789abcdef01234567")
	in.Host, in.User = "ci runner/7,a=b%", "Zoë"
	dir := t.TempDir()
	r, _ := local.New(dir)
	if err := os.MkdirAll(filepath.Join(dir, deploy.LockName, in.Entry()), 0o755); err != nil {
		t.Fatalf("entry %q is not a valid name: %v", in.Entry(), err)
	}
	_, err := deploy.AcquireLock(context.Background(), r, deploy.NewLockInfo("push", "abc"), deploy.LockOptions{TTL: time.Hour})
	var le *deploy.LockedError
	if !errors.As(err, &le) || le.Holder == nil {
		t.Fatalf("err = %v", err)
	}
	want := in
	want.Commit = in.Commit[:12]
	if *le.Holder != want {
		t.Errorf("read back %+v\nwant %+v", *le.Holder, want)
	}
}

// A dead holder on this host is told at once from the lock's name, and its
// lock broken with a warning; a holder in another pid namespace or on
// another host is not.
func TestLockEntryOfDeadHolder(t *testing.T) {
	ctx := context.Background()
	me := deploy.NewLockInfo("push", "abc")
	dead := me
	dead.Run, dead.PID = "dead0000", deadPID(t)
	otherNS := dead
	otherNS.Space = "00000000"
	if me.Space == "" {
		otherNS.Host += "-elsewhere"
	}
	reused := me // our own pid, but another start time: pid reuse
	reused.Run, reused.Start = "reused00", me.Start+1
	for name, tc := range map[string]struct {
		holder deploy.LockInfo
		broken bool
	}{
		"dead here":        {dead, true},
		"other namespace":  {otherNS, false},
		"pid reused":       {reused, me.Start != 0},
		"live, other host": {deploy.LockInfo{Host: "elsewhere", PID: 1, Run: "aaaaaaaa", Time: time.Now()}, false},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r, _ := local.New(dir)
			if err := os.MkdirAll(filepath.Join(dir, deploy.LockName, tc.holder.Entry()), 0o755); err != nil {
				t.Fatal(err)
			}
			var warned []string
			l, err := deploy.AcquireLock(ctx, r, me, deploy.LockOptions{TTL: time.Hour, Warn: func(m string) { warned = append(warned, m) }})
			if !tc.broken {
				var le *deploy.LockedError
				if !errors.As(err, &le) {
					t.Fatalf("err = %v, want LockedError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("not broken: %v", err)
			}
			defer l.Release(ctx)
			if l.Broken == nil || l.Broken.Run != tc.holder.Run {
				t.Errorf("Broken = %+v", l.Broken)
			}
			if len(warned) != 1 || !strings.Contains(warned[0], "no longer runs") {
				t.Errorf("warnings = %q", warned)
			}
			if got := lockEntries(t, dir); len(got) != 1 || got[0] != me.Entry() {
				t.Errorf("lock holds %q", got)
			}
		})
	}
}

// A bare lock (an older version's before its holder.json, or a holder
// killed before naming itself) is judged by the directory's time.
func TestBareLockAge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, _ := local.New(dir)
	lock := filepath.Join(dir, deploy.LockName)
	if err := os.Mkdir(lock, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-3 * time.Hour)
	os.Chtimes(lock, old, old)
	_, err := deploy.AcquireLock(ctx, r, deploy.NewLockInfo("push", "abc"), deploy.LockOptions{TTL: time.Hour})
	var le *deploy.LockedError
	if !errors.As(err, &le) || !le.Stale() || le.Age < 2*time.Hour || le.Age > 4*time.Hour {
		t.Fatalf("err = %v (age %v), want a stale LockedError about 3h old", err, le.Age)
	}
	l, err := deploy.AcquireLock(ctx, r, deploy.NewLockInfo("push", "abc"), deploy.LockOptions{TTL: time.Hour, Break: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Broken == nil {
		t.Error("Broken not set after breaking a stale lock")
	}
	l.Release(ctx)
}

// A rival's name left in the lock (a rival killed between its failed MKD
// and the removal of its name) does not keep the holder from releasing it.
func TestReleaseWithRivalsNameInside(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, _ := local.New(dir)
	l, err := deploy.AcquireLock(ctx, r, deploy.NewLockInfo("push", "abc"), deploy.LockOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rival := deploy.NewLockInfo("push", "def")
	rival.Run = "rival000"
	os.Mkdir(filepath.Join(dir, deploy.LockName, rival.Entry()), 0o755)
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, deploy.LockName)); !os.IsNotExist(err) {
		t.Errorf("lock not released: %v", err)
	}
}
