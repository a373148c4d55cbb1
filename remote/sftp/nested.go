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
// directory's removal, then, once it has gone out, the outer's, on one
// session, without waiting for the first's answer.
func (r *Remote) RmdirNested(ctx context.Context, dir, sub string) error {
	inner := path.Join(dir, sub)
	r.forget(dir, inner)
	l, err := r.get(ctx)
	if err != nil {
		return retarget("rmdir", dir, err)
	}
	return r.runSession(ctx, l, "rmdir", dir, func(s *session) error {
		return r.rmdirNestedOn(s, dir, inner)
	}, nil)
}

func (r *Remote) rmdirNestedOn(s *session, dir, inner string) error {
	c := s.c
	out := s.w.sent(fxpRmdir, r.path(inner))
	first := make(chan error, 1)
	go func() { first <- c.RemoveDirectory(r.path(inner)) }()
	select {
	case <-out:
	case err := <-first:
		first <- err // answered, or it never went out
	}
	err := c.RemoveDirectory(r.path(dir))
	innerErr := <-first
	if err != nil && (innerErr == nil || errors.Is(innerErr, fs.ErrNotExist)) {
		// Our name is gone now, whatever the server saw before: once
		// more (a rival's name may still be there; see deploy).
		err = c.RemoveDirectory(r.path(dir))
	}
	return err
}

// posixRenameExt is OpenSSH's rename over an existing file, an
// SSH_FXP_EXTENDED request whose first field is this name.
const posixRenameExt = "posix-rename@openssh.com"

// RenameRmdirNested implements remote.RenameRmdirer: the POSIX rename
// goes out, and once it has, RmdirNested's two removals follow on the same
// session without waiting for its answer. OpenSSH's sftp-server handles a
// session's requests in order, so the lock goes only once the marker has
// moved. Without posix-rename (Rename's fallback takes more than one
// request), nothing is sent. The wait for the rename to go out knows it by
// the extension's name alone: no other rename may be under way on this
// Remote meanwhile (a deploy's marker moves once its uploads are done).
func (r *Remote) RenameRmdirNested(ctx context.Context, from, to, dir, sub string) (sent bool, renameErr, rmdirErr error) {
	l, err := r.get(ctx)
	if err != nil || !l.posixRename {
		return false, nil, nil // the caller's own Rename reports the error
	}
	inner := path.Join(dir, sub)
	r.forget(from, to, dir, inner)
	var rnErr, rmErr error // fn's, read only once it has ended
	err = r.runSession(ctx, l, "rename", to, func(s *session) error {
		c := s.c
		out := s.w.sent(fxpExtended, posixRenameExt)
		first := make(chan error, 1)
		go func() { first <- c.PosixRename(r.path(from), r.path(to)) }()
		select {
		case <-out:
		case err := <-first:
			// Answered, so it went out; or it never could, and the
			// connection is gone: the removals then fail as well.
			first <- err
		}
		rmErr = wrapErr("rmdir", dir, l, r.rmdirNestedOn(s, dir, inner))
		rnErr = wrapErr("rename", to, l, <-first)
		return nil
	}, nil)
	if err != nil {
		// Cancelled while under way (fn may still run, and its results
		// are not to be read), or no session: what went out is not
		// known, so it counts as sent and failed.
		return true, err, err
	}
	return true, rnErr, rmErr
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

var (
	_ remote.NestedDirMaker = (*Remote)(nil)
	_ remote.RenameRmdirer  = (*Remote)(nil)
)
