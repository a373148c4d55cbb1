package diag

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gftp/gftp/internal/tlstrace"
)

// Data connection modes, as check IDs.
const (
	modeEPSV   = "epsv"
	modePASV   = "pasv"
	modeActive = "active"
)

// dataResult is how one data connection went.
type dataResult struct {
	ok       bool
	resumed  bool
	tls      *TLSInfo
	dialFail bool   // we could not reach the server's passive port
	noMode   bool   // the server refused the EPSV/PASV/PORT command itself
	noBack   bool   // active: the server could not connect back
	reuse    string // the reply that demanded TLS session reuse, if any
	lost     bool   // the control connection is gone
	warn     string // it worked, with this said against it
	bytes    int64
}

// opener makes one data connection: it sends the mode's command and
// returns a function that, once the transfer command was sent, yields the
// connection.
type opener func(c *Check) (open func() (net.Conn, error), res *dataResult)

// dataChecks is check 5c: one LIST over each mode. A mode that fails while
// another works is a warning (gftp can be told to use the one that works);
// when none works, each failure is a failure.
func (r *runner) dataChecks() {
	var checks []*Check
	noMode := map[string]bool{}
	run := func(id, title string, o opener) {
		c := r.begin(id, title)
		checks = append(checks, c)
		if r.ctl == nil {
			c.set(Skip, "not run: the control connection was lost")
			return
		}
		var res *dataResult
		r.timed(c, func() { res = r.transfer(c, o, "LIST", nil) })
		if res.lost {
			r.dropControl()
		}
		noMode[id] = res.noMode
		if res.ok && res.warn != "" {
			c.Status = Warn
			c.Summary += res.warn
		}
		if res.ok && r.good == "" {
			r.good = id
		}
	}
	if r.o.DisableEPSV {
		c := r.begin(modeEPSV, "Passive data connection (EPSV)")
		c.set(Skip, "not tried: --disable-epsv")
	} else {
		run(modeEPSV, "Passive data connection (EPSV)", r.epsv)
	}
	run(modePASV, "Passive data connection (PASV)", r.pasv)
	if r.dialer != nil {
		c := r.begin(modeActive, "Active data connection (PORT/EPRT)")
		c.set(Skip, "not tried: active mode cannot work through a proxy (the server cannot connect back through it)")
	} else {
		run(modeActive, "Active data connection (PORT/EPRT)", r.active)
	}

	works := func(id string) bool {
		c := r.rep.Check(id)
		return c != nil && (c.Status == OK || c.Status == Warn)
	}
	passiveOK := works(modeEPSV) || works(modePASV)
	for _, c := range checks {
		if c.Status != Fail {
			continue
		}
		switch {
		case c.ID == modeActive && passiveOK:
			c.Status = Warn
			c.Summary += " (gftp uses passive mode by default, which works)"
		case c.ID == modeEPSV && works(modePASV) && noMode[modeEPSV]:
			c.Status = Warn
			c.Summary += " (gftp falls back to PASV, which works)"
		case c.ID == modeEPSV && works(modePASV):
			c.Status = Warn
			c.advise("PASV works: pass --disable-epsv (or git config git-ftp.disable-epsv true)")
		case c.ID == modePASV && works(modeEPSV):
			c.Status = Warn
			c.Summary += " (gftp uses EPSV, which works)"
		}
	}
}

// dropControl forgets a control connection that the server closed.
func (r *runner) dropControl() {
	if r.ctl != nil {
		r.stop()
		r.ctl.conn.Close()
		r.ctl = nil
	}
}

// epsv asks for an extended passive port (RFC 2428) and dials it on the
// control connection's address.
func (r *runner) epsv(c *Check) (func() (net.Conn, error), *dataResult) {
	res := &dataResult{}
	code, msg, err := r.ctl.cmd("EPSV")
	if err != nil {
		c.set(Fail, "EPSV: %v", err)
		res.lost = true
		return nil, res
	}
	if code != 229 {
		c.set(Fail, "the server does not support EPSV: %s", lastLine(msg))
		res.noMode = true
		return nil, res
	}
	port, err := ParseEPSV(msg)
	if err != nil {
		c.set(Fail, "%v", err)
		return nil, res
	}
	return r.dialPassive(c, res, nil, port), res
}

// pasv asks for a passive address (RFC 959), flags one that reveals NAT,
// and dials the port on the control connection's address, as gftp, curl
// and FileZilla do by default.
func (r *runner) pasv(c *Check) (func() (net.Conn, error), *dataResult) {
	res := &dataResult{}
	code, msg, err := r.ctl.cmd("PASV")
	if err != nil {
		c.set(Fail, "PASV: %v", err)
		res.lost = true
		return nil, res
	}
	if code != 227 {
		c.set(Fail, "the server refused PASV: %s", lastLine(msg))
		res.noMode = true
		return nil, res
	}
	ip, port, err := ParsePASV(msg)
	if err != nil {
		c.set(Fail, "%v", err)
		return nil, res
	}
	ctlIP := r.ctl.conn.RemoteAddr().(*net.TCPAddr).IP
	if advice := pasvAdvice(ip, ctlIP, r.o.TrustPASVIP); advice != nil && r.dialer == nil {
		c.Advice = append(c.Advice, advice...)
		res.warn = fmt.Sprintf("; but the PASV reply names %s, not %s", ip, ctlIP)
	}
	if r.o.TrustPASVIP {
		return r.dialPassive(c, res, ip, port), res
	}
	return r.dialPassive(c, res, nil, port), res
}

// pasvAdvice explains a PASV address that is not the one the control
// connection reached (nil when it is): a private one means NAT.
func pasvAdvice(pasv, ctl net.IP, trust bool) []string {
	if pasv.Equal(ctl) || pasv.IsLoopback() && ctl.IsLoopback() {
		return nil
	}
	if trust {
		return []string{fmt.Sprintf("the server announces %s for data connections, not %s where you reach it; --trust-pasv-ip makes gftp connect there", pasv, ctl)}
	}
	if unroutable(pasv) {
		return []string{
			fmt.Sprintf("the server announces %s, a private address, but you reach it at %s: it is behind NAT and does not know its public address", pasv, ctl),
			fmt.Sprintf("gftp (like curl and FileZilla) ignores that address and connects to %s; a client that trusts it would hang", ctl),
			"fix it on the server: vsftpd pasv_address=PUBLIC_IP, proftpd MasqueradeAddress, pure-ftpd -P PUBLIC_IP, and forward its passive port range through the NAT",
		}
	}
	return []string{fmt.Sprintf("the server announces %s for data connections, not %s where you reach it; gftp connects to %s (--trust-pasv-ip would use %s)", pasv, ctl, ctl, pasv)}
}

// dialPassive connects to port at ip, or at the control connection's
// address when ip is nil.
func (r *runner) dialPassive(c *Check, res *dataResult, ip net.IP, port int) func() (net.Conn, error) {
	host := r.dataHost()
	if ip != nil {
		host = ip.String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	r.log(fmt.Sprintf("*   Trying %s...", addr))
	conn, err := r.dial(addr)
	if err != nil {
		res.dialFail = true
		why := err.Error()
		var ne net.Error
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			why = "connection refused"
		case errors.As(err, &ne) && ne.Timeout():
			why = fmt.Sprintf("no answer in %s", r.o.ConnectTimeout)
		}
		r.log(fmt.Sprintf("* connect to %s port %d failed: %s", host, port, why))
		c.set(Fail, "cannot connect to the server's passive port %d: %s", port, why)
		c.advise("in passive mode you open the data connection to the server: its firewall (and any NAT in front of it) must let in its whole passive port range, not only port %d", r.t.Port)
		c.advise("on the server: vsftpd pasv_min_port/pasv_max_port, proftpd PassivePorts, pure-ftpd -p LOW:HIGH; open that range in its firewall or security group")
		c.advise("if your own network blocks outgoing connections to high ports, active mode (--active) may work instead")
		return nil
	}
	r.log(fmt.Sprintf("* Connected to %s (%s) port %d", r.t.Host, host, port))
	return func() (net.Conn, error) { return conn, nil }
}

// active listens on the control connection's local address and announces
// it with PORT, or EPRT for IPv6: the server connects back (RFC 959).
func (r *runner) active(c *Check) (func() (net.Conn, error), *dataResult) {
	res := &dataResult{}
	local := r.ctl.conn.LocalAddr().(*net.TCPAddr)
	l, err := listenActive(local.IP, r.o.ActivePorts)
	if err != nil {
		c.set(Fail, "cannot listen for the server's connection: %v", err)
		return nil, res
	}
	announce := *l.Addr().(*net.TCPAddr)
	if r.o.ActiveAddr != "" {
		announce.IP = net.ParseIP(r.o.ActiveAddr)
	}
	cmd := portCommand(&announce)
	code, msg, err := r.ctl.cmd(cmd)
	if err != nil {
		l.Close()
		c.set(Fail, "%s: %v", strings.Fields(cmd)[0], err)
		res.lost = true
		return nil, res
	}
	if code != 200 {
		l.Close()
		res.noMode = true
		c.set(Fail, "the server does not allow active mode: %s was answered %s", strings.Fields(cmd)[0], lastLine(msg))
		c.advise("the server accepts passive mode only: use passive mode, gftp's default (do not pass --active)")
		return nil, res
	}
	return func() (net.Conn, error) {
		defer l.Close()
		_ = l.SetDeadline(time.Now().Add(r.o.Timeout))
		conn, err := l.Accept()
		if err == nil {
			r.log(fmt.Sprintf("* Connection from %s accepted", conn.RemoteAddr()))
		}
		return conn, err
	}, res
}

// listenActive listens on ip, on a port of the range "LOW-HIGH" when one
// is given.
func listenActive(ip net.IP, ports string) (*net.TCPListener, error) {
	lo, hi, err := portRange(ports)
	if err != nil {
		return nil, err
	}
	if lo == 0 {
		return net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
	}
	for p := lo; p <= hi; p++ {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: p})
		if err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no free port in --active-ports %s", ports)
}

// portRange reads "LOW-HIGH" (0, 0 for "").
func portRange(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("--active-ports %q is not a range LOW-HIGH of ports", s)
	}
	return lo, hi, nil
}

// activeAdvice explains the firewall rules of both modes in plain words.
func activeAdvice(c *Check, addr string) {
	c.advise("in active mode the server opens the data connection to you, at %s: your firewall, and any NAT router in front of you, must let that connection in, which most do not", addr)
	c.advise("in passive mode (gftp's default) you open every connection to the server: only the server's firewall must let in its control port and its passive port range")
	c.advise("so prefer passive mode; use --active only when the server's passive ports are blocked, with --active-addr PUBLIC_IP and --active-ports LOW-HIGH forwarded to you")
}

// transfer runs one data command over a connection from o: LIST to
// download, or STOR with data to upload. The client is the TLS client on
// the data connection in either mode (RFC 4217 section 7), with the control
// connection's session cache, so that it resumes the control session.
func (r *runner) transfer(c *Check, o opener, command string, data []byte) *dataResult {
	open, res := o(c)
	if open == nil {
		return res
	}
	code, msg, err := r.ctl.cmd(command)
	if err != nil {
		c.set(Fail, "%s: %v", command, err)
		res.lost = true
		if conn, err := open(); err == nil {
			conn.Close()
		}
		return res
	}
	if code != 150 && code != 125 {
		if conn, err := open(); err == nil {
			conn.Close()
		}
		r.refused(c, res, command, code, msg)
		return res
	}
	conn, err := open()
	if err != nil {
		res.noBack = true
		c.set(Fail, "the server did not connect back in %s", r.o.Timeout)
		activeAdvice(c, r.ctl.conn.LocalAddr().(*net.TCPAddr).IP.String())
		// The server gives up with a 425 eventually; do not wait for it.
		res.lost = true
		return res
	}
	_ = conn.SetDeadline(time.Now().Add(r.o.Timeout))
	var tc *tls.Conn
	if r.prot {
		tr := tlstrace.New(r.log)
		tc = tls.Client(tr.Conn(conn), tr.Config(r.cfg))
		if err := tc.HandshakeContext(r.ctx); err != nil {
			tr.Failed(err)
			conn.Close()
			code, msg, rerr := r.ctl.reply()
			if rerr == nil {
				r.refused(c, res, command, code, msg)
			} else {
				c.set(Fail, "TLS handshake on the data connection failed: %v", err)
				res.lost = true
			}
			return res
		}
		cs := tc.ConnectionState()
		res.resumed = cs.DidResume
		res.tls = &TLSInfo{Version: tlstrace.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite), Resumed: cs.DidResume}
		_, line := tlstrace.Resumption(cs)
		r.log(line)
		c.TLS = res.tls
	}
	var rw io.ReadWriter = conn
	if tc != nil {
		rw = tc
	}
	var xerr error
	if data != nil {
		var n int
		n, xerr = rw.Write(data)
		res.bytes = int64(n)
	} else {
		res.bytes, xerr = io.Copy(io.Discard, rw)
		if errors.Is(xerr, io.ErrUnexpectedEOF) {
			xerr = nil // a server that closes without close_notify
		}
	}
	closeData(conn, tc)
	code, msg, err = r.ctl.reply()
	switch {
	case err != nil:
		c.set(Fail, "%s: no final reply: %v", command, err)
		res.lost = true
		return res
	case code != 226 && code != 250:
		r.refused(c, res, command, code, msg)
		return res
	case xerr != nil:
		c.set(Fail, "%s: data connection: %v", command, xerr)
		return res
	}
	res.ok = true
	what := fmt.Sprintf("%d bytes of listing", res.bytes)
	if data != nil {
		what = fmt.Sprintf("%d bytes stored", res.bytes)
	}
	switch {
	case res.tls == nil:
		c.set(OK, "%s, unencrypted", what)
	case res.resumed:
		c.set(OK, "%s over %s, TLS session resumed", what, res.tls.Version)
	default:
		c.set(OK, "%s over %s, TLS session NOT resumed", what, res.tls.Version)
	}
	return res
}

// closeData ends a data connection so that no byte is lost: close_notify,
// a TCP half-close, then reading to EOF. Closing at once with unread TLS 1.3
// session tickets makes the kernel send a RST, and vsftpd then answers 426
// and drops the end of an upload (STYLE.md).
func closeData(conn net.Conn, tc *tls.Conn) { closeDataWithin(conn, tc, 2*time.Second) }

// closeDataWithin is closeData that waits at most drain for the server's
// end of the connection.
func closeDataWithin(conn net.Conn, tc *tls.Conn, drain time.Duration) {
	if tc != nil {
		_ = tc.CloseWrite()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
		_ = tcp.SetReadDeadline(time.Now().Add(drain))
		_, _ = io.Copy(io.Discard, tcp)
	}
	conn.Close()
}

// refused explains a reply that refused a data transfer.
func (r *runner) refused(c *Check, res *dataResult, command string, code int, msg string) {
	line := lastLine(msg)
	low := strings.ToLower(msg)
	switch {
	case code == 522 || code == 425 && r.prot && (strings.Contains(low, "reuse") || strings.Contains(low, "not permitted") || strings.Contains(low, "session")):
		res.reuse = line
		c.set(Fail, "the server refused the data connection's TLS: %s", line)
		c.advise("the server demands that each data connection resumes the control connection's TLS session (vsftpd require_ssl_reuse, proftpd's default): gftp does that")
		c.advise("if gftp itself fails here, please report it; meanwhile the server can relax it (vsftpd require_ssl_reuse=NO, proftpd TLSOptions NoSessionReuseRequired)")
		if code == 522 {
			res.lost = true // vsftpd drops the control connection after 522
		}
	case code == 425 && c.ID == modeActive:
		res.noBack = true
		c.set(Fail, "the server could not connect back to you: %s", line)
		activeAdvice(c, r.ctl.conn.LocalAddr().(*net.TCPAddr).IP.String())
	case code == 425:
		c.set(Fail, "the server could not open the data connection: %s", line)
	case code == 550 || code == 553 || code == 450 || code == 452 || code == 552:
		c.set(Fail, "%s refused: %s", strings.Fields(command)[0], line)
		c.advise("the user may not have permission here, or the disk or quota is full")
	case code == 421:
		c.set(Fail, "the server closed the session: %s", line)
		res.lost = true
	default:
		c.set(Fail, "%s: %s", strings.Fields(command)[0], line)
	}
}

// reuse is check 5d: whether the server demands TLS session reuse on data
// connections, found with a second session whose data connection does not
// resume. It matters for other clients (curl over TLS 1.3 to proftpd, old
// FileZilla settings), and explains their 522 and 425.
func (r *runner) reuse() {
	c := r.begin("reuse", "TLS session reuse on data connections")
	r.timed(c, func() { r.probeReuse(c) })
}

// session opens another control connection, secured with cfg and logged
// in, without logging its dialogue into the report.
func (r *runner) session(cfg *tls.Config) (ctl *control, end func(), err error) {
	addr := r.t.Address()
	if r.dialer == nil {
		addr = net.JoinHostPort(r.ips[0].String(), strconv.Itoa(r.t.Port))
	}
	conn, err := r.dial(addr)
	if err != nil {
		return nil, nil, err
	}
	ctl = newControl(conn, r.o.Timeout, func(string) {})
	stop := context.AfterFunc(r.ctx, func() { conn.Close() })
	end = func() {
		stop()
		ctl.conn.Close()
	}
	secure := func() error {
		tc := tls.Client(ctl.conn, cfg)
		if err := tc.HandshakeContext(r.ctx); err != nil {
			return err
		}
		ctl.setConn(tc)
		return nil
	}
	step := func(cmd string, want int) error {
		code, msg, err := ctl.cmd(cmd)
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("%s: %s", strings.Fields(cmd)[0], lastLine(msg))
		}
		return nil
	}
	err = func() error {
		if r.t.Scheme == "ftps" {
			if err := secure(); err != nil {
				return err
			}
		}
		if code, msg, err := ctl.reply(); err != nil || code != 220 {
			return fmt.Errorf("greeting: %v %s", err, lastLine(msg))
		}
		if r.t.Scheme == "ftpes" {
			if err := step("AUTH TLS", 234); err != nil {
				return err
			}
			if err := secure(); err != nil {
				return err
			}
		}
		code, _, err := ctl.cmd("USER " + r.o.User)
		if err == nil && code == 331 {
			err = step("PASS "+r.o.Password, 230)
		}
		if err != nil {
			return err
		}
		cmds := []string{"TYPE I"}
		if r.t.Scheme != "ftp" {
			cmds = []string{"PBSZ 0", "PROT P", "TYPE I"}
		}
		for _, cmd := range cmds {
			if err := step(cmd, 200); err != nil {
				return err
			}
		}
		if strings.Trim(r.t.Path, "/") != "" {
			return step("CWD "+r.t.Path, 250)
		}
		return nil
	}()
	if err != nil {
		end()
		return nil, nil, err
	}
	return ctl, end, nil
}

func (r *runner) probeReuse(c *Check) {
	cfg := r.policy.config()
	keepResumable(cfg, tls.ConnectionState{PeerCertificates: r.policy.chain})
	ctl, end, err := r.session(cfg)
	if err != nil {
		c.set(Skip, "could not open a second session: %v", err)
		return
	}
	defer end()
	addr := ctl.conn.RemoteAddr().String()
	if r.dialer != nil {
		addr = r.t.Address()
	}
	// A passive data connection with a TLS config that has no session
	// cache: a full handshake, never a resumption.
	port := 0
	if r.good == modeEPSV {
		code, msg, err := ctl.cmd("EPSV")
		if err == nil && code == 229 {
			port, err = ParseEPSV(msg)
		}
		if err != nil {
			c.set(Skip, "EPSV on the second session: %v", err)
			return
		}
	} else {
		code, msg, err := ctl.cmd("PASV")
		if err == nil && code == 227 {
			_, port, err = ParsePASV(msg)
		}
		if err != nil {
			c.set(Skip, "PASV on the second session: %v", err)
			return
		}
	}
	host, _, _ := net.SplitHostPort(addr)
	dc, err := r.dial(net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		c.set(Skip, "second data connection: %v", err)
		return
	}
	if err := ctl.send("LIST"); err != nil {
		dc.Close()
		c.set(Skip, "LIST: %v", err)
		return
	}
	code, msg, err := ctl.reply()
	if err != nil || code != 150 && code != 125 {
		dc.Close()
		c.set(Skip, "LIST on the second session: %v %s", err, lastLine(msg))
		return
	}
	fresh := r.policy.config()
	fresh.ClientSessionCache = nil
	_ = dc.SetDeadline(time.Now().Add(r.o.Timeout))
	tc := tls.Client(dc, fresh)
	herr := tc.HandshakeContext(r.ctx)
	if herr == nil {
		// A server that refuses the session may leave the connection
		// open: do not wait long for the listing.
		_ = dc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, tc)
	}
	closeDataWithin(dc, tc, 300*time.Millisecond)
	code, msg, err = ctl.reply()
	switch {
	case err != nil && herr != nil:
		c.set(OK, "required: the server dropped a data connection that did not resume the TLS session (%v); gftp resumes it", herr)
	case err != nil:
		c.set(OK, "required: the server closed the session after a data connection that did not resume the TLS session; gftp resumes it")
	case code == 226 || code == 250:
		c.set(OK, "not required: the server accepted a data connection that did not resume the TLS session")
		return
	default:
		c.set(OK, "required: a data connection that did not resume the TLS session was refused (%s); gftp resumes it", lastLine(msg))
	}
	c.advise("clients that do not resume the session fail here with the same reply (curl over TLS 1.3 to proftpd, FileZilla without session reuse)")
}

// writeTest is check 6: store, size, rename and delete a temporary file.
func (r *runner) writeTest() {
	c := r.begin("write", "Write permission (STOR, SIZE, RNFR/RNTO, DELE)")
	if r.good == "" {
		c.set(Skip, "not run: no working data connection")
		return
	}
	if r.ctl == nil {
		// The control connection was lost in an earlier check (vsftpd
		// drops it after 522; an active connection that never came).
		ctl, end, err := r.session(r.cfg)
		if err != nil {
			c.set(Fail, "could not log in again: %v", err)
			return
		}
		ctl.log = r.log
		r.ctl, r.stop = ctl, func() bool { end(); return true }
	}
	r.timed(c, func() { r.doWriteTest(c) })
}

func (r *runner) doWriteTest(c *Check) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := ".gftp-diag-" + hex.EncodeToString(rnd[:]) + ".tmp"
	renamed := strings.TrimSuffix(name, ".tmp") + ".renamed"
	content := []byte("gftp diag write test\n")
	mode := map[string]opener{modeEPSV: r.epsv, modePASV: r.pasv, modeActive: r.active}[r.good]
	res := r.transfer(c, mode, "STOR "+name, content)
	if !res.ok {
		if res.lost {
			r.dropControl()
			return
		}
		c.Summary = "cannot store a file: " + c.Summary
		c.advise("the user cannot write in this directory: check its permissions, and the server's settings (vsftpd write_enable=YES, quotas)")
		return
	}
	cleanup := name
	defer func() {
		if cleanup != "" && r.ctl != nil {
			_, _, _ = r.ctl.cmd("DELE " + cleanup)
		}
	}()
	code, msg, err := r.ctl.cmd("SIZE " + name)
	switch {
	case err != nil:
		c.set(Fail, "SIZE: %v", err)
		return
	case code != 213:
		c.set(Warn, "stored, but SIZE is not supported: %s", lastLine(msg))
	case strings.TrimSpace(strings.TrimPrefix(lastLine(msg), "213")) != strconv.Itoa(len(content)):
		c.set(Fail, "stored %d bytes, but the server has %s", len(content), strings.TrimSpace(strings.TrimPrefix(lastLine(msg), "213")))
		return
	}
	code, msg, err = r.ctl.cmd("RNFR " + name)
	if err == nil && code == 350 {
		code, msg, err = r.ctl.cmd("RNTO " + renamed)
	}
	switch {
	case err != nil:
		c.set(Fail, "rename: %v", err)
		return
	case code != 250:
		c.set(Fail, "cannot rename: %s", lastLine(msg))
		c.advise("gftp uploads to a temporary name and renames it into place; the server must allow RNFR/RNTO")
		return
	}
	cleanup = renamed
	code, msg, err = r.ctl.cmd("DELE " + renamed)
	switch {
	case err != nil:
		c.set(Fail, "DELE: %v", err)
		return
	case code != 250:
		c.set(Fail, "cannot delete: %s", lastLine(msg))
		c.advise("gftp deletes files removed from the repository; the user needs delete permission (vsftpd write_enable, proftpd <Limit DELE>)")
		return
	}
	cleanup = ""
	if c.Status == OK {
		c.set(OK, "stored, sized, renamed and deleted %s", name)
	}
}
