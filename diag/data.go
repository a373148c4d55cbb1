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
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
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

// opener asks for a data channel in one mode: it sends the mode's command
// and returns the channel, to be opened once the transfer command is sent,
// or nil and what went wrong.
type opener func(c *Check) (*ftpconn.Channel, *dataResult)

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
		r.ctl.Abort()
		r.ctl = nil
	}
}

// epsv asks for an extended passive port (RFC 2428); ftpconn dials it on
// the control connection's address.
func (r *runner) epsv(c *Check) (*ftpconn.Channel, *dataResult) { return r.passive(c, "EPSV") }

// pasv asks for a passive address (RFC 959), flags one that reveals NAT,
// and dials the port on the control connection's address, as gftp, curl
// and FileZilla do by default.
func (r *runner) pasv(c *Check) (*ftpconn.Channel, *dataResult) { return r.passive(c, "PASV") }

func (r *runner) passive(c *Check, cmd string) (*ftpconn.Channel, *dataResult) {
	res := &dataResult{}
	rs, err := r.ctl.Do(cmd)
	if err != nil {
		c.set(Fail, "%s: %v", cmd, err)
		res.lost = true
		return nil, res
	}
	switch reply := rs[0]; {
	case cmd == "EPSV" && reply.Code != 229:
		c.set(Fail, "the server does not support EPSV: %s", replyText(reply.Code, reply.Msg))
		res.noMode = true
		return nil, res
	case cmd == "PASV" && reply.Code != 227:
		c.set(Fail, "the server refused PASV: %s", replyText(reply.Code, reply.Msg))
		res.noMode = true
		return nil, res
	}
	ch, err := r.ctl.Passive(cmd, rs[0])
	if err != nil {
		c.set(Fail, "%v", err)
		return nil, res
	}
	// Wait for the dial, so that a port that cannot be reached is told
	// apart from a refused transfer, and the log reads in order.
	ch.WaitDial(r.o.ConnectTimeout + time.Second)
	if ch.Failed() {
		_, err := ch.Open(r.ctx)
		port, why := "", err.Error()
		var de *dialError
		if errors.As(err, &de) {
			port, why = de.port, de.why
		}
		res.dialFail = true
		c.set(Fail, "cannot connect to the server's passive port %s: %s", port, why)
		c.advise("in passive mode you open the data connection to the server: its firewall (and any NAT in front of it) must let in its whole passive port range, not only port %d", r.t.Port)
		c.advise("on the server: vsftpd pasv_min_port/pasv_max_port, proftpd PassivePorts, pure-ftpd -p LOW:HIGH; open that range in its firewall or security group")
		c.advise("if your own network blocks outgoing connections to high ports, active mode (--active) may work instead")
		return nil, res
	}
	if cmd == "PASV" {
		r.mu.Lock()
		ip := r.announced
		r.mu.Unlock()
		if advice := pasvAdvice(ip, r.peer, r.o.TrustPASVIP); advice != nil && r.dialer == nil && ip != nil {
			c.Advice = append(c.Advice, advice...)
			res.warn = fmt.Sprintf("; but the PASV reply names %s, not %s", ip, r.peer)
		}
	}
	return ch, res
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

// active listens (on the control connection's local address, or as
// --active-addr and --active-ports say) and announces it with EPRT, or
// with PORT when the server lacks EPRT, as gftp --active does: the server
// connects back (RFC 959, RFC 2428).
func (r *runner) active(c *Check) (*ftpconn.Channel, *dataResult) {
	res := &dataResult{}
	for {
		ch, err := r.ctl.Listen()
		if err != nil {
			c.set(Fail, "cannot listen for the server's connection: %v", err)
			return nil, res
		}
		verb := strings.Fields(ch.Cmd)[0]
		rs, err := r.ctl.Do(ch.Cmd)
		if err != nil {
			ch.Close()
			c.set(Fail, "%s: %v", verb, err)
			res.lost = true
			return nil, res
		}
		if err := ch.Accepted(rs[0]); err != nil {
			if verb == "EPRT" && ftpconn.ExtendedRefused(rs[0].Code) {
				continue // Listen sends PORT now
			}
			res.noMode = true
			c.set(Fail, "the server does not allow active mode: %s was answered %s", verb, replyText(rs[0].Code, rs[0].Msg))
			c.advise("the server accepts passive mode only: use passive mode, gftp's default (do not pass --active)")
			return nil, res
		}
		return ch, res
	}
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

// transfer runs one data command over a channel from o: LIST to download,
// or STOR with data to upload. ftpconn makes the client the TLS client on
// the data connection in either mode (RFC 4217 section 7), resuming the
// control session, and closes it the way vsftpd over TLS 1.3 needs.
func (r *runner) transfer(c *Check, o opener, command string, data []byte) *dataResult {
	ch, res := o(c)
	if ch == nil {
		return res
	}
	rs, err := r.ctl.Do(command)
	if err != nil {
		ch.Close()
		c.set(Fail, "%s: %v", command, err)
		res.lost = true
		return res
	}
	if code := rs[0].Code; code != 150 && code != 125 {
		ch.Close()
		r.refused(c, res, command, code, rs[0].Msg)
		return res
	}
	d, err := ch.Open(r.ctx)
	if err == nil {
		err = d.Handshake()
	}
	if err != nil {
		if d != nil {
			d.Abort()
		}
		if errors.Is(err, ftpconn.ErrNoConnectBack) {
			res.noBack = true
			c.set(Fail, "the server did not connect back in %s", r.o.Timeout)
			activeAdvice(c, r.raw.LocalAddr().(*net.TCPAddr).IP.String())
			// The server gives up with a 425 eventually; do not wait for it.
			res.lost = true
			return res
		}
		r.log("* TLS handshake failed: " + err.Error())
		reply, rerr := r.ctl.Reply()
		if rerr == nil {
			r.refused(c, res, command, reply.Code, reply.Msg)
		} else {
			c.set(Fail, "TLS handshake on the data connection failed: %v", err)
			res.lost = true
		}
		return res
	}
	if r.prot {
		if cs, ok := d.ConnectionState(); ok {
			res.resumed = cs.DidResume
			res.tls = &TLSInfo{Version: tlstrace.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite), Resumed: cs.DidResume}
			_, line := tlstrace.Resumption(cs)
			r.log(line)
			c.TLS = res.tls
		}
	}
	var xerr error
	if data != nil {
		var n int
		n, xerr = d.Write(data)
		res.bytes = int64(n)
	} else {
		res.bytes, xerr = io.Copy(io.Discard, d)
		if errors.Is(xerr, io.ErrUnexpectedEOF) {
			xerr = nil // a server that closes without close_notify
		}
	}
	_ = d.Close()
	reply, err := r.ctl.Reply()
	switch {
	case err != nil:
		c.set(Fail, "%s: no final reply: %v", command, err)
		res.lost = true
		return res
	case reply.Code != 226 && reply.Code != 250:
		r.refused(c, res, command, reply.Code, reply.Msg)
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

// refused explains a reply that refused a data transfer.
func (r *runner) refused(c *Check, res *dataResult, command string, code int, msg string) {
	line := replyText(code, msg)
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
		activeAdvice(c, r.raw.LocalAddr().(*net.TCPAddr).IP.String())
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

func (r *runner) probeReuse(c *Check) {
	// A session whose data connections never resume: a full handshake
	// each time.
	cfg := r.tlsConfig(false)
	cfg.SessionTicketsDisabled = true
	ctl, err := r.session(cfg, false)
	if err != nil {
		c.set(Skip, "could not open a second session: %v", err)
		return
	}
	defer ctl.Abort()
	cmd := "PASV"
	if r.good == modeEPSV {
		cmd = "EPSV"
	}
	rs, err := ctl.Do(cmd)
	var ch *ftpconn.Channel
	if err == nil {
		ch, err = ctl.Passive(cmd, rs[0])
	}
	if err != nil {
		c.set(Skip, "%s on the second session: %v", cmd, err)
		return
	}
	rs, err = ctl.Do("LIST")
	if err != nil || rs[0].Code != 150 && rs[0].Code != 125 {
		ch.Close()
		msg := ""
		if err == nil {
			msg = replyText(rs[0].Code, rs[0].Msg)
		}
		c.set(Skip, "LIST on the second session: %v %s", err, msg)
		return
	}
	d, err := ch.Open(r.ctx)
	if err != nil {
		c.set(Skip, "second data connection: %v", err)
		return
	}
	herr := d.Handshake()
	if herr == nil {
		// A server that refuses the session may leave the connection
		// open: do not wait long for the listing.
		t := time.AfterFunc(time.Second, d.Abort)
		_, _ = io.Copy(io.Discard, d)
		t.Stop()
		_ = d.Close()
	} else {
		d.Abort()
	}
	reply, err := ctl.Reply()
	switch {
	case err != nil && herr != nil:
		c.set(OK, "required: the server dropped a data connection that did not resume the TLS session (%v); gftp resumes it", herr)
	case err != nil:
		c.set(OK, "required: the server closed the session after a data connection that did not resume the TLS session; gftp resumes it")
	case reply.Code == 226 || reply.Code == 250:
		c.set(OK, "not required: the server accepted a data connection that did not resume the TLS session")
		return
	default:
		c.set(OK, "required: a data connection that did not resume the TLS session was refused (%s); gftp resumes it", replyText(reply.Code, reply.Msg))
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
		ctl, err := r.session(r.tlsConfig(false), true)
		if err != nil {
			c.set(Fail, "could not log in again: %v", err)
			return
		}
		r.ctl, r.stop = ctl, context.AfterFunc(r.ctx, ctl.Abort)
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
			_, _ = r.ctl.Do("DELE " + cleanup)
		}
	}()
	rs, err := r.ctl.Do("SIZE " + name)
	switch {
	case err != nil:
		c.set(Fail, "SIZE: %v", err)
		return
	case rs[0].Code != 213:
		c.set(Warn, "stored, but SIZE is not supported: %s", replyText(rs[0].Code, rs[0].Msg))
	default:
		if n, err := ftpconn.ParseSize(rs[0]); err != nil || n != int64(len(content)) {
			c.set(Fail, "stored %d bytes, but the server has %s", len(content), strings.TrimSpace(rs[0].Msg))
			return
		}
	}
	rs, err = r.ctl.Do("RNFR " + name)
	if err == nil && rs[0].Code == 350 {
		rs, err = r.ctl.Do("RNTO " + renamed)
	}
	switch {
	case err != nil:
		c.set(Fail, "rename: %v", err)
		return
	case rs[0].Code != 250:
		c.set(Fail, "cannot rename: %s", replyText(rs[0].Code, rs[0].Msg))
		c.advise("gftp uploads to a temporary name and renames it into place; the server must allow RNFR/RNTO")
		return
	}
	cleanup = renamed
	rs, err = r.ctl.Do("DELE " + renamed)
	switch {
	case err != nil:
		c.set(Fail, "DELE: %v", err)
		return
	case rs[0].Code != 250:
		c.set(Fail, "cannot delete: %s", replyText(rs[0].Code, rs[0].Msg))
		c.advise("gftp deletes files removed from the repository; the user needs delete permission (vsftpd write_enable, proftpd <Limit DELE>)")
		return
	}
	cleanup = ""
	if c.Status == OK {
		c.set(OK, "stored, sized, renamed and deleted %s", name)
	}
}
