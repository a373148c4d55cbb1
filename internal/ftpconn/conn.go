// Package ftpconn is one FTP control connection (RFC 959) and the data
// connections it opens. A Conn owns its socket and the one buffered reader
// of it: every reply the server sends is parsed there, in order, whoever
// asked. Two parsers of one control connection (a library's buffer and your
// own) can disagree about where the next reply starts, so there is one.
//
// Pipelining is the first-class API: Send writes several commands in one
// write, and Reply reads their replies in the order they were sent. Do does
// both. Servers leave pipelined commands in the control connection's buffer
// until they get to them (RFC 959 section 4.1.1), so a batch costs one round
// trip instead of one per command, as long as no command in it depends on
// the outcome of one before it.
//
// The package also holds what every FTP client here needs once: explicit
// (AUTH TLS, RFC 4217) and implicit TLS with a tls.Config cloned per
// connection (its own session cache and ServerName), data connections that
// resume the control connection's TLS session and end the way vsftpd needs
// (data.go), passive (EPSV, PASV) and active (EPRT, PORT) data channels
// behind one type, idle deadlines on every read and write, and the -vv
// dialogue, with PASS redacted at the source.
package ftpconn

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gftp/gftp/internal/tlstrace"
)

// Mode is how a control connection is secured.
type Mode int

// The three FTP security modes.
const (
	Plain    Mode = iota // ftp://: no TLS
	Explicit             // ftpes://: AUTH TLS after the greeting; a refusal is an error
	Implicit             // ftps://: TLS from the first byte
)

// ErrTLSRefused is returned for Explicit mode when the server does not
// accept AUTH TLS. The client then closes the connection without sending
// USER: ftpes:// never falls back to clear text.
var ErrTLSRefused = errors.New("server refused AUTH TLS")

// Dialer opens TCP connections: a net.Dialer, or a proxy's (internal/proxy).
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Counters count the control-channel traffic of several connections.
type Counters struct {
	Commands   atomic.Int64 // commands sent
	RoundTrips atomic.Int64 // times a connection waited for a reply after sending
}

// Config says how to reach a server and how to talk to it.
type Config struct {
	Addr   string // host:port
	Mode   Mode
	Dialer Dialer // nil: a net.Dialer with Timeout
	// Proxied says Dialer goes through a proxy: the control connection's
	// peer is the proxy, so passive data connections go to Addr's host.
	Proxied bool
	// TLS is the template of every connection's tls.Config (verification,
	// roots, key log). Each connection gets a clone with its own session
	// cache and ServerName (see tls.go). Required unless Mode is Plain.
	TLS *tls.Config
	// InsecureLabel, when set, is what the -vv handshake trace says
	// accepted an unverified certificate ("--insecure").
	InsecureLabel string
	Timeout       time.Duration // idle deadline of every read and write; 0: none
	Log           *slog.Logger  // nil: discard
	ID            int64         // the conn= of every log line
	Counters      *Counters     // may be nil
	// DisableEPSV sends PASV (and PORT) instead of EPSV (and EPRT).
	DisableEPSV bool
	// TrustPASVIP connects to the address a PASV reply names instead of
	// the control connection's peer (NAT'd servers lie about it).
	TrustPASVIP bool
	// Active, when set, makes data channels active (EPRT/PORT): the
	// client listens, the server connects.
	Active *Active
}

// Reply is one reply of the server: its code and its text, the lines of a
// multi-line reply joined with "\n" (net/textproto's form).
type Reply struct {
	Code int
	Msg  string
}

// Err returns the reply as a *textproto.Error when its code says the
// command failed (4xx, 5xx), else nil.
func (r Reply) Err() error {
	if r.Code >= 400 {
		return &textproto.Error{Code: r.Code, Msg: r.Msg}
	}
	return nil
}

func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Msg) }

// Conn is one FTP control connection. Its methods are not safe for
// concurrent use, except Abort, which may be called at any time.
type Conn struct {
	cfg   Config
	log   *slog.Logger
	debug bool
	raw   net.Conn // the TCP connection: closed to abort
	sock  *sock    // what the one reader reads: raw, then TLS
	rd    *textproto.Reader

	tls      *tls.Config // this connection's (nil: clear)
	dataTLS  *tls.Config // its data connections' (nil: clear)
	tlsState *tls.ConnectionState
	hello    *helloCounter

	greeting Reply
	pending  int   // commands sent whose replies are unread
	expected int64 // final replies the server owes in all: the greeting's and one per command sent
	broken   bool  // a read or write failed: the dialogue is out of step
	quit     bool

	dataDialer Dialer     // cfg.Dialer for data connections: see dataDialer
	socks      *sockCache // passive data connections' idle sockets (reuse_linux.go)

	dataLogged atomic.Bool // a data connection's TLS was logged at -v (Data.logTLS)

	noEPSV bool // the server has no EPSV: PASV
	noEPRT bool // the server has no EPRT: PORT

	// Lines of the dialogue, for the one-reader check (CheckOneReader).
	parsedLines int64
}

// dataDialer is d for passive data connections: a net.Dialer's copy without
// TCP keep-alive. A data connection lives for one transfer and its read and
// write deadlines catch a dead peer; keep-alive costs four setsockopt calls
// per connection, so per file (strace of a 2,000-file init).
func dataDialer(d Dialer) Dialer {
	nd, ok := d.(*net.Dialer)
	if !ok {
		return d
	}
	dd := *nd
	dd.KeepAlive = -1
	dd.KeepAliveConfig = net.KeepAliveConfig{}
	return &dd
}

// Dial connects to the server, reads its greeting, and sets up TLS as
// cfg.Mode says. Cancelling ctx while it runs closes the connection.
func Dial(ctx context.Context, cfg Config) (_ *Conn, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &net.Dialer{Timeout: cfg.Timeout}
	}
	if cfg.Mode != Plain && cfg.TLS == nil {
		return nil, errors.New("ftpconn: TLS mode without a tls.Config")
	}
	raw, err := cfg.Dialer.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	raw = fastWrites(raw)
	c := &Conn{cfg: cfg, log: cfg.Log, raw: raw, dataDialer: dataDialer(cfg.Dialer)}
	c.socks = newSockCache(c)
	c.debug = c.log.Enabled(ctx, slog.LevelDebug)
	c.sock = &sock{c: c, conn: raw}
	c.rd = textproto.NewReader(bufio.NewReaderSize(c.sock.attach(), 4096))
	if c.debug {
		// curl's first line, which troubleshooting guides read.
		host, port, _ := net.SplitHostPort(cfg.Addr)
		ip, _, _ := net.SplitHostPort(raw.RemoteAddr().String())
		via := ""
		if cfg.Proxied {
			via, ip = " through the proxy at "+raw.RemoteAddr().String(), "via proxy"
		}
		c.log.Debug(fmt.Sprintf("* Connected to %s (%s) port %s%s", host, ip, port, via), "conn", cfg.ID)
	}
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
	if cfg.Mode != Plain {
		c.tls = connConfig(cfg.TLS, cfg.Addr)
	}
	if cfg.Mode == Implicit {
		if err := c.handshake(ctx); err != nil {
			return nil, err
		}
	}
	c.pending = 1 // the greeting
	c.expected = 1
	if c.greeting, err = c.Reply(); err != nil {
		return nil, err
	}
	if c.greeting.Code == 120 { // ready in a moment (RFC 959)
		if c.greeting, err = c.Reply(); err != nil {
			return nil, err
		}
	}
	if c.greeting.Code != 220 {
		return nil, &textproto.Error{Code: c.greeting.Code, Msg: c.greeting.Msg}
	}
	if cfg.Mode == Explicit {
		r, err := c.Do("AUTH TLS")
		if err != nil {
			return nil, err
		}
		if r[0].Code != 234 {
			// The reply is kept as text only: its code (often 530)
			// must not pass for a verdict on the credentials, which
			// were never sent.
			return nil, fmt.Errorf("%w (ftpes:// never falls back to clear text): %s", ErrTLSRefused, r[0])
		}
		if err := c.handshake(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// handshake runs the control connection's TLS handshake over the TCP
// connection, and from then on the one reader reads through TLS.
func (c *Conn) handshake(ctx context.Context) error {
	if c.rd.R.Buffered() > 0 {
		// Bytes after the 234 would be read as if they came over TLS.
		return errors.New("the server sent more after accepting AUTH TLS")
	}
	// At -vv the handshake is logged the way curl -v logs it: the messages
	// seen on the wire, then the certificate and the verification result.
	c.hello = &helloCounter{Conn: c.raw}
	var hsConn net.Conn = c.hello
	hsCfg := c.tls
	var tr *tlstrace.Tracer
	if c.debug {
		tr = tlstrace.New(func(line string) { c.log.Debug(line, "conn", c.cfg.ID) })
		tr.Accepted = c.cfg.InsecureLabel
		hsConn, hsCfg = tr.Conn(hsConn), tr.Config(c.tls) // the clone shares the session cache
	}
	tc := tls.Client(hsConn, hsCfg)
	if c.cfg.Timeout > 0 {
		_ = c.raw.SetDeadline(time.Now().Add(c.cfg.Timeout))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if tr != nil {
			tr.Failed(err)
		}
		forgetGroup(c.cfg.Addr)
		return fmt.Errorf("tls handshake: %w", err)
	}
	_ = c.raw.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	if tr != nil {
		tr.Summary(cs)
	}
	c.tlsState = &cs
	c.log.Info("control connection TLS", "conn", c.cfg.ID, "version", tls.VersionName(cs.Version),
		"cipher", tls.CipherSuiteName(cs.CipherSuite), "group", cs.CurveID.String(), "hello_retry", c.HelloRetried(),
		"server_name", c.tls.ServerName)
	if shift := keepResumable(c.tls, cs); shift > 0 {
		c.log.Info("server certificate has expired (accepted anyway); TLS session clock moved back so that data connections can resume",
			"conn", c.cfg.ID, "not_after", cs.PeerCertificates[0].NotAfter, "shift", shift.Round(time.Second))
	}
	rememberGroup(c.cfg.Addr, cs)
	c.dataTLS = dataConfig(c.tls, cs)
	c.sock.conn = tc
	return nil
}

// Greeting returns the server's greeting (its 220 reply).
func (c *Conn) Greeting() Reply { return c.greeting }

// TLS returns the state of the control connection's TLS, if any.
func (c *Conn) TLS() (tls.ConnectionState, bool) {
	if c.tlsState == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tlsState, true
}

// HelloRetried reports whether the control connection's TLS handshake was
// answered with a HelloRetryRequest (the server wanted another group's key
// share).
func (c *Conn) HelloRetried() bool { return c.hello != nil && c.hello.n.Load() > 1 }

// ID returns the connection's number in the log.
func (c *Conn) ID() int64 { return c.cfg.ID }

// Send writes cmds to the server in one write, so that they leave in one
// segment. Their replies are read with Reply, in order. A command that
// holds CR or LF is refused with fs.ErrInvalid and nothing is sent: the
// server would take the rest of the line for another command.
func (c *Conn) Send(cmds ...string) error {
	if c.broken {
		return errBroken
	}
	var b strings.Builder
	for _, cmd := range cmds {
		if strings.ContainsAny(cmd, "\r\n") {
			verb, _, _ := strings.Cut(cmd, " ")
			return fmt.Errorf("%s: a command line cannot hold CR or LF: %w", verb, fs.ErrInvalid)
		}
		b.WriteString(cmd)
		b.WriteString("\r\n")
	}
	for _, cmd := range cmds {
		if c.cfg.Counters != nil {
			c.cfg.Counters.Commands.Add(1)
		}
		if c.debug {
			c.log.Debug("> "+redact(cmd), "conn", c.cfg.ID)
		}
	}
	if c.cfg.Timeout > 0 {
		_ = c.sock.conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	}
	c.sock.wrote = true
	if _, err := io.WriteString(c.sock.conn, b.String()); err != nil {
		c.broken = true
		return err
	}
	c.pending += len(cmds)
	c.expected += int64(len(cmds))
	return nil
}

var errBroken = errors.New("control connection out of step after an earlier failure")

// Reply reads the reply to the oldest command sent whose final reply is
// unread; a preliminary reply (1xx) leaves the command waiting for its
// final one. A reply with an error code is not an error here: the caller judges it
// (Reply.Err). Only a broken connection, or a reply that cannot be parsed,
// is an error, after which the connection is out of step for good.
func (c *Conn) Reply() (Reply, error) {
	if c.broken {
		return Reply{}, errBroken
	}
	if c.pending == 0 {
		return Reply{}, errors.New("ftpconn: Reply without a command waiting for one")
	}
	code, msg, err := c.rd.ReadResponse(0)
	var te *textproto.Error
	if errors.As(err, &te) {
		code, msg, err = te.Code, te.Msg, nil
	}
	if err != nil {
		c.broken = true
		return Reply{}, err
	}
	if code >= 200 {
		// A preliminary reply (1xx: 150 before a transfer, 120 before
		// the greeting) is followed by the command's final one.
		c.pending--
	}
	c.parsedLines += int64(strings.Count(msg, "\n") + 1)
	return Reply{Code: code, Msg: msg}, nil
}

// Do sends cmds in one write and reads their replies.
func (c *Conn) Do(cmds ...string) ([]Reply, error) {
	if err := c.Send(cmds...); err != nil {
		return nil, err
	}
	out := make([]Reply, len(cmds))
	for i := range cmds {
		r, err := c.Reply()
		if err != nil {
			return out[:i], err
		}
		out[i] = r
	}
	return out, nil
}

// Cmd sends one command and returns its reply as an error when it failed.
func (c *Conn) Cmd(cmd string) (Reply, error) {
	r, err := c.Do(cmd)
	if err != nil {
		return Reply{}, err
	}
	return r[0], r[0].Err()
}

// Pending returns how many commands sent still wait for their reply read.
func (c *Conn) Pending() int { return c.pending }

// InStep reports whether every reply asked for has been read and the
// connection is usable: what is read next is the reply to the next command.
func (c *Conn) InStep() bool { return !c.broken && c.pending == 0 && c.rd.R.Buffered() == 0 }

// Broken reports whether a read or a write failed.
func (c *Conn) Broken() bool { return c.broken }

// Abort closes the TCP connection at once, unblocking any read or write in
// progress. Safe to call from any goroutine.
func (c *Conn) Abort() {
	_ = c.raw.Close()
	c.socks.close()
}

// Close says QUIT when the dialogue is in step, then closes the
// connection without waiting for the 221: the goodbye would cost a round
// trip at the end of every run, and nothing depends on it.
func (c *Conn) Close() error {
	if !c.quit && c.InStep() {
		c.quit = true
		if c.cfg.Timeout <= 0 || c.cfg.Timeout > 5*time.Second {
			_ = c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
		}
		_ = c.Send("QUIT")
	}
	err := c.raw.Close()
	c.socks.close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// CheckOneReader returns an error unless every line the server sent on
// this connection so far was parsed by its one reader, or waits in its
// buffer. A second reader of the socket (another library's buffer, a stray
// Read) would take lines the reader never sees, and the two would disagree
// about where the next reply starts. It is exact when the connection is in
// step (InStep).
func (c *Conn) CheckOneReader() error {
	s := c.sock
	s.mu.Lock()
	wire, partial := s.lines, len(s.rbuf)
	s.mu.Unlock()
	buffered := c.rd.R.Buffered()
	if buffered == 0 && partial == 0 && wire != c.parsedLines {
		return fmt.Errorf("conn %d: the server sent %d lines, the reader parsed %d: another reader took some", c.cfg.ID, wire, c.parsedLines)
	}
	if s.readers != 1 {
		return fmt.Errorf("conn %d: %d readers attached", c.cfg.ID, s.readers)
	}
	return nil
}

// sock is what the connection's one reader reads: the TCP connection, then
// its TLS. It puts the idle deadline on every read, counts round trips,
// and logs the dialogue as it arrives, line by line.
type sock struct {
	c       *Conn
	conn    net.Conn // raw, then TLS
	wrote   bool     // sent since the last read: the next read is a round trip
	readers int

	mu     sync.Mutex
	rbuf   []byte
	lines  int64
	finals int64 // final replies seen (finalLine)
}

// attach returns the socket as an io.Reader for the connection's one
// buffered reader. It panics when called twice: a second reader of a
// control connection is a bug (see the package comment).
func (s *sock) attach() io.Reader {
	s.readers++
	if s.readers > 1 {
		panic("ftpconn: a second reader attached to a control connection")
	}
	return s
}

func (s *sock) Read(p []byte) (int, error) {
	if t := s.c.cfg.Timeout; t > 0 {
		_ = s.conn.SetReadDeadline(time.Now().Add(t))
	}
	if s.wrote {
		s.wrote = false
		if s.c.cfg.Counters != nil {
			s.c.cfg.Counters.RoundTrips.Add(1)
		}
	}
	n, err := s.conn.Read(p)
	if n > 0 && s.saw(p[:n]) < s.c.expected {
		// More replies are owed; the server may hold them back until
		// this read is acknowledged (quickAck). When all are in, the
		// next command carries the acknowledgement, and nothing waits
		// for it: a setsockopt saved per reply (strace of an init).
		quickAck(s.c.raw)
	}
	return n, err
}

// saw splits what arrived into lines and logs them. It returns how many
// final replies (the last line of a reply, with a code of 200 or more)
// have arrived so far.
func (s *sock) saw(p []byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rbuf = append(s.rbuf, p...)
	for {
		i := bytes.IndexByte(s.rbuf, '\n')
		if i < 0 {
			break
		}
		if s.c.debug {
			s.c.log.Debug("< "+strings.TrimRight(string(s.rbuf[:i]), "\r"), "conn", s.c.cfg.ID)
		}
		if finalLine(s.rbuf[:i]) {
			s.finals++
		}
		s.rbuf = s.rbuf[i+1:]
		s.lines++
	}
	if len(s.rbuf) > 64<<10 { // not a dialogue: do not grow without end
		s.rbuf = s.rbuf[:0]
	}
	return s.finals
}

// finalLine reports whether line ends a final reply: a code of 200 or more
// followed by a space or nothing (RFC 959 section 4.2; a multi-line reply's
// other lines have a hyphen after the code, or no code).
func finalLine(line []byte) bool {
	line = bytes.TrimRight(line, "\r")
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return false
	}
	return len(line) == 3 || line[3] == ' '
}

// redact hides the argument of commands that carry secrets.
func redact(line string) string {
	if len(line) >= 4 && (strings.EqualFold(line[:4], "PASS") || strings.EqualFold(line[:4], "ACCT")) {
		return line[:4] + " ****"
	}
	return line
}

// Features returns the lines of a FEAT reply (RFC 2389), one feature each.
func Features(r Reply) []string {
	if r.Code != 211 {
		return nil
	}
	lines := strings.Split(r.Msg, "\n")
	var out []string
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(strings.ToLower(l), "end") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// HasFeature reports whether feats (from Features) lists name.
func HasFeature(feats []string, name string) bool {
	for _, f := range feats {
		n, _, _ := strings.Cut(f, " ")
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// ParsePWD returns the directory a 257 reply names: the text between the
// first quote and its closing one, with doubled quotes undone (RFC 959
// appendix II).
func ParsePWD(r Reply) (string, error) {
	if r.Code != 257 {
		return "", &textproto.Error{Code: r.Code, Msg: r.Msg}
	}
	msg := r.Msg
	i := strings.IndexByte(msg, '"')
	if i < 0 {
		return "", fmt.Errorf("PWD: no quoted directory in %q", msg)
	}
	var b strings.Builder
	for j := i + 1; j < len(msg); j++ {
		if msg[j] == '"' {
			if j+1 < len(msg) && msg[j+1] == '"' {
				b.WriteByte('"')
				j++
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(msg[j])
	}
	return "", fmt.Errorf("PWD: unterminated directory in %q", msg)
}

// ParseSize reads a 213 reply to SIZE.
func ParseSize(r Reply) (int64, error) {
	if r.Code != 213 {
		return 0, &textproto.Error{Code: r.Code, Msg: r.Msg}
	}
	return strconv.ParseInt(strings.TrimSpace(r.Msg), 10, 64)
}

// ParseMDTM reads a 213 reply to MDTM (RFC 3659: YYYYMMDDHHMMSS[.sss], UTC).
func ParseMDTM(r Reply) (time.Time, error) {
	if r.Code != 213 {
		return time.Time{}, &textproto.Error{Code: r.Code, Msg: r.Msg}
	}
	s := strings.TrimSpace(r.Msg)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	return time.Parse("20060102150405", s)
}
