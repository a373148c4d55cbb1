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
