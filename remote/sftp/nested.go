package sftp

import (
	"context"
	"errors"
	"io/fs"
	"path"

	sftplib "github.com/pkg/sftp"

	"github.com/gftp/gftp/remote"
)

// MkdirNested implements remote.NestedDirMaker: the two mkdir requests go
// out on one session, the inner one once the outer one has been written,
// without waiting for its reply, so that a lock names its holder from the
// instant it exists, at no extra round trip. OpenSSH's sftp-server handles
// a session's requests in order.
func (r *Remote) MkdirNested(ctx context.Context, dir, sub string) (dirErr, subErr error) {
	inner := path.Join(dir, sub)
	r.forget(dir, inner)
	names := r.takePreOpen()
	l, err := r.get(ctx)
	if err != nil {
		err = retarget("mkdir", dir, err)
		return err, err
	}
	type result struct {
		dirErr, subErr error
		opens          map[string]*preOpened
	}
	got := make(chan result, 1)
	err = r.runSession(ctx, l, "mkdir", dir, func(s *session) error {
		c := s.c
		first, left := sendFirst(s, fxpMkdir, r.path(dir), func() error { return mkdirOn(c, r.path(dir)) })
		var res result
		if left && len(names) > 0 {
			// The OPENs (see PreOpen) go behind the MKDIR too.
			res.opens = r.startOpens(l, s, names)
		}
		res.subErr = mkdirOn(c, r.path(inner))
		res.dirErr = <-first
		got <- res
		return nil
	}, nil)
	if err != nil {
		// Cancelled or no session: fn may still run; what it opens
		// behind the lock is closed unread.
		go func() {
			for _, p := range (<-got).opens {
				p.close()
			}
		}()
		return err, err
	}
	res := <-got
	if res.dirErr != nil {
		// Not our lock: what was opened behind it is not to be read.
		go func() {
			for _, p := range res.opens {
				p.close()
			}
		}()
		dirErr = &fs.PathError{Op: "mkdir", Path: dir, Err: res.dirErr}
	} else {
		r.keepOpened(res.opens)
	}
	if res.subErr != nil {
		subErr = &fs.PathError{Op: "mkdir", Path: inner, Err: res.subErr}
	}
	return dirErr, subErr
}

// sendFirst starts do, which sends the request that typ and path name
// (see sessionWriter.sent) on s, and returns once that request has been
// written in full, so that a request sent on s next is handled after it
// (OpenSSH's sftp-server handles a session's requests in order). When do
// ends without it having been written (the connection is gone), left is
// false. The channel gets do's result.
func sendFirst(s *session, typ byte, path string, do func() error) (res <-chan error, left bool) {
	out := s.w.sent(typ, path)
	ch := make(chan error, 1)
	go func() { ch <- do() }()
	select {
	case <-out:
		return ch, true
	case err := <-ch:
		ch <- err
		select {
		case <-out:
			return ch, true
		default:
			s.w.unwait(out)
			return ch, false
		}
	}
}

// RmdirNested implements remote.NestedDirMaker the same way: the inner
// directory's removal, then, once it has gone out, the outer's.
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

// rmdirNestedOn removes inner, then dir, on s. When dir is not empty after
// all (a rival's name inside), the caller sees its error (see deploy).
func (r *Remote) rmdirNestedOn(s *session, dir, inner string) error {
	c := s.c
	first, _ := sendFirst(s, fxpRmdir, r.path(inner), func() error { return c.RemoveDirectory(r.path(inner)) })
	err := c.RemoveDirectory(r.path(dir))
	<-first // a missing inner directory is no error; the outer one's says the rest
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
		first, _ := sendFirst(s, fxpExtended, posixRenameExt, func() error { return c.PosixRename(r.path(from), r.path(to)) })
		// Had the rename not gone out, the connection is gone, and the
		// removals fail as well.
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
