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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gftp/gftp/remote"
)

// LockName is the lock's name in the remote root. Where the target has
// directories it is a directory, made with one MKD (or mkdir), which fails
// when it exists, so two deploys cannot both get it; a directory inside it
// names the holder (Entry), made in the same exchange where the transport
// can (remote.NestedDirMaker: FTP pipelines the two MKDs). On S3 it is an
// object written with a conditional PUT, whose body names the holder.
const LockName = ".gftp.lock"

// lockInfoName is where older versions wrote the holder's details, inside
// the lock directory, some time after making it.
const lockInfoName = LockName + "/holder.json"

// LockInfo says who holds the lock.
type LockInfo struct {
	Host    string    `json:"host"`
	User    string    `json:"user"`
	PID     int       `json:"pid"`
	Commit  string    `json:"commit"`
	Command string    `json:"command"`
	Time    time.Time `json:"time"`
	// Space names the holder's pid namespace on this boot of its host
	// (Linux): a process in another container or after a reboot is not
	// "on this host" even under the same host name.
	Space string `json:"space,omitempty"`
	// Start is the holder's start time in clock ticks since boot (Linux),
	// so that a pid reused by another process does not pass for the holder.
	Start uint64 `json:"start,omitempty"`
	// Run is the holder's run id, which its temporary files carry.
	Run string `json:"run,omitempty"`
}

// NewLockInfo describes this process deploying commit.
func NewLockInfo(command, commit string) LockInfo {
	host, _ := os.Hostname()
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	space, start := processIdentity()
	return LockInfo{
		Host: clip(host), User: clip(name), PID: os.Getpid(), Commit: commit, Command: command,
		Time: time.Now().UTC().Truncate(time.Second), Space: space, Start: start, Run: remote.RunID(),
	}
}

func (i LockInfo) String() string {
	c := i.Commit
	if len(c) > 7 {
		c = c[:7]
	}
	return fmt.Sprintf("%s@%s (pid %d, gftp %s of %s) since %s", i.User, i.Host, i.PID, i.Command, c, i.Time.Format(time.RFC3339))
}

// entryPrefix starts the name of the directory that names a lock's holder.
const entryPrefix = "holder,"

// Entry is the name of the directory, inside a directory lock, that names
// the holder: key=value pairs, with every byte outside [A-Za-z0-9._@-]
// %-escaped, so that it is a valid name on every server.
func (i LockInfo) Entry() string {
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	kv := [][2]string{
		{"run", i.Run}, {"host", i.Host}, {"pid", strconv.Itoa(i.PID)},
		{"start", strconv.FormatUint(i.Start, 10)}, {"space", i.Space}, {"user", i.User},
		{"cmd", i.Command}, {"commit", c}, {"time", strconv.FormatInt(i.Time.Unix(), 10)},
	}
	var b strings.Builder
	b.WriteString(entryPrefix)
	for n, p := range kv {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p[0] + "=" + escapeEntry(p[1]))
	}
	return b.String()
}

// parseEntry reads a name that Entry wrote.
func parseEntry(name string) (LockInfo, bool) {
	rest, ok := strings.CutPrefix(name, entryPrefix)
	if !ok {
		return LockInfo{}, false
	}
	var i LockInfo
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		v = unescapeEntry(v)
		switch k {
		case "run":
			i.Run = v
		case "host":
			i.Host = v
		case "pid":
			i.PID, _ = strconv.Atoi(v)
		case "start":
			i.Start, _ = strconv.ParseUint(v, 10, 64)
		case "space":
			i.Space = v
		case "user":
			i.User = v
		case "cmd":
			i.Command = v
		case "commit":
			i.Commit = v
		case "time":
			if t, err := strconv.ParseInt(v, 10, 64); err == nil {
				i.Time = time.Unix(t, 0).UTC()
			}
		}
	}
	return i, i.Run != "" && i.PID > 0
}

func entrySafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-'
}

func escapeEntry(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if entrySafe(s[i]) {
			b.WriteByte(s[i])
		} else {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
	}
	return b.String()
}

func unescapeEntry(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// clip shortens a host or user name so that, escaped, it takes at most 40
// bytes of an Entry (names are at most 255 bytes on most servers).
func clip(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		w := 1
		if !entrySafe(s[i]) {
			w = 3
		}
		if n+w > 40 {
			return s[:i]
		}
		n += w
	}
	return s
}

// lockRace is a refused lock mkdir while the lock was released: tried again.
type lockRace struct{ err error }

func (e *lockRace) Error() string { return e.err.Error() }

// LockedError says another deploy holds the lock (exit code 7).
type LockedError struct {
	Holder *LockInfo // nil when the lock holds no readable details
	Age    time.Duration
	TTL    time.Duration

	holders []LockInfo // every holder named in the lock (a rival's, for a moment, besides)
	entries []string   // what the lock directory held, to remove when it is broken
	version string     // the S3 lock object's version when read (remote.VersionRemover)
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

// dead reports whether every holder the lock names ran on this host and no
// longer runs. A lock that names nobody (a bare directory) is not dead.
func (e *LockedError) dead() bool {
	if len(e.holders) == 0 {
		return false
	}
	for i := range e.holders {
		if !holderDead(&e.holders[i]) {
			return false
		}
	}
	return true
}

// Lock is a held remote lock.
type Lock struct {
	r      remote.Remote
	object bool   // an S3 object rather than a directory
	entry  string // the directory inside a directory lock that names us

	mu       sync.Mutex
	released bool // by Release, or with the marker's move (moveAndRelease)

	// Broken is the holder whose lock this one replaced (a dead deploy on
	// this host, or a stale lock with --break-lock), nil when the lock was
	// free. That deploy may have left temporary files and a journal.
	Broken *LockInfo
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
	// CreateRoot creates the remote root and its missing parents when the
	// lock finds it missing (remote.MkdirRoot), as git-ftp does on a first
	// deploy. An existing root costs nothing more than the lock itself.
	// Without it, a missing root is ErrNoMarker: nothing was deployed there.
	CreateRoot bool
	// Read names the files the caller reads once it holds the lock (the
	// marker, the journal). A transport that can (remote.PreOpener) opens
	// them in the lock's own exchange, after the lock is made.
	Read []string
}

// AcquireLock takes the remote lock for info, or fails with *LockedError.
// A lock whose holders all ran on this host and no longer run is broken at
// once, with a warning; so is one older than the TTL, with opts.Break.
func AcquireLock(ctx context.Context, r remote.Remote, info LockInfo, opts LockOptions) (*Lock, error) {
	var created []string
	var broken *LockInfo
	races := 0
	if p, ok := remote.As[remote.PreOpener](r); ok && len(opts.Read) > 0 {
		p.PreOpen(opts.Read...)
	}
	for attempt := 0; ; attempt++ {
		l, err := tryLock(ctx, r, info)
		var race *lockRace
		for errors.As(err, &race) && races < 5 {
			races++
			time.Sleep(time.Duration(races) * 50 * time.Millisecond)
			l, err = tryLock(ctx, r, info)
		}
		if errors.As(err, &race) {
			err = fmt.Errorf("take lock: %w", race.err)
		}
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
				l.Broken = broken
			}
			return l, err
		}
		le.TTL = opts.TTL
		dead := le.dead()
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
		broken = le.Holder
		if broken == nil {
			broken = &LockInfo{}
		}
		if err := breakLock(ctx, r, le); err != nil {
			return nil, fmt.Errorf("break stale lock: %w", err)
		}
	}
}

func isObjectLock(r remote.Remote) bool {
	_, ok := remote.As[remote.PutIfAbsenter](r)
	return ok
}

func tryLock(ctx context.Context, r remote.Remote, info LockInfo) (*Lock, error) {
	if p, ok := remote.As[remote.PutIfAbsenter](r); ok {
		data, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return nil, err
		}
		err = p.PutIfAbsent(ctx, LockName, bytes.NewReader(append(data, '\n')))
		if errors.Is(err, fs.ErrExist) {
			return nil, objectLockedBy(ctx, r)
		}
		if err != nil {
			if ctx.Err() != nil {
				undoObjectLock(ctx, r, info.Run)
			}
			return nil, fmt.Errorf("take lock: %w", err)
		}
		return &Lock{r: r, object: true}, nil
	}
	entry := info.Entry()
	var lockErr, entryErr error
	if n, ok := remote.As[remote.NestedDirMaker](r); ok {
		lockErr, entryErr = n.MkdirNested(ctx, LockName, entry)
	} else if lockErr = r.Mkdir(ctx, LockName); lockErr == nil {
		entryErr = r.Mkdir(ctx, path.Join(LockName, entry))
	}
	switch {
	case errors.Is(lockErr, fs.ErrExist):
		if entryErr == nil {
			// Made inside the holder's lock, in the same exchange:
			// take it back before reading who holds it.
			_ = r.Rmdir(ctx, path.Join(LockName, entry))
		}
		return nil, dirLockedBy(ctx, r, entry)
	case lockErr != nil:
		if ctx.Err() != nil {
			// Interrupted: the server may have made the lock anyway.
			undoLock(ctx, r, entry)
		} else if !errors.Is(lockErr, fs.ErrNotExist) {
			// A server that cannot say "exists" in its reply (FTP 550)
			// leaves the transport to check with a Stat; a holder that
			// released the lock in between makes the refusal look like
			// any other. When the lock is gone now, try again.
			if _, serr := r.Stat(ctx, LockName); errors.Is(serr, fs.ErrNotExist) {
				return nil, &lockRace{lockErr}
			}
		}
		return nil, fmt.Errorf("take lock: %w", lockErr)
	case entryErr != nil && ctx.Err() != nil:
		undoLock(ctx, r, entry)
		return nil, fmt.Errorf("take lock: %w", entryErr)
	case entryErr != nil:
		// The lock is ours, but bare: say who we are once more.
		if err := r.Mkdir(ctx, path.Join(LockName, entry)); err != nil && !errors.Is(err, fs.ErrExist) {
			_ = r.Rmdir(context.WithoutCancel(ctx), LockName)
			return nil, fmt.Errorf("take lock: %w", err)
		}
	}
	return &Lock{r: r, entry: entry}, nil
}

// undoLock removes what an interrupted tryLock may have made: our name in
// the lock, then the lock, which a Rmdir removes only when empty, so never
// another deploy's.
func undoLock(ctx context.Context, r remote.Remote, entry string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	// Twice: an interrupted request may still reach the server (an SFTP
	// one goes on in the background) after the first pass.
	for pass := 0; pass < 2; pass++ {
		if pass > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		_ = r.Rmdir(ctx, path.Join(LockName, entry))
		_ = r.Rmdir(ctx, LockName)
	}
}

// undoObjectLock removes an S3 lock that an interrupted conditional PUT may
// have written, when it is ours (its run id).
func undoObjectLock(ctx context.Context, r remote.Remote, run string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	data, version, err := readLockObject(ctx, r)
	if err != nil {
		return
	}
	var info LockInfo
	if json.Unmarshal(data, &info) == nil && info.Run == run {
		_ = breakObjectLock(ctx, r, &LockedError{version: version})
	}
}

// objectLockedBy reads an S3 lock's holder from its body; the object's
// time tells the age when the body does not.
func objectLockedBy(ctx context.Context, r remote.Remote) error {
	le := &LockedError{Age: unknownAge}
	if data, version, err := readLockObject(ctx, r); err == nil {
		le.version = version
		var info LockInfo
		if json.Unmarshal(data, &info) == nil && info.PID > 0 {
			le.Holder = &info
			le.holders = []LockInfo{info}
		}
	}
	if le.Holder != nil && !le.Holder.Time.IsZero() {
		le.Age = time.Since(le.Holder.Time)
	} else if fi, err := r.Stat(ctx, LockName); err == nil && !fi.ModTime.IsZero() {
		le.Age = time.Since(fi.ModTime)
	}
	return le
}

// dirLockedBy reads a directory lock's holder from the directory inside it
// (own, ours, is left out). A lock of an older version names its holder in
// holder.json instead, written a round trip or two after the lock: a bare
// lock is looked at again for a moment. Without either (a holder that died
// in between), the lock's own time tells its age.
func dirLockedBy(ctx context.Context, r remote.Remote, own string) error {
	le := &LockedError{Age: unknownAge}
	for try := 0; try < 6; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
		list, err := r.List(ctx, LockName)
		if errors.Is(err, fs.ErrNotExist) {
			return le // released meanwhile: the caller tries once more only when breaking
		}
		if err != nil {
			break
		}
		le.entries, le.holders = nil, nil
		oldFormat := false
		for _, fi := range list {
			if fi.Name == own {
				continue
			}
			le.entries = append(le.entries, fi.Name)
			if info, ok := parseEntry(fi.Name); ok {
				if info.Time.IsZero() {
					info.Time = fi.ModTime
				}
				le.holders = append(le.holders, info)
			} else if fi.Name == path.Base(lockInfoName) {
				oldFormat = true
			}
		}
		if len(le.holders) > 1 && try == 0 {
			// A rival's name, made in our holder's lock in the same
			// exchange as its own failed MKD, goes a moment later.
			continue
		}
		if len(le.holders) > 0 {
			// The oldest is the holder; the others are rivals of a moment.
			first := 0
			for i := range le.holders {
				if le.holders[i].Time.Before(le.holders[first].Time) {
					first = i
				}
			}
			h := le.holders[first]
			le.Holder = &h
			if !h.Time.IsZero() {
				le.Age = time.Since(h.Time)
			}
			return le
		}
		if oldFormat {
			if info, ok := readHolderJSON(ctx, r); ok {
				le.Holder = &info
				le.holders = []LockInfo{info}
				le.Age = time.Since(info.Time)
				return le
			}
		}
		// Bare: an older version's lock before its holder.json, or a
		// holder that died before naming itself.
	}
	le.Age = lockAge(ctx, r)
	return le
}

func readHolderJSON(ctx context.Context, r remote.Remote) (LockInfo, bool) {
	var info LockInfo
	rc, err := r.Open(ctx, lockInfoName)
	if err != nil {
		return info, false
	}
	data, _ := io.ReadAll(io.LimitReader(rc, 1<<16))
	rc.Close()
	return info, json.Unmarshal(data, &info) == nil && !info.Time.IsZero()
}

// lockAge is the age of a bare lock directory by the server's clock: from
// a Stat, or, where a Stat of a directory gives no time (vsftpd), from the
// listing of the root.
func lockAge(ctx context.Context, r remote.Remote) time.Duration {
	if fi, err := r.Stat(ctx, LockName); err == nil && !fi.ModTime.IsZero() {
		return time.Since(fi.ModTime)
	}
	list, err := r.List(ctx, "")
	if err != nil {
		return unknownAge
	}
	if i := slices.IndexFunc(list, func(fi remote.FileInfo) bool { return fi.Name == LockName }); i >= 0 && !list[i].ModTime.IsZero() {
		return time.Since(list[i].ModTime)
	}
	return unknownAge
}

// breakLock removes a lock that le described: what it held when read, then
// the lock itself. A rival that broke it first and took it anew has put its
// own name inside, which this does not remove, so the lock's removal then
// fails and the retry reports the new holder.
func breakLock(ctx context.Context, r remote.Remote, le *LockedError) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if isObjectLock(r) {
		return breakObjectLock(ctx, r, le)
	}
	for _, e := range le.entries {
		name := path.Join(LockName, e)
		if _, ok := parseEntry(e); ok {
			_ = r.Rmdir(ctx, name)
		} else {
			_ = r.Remove(ctx, name)
		}
	}
	if err := r.Rmdir(ctx, LockName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if _, serr := r.List(ctx, LockName); serr == nil {
			return nil // not empty: taken anew; the retry says by whom
		}
		return err
	}
	return nil
}

// readLockObject reads an S3 lock, with its version where the transport
// tells versions apart.
func readLockObject(ctx context.Context, r remote.Remote) ([]byte, string, error) {
	if v, ok := remote.As[remote.VersionRemover](r); ok {
		return v.ReadVersion(ctx, LockName, 1<<16)
	}
	rc, err := r.Open(ctx, LockName)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	return data, "", err
}

// breakObjectLock deletes the S3 lock le read, and only that one: two runs
// that break the same dead lock at once would otherwise both hold it, when
// the slower one's delete removes the lock the faster one took meanwhile.
// The conditional delete then fails, and the retry reports the new holder.
func breakObjectLock(ctx context.Context, r remote.Remote, le *LockedError) error {
	if v, ok := remote.As[remote.VersionRemover](r); ok && le.version != "" {
		err := v.RemoveVersion(ctx, LockName, le.version)
		if errors.Is(err, remote.ErrChanged) {
			return nil // taken anew; the retry says by whom
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return ignoreMissing(err)
		}
	}
	return ignoreMissing(r.Remove(ctx, LockName))
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Release removes the lock. It runs on a fresh context, so that a failed or
// interrupted deploy still releases it. A lock already released does
// nothing.
func (l *Lock) Release(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if l.object {
		err := ignoreMissing(l.r.Remove(ctx, LockName))
		l.released = err == nil
		return err
	}
	if n, ok := remote.As[remote.NestedDirMaker](l.r); ok {
		// One round trip, where it works.
		err := n.RmdirNested(ctx, LockName, l.entry)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			l.released = true
			return nil
		}
	} else if err := l.r.Rmdir(ctx, path.Join(LockName, l.entry)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err := l.emptied(ctx)
	l.released = err == nil
	return err
}

// moveAndRelease renames from over to and releases the lock in one round
// trip, where the transport can (remote.RenameRmdirer): a deploy's marker
// move and the end of its lock. The lock goes whatever becomes of the
// rename, as Release would after a failed one. handled is false when
// nothing was sent: the caller renames, and Release releases, as usual.
func (l *Lock) moveAndRelease(ctx context.Context, from, to string) (handled bool, err error) {
	if l == nil || l.object {
		return false, nil
	}
	rr, ok := remote.As[remote.RenameRmdirer](l.r)
	if !ok {
		return false, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return false, nil
	}
	sent, renameErr, rmdirErr := rr.RenameRmdirNested(ctx, from, to, LockName, l.entry)
	if !sent {
		return false, nil
	}
	if rmdirErr == nil || errors.Is(rmdirErr, fs.ErrNotExist) {
		l.released = true
	} else if renameErr == nil {
		// Our name is gone, the lock is not: see emptied.
		l.released = l.emptied(ctx) == nil
	}
	return true, renameErr
}

// isReleased reports whether the lock is gone.
func (l *Lock) isReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released
}

// emptied removes the lock directory once our name in it is gone, when a
// removal sent with our name's failed. It was not empty: a rival's name,
// made there in the same exchange as its failed MKD, which it removes a
// moment later; or one a rival left when it died right then, which we
// remove.
func (l *Lock) emptied(ctx context.Context) error {
	var err error
	for try := 0; try < 4; try++ {
		if try > 0 {
			time.Sleep(150 * time.Millisecond)
		}
		if err = ignoreMissing(l.r.Rmdir(ctx, LockName)); err == nil {
			return nil
		}
		if try >= 1 {
			list, lerr := l.r.List(ctx, LockName)
			if lerr != nil {
				continue
			}
			for _, fi := range list {
				if _, ok := parseEntry(fi.Name); ok {
					_ = l.r.Rmdir(ctx, path.Join(LockName, fi.Name))
				}
			}
		}
	}
	return err
}
