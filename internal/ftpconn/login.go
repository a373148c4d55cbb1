package ftpconn

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"
)

// Session is what a login learnt.
type Session struct {
	Features []string // the FEAT reply's lines, one feature each
	// Extra holds the replies to the extra commands sent with the login,
	// in order.
	Extra []Reply
}

// Has reports whether the server listed feature name in FEAT.
func (s Session) Has(name string) bool { return HasFeature(s.Features, name) }

// Login logs in with one write: USER, PASS, FEAT, TYPE I, OPTS UTF8 ON, and
// over TLS PBSZ 0 and PROT P (RFC 4217: data connections over TLS too),
// then extra (an EPSV for the first transfer, a PWD...). Nothing in the
// batch depends on an earlier reply in a way that could do harm: a server
// that refuses the password answers 530 to the rest, and one that logs in
// on USER alone answers the PASS with 503, which is ignored. The error of a
// refused login is the server's reply as a *textproto.Error, read after
// every reply of the batch, so the connection stays in step.
func (c *Conn) Login(user, pass string, extra ...string) (Session, error) {
	if strings.ContainsAny(user+pass, "\r\n") {
		return Session{}, errors.New("a user name or password cannot hold CR or LF")
	}
	cmds := []string{"USER " + user, "PASS " + pass, "FEAT", "TYPE I", "OPTS UTF8 ON"}
	if c.tls != nil {
		cmds = append(cmds, "PBSZ 0", "PROT P")
	}
	n := len(cmds)
	cmds = append(cmds, extra...)
	rs, err := c.Do(cmds...)
	var s Session
	if err != nil {
		// Some servers (ftpserverlib) hang up after a refused password:
		// the refusal read before the end is the answer.
		if len(rs) >= 1 && rs[0].Code >= 400 {
			return s, errCode(rs[0])
		}
		if len(rs) >= 2 && rs[1].Code >= 400 {
			return s, errCode(rs[1])
		}
		return s, err
	}
	userR, passR := rs[0], rs[1]
	switch {
	case userR.Code == 230:
		// Logged in without a password; the PASS got 503 or 230.
	case userR.Code == 331 || userR.Code == 332:
		if passR.Code == 332 {
			return s, &textproto.Error{Code: passR.Code, Msg: passR.Msg + " (an ACCT is required, which gftp does not send)"}
		}
		if passR.Code != 230 && passR.Code != 202 {
			return s, errCode(passR)
		}
	default:
		return s, errCode(userR)
	}
	s.Features = Features(rs[2])
	if r := rs[3]; r.Code != 200 {
		return s, &StepError{Cmd: "TYPE I", Reply: r}
	}
	if c.tls != nil {
		if r := rs[6]; r.Code != 200 {
			return s, &StepError{Cmd: "PROT P", Reply: r}
		}
	}
	s.Extra = rs[n:]
	return s, nil
}

// StepError is a step of a login that the server refused after accepting
// the password: TYPE I, or PROT P over TLS. The session is logged in, so a
// caller can tell "logged in, but" apart from a refused login.
type StepError struct {
	Cmd   string // the command refused: "TYPE I" or "PROT P"
	Reply Reply  // the server's answer
}

func (e *StepError) Error() string { return e.Cmd + ": " + errCode(e.Reply).Error() }

// Unwrap returns the reply as errCode does: a *textproto.Error for a
// refusal (4xx, 5xx).
func (e *StepError) Unwrap() error { return errCode(e.Reply) }

// errCode returns r as a *textproto.Error, also for a code that is not an
// error but was not the one expected.
func errCode(r Reply) error {
	code := r.Code
	if code < 400 {
		return fmt.Errorf("unexpected reply %s", r)
	}
	return &textproto.Error{Code: code, Msg: r.Msg}
}
