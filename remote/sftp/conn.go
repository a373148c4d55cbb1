package sftp

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	sftplib "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// idleConn puts an idle deadline on an SSH connection, but only while some
// request is waiting for an answer: SSH reads all the time in the background,
// and an idle connection between requests must not time out. When the server
// says nothing for timeout while a request is outstanding, the read fails and
// the whole connection ends, which fails every waiting request.
type idleConn struct {
	net.Conn
	timeout  time.Duration
	quickAck func() // see quickAcker

	mu   sync.Mutex
	busy int
}

func (c *idleConn) begin() {
	c.mu.Lock()
	c.busy++
	if c.busy == 1 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	c.mu.Unlock()
}

func (c *idleConn) end() {
	c.mu.Lock()
	c.busy--
	if c.busy == 0 {
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.quickAck != nil {
		c.quickAck()
	}
	if n > 0 {
		c.mu.Lock()
		if c.busy > 0 {
			_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// link is one SSH connection and the SFTP sessions opened over it. Each SFTP
// session is its own sftp-server process on an OpenSSH host, which handles
// requests one at a time; a few sessions let disk work overlap.
type link struct {
	ssh         *ssh.Client
	conn        *idleConn
	dead        chan struct{} // closed when the SSH connection ends
	lost        atomic.Bool   // a request saw the connection end
	maxSessions int
	opts        []sftplib.ClientOption
	posixRename bool

	mu       sync.Mutex
	sessions []*session
	opening  int  // sessions being started
	closed   bool // close was called: sessions started late are closed
}

type session struct {
	c      *sftplib.Client
	w      *sessionWriter
	busy   int
	broken bool
}

func (l *link) alive() bool {
	if l.lost.Load() {
		return false
	}
	select {
	case <-l.dead:
		return false
	default:
		return true
	}
}

// acquire returns the least busy session. While every one is busy and the
// cap allows, it starts another in the background, and the caller shares
// a busy one meanwhile: starting a session costs round trips, and the
// requests queued behind it should not wait for them (at 50 ms RTT, seven
// sessions started one after the other cost a second).
func (l *link) acquire() (*session, error) {
	l.mu.Lock()
	var best *session
	for _, s := range l.sessions {
		if !s.broken && (best == nil || s.busy < best.busy) {
			best = s
		}
	}
	if best == nil {
		// Nothing to share: wait for a new session.
		l.opening++
		l.mu.Unlock()
		s, err := l.open()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.opening--
		if err != nil {
			return nil, err
		}
		s.busy++
		return s, nil
	}
	if best.busy > 0 && len(l.sessions)+l.opening < l.maxSessions && !l.closed {
		l.opening++
		go func() {
			s, err := l.open()
			l.mu.Lock()
			defer l.mu.Unlock()
			l.opening--
			if err == nil && l.closed {
				s.c.Close()
			}
		}()
	}
	best.busy++
	l.mu.Unlock()
	return best, nil
}

// open starts a new SFTP session and adds it to the pool. l.mu is not
// held: the handshake takes round trips.
func (l *link) open() (*session, error) {
	l.conn.begin()
	defer l.conn.end()
	s, err := l.start()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if !l.closed {
		l.sessions = append(l.sessions, s)
	}
	l.mu.Unlock()
	return s, nil
}

// start opens a session channel and starts the sftp subsystem on it, as
// pkg/sftp's NewClient does, but with the channel in our hands: its writes
// go through a sessionWriter.
func (l *link) start() (*session, error) {
	ch, reqs, err := l.ssh.OpenChannel("session", nil)
	if err != nil {
		return nil, err
	}
	go ssh.DiscardRequests(reqs) // exit-status and the like
	ok, err := ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"sftp"}))
	if err == nil && !ok {
		err = errors.New("ssh: subsystem request failed")
	}
	if err != nil {
		ch.Close()
		return nil, err
	}
	go func() { _, _ = io.Copy(io.Discard, ch.Stderr()) }()
	w := &sessionWriter{Channel: ch}
	c, err := sftplib.NewClientPipe(ch, w, l.opts...)
	if err != nil {
		ch.Close()
		return nil, err
	}
	return &session{c: c, w: w}, nil
}

// sessionWriter is an SFTP session's channel as pkg/sftp writes to it,
// one request at a time (header, then payload). It tells a waiter when a
// given request has gone out, so that a request can follow it without
// waiting for its answer, yet certainly behind it (see Remote.MkdirNested).
type sessionWriter struct {
	ssh.Channel
	mu    sync.Mutex
	left  int // bytes of the request being written still to come
	cur   []byte
	waits []sentWait
}

type sentWait struct {
	typ  byte
	path string
	done chan struct{}
}

// SFTP request types (draft-ietf-secsh-filexfer-02 section 3).
const (
	fxpMkdir    = 14
	fxpRmdir    = 15
	fxpExtended = 200
)

// sent returns a channel closed once a request of type typ whose first
// field is the string path has been written in full.
func (w *sessionWriter) sent(typ byte, path string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	done := make(chan struct{})
	w.waits = append(w.waits, sentWait{typ, path, done})
	return done
}

// unwait drops a wait whose request will not be written after all.
func (w *sessionWriter) unwait(done <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waits = slices.DeleteFunc(w.waits, func(x sentWait) bool { return x.done == done })
}

func (w *sessionWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.left == 0 && len(p) >= 5 {
		// A request starts: uint32 length, byte type, uint32 id, ...
		w.left = int(binary.BigEndian.Uint32(p)) + 4
		w.cur = w.cur[:0]
		if len(w.waits) > 0 {
			// Only while someone waits: a wait is registered before
			// its request is written, and the rest need no copy.
			w.cur = append(w.cur, p[:min(len(p), 13+4096)]...)
		}
	}
	n, err := w.Channel.Write(p)
	w.left -= n
	if err != nil || w.left < 0 {
		w.left = 0
	}
	if w.left == 0 && len(w.waits) > 0 {
		w.notify()
	}
	return n, err
}

// notify closes the waits that the request just written satisfies.
func (w *sessionWriter) notify() {
	if len(w.cur) < 13 {
		return
	}
	typ := w.cur[4]
	n := int(binary.BigEndian.Uint32(w.cur[9:13]))
	if 13+n > len(w.cur) {
		return
	}
	path := string(w.cur[13 : 13+n])
	keep := w.waits[:0]
	for _, x := range w.waits {
		if x.typ == typ && x.path == path {
			close(x.done)
		} else {
			keep = append(keep, x)
		}
	}
	w.waits = keep
}

// release returns s to the pool; a session whose connection was lost is
// dropped, so that the next acquire opens a fresh one.
func (l *link) release(s *session, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.busy--
	if err != nil && errors.Is(err, sftplib.ErrSSHFxConnectionLost) {
		s.broken = true
	}
	if s.broken && s.busy == 0 {
		for i, x := range l.sessions {
			if x == s {
				l.sessions = append(l.sessions[:i], l.sessions[i+1:]...)
				break
			}
		}
		s.c.Close()
	}
}

// close ends the SSH connection, then the SFTP sessions over it. Closing a
// session first waits a round trip for the server's answer, one session
// after the other: at 50 ms RTT, 8 sessions took 0.45 s of a 3.5 s push.
// Every request has had its answer when close is called, and the server
// ends its sftp-server processes when the connection ends.
func (l *link) close() error {
	l.mu.Lock()
	l.closed = true
	sessions := l.sessions
	l.sessions = nil
	l.mu.Unlock()
	err := l.ssh.Close()
	for _, s := range sessions {
		s.c.Close()
	}
	return err
}
