// Package ftp is the transport for FTP servers: ftp:// (clear text),
// ftpes:// (explicit TLS, RFC 4217 AUTH TLS, never falling back to clear
// text) and ftps:// (implicit TLS, port 990).
//
// It drives github.com/jlaffaye/ftp, but owns every connection the library
// uses through its dial function: the control connection (so that it can do
// the TLS handshake, log the dialogue and put idle deadlines on it) and the
// data connections (so that their TLS resumes the control session and ends
// the way vsftpd needs).
//
// URL paths follow curl and git-ftp: ftp://host/www is www in the login
// directory, ftp://host//srv/www is /srv/www. Every command names an
// absolute path built from the root (resolved with PWD at login).
//
// Passive mode is the default (EPSV, or PASV with Options.DisableEPSV);
// Options.Active uses EPRT/PORT (see active.go).
package ftp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/gftp/gftp/internal/proxy"
	"github.com/gftp/gftp/internal/tlstrace"
	"github.com/gftp/gftp/remote"
)

func init() {
	remote.Register(func(ctx context.Context, u *url.URL, opts remote.Options) (remote.Remote, error) {
		return New(ctx, u, opts)
	}, "ftp", "ftpes", "ftps")
}

// Mode is how a connection is secured.
type Mode int

// The three FTP security modes.
const (
	Plain    Mode = iota // ftp://: no TLS
	Explicit             // ftpes://: AUTH TLS after the greeting; refusal is an error
	Implicit             // ftps://: TLS from the first byte
)

// ErrTLSRefused is returned for ftpes:// when the server does not accept
// AUTH TLS. The client then closes the connection without sending USER.
var ErrTLSRefused = errors.New("server refused AUTH TLS")

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
	active *activeConfig // nil: passive mode
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
	// finishing counts downloads handed back before their 226 (see
	// reader.Close); Close waits for them.
	finishing sync.WaitGroup

	dialer proxy.ContextDialer
	// proxied: connections go through Options.Proxy, so the control
	// connection's peer address is the proxy's, not the server's.
	proxied bool
}

// pipeState is what the fast upload path (fast.go) learnt in this run, and
// what it counted.
type pipeState struct {
	early atomic.Bool // the server reads no command during a transfer (vsftpd): EPSV may go before the 226
	// strict: the server refuses TLS data that ends without close_notify
	// (vsftpd answers 426), so a cut upload cannot pass for a whole one.
	strict atomic.Bool
	off    atomic.Bool  // the server mishandled an early EPSV after all
	ahead  atomic.Int64 // transfers whose data connection was dialled ahead
	cmds   atomic.Int64 // commands sent on every control connection
	turns  atomic.Int64 // waits for a reply after sending (round trips)
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
	return Stats{Commands: r.pipe.cmds.Load(), RoundTrips: r.pipe.turns.Load(),
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
	if opts.Jobs < 1 {
		opts.Jobs = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Remote{opts: opts, log: opts.Logger}
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
		a, err := parseActive(opts.ActiveAddr, opts.ActivePorts)
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
	stop := s.begin(ctx)
	pwd, err := s.sc.CurrentDir()
	if err == nil {
		err = s.ctl.settle("")
	}
	err = s.end(ctx, stop, err)
	r.pool.put(s)
	if err != nil {
		r.pool.close()
		return nil, &fs.PathError{Op: "connect", Path: r.where, Err: fmt.Errorf("PWD: %w", classify("PWD", err))}
	}
	pwd = strings.ReplaceAll(pwd, `""`, `"`) // RFC 959 doubles quotes in a PWD reply
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

// checkName refuses names the server would not store as given.
func (r *Remote) checkName(op, name string) error {
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
	sc       *ftp.ServerConn
	ctl      *ctlConn
	tlsCfg   *tls.Config // the control connection's; nil without TLS
	dataCfg  *tls.Config // data connections': nil for clear ones
	mlst     bool
	mdtm     bool
	lastUsed time.Time
	broken   bool

	ctx     context.Context // of the operation in progress, for data dials
	mu      sync.Mutex
	data    *dataConn
	capture *bytes.Buffer // set while listing: the data connection copies the listing here
	pending net.Listener  // active mode: listening for the next data connection
	noEPRT  bool          // active mode: the server has no EPRT

	rd     *textproto.Reader // replies to commands sent past the library (fast.go)
	next   *nextData         // a data connection opened ahead (fast.go)
	drops  []*nextData       // given up while still being dialled (fast.go)
	noEPSV bool              // the server has no EPSV: PASV

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
	raw, err := r.dialer.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return nil, err
	}
	if r.log.Enabled(ctx, slog.LevelDebug) {
		// curl's first line, which troubleshooting guides read.
		host, port, _ := net.SplitHostPort(r.addr)
		ip, _, _ := net.SplitHostPort(raw.RemoteAddr().String())
		via := ""
		if r.proxied {
			via, ip = " through the proxy at "+raw.RemoteAddr().String(), "via proxy"
		}
		r.log.Debug(fmt.Sprintf("* Connected to %s (%s) port %s%s", host, ip, port, via), "conn", id)
	}
	// Cancellation while connecting and logging in closes the socket.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer func() {
		if !stop() && err == nil {
			err = ctx.Err()
		}
		if err != nil {
			raw.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		}
	}()
	s := &session{id: id, r: r, ctx: ctx}
	var conn net.Conn = raw
	var prefix []byte
	var banner string
	switch r.mode {
	case Implicit:
		s.tlsCfg = r.tls.config()
		if conn, err = r.handshake(ctx, raw, s.tlsCfg, id); err != nil {
			return nil, err
		}
	case Explicit:
		s.tlsCfg = r.tls.config()
		if prefix, banner, err = r.authTLS(raw, id); err != nil {
			return nil, err
		}
		if conn, err = r.handshake(ctx, raw, s.tlsCfg, id); err != nil {
			return nil, err
		}
	}
	if tc, ok := conn.(*tls.Conn); ok {
		s.dataCfg = dataConfig(s.tlsCfg, tc.ConnectionState().Version)
	}
	s.ctl = newCtlConn(conn, raw, r.opts.Timeout, r.log, int(id))
	s.ctl.beforePassive = s.settleDrops
	s.ctl.prefix = prefix
	s.ctl.cmds, s.ctl.turns = &r.pipe.cmds, &r.pipe.turns
	// What jlaffaye/ftp's Login sends after FEAT, one round trip each, goes
	// out with FEAT; the first connection's PWD too (New asks for it).
	batch := []string{"TYPE I", "OPTS UTF8 ON"}
	if s.tlsCfg != nil {
		batch = append(batch, "PBSZ 0", "PROT P")
	}
	// An EPSV too, for the first transfer, whose data connection is
	// then dialled as soon as the login is in. Servers keep that port
	// open across MKD, SIZE, DELE, RNFR and the like (vsftpd, proftpd
	// and pure-ftpd, TestPortSurvivesCommands), so it waits for the
	// first transfer, whatever comes before.
	loginEPSV := r.pipelined() && !r.opts.DisableEPSV
	if loginEPSV {
		batch = append(batch, "EPSV")
	}
	if id == 1 {
		batch = append(batch, "PWD")
	}
	s.ctl.batch = map[string][]string{"FEAT": batch}
	if !strings.ContainsAny(r.user+r.pass, "\r\n") {
		// USER, PASS and FEAT go too: the whole login in one round trip
		// once TLS is up. A server that logs in on USER alone answers
		// the PASS with 503, which the library never asks for and the
		// batch drops.
		s.ctl.batch = map[string][]string{"USER " + r.user: append([]string{"PASS " + r.pass, "FEAT"}, batch...)}
	}
	if r.active != nil {
		s.ctl.intercept = s.activeIntercept
	}
	first := true
	dialOpts := []ftp.DialOption{
		ftp.DialWithDialFunc(func(network, addr string) (net.Conn, error) {
			if first {
				first = false
				return s.ctl, nil
			}
			return s.dialData(network, addr)
		}),
		ftp.DialWithDisabledEPSV(r.opts.DisableEPSV),
		ftp.DialWithTrustPasvIP(r.opts.TrustPASVIP),
	}
	if s.tlsCfg != nil {
		// With a dial function, the library leaves the control connection
		// to us and only sends PBSZ 0 and PROT P after login.
		dialOpts = append(dialOpts, ftp.DialWithTLS(s.tlsCfg))
	}
	if s.sc, err = ftp.Dial(r.addr, dialOpts...); err != nil {
		return nil, s.replyErr(err)
	}
	if banner == "" {
		banner = s.ctl.banner()
	}
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
				_ = s.sc.Quit()
				return nil, errLeaderFailed
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err = s.sc.Login(r.user, r.pass); err != nil {
		err = s.replyErr(err)
		_ = s.sc.Quit()
		return nil, err
	}
	s.ctl.batch = nil
	if loginEPSV {
		if reply, ok, err := s.ctl.take("EPSV"); err != nil {
			_ = s.sc.Quit()
			return nil, err
		} else if ok {
			s.loginEPSV(reply)
		}
	}
	if err = s.ctl.settle("PWD"); err != nil {
		_ = s.sc.Quit()
		return nil, err
	}
	s.mlst = s.sc.IsTimePreciseInList()
	s.mdtm = s.sc.IsGetTimeSupported()
	s.hashWay = hashWayFrom(s.ctl.features())
	s.lastUsed = time.Now()
	r.log.Info("connected", "conn", id, "addr", r.addr, "user", r.user, "mlst", s.mlst)
	return s, nil
}

// loginEPSV takes the reply to the EPSV sent with the login: the first
// transfer's data connection is dialled now, or the session learns that
// the server has no EPSV.
func (s *session) loginEPSV(reply []byte) {
	code, msg, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(reply))).ReadResponse(0)
	if err != nil {
		return
	}
	s.dialFromEPSV(code, msg)
}

// errLeaderFailed ends a connection opened ahead when the first one was
// refused its login or certificate: this one would be refused the same way.
var errLeaderFailed = errors.New("the first connection did not log in")

// replyErr recovers the reply code jlaffaye/ftp drops when it turns an
// unexpected reply (to USER, say) into a bare error string.
func (s *session) replyErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) || isNetError(err) || isTLSVerify(err) {
		return err
	}
	if code, msg := s.ctl.last(); code >= 400 {
		return &textproto.Error{Code: code, Msg: msg}
	}
	return err
}

// authTLS reads the greeting and asks for TLS (RFC 4217). It returns the
// greeting, to be replayed to jlaffaye/ftp once TLS is up. A refusal is an
// error: ftpes:// never falls back to clear text, so USER and PASS are never
// sent in clear.
func (r *Remote) authTLS(raw net.Conn, id int64) ([]byte, string, error) {
	pre := newCtlConn(raw, raw, r.opts.Timeout, r.log, int(id))
	var greeting bytes.Buffer
	tp := textproto.NewReader(bufio.NewReader(io.TeeReader(pre, &greeting)))
	if _, _, err := tp.ReadResponse(ftp.StatusReady); err != nil {
		return nil, "", err
	}
	if _, err := pre.Write([]byte("AUTH TLS\r\n")); err != nil {
		return nil, "", err
	}
	tp = textproto.NewReader(bufio.NewReader(pre))
	if _, _, err := tp.ReadResponse(ftp.StatusAuthOK); err != nil {
		// The reply is kept as text only: its code (often 530) must not
		// pass for a verdict on the credentials, which were never sent.
		return nil, "", fmt.Errorf("%w (ftpes:// never falls back to clear text): %v", ErrTLSRefused, err)
	}
	return greeting.Bytes(), pre.banner(), nil
}

// handshake runs the control connection's TLS handshake and logs the result.
func (r *Remote) handshake(ctx context.Context, raw net.Conn, cfg *tls.Config, id int64) (net.Conn, error) {
	// At -vv the handshake is logged the way curl -v logs it: the messages
	// seen on the wire, then the certificate and the verification result.
	hsConn, hsCfg := raw, cfg
	var tr *tlstrace.Tracer
	if r.log.Enabled(ctx, slog.LevelDebug) {
		tr = tlstrace.New(func(line string) { r.log.Debug(line, "conn", id) })
		if r.opts.Insecure {
			tr.Accepted = "--insecure"
		}
		hsConn, hsCfg = tr.Conn(raw), tr.Config(cfg) // the clone shares cfg's session cache
	}
	tc := tls.Client(hsConn, hsCfg)
	if r.opts.Timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(r.opts.Timeout))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if tr != nil {
			tr.Failed(err)
		}
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	_ = raw.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	if tr != nil {
		tr.Summary(cs)
	}
	r.log.Info("control connection TLS", "conn", id, "version", tls.VersionName(cs.Version),
		"cipher", tls.CipherSuiteName(cs.CipherSuite), "server_name", cfg.ServerName)
	if shift := keepResumable(cfg, cs); shift > 0 {
		r.log.Info("server certificate has expired (accepted anyway); TLS session clock moved back so that data connections can resume",
			"conn", id, "not_after", cs.PeerCertificates[0].NotAfter, "shift", shift.Round(time.Second))
	}
	return tc, nil
}

// dialData opens a data connection: in passive mode it dials addr; in active
// mode it takes the listener that activeIntercept opened, and the server's
// connection is accepted on first use. The TLS and the careful Close above
// are the same either way.
func (s *session) dialData(network, addr string) (net.Conn, error) {
	s.mu.Lock()
	l := s.pending
	s.pending = nil
	s.mu.Unlock()
	if l != nil {
		var server net.IP
		if ra, ok := s.ctl.raw.RemoteAddr().(*net.TCPAddr); ok {
			server = ra.IP
		}
		dc := &dataConn{
			ch:      &acceptChannel{l: l, server: server},
			tee:     s.capture,
			cfg:     s.dataCfg,
			timeout: s.r.opts.Timeout,
			log:     s.r.log,
			id:      int(s.id),
		}
		s.mu.Lock()
		s.data = dc
		s.mu.Unlock()
		return dc, nil
	}
	ctx := s.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := s.r.dialer.DialContext(ctx, network, s.dataAddr(addr))
	if err != nil {
		return nil, err
	}
	dc := &dataConn{
		Conn:    c,
		ch:      dialedChannel{c},
		tee:     s.capture,
		cfg:     s.dataCfg,
		timeout: s.r.opts.Timeout,
		log:     s.r.log,
		id:      int(s.id),
	}
	s.mu.Lock()
	s.data = dc
	s.mu.Unlock()
	return dc, nil
}

// dataAddr returns where a passive data connection goes. Behind a proxy,
// the control connection's peer is the proxy, and the library and
// passiveAddr put its address in place of the server's: the data
// connection goes to the server's host as the URL names it (a name that
// only the proxy may be able to resolve).
func (s *session) dataAddr(addr string) string {
	if !s.r.proxied {
		return addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ra, ok := s.ctl.raw.RemoteAddr().(*net.TCPAddr); host == "" || ok && ra.IP.Equal(net.ParseIP(host)) {
		server, _, _ := net.SplitHostPort(s.r.addr)
		return net.JoinHostPort(server, port)
	}
	return addr
}

// begin ties a session to the operation's context: cancelling it closes the
// connections, which unblocks any read or write in progress.
func (s *session) begin(ctx context.Context) (stop func() bool) {
	s.ctx = ctx
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
	s.mu.Lock()
	s.data = nil
	s.mu.Unlock()
	s.dropPending()
	s.ctx = nil
	return err
}

func (s *session) abort() {
	s.ctl.abort()
	s.dropPending()
	s.mu.Lock()
	d := s.data
	s.mu.Unlock()
	if d != nil {
		d.abort()
	}
}

// run runs fn as one operation on the session.
func (s *session) run(ctx context.Context, fn func() error) error {
	stop := s.begin(ctx)
	return s.end(ctx, stop, fn())
}

func (s *session) close() {
	s.dropNext()
	for _, n := range s.drops {
		go closeWhenDialled(n)
	}
	s.drops = nil
	if s.broken {
		s.ctl.abort()
	} else {
		_ = s.sc.Quit()
	}
	s.r.log.Info("disconnected", "conn", s.id)
}

func hasCode(err error, code int) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code == code
}

// with runs fn on a pooled session.
func (r *Remote) with(ctx context.Context, fn func(s *session) error) error {
	return r.withFast(ctx, func(s *session) error {
		// A data connection opened ahead stays for the next transfer:
		// servers keep its port open across the commands that are not
		// transfers (TestPortSurvivesCommands). What sends a transfer
		// through the library (LIST, say) gives it up first.
		return fn(s)
	})
}

// withFast runs fn on a pooled session, keeping a data connection opened
// ahead for the transfer fn starts.
func (r *Remote) withFast(ctx context.Context, fn func(s *session) error) error {
	s, err := r.pool.get(ctx)
	if err != nil {
		return classify("USER", err)
	}
	err = s.run(ctx, func() error { return fn(s) })
	r.pool.put(s)
	return err
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
		fi, err = s.stat(name)
		return err
	})
	return fi, pathErr("stat", name, err)
}

func (s *session) stat(name string) (remote.FileInfo, error) {
	p := s.r.path(name)
	fi := remote.FileInfo{Name: name}
	if s.mlst {
		e, err := s.sc.GetEntry(p)
		if err == nil {
			fi.IsDir = e.Type == ftp.EntryTypeFolder
			if !fi.IsDir {
				fi.Size = int64(e.Size)
			}
			fi.ModTime = e.Time
			return fi, nil
		}
		var te *textproto.Error
		if errors.As(err, &te) || isNetError(err) {
			return fi, classify("MLST", err)
		}
		// An MLST reply the library cannot parse: try the older ways.
	}
	size, err := s.sc.FileSize(p)
	if err == nil {
		fi.Size = size
		if s.mdtm {
			if t, err := s.sc.GetTime(p); err == nil {
				fi.ModTime = t
			}
		}
		return fi, nil
	}
	var te *textproto.Error
	if !errors.As(err, &te) {
		return fi, classify("SIZE", err)
	}
	// SIZE fails on directories (vsftpd: 550 Could not get file size).
	if cerr := s.sc.ChangeDir(p); cerr == nil {
		fi.IsDir = true
		return fi, nil
	} else if !errors.As(cerr, &te) {
		return fi, classify("CWD", cerr)
	}
	if te.Code == 500 || te.Code == 502 || te.Code == 504 { // no SIZE at all
		if name == "" {
			return fi, classify("CWD", err)
		}
		list, lerr := s.list(remote.Dir(name))
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
		return fi, &kindError{fs.ErrNotExist, err}
	}
	return fi, classify("SIZE", err)
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
	if r.pipelined() && !strings.ContainsAny(r.path(name), "\r\n") {
		fr, err := s.retr(ctx, name)
		if err != nil {
			err = s.end(ctx, stop, err)
			r.pool.put(s)
			return nil, pathErr("open", name, err)
		}
		return &reader{r: r, s: s, fast: fr, stop: stop, ctx: ctx, name: name}, nil
	}
	s.dropNext()
	resp, err := s.sc.Retr(r.path(name))
	if err != nil {
		err = s.end(ctx, stop, err)
		r.pool.put(s)
		return nil, pathErr("open", name, classify("RETR", err))
	}
	return &reader{r: r, s: s, resp: resp, stop: stop, ctx: ctx, name: name}, nil
}

// reader streams a RETR; Close returns its session to the pool.
type reader struct {
	r    *Remote
	s    *session
	resp *ftp.Response // through the library, or
	fast *fastReader   // on the fast path
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
	var n int
	var err error
	if rd.fast != nil {
		n, err = rd.fast.Read(p)
	} else {
		n, err = rd.resp.Read(p)
	}
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
	if !rd.eof {
		rd.s.broken = true
		rd.s.abort()
		if rd.fast != nil && !rd.fast.ready {
			<-rd.fast.hs
		}
		_ = rd.s.end(rd.ctx, rd.stop, nil)
		rd.r.pool.put(rd.s)
		return nil
	}
	var err error
	if f := rd.fast; f != nil && f.want >= 0 && f.n == f.want {
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
	if rd.fast != nil {
		err = rd.fast.finish()
	} else {
		err = rd.resp.Close()
	}
	err = rd.s.end(rd.ctx, rd.stop, err)
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
	err := r.withFast(ctx, func(s *session) error {
		if r.pipelined() && !strings.ContainsAny(r.path(name), "\r\n") {
			return s.store(ctx, name, name, src)
		}
		return s.libStore(ctx, name, src)
	})
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
	err := r.with(ctx, func(s *session) error { return s.rename(from, to) })
	return pathErr("rename", to, err)
}

// Remove implements remote.Remote.
func (r *Remote) Remove(ctx context.Context, name string) error {
	r.pool.warm()
	if err := r.checkName("remove", name); err != nil {
		return err
	}
	err := r.with(ctx, func(s *session) error {
		return s.deleErr(name, classify("DELE", s.sc.Delete(r.path(name))))
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
		if err := s.sc.MakeDir(r.path(name)); err != nil {
			return s.mkdErr(name, err)
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
		err := s.sc.RemoveDir(r.path(name))
		if err == nil {
			return nil
		}
		var te *textproto.Error
		if errors.As(err, &te) {
			if _, serr := s.stat(name); errors.Is(serr, fs.ErrNotExist) {
				return &kindError{fs.ErrNotExist, err}
			}
		}
		return classify("RMD", err)
	})
	return pathErr("rmdir", name, err)
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
		out, err = s.list(name)
		return err
	})
	if err != nil {
		return nil, pathErr("list", name, err)
	}
	return out, nil
}

func (s *session) list(name string) ([]remote.FileInfo, error) {
	s.dropNext()
	if err := s.sc.ChangeDir(s.r.path(name)); err != nil {
		return nil, classify("CWD", err)
	}
	if s.mlst {
		// The library drops MLSD lines it cannot parse (a "modify" fact
		// with fractions of a second, say), so the listing is read here.
		s.capture = &bytes.Buffer{}
		_, err := s.sc.List("")
		raw := s.capture
		s.capture = nil
		if err != nil {
			return nil, classify("MLSD", err)
		}
		return parseMLSD(raw.String())
	}
	entries, err := s.sc.List("-a")
	if err != nil {
		return nil, classify("LIST", err)
	}
	out := make([]remote.FileInfo, 0, len(entries))
	for _, e := range entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.Contains(e.Name, "/") {
			continue // cdir and pdir entries
		}
		fi := remote.FileInfo{Name: e.Name, IsDir: e.Type == ftp.EntryTypeFolder, ModTime: e.Time}
		if !fi.IsDir {
			fi.Size = int64(e.Size)
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
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
