package ftp

import (
	"context"
	"errors"
	"io/fs"
	"net/textproto"
	"path"
	"strings"

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
	if strings.ContainsAny(r.path(inner), "\r\n") {
		if dirErr = r.Mkdir(ctx, dir); dirErr != nil && !errors.Is(dirErr, fs.ErrExist) {
			return dirErr, dirErr
		}
		return dirErr, r.Mkdir(ctx, inner)
	}
	err := r.with(ctx, func(s *session) error {
		if !s.settled() {
			// One at a time, through the library.
			if err := s.sc.MakeDir(r.path(dir)); err != nil {
				dirErr = pathErr("mkdir", dir, s.mkdErr(dir, err))
			}
			if err := s.sc.MakeDir(r.path(inner)); err != nil {
				subErr = pathErr("mkdir", inner, s.mkdErr(inner, err))
			}
			return nil
		}
		if err := s.send("MKD "+r.path(dir), "MKD "+r.path(inner)); err != nil {
			s.broken = true
			return classify("MKD", err)
		}
		var codes [2]int
		var msgs [2]string
		for i := range codes {
			code, msg, err := s.reply()
			if err != nil {
				s.broken = true
				return classify("MKD", err)
			}
			codes[i], msgs[i] = code, msg
		}
		if codes[0] >= 300 {
			dirErr = pathErr("mkdir", dir, s.mkdErr(dir, &textproto.Error{Code: codes[0], Msg: msgs[0]}))
		}
		if codes[1] >= 300 {
			subErr = pathErr("mkdir", inner, s.mkdErr(inner, &textproto.Error{Code: codes[1], Msg: msgs[1]}))
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
	if strings.ContainsAny(r.path(inner), "\r\n") {
		if err := r.Rmdir(ctx, inner); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return r.Rmdir(ctx, dir)
	}
	err := r.with(ctx, func(s *session) error {
		if !s.settled() {
			return &kindError{remote.ErrTemporary, errors.New("control connection out of step")}
		}
		if err := s.send("RMD "+r.path(inner), "RMD "+r.path(dir)); err != nil {
			s.broken = true
			return classify("RMD", err)
		}
		var code int
		var msg string
		for range 2 {
			var err error
			if code, msg, err = s.reply(); err != nil {
				s.broken = true
				return classify("RMD", err)
			}
		}
		if code < 300 {
			return nil
		}
		rerr := &textproto.Error{Code: code, Msg: msg}
		if _, serr := s.stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, rerr}
		}
		return classify("RMD", rerr)
	})
	return pathErr("rmdir", dir, err)
}

// mkdErr examines a failed MKD: servers answer 550 both for an existing
// name and for a missing parent, so a Stat of each tells them apart.
func (s *session) mkdErr(name string, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return classify("MKD", err)
	}
	if _, serr := s.stat(name); serr == nil {
		return &kindError{fs.ErrExist, err}
	}
	if name != "" {
		if _, serr := s.stat(remote.Dir(name)); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, err}
		}
	}
	return classify("MKD", err)
}

var _ remote.NestedDirMaker = (*Remote)(nil)
