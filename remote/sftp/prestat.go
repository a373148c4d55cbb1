package sftp

import (
	"context"
	"errors"
	"io/fs"
	"os"

	sftplib "github.com/pkg/sftp"

	"github.com/gftp/gftp/remote"
)

// prestat is an LSTAT sent ahead of a Remove (PrepareRemove).
type prestat struct {
	done chan struct{}
	fi   os.FileInfo
	err  error
}

var _ remote.RemovePreparer = (*Remote)(nil)

// PrepareRemove implements remote.RemovePreparer: the LSTATs that Remove
// needs before its REMOVE (see Remove) go out now, up to InFlight at a
// time, beside the uploads, and Remove then sends its REMOVE alone. A
// deploy holds the lock, and a name written in between is checked again
// (forget), so only another program could turn a checked file into a
// directory meanwhile, as it could between an LSTAT and a REMOVE sent one
// round trip apart.
func (r *Remote) PrepareRemove(ctx context.Context, names []string) {
	type job struct {
		name string
		p    *prestat
	}
	var jobs []job
	r.preMu.Lock()
	if r.pre == nil {
		r.pre = map[string]*prestat{}
	}
	for _, n := range names {
		if _, ok := r.pre[n]; ok {
			continue
		}
		p := &prestat{done: make(chan struct{})}
		r.pre[n] = p
		jobs = append(jobs, job{n, p})
	}
	r.preMu.Unlock()
	if len(jobs) == 0 {
		return
	}
	sem := make(chan struct{}, r.InFlight())
	go func() {
		for _, j := range jobs {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				defer close(j.p.done)
				j.p.err = r.run(ctx, "stat", j.name, func(c *sftplib.Client) error {
					var err error
					j.p.fi, err = c.Lstat(r.path(j.name))
					return err
				}, nil)
			}()
		}
	}()
}

// prestated returns what PrepareRemove found for name, once: a regular
// file (or anything but a directory), a directory, or a name that is not
// there. ok is false when there is nothing to go by: no check was
// prepared, it failed otherwise, or ctx ended first.
func (r *Remote) prestated(ctx context.Context, name string) (fi os.FileInfo, err error, ok bool) {
	r.preMu.Lock()
	p := r.pre[name]
	delete(r.pre, name)
	r.preMu.Unlock()
	if p == nil {
		return nil, nil, false
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, nil, false
	}
	switch {
	case p.err == nil:
		return p.fi, nil, true
	case errors.Is(p.err, fs.ErrNotExist):
		return nil, p.err, true
	}
	return nil, nil, false
}

// forget drops what PrepareRemove found for names this Remote writes.
// A file opened behind the lock (PreOpen) and not read yet is closed too:
// a later Open must read what was written, not the file the handle holds.
func (r *Remote) forget(names ...string) {
	r.preMu.Lock()
	defer r.preMu.Unlock()
	for _, n := range names {
		delete(r.pre, n)
		if p := r.opened[n]; p != nil {
			delete(r.opened, n)
			go p.close()
		}
	}
}
