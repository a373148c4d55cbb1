// Package sftp is the transport for sftp://user@host[:port]/path targets.
//
// Paths are absolute, or relative to the login directory when they start with
// "~/" (sftp://host/~/www, as in git-ftp); a URL with no path at all means the
// login directory. Host keys are checked against known_hosts the way
// OpenSSH's StrictHostKeyChecking does (accept-new on request); credentials
// are tried in order: --key, the password, the agent's keys, the default
// ~/.ssh keys.
//
// One SSH connection carries up to Options.Jobs SFTP sessions (at most 8).
// The deploy keeps Options.InFlight files in flight over them (64 by
// default, remote.Concurrency): pkg/sftp's client is safe for concurrent
// use and sends each request without waiting for the others' answers, so
// the opens, writes, closes and renames of many files share each round
// trip, and a large file keeps up to 64 writes of 32 KiB in flight. An
// in-flight file holds one 32 KiB buffer, whatever its size.
package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sftplib "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/gftp/gftp/internal/proxy"
	"github.com/gftp/gftp/remote"
)

func init() {
	remote.Register(func(ctx context.Context, u *url.URL, opts remote.Options) (remote.Remote, error) {
		return New(ctx, u, opts)
	}, "sftp")
}

// maxSessions caps the SFTP sessions per connection; OpenSSH's sshd allows
// 10 per connection by default (MaxSessions).
const maxSessions = 8

// Remote is a directory tree on an SFTP server.
type Remote struct {
	addr     string // host:port
	user     string
	password string
	rawPath  string // the URL's path, before the home directory is resolved
	root     string // absolute directory on the server
	opts     remote.Options
	log      *slog.Logger
	hk       *hostKeys
	keys     *keyFiles

	handshake atomic.Pointer[idleConn] // the connection being set up

	preMu   sync.Mutex
	pre     map[string]*prestat    // LSTATs sent ahead of Remove (PrepareRemove)
	preOpen []string               // names to open behind the next MkdirNested (PreOpen)
	opened  map[string]*preOpened  // files opened behind it, not read yet
	dirs    map[string]*pendingDir // MKDIRs under way (MkdirStart)

	mu     sync.Mutex
	link   *link
	closed bool
}

var (
	_ remote.Remote      = (*Remote)(nil)
	_ remote.Concurrency = (*Remote)(nil)
)

// InFlight implements remote.Concurrency: Options.InFlight, or
// remote.DefaultInFlight.
func (r *Remote) InFlight() int {
	if r.opts.InFlight > 0 {
		return r.opts.InFlight
	}
	return remote.DefaultInFlight
}

// MaxProcs implements remote.ProcsLimiter: one CPU, as for FTP and S3.
// The requests of many files share one SSH connection: small writes and
// reads, and goroutines woken for each answer, which a second CPU only
// spins up for and puts back to sleep. On the 2,000-file init against
// OpenSSH on loopback, in 8 runs alternating with two CPUs, one CPU took
// gftp's CPU from 0.26 s to 0.22 s and its wall time from 0.34 s to
// 0.30 s; a 1 GiB file among 63 others (TestSFTPMemoryInFlight) took as
// long either way: one CPU encrypts far more than a deploy's link carries.
func (r *Remote) MaxProcs() int { return 1 }

// New connects to the server u names, authenticates, and checks that an
// SFTP session starts. Errors wrap remote.ErrAuth, ErrHostKeyUnknown,
// ErrHostKeyChanged (as a *HostKeyError) or remote.ErrTemporary.
func New(ctx context.Context, u *url.URL, opts remote.Options) (*Remote, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Jobs < 1 {
		opts.Jobs = 1
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	r := &Remote{
		addr:     net.JoinHostPort(u.Hostname(), port),
		user:     opts.User,
		password: opts.Password,
		rawPath:  u.Path,
		opts:     opts,
		log:      opts.Logger,
	}
	if u.User != nil {
		if r.user == "" {
			r.user = u.User.Username()
		}
		if pw, ok := u.User.Password(); ok && r.password == "" {
			r.password = pw
		}
	}
	if r.user == "" {
		// As ssh(1) does: the local user name.
		if cur, err := user.Current(); err == nil {
			r.user = cur.Username
		}
	}
	opts.KeyFile = expandHome(opts.KeyFile)
	opts.KnownHosts = expandHome(opts.KnownHosts)
	r.opts = opts
	hk, err := newHostKeys(opts.KnownHosts, opts.AcceptNewHostKey, opts.Insecure)
	if err != nil {
		return nil, &fs.PathError{Op: "connect", Path: r.addr, Err: err}
	}
	hk.onWarn = func(msg string, args ...any) { r.log.Warn(msg, args...) }
	r.hk = hk
	if ask := opts.KeyPassphrase; ask != nil {
		// A passphrase prompt during a handshake waits for a person, not
		// the server: lift the idle deadline meanwhile.
		opts.KeyPassphrase = func() ([]byte, error) {
			if ic := r.handshake.Load(); ic != nil {
				ic.end()
				defer ic.begin()
			}
			return ask()
		}
	}
	if r.keys, err = loadKeyFiles(opts); err != nil {
		return nil, &fs.PathError{Op: "connect", Path: r.addr, Err: err}
	}

	l, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.resolveRoot(ctx, l); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// resolveRoot turns the URL's path into an absolute directory: "/~/x" and
// "/~" are relative to the login directory, which the server names.
func (r *Remote) resolveRoot(ctx context.Context, l *link) error {
	p := r.rawPath
	var rel string
	switch {
	case p == "":
		rel = "."
	case p == "/~" || p == "/~/":
		rel = "."
	case strings.HasPrefix(p, "/~/"):
		rel = strings.TrimPrefix(p, "/~/")
	default:
		r.root = path.Clean(p)
		return nil
	}
	var home string
	err := r.runOn(ctx, l, "connect", r.rawPath, func(c *sftplib.Client) error {
		var err error
		home, err = c.RealPath(".")
		return err
	}, nil)
	if err != nil {
		return err
	}
	r.root = path.Join(home, rel)
	r.log.Debug("sftp root", "home", home, "root", r.root)
	return nil
}

// expandHome expands a leading "~/" in a file name, as ssh(1) does for -i
// and UserKnownHostsFile.
func expandHome(file string) string {
	if rest, ok := strings.CutPrefix(file, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return file
}

// Root returns the absolute directory on the server that names are
// relative to.
func (r *Remote) Root() string { return r.root }

func (r *Remote) path(name string) string { return path.Join(r.root, name) }

// get returns a live connection, dialling (again) when there is none: after
// a dropped connection the next call reconnects, so a retry can succeed.
func (r *Remote) get(ctx context.Context) (*link, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, &fs.PathError{Op: "connect", Path: r.addr, Err: fs.ErrClosed}
	}
	if r.link != nil && r.link.alive() {
		return r.link, nil
	}
	if r.link != nil {
		r.log.Info("ssh connection lost; reconnecting", "addr", r.addr)
		r.link.close()
		r.link = nil
	}
	l, err := r.dial(ctx)
	if err != nil {
		return nil, &fs.PathError{Op: "connect", Path: r.addr, Err: err}
	}
	r.link = l
	return l, nil
}

func (r *Remote) dial(ctx context.Context) (*link, error) {
	d, err := proxy.Dialer(r.opts.Proxy, &net.Dialer{Timeout: r.opts.Timeout})
	if err != nil {
		return nil, err
	}
	nc, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, classifyNet(err)
	}
	ic := &idleConn{Conn: nc, timeout: r.opts.Timeout, quickAck: quickAcker(nc)}

	creds, err := newCredentials(r.password, r.opts, r.keys)
	if err != nil {
		nc.Close()
		return nil, err
	}
	defer creds.Close()
	r.handshake.Store(ic)
	defer r.handshake.Store(nil)

	r.hk.reset()
	cfg := &ssh.ClientConfig{
		User:              r.user,
		Auth:              creds.methods,
		HostKeyCallback:   r.hk.callback,
		HostKeyAlgorithms: r.hk.algorithms(r.addr),
		ClientVersion:     "SSH-2.0-gftp",
		BannerCallback: func(msg string) error {
			r.log.Debug("ssh banner", "text", strings.TrimSpace(msg))
			return nil
		},
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	ic.begin()
	sc, chans, reqs, err := ssh.NewClientConn(ic, r.addr, cfg)
	ic.end()
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		nc.Close()
		if herr := r.hk.refused(); herr != nil {
			return nil, herr
		}
		return nil, classifyHandshake(err)
	}
	client := ssh.NewClient(sc, chans, reqs)

	attrs := []any{"server", string(sc.ServerVersion()), "addr", r.addr}
	if am, ok := sc.(ssh.AlgorithmsConnMetadata); ok {
		a := am.Algorithms()
		attrs = append(attrs, "kex", a.KeyExchange, "hostkey", a.HostKey,
			"cipher", a.Write.Cipher, "mac", a.Write.MAC)
	}
	if k := r.hk.lastKey(); k != nil {
		attrs = append(attrs, "fingerprint", ssh.FingerprintSHA256(k))
	}
	r.log.Debug("ssh handshake", attrs...)
	r.log.Debug("ssh authenticated", "user", r.user, "method", creds.state.String())
	r.log.Info("connected", "addr", r.addr, "user", r.user, "server", string(sc.ServerVersion()))

	l := &link{
		ssh:         client,
		conn:        ic,
		dead:        make(chan struct{}),
		maxSessions: min(r.opts.Jobs, maxSessions),
		opts: []sftplib.ClientOption{
			sftplib.UseConcurrentWrites(true),
			sftplib.UseConcurrentReads(true),
			sftplib.MaxConcurrentRequestsPerFile(64),
		},
	}
	go func() {
		_ = client.Wait()
		close(l.dead)
	}()
	// pkg/sftp sends the session's INIT only once the subsystem request
	// is answered. Sending it right behind the request would gain
	// nothing with OpenSSH: sshd opens a session channel with a window
	// of 0 and grants one only when the subsystem starts, with its
	// answer (seen in a trace of the bench relay).
	s, err := l.acquire()
	if err != nil {
		client.Close()
		if errors.Is(err, io.EOF) || !l.alive() {
			return nil, fmt.Errorf("start sftp subsystem: %w: %w", err, remote.ErrTemporary)
		}
		return nil, fmt.Errorf("start sftp subsystem: %w", err)
	}
	_, l.posixRename = s.c.HasExtension(posixRenameExt)
	l.release(s, nil)
	r.log.Debug("sftp session", "posix-rename", l.posixRename)
	return l, nil
}

// run does fn on a session of a live connection. When ctx ends first, run
// returns at once, or, when onCancel is given (an upload), runs onCancel to
// stop fn from touching the caller's data and waits up to cancelGrace for
// fn to end; fn finishes in the background, bounded by the idle deadline.
func (r *Remote) run(ctx context.Context, op, name string, fn func(*sftplib.Client) error, onCancel func()) error {
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	l, err := r.get(ctx)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return r.runOn(ctx, l, op, name, fn, onCancel)
}

func (r *Remote) runOn(ctx context.Context, l *link, op, name string, fn func(*sftplib.Client) error, onCancel func()) error {
	return r.runSession(ctx, l, op, name, func(s *session) error { return fn(s.c) }, onCancel)
}

// runSession is runOn for fn that needs the session itself.
func (r *Remote) runSession(ctx context.Context, l *link, op, name string, fn func(*session) error, onCancel func()) error {
	if r.log.Enabled(ctx, slog.LevelDebug) {
		start := time.Now()
		defer func() { r.log.Debug("sftp", "op", op, "path", name, "took", time.Since(start).Round(time.Millisecond)) }()
	}
	s, err := r.sessionFor(l, name)
	if err != nil {
		return wrapErr(op, name, l, err)
	}
	done := make(chan error, 1)
	l.conn.begin()
	go func() {
		err := fn(s)
		l.conn.end()
		l.release(s, err)
		done <- err
	}()
	select {
	case err := <-done:
		return wrapErr(op, name, l, err)
	case <-ctx.Done():
		if onCancel != nil {
			onCancel()
			// What was cancelled may still be under way on the server:
			// an upload's OPEN creates its file. Wait a little for fn to
			// end, so that what the caller does next (removing the
			// temporary file, on another session) comes after it, and
			// no file appears once the caller has cleaned up.
			t := time.NewTimer(cancelGrace)
			select {
			case <-done:
			case <-t.C:
			}
			t.Stop()
		}
		return &fs.PathError{Op: op, Path: name, Err: ctx.Err()}
	}
}

// cancelGrace bounds how long a cancelled upload is waited for (see
// runOn): a few round trips, well inside the 5 s in which an interrupted
// deploy must have exited.
const cancelGrace = 2 * time.Second

// Stat implements remote.Remote.
func (r *Remote) Stat(ctx context.Context, name string) (remote.FileInfo, error) {
	var fi os.FileInfo
	err := r.run(ctx, "stat", name, func(c *sftplib.Client) error {
		var err error
		fi, err = c.Stat(r.path(name))
		return err
	}, nil)
	if err != nil {
		return remote.FileInfo{}, err
	}
	return info(name, fi), nil
}

func info(name string, fi os.FileInfo) remote.FileInfo {
	out := remote.FileInfo{Name: name, IsDir: fi.IsDir(), ModTime: fi.ModTime()}
	if !out.IsDir {
		out.Size = fi.Size()
	}
	return out
}

// Open implements remote.Remote. The session stays reserved until the
// returned reader is closed. A small file comes back whole with the open
// (see openHead).
func (r *Remote) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if p := r.takeOpened(name); p != nil {
		return r.openWith(ctx, name, p.l, p.s, p.head)
	}
	l, err := r.get(ctx)
	if err != nil {
		return nil, retarget("open", name, err)
	}
	s, err := l.acquire()
	if err != nil {
		return nil, wrapErr("open", name, l, err)
	}
	return r.openWith(ctx, name, l, s, func() (head, error) { return openHead(s.c, r.path(name)) })
}

// openWith runs open, which reads the head of name on s, for Open. The
// session stays reserved when it succeeds.
func (r *Remote) openWith(ctx context.Context, name string, l *link, s *session, open func() (head, error)) (io.ReadCloser, error) {
	if r.log.Enabled(ctx, slog.LevelDebug) {
		start := time.Now()
		defer func() {
			r.log.Debug("sftp", "op", "open", "path", name, "took", time.Since(start).Round(time.Millisecond))
		}()
	}
	var h head
	done := make(chan error, 1)
	l.conn.begin()
	go func() {
		var err error
		h, err = open()
		l.conn.end()
		if err != nil {
			l.release(s, err)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return nil, wrapErr("open", name, l, err)
		}
		return &reader{ctx: ctx, name: name, l: l, s: s, f: h.f, head: h.data, eof: h.whole}, nil
	case <-ctx.Done():
		go func() {
			if err := <-done; err == nil {
				h.f.Close()
				l.release(s, nil)
			}
		}()
		return nil, &fs.PathError{Op: "open", Path: name, Err: ctx.Err()}
	}
}

// headMax is the largest file that openHead reads whole: one READ, at
// pkg/sftp's default packet size.
const headMax = 32 << 10

// head is an opened file, with its first bytes when it is small.
type head struct {
	f     *sftplib.File
	data  []byte // the file's first bytes, read with the open
	whole bool   // data is all of it
}

// openHead opens p, refusing a directory. A small file is read whole at
// once, in two round trips: OPEN and STAT travel together, then READ (of
// the size STAT gave) and FSTAT, which checks that the file read is the
// size STAT saw. The marker, the journal and the lock's details are read
// that way; one after the other, OPEN, FSTAT, READ, a READ for the end of
// the file and CLOSE took five.
func openHead(c *sftplib.Client, p string) (head, error) {
	o, err := openStat(c, p)
	if err != nil {
		return head{}, err
	}
	return readHead(o)
}

// opened is a file opened beside a STAT of its name: openHead's first
// round trip.
type opened struct {
	f    *sftplib.File
	st   os.FileInfo
	serr error
}

func openStat(c *sftplib.Client, p string) (opened, error) {
	var st os.FileInfo
	var serr error
	stated := make(chan struct{})
	go func() {
		st, serr = c.Stat(p)
		close(stated)
	}()
	f, err := c.Open(p)
	<-stated
	if err != nil {
		return opened{}, err
	}
	return opened{f, st, serr}, nil
}

// readHead is openHead's second round trip.
func readHead(o opened) (head, error) {
	f, st, serr := o.f, o.st, o.serr
	fail := func(err error) (head, error) {
		f.Close()
		return head{}, err
	}
	if serr != nil || !st.Mode().IsRegular() || st.Size() > headMax {
		// A directory, or too big to read at once: FSTAT the
		// handle, and stream.
		fi, err := f.Stat()
		if err == nil && fi.IsDir() {
			err = errors.New("is a directory")
		}
		if err != nil {
			return fail(err)
		}
		return head{f: f}, nil
	}
	buf := make([]byte, st.Size())
	var fi os.FileInfo
	var ferr error
	fstated := make(chan struct{})
	go func() {
		fi, ferr = f.Stat()
		close(fstated)
	}()
	n, rerr := 0, error(nil)
	if len(buf) > 0 {
		n, rerr = f.ReadAt(buf, 0)
	}
	<-fstated
	switch {
	case ferr != nil:
		return fail(ferr)
	case fi.IsDir():
		return fail(errors.New("is a directory"))
	case rerr != nil && rerr != io.EOF:
		return fail(rerr)
	}
	if fi.Size() == int64(n) && n == len(buf) {
		return head{f: f, data: buf, whole: true}, nil
	}
	// The file changed between STAT and READ: stream the rest.
	if _, err := f.Seek(int64(n), io.SeekStart); err != nil {
		return fail(err)
	}
	return head{f: f, data: buf[:n]}, nil
}

// reader streams a remote file. A Read blocked on the server returns when
// ctx ends; the request then finishes into the reader's own buffer.
type reader struct {
	ctx    context.Context
	name   string
	l      *link
	s      *session
	f      *sftplib.File
	head   []byte // read with the open, not handed out yet
	eof    bool   // head is the rest of the file
	buf    []byte
	err    error
	closed bool
}

func (rd *reader) Read(p []byte) (int, error) {
	if rd.err != nil {
		return 0, rd.err
	}
	if len(rd.head) > 0 {
		n := copy(p, rd.head)
		rd.head = rd.head[n:]
		return n, nil
	}
	if rd.eof {
		return 0, io.EOF
	}
	if err := rd.ctx.Err(); err != nil {
		rd.err = &fs.PathError{Op: "read", Path: rd.name, Err: err}
		return 0, rd.err
	}
	if cap(rd.buf) < len(p) {
		rd.buf = make([]byte, len(p))
	}
	buf := rd.buf[:len(p)]
	type res struct {
		n   int
		err error
	}
	done := make(chan res, 1)
	rd.l.conn.begin()
	go func() {
		n, err := rd.f.Read(buf)
		rd.l.conn.end()
		done <- res{n, err}
	}()
	select {
	case x := <-done:
		n := copy(p, buf[:x.n])
		if x.err != nil && x.err != io.EOF {
			rd.err = wrapErr("read", rd.name, rd.l, x.err)
			return n, rd.err
		}
		return n, x.err
	case <-rd.ctx.Done():
		rd.err = &fs.PathError{Op: "read", Path: rd.name, Err: rd.ctx.Err()}
		return 0, rd.err
	}
}

// Close closes the handle without waiting for the server's answer, which
// can only say that a handle read from is closed: a round trip saved on
// every file read. The session is released once the answer is in.
func (rd *reader) Close() error {
	if rd.closed {
		return nil
	}
	rd.closed = true
	rd.l.conn.begin()
	go func() {
		err := rd.f.Close()
		rd.l.conn.end()
		rd.l.release(rd.s, err)
	}()
	return nil
}

// Put implements remote.Remote. The reader handed to pkg/sftp reports its
// size, so that File.ReadFrom keeps up to 64 writes in flight instead of
// waiting for each 32 KiB one in turn.
func (r *Remote) Put(ctx context.Context, name string, src io.Reader, size int64) error {
	r.forget(name)
	pr := &putReader{ctx: ctx, r: src, n: size}
	return r.run(ctx, "put", name, func(c *sftplib.Client) error {
		f, err := r.openBehindMkdir(c, name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return err
		}
		n, err := f.ReadFrom(pr)
		cerr := f.Close()
		if err == nil {
			err = cerr
		}
		if err != nil {
			return writeErr(err)
		}
		if size >= 0 && n != size {
			return fmt.Errorf("%w after %d of %d bytes", errShortSource, n, size)
		}
		return nil
	}, pr.stop)
}

// putReader limits the source to size bytes, reports what remains (see
// pkg/sftp File.ReadFrom), and stops reading once ctx ends or stop is called,
// so that the caller's reader is never touched after Put returns.
type putReader struct {
	ctx     context.Context
	mu      sync.Mutex
	r       io.Reader
	n       int64 // bytes left, or -1 when unknown
	stopped bool
}

var (
	errStopped     = errors.New("upload abandoned")
	errShortSource = errors.New("source ended early")
)

func (p *putReader) Size() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *putReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return 0, errStopped
	}
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	if p.n == 0 {
		return 0, io.EOF
	}
	if p.n > 0 && int64(len(b)) > p.n {
		b = b[:p.n]
	}
	n, err := p.r.Read(b)
	if p.n > 0 {
		p.n -= int64(n)
	}
	return n, err
}

func (p *putReader) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

// Rename implements remote.Remote with posix-rename@openssh.com, which
// replaces the target in one step. Without it, SFTP v3 rename refuses an
// existing target, so the target is removed first.
func (r *Remote) Rename(ctx context.Context, from, to string) error {
	r.forget(from, to)
	return r.run(ctx, "rename", to, func(c *sftplib.Client) error {
		if _, ok := c.HasExtension(posixRenameExt); ok {
			return c.PosixRename(r.path(from), r.path(to))
		}
		err := c.Rename(r.path(from), r.path(to))
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if _, serr := c.Lstat(r.path(to)); serr != nil {
			return err
		}
		if rerr := c.Remove(r.path(to)); rerr != nil {
			return rerr
		}
		return c.Rename(r.path(from), r.path(to))
	}, nil)
}

// Remove implements remote.Remote. SFTP's REMOVE would do for a file, but
// pkg/sftp's Remove falls back to RMDIR, so a directory is refused first,
// with an LSTAT; PrepareRemove sends that one ahead.
func (r *Remote) Remove(ctx context.Context, name string) error {
	fi, err, ok := r.prestated(ctx, name)
	r.forget(name)
	if ok && err != nil {
		return retarget("remove", name, err)
	}
	return r.run(ctx, "remove", name, func(c *sftplib.Client) error {
		if !ok {
			var err error
			if fi, err = c.Lstat(r.path(name)); err != nil {
				return err
			}
		}
		if fi.IsDir() {
			return errors.New("is a directory")
		}
		return c.Remove(r.path(name))
	}, nil)
}

// Mkdir implements remote.Remote (see mkdirOn).
func (r *Remote) Mkdir(ctx context.Context, name string) error {
	r.forget(name)
	return r.run(ctx, "mkdir", name, func(c *sftplib.Client) error {
		return mkdirOn(c, r.path(name))
	}, nil)
}

// Rmdir implements remote.Remote.
func (r *Remote) Rmdir(ctx context.Context, name string) error {
	r.forget(name)
	return r.run(ctx, "rmdir", name, func(c *sftplib.Client) error {
		return c.RemoveDirectory(r.path(name))
	}, nil)
}

// List implements remote.Remote.
func (r *Remote) List(ctx context.Context, name string) ([]remote.FileInfo, error) {
	var list []os.FileInfo
	err := r.run(ctx, "list", name, func(c *sftplib.Client) error {
		var err error
		list, err = c.ReadDirContext(ctx, r.path(name))
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	out := make([]remote.FileInfo, 0, len(list))
	for _, fi := range list {
		if fi.Name() == "." || fi.Name() == ".." {
			continue
		}
		out = append(out, info(fi.Name(), fi))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close implements remote.Remote.
func (r *Remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.link == nil {
		return nil
	}
	r.dropOpened()
	err := r.link.close()
	r.link = nil
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// SFTP status codes that pkg/sftp does not export (SSH_FX_FAILURE is;
// draft-ietf-secsh-filexfer-13 section 9.1 has the rest, which some servers
// send over v3).
const (
	fxFailure           = 4
	fxNoConnection      = 6
	fxConnectionLost    = 7
	fxNoSuchPath        = 10
	fxFileAlreadyExists = 11
	fxWriteProtect      = 12
	fxNoSpaceOnFS       = 14
	fxQuotaExceeded     = 15
)

// writeErr marks a failed write as out of space: OpenSSH's sftp-server
// reports ENOSPC and EDQUOT as a bare SSH_FX_FAILURE, and a write has few
// other ways to fail.
func writeErr(err error) error {
	var se *sftplib.StatusError
	if errors.As(err, &se) && se.Code == fxFailure {
		return fmt.Errorf("%w (the server failed a write; most likely its disk is full or the quota is reached): %w", err, remote.ErrStorageFull)
	}
	return err
}

// wrapErr turns an error from pkg/sftp into the contract's *fs.PathError.
func wrapErr(op, name string, l *link, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && !errors.Is(err, remote.ErrStorageFull) {
		err = pe.Err // pkg/sftp's own PathError names the absolute path
	}
	var se *sftplib.StatusError
	if errors.As(err, &se) {
		msg := strings.ToLower(se.Error())
		switch {
		case errors.Is(err, remote.ErrStorageFull):
		case se.Code == fxNoSuchPath:
			err = fmt.Errorf("%w: %w", err, fs.ErrNotExist)
		case se.Code == fxWriteProtect:
			err = fmt.Errorf("%w: %w", err, fs.ErrPermission)
		case se.Code == fxFileAlreadyExists:
			err = fmt.Errorf("%w: %w", err, fs.ErrExist)
		case se.Code == fxNoSpaceOnFS || se.Code == fxQuotaExceeded ||
			strings.Contains(msg, "no space") || strings.Contains(msg, "quota"):
			err = fmt.Errorf("%w: %w", err, remote.ErrStorageFull)
		case se.Code == fxNoConnection || se.Code == fxConnectionLost:
			err = fmt.Errorf("%w: %w", err, remote.ErrTemporary)
		}
	}
	if connLost(err) {
		// Make the next call reconnect, even before the SSH client has
		// noticed the end of the connection itself.
		l.lost.Store(true)
	}
	if !errors.Is(err, remote.ErrTemporary) && (connLost(err) || !l.alive()) {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			if strings.Contains(err.Error(), "connection lost") {
				err = fmt.Errorf("%w: %w", err, remote.ErrTemporary)
			} else {
				err = fmt.Errorf("connection lost: %w: %w", err, remote.ErrTemporary)
			}
		}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func retarget(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// connLost reports errors that mean the connection (or the SFTP session)
// ended under the request.
func connLost(err error) bool {
	var ne net.Error
	return errors.Is(err, sftplib.ErrSSHFxConnectionLost) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne) && ne.Timeout()
}

// classifyNet marks dial failures that may pass.
func classifyNet(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w: %w", err, remote.ErrTemporary)
	}
	return err
}

// classifyHandshake maps an SSH handshake failure: x/crypto/ssh reports
// exhausted credentials only as text.
func classifyHandshake(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, remote.ErrAuth):
		return err
	case strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain"):
		return fmt.Errorf("%w: %w", err, remote.ErrAuth)
	case connLost(err):
		return fmt.Errorf("%w: %w", err, remote.ErrTemporary)
	}
	return err
}
