package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
	"github.com/gftp/gftp/remote"
)

// Transfers spend as few round trips per file as the protocol allows. One
// PutAtomic on a warm connection is, at its best (passive mode, vsftpd):
//
//	STOR tmp and the next transfer's EPSV in one write, with the data
//	connection dialled ahead and its TLS ClientHello sent at once
//	                                           -> ServerHello, 150   1 RTT
//	the content, close_notify, FIN             -> 226, 229           1 RTT
//	RNFR tmp and RNTO name in one write, while the next data
//	connection is dialled                      -> 350, 250           1 RTT
//
// Nothing is sent ahead whose failure could change what an earlier command
// does: RNFR and RNTO wait for the STOR's 226, so a failed upload is never
// renamed over the old file.
//
// Servers answer pipelined commands in order (RFC 959 leaves them in the
// control connection's buffer until the server reads them), but proftpd and
// pure-ftpd read commands during a transfer and refuse an EPSV there (450,
// 500). So the EPSV goes with the STOR only to vsftpd, which reads nothing
// while a STOR runs; elsewhere it goes with RNFR and RNTO, and the next STOR
// leaves while its data connection is still being dialled. A server that
// answers the early EPSV out of turn anyway turns it off for the rest of the
// run; the upload it happened to is judged by its own reply.
//
// In active mode the client knows its data port before it sends anything:
// EPRT (or PORT) and the STOR go in one write, and the server connects once
// it reads the STOR. That is the round trips of a passive port asked for
// ahead, with nothing to ask for ahead.

// dropNext gives up the passive channel asked for ahead that no transfer
// took. One still being dialled is kept until the session next asks for a
// passive port (settleDrops): its SYN could otherwise reach the listener of
// that EPSV, which vsftpd may open on the same port, and be accepted in
// place of the next transfer's own connection. Commands that open no port
// (MKD, SIZE, DELE...) need not wait for it.
func (s *session) dropNext() {
	ch := s.next
	s.next = nil
	if ch == nil {
		return
	}
	if ch.Dialling() {
		s.drops = append(s.drops, ch)
		return
	}
	ch.Close()
}

// settleDrops waits for the dials of dropped channels to end and closes
// them; it runs before a write that asks for a passive port. A dial that
// does not end in time costs the session.
func (s *session) settleDrops() error {
	if len(s.drops) == 0 {
		return nil
	}
	wait := s.r.opts.Timeout
	if wait <= 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	for i, ch := range s.drops {
		if !ch.WaitDial(time.Until(deadline)) {
			for _, m := range s.drops[i:] {
				m.Close()
			}
			s.drops = nil
			s.broken = true
			return &kindError{remote.ErrTemporary, errors.New("a data connection opened ahead did not finish connecting")}
		}
		ch.Close()
	}
	s.drops = nil
	return nil
}

// dialFromEPSV takes the reply to an EPSV sent ahead: the next transfer's
// data connection is dialled at once, or the connection learns that the
// server has no EPSV. It reports whether a dial started.
func (s *session) dialFromEPSV(rep ftpconn.Reply) bool {
	ch, err := s.c.Passive("EPSV", rep)
	if err != nil {
		return false
	}
	s.next = ch
	return true
}

// epsvAhead reports whether an EPSV for the next transfer may go out with
// the commands of this one.
func (s *session) epsvAhead() bool {
	return !s.c.IsActive() && s.c.PassiveCmd() == "EPSV"
}

// channel returns the data channel for the next transfer: the passive one
// asked for ahead when it is fresh, else a new one. A passive channel is
// asked for now with EPSV or PASV (one round trip); an active one needs
// none, since its EPRT or PORT goes with the transfer command (Cmd).
func (s *session) channel() (*ftpconn.Channel, error) {
	if ch := s.next; ch != nil {
		s.next = nil
		// A server forgets a port nobody used for long (vsftpd's
		// accept_timeout is 60 s): an old one is not worth the risk,
		// nor is one whose dial failed already.
		if ch.Age() < idleCheck && !ch.Failed() {
			s.r.pipe.ahead.Add(1)
			return ch, nil
		}
		s.next = ch
		s.dropNext()
	}
	if s.c.IsActive() {
		return s.c.Listen()
	}
	if err := s.settleDrops(); err != nil {
		return nil, err
	}
	return s.c.OpenChannel()
}

// start sends a transfer command (verb and its line) on a data channel,
// with an EPSV for the next transfer behind it when early, and returns its
// data connection. The command's first reply is left for the caller, except
// when the server refused the command before the data connection was up:
// then the refusal comes back as a *textproto.Error (after the early EPSV's
// reply, which is read and dropped).
func (s *session) start(ctx context.Context, verb, line string, early bool) (*ftpconn.Data, error) {
	for attempt := 0; ; attempt++ {
		ch, err := s.channel()
		if err != nil {
			return nil, classify(s.c.PassiveCmd(), err)
		}
		s.mu.Lock()
		s.ch = ch
		s.mu.Unlock()
		var cmds []string
		if ch.Cmd != "" {
			cmds = append(cmds, ch.Cmd)
		}
		cmds = append(cmds, line)
		if early {
			if err := s.settleDrops(); err != nil {
				ch.Close()
				return nil, err
			}
			cmds = append(cmds, "EPSV")
		}
		if err := s.c.Send(cmds...); err != nil {
			ch.Close()
			return nil, classify(verb, err)
		}
		if ch.Cmd != "" {
			// Active mode: the EPRT's reply, then the command's. The
			// server answers a command whose EPRT it refused with 425
			// or 503; a server without EPRT gets PORT next time.
			rep, err := s.c.Reply()
			if err != nil {
				ch.Close()
				return nil, classify(verb, err)
			}
			if aerr := ch.Accepted(rep); aerr != nil {
				crep, err := s.c.Reply()
				if err != nil {
					return nil, classify(verb, err)
				}
				if crep.Code < 400 {
					// Took the command without a port: nothing can
					// follow that is in step.
					s.broken = true
				}
				if attempt == 0 && strings.HasPrefix(ch.Cmd, "EPRT") && ftpconn.ExtendedRefused(rep.Code) {
					continue
				}
				return nil, classify("EPRT", aerr)
			}
		}
		dc, err := ch.Open(ctx)
		if err != nil {
			if rep, ok := s.refusedFirst(err); ok {
				if early {
					s.takeEPSV(ftpconn.Reply{})
				}
				if !s.broken {
					return nil, &textproto.Error{Code: rep.Code, Msg: rep.Msg}
				}
			}
			// The server waits for a connection that will not come.
			s.broken = true
			return nil, classify(verb, err)
		}
		s.mu.Lock()
		s.data, s.ch = dc, nil
		s.mu.Unlock()
		return dc, nil
	}
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
	var op string
	err := r.with(ctx, func(s *session) error {
		op = "put"
		if err := s.store(ctx, tmp, name, src); err != nil {
			return err
		}
		if size >= 0 && !r.pipe.strict.Load() {
			if err := s.verifySize(tmp, size); err != nil {
				return err
			}
		}
		op = "rename"
		// Where the EPSV could not go early, it goes with the rename.
		return s.rename(ctx, tmp, name, s.next == nil && s.epsvAhead())
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
	reps, err := s.c.Do("SIZE " + s.r.path(tmp))
	if err != nil {
		return classify("SIZE", err)
	}
	rep := reps[0]
	switch {
	case rep.Code == 500 || rep.Code == 502 || rep.Code == 504:
		return nil // no SIZE here
	case rep.Code != 213:
		return classify("SIZE", rep.Err())
	}
	got, err := ftpconn.ParseSize(rep)
	if err != nil {
		return nil // an answer we cannot read proves nothing either way
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
	// vsftpd reads no command while it runs a STOR, so the next
	// transfer's EPSV can go with it and be answered after the 226.
	early := r.pipe.early.Load() && !r.pipe.off.Load() && s.epsvAhead()
	dc, err := s.start(ctx, "STOR", "STOR "+r.path(tmp), early)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && !s.broken {
			return s.storErr(ctx, final, te)
		}
		return err
	}
	// Every way out has read the STOR's last reply, or given up on it,
	// and waited for the sender below.
	defer dc.Release()
	// epsv reads the early EPSV's reply, which follows the STOR's last,
	// before anything else is said to the server.
	epsv := func(rep ftpconn.Reply) {
		if !early {
			return
		}
		early = false
		s.takeEPSV(rep)
	}
	// The content goes while the STOR's first reply is on its way; a
	// refusal (no reply 1xx) aborts the data connection.
	sr := &srcReader{ctx: ctx, r: src}
	sent := make(chan error, 1)
	go func() {
		ftpconn.DeepStack() // the TLS handshake runs here
		buf := copyBufs.Get().(*[]byte)
		_, err := io.CopyBuffer(dc, sr, *buf)
		copyBufs.Put(buf)
		if err == nil {
			err = dc.Handshake() // an empty file still needs its TLS
		}
		if err == nil {
			err = dc.Finish()
		}
		sent <- err
	}()
	rep, err := s.c.Reply()
	if err != nil {
		dc.Abort()
		<-sent
		return classify("STOR", err)
	}
	if rep.Code >= 200 {
		// Refused, or done without a preliminary reply (2xx): nothing
		// more will come for the STOR.
		var werr error
		if rep.Code >= 300 {
			dc.Abort()
			werr = <-sent
			if early {
				early = false
				s.skipEPSVAfterRefusal()
			}
		} else {
			werr = <-sent
			epsv(ftpconn.Reply{})
		}
		return s.storOutcome(ctx, final, rep, werr)
	}
	werr := <-sent
	if werr != nil {
		dc.Abort()
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
	if rep, err = s.c.Reply(); err != nil {
		return classify("STOR", err)
	}
	if early && rep.Code == 229 {
		epsv(rep)
		if !r.pipe.off.Swap(true) {
			r.log.Info("server answered an EPSV during a STOR; sending it with the rename instead", "conn", s.id)
		}
		if rep, err = s.c.Reply(); err != nil {
			return classify("STOR", err)
		}
	}
	epsv(ftpconn.Reply{})
	return s.storOutcome(ctx, final, rep, werr)
}

// storOutcome judges a STOR by its final reply and by how sending the
// content ended (werr).
func (s *session) storOutcome(ctx context.Context, final string, rep ftpconn.Reply, werr error) error {
	if s.broken {
		return &kindError{remote.ErrTemporary, errors.New("control connection lost after STOR")}
	}
	if rep.Code >= 300 {
		return s.storErr(ctx, final, rep.Err())
	}
	if werr != nil {
		return &kindError{remote.ErrTemporary, fmt.Errorf("data connection: %w", werr)}
	}
	return nil
}

// storErr classifies a refused STOR: a 550 or 553 for a missing directory
// is ErrNotExist.
func (s *session) storErr(ctx context.Context, name string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && (te.Code == codeUnavailableMsg || te.Code == codeBadName) && name != "" && !s.c.Broken() {
		if _, serr := s.stat(ctx, remote.Dir(name)); errors.Is(serr, fs.ErrNotExist) {
			return &kindError{fs.ErrNotExist, err}
		}
	}
	return classify("STOR", err)
}

// rename sends RNFR and RNTO together: the server answers RNTO with 503
// when RNFR failed, so nothing is lost by not waiting for the 350. With
// epsv, an EPSV for the next transfer goes behind RNTO and its data
// connection is dialled at once. Where the server refuses to rename over an
// existing file, the target is removed first.
func (s *session) rename(ctx context.Context, from, to string, epsv bool) error {
	pf, pt := s.r.path(from), s.r.path(to)
	cmds := []string{"RNFR " + pf, "RNTO " + pt}
	if epsv {
		s.dropNext()
		if err := s.settleDrops(); err != nil {
			return err
		}
		cmds = append(cmds, "EPSV")
	}
	reps, err := s.c.Do(cmds...)
	if err != nil {
		return classify("RNFR", err)
	}
	if epsv {
		s.dialFromEPSV(reps[2])
	}
	switch {
	case reps[0].Code != 350:
		return s.renameErr(ctx, from, to, reps[0].Err())
	case reps[1].Code >= 300:
		return s.renameErr(ctx, from, to, reps[1].Err())
	}
	return nil
}

// renameErr examines a failed rename, and removes the target first where
// the server cannot rename over a file.
func (s *session) renameErr(ctx context.Context, from, to string, err error) error {
	if err == nil {
		err = &textproto.Error{Code: 550, Msg: "rename refused"}
	}
	if _, serr := s.stat(ctx, from); errors.Is(serr, fs.ErrNotExist) {
		return &kindError{fs.ErrNotExist, err}
	}
	if fi, serr := s.stat(ctx, to); serr == nil && !fi.IsDir {
		s.r.log.Debug("server cannot rename over a file; removing the target first", "to", to, "reply", err.Error())
		if _, derr := s.c.Cmd("DELE " + s.r.path(to)); derr != nil {
			return classify("DELE", derr)
		}
		reps, rerr := s.c.Do("RNFR "+s.r.path(from), "RNTO "+s.r.path(to))
		if rerr != nil {
			return classify("RNTO", rerr)
		}
		err = reps[1].Err()
		if reps[0].Code != 350 {
			err = reps[0].Err()
		}
	}
	return classify("RNTO", err)
}

// refusedFirst reads the reply to a transfer command whose data connection
// was refused or reset: servers (proftpd, vsftpd) close the passive port
// when they refuse the command, a RETR of a missing file say, and the
// connection, dialled while the command was on its way, comes too late. The
// refusal is then the command's answer, and ok is set. A server that took
// the command would wait for the connection instead, so only a refused or
// reset connection is taken as a sign that a reply is on its way.
func (s *session) refusedFirst(err error) (ftpconn.Reply, bool) {
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
		return ftpconn.Reply{}, false
	}
	rep, rerr := s.c.Reply()
	if rerr != nil || rep.Code < 400 {
		s.broken = true
		return ftpconn.Reply{}, false
	}
	return rep, true
}

// takeEPSV handles the reply to an EPSV sent ahead (reading it first when
// rep is empty): the next transfer's data connection is dialled at once.
func (s *session) takeEPSV(rep ftpconn.Reply) {
	r := s.r
	if rep.Code == 0 {
		var err error
		if rep, err = s.c.Reply(); err != nil {
			s.broken = true
			return
		}
	}
	if s.dialFromEPSV(rep) {
		return
	}
	// Refused during a transfer (pure-ftpd's 500) says nothing about
	// EPSV itself: only the early ones stop.
	if !r.pipe.off.Swap(true) {
		r.log.Info("server did not take an EPSV sent behind a transfer; sending it with the rename instead",
			"conn", s.id, "reply", rep.String())
	}
}

// skipEPSVAfterRefusal reads the reply to the EPSV sent ahead with a
// transfer that the server refused before it accepted the data connection,
// and leaves that port unused: vsftpd (over TLS, TestFTPRefusedThenTransfer)
// can hand the refused transfer's connection, which gftp has closed, to the
// next transfer on it, which then fails with "connection reset". The next
// transfer asks for a port of its own.
func (s *session) skipEPSVAfterRefusal() {
	if _, err := s.c.Reply(); err != nil {
		s.broken = true
	}
}

// retr starts a transfer from the server (RETR, MLSD, LIST) the way store
// starts an upload: the command (and, to vsftpd, the next EPSV) on a data
// channel opened ahead, whose TLS handshake starts with the command. A
// missing file costs one round trip.
func (s *session) retr(ctx context.Context, verb, line string) (*download, error) {
	r := s.r
	early := r.pipe.early.Load() && !r.pipe.off.Load() && s.epsvAhead()
	dc, err := s.start(ctx, verb, line, early)
	if err != nil {
		return nil, classify(verb, err)
	}
	hs := make(chan error, 1)
	go func() { hs <- dc.Handshake() }()
	rep, err := s.c.Reply()
	if err != nil {
		dc.Abort()
		<-hs
		return nil, classify(verb, err)
	}
	if early && rep.Code == 229 {
		// Answered out of turn: no more early EPSVs.
		s.takeEPSV(rep)
		r.pipe.off.Store(true)
		early = false
		if rep, err = s.c.Reply(); err != nil {
			dc.Abort()
			<-hs
			return nil, classify(verb, err)
		}
	}
	if rep.Code >= 200 {
		dc.Abort()
		<-hs
		if early {
			s.skipEPSVAfterRefusal()
		}
		if rep.Code < 300 {
			return nil, &kindError{remote.ErrTemporary, fmt.Errorf("%s: unexpected reply %s", verb, rep)}
		}
		return nil, classify(verb, rep.Err())
	}
	return &download{s: s, dc: dc, hs: hs, verb: verb, early: early, want: announcedSize(rep.Msg)}, nil
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

// download is the content of a transfer started by retr.
type download struct {
	s     *session
	dc    *ftpconn.Data
	hs    chan error // the TLS handshake's result, once
	verb  string
	early bool
	ready bool
	want  int64 // the size the 150 announced, or -1
	n     int64 // bytes read
}

func (f *download) Read(p []byte) (int, error) {
	if !f.ready {
		f.ready = true
		if err := <-f.hs; err != nil {
			return 0, err
		}
	}
	n, err := f.dc.Read(p)
	f.n += int64(n)
	return n, err
}

// finish ends a transfer that was read to its end: the transfer's reply,
// then the early EPSV's.
func (f *download) finish() error {
	s := f.s
	if !f.ready {
		<-f.hs
	}
	_ = f.dc.Close()
	rep, err := s.c.Reply()
	if err != nil {
		return classify(f.verb, err)
	}
	if f.early {
		s.takeEPSV(ftpconn.Reply{})
	}
	if rep.Code >= 300 {
		return classify(f.verb, rep.Err())
	}
	return nil
}

// copyBufs holds the buffers of uploads: io.Copy would allocate 32 KiB per
// file, and zero it, which for many small files was a visible share of the
// CPU of an init (profiled).
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}
