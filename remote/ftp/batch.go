package ftp

import (
	"context"
	"errors"
	"io/fs"
	"net/textproto"
	"path"
	"sync"

	"github.com/gftp/gftp/remote"
)

// deleChunk is how many DELE commands go out in one write: enough to cost
// one round trip for the deletes of a typical push, few enough that no
// server's command buffer overflows.
const deleChunk = 32

// RemoveAll implements remote.BatchRemover: the DELE commands go out
// pipelined, a chunk per write, so that a push's deletes cost one round
// trip instead of one per file and connection. Servers answer pipelined
// commands in order. A name that does not exist is not an error.
func (r *Remote) RemoveAll(ctx context.Context, names []string) error {
	r.pool.warm()
	errs := make([]error, len(names))
	// One connection per deleChunk names, up to the pool's size.
	k := min(r.pool.limit(), (len(names)+deleChunk-1)/deleChunk)
	var wg sync.WaitGroup
	for part := 0; part < k; part++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var idx []int
			for i := part; i < len(names); i += k {
				idx = append(idx, i)
			}
			err := r.with(ctx, func(s *session) error {
				s.deleteAll(ctx, names, idx, errs)
				return nil
			})
			if err != nil {
				for _, i := range idx {
					if errs[i] == nil {
						errs[i] = err
					}
				}
			}
		}()
	}
	wg.Wait()
	var out []error
	for i, err := range errs {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			out = append(out, pathErr("remove", names[i], err))
		}
	}
	return errors.Join(out...)
}

// deleteAll deletes names[i] for each i in idx, recording each failure in
// errs[i]. It pipelines what it can and falls back to one command at a
// time where it cannot.
func (s *session) deleteAll(ctx context.Context, names []string, idx []int, errs []error) {
	r := s.r
	fail := func(a, b []int, err error) {
		for _, i := range a {
			errs[i] = err
		}
		for _, i := range b {
			errs[i] = err
		}
	}
	var pipe []int
	for _, i := range idx {
		if err := r.checkName("remove", names[i]); err != nil {
			errs[i] = err
			continue
		}
		pipe = append(pipe, i)
	}
	for len(pipe) > 0 {
		chunk := pipe[:min(deleChunk, len(pipe))]
		pipe = pipe[len(chunk):]
		cmds := make([]string, len(chunk))
		for j, i := range chunk {
			cmds[j] = "DELE " + r.path(names[i])
		}
		reps, err := s.c.Do(cmds...)
		if err != nil {
			s.broken = true
			fail(chunk[len(reps):], pipe, classify("DELE", err))
			for j, rep := range reps {
				errs[chunk[j]] = classify("DELE", rep.Err())
			}
			return
		}
		for j, i := range chunk {
			errs[i] = classify("DELE", reps[j].Err())
		}
	}
	for _, i := range idx {
		errs[i] = s.deleErr(ctx, names[i], errs[i])
	}
}

// deleErr checks a DELE's 550 that classify took for a missing file: servers
// answer 550 also for a directory, or a file they may not remove, and a
// file that is still there was not deleted.
func (s *session) deleErr(ctx context.Context, name string, err error) error {
	var te *textproto.Error
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &te) || s.broken {
		return err
	}
	if _, serr := s.stat(ctx, name); serr == nil {
		return te
	}
	return err
}

// RemoveDir implements remote.DirRemover: DELE of each file and RMD of the
// directory go in one write, so that taking a lock down (its holder's
// details, then its directory) costs one round trip instead of two. Nothing
// is lost by not waiting: when a DELE fails, the RMD fails too, since the
// directory is not empty.
func (r *Remote) RemoveDir(ctx context.Context, dir string, files []string) error {
	r.pool.warm()
	if err := r.checkName("rmdir", dir); err != nil {
		return err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = path.Join(dir, f)
		if err := r.checkName("remove", names[i]); err != nil {
			return err
		}
	}
	if len(files) > deleChunk {
		if err := r.RemoveAll(ctx, names); err != nil {
			return err
		}
		return r.Rmdir(ctx, dir)
	}
	err := r.with(ctx, func(s *session) error {
		cmds := make([]string, 0, len(names)+1)
		for _, n := range names {
			cmds = append(cmds, "DELE "+r.path(n))
		}
		cmds = append(cmds, "RMD "+r.path(dir))
		reps, err := s.c.Do(cmds...)
		if err != nil {
			s.broken = true
			return classify("DELE", err)
		}
		var first error // the first DELE that failed but for a missing file
		for _, rep := range reps[:len(names)] {
			if rep.Code >= 300 && rep.Code != 550 && first == nil {
				first = classify("DELE", rep.Err())
			}
		}
		rep := reps[len(names)]
		if rep.Code < 300 {
			return nil
		}
		rerr := rep.Err()
		if _, serr := s.stat(ctx, dir); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, rerr}
		}
		if first != nil {
			return first
		}
		return classify("RMD", rerr)
	})
	return pathErr("rmdir", dir, err)
}

var (
	_ remote.BatchRemover = (*Remote)(nil)
	_ remote.DirRemover   = (*Remote)(nil)
)
