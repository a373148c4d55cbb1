package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"strings"
	"syscall"

	"github.com/gftp/gftp/remote"
)

// kindError tags a server or network error with the contract's sentinel,
// keeping the server's own words as the message.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// Reply codes, RFC 959 and RFC 3659.
const (
	codeUnavailable    = 421 // service not available, closing control connection
	codeCantOpenData   = 425
	codeTransferAbort  = 426
	codeFileBusy       = 450
	codeLocalError     = 451
	codeNoSpace        = 452
	codeNotLoggedIn    = 530
	codeNeedAccount    = 532
	codeUnavailableMsg = 550
	codeExceeded       = 552
	codeBadName        = 553
)

// classify maps an error of a command (cmd is its verb, e.g. "RETR") to the
// contract's sentinels. It returns err unchanged when nothing applies.
func classify(cmd string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isTLSVerify(err) {
		return err
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		if kind := codeKind(cmd, te.Code, te.Msg); kind != nil {
			return &kindError{kind, err}
		}
		return err
	}
	if isNetError(err) {
		return &kindError{remote.ErrTemporary, err}
	}
	return err
}

func codeKind(cmd string, code int, msg string) error {
	lower := strings.ToLower(msg)
	if (cmd == "USER" || cmd == "PASS") && code >= 400 && needsTLS(lower) {
		return ErrTLSRequired
	}
	switch code {
	case codeUnavailable, codeCantOpenData, codeTransferAbort, codeFileBusy, codeLocalError:
		return remote.ErrTemporary
	case codeNoSpace, codeExceeded:
		return remote.ErrStorageFull
	case codeNotLoggedIn, codeNeedAccount:
		if tooMany(code, msg) {
			return remote.ErrTemporary
		}
		return remote.ErrAuth
	case codeUnavailableMsg, codeBadName:
		switch {
		case strings.Contains(lower, "permission") || strings.Contains(lower, "denied") ||
			strings.Contains(lower, "not permitted") || strings.Contains(lower, "not allowed"):
			return fs.ErrPermission
		case strings.Contains(lower, "no such file") || strings.Contains(lower, "not found") ||
			strings.Contains(lower, "does not exist") || strings.Contains(lower, "doesn't exist"):
			return fs.ErrNotExist
		case strings.Contains(lower, "quota") || strings.Contains(lower, "no space") || strings.Contains(lower, "disk full"):
			return remote.ErrStorageFull
		}
		if code == codeUnavailableMsg {
			switch cmd {
			case "RETR", "SIZE", "DELE", "MDTM", "MLST", "CWD", "RNFR":
				return fs.ErrNotExist
			}
		}
		if code == codeBadName {
			// "File name not allowed": pure-ftpd refuses names with a
			// backslash or a control character (553 Prohibited file name).
			return fs.ErrInvalid
		}
	}
	return nil
}

// needsTLS reports a refusal of clear text: vsftpd "530 Non-anonymous
// sessions must use encryption.", proftpd "550 SSL/TLS required on the
// control channel", pure-ftpd "534 ... Please reconnect using TLS".
func needsTLS(lower string) bool {
	return strings.Contains(lower, "encryption") || strings.Contains(lower, "tls") ||
		strings.Contains(lower, "ssl") || strings.Contains(lower, "cleartext")
}

// tooMany reports a refusal because of the number of connections: 421 at
// connect time (vsftpd max_clients, max_per_ip), or a 530 that says so
// (proftpd MaxClientsPerUser, pure-ftpd -c/-C).
func tooMany(code int, msg string) bool {
	if code == codeUnavailable {
		return true
	}
	if code != codeNotLoggedIn {
		return false
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "too many") || strings.Contains(m, "maximum number") ||
		strings.Contains(m, "max") && strings.Contains(m, "connection")
}

// isNetError reports a broken or timed-out connection.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// isTLSVerify reports a certificate verification failure, which no retry
// will cure.
func isTLSVerify(err error) bool {
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ve)
}

// pathErr builds the contract's error.
func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == op && pe.Path == name {
		return err
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}
