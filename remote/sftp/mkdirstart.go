package sftp

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sync"

	sftplib "github.com/pkg/sftp"

	"github.com/gftp/gftp/remote"
)

var _ remote.DirStarter = (*Remote)(nil)

// pendingDir is a directory whose MKDIR has gone out on s and is not
// answered yet (MkdirStart).
type pendingDir struct {
	l    *link
	s    *session
	done chan struct{} // closed once the MKDIR is answered
}

// MkdirStart implements remote.DirStarter: it returns once the MKDIR has
// been written to a session, and until its answer is in, what names a
// file or directory inside goes out on that same session, behind it.
// OpenSSH's sftp-server handles one session's requests in order, so an
// upload into a new directory needs not wait a round trip for it.
func (r *Remote) MkdirStart(ctx context.Context, name string) <-chan error {
	res := make(chan error, 1)
	r.forget(name)
	l, err := r.get(ctx)
	if err != nil {
		res <- retarget("mkdir", name, err)
		return res
	}
	started := make(chan struct{})
	var once sync.Once
	start := func() { once.Do(func() { close(started) }) }
	go func() {
		res <- r.runSession(ctx, l, "mkdir", name, func(s *session) error {
			sent := s.w.sent(fxpMkdir, r.path(name))
			pd := &pendingDir{l: l, s: s, done: make(chan struct{})}
			r.setPendingDir(name, pd)
			defer close(pd.done)
			defer r.setPendingDir(name, nil)
			errc := make(chan error, 1)
			go func() { errc <- mkdirOn(s.c, r.path(name)) }()
			select {
			case <-sent:
				start()
				return <-errc
			case err := <-errc:
				start()
				return err
			}
		}, nil)
		start()
	}()
	<-started
	return res
}

// setPendingDir records pd as name's MKDIR under way, or with nil, that it
// was answered.
func (r *Remote) setPendingDir(name string, pd *pendingDir) {
	r.preMu.Lock()
	defer r.preMu.Unlock()
	if pd == nil {
		delete(r.dirs, name)
		return
	}
	if r.dirs == nil {
		r.dirs = map[string]*pendingDir{}
	}
	r.dirs[name] = pd
}

// sessionFor returns the session for a request on name: the one its
// directory's MKDIR went out on while that is under way, or any.
func (r *Remote) sessionFor(l *link, name string) (*session, error) {
	r.preMu.Lock()
	pd := r.dirs[path.Dir(name)]
	r.preMu.Unlock()
	if pd != nil && pd.l == l {
		l.mu.Lock()
		defer l.mu.Unlock()
		if !pd.s.broken {
			pd.s.busy++
			return pd.s, nil
		}
	}
	return l.acquire()
}

// pendingDirOf returns the MKDIR under way for dir, or nil.
func (r *Remote) pendingDirOf(dir string) *pendingDir {
	r.preMu.Lock()
	defer r.preMu.Unlock()
	return r.dirs[dir]
}

// openBehindMkdir opens name for writing. When it went out behind its
// directory's MKDIR (MkdirStart) and the server says the directory is not
// there, the server did not keep the session's order (OpenSSH's does; the
// SFTP drafts promise order only for requests on one file): it is opened
// again once the MKDIR is answered.
func (r *Remote) openBehindMkdir(c *sftplib.Client, name string, flags int) (*sftplib.File, error) {
	pd := r.pendingDirOf(path.Dir(name))
	f, err := c.OpenFile(r.path(name), flags)
	if err != nil && pd != nil && errors.Is(err, fs.ErrNotExist) {
		<-pd.done
		f, err = c.OpenFile(r.path(name), flags)
	}
	return f, err
}
