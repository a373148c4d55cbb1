// Package retry is a remote.Remote decorator that retries transient
// failures (errors wrapping remote.ErrTemporary: dropped connections, FTP
// 421/425/426/450/451, timeouts, S3 5xx and throttling) with exponential
// backoff and jitter. Permanent failures (login, permission, bad name,
// storage full) are returned at once.
//
// It sits outermost, so each attempt goes through the logging and the
// transport's pool, which replaces a broken connection with a fresh one.
package retry

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gftp/gftp/remote"
)

// Policy says how often and how patiently to retry.
type Policy struct {
	Retries int           // attempts after the first (0: none)
	Base    time.Duration // first backoff; doubled each time
	Max     time.Duration // backoff cap
	Logger  *slog.Logger  // Info line per retry (-v); nil discards
}

// DefaultPolicy is --retries 3.
var DefaultPolicy = Policy{Retries: 3, Base: 500 * time.Millisecond, Max: 8 * time.Second}

// Retryable reports whether err is worth another attempt.
func Retryable(err error) bool {
	return errors.Is(err, remote.ErrTemporary) &&
		!errors.Is(err, remote.ErrAuth) && !errors.Is(err, remote.ErrStorageFull) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Do runs fn until it succeeds, fails permanently, the retries are spent or
// ctx ends. op and name describe the call for the log.
func (p Policy) Do(ctx context.Context, op, name string, fn func() error) error {
	err := fn()
	for attempt := 1; attempt <= p.Retries && err != nil && Retryable(err) && ctx.Err() == nil; attempt++ {
		wait := p.backoff(attempt)
		if p.Logger != nil {
			p.Logger.Info("retrying", "op", op, "path", name, "attempt", attempt, "of", p.Retries, "after", wait.Round(time.Millisecond), "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = fn()
	}
	return err
}

// backoff is Base·2^(attempt-1), capped at Max, with full jitter in its
// upper half so that parallel workers do not retry in lockstep.
func (p Policy) backoff(attempt int) time.Duration {
	d := p.Base << (attempt - 1)
	if d > p.Max || d <= 0 {
		d = p.Max
	}
	half := d / 2
	return half + rand.N(half+1)
}

// Remote retries the calls of the Remote it embeds.
type Remote struct {
	remote.Remote
	Policy Policy
}

var (
	_ remote.Remote       = (*Remote)(nil)
	_ remote.AtomicPutter = (*Remote)(nil)
)

// New wraps r.
func New(r remote.Remote, p Policy) *Remote { return &Remote{Remote: r, Policy: p} }

// Stat implements remote.Remote.
func (r *Remote) Stat(ctx context.Context, name string) (fi remote.FileInfo, err error) {
	err = r.Policy.Do(ctx, "stat", name, func() error {
		fi, err = r.Remote.Stat(ctx, name)
		return err
	})
	return fi, err
}

// Open implements remote.Remote. Only opening is retried; a read that fails
// later surfaces to the caller.
func (r *Remote) Open(ctx context.Context, name string) (rc io.ReadCloser, err error) {
	err = r.Policy.Do(ctx, "open", name, func() error {
		rc, err = r.Remote.Open(ctx, name)
		return err
	})
	return rc, err
}

// Put implements remote.Remote. A reader cannot be replayed unless it can
// seek back to where it started; otherwise Put is tried once, and a caller
// that wants retries hands over a reader that can seek (the deploy executor
// reopens the blob).
func (r *Remote) Put(ctx context.Context, name string, src io.Reader, size int64) error {
	return r.replay(ctx, "put", name, src, func() error {
		return r.Remote.Put(ctx, name, src, size)
	})
}

// PutAtomic implements remote.AtomicPutter. It retries the whole atomic
// write as one unit, on the Remote it wraps: the transport's own way, or
// the upload of a temporary name and its rename. So this decorator is the
// one layer that retries, and a rename never runs its own retries inside a
// retried upload. Like Put, it replays only a reader that can seek.
func (r *Remote) PutAtomic(ctx context.Context, name string, src io.Reader, size int64) error {
	return r.replay(ctx, "put", name, src, func() error {
		if a, ok := remote.As[remote.AtomicPutter](r.Remote); ok {
			return a.PutAtomic(ctx, name, src, size)
		}
		return remote.PutViaTemp(ctx, r.Remote, name, src, size)
	})
}

// PutIsAtomic implements remote.AtomicPutter for the transport it wraps.
func (r *Remote) PutIsAtomic() bool {
	a, ok := remote.As[remote.AtomicPutter](r.Remote)
	return ok && a.PutIsAtomic()
}

// replay runs put under the policy, seeking src back to where it started
// before each new attempt; a src that cannot seek gets one attempt.
func (r *Remote) replay(ctx context.Context, op, name string, src io.Reader, put func() error) error {
	seeker, ok := src.(io.Seeker)
	if !ok {
		return put()
	}
	start, err := seeker.Seek(0, io.SeekCurrent)
	if err != nil {
		return put()
	}
	first := true
	return r.Policy.Do(ctx, op, name, func() error {
		if !first {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return err
			}
		}
		first = false
		return put()
	})
}

// Rename implements remote.Remote. When an attempt's reply was lost after
// the server had renamed, the retry finds the source gone and the target
// there: that is success.
func (r *Remote) Rename(ctx context.Context, from, to string) error {
	first := true
	return r.Policy.Do(ctx, "rename", to, func() error {
		err := r.Remote.Rename(ctx, from, to)
		if err != nil && !first && errors.Is(err, fs.ErrNotExist) {
			if _, serr := r.Remote.Stat(ctx, from); errors.Is(serr, fs.ErrNotExist) {
				if _, terr := r.Remote.Stat(ctx, to); terr == nil {
					return nil
				}
			}
		}
		first = false
		return err
	})
}

// Remove implements remote.Remote; a retry that finds the file gone succeeded.
func (r *Remote) Remove(ctx context.Context, name string) error {
	first := true
	return r.Policy.Do(ctx, "remove", name, func() error {
		err := r.Remote.Remove(ctx, name)
		if err != nil && !first && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		first = false
		return err
	})
}

// Mkdir implements remote.Remote; a retry that finds the directory there
// succeeded.
func (r *Remote) Mkdir(ctx context.Context, name string) error {
	first := true
	return r.Policy.Do(ctx, "mkdir", name, func() error {
		err := r.Remote.Mkdir(ctx, name)
		if err != nil && !first && errors.Is(err, fs.ErrExist) {
			return nil
		}
		first = false
		return err
	})
}

// Rmdir implements remote.Remote.
func (r *Remote) Rmdir(ctx context.Context, name string) error {
	first := true
	return r.Policy.Do(ctx, "rmdir", name, func() error {
		err := r.Remote.Rmdir(ctx, name)
		if err != nil && !first && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		first = false
		return err
	})
}

// List implements remote.Remote.
func (r *Remote) List(ctx context.Context, name string) (list []remote.FileInfo, err error) {
	err = r.Policy.Do(ctx, "list", name, func() error {
		list, err = r.Remote.List(ctx, name)
		return err
	})
	return list, err
}

// Unwrap implements remote.Wrapper.
func (r *Remote) Unwrap() remote.Remote { return r.Remote }
