package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"sync"
	"time"

	"github.com/gftp/gftp/remote"
)

// LockName is the lock's name in the remote root. Where the target has
// directories it is a directory, made with one MKD (or mkdir), which fails
// when it exists, so two deploys cannot both get it. On S3 it is an object
// written with a conditional PUT. Either way it holds the holder's details.
const LockName = ".gftp.lock"

// lockInfoName is the holder's details inside the lock directory.
const lockInfoName = LockName + "/holder.json"

// LockInfo says who holds the lock.
type LockInfo struct {
	Host    string    `json:"host"`
	User    string    `json:"user"`
	PID     int       `json:"pid"`
	Commit  string    `json:"commit"`
	Command string    `json:"command"`
	Time    time.Time `json:"time"`
}

// NewLockInfo describes this process deploying commit.
func NewLockInfo(command, commit string) LockInfo {
	host, _ := os.Hostname()
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return LockInfo{Host: host, User: name, PID: os.Getpid(), Commit: commit, Command: command, Time: time.Now().UTC()}
}

func (i LockInfo) String() string {
	c := i.Commit
	if len(c) > 7 {
		c = c[:7]
	}
	return fmt.Sprintf("%s@%s (pid %d, gftp %s of %s) since %s", i.User, i.Host, i.PID, i.Command, c, i.Time.Format(time.RFC3339))
}

// LockedError says another deploy holds the lock (exit code 7).
type LockedError struct {
	Holder *LockInfo // nil when the lock holds no readable details
	Age    time.Duration
	TTL    time.Duration
}

func (e *LockedError) Error() string {
	who := "another deploy (its details are unreadable)"
	if e.Holder != nil {
		who = e.Holder.String()
	}
	return fmt.Sprintf("the remote is locked by %s", who)
}

// Stale reports whether the lock is older than its TTL.
func (e *LockedError) Stale() bool { return e.Age > e.TTL }

// unknownAge is the age of a lock whose time nobody can tell.
const unknownAge = time.Duration(1<<63 - 1)

// Hint tells how to proceed.
func (e *LockedError) Hint() string {
	if e.Age == unknownAge {
		return "its age is unknown: if no deploy is running, run again with --break-lock"
	}
	if e.Stale() {
		return fmt.Sprintf("the lock is %s old, older than --lock-ttl %s: if that deploy is dead, run again with --break-lock", e.Age.Round(time.Second), e.TTL)
	}
	return fmt.Sprintf("wait for that deploy to finish and run again; if it died, --break-lock breaks the lock once it is older than --lock-ttl %s (it is %s old)", e.TTL, e.Age.Round(time.Second))
}

// Lock is a held remote lock.
type Lock struct {
	r      remote.Remote
	object bool // an S3 object rather than a directory
	// details, for a directory lock, are the holder's, to be written in
	// it by Publish. They go up beside the deploy, which need not wait
	// for them, since the directory alone holds the lock; info ends when
	// they are written (nil: never started).
	details []byte
	once    sync.Once
	info    chan struct{}
	// Created lists the directories (server paths, parents first) made
	// because the remote root was missing (LockOptions.CreateRoot).
	Created []string
}

// LockOptions shape AcquireLock.
type LockOptions struct {
	TTL   time.Duration // a lock older than this may be broken
	Break bool          // break a lock older than TTL
	// Warn receives the message when a stale lock is broken.
	Warn func(msg string)
	// Later holds the holder's details back until Lock.Publish, so that
	// writing them does not take the connection the caller's first reads
	// (the marker's) need.
	Later bool
	// CreateRoot creates the remote root and its missing parents when the
	// lock finds it missing (remote.MkdirRoot), as git-ftp does on a first
	// deploy. An existing root costs nothing more than the lock itself.
	// Without it, a missing root is ErrNoMarker: nothing was deployed there.
	CreateRoot bool
}

// AcquireLock takes the remote lock for info, or fails with *LockedError.
func AcquireLock(ctx context.Context, r remote.Remote, info LockInfo, opts LockOptions) (*Lock, error) {
	var created []string
	for attempt := 0; ; attempt++ {
		l, err := tryLock(ctx, r, info)
		if errors.Is(err, fs.ErrNotExist) && created == nil {
			if !opts.CreateRoot {
				return nil, fmt.Errorf("%w: the remote directory does not exist (%w)", ErrNoMarker, err)
			}
			if created, err = remote.MkdirRoot(ctx, r, false); err != nil {
				return nil, fmt.Errorf("create the remote directory: %w", err)
			}
			created = append([]string{}, created...) // not nil: create once
			l, err = tryLock(ctx, r, info)
		}
		var le *LockedError
		if !errors.As(err, &le) {
			if err == nil {
				l.Created = created
				if !opts.Later {
					l.Publish(ctx)
				}
			}
			return l, err
		}
		le.TTL = opts.TTL
		dead := holderDead(le.Holder)
		if attempt > 0 || !dead && (!opts.Break || !le.Stale()) {
			return nil, le
		}
		if opts.Warn != nil {
			if dead {
				opts.Warn(fmt.Sprintf("breaking the lock of a deploy on this host that no longer runs (pid %d): %s", le.Holder.PID, le.Error()))
			} else {
				opts.Warn(fmt.Sprintf("breaking a stale lock (%s old, --lock-ttl %s): %s", le.Age.Round(time.Second), opts.TTL, le.Error()))
			}
		}
		if err := (&Lock{r: r, object: isObjectLock(r)}).Release(ctx); err != nil {
			return nil, fmt.Errorf("break stale lock: %w", err)
		}
	}
}

func isObjectLock(r remote.Remote) bool {
	_, ok := remote.As[remote.PutIfAbsenter](r)
	return ok
}

func tryLock(ctx context.Context, r remote.Remote, info LockInfo) (*Lock, error) {
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	if p, ok := remote.As[remote.PutIfAbsenter](r); ok {
		err := p.PutIfAbsent(ctx, LockName, bytes.NewReader(data))
		if errors.Is(err, fs.ErrExist) {
			return nil, lockedBy(ctx, r, LockName)
		}
		if err != nil {
			return nil, fmt.Errorf("take lock: %w", err)
		}
		return &Lock{r: r, object: true}, nil
	}
	err = r.Mkdir(ctx, LockName)
	if errors.Is(err, fs.ErrExist) {
		return nil, lockedBy(ctx, r, lockInfoName)
	}
	if err != nil {
		return nil, fmt.Errorf("take lock: %w", err)
	}
	// The directory is the lock. The holder's details follow (Publish):
	// a rival that finds the directory before them waits a moment for
	// them (lockedBy).
	return &Lock{r: r, details: data}, nil
}

// Publish writes the holder's details into a directory lock, in the
// background, once; Release waits for them. After Release it does nothing.
func (l *Lock) Publish(ctx context.Context) {
	l.once.Do(func() {
		if l.details == nil {
			return
		}
		l.info = make(chan struct{})
		go func() {
			defer close(l.info)
			_ = l.r.Put(ctx, lockInfoName, bytes.NewReader(l.details), int64(len(l.details)))
		}()
	})
}

// lockedBy reads the holder's details. A holder writes them a round trip or
// two after making the lock, so a missing file is read again for a moment.
// Without them (a holder that died in between), the lock's own time tells
// its age.
func lockedBy(ctx context.Context, r remote.Remote, name string) error {
	le := &LockedError{}
	for try := 0; try < 6; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
		rc, err := r.Open(ctx, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			break
		}
		var info LockInfo
		data, _ := io.ReadAll(io.LimitReader(rc, 1<<16))
		rc.Close()
		if json.Unmarshal(data, &info) == nil && !info.Time.IsZero() {
			le.Holder = &info
			le.Age = time.Since(info.Time)
			return le
		}
		// Being written (an empty or partial file): look again.
	}
	if fi, err := r.Stat(ctx, LockName); err == nil && !fi.ModTime.IsZero() {
		le.Age = time.Since(fi.ModTime)
	} else {
		le.Age = unknownAge // breakable with --break-lock
	}
	return le
}

// Release removes the lock. It runs on a fresh context, so that a failed or
// interrupted deploy still releases it.
func (l *Lock) Release(context.Context) error {
	l.once.Do(func() {}) // no details from now on
	if l.info != nil {
		<-l.info // or the details could land after their removal
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if l.object {
		err := l.r.Remove(ctx, LockName)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if d, ok := remote.As[remote.DirRemover](l.r); ok {
		// One round trip, where it works; else one step at a time, with
		// l.r's retries.
		err := d.RemoveDir(ctx, LockName, []string{path.Base(lockInfoName)})
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if err := l.r.Remove(ctx, lockInfoName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err := l.r.Rmdir(ctx, LockName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
