package sftp

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"runtime"

	sftplib "github.com/pkg/sftp"

	"github.com/gftp/gftp/remote"
)

// MkdirNested implements remote.NestedDirMaker: the two mkdir requests go
// out on one session one right behind the other, the second without
// waiting for the first's reply, so that a lock names its holder from the
// instant it exists, at no extra round trip. OpenSSH's sftp-server handles
// a session's requests in order; should the inner one still leave first
// (and fail, its parent missing), it is sent again after the first.
func (r *Remote) MkdirNested(ctx context.Context, dir, sub string) (dirErr, subErr error) {
	inner := path.Join(dir, sub)
	r.forget(dir, inner)
	names := r.takePreOpen()
	l, err := r.get(ctx)
	if err != nil {
		err = retarget("mkdir", dir, err)
		return err, err
	}
	got := make(chan map[string]*preOpened, 1)
	err = r.runSession(ctx, l, "mkdir", dir, func(s *session) error {
		c := s.c
		var sent <-chan struct{}
		if len(names) > 0 {
			sent = s.w.sent(fxpMkdir, r.path(dir))
		}
		first := make(chan error, 1)
		firstDone := make(chan struct{})
		go func() {
			first <- mkdirOn(c, r.path(dir))
			close(firstDone)
		}()
		var opens map[string]*preOpened
		decided := make(chan struct{})
		if sent == nil {
			close(decided)
		} else {
			// The OPENs (see PreOpen) leave once the MKDIR has.
			go func() {
				defer close(decided)
				select {
				case <-sent:
				case <-firstDone:
					select {
					case <-sent:
					default:
						return // it never left
					}
				}
				opens = r.startOpens(l, s, names)
			}()
		}
		runtime.Gosched() // let the first request leave first
		subErr = mkdirOn(c, r.path(inner))
		dirErr = <-first
		<-decided
		got <- opens
		if dirErr == nil && errors.Is(subErr, fs.ErrNotExist) {
			subErr = mkdirOn(c, r.path(inner))
		}
		return nil
	}, nil)
	if err == nil && dirErr == nil {
		r.keepOpened(<-got)
	} else {
		// Not our lock (or no answer): what was opened behind it is not
		// to be read.
		go func() {
			for _, p := range <-got {
				p.close()
			}
		}()
	}
	if err != nil {
		return err, err
	}
	if dirErr != nil {
		dirErr = &fs.PathError{Op: "mkdir", Path: dir, Err: dirErr}
	}
	if subErr != nil {
		subErr = &fs.PathError{Op: "mkdir", Path: inner, Err: subErr}
	}
	return dirErr, subErr
}

// RmdirNested implements remote.NestedDirMaker the same way: the inner
// directory's removal, then the outer's, sent one behind the other.
func (r *Remote) RmdirNested(ctx context.Context, dir, sub string) error {
	inner := path.Join(dir, sub)
	var innerErr error
	return r.run(ctx, "rmdir", dir, func(c *sftplib.Client) error {
		first := make(chan error, 1)
		go func() { first <- c.RemoveDirectory(r.path(inner)) }()
		runtime.Gosched()
		err := c.RemoveDirectory(r.path(dir))
		innerErr = <-first
		if err != nil && (innerErr == nil || errors.Is(innerErr, fs.ErrNotExist)) {
			// Sent before the inner one's removal: once more.
			err = c.RemoveDirectory(r.path(dir))
		}
		return err
	}, nil)
}

// mkdirOn makes a directory. OpenSSH answers SSH_FX_FAILURE for an existing
// name (SFTP v3 has no "exists" code), so a failure is checked with a Stat.
func mkdirOn(c *sftplib.Client, p string) error {
	err := c.Mkdir(p)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, serr := c.Lstat(p); serr == nil {
		return fs.ErrExist
	}
	return err
}

var _ remote.NestedDirMaker = (*Remote)(nil)
