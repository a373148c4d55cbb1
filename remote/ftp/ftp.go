// Package ftp is the transport for FTP servers: ftp:// (clear text),
// ftpes:// (explicit TLS, RFC 4217 AUTH TLS, never falling back to clear
// text) and ftps:// (implicit TLS, port 990).
//
// It speaks FTP through internal/ftpconn, whose connection owns its socket
// and the one reader of it; this package adds a pool of logged-in
// connections, one code path per operation, and the error contract of
// remote.Remote.
//
// URL paths follow curl and git-ftp: ftp://host/www is www in the login
// directory, ftp://host//srv/www is /srv/www. Every command names an
// absolute path built from the root (resolved with PWD at login).
//
// Passive mode is the default (EPSV, or PASV with Options.DisableEPSV);
// Options.Active uses EPRT/PORT, with the same round trips per transfer
// (see transfer.go).
package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
	"github.com/gftp/gftp/internal/proxy"
	"github.com/gftp/gftp/remote"
)

func init() {
	remote.Register(func(ctx context.Context, u *url.URL, opts remote.Options) (remote.Remote, error) {
		return New(ctx, u, opts)
	}, "ftp", "ftpes", "ftps")
}

// Mode is how a connection is secured.
type Mode = ftpconn.Mode

// The three FTP security modes.
const (
	Plain    = ftpconn.Plain    // ftp://: no TLS
	Explicit = ftpconn.Explicit // ftpes://: AUTH TLS after the greeting; refusal is an error
	Implicit = ftpconn.Implicit // ftps://: TLS from the first byte
)

// ErrTLSRefused is returned for ftpes:// when the server does not accept
// AUTH TLS. The client then closes the connection without sending USER.
var ErrTLSRefused = ftpconn.ErrTLSRefused

// ErrActiveProxy refuses active mode with a proxy: the server's data
// connection would have to come back through it, which SOCKS5 CONNECT and
// HTTP CONNECT cannot carry.
var ErrActiveProxy = errors.New("active mode (--active) cannot work through a proxy: the server cannot connect back through it")

// ErrTLSRequired is returned for ftp:// when the server insists on TLS
// before login; ftpes:// is the cure.
var ErrTLSRequired = errors.New("server requires TLS (use ftpes://)")

// Remote is a directory on an FTP server. It is safe for concurrent use; it
// keeps up to Options.Jobs logged-in connections.
type Remote struct {
	addr   string // host:port
	mode   Mode
	user   string
	pass   string
	opts   remote.Options
	log    *slog.Logger
	tls    *tlsPolicy
	active *ftpconn.Active // nil: passive mode
	pool   *pool
	root   string // absolute directory of the URL path, from PWD
	rawDir string // the URL path, relative to the login directory unless it starts with "/"
	login  string // the login directory (PWD)
	ids    atomic.Int64

	// gate, with Options.Prewarm, holds the pool's other connections
	// before USER until the first one's login has ended. gateBad says
	// that it failed for a reason the others would repeat with the
	// server's blessing (credentials, a certificate): then they quit
	// without logging in. Any other failure (one connection too many, a
	// cut connection) lets them go on.
	gate    chan struct{}
	gateBad atomic.Bool
	// ctlMangled is set for servers that replace control characters in
	// names with '_' and still answer success (pure-ftpd): gftp refuses
	// those names rather than deploy a file under another name.
	ctlMangled atomic.Bool
	where      string // the URL without password, for errors about the connection
	pipe       pipeState
	counters   ftpconn.Counters
	// finishing counts downloads handed back before their 226 (see
	// reader.Close); Close waits for them.
	finishing sync.WaitGroup

	dialer proxy.ContextDialer
	// proxied: connections go through Options.Proxy, so the control
	// connection's peer address is the proxy's, not the server's.
	proxied bool

	// onConn, when set (tests), sees every control connection made.
	onConn func(*ftpconn.Conn)
}

// pipeState is what the transfers (transfer.go) learnt in this run, and
// what they counted.
type pipeState struct {
	early atomic.Bool // the server reads no command during a transfer (vsftpd): EPSV may go before the 226
	// strict: the server refuses TLS data that ends without close_notify
	// (vsftpd answers 426), so a cut upload cannot pass for a whole one.
	strict atomic.Bool
	off    atomic.Bool  // the server mishandled an early EPSV after all
	ahead  atomic.Int64 // transfers whose data connection was dialled ahead
	files  atomic.Int64 // PutAtomic calls that succeeded
}

// Stats counts the control-channel traffic of a Remote so far.
type Stats struct {
	Commands   int64 // commands sent, on every connection, logins included
	RoundTrips int64 // times a connection waited for a reply after sending
	Files      int64 // files uploaded with PutAtomic
	Ahead      int64 // transfers whose data connection was opened ahead
}

// Stats returns the counts so far.
func (r *Remote) Stats() Stats {
	return Stats{Commands: r.counters.Commands.Load(), RoundTrips: r.counters.RoundTrips.Load(),
		Files: r.pipe.files.Load(), Ahead: r.pipe.ahead.Load()}
}

var (
	_ remote.Remote = (*Remote)(nil)
	_ remote.Hasher = (*Remote)(nil)
)

// New connects to the server u names and logs in, so that bad credentials
// and certificates show at once. The user and password come from opts, or
// else from u; with neither, the login is anonymous.
func New(ctx context.Context, u *url.URL, opts remote.Options) (*Remote, error) {
	return newRemote(ctx, u, opts, nil)
}

func newRemote(ctx context.Context, u *url.URL, opts remote.Options, onConn func(*ftpconn.Conn)) (*Remote, error) {
	if opts.Jobs < 1 {
		opts.Jobs = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Remote{opts: opts, log: opts.Logger, onConn: onConn}
	red := *u
	red.User = nil
	if u.User != nil {
		red.User = url.User(u.User.Username())
	}
	r.where = red.String()
	port := u.Port()
	switch u.Scheme {
	case "ftp", "":
		r.mode = Plain
	case "ftpes":
		r.mode = Explicit
	case "ftps":
		r.mode = Implicit
	default:
		return nil, &fs.PathError{Op: "connect", Path: r.where, Err: fmt.Errorf("%w %q", remote.ErrScheme, u.Scheme)}
	}
	if port == "" {
		port = "21"
		if r.mode == Implicit {
			port = "990"
		}
	}
	host := u.Hostname()
	r.addr = net.JoinHostPort(host, port)
	r.user, r.pass = opts.User, opts.Password
	if u.User != nil {
		if r.user == "" {
			r.user = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && r.pass == "" {
			r.pass = p
		}
	}
	if r.user == "" {
		r.user, r.pass = "anonymous", "anonymous@"
	}
	r.rawDir = strings.TrimPrefix(u.Path, "/")
	if err := refuseLineBreak("connect", r.rawDir); err != nil {
		return nil, err
	}
	if r.mode != Plain {
		p, err := newTLSPolicy(host, opts)
		if err != nil {
			return nil, &fs.PathError{Op: "connect", Path: r.where, Err: err}
		}
		r.tls = p
	}
	if opts.Proxy != "" && opts.Active {
		return nil, &fs.PathError{Op: "connect", Path: r.where, Err: ErrActiveProxy}
	}
	d, err := proxy.Dialer(opts.Proxy, &net.Dialer{Timeout: opts.Timeout})
	if err != nil {
		return nil, &fs.PathError{Op: "connect", Path: r.where, Err: err}
	}
	r.dialer, r.proxied = d, opts.Proxy != ""
	if opts.Active {
		a, err := ftpconn.ParseActive(opts.ActiveAddr, opts.ActivePorts)
		if err != nil {
			return nil, &fs.PathError{Op: "connect", Path: r.where, Err: err}
		}
		r.active = a
	}
	r.pool = newPool(opts.Jobs, r.dial)
	if opts.Prewarm && opts.Jobs > 1 {
		r.gate = make(chan struct{})
	}
	var shrunk atomic.Bool
	r.pool.onShrink = func(n int, err error) {
		if shrunk.Swap(true) {
			r.log.Debug("server refused another connection", "connections", n, "reply", err.Error())
			return
		}
		r.log.Info("server refused another connection; going on with fewer", "connections", n, "reply", err.Error())
	}
	r.pool.onRetry = func(wait time.Duration, err error) {
		r.log.Info("server refused the connection as one too many; asking again", "wait", wait, "reply", err.Error())
	}
	s, err := r.pool.get(ctx)
	if err != nil {
		return nil, &fs.PathError{Op: "connect", Path: r.where, Err: classify("USER", err)}
	}
	pwd := s.pwd
	if pwd == "" {
		err = s.run(ctx, func() error {
			rep, err := s.c.Cmd("PWD")
			if err != nil {
				return err
			}
			pwd, err = ftpconn.ParsePWD(rep)
			return err
		})
	}
	r.pool.put(s)
	if err != nil {
		r.pool.close()
		return nil, &fs.PathError{Op: "connect", Path: r.where, Err: fmt.Errorf("PWD: %w", classify("PWD", err))}
	}
	r.login = pwd
	if strings.HasPrefix(r.rawDir, "/") {
		r.root = path.Clean(r.rawDir)
	} else {
		r.root = path.Join(pwd, r.rawDir)
	}
	if !strings.HasPrefix(r.root, "/") {
		r.root = "/" + r.root
	}
	r.log.Debug("remote root", "dir", r.root, "login_dir", pwd)
	return r, nil
}

// MaxProcs implements remote.ProcsLimiter: one CPU. An FTP transfer is a
// data connection per file, a few small writes and reads on each, so the
// client's time goes to system calls and to waking the goroutine that
// waits on each: with a second CPU the Go scheduler spins it up to take
// every wake-up and puts it back to sleep (about 9 nanosleep calls per
// file in strace). On the 2,000-file FTPES init on loopback (issue 16), in
// runs alternating with the build before, one CPU cut gftp's CPU by 5 to
// 25% (2.09 s to 1.57 s at best), and the wall time with it.
func (r *Remote) MaxProcs() int { return 1 }

// Root returns the absolute directory on the server that names are relative to.
func (r *Remote) Root() string { return r.root }

// path returns the absolute server path of name.
func (r *Remote) path(name string) string {
	switch {
	case name == "":
		return r.root
	case r.root == "/":
		return "/" + name
	}
	return r.root + "/" + name
}

// refuseLineBreak refuses a name with CR or LF, the one place that does: a
// command line ends at CR LF (RFC 959, 4.1), so no FTP command can name
// such a file. The server would act on a name cut short, and the rest of
// the line would be read as another command.
func refuseLineBreak(op, name string) error {
	if strings.ContainsAny(name, "\r\n") {
		return &fs.PathError{Op: op, Path: name, Err: &kindError{fs.ErrInvalid, errors.New("an FTP command cannot carry a file name with CR or LF")}}
	}
	return nil
}

// checkName refuses names the server would not store as given: every
// operation asks it first.
func (r *Remote) checkName(op, name string) error {
	if err := refuseLineBreak(op, name); err != nil {
		return err
	}
	if !r.ctlMangled.Load() {
		return nil
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return &fs.PathError{Op: op, Path: name, Err: &kindError{fs.ErrInvalid,
				errors.New("the server (pure-ftpd) would store control characters in this name as '_'")}}
		}
	}
	return nil
}

// session is one logged-in control connection and its current transfer.
type session struct {
	id       int64
	r        *Remote
	c        *ftpconn.Conn
	mlst     bool
	mdtm     bool
	pwd      string // the login directory, when the login asked for it
	lastUsed time.Time
	broken   bool

	mu   sync.Mutex
	data *ftpconn.Data    // the transfer in progress, to abort
	ch   *ftpconn.Channel // a channel being set up, to abort

	next  *ftpconn.Channel   // a passive data channel asked for ahead (transfer.go)
	drops []*ftpconn.Channel // given up while still being dialled (transfer.go)

	hashWay hashWay // how the server digests a file (hash.go)
}

// dial opens and logs in one control connection.
func (r *Remote) dial(ctx context.Context) (_ *session, err error) {
	id := r.ids.Add(1)
	if id == 1 && r.gate != nil {
		// The others connect and set up TLS meanwhile, then wait for
		// this login's outcome before they send credentials.
		defer func() {
			r.gateBad.Store(err != nil && (errors.Is(classify("PASS", err), remote.ErrAuth) || isTLSVerify(err)))
			close(r.gate)
		}()
		r.pool.warm()
	}
	cfg := ftpconn.Config{
		Addr:        r.addr,
		Mode:        r.mode,
		Dialer:      r.dialer,
		Proxied:     r.proxied,
		Timeout:     r.opts.Timeout,
		Log:         r.log,
		ID:          id,
		Counters:    &r.counters,
		DisableEPSV: r.opts.DisableEPSV,
		TrustPASVIP: r.opts.TrustPASVIP,
		Active:      r.active,
	}
	if r.tls != nil {
		cfg.TLS = r.tls.config()
		if r.opts.Insecure {
			cfg.InsecureLabel = "--insecure"
		}
	}
	c, err := ftpconn.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if r.onConn != nil {
		r.onConn(c)
	}
	s := &session{id: id, r: r, c: c}
	// Cancellation while logging in closes the socket.
	stop := context.AfterFunc(ctx, c.Abort)
	defer func() {
		if !stop() && err == nil {
			err = ctx.Err()
		}
		if err != nil {
			c.Abort()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		}
	}()
	banner := c.Greeting().Msg
	if strings.Contains(banner, "vsFTPd") {
		// vsftpd does not read the control connection during a
		// transfer, so an EPSV sent behind the data waits its turn;
		// proftpd answers it at once with 450 and pure-ftpd with 500.
		r.pipe.early.Store(true)
		r.pipe.strict.Store(r.mode != Plain)
	}
	if strings.Contains(banner, "Pure-FTPd") && !r.ctlMangled.Swap(true) {
		r.log.Info("pure-ftpd stores control characters in names as '_'; such names will be refused", "conn", id)
	}
	if id != 1 && r.gate != nil {
		select {
		case <-r.gate:
			if r.gateBad.Load() {
				_ = c.Close()
				return nil, errLeaderFailed
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// The login is one write. An EPSV goes too, for the first transfer,
	// whose data connection is then dialled as soon as the login is in.
	// Servers keep that port open across MKD, SIZE, DELE, RNFR and the
	// like (vsftpd, proftpd and pure-ftpd, TestPortSurvivesCommands), so
	// it waits for the first transfer, whatever comes before. The first
	// connection asks for PWD too (New needs it).
	var extra []string
	loginEPSV := r.active == nil && !r.opts.DisableEPSV
	if loginEPSV {
		extra = append(extra, "EPSV")
	}
	if id == 1 {
		extra = append(extra, "PWD")
	}
	sess, err := c.Login(r.user, r.pass, extra...)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	i := 0
	if loginEPSV {
		s.dialFromEPSV(sess.Extra[i])
		i++
	}
	if id == 1 {
		if s.pwd, err = ftpconn.ParsePWD(sess.Extra[i]); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	s.mlst = sess.Has("MLST")
	s.mdtm = sess.Has("MDTM")
	s.hashWay = hashWayFrom(sess.Features)
	s.lastUsed = time.Now()
	r.log.Info("connected", "conn", id, "addr", r.addr, "user", r.user, "mlst", s.mlst)
	return s, nil
}

// errLeaderFailed ends a connection opened ahead when the first one was
// refused its login or certificate: this one would be refused the same way.
var errLeaderFailed = errors.New("the first connection did not log in")

// begin ties a session to the operation's context: cancelling it closes the
// connections, which unblocks any read or write in progress.
func (s *session) begin(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, s.abort)
}

// end undoes begin, and marks the session broken when the operation left
// its connection in an unknown state.
func (s *session) end(ctx context.Context, stop func() bool, err error) error {
	if !stop() {
		s.broken = true
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err != nil && (isNetError(err) || hasCode(err, codeUnavailable)) {
		s.broken = true
	}
	if s.c.Broken() || s.c.Pending() > 0 {
		s.broken = true
	}
	s.mu.Lock()
	s.data, s.ch = nil, nil
	s.mu.Unlock()
	return err
}

func (s *session) abort() {
	s.c.Abort()
	s.mu.Lock()
	d, ch := s.data, s.ch
	s.mu.Unlock()
	if d != nil {
		d.Abort()
	}
	if ch != nil {
		ch.Close()
	}
}

// run runs fn as one operation on the session.
func (s *session) run(ctx context.Context, fn func() error) error {
	stop := s.begin(ctx)
	return s.end(ctx, stop, fn())
}

func (s *session) close() {
	s.dropNext()
	for _, ch := range s.drops {
		ch.Close()
	}
	s.drops = nil
	if s.broken {
		s.c.Abort()
	} else {
		_ = s.c.Close()
	}
	s.r.log.Info("disconnected", "conn", s.id)
}

func hasCode(err error, code int) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code == code
}

// with runs fn on a pooled session. A data channel asked for ahead stays
// for the next transfer: servers keep its port open across the commands
// that are not transfers (TestPortSurvivesCommands).
func (r *Remote) with(ctx context.Context, fn func(s *session) error) error {
	s, err := r.pool.get(ctx)
	if err != nil {
		return classify("USER", err)
	}
	err = s.run(ctx, func() error { return fn(s) })
	r.pool.put(s)
	return err
}

// cmd sends one command and returns its reply, a failure code as a
// *textproto.Error classified for verb.
func (s *session) cmd(verb, line string) (ftpconn.Reply, error) {
	rep, err := s.c.Cmd(line)
	return rep, classify(verb, err)
}

// Stat implements remote.Remote. It prefers MLST (RFC 3659); without it, SIZE
// and MDTM describe a file, CWD tells a directory, and a LIST of the parent
// is the last resort.
func (r *Remote) Stat(ctx context.Context, name string) (remote.FileInfo, error) {
	if err := r.checkName("stat", name); err != nil {
		return remote.FileInfo{}, err
	}
	var fi remote.FileInfo
	err := r.with(ctx, func(s *session) error {
		var err error
		fi, err = s.stat(ctx, name)
		return err
	})
	return fi, pathErr("stat", name, err)
}

func (s *session) stat(ctx context.Context, name string) (remote.FileInfo, error) {
	p := s.r.path(name)
	fi := remote.FileInfo{Name: name}
	if s.mlst {
		rep, err := s.c.Cmd("MLST " + p)
		if err != nil {
			return fi, classify("MLST", err)
		}
		if e, ok := mlstEntry(rep); ok {
			fi.IsDir, fi.Size, fi.ModTime = e.IsDir, e.Size, e.ModTime
			return fi, nil
		}
		// An MLST reply we cannot parse: try the older ways.
	}
	// SIZE and MDTM go together: a missing file fails both.
	cmds := []string{"SIZE " + p}
	if s.mdtm {
		cmds = append(cmds, "MDTM "+p)
	}
	reps, err := s.c.Do(cmds...)
	if err != nil {
		return fi, classify("SIZE", err)
	}
	if size, err := ftpconn.ParseSize(reps[0]); err == nil {
		fi.Size = size
		if len(reps) > 1 {
			if t, err := ftpconn.ParseMDTM(reps[1]); err == nil {
				fi.ModTime = t
			}
		}
		return fi, nil
	}
	serr := reps[0].Err()
	if serr == nil {
		serr = &textproto.Error{Code: 550, Msg: reps[0].Msg}
	}
	// SIZE fails on directories (vsftpd: 550 Could not get file size).
	if _, cerr := s.c.Cmd("CWD " + p); cerr == nil {
		fi.IsDir = true
		return fi, nil
	} else if s.c.Broken() {
		return fi, classify("CWD", cerr)
	}
	if c := reps[0].Code; c == 500 || c == 502 || c == 504 { // no SIZE at all
		if name == "" {
			return fi, classify("CWD", serr)
		}
		list, lerr := s.list(ctx, remote.Dir(name))
		if lerr != nil {
			return fi, lerr
		}
		base := path.Base(name)
		for _, e := range list {
			if e.Name == base {
				e.Name = name
				return e, nil
			}
		}
		return fi, &kindError{fs.ErrNotExist, serr}
	}
	return fi, classify("SIZE", serr)
}

// mlstEntry reads the facts of an MLST reply (RFC 3659 section 7.2): the
// entry is the line that starts with a space.
func mlstEntry(rep ftpconn.Reply) (remote.FileInfo, bool) {
	if rep.Code != 250 {
		return remote.FileInfo{}, false
	}
	for _, l := range strings.Split(rep.Msg, "\n") {
		if !strings.HasPrefix(l, " ") {
			continue
		}
		fi, _, err := parseMLSxLine(strings.TrimSpace(strings.TrimSuffix(l, "\r")))
		return fi, err == nil
	}
	return remote.FileInfo{}, false
}

// Open implements remote.Remote.
func (r *Remote) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := r.checkName("open", name); err != nil {
		return nil, err
	}
	s, err := r.pool.get(ctx)
	if err != nil {
		return nil, pathErr("open", name, classify("USER", err))
	}
	stop := s.begin(ctx)
	fr, err := s.retr(ctx, "RETR", "RETR "+r.path(name))
	if err != nil {
		err = s.end(ctx, stop, err)
		r.pool.put(s)
		return nil, pathErr("open", name, err)
	}
	return &reader{r: r, s: s, dl: fr, stop: stop, ctx: ctx, name: name}, nil
}

// reader streams a RETR; Close returns its session to the pool.
type reader struct {
	r    *Remote
	s    *session
	dl   *download
	stop func() bool
	ctx  context.Context
	name string
	eof  bool
	done bool
}

func (rd *reader) Read(p []byte) (int, error) {
	if rd.done {
		return 0, &fs.PathError{Op: "read", Path: rd.name, Err: fs.ErrClosed}
	}
	n, err := rd.dl.Read(p)
	if err == io.EOF {
		rd.eof = true
		return n, err
	}
	if err != nil {
		if cerr := rd.ctx.Err(); cerr != nil {
			err = cerr
		}
		return n, pathErr("read", rd.name, classify("RETR", err))
	}
	return n, nil
}

// Close ends the transfer. Closing before the end abandons the connection,
// since servers disagree on what they reply to an aborted transfer.
func (rd *reader) Close() error {
	if rd.done {
		return nil
	}
	rd.done = true
	f := rd.dl
	if !rd.eof {
		rd.s.broken = true
		rd.s.abort()
		if !f.ready {
			<-f.hs
		}
		_ = rd.s.end(rd.ctx, rd.stop, nil)
		rd.r.pool.put(rd.s)
		return nil
	}
	if f.want >= 0 && f.n == f.want {
		// Every byte the 150 announced has arrived and the stream
		// ended cleanly: the caller has the file. The 226 comes a round
		// trip or two later (vsftpd closes the data connection with
		// SO_LINGER); it is read in the background, and the connection
		// goes back to the pool after it.
		rd.r.finishing.Add(1)
		go func() {
			defer rd.r.finishing.Done()
			err := rd.s.end(rd.ctx, rd.stop, f.finish())
			rd.r.pool.put(rd.s)
			if err != nil {
				rd.r.log.Info("the server reported a failure after the whole file had arrived", "path", rd.name, "err", err)
			}
		}()
		return nil
	}
	err := rd.s.end(rd.ctx, rd.stop, f.finish())
	rd.r.pool.put(rd.s)
	return pathErr("open", rd.name, classify("RETR", err))
}

// srcReader remembers the error of the caller's reader, which is not the
// server's fault.
type srcReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// Put implements remote.Remote.
func (r *Remote) Put(ctx context.Context, name string, src io.Reader, size int64) error {
	r.pool.warm()
	if err := r.checkName("put", name); err != nil {
		return err
	}
	err := r.with(ctx, func(s *session) error { return s.store(ctx, name, name, src) })
	return pathErr("put", name, err)
}

// Rename implements remote.Remote. Where the server refuses to rename over
// an existing file, the target is removed first.
func (r *Remote) Rename(ctx context.Context, from, to string) error {
	r.pool.warm()
	if err := r.checkName("rename", from); err != nil {
		return err
	}
	if err := r.checkName("rename", to); err != nil {
		return err
	}
	err := r.with(ctx, func(s *session) error { return s.rename(ctx, from, to, false) })
	return pathErr("rename", to, err)
}

// Remove implements remote.Remote.
func (r *Remote) Remove(ctx context.Context, name string) error {
	r.pool.warm()
	if err := r.checkName("remove", name); err != nil {
		return err
	}
	err := r.with(ctx, func(s *session) error {
		_, err := s.cmd("DELE", "DELE "+r.path(name))
		return s.deleErr(ctx, name, err)
	})
	return pathErr("remove", name, err)
}

// Mkdir implements remote.Remote. Servers answer 550 both for an existing
// directory and for a missing parent, so a failure is examined with Stat.
func (r *Remote) Mkdir(ctx context.Context, name string) error {
	r.pool.warm()
	if err := r.checkName("mkdir", name); err != nil {
		return err
	}
	err := r.with(ctx, func(s *session) error {
		if _, err := s.c.Cmd("MKD " + r.path(name)); err != nil {
			return s.mkdErr(ctx, name, err)
		}
		return nil
	})
	return pathErr("mkdir", name, err)
}

// Rmdir implements remote.Remote.
func (r *Remote) Rmdir(ctx context.Context, name string) error {
	r.pool.warm()
	if err := r.checkName("rmdir", name); err != nil {
		return err
	}
	err := r.with(ctx, func(s *session) error {
		_, err := s.c.Cmd("RMD " + r.path(name))
		if err == nil {
			return nil
		}
		return s.rmdErr(ctx, name, err)
	})
	return pathErr("rmdir", name, err)
}

// rmdErr examines a failed RMD: a directory that is not there is
// fs.ErrNotExist, whatever the server's words.
func (s *session) rmdErr(ctx context.Context, name string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		if _, serr := s.stat(ctx, name); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, err}
		}
	}
	return classify("RMD", err)
}

// List implements remote.Remote. It changes into the directory and lists it
// without an argument, because servers glob LIST and NLST arguments ('*',
// '[') and take a leading '-' for options; MLSD (RFC 3659) when the server
// has it, else LIST -a, for the dot files.
func (r *Remote) List(ctx context.Context, name string) ([]remote.FileInfo, error) {
	if err := r.checkName("list", name); err != nil {
		return nil, err
	}
	var out []remote.FileInfo
	err := r.with(ctx, func(s *session) error {
		var err error
		out, err = s.list(ctx, name)
		return err
	})
	if err != nil {
		return nil, pathErr("list", name, err)
	}
	return out, nil
}

func (s *session) list(ctx context.Context, name string) ([]remote.FileInfo, error) {
	if _, err := s.c.Cmd("CWD " + s.r.path(name)); err != nil {
		return nil, classify("CWD", err)
	}
	verb, cmd := "LIST", "LIST -a"
	if s.mlst {
		verb, cmd = "MLSD", "MLSD"
	}
	fr, err := s.retr(ctx, verb, cmd)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(fr, 256<<20))
	if err != nil {
		s.broken = true
		s.abort()
		return nil, classify(verb, err)
	}
	if err := fr.finish(); err != nil {
		return nil, classify(verb, err)
	}
	if s.mlst {
		return parseMLSD(string(raw))
	}
	return parseLIST(string(raw)), nil
}

// Close implements remote.Remote.
func (r *Remote) Close() error {
	r.finishing.Wait()
	st := r.Stats()
	r.pool.close()
	r.log.Info("ftp statistics", "connections", r.pool.limit(), "commands", st.Commands, "round_trips", st.RoundTrips,
		"files", st.Files, "data_opened_ahead", st.Ahead, "early_epsv", r.pipe.early.Load() && !r.pipe.off.Load())
	return nil
}
