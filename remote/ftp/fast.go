package ftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gftp/gftp/remote"
)

// The upload path below speaks to the server itself instead of through
// jlaffaye/ftp, to spend as few round trips per file as the protocol allows.
// One PutAtomic on a warm connection is, at its best (passive mode, vsftpd):
//
//	STOR tmp and the next transfer's EPSV in one write, with the data
//	connection dialled ahead and its TLS ClientHello sent at once
//	                                           -> ServerHello, 150   1 RTT
//	the content, close_notify, FIN             -> 226, 229           1 RTT
//	RNFR tmp and RNTO name in one write, while the next data
//	connection is dialled                      -> 350, 250           1 RTT
//
// so three round trips per file, against seven through the library (EPSV,
// connect, STOR/150, TLS, 226, RNFR, RNTO). Nothing is sent ahead whose
// failure could change what an earlier command does: RNFR and RNTO wait for
// the STOR's 226, so a failed upload is never renamed over the old file.
//
// Servers answer pipelined commands in order (RFC 959 leaves them in the
// control connection's buffer until the server reads them), but proftpd and
// pure-ftpd read commands during a transfer and refuse an EPSV there (450,
// 500). So the EPSV goes with the STOR only to vsftpd, which reads nothing
// while a STOR runs; elsewhere it goes with RNFR and RNTO, and the next STOR
// leaves while its data connection is still being dialled: four round trips.
// A server that answers the early EPSV out of turn anyway turns it off for
// the rest of the run; the upload it happened to is judged by its own reply.

// replies is the session's reader of replies for commands sent past the
// library. It is made once per session, so that replies to pipelined
// commands that arrive in one TCP segment are not lost between calls.
func (s *session) replies() *textproto.Reader {
	if s.rd == nil {
		s.rd = textproto.NewReader(bufio.NewReaderSize(readerFunc(s.ctl.recv), 4096))
	}
	return s.rd
}

// send writes commands in one write, so that they leave in one segment.
func (s *session) send(cmds ...string) error {
	var b strings.Builder
	for _, c := range cmds {
		b.WriteString(c)
		b.WriteString("\r\n")
	}
	_, err := s.ctl.send([]byte(b.String()))
	return err
}

// reply reads one reply to a command sent with send. A reply with an error
// code is returned as a *textproto.Error, as the library does.
func (s *session) reply() (int, string, error) {
	code, msg, err := s.replies().ReadResponse(0)
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, te.Msg, nil
	}
	if err != nil {
		return 0, "", err
	}
	return code, msg, nil
}

// settled reports whether every reply sent so far has been read: what the
// library reads next must be the reply to its own next command.
func (s *session) settled() bool {
	return len(s.ctl.pending) == 0 && len(s.ctl.prefix) == 0 && (s.rd == nil || s.rd.R.Buffered() == 0)
}

// nextData is a data connection opened ahead, for the next transfer.
type nextData struct {
	done chan struct{}
	c    net.Conn
	err  error
	at   time.Time
}

// dropNext gives up the data connection opened ahead that no transfer
// took. A connection still being dialled is kept until the session next
// asks for a passive port (settleDrops): its SYN could otherwise reach the
// listener of that EPSV, which vsftpd may open on the same port, and be
// accepted in place of the next transfer's own connection. Commands that
// open no port (MKD, SIZE, DELE...) need not wait for it.
func (s *session) dropNext() {
	n := s.next
	s.next = nil
	if n == nil {
		return
	}
	select {
	case <-n.done:
		if n.c != nil {
			n.c.Close()
		}
	default:
		s.drops = append(s.drops, n)
	}
}

// settleDrops waits for the dials of dropped connections to end and closes
// the connections; the control connection calls it before it sends EPSV or
// PASV. A dial that does not end in time costs the session.
func (s *session) settleDrops() error {
	if len(s.drops) == 0 {
		return nil
	}
	wait := s.r.opts.Timeout
	if wait <= 0 {
		wait = 30 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for i, n := range s.drops {
		select {
		case <-n.done:
			if n.c != nil {
				n.c.Close()
			}
		case <-t.C:
			for _, m := range s.drops[i:] {
				go closeWhenDialled(m)
			}
			s.drops = nil
			s.broken = true
			return &kindError{remote.ErrTemporary, errors.New("a data connection opened ahead did not finish connecting")}
		}
	}
	s.drops = nil
	return nil
}

// closeWhenDialled closes a connection opened ahead once its dial ends.
func closeWhenDialled(n *nextData) {
	<-n.done
	if n.c != nil {
		n.c.Close()
	}
}

// passive sends EPSV (or PASV) and returns the address to connect to: the
// server's port, at the control connection's address unless the options
// trust the address a PASV reply names.
func (s *session) passive() (string, error) {
	cmd := "EPSV"
	if s.r.opts.DisableEPSV || s.noEPSV {
		cmd = "PASV"
	}
	if err := s.send(cmd); err != nil {
		return "", err
	}
	code, msg, err := s.reply()
	if err != nil {
		return "", err
	}
	if cmd == "EPSV" && extendedRefused(code) {
		s.noEPSV = true
		return s.passive()
	}
	return s.passiveAddr(cmd, code, msg)
}

// extendedRefused reports whether a reply to EPSV or EPRT says that the
// server does not have the command (RFC 2428 adds 522: not that network
// protocol), so that the session falls back to PASV or PORT.
func extendedRefused(code int) bool {
	return code == 500 || code == 502 || code == 504 || code == 522
}

// dialFromEPSV takes the reply to an EPSV sent ahead: the next transfer's
// data connection is dialled at once, or the session learns that the
// server has no EPSV. It reports whether a dial started.
func (s *session) dialFromEPSV(code int, msg string) bool {
	if addr, err := s.passiveAddr("EPSV", code, msg); err == nil {
		s.next = s.dialAhead(addr)
		return true
	}
	if extendedRefused(code) {
		s.noEPSV = true
	}
	return false
}

func (s *session) passiveAddr(cmd string, code int, msg string) (string, error) {
	host := ""
	if ra, ok := s.ctl.raw.RemoteAddr().(*net.TCPAddr); ok {
		host = ra.IP.String()
	}
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
		return net.JoinHostPort(host, f[3]), nil
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
		if !ok {
			break
		}
		if s.r.opts.TrustPASVIP {
			host = fmt.Sprintf("%d.%d.%d.%d", n[0], n[1], n[2], n[3])
		}
		return net.JoinHostPort(host, strconv.Itoa(n[4]<<8|n[5])), nil
	}
	if code >= 400 {
		return "", &textproto.Error{Code: code, Msg: msg}
	}
	return "", fmt.Errorf("%s: unexpected reply %d %s", cmd, code, msg)
}

// dialAhead starts connecting to the data port addr, for the next transfer.
func (s *session) dialAhead(addr string) *nextData {
	n := &nextData{done: make(chan struct{}), at: time.Now()}
	addr = s.dataAddr(addr)
	go func() {
		defer close(n.done)
		n.c, n.err = s.r.dialer.DialContext(context.Background(), "tcp", addr)
	}()
	return n
}

// connecting returns the data connection for the next transfer, being
// dialled or dialled already: the one opened ahead when it is fresh, else
// one asked for now with EPSV. The STOR goes before the connection is up;
// servers accept it when they get to the command.
func (s *session) connecting() (*nextData, error) {
	if n := s.next; n != nil {
		s.next = nil
		failed := false
		select {
		case <-n.done:
			failed = n.err != nil
		default:
		}
		// A server forgets a port nobody used for long (vsftpd's
		// accept_timeout is 60 s): an old one is not worth the risk,
		// nor is one whose dial failed already.
		if time.Since(n.at) < idleCheck && !failed {
			s.r.pipe.ahead.Add(1)
			return n, nil
		}
		s.next = n
		s.dropNext()
	}
	addr, err := s.passive()
	if err != nil {
		return nil, err
	}
	return s.dialAhead(addr), nil
}

// connected waits for the data connection and wraps it for the transfer.
func (s *session) connected(ctx context.Context, n *nextData) (*dataConn, error) {
	select {
	case <-n.done:
	case <-ctx.Done():
		// The command is out and its connection on its way: the
		// session cannot be trusted to be in step any more.
		s.broken = true
		go closeWhenDialled(n)
		return nil, ctx.Err()
	}
	if n.err != nil {
		return nil, n.err
	}
	dc := &dataConn{
		Conn:    n.c,
		ch:      dialedChannel{n.c},
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

// pipelined reports whether the fast upload path is on: in passive mode.
// Active mode needs the server to connect after the STOR, which the library
// path does.
func (r *Remote) pipelined() bool { return r.active == nil }

// epsvAhead reports whether an EPSV for the next transfer may go out with
// the commands of this one.
func (s *session) epsvAhead() bool {
	return s.r.active == nil && !s.r.opts.DisableEPSV && !s.noEPSV
}

// PutIsAtomic implements remote.AtomicPutter: an FTP STOR is not atomic
// (a reader sees the file grow), so PutAtomic goes through a temporary name.
func (r *Remote) PutIsAtomic() bool { return false }

// PutAtomic implements remote.AtomicPutter: it writes a temporary name and
// renames it over name, with the fewest round trips the server allows (see
// the top of this file).
func (r *Remote) PutAtomic(ctx context.Context, name string, src io.Reader, size int64) error {
	r.pool.warm()
	if err := r.checkName("put", name); err != nil {
		return err
	}
	tmp := remote.TempName(name)
	if strings.ContainsAny(r.path(name), "\r\n") {
		// Refused by the library, with its own words.
		return remote.PutViaTemp(ctx, r, name, src, size)
	}
	var op string
	err := r.withFast(ctx, func(s *session) error {
		op = "put"
		store := s.libStore
		if r.pipelined() {
			store = func(ctx context.Context, tmp string, src io.Reader) error { return s.store(ctx, tmp, name, src) }
		}
		if err := store(ctx, tmp, src); err != nil {
			return err
		}
		if size >= 0 && !r.pipe.strict.Load() {
			if err := s.verifySize(tmp, size); err != nil {
				return err
			}
		}
		op = "rename"
		// Where the EPSV could not go early, it goes with the rename.
		return s.renameEPSV(tmp, name, r.pipelined() && s.next == nil && s.epsvAhead())
	})
	if err != nil {
		removeQuietly(r, tmp)
		return pathErr(op, name, err)
	}
	r.pipe.files.Add(1)
	return nil
}

// verifySize checks that the server stored all size bytes in tmp before
// it is renamed into place. In FTP's stream mode a file ends where its data
// connection ends, so a connection that ends cleanly after part of the data
// (plain FTP; or TLS data without close_notify, which proftpd and pure-ftpd
// accept) leaves a short file that the server calls complete with 226.
// vsftpd over TLS refuses such an end itself (426), so it is spared this
// round trip. A server without SIZE cannot be checked.
func (s *session) verifySize(tmp string, size int64) error {
	p := s.r.path(tmp)
	var got int64
	if strings.ContainsAny(p, "\r\n") || !s.settled() {
		n, err := s.sc.FileSize(p)
		if err != nil {
			return classify("SIZE", err)
		}
		got = n
	} else {
		if err := s.send("SIZE " + p); err != nil {
			return classify("SIZE", err)
		}
		code, msg, err := s.reply()
		if err != nil {
			return classify("SIZE", err)
		}
		switch {
		case code == 500 || code == 502 || code == 504:
			return nil // no SIZE here
		case code != 213:
			return classify("SIZE", &textproto.Error{Code: code, Msg: msg})
		}
		if got, err = strconv.ParseInt(strings.TrimSpace(msg), 10, 64); err != nil {
			return nil // an answer we cannot read proves nothing either way
		}
	}
	if got != size {
		return &kindError{remote.ErrTemporary, fmt.Errorf("the server stored %d of %d bytes: the data connection ended early", got, size)}
	}
	return nil
}

// removeQuietly removes a temporary file on a fresh context, so that a
// cancelled deploy still cleans up.
func removeQuietly(r *Remote, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.Remove(ctx, name)
}

// store uploads src to tmp on the session's connection: STOR and the data
// go out together, and the next transfer's EPSV follows the data before
// the STOR's reply is in. final is the name tmp stands for, for errors.
func (s *session) store(ctx context.Context, tmp, final string, src io.Reader) error {
	r := s.r
	if !s.settled() {
		// Cannot happen: every reply asked for is read before returning.
		s.broken = true
		return &kindError{remote.ErrTemporary, errors.New("control connection out of step")}
	}
	n, err := s.connecting()
	if err != nil {
		return classify("EPSV", err)
	}
	// vsftpd reads no command while it runs a STOR, so the next
	// transfer's EPSV can go with it and be answered after the 226.
	early := r.pipe.early.Load() && !r.pipe.off.Load() && s.epsvAhead()
	cmds := []string{"STOR " + r.path(tmp)}
	if early {
		cmds = append(cmds, "EPSV")
	}
	if err := s.send(cmds...); err != nil {
		s.next = n
		s.dropNext()
		return classify("STOR", err)
	}
	// epsv reads the early EPSV's reply, which follows the STOR's last,
	// before anything else is said to the server.
	epsv := func(code int, msg string) {
		if !early {
			return
		}
		early = false
		s.takeEPSV(code, msg)
	}
	dc, err := s.connected(ctx, n)
	if err != nil {
		if code, msg, ok := s.refusedFirst(err); ok {
			epsv(0, "")
			if !s.broken {
				return s.storErr(final, &textproto.Error{Code: code, Msg: msg})
			}
		}
		// The server waits for a connection that will not come.
		s.broken = true
		return classify("STOR", err)
	}
	// The content goes while the STOR's first reply is on its way; a
	// refusal (no reply 1xx) aborts the data connection.
	sr := &srcReader{ctx: ctx, r: src}
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(dc, sr)
		if err == nil {
			err = dc.Handshake() // an empty file still needs its TLS
		}
		if err == nil {
			err = dc.finish()
		}
		sent <- err
	}()
	code, msg, err := s.reply()
	if err != nil {
		dc.abort()
		<-sent
		return classify("STOR", err)
	}
	if code >= 200 {
		// Refused, or done without a preliminary reply (2xx): nothing
		// more will come for the STOR.
		werr := error(nil)
		if code >= 300 {
			dc.abort()
			werr = <-sent
			if early {
				early = false
				s.skipEPSVAfterRefusal()
			}
		} else {
			werr = <-sent
			epsv(0, "")
		}
		return s.storOutcome(final, code, msg, werr)
	}
	werr := <-sent
	if werr != nil {
		dc.abort()
		if sr.err != nil {
			// The caller's reader failed: the server holds a partial
			// temporary file and will say so in a reply nobody needs.
			s.broken = true
			return sr.err
		}
	}
	// The transfer's reply. A server that read the EPSV during the
	// transfer answers it first: only a 229 can be told apart that way.
	// A failed transfer (426) followed by the EPSV's 229 is in order, and
	// reading it the other way round would rename a truncated file into
	// place; any other pair is taken in order, which at worst fails an
	// upload that succeeded, to be retried.
	code, msg, err = s.reply()
	if err != nil {
		return classify("STOR", err)
	}
	if early && code == 229 {
		epsv(code, msg)
		if !r.pipe.off.Swap(true) {
			r.log.Info("server answered an EPSV during a STOR; sending it with the rename instead", "conn", s.id)
		}
		if code, msg, err = s.reply(); err != nil {
			return classify("STOR", err)
		}
	}
	epsv(0, "")
	return s.storOutcome(final, code, msg, werr)
}

// storOutcome judges a STOR by its final reply and by how sending the
// content ended (werr).
func (s *session) storOutcome(final string, code int, msg string, werr error) error {
	if s.broken {
		return &kindError{remote.ErrTemporary, errors.New("control connection lost after STOR")}
	}
	if code >= 300 {
		return s.storErr(final, &textproto.Error{Code: code, Msg: msg})
	}
	if werr != nil {
		return &kindError{remote.ErrTemporary, fmt.Errorf("data connection: %w", werr)}
	}
	return nil
}

// storErr classifies a refused STOR the way Put does: a 550 or 553 for a
// missing directory is ErrNotExist.
func (s *session) storErr(name string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && (te.Code == codeUnavailableMsg || te.Code == codeBadName) && name != "" {
		if _, serr := s.stat(remote.Dir(name)); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, err}
		}
	}
	return classify("STOR", err)
}

// libStore uploads through the library (active mode, or a server that
// cannot take pipelined commands).
func (s *session) libStore(ctx context.Context, name string, src io.Reader) error {
	s.dropNext()
	sr := &srcReader{ctx: ctx, r: src}
	err := s.sc.Stor(s.r.path(name), sr)
	if sr.err != nil {
		return sr.err
	}
	if err == nil {
		return nil
	}
	return s.storErr(name, err)
}

// rename sends RNFR and RNTO together: the server answers RNTO with 503
// when RNFR failed, so nothing is lost by not waiting for the 350. Where the
// server refuses to rename over an existing file, the target is removed
// first.
func (s *session) rename(from, to string) error { return s.renameEPSV(from, to, false) }

// renameEPSV is rename, with an EPSV for the next transfer behind RNTO when
// epsv is set; its data connection is dialled at once.
func (s *session) renameEPSV(from, to string, epsv bool) error {
	pf, pt := s.r.path(from), s.r.path(to)
	if strings.ContainsAny(pf+pt, "\r\n") || !s.settled() {
		return s.renameLib(from, to, s.sc.Rename(pf, pt))
	}
	cmds := []string{"RNFR " + pf, "RNTO " + pt}
	if epsv {
		s.dropNext()
		cmds = append(cmds, "EPSV")
	}
	if err := s.send(cmds...); err != nil {
		return classify("RNFR", err)
	}
	c1, m1, err := s.reply()
	if err != nil {
		return classify("RNFR", err)
	}
	c2, m2, err := s.reply()
	if err != nil {
		return classify("RNTO", err)
	}
	if epsv {
		c3, m3, err := s.reply()
		if err != nil {
			return classify("EPSV", err)
		}
		s.dialFromEPSV(c3, m3)
	}
	switch {
	case c1 != 350:
		return s.renameLib(from, to, &textproto.Error{Code: c1, Msg: m1})
	case c2 >= 300:
		return s.renameLib(from, to, &textproto.Error{Code: c2, Msg: m2})
	}
	return nil
}

// renameLib examines a failed rename, and removes the target first where
// the server cannot rename over a file.
func (s *session) renameLib(from, to string, err error) error {
	if err == nil {
		return nil
	}
	r := s.r
	s.dropNext()
	var te *textproto.Error
	if !errors.As(err, &te) {
		return classify("RNTO", err)
	}
	if _, serr := s.stat(from); errors.Is(serr, fs.ErrNotExist) {
		return &kindError{fs.ErrNotExist, err}
	}
	if fi, serr := s.stat(to); serr == nil && !fi.IsDir {
		r.log.Debug("server cannot rename over a file; removing the target first", "to", to, "reply", err.Error())
		if derr := s.sc.Delete(r.path(to)); derr != nil {
			return classify("DELE", derr)
		}
		err = s.sc.Rename(r.path(from), r.path(to))
	}
	return classify("RNTO", err)
}

// finish ends an upload's data connection without waiting for the server:
// close_notify and a TCP half-close go now, and the socket is drained to the
// server's own close in the background (vsftpd over TLS 1.3 answers 426 to
// an upload whose client resets the connection with tickets unread).
func (d *dataConn) finish() error {
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
		err = d.tls.CloseWrite()
	}
	if cw, ok := d.Conn.(interface{ CloseWrite() error }); ok {
		if cerr := cw.CloseWrite(); err == nil {
			err = cerr
		}
	}
	go func() {
		wait := d.timeout
		if wait <= 0 || wait > 10*time.Second {
			wait = 10 * time.Second
		}
		_ = d.Conn.SetDeadline(time.Now().Add(wait))
		var rd io.Reader = d.Conn
		if d.tls != nil && d.handshaken {
			rd = d.tls
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(rd, drainLimit))
		_ = d.ch.Close()
	}()
	return err
}

// refusedFirst reads the reply to a transfer command whose data connection
// was refused or reset: servers (proftpd, vsftpd) close the passive port
// when they refuse the command, a RETR of a missing file say, and the
// connection, dialled while the command was on its way, comes too late. The
// refusal is then the command's answer, and ok is set. A server that took
// the command would wait for the connection instead, so only a refused or
// reset connection is taken as a sign that a reply is on its way.
func (s *session) refusedFirst(err error) (int, string, bool) {
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
		return 0, "", false
	}
	code, msg, rerr := s.reply()
	if rerr != nil || code < 400 {
		s.broken = true
		return 0, "", false
	}
	return code, msg, true
}

// takeEPSV handles the reply to an EPSV sent ahead (reading it first when
// code is 0): the next transfer's data connection is dialled at once.
func (s *session) takeEPSV(code int, msg string) {
	r := s.r
	if code == 0 {
		var err error
		if code, msg, err = s.reply(); err != nil {
			s.broken = true
			return
		}
	}
	if addr, err := s.passiveAddr("EPSV", code, msg); err == nil {
		s.next = s.dialAhead(addr)
		return
	}
	// Refused during a transfer (pure-ftpd's 500) says nothing about
	// EPSV itself: only the early ones stop.
	if !r.pipe.off.Swap(true) {
		r.log.Info("server did not take an EPSV sent behind a transfer; sending it with the rename instead",
			"conn", s.id, "reply", fmt.Sprintf("%d %s", code, msg))
	}
}

// skipEPSVAfterRefusal reads the reply to the EPSV sent ahead with a
// transfer that the server refused before it accepted the data connection,
// and leaves that port unused: vsftpd (over TLS, TestFTPRefusedThenTransfer)
// can hand the refused transfer's connection, which gftp has closed, to the
// next transfer on it, which then fails with "connection reset". The next
// transfer asks for a port of its own.
func (s *session) skipEPSVAfterRefusal() {
	if _, _, err := s.reply(); err != nil {
		s.broken = true
	}
}

// retr starts a download the way store starts an upload: RETR (and, to
// vsftpd, the next EPSV) on a data connection opened ahead, whose TLS
// handshake starts with the command. A missing file costs one round trip.
func (s *session) retr(ctx context.Context, name string) (*fastReader, error) {
	r := s.r
	if !s.settled() {
		s.broken = true
		return nil, &kindError{remote.ErrTemporary, errors.New("control connection out of step")}
	}
	n, err := s.connecting()
	if err != nil {
		return nil, classify("EPSV", err)
	}
	early := r.pipe.early.Load() && !r.pipe.off.Load() && s.epsvAhead()
	cmds := []string{"RETR " + r.path(name)}
	if early {
		cmds = append(cmds, "EPSV")
	}
	if err := s.send(cmds...); err != nil {
		s.next = n
		s.dropNext()
		return nil, classify("RETR", err)
	}
	dc, err := s.connected(ctx, n)
	if err != nil {
		if code, msg, ok := s.refusedFirst(err); ok {
			if early {
				s.takeEPSV(0, "")
			}
			if !s.broken {
				return nil, classify("RETR", &textproto.Error{Code: code, Msg: msg})
			}
		}
		s.broken = true
		return nil, classify("RETR", err)
	}
	hs := make(chan error, 1)
	go func() { hs <- dc.Handshake() }()
	code, msg, err := s.reply()
	if err != nil {
		dc.abort()
		<-hs
		return nil, classify("RETR", err)
	}
	if early && code == 229 {
		// Answered out of turn: no more early EPSVs.
		s.takeEPSV(code, msg)
		r.pipe.off.Store(true)
		early = false
		if code, msg, err = s.reply(); err != nil {
			dc.abort()
			<-hs
			return nil, classify("RETR", err)
		}
	}
	if code >= 200 {
		dc.abort()
		<-hs
		if early {
			s.skipEPSVAfterRefusal()
		}
		if code < 300 {
			return nil, &kindError{remote.ErrTemporary, fmt.Errorf("RETR: unexpected reply %d %s", code, msg)}
		}
		return nil, classify("RETR", &textproto.Error{Code: code, Msg: msg})
	}
	return &fastReader{s: s, dc: dc, hs: hs, early: early, want: announcedSize(msg)}, nil
}

// announcedRE finds the size a 150 reply announces: "Opening BINARY mode
// data connection for f (41 bytes)" (vsftpd, proftpd).
var announcedRE = regexp.MustCompile(`\((\d+) bytes?\)`)

// announcedSize returns the size a 150 reply announces, or -1.
func announcedSize(msg string) int64 {
	m := announcedRE.FindStringSubmatch(msg)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// fastReader is the content of a RETR started by retr.
type fastReader struct {
	s     *session
	dc    *dataConn
	hs    chan error // the TLS handshake's result, once
	early bool
	ready bool
	eof   bool
	want  int64 // the size the 150 announced, or -1
	n     int64 // bytes read
}

func (f *fastReader) Read(p []byte) (int, error) {
	if !f.ready {
		f.ready = true
		if err := <-f.hs; err != nil {
			return 0, err
		}
	}
	n, err := f.dc.Read(p)
	f.n += int64(n)
	if err == io.EOF {
		f.eof = true
	}
	return n, err
}

// finish ends a download that was read to its end: the transfer's reply,
// then the early EPSV's.
func (f *fastReader) finish() error {
	s := f.s
	if !f.ready {
		<-f.hs
	}
	_ = f.dc.Close()
	code, msg, err := s.reply()
	if err != nil {
		return classify("RETR", err)
	}
	if f.early {
		s.takeEPSV(0, "")
	}
	if code >= 300 {
		return classify("RETR", &textproto.Error{Code: code, Msg: msg})
	}
	return nil
}
