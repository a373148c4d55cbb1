package ftpconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A data connection is set up in one of two ways, behind one type, Channel:
//
//   - passive (EPSV, RFC 2428; PASV, RFC 959): the server listens, its
//     reply names the port, and the client dials it. The client may dial as
//     soon as the reply is in, before it sends the transfer command, so
//     callers send EPSV ahead, with the commands before the transfer.
//   - active (EPRT, RFC 2428; PORT, RFC 959): the client listens and names
//     its port; the server connects once it reads the transfer command.
//     The client knows its address before it sends anything, so EPRT and
//     the transfer command go in one write: the same round trips as a
//     passive port asked for ahead.
//
// Over TLS the client stays the TLS client in both directions (RFC 4217
// section 7), and its handshake resumes the control connection's session.

// Active is where the client listens in active mode.
type Active struct {
	addr   string // IP to advertise and, when local, to listen on ("": the control connection's local address)
	lo, hi int    // port range (0, 0: any)
}

// ParseActive reads an address to advertise ("" for the control
// connection's local one) and a port range "LOW-HIGH" ("" for any).
func ParseActive(addr, ports string) (*Active, error) {
	a := &Active{addr: addr}
	if addr != "" && net.ParseIP(addr) == nil {
		return nil, fmt.Errorf("active address %q is not an IP address", addr)
	}
	if ports != "" {
		lo, hi, ok := strings.Cut(ports, "-")
		if !ok {
			hi = lo
		}
		var err1, err2 error
		a.lo, err1 = strconv.Atoi(strings.TrimSpace(lo))
		a.hi, err2 = strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a.lo < 1 || a.hi > 65535 || a.lo > a.hi {
			return nil, fmt.Errorf("active ports %q: want LOW-HIGH", ports)
		}
	}
	return a, nil
}

// listen opens a listener for one data connection. local is the control
// connection's local address.
func (a *Active) listen(local net.IP) (net.Listener, net.IP, error) {
	adv, bind := local, local
	if a.addr != "" {
		adv = net.ParseIP(a.addr)
		// Listen on the advertised IP when it is ours; behind NAT it is
		// not, and the control connection's local address is used.
		if l, err := net.Listen("tcp", net.JoinHostPort(a.addr, "0")); err == nil {
			l.Close()
			bind = adv
		}
	}
	if a.lo == 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(bind.String(), "0"))
		return l, adv, err
	}
	n := a.hi - a.lo + 1
	start := rand.IntN(n)
	var last error
	for i := 0; i < n; i++ {
		port := a.lo + (start+i)%n
		l, err := net.Listen("tcp", net.JoinHostPort(bind.String(), strconv.Itoa(port)))
		if err == nil {
			return l, adv, nil
		}
		last = err
	}
	return nil, nil, fmt.Errorf("no free port in %d-%d: %w", a.lo, a.hi, last)
}

// IsActive reports whether this connection's data channels are active.
func (c *Conn) IsActive() bool { return c.cfg.Active != nil }

// Channel is a data connection on its way: a passive port being dialled, or
// an active-mode listener. Take it with Open once the transfer command is
// sent, or give it up with Close.
type Channel struct {
	c  *Conn
	at time.Time

	// Cmd is what to send before the transfer command: EPRT or PORT in
	// active mode; "" for a passive channel, whose EPSV was answered.
	Cmd string

	// passive
	done chan struct{}
	nc   net.Conn
	err  error

	// active
	l      net.Listener
	server net.IP
	once   sync.Once
	mu     sync.Mutex // guards nc and closed in active mode
	closed bool
}

// ExtendedRefused reports whether a reply to EPSV or EPRT says that the
// server does not have the command (RFC 2428 adds 522: not that network
// protocol).
func ExtendedRefused(code int) bool {
	return code == 500 || code == 502 || code == 504 || code == 522
}

// PassiveCmd returns the command that asks for a passive port: EPSV, or
// PASV when EPSV is disabled or the server lacks it.
func (c *Conn) PassiveCmd() string {
	if c.cfg.DisableEPSV || c.noEPSV {
		return "PASV"
	}
	return "EPSV"
}

// Passive takes the reply to cmd (EPSV or PASV) and starts dialling the port
// it names. A refused EPSV turns EPSV off for this connection, and the
// caller asks again with PassiveCmd.
func (c *Conn) Passive(cmd string, r Reply) (*Channel, error) {
	addr, err := c.passiveAddr(cmd, r)
	if err != nil {
		if cmd == "EPSV" && ExtendedRefused(r.Code) {
			c.noEPSV = true
		}
		return nil, err
	}
	ch := &Channel{c: c, at: time.Now(), done: make(chan struct{})}
	go func() {
		DeepStack()
		defer close(ch.done)
		ch.nc, ch.err = c.dialPassive(addr)
	}()
	return ch, nil
}

func (c *Conn) passiveAddr(cmd string, r Reply) (string, error) {
	host := ""
	if ra, ok := c.raw.RemoteAddr().(*net.TCPAddr); ok {
		host = ra.IP.String()
	}
	code, msg := r.Code, r.Msg
	switch {
	case cmd == "EPSV" && code == 229:
		// 229 Entering Extended Passive Mode (|||port|)
		i := strings.IndexByte(msg, '(')
		j := strings.LastIndexByte(msg, ')')
		if i < 0 || j < i+5 {
			break
		}
		f := strings.Split(msg[i+1:j], string(msg[i+1]))
		if len(f) != 5 {
			break
		}
		port, err := strconv.Atoi(f[3])
		if err != nil || port < 1 || port > 65535 {
			break
		}
		return c.dataAddr(net.JoinHostPort(host, f[3])), nil
	case cmd == "PASV" && code == 227:
		// 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)
		i := strings.IndexByte(msg, '(')
		j := strings.LastIndexByte(msg, ')')
		if i < 0 || j < i {
			// Some servers leave the parentheses out.
			i = strings.IndexAny(msg, "0123456789") - 1
			j = len(msg)
		}
		if i < -1 {
			break
		}
		f := strings.Split(strings.TrimSpace(msg[i+1:j]), ",")
		if len(f) != 6 {
			break
		}
		var n [6]int
		ok := true
		for k, v := range f {
			x, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || x < 0 || x > 255 {
				ok = false
			}
			n[k] = x
		}
		if !ok || n[4]<<8|n[5] == 0 {
			break
		}
		if c.cfg.TrustPASVIP {
			host = fmt.Sprintf("%d.%d.%d.%d", n[0], n[1], n[2], n[3])
		}
		return c.dataAddr(net.JoinHostPort(host, strconv.Itoa(n[4]<<8|n[5]))), nil
	}
	if code >= 400 {
		return "", &textproto.Error{Code: code, Msg: msg}
	}
	return "", fmt.Errorf("%s: unexpected reply %d %s", cmd, code, msg)
}

// dataAddr returns where a passive data connection goes. Behind a proxy,
// the control connection's peer is the proxy: the data connection goes to
// the server's host as the address names it (a name that only the proxy
// may be able to resolve).
func (c *Conn) dataAddr(addr string) string {
	if !c.cfg.Proxied {
		return addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ra, ok := c.raw.RemoteAddr().(*net.TCPAddr); host == "" || ok && ra.IP.Equal(net.ParseIP(host)) {
		server, _, _ := net.SplitHostPort(c.cfg.Addr)
		return net.JoinHostPort(server, port)
	}
	return addr
}

// Listen opens an active-mode channel: a listener, and the EPRT (or PORT)
// that names it, in Channel.Cmd, to send with the transfer command. Judge
// the reply to Cmd with Accepted.
func (c *Conn) Listen() (*Channel, error) {
	if c.cfg.Active == nil {
		return nil, errors.New("ftpconn: Listen in passive mode")
	}
	local, _ := c.raw.LocalAddr().(*net.TCPAddr)
	if local == nil {
		return nil, errors.New("active mode: control connection has no TCP address")
	}
	l, adv, err := c.cfg.Active.listen(local.IP)
	if err != nil {
		return nil, fmt.Errorf("active mode: %w", err)
	}
	ch := &Channel{c: c, at: time.Now(), l: l}
	if ra, ok := c.raw.RemoteAddr().(*net.TCPAddr); ok {
		ch.server = ra.IP
	}
	port := l.Addr().(*net.TCPAddr).Port
	switch {
	case !c.cfg.DisableEPSV && !c.noEPRT:
		proto := 1
		if adv.To4() == nil {
			proto = 2
		}
		ch.Cmd = fmt.Sprintf("EPRT |%d|%s|%d|", proto, adv, port)
	case adv.To4() != nil:
		ip := adv.To4()
		ch.Cmd = fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], port>>8, port&0xff)
	default:
		l.Close()
		return nil, &textproto.Error{Code: 425, Msg: "active mode needs an IPv4 address for PORT"}
	}
	return ch, nil
}

// Accepted judges the reply to an active channel's Cmd. A refused EPRT turns
// EPRT off for this connection (the caller asks again with Listen, which
// then sends PORT).
func (ch *Channel) Accepted(r Reply) error {
	if r.Code/100 == 2 {
		return nil
	}
	if strings.HasPrefix(ch.Cmd, "EPRT") && ExtendedRefused(r.Code) {
		ch.c.noEPRT = true
	}
	ch.Close()
	if r.Code >= 400 {
		return &textproto.Error{Code: r.Code, Msg: r.Msg}
	}
	return fmt.Errorf("%s: unexpected reply %s", strings.Fields(ch.Cmd)[0], r)
}

// OpenChannel asks for a data channel and waits for the answer: one round
// trip. Callers that can send the request ahead use PassiveCmd and Passive,
// or Listen and Accepted, instead.
func (c *Conn) OpenChannel() (*Channel, error) {
	for {
		if c.IsActive() {
			ch, err := c.Listen()
			if err != nil {
				return nil, err
			}
			r, err := c.Do(ch.Cmd)
			if err != nil {
				ch.Close()
				return nil, err
			}
			if err := ch.Accepted(r[0]); err != nil {
				if strings.HasPrefix(ch.Cmd, "EPRT") && c.noEPRT {
					continue
				}
				return nil, err
			}
			return ch, nil
		}
		cmd := c.PassiveCmd()
		r, err := c.Do(cmd)
		if err != nil {
			return nil, err
		}
		ch, err := c.Passive(cmd, r[0])
		if err != nil && cmd == "EPSV" && c.noEPSV {
			continue
		}
		return ch, err
	}
}

// Age returns how long ago the channel was asked for. A server forgets a
// port nobody used for long (vsftpd's accept_timeout is 60 s).
func (ch *Channel) Age() time.Duration { return time.Since(ch.at) }

// Failed reports whether a passive channel's dial has already failed.
func (ch *Channel) Failed() bool {
	if ch.done == nil {
		return false
	}
	select {
	case <-ch.done:
		return ch.err != nil
	default:
		return false
	}
}

// Dialling reports whether a passive channel's dial is still going on.
func (ch *Channel) Dialling() bool {
	if ch.done == nil {
		return false
	}
	select {
	case <-ch.done:
		return false
	default:
		return true
	}
}

// WaitDial waits until a passive channel's dial has ended (at most d), and
// reports whether it did.
func (ch *Channel) WaitDial(d time.Duration) bool {
	if ch.done == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch.done:
		return true
	case <-t.C:
		return false
	}
}

// Open returns the data connection, once the transfer command is sent. A
// passive channel waits for its dial (or ctx); an active one accepts the
// server's connection when the data connection is first used, since the
// server connects only once it has read the command. Over TLS the
// handshake also waits for first use (Data.Handshake): servers (proftpd,
// pure-ftpd) start TLS on a data connection only after its command.
func (ch *Channel) Open(ctx context.Context) (*Data, error) {
	c := ch.c
	d := &Data{ch: ch, cfg: c.dataTLS, timeout: c.cfg.Timeout, log: c.log, id: c.cfg.ID}
	if ch.done != nil {
		select {
		case <-ch.done:
		case <-ctx.Done():
			ch.Close()
			return nil, ctx.Err()
		}
		if ch.err != nil {
			return nil, ch.err
		}
		d.raw = ch.nc
		d.established = true
		if d.cfg != nil {
			d.hello = &helloCounter{Conn: ch.nc, cork: true}
			d.tls = tls.Client(d.hello, d.cfg)
		}
	}
	return d, nil
}

// ErrNoConnectBack is an active-mode data connection that the server never
// made: it accepted PORT or EPRT and the command, but did not connect in
// time (a firewall or NAT in front of the client, usually).
var ErrNoConnectBack = errors.New("active mode: the server did not connect")

// accept takes the server's connection, from the server's address only.
func (ch *Channel) accept(deadline time.Time) (net.Conn, error) {
	if tl, ok := ch.l.(*net.TCPListener); ok && !deadline.IsZero() {
		_ = tl.SetDeadline(deadline)
	}
	for {
		nc, err := ch.l.Accept()
		if err != nil {
			ch.l.Close()
			return nil, fmt.Errorf("%w: %w", ErrNoConnectBack, err)
		}
		if ra, ok := nc.RemoteAddr().(*net.TCPAddr); ok && ch.server != nil && !ra.IP.Equal(ch.server) {
			nc.Close() // someone else: FTP bounce protection
			continue
		}
		ch.l.Close()
		nc = fastWrites(nc)
		ch.mu.Lock()
		ch.nc = nc
		closed := ch.closed
		ch.mu.Unlock()
		if closed {
			nc.Close()
			return nil, net.ErrClosed
		}
		return nc, nil
	}
}

// Close gives the channel up. A passive connection still being dialled is
// closed when its dial ends.
func (ch *Channel) Close() {
	ch.once.Do(func() {
		if ch.l != nil {
			ch.l.Close()
			ch.mu.Lock()
			ch.closed = true
			nc := ch.nc
			ch.mu.Unlock()
			if nc != nil {
				nc.Close()
			}
			return
		}
		closeDialled := func() {
			<-ch.done
			if ch.nc != nil {
				ch.nc.Close()
			}
		}
		select {
		case <-ch.done:
			closeDialled()
		default:
			go closeDialled()
		}
	})
}

// Data is one data connection. For PROT P it is the TLS client over the
// transport connection its Channel provides.
type Data struct {
	ch      *Channel
	raw     net.Conn
	cfg     *tls.Config // nil: clear
	tls     *tls.Conn
	hello   *helloCounter
	timeout time.Duration
	log     *slog.Logger
	id      int64

	mu          sync.Mutex
	established bool
	handshaken  bool
	closed      bool
	err         error
}

func (d *Data) setup() error {
	if d.established {
		return d.err
	}
	d.established = true
	raw, err := d.ch.accept(time.Now().Add(d.timeoutOr(60 * time.Second)))
	if err != nil {
		d.err = err
		return err
	}
	d.mu.Lock()
	d.raw = raw
	d.mu.Unlock()
	if d.cfg != nil {
		d.hello = &helloCounter{Conn: raw, cork: true}
		d.tls = tls.Client(d.hello, d.cfg)
	}
	return nil
}

func (d *Data) timeoutOr(def time.Duration) time.Duration {
	if d.timeout > 0 {
		return d.timeout
	}
	return def
}

// Handshake establishes the connection and, for TLS, runs the handshake.
// An empty upload calls it, since nothing is written.
func (d *Data) Handshake() error {
	if err := d.setup(); err != nil {
		return err
	}
	if d.tls == nil || d.handshaken {
		return nil
	}
	d.handshaken = true
	if d.timeout > 0 {
		_ = d.raw.SetDeadline(time.Now().Add(d.timeout))
	}
	if err := d.tls.Handshake(); err != nil {
		d.err = err
		return err
	}
	d.logTLS()
	return nil
}

// levelRepeat is the level of a data connection's TLS line that repeats
// the first: shown at -vv (slog.LevelDebug) but not part of the -vv
// dialogue, which diag collects (records at exactly LevelDebug).
const levelRepeat = slog.LevelDebug + 2

// logTLS logs how the data connection's TLS went: at -v for the first data
// connection of its control connection and for any that did not resume or
// needed a second ClientHello, at -vv for the others, which repeat the
// first (a line per file at -v said nothing new and cost a write each).
func (d *Data) logTLS() {
	level := levelRepeat
	if !d.ch.c.dataLogged.Swap(true) {
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !d.log.Enabled(ctx, level) && !d.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	cs := d.tls.ConnectionState()
	if !cs.DidResume || d.HelloRetried() {
		level = slog.LevelInfo
	}
	if !d.log.Enabled(ctx, level) {
		return
	}
	d.log.Log(ctx, level, "data connection TLS", "conn", d.id, "resumed", cs.DidResume,
		"version", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite),
		"group", cs.CurveID.String(), "hello_retry", d.HelloRetried())
}

// ConnectionState returns the state of the data connection's TLS after its
// handshake; false for a clear data connection or before the handshake.
func (d *Data) ConnectionState() (tls.ConnectionState, bool) {
	if d.tls == nil || !d.handshaken || d.err != nil {
		return tls.ConnectionState{}, false
	}
	return d.tls.ConnectionState(), true
}

// HelloRetried reports whether the TLS handshake sent a second ClientHello:
// the server answered the first with a HelloRetryRequest (RFC 8446 section
// 4.1.4), because it wanted a key share of another group.
func (d *Data) HelloRetried() bool { return d.hello != nil && d.hello.n.Load() > 1 }

// Resumed reports whether the data connection's TLS resumed the control
// connection's session.
func (d *Data) Resumed() bool {
	return d.tls != nil && d.handshaken && d.tls.ConnectionState().DidResume
}

func (d *Data) Read(p []byte) (int, error) {
	if err := d.Handshake(); err != nil {
		return 0, err
	}
	if d.timeout > 0 {
		_ = d.raw.SetReadDeadline(time.Now().Add(d.timeout))
	}
	if d.tls != nil {
		return d.tls.Read(p)
	}
	return d.raw.Read(p)
}

func (d *Data) Write(p []byte) (int, error) {
	if err := d.Handshake(); err != nil {
		return 0, err
	}
	if d.timeout > 0 {
		_ = d.raw.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	if d.tls != nil {
		return d.tls.Write(p)
	}
	return d.raw.Write(p)
}

// drainLimit bounds what Close reads after an early close of a download.
const drainLimit = 4 << 20

// Close ends the data connection so that the server sees a clean end of
// stream, and waits for the server's end. Over TLS 1.3, vsftpd answers
// "426 Failure reading network stream" to uploads of 1 MiB or more unless
// the client sends close_notify, then half-closes TCP, and reads until the
// server's own close (measured). Errors while draining are not the
// transfer's: the reply on the control connection says how it went.
func (d *Data) Close() error { return d.end(true) }

// Finish is Close without the wait: close_notify and a TCP half-close go
// now, so that an upload's 226 comes as soon as the server has it. The
// socket stays open, unread, until Release: nothing the server sends after
// the content (its close_notify, TLS 1.3 session tickets) is worth a read,
// and a socket closed with unread bytes resets the connection, which must
// not happen before the server has read everything (its 226 says so).
// Reading to the server's close instead cost two reads, a poller wake-up
// and a goroutine per file (strace and profile of a 2,000-file init).
func (d *Data) Finish() error { return d.end(false) }

// Release closes a data connection that Finish ended, once the server's
// reply to the transfer has arrived (or the transfer failed), and gives its
// buffers back; a passive connection's socket goes back to its control
// connection for the next one (reuse_linux.go). Nothing may use d after
// it, nor while it runs.
func (d *Data) Release() {
	d.mu.Lock()
	d.closed = true
	raw := d.raw
	d.mu.Unlock()
	if raw != nil {
		recycle(raw) // a passive socket goes back to its control connection
	}
	d.ch.Close()
	if raw != nil {
		_ = raw.Close()
	}
	if d.hello != nil {
		d.hello.release()
	}
}

func (d *Data) end(wait bool) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	if !d.established || d.err != nil || d.raw == nil {
		d.ch.Close()
		return nil
	}
	var err error
	if d.tls != nil && d.handshaken {
		err = d.tls.CloseWrite()
	}
	var half net.Conn = d.raw
	if d.hello != nil {
		// It sends what its cork holds, close_notify included, first.
		// crypto/tls has just set a write deadline of now on the
		// transport so that nothing follows its close_notify: give the
		// held bytes their own.
		half = d.hello
		_ = d.raw.SetWriteDeadline(time.Now().Add(d.timeoutOr(10 * time.Second)))
	}
	if cw, ok := half.(interface{ CloseWrite() error }); ok {
		// After a download the server may be gone already: only an
		// upload's half-close tells the server where the data ends.
		if cerr := cw.CloseWrite(); !wait && err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	if !wait {
		return err // Release closes it
	}
	_ = d.raw.SetDeadline(time.Now().Add(min(d.timeoutOr(10*time.Second), 10*time.Second)))
	var rd io.Reader = d.raw
	if d.tls != nil && d.handshaken {
		rd = d.tls
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(rd, drainLimit))
	d.ch.Close()
	_ = d.raw.Close()
	if d.hello != nil {
		d.hello.release()
	}
	return err
}

// Abort closes the transport at once, unblocking a transfer.
func (d *Data) Abort() {
	d.ch.Close()
	d.mu.Lock()
	raw := d.raw
	d.mu.Unlock()
	if raw != nil {
		_ = raw.Close()
	}
}

// helloCounter counts the ClientHello messages the TLS client writes: a
// second one answers a HelloRetryRequest. crypto/tls writes whole records,
// and a ClientHello goes in clear in a handshake record (type 22) whose
// message type is 1.
//
// On a data connection it also corks: what the TLS client writes is held
// and goes in one write when the client next reads, when it half-closes,
// or once corkLimit bytes are held. An upload of a small file then costs
// one write, its handshake's Finished, the content and close_notify
// together, where crypto/tls makes three (a third of gftp's CPU for an
// init of small files went to writes on loopback, profiled); the server
// reads one segment instead of three. Anything the client waits for is
// sent before it reads, so the cork never holds up a reply.
type helloCounter struct {
	net.Conn
	n    atomic.Int32
	cork bool // data connection: hold writes

	mu   sync.Mutex // guards held: crypto/tls reads and writes under separate locks
	held []byte     // written, not yet sent
	buf  *[]byte    // held's buffer, from heldBufs
}

// heldBufs holds the buffers that data connections cork their writes in:
// a ClientHello, then a Finished and the content of a small file. Growing
// a new one for every file was a quarter of the bytes gftp allocated in an
// init of small files (allocation profile).
var heldBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// hold appends p to what is held.
func (h *helloCounter) hold(p []byte) {
	if h.buf == nil {
		h.buf = heldBufs.Get().(*[]byte)
		h.held = (*h.buf)[:0]
	}
	h.held = append(h.held, p...)
}

// release gives the buffer back; the connection writes nothing after it.
func (h *helloCounter) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buf == nil {
		return
	}
	if cap(h.held) <= corkLimit {
		*h.buf = h.held[:0]
		heldBufs.Put(h.buf)
	}
	h.buf, h.held = nil, nil
}

// corkLimit is how much a data connection holds before it sends.
const corkLimit = 64 << 10

func (h *helloCounter) Write(p []byte) (int, error) {
	for b := p; len(b) >= 6; {
		n := int(b[3])<<8 | int(b[4])
		if b[0] == 22 && b[5] == 1 {
			h.n.Add(1)
		}
		if len(b) < 5+n {
			break
		}
		b = b[5+n:]
	}
	if !h.cork {
		return h.Conn.Write(p)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held)+len(p) <= corkLimit {
		h.hold(p)
		return len(p), nil
	}
	if len(h.held) == 0 {
		return h.Conn.Write(p)
	}
	// One writev for what is held and p.
	bufs := net.Buffers{h.held, p}
	n, err := bufs.WriteTo(h.Conn)
	held := int64(len(h.held))
	h.held = h.held[:0]
	if n < held {
		return 0, err
	}
	return int(n - held), err
}

// flush sends what is held.
func (h *helloCounter) flush() error {
	if !h.cork {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) == 0 {
		return nil
	}
	_, err := h.Conn.Write(h.held)
	h.held = h.held[:0]
	return err
}

// flushLast sends what is held before a half-close, in the FIN's segment
// where the connection can (fastConn.writeLast).
func (h *helloCounter) flushLast() error {
	wl, ok := h.Conn.(interface{ writeLast([]byte) (int, error) })
	if !ok || !h.cork {
		return h.flush()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) == 0 {
		return nil
	}
	_, err := wl.writeLast(h.held)
	h.held = h.held[:0]
	return err
}

func (h *helloCounter) Read(p []byte) (int, error) {
	if err := h.flush(); err != nil {
		return 0, err
	}
	return h.Conn.Read(p)
}

func (h *helloCounter) CloseWrite() error {
	if err := h.flushLast(); err != nil {
		return err
	}
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
