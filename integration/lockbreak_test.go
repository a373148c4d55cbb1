package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/remote"
)

// slowBreaker holds a run's delete of the lock (conditional or not) until
// told to go on, so that another run can break the same dead lock and take
// it first.
type slowBreaker struct {
	remote.Remote
	v       remote.VersionRemover
	entered chan struct{}
	proceed chan struct{}
}

func (s *slowBreaker) hold() {
	close(s.entered)
	<-s.proceed
}

func (s *slowBreaker) Remove(ctx context.Context, name string) error {
	s.hold()
	return s.Remote.Remove(ctx, name)
}

func (s *slowBreaker) Unwrap() remote.Remote { return s.Remote }

func (s *slowBreaker) ReadVersion(ctx context.Context, name string, max int64) ([]byte, string, error) {
	return s.v.ReadVersion(ctx, name, max)
}

func (s *slowBreaker) RemoveVersion(ctx context.Context, name, version string) error {
	s.hold()
	return s.v.RemoveVersion(ctx, name, version)
}

// TestS3StaleLockBrokenOnce: two runs break the same stale S3 lock. The
// slower one's delete comes after the faster one has taken the lock anew;
// it must not remove that lock, so that exactly one run holds it.
func TestS3StaleLockBrokenOnce(t *testing.T) {
	srv := servers.StartS3(t)
	ctx := context.Background()
	open := func() remote.Remote {
		r, err := openS3(t, srv.URL+"race", s3Options(srv, nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	stale := `{"host": "build-7", "user": "alice", "pid": 4242, "command": "push", "time": "2020-01-01T00:00:00Z"}`
	ra := open()
	if err := ra.Put(ctx, deploy.LockName, strings.NewReader(stale), int64(len(stale))); err != nil {
		t.Fatal(err)
	}
	rb := open()
	v, ok := remote.As[remote.VersionRemover](rb)
	if !ok {
		t.Fatal("the S3 transport has no VersionRemover")
	}
	slow := &slowBreaker{Remote: rb, v: v, entered: make(chan struct{}), proceed: make(chan struct{})}
	opts := deploy.LockOptions{TTL: time.Hour, Break: true}

	infoB := deploy.NewLockInfo("push", "")
	infoB.Run = "bbbbbbbb"
	type outcome struct {
		l   *deploy.Lock
		err error
	}
	doneB := make(chan outcome, 1)
	go func() {
		l, err := deploy.AcquireLock(ctx, slow, infoB, opts)
		doneB <- outcome{l, err}
	}()
	<-slow.entered // B read the stale lock and is about to delete it

	infoA := deploy.NewLockInfo("push", "")
	infoA.Run = "aaaaaaaa"
	la, err := deploy.AcquireLock(ctx, ra, infoA, opts)
	if err != nil {
		t.Fatalf("the first run could not break the stale lock: %v", err)
	}
	close(slow.proceed)
	b := <-doneB
	if b.err == nil {
		t.Fatal("both runs hold the lock: the slower one's delete removed the lock the other had just taken")
	}
	var le *deploy.LockedError
	if !errors.As(b.err, &le) || le.Holder == nil || le.Holder.Run != infoA.Run {
		t.Errorf("the slower run: %v, want a LockedError naming run %s", b.err, infoA.Run)
	}
	data, _, err := v.ReadVersion(ctx, deploy.LockName, 1<<16)
	if err != nil {
		t.Fatalf("the lock is gone: %v", err)
	}
	var held deploy.LockInfo
	if err := json.Unmarshal(data, &held); err != nil || held.Run != infoA.Run {
		t.Errorf("the lock holds %s, want run %s", data, infoA.Run)
	}
	if err := la.Release(ctx); err != nil {
		t.Error(err)
	}
}
