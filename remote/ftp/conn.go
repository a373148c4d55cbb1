package ftp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ctlConn is the control connection as jlaffaye/ftp sees it. It sits above
// TLS, so it sees the dialogue in clear: it puts an idle deadline on every
// read and write (the library's DialWithShutTimeout leaves deadlines behind),
// logs the dialogue at Debug with PASS redacted, and remembers the last reply,
// because the library turns some replies (to USER) into bare strings.
type ctlConn struct {
	net.Conn          // the TLS connection, or raw
	raw      net.Conn // the TCP connection, closed to abort
	timeout  time.Duration
	log      *slog.Logger
	debug    bool
	id       int

	prefix []byte // a greeting read before TLS, replayed to the library

	// batch, when set, goes out in one write behind the command it is
	// keyed by (FEAT, after login): the commands the library sends next,
	// one round trip at a time. Their replies are handed to the library as
	// it asks (see pipelineWrite).
	batch   map[string][]string
	pending []pendingReply // sent in a batch, in order, reply not yet given to the library
	pbuf    []byte         // read past the replies handed out so far

	cmds, turns *atomic.Int64 // counters shared by a Remote's connections (may be nil)
	wrote       bool          // sent since the last read: the next read is a round trip

	// intercept, when set, answers EPSV and PASV itself (active mode): it
	// may talk to the server through send and recv, and returns the reply
	// the library is to read instead.
	intercept func(cmd string) (reply string, err error)

	// beforePassive, when set, runs before a write that holds an EPSV or
	// PASV, whoever sends it (the library or fast.go).
	beforePassive func() error

	mu       sync.Mutex
	rbuf     []byte
	wbuf     []byte
	lastCode int
	lastMsg  string
	greeting strings.Builder // every line of the first reply
	greeted  bool
	inFeat   bool
	feats    []string // the features of the last FEAT reply, one per line
}

func newCtlConn(c, raw net.Conn, timeout time.Duration, log *slog.Logger, id int) *ctlConn {
	return &ctlConn{
		Conn:    c,
		raw:     raw,
		timeout: timeout,
		log:     log,
		debug:   log.Enabled(context.Background(), slog.LevelDebug),
		id:      id,
	}
}

func (c *ctlConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.recv(p)
}

// recv reads from the server, with the idle deadline, and logs.
func (c *ctlConn) recv(p []byte) (int, error) {
	if c.timeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	if c.wrote {
		c.wrote = false
		if c.turns != nil {
			c.turns.Add(1)
		}
	}
	n, err := c.Conn.Read(p)
	quickAck(c.raw)
	if n > 0 {
		c.saw(p[:n], true)
	}
	return n, err
}

func (c *ctlConn) Write(p []byte) (int, error) {
	if len(c.batch) > 0 || c.pending != nil {
		return c.pipelineWrite(p)
	}
	if c.intercept != nil {
		// textproto writes each command in one Write.
		if cmd := strings.TrimRight(string(p), "\r\n"); cmd == "EPSV" || cmd == "PASV" {
			reply, err := c.intercept(cmd)
			if err != nil {
				return 0, err
			}
			c.prefix = append(c.prefix, reply+"\r\n"...)
			return len(p), nil
		}
	}
	return c.send(p)
}

// pendingReply is a command sent ahead in a batch, and its reply once read.
type pendingReply struct {
	cmd   string
	reply []byte // the whole reply, every line; nil until read
}

// pipelineWrite sends the library's command, or, for a command sent ahead in
// a batch, hands the library its reply instead. Servers answer in order, so
// the replies to commands the library skips (OPTS UTF8 ON when FEAT has no
// UTF8) are read and dropped, and a command that was not sent ahead waits
// until every batched reply is in.
func (c *ctlConn) pipelineWrite(p []byte) (int, error) {
	cmd := strings.TrimRight(string(p), "\r\n")
	if more, ok := c.batch[cmd]; ok {
		c.batch = nil
		var b strings.Builder
		b.Write(p)
		c.pending = append(c.pending, pendingReply{cmd: cmd})
		for _, m := range more {
			b.WriteString(m + "\r\n")
			c.pending = append(c.pending, pendingReply{cmd: m})
		}
		if _, err := c.send([]byte(b.String())); err != nil {
			return 0, err
		}
		return len(p), c.handOut(cmd)
	}
	for _, pr := range c.pending {
		if pr.cmd == cmd {
			return len(p), c.handOut(cmd)
		}
	}
	// Not sent ahead: every batched reply first, then this command.
	for len(c.pending) > 0 {
		if err := c.readPending(); err != nil {
			return 0, err
		}
		c.pending = c.pending[1:]
	}
	c.drained()
	return c.send(p)
}

// handOut reads replies up to cmd's and puts cmd's where the library reads.
func (c *ctlConn) handOut(cmd string) error {
	for len(c.pending) > 0 {
		pr := c.pending[0]
		if err := c.readPending(); err != nil {
			return err
		}
		reply := c.pending[0].reply
		c.pending = c.pending[1:]
		if pr.cmd == cmd {
			c.prefix = append(c.prefix, reply...)
			c.drained()
			return nil
		}
	}
	return nil
}

// settle reads the replies of every batched command before keep (all of
// them when keep is not pending), for commands the library did not send.
func (c *ctlConn) settle(keep string) error {
	for len(c.pending) > 0 && c.pending[0].cmd != keep {
		if err := c.readPending(); err != nil {
			return err
		}
		c.pending = c.pending[1:]
	}
	c.drained()
	return nil
}

// drained, once no batched reply is pending, hands what was read past them
// to the library, which reads the replies to its own commands next.
func (c *ctlConn) drained() {
	if len(c.pending) == 0 {
		c.pending = nil
		c.prefix = append(c.prefix, c.pbuf...)
		c.pbuf = nil
	}
}

// take reads the replies of the batched commands up to cmd, dropping the
// ones before it, and returns cmd's, which is no longer pending. ok is false
// when cmd was not pending.
func (c *ctlConn) take(cmd string) (reply []byte, ok bool, err error) {
	if !slices.ContainsFunc(c.pending, func(p pendingReply) bool { return p.cmd == cmd }) {
		return nil, false, nil
	}
	if err := c.settle(cmd); err != nil {
		return nil, false, err
	}
	if err := c.readPending(); err != nil {
		return nil, false, err
	}
	reply = c.pending[0].reply
	c.pending = c.pending[1:]
	c.drained()
	return reply, true, nil
}

// readPending reads the whole reply of the first pending command: lines
// until one that starts with its code and a space (RFC 959 section 4.2).
func (c *ctlConn) readPending() error {
	if c.pending[0].reply != nil {
		return nil
	}
	var reply []byte
	code := ""
	for {
		i := bytes.IndexByte(c.pbuf, '\n')
		if i < 0 {
			buf := make([]byte, 4096)
			n, err := c.recv(buf)
			c.pbuf = append(c.pbuf, buf[:n]...)
			if err != nil && n == 0 {
				return err
			}
			continue
		}
		line := c.pbuf[:i+1]
		c.pbuf = c.pbuf[i+1:]
		reply = append(reply, line...)
		if code == "" && len(line) >= 3 {
			code = string(line[:3])
		}
		if len(line) >= 4 && string(line[:3]) == code && line[3] == ' ' {
			c.pending[0].reply = reply
			return nil
		}
	}
}

// send writes to the server, with the idle deadline, and logs.
func (c *ctlConn) send(p []byte) (int, error) {
	if c.beforePassive != nil && asksPassive(p) {
		if err := c.beforePassive(); err != nil {
			return 0, err
		}
	}
	if c.timeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	c.saw(p, false)
	c.wrote = true
	return c.Conn.Write(p)
}

// asksPassive reports whether commands p holds an EPSV or a PASV.
func asksPassive(p []byte) bool {
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		line = bytes.TrimRight(line, "\r")
		if bytes.EqualFold(line, []byte("EPSV")) || bytes.EqualFold(line, []byte("PASV")) {
			return true
		}
	}
	return false
}

// saw splits the dialogue into lines, logs them, and keeps the last reply.
func (c *ctlConn) saw(p []byte, in bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := &c.wbuf
	if in {
		buf = &c.rbuf
	}
	*buf = append(*buf, p...)
	for {
		i := bytes.IndexByte(*buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string((*buf)[:i]), "\r")
		*buf = (*buf)[i+1:]
		if in {
			c.reply(line)
		} else {
			c.sent(line)
		}
	}
	if len(*buf) > 64<<10 { // not a dialogue: do not grow without end
		*buf = (*buf)[:0]
	}
}

func (c *ctlConn) reply(line string) {
	final := false
	if len(line) >= 4 && line[3] == ' ' {
		if code, err := strconv.Atoi(line[:3]); err == nil {
			c.lastCode, c.lastMsg = code, line[4:]
			final = true
		}
	}
	// A FEAT reply (RFC 2389): "211-" and one feature per line, each led
	// by a space, up to "211 ".
	switch {
	case strings.HasPrefix(line, "211-"):
		c.inFeat, c.feats = true, nil
	case c.inFeat && final:
		c.inFeat = false
	case c.inFeat && strings.HasPrefix(line, " ") && len(c.feats) < 200:
		c.feats = append(c.feats, strings.TrimSpace(line))
	}
	if !c.greeted && c.greeting.Len() < 4096 {
		c.greeting.WriteString(line)
		c.greeting.WriteByte('\n')
		c.greeted = final
	}
	if c.debug {
		c.log.Debug("< "+line, "conn", c.id)
	}
}

func (c *ctlConn) sent(line string) {
	if c.cmds != nil {
		c.cmds.Add(1)
	}
	if c.debug {
		c.log.Debug("> "+redact(line), "conn", c.id)
	}
}

// redact hides the argument of commands that carry secrets.
func redact(line string) string {
	if len(line) >= 4 && (strings.EqualFold(line[:4], "PASS") || strings.EqualFold(line[:4], "ACCT")) {
		return line[:4] + " ****"
	}
	return line
}

// last returns the last final reply the server sent.
func (c *ctlConn) last() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastCode, c.lastMsg
}

// features returns the lines of the last FEAT reply.
func (c *ctlConn) features() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.feats...)
}

// banner returns the server's greeting.
func (c *ctlConn) banner() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.greeting.String()
}

// abort unblocks any call in progress by closing the TCP connection.
func (c *ctlConn) abort() { _ = c.raw.Close() }

// dataConn is one data connection. For PROT P it is the TLS client (RFC 4217
// keeps the FTP client the TLS client in both directions) over a transport
// connection that a dataChannel provides: dialled for passive mode, or, for
// active mode, accepted from the client's listener. The TLS handshake waits
// for the first read or write, because servers (proftpd, pure-ftpd) start TLS
// on the data connection only after the command on the control connection.
type dataConn struct {
	net.Conn // raw until established
	ch       dataChannel
	cfg      *tls.Config // nil: clear data channel
	timeout  time.Duration
	log      *slog.Logger
	id       int
	tee      *bytes.Buffer // receives what is read (listings)

	mu          sync.Mutex
	established bool
	tls         *tls.Conn
	handshaken  bool
	closed      bool
	err         error
}

// dataChannel supplies the transport connection under a data connection.
// Passive mode dials at once; an active-mode implementation would accept the
// server's connection on first use, within the deadline, which is why the
// data connection asks for it lazily.
type dataChannel interface {
	// Conn returns the transport connection, establishing it if needed.
	Conn(deadline time.Time) (net.Conn, error)
	// Close releases the transport (and any listener).
	Close() error
}

// dialedChannel is a passive-mode channel: the client already dialled.
type dialedChannel struct{ c net.Conn }

func (d dialedChannel) Conn(time.Time) (net.Conn, error) { return d.c, nil }
func (d dialedChannel) Close() error                     { return d.c.Close() }

func (d *dataConn) setup() error {
	if d.established {
		return d.err
	}
	d.established = true
	raw, err := d.ch.Conn(time.Now().Add(d.timeout))
	if err != nil {
		d.err = err
		return err
	}
	d.Conn = raw
	if d.cfg != nil {
		d.tls = tls.Client(raw, d.cfg)
	}
	return nil
}

// Handshake establishes the connection and, for TLS, runs the handshake.
// jlaffaye/ftp calls it after an empty upload, where nothing was written.
func (d *dataConn) Handshake() error {
	if err := d.setup(); err != nil {
		return err
	}
	if d.tls == nil || d.handshaken {
		return nil
	}
	d.handshaken = true
	if d.timeout > 0 {
		_ = d.Conn.SetDeadline(time.Now().Add(d.timeout))
	}
	if err := d.tls.Handshake(); err != nil {
		d.err = err
		return err
	}
	cs := d.tls.ConnectionState()
	d.log.Info("data connection TLS", "conn", d.id, "resumed", cs.DidResume,
		"version", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite))
	return nil
}

func (d *dataConn) Read(p []byte) (int, error) {
	if err := d.Handshake(); err != nil {
		return 0, err
	}
	if d.timeout > 0 {
		_ = d.Conn.SetReadDeadline(time.Now().Add(d.timeout))
	}
	var n int
	var err error
	if d.tls != nil {
		n, err = d.tls.Read(p)
	} else {
		n, err = d.Conn.Read(p)
	}
	if d.tee != nil && n > 0 {
		d.tee.Write(p[:n])
	}
	return n, err
}

func (d *dataConn) Write(p []byte) (int, error) {
	if err := d.Handshake(); err != nil {
		return 0, err
	}
	if d.timeout > 0 {
		_ = d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	if d.tls != nil {
		return d.tls.Write(p)
	}
	return d.Conn.Write(p)
}

// drainLimit bounds what Close reads after an early close of a download.
const drainLimit = 4 << 20

// Close ends the data connection so that the server sees a clean end of
// stream. Over TLS 1.3, vsftpd answers "426 Failure reading network stream"
// to uploads of 1 MiB or more unless the client sends close_notify, then
// half-closes TCP, and reads until the server's own close (measured; see
// STYLE.md). Errors while draining are not the transfer's: the reply on the
// control connection says how it went.
func (d *dataConn) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	if !d.established || d.err != nil || d.Conn == nil {
		return d.ch.Close()
	}
	var err error
	if d.tls != nil && d.handshaken {
		wait := d.timeout
		if wait <= 0 || wait > 10*time.Second {
			wait = 10 * time.Second
		}
		_ = d.Conn.SetDeadline(time.Now().Add(wait))
		err = d.tls.CloseWrite()
		if cw, ok := d.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(d.tls, drainLimit))
	}
	if cerr := d.ch.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

// The net.Conn methods below are safe before the connection is established.

func (d *dataConn) LocalAddr() net.Addr {
	if d.Conn == nil {
		return &net.TCPAddr{}
	}
	return d.Conn.LocalAddr()
}

func (d *dataConn) RemoteAddr() net.Addr {
	if d.Conn == nil {
		return &net.TCPAddr{}
	}
	return d.Conn.RemoteAddr()
}

func (d *dataConn) SetDeadline(t time.Time) error {
	if d.Conn == nil {
		return nil
	}
	return d.Conn.SetDeadline(t)
}

func (d *dataConn) SetReadDeadline(t time.Time) error {
	if d.Conn == nil {
		return nil
	}
	return d.Conn.SetReadDeadline(t)
}

func (d *dataConn) SetWriteDeadline(t time.Time) error {
	if d.Conn == nil {
		return nil
	}
	return d.Conn.SetWriteDeadline(t)
}

// abort closes the transport at once, unblocking a transfer.
func (d *dataConn) abort() {
	_ = d.ch.Close()
}
