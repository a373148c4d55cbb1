package sftp

import (
	"github.com/gftp/gftp/remote"
)

var _ remote.PreOpener = (*Remote)(nil)

// preOpened is a file opened right behind the lock's MKDIR (PreOpen). It
// holds its session until Open hands it on.
type preOpened struct {
	l    *link
	s    *session
	done chan struct{}
	o    opened
	err  error
}

// head waits for the open and reads the file's head (see openHead).
func (p *preOpened) head() (head, error) {
	<-p.done
	if p.err != nil {
		return head{}, p.err
	}
	return readHead(p.o)
}

// close gives the file and its session back, unread.
func (p *preOpened) close() {
	<-p.done
	if p.err == nil {
		_ = p.o.f.Close()
	}
	p.l.release(p.s, p.err)
}

// PreOpen implements remote.PreOpener: the next MkdirNested sends an OPEN
// and a STAT of each name on its session once its first MKDIR has gone
// out, without waiting for that MKDIR's answer, and Open then only reads.
// The marker and the journal are read so, in the lock's round trip.
// OpenSSH's sftp-server handles one session's requests one at a time, in
// the order they come, so the files are opened once the lock is made, and
// the content read is what the lock protects: a marker replaced by a
// rename before the lock was ours would leave the handle on the old file.
// When the lock is not made, the files are closed unread.
func (r *Remote) PreOpen(names ...string) {
	r.preMu.Lock()
	defer r.preMu.Unlock()
	r.preOpen = append(r.preOpen, names...)
}

// startOpens opens names on s, for Open (takeOpened). l.mu is not held.
func (r *Remote) startOpens(l *link, s *session, names []string) map[string]*preOpened {
	l.mu.Lock()
	s.busy += len(names)
	l.mu.Unlock()
	out := make(map[string]*preOpened, len(names))
	for _, n := range names {
		p := &preOpened{l: l, s: s, done: make(chan struct{})}
		out[n] = p
		l.conn.begin()
		go func() {
			defer close(p.done)
			p.o, p.err = openStat(s.c, r.path(n))
			l.conn.end()
		}()
	}
	return out
}

// keepOpened makes files opened behind the lock available to Open.
func (r *Remote) keepOpened(m map[string]*preOpened) {
	r.preMu.Lock()
	defer r.preMu.Unlock()
	if r.opened == nil {
		r.opened = map[string]*preOpened{}
	}
	for n, p := range m {
		if old := r.opened[n]; old != nil {
			go old.close()
		}
		r.opened[n] = p
	}
}

// takeOpened returns the file opened behind the lock for name, once.
func (r *Remote) takeOpened(name string) *preOpened {
	r.preMu.Lock()
	defer r.preMu.Unlock()
	p := r.opened[name]
	delete(r.opened, name)
	return p
}

// takePreOpen returns the names PreOpen was given, once.
func (r *Remote) takePreOpen() []string {
	r.preMu.Lock()
	defer r.preMu.Unlock()
	names := r.preOpen
	r.preOpen = nil
	return names
}

// dropOpened closes the files opened behind the lock that nobody read.
func (r *Remote) dropOpened() {
	r.preMu.Lock()
	m := r.opened
	r.opened = nil
	r.preOpen = nil
	r.preMu.Unlock()
	for _, p := range m {
		go p.close()
	}
}
