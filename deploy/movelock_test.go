package deploy_test

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// moveLocker gives a local directory remote.RenameRmdirer, as the SFTP
// transport has it: the rename, then the lock's two removals, in that
// order and whatever the rename's outcome.
type moveLocker struct {
	remote.Remote
	calls      atomic.Int32
	rmdirs     atomic.Int32 // Rmdir calls of their own
	failRename error
}

func (m *moveLocker) RenameRmdirNested(ctx context.Context, from, to, dir, sub string) (bool, error, error) {
	m.calls.Add(1)
	renameErr := m.failRename
	if renameErr == nil {
		renameErr = m.Remote.Rename(ctx, from, to)
	}
	_ = m.Remote.Rmdir(ctx, path.Join(dir, sub))
	return true, renameErr, m.Remote.Rmdir(ctx, dir)
}

func (m *moveLocker) Rmdir(ctx context.Context, name string) error {
	m.rmdirs.Add(1)
	return m.Remote.Rmdir(ctx, name)
}

// TestMarkerMoveReleasesLock: where the transport can, the marker's move
// releases the lock in the same exchange (the lock is gone when Run
// returns, and Release then sends nothing); not when a dead run's files
// are being swept, which belongs under the lock; and a failed move still
// releases it, leaves the marker where it was, and writes no journal
// outside the lock.
func TestMarkerMoveReleasesLock(t *testing.T) {
	ctx := context.Background()
	g := gittest.New(t)
	g.Write("a.txt", []byte("a"))
	first := g.Commit("one")
	g.Write("b.txt", []byte("b"))
	g.Write("dir/c.txt", []byte("c"))
	head := g.Commit("two")
	repo, err := deploy.OpenRepo(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		leftovers bool
		fail      error
		combined  bool
	}{
		{name: "moved with the marker", combined: true},
		{name: "sweeping a dead run's files", leftovers: true},
		{name: "move fails", fail: errors.New("permission denied"), combined: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, deploy.DefaultMarker), []byte(first+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			lr, err := local.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			r := &moveLocker{Remote: lr, failRename: tc.fail}
			l, err := deploy.AcquireLock(ctx, r, deploy.NewLockInfo("push", head), deploy.LockOptions{TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			from, _ := repo.Resolve(first)
			to, _ := repo.Resolve("HEAD")
			plan, err := deploy.NewPlan(ctx, repo, from.Hash, to, deploy.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ex := &deploy.Executor{Remote: r, Repo: repo, Jobs: 4, Lock: l, Leftovers: tc.leftovers}
			_, runErr := ex.Run(ctx, plan)
			if got := r.calls.Load() == 1; got != tc.combined {
				t.Fatalf("RenameRmdirNested called %d times; want the combined move %v", r.calls.Load(), tc.combined)
			}
			_, lockErr := os.Stat(filepath.Join(dir, deploy.LockName))
			if tc.combined && !os.IsNotExist(lockErr) {
				t.Errorf("the lock is still there after the combined move: %v", lockErr)
			}
			if !tc.combined && lockErr != nil {
				t.Errorf("the lock went before Release: %v", lockErr)
			}
			rmdirs := r.rmdirs.Load()
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, deploy.LockName)); !os.IsNotExist(err) {
				t.Errorf("the lock is still there after Release: %v", err)
			}
			if tc.combined && r.rmdirs.Load() != rmdirs {
				t.Errorf("Release of a lock released with the marker sent %d Rmdir", r.rmdirs.Load()-rmdirs)
			}
			m, _ := os.ReadFile(filepath.Join(dir, deploy.DefaultMarker))
			if tc.fail != nil {
				var fe *deploy.FailedError
				if !errors.As(runErr, &fe) || len(fe.Failures) != 1 || !errors.Is(fe.Failures[0].Err, tc.fail) {
					t.Errorf("Run: %v, want the rename's error", runErr)
				}
				if string(m) != first+"\n" {
					t.Errorf("marker %q after a failed move, want %s", m, first)
				}
				if _, err := os.Stat(filepath.Join(dir, deploy.JournalName)); !os.IsNotExist(err) {
					t.Errorf("a journal was written after the lock went: %v", err)
				}
			} else {
				if runErr != nil {
					t.Fatal(runErr)
				}
				if string(m) != head+"\n" {
					t.Errorf("marker %q, want %s", m, head)
				}
			}
			for n := range gittest.Files(t, dir) {
				if strings.Contains(n, ".gftp-tmp-") {
					t.Errorf("temporary file %s left", n)
				}
			}
		})
	}
}
