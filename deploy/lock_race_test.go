package deploy

import (
	"context"
	"errors"
	"io/fs"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// refusedOnce answers the lock's first mkdir as an FTP server does when a
// rival held the lock and released it before the transport's Stat: a
// plain refusal, not fs.ErrExist.
type refusedOnce struct {
	remote.Remote
	n atomic.Int32
}

func (r *refusedOnce) Mkdir(ctx context.Context, name string) error {
	if name == LockName && r.n.Add(1) == 1 {
		return &fs.PathError{Op: "mkdir", Path: name, Err: errors.New(`550 "Create directory operation failed."`)}
	}
	return r.Remote.Mkdir(ctx, name)
}

// TestLockRetriesReleasedRace: a refused lock mkdir while no lock exists
// is tried again, and the lock is taken; a refusal while the lock is there
// is not retried for ever.
func TestLockRetriesReleasedRace(t *testing.T) {
	dir := t.TempDir()
	l, _ := local.New(dir)
	r := &refusedOnce{Remote: l}
	lk, err := AcquireLock(context.Background(), r, NewLockInfo("sync", ""), LockOptions{TTL: time.Hour})
	if err != nil {
		t.Fatalf("lock after a released rival: %v", err)
	}
	if r.n.Load() != 2 {
		t.Errorf("%d lock mkdirs, want 2", r.n.Load())
	}
	if err := lk.Release(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A refusal with the lock in place (a permission problem) is not a
	// race: one error, no loop.
	if err := l.Mkdir(context.Background(), LockName); err != nil {
		t.Fatal(err)
	}
	r = &refusedOnce{Remote: l}
	_, err = AcquireLock(context.Background(), r, NewLockInfo("sync", ""), LockOptions{TTL: time.Hour})
	if err == nil || r.n.Load() != 1 {
		t.Errorf("refused with the lock there: %v after %d mkdirs, want an error after 1", err, r.n.Load())
	}
}
