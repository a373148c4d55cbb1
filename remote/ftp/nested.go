package ftp

import (
	"context"
	"errors"
	"io/fs"
	"net/textproto"
	"path"

	"github.com/gftp/gftp/remote"
)

// MkdirNested implements remote.NestedDirMaker: the two MKDs go in one
// write, so that a lock names its holder (the inner directory) from the
// instant it exists, at no extra round trip. Servers answer pipelined
// commands in order; when the first MKD fails because dir exists, the
// second still makes sub inside it, and the caller removes it.
func (r *Remote) MkdirNested(ctx context.Context, dir, sub string) (dirErr, subErr error) {
	r.pool.warm()
	inner := path.Join(dir, sub)
	if err := r.checkName("mkdir", dir); err != nil {
		return err, err
	}
	if err := r.checkName("mkdir", inner); err != nil {
		return nil, err
	}
	err := r.with(ctx, func(s *session) error {
		reps, err := s.c.Do("MKD "+r.path(dir), "MKD "+r.path(inner))
		if err != nil {
			s.broken = true
			return classify("MKD", err)
		}
		if reps[0].Code >= 300 {
			dirErr = pathErr("mkdir", dir, s.mkdErr(ctx, dir, reps[0].Err()))
		}
		if reps[1].Code >= 300 {
			subErr = pathErr("mkdir", inner, s.mkdErr(ctx, inner, reps[1].Err()))
		}
		return nil
	})
	if err != nil {
		err = pathErr("mkdir", dir, err)
		return err, err
	}
	return dirErr, subErr
}

// RmdirNested implements remote.NestedDirMaker: RMD of sub and of dir in
// one write. A sub that is already gone is not an error; a dir that is
// gone gives fs.ErrNotExist, as Rmdir does.
func (r *Remote) RmdirNested(ctx context.Context, dir, sub string) error {
	r.pool.warm()
	inner := path.Join(dir, sub)
	if err := r.checkName("rmdir", inner); err != nil {
		return err
	}
	err := r.with(ctx, func(s *session) error {
		reps, err := s.c.Do("RMD "+r.path(inner), "RMD "+r.path(dir))
		if err != nil {
			s.broken = true
			return classify("RMD", err)
		}
		if reps[1].Code < 300 {
			return nil
		}
		rerr := reps[1].Err()
		if _, serr := s.stat(ctx, dir); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, rerr}
		}
		return classify("RMD", rerr)
	})
	return pathErr("rmdir", dir, err)
}

// mkdErr examines a failed MKD: servers answer 550 both for an existing
// name and for a missing parent, so a Stat of each tells them apart.
func (s *session) mkdErr(ctx context.Context, name string, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return classify("MKD", err)
	}
	if _, serr := s.stat(ctx, name); serr == nil {
		return &kindError{fs.ErrExist, err}
	}
	if name != "" {
		if _, serr := s.stat(ctx, remote.Dir(name)); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, err}
		}
	}
	return classify("MKD", err)
}

var _ remote.NestedDirMaker = (*Remote)(nil)
