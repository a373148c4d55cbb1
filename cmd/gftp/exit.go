package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/internal/objectformat"
	"github.com/gftp/gftp/internal/tlstrace"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/ftp"
	"github.com/gftp/gftp/remote/sftp"
)

// Exit codes: git-ftp's, so that scripts written for it keep working.
const (
	exitOK          = 0
	exitUnknown     = 1
	exitUsage       = 2
	exitMissingArgs = 3
	exitUpload      = 4
	exitDownload    = 5
	exitRemote      = 6
	exitLocked      = 7
	exitGit         = 8
	exitHook        = 9
	exitFilesystem  = 10
	exitInterrupted = 130
)

// cliError is an error of the command line itself, with its exit code.
type cliError struct {
	code int
	msg  string
	hint string
}

func (e *cliError) Error() string { return e.msg }

func usageErr(hint, format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...), hint: hint}
}

func missingErr(hint, format string, args ...any) error {
	return &cliError{code: exitMissingArgs, msg: fmt.Sprintf(format, args...), hint: hint}
}

// DirtyError refuses to deploy from a work tree with uncommitted changes.
type DirtyError struct{ Files []string }

func (e *DirtyError) Error() string {
	list := e.Files
	more := ""
	if len(list) > 10 {
		list, more = list[:10], fmt.Sprintf(" and %d more", len(e.Files)-10)
	}
	return fmt.Sprintf("uncommitted changes to tracked files: %s%s", strings.Join(list, ", "), more)
}

// exitCode maps an error to the documented exit code. It is the one place
// that knows the mapping; urfave/cli only honours an unwrapped ExitCoder, so
// we do it ourselves (STYLE.md).
func exitCode(err error) int {
	var (
		ce  *cliError
		fe  *deploy.FailedError
		de  *deploy.DownloadError
		me  *deploy.MarkerError
		uc  *deploy.UnknownCommitError
		se  *deploy.SubmoduleError
		le  *deploy.LocalError
		dty *DirtyError
		lk  *deploy.LockedError
		rv  *deploy.RevisionError
		of  *objectformat.Error
		lfs *deploy.LFSMissingError
		esc *deploy.EscapeError
		nme *deploy.NameError
		inc *deploy.IncludeError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &lk):
		return exitLocked
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &esc), errors.Is(err, remote.ErrEscape), errors.As(err, &inc):
		return exitUsage
	case errors.As(err, &fe), errors.As(err, &nme):
		return exitUpload
	case errors.Is(err, deploy.ErrNoMarker), errors.As(err, &de), errors.As(err, &me), errors.Is(err, manifest.ErrCorrupt):
		return exitDownload
	case errors.As(err, &uc), errors.As(err, &rv), errors.As(err, &se), errors.As(err, &dty), errors.Is(err, deploy.ErrNotRepo),
		errors.As(err, &of), errors.As(err, &lfs):
		return exitGit
	case errors.As(err, &le):
		return exitFilesystem
	case isRemoteErr(err):
		return exitRemote
	}
	return exitUnknown
}

func isRemoteErr(err error) bool {
	var (
		ne net.Error
		pe *fs.PathError
	)
	return errors.Is(err, remote.ErrAuth) || errors.Is(err, remote.ErrScheme) || errors.Is(err, remote.ErrTemporary) ||
		tlsReason(err) != "" || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &pe)
}

// tlsReason names why a certificate was not trusted, in the words users
// search for (the same words gftp diag uses); "" when err is not a
// verification failure.
func tlsReason(err error) string {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
	)
	if errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cve) {
		return tlstrace.Reason(err)
	}
	return ""
}

// hinter is an error that knows what the user should do about it.
type hinter interface{ Hint() string }

// describe returns the one-line cause and the hint for err.
func describe(err error) (cause, hint string) {
	cause = err.Error()
	var (
		ce  *cliError
		h   hinter
		fe  *deploy.FailedError
		dty *DirtyError
		ne  net.Error
		dns *net.DNSError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted", "nothing after the interruption was done; the marker was not moved, so the next push resumes the deploy"
	case errors.As(err, &ce):
		return ce.msg, ce.hint
	case errors.As(err, &fe):
		again := "; the marker did not move, so the same push sends the same changes again"
		switch {
		case errors.Is(err, remote.ErrStorageFull):
			return "storage full: " + cause, "the server is out of space or over quota: free space on it, then run the same push again" + again
		case errors.Is(err, fs.ErrPermission):
			return cause, "the server refused for lack of permission: check the user's rights on the remote directory" + again
		case errors.Is(err, fs.ErrInvalid):
			return cause, "the server refuses a file name: rename the file or list it in .git-ftp-ignore" + again
		}
		return cause, "fix the cause above and run the same push again" + again
	case errors.As(err, &dty):
		return cause, "commit or stash them, or pass --allow-dirty to deploy the commit anyway"
	case errors.Is(err, deploy.ErrNoMarker):
		return cause, "run 'gftp init' for the first deploy, or 'gftp push --auto-init'; if the files are already there, 'gftp catchup' records the commit without uploading"
	case errors.As(err, &h):
		return cause, h.Hint()
	case tlsReason(err) != "":
		return "TLS certificate verification failed: " + tlsReason(err),
			"trust the server's CA with --cacert FILE, or accept this certificate with --insecure (not recommended); 'gftp diag URL' shows the chain"
	case errors.Is(err, remote.ErrAuth):
		if !strings.Contains(strings.ToLower(cause), "authentication failed") {
			cause = "authentication failed: " + cause
		}
		if strings.Contains(cause, "s3://") || strings.Contains(cause, "S3") {
			return cause, "check the access key and secret (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, --s3-profile, or GFTP_USER and GFTP_PASSWORD) and --s3-endpoint"
		}
		return cause, "check the user and password (--user, --password-command, GFTP_PASSWORD, git config git-ftp.password, ~/.netrc); for SFTP keys, --key and GFTP_KEY_PASSPHRASE"
	case errors.Is(err, sftp.ErrHostKeyChanged):
		return cause, "if the server's key really changed (reinstalled server), remove its old line from known_hosts (ssh-keygen -R HOST) and connect again; otherwise someone may be intercepting the connection"
	case errors.Is(err, sftp.ErrHostKeyUnknown):
		return cause, "check the fingerprint with the server's administrator, then add the line above to known_hosts, or run once with --accept-new-host-key"
	case errors.Is(err, ftp.ErrTLSRefused):
		return cause, "the server does not do TLS: ftpes:// never falls back to plain text; use ftp:// only if you accept sending the password in clear"
	case errors.Is(err, ftp.ErrTLSRequired):
		return cause, "the server requires TLS: use ftpes:// (explicit) or ftps:// (implicit) instead of ftp://"
	case errors.Is(err, remote.ErrEscape):
		return cause, "gftp writes only inside the remote root: check .git-ftp-include, and what the server listed"
	case errors.Is(err, fs.ErrInvalid):
		return cause, "the server refuses this file name; rename the file, or list it in .git-ftp-ignore"
	case errors.Is(err, remote.ErrStorageFull):
		return cause, "the server is out of space or over quota; free space on it and push again"
	case errors.Is(err, fs.ErrPermission):
		return cause, "the server refused for lack of permission; check the user's rights on the remote directory"
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Sprintf("cannot resolve host %s: %s", dns.Name, dns.Err),
			"check the host name in the URL (or the scope, or --s3-endpoint) for a typo, and that DNS works on this machine"
	case errors.Is(err, syscall.ECONNREFUSED):
		return cause, "nothing listens on that host and port: check the URL's host and port, and that the server runs"
	case errors.As(err, &ne) && ne.Timeout():
		return cause, "the server did not answer in time: check the host, the port, and any firewall between you"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, remote.ErrTemporary):
		return cause, "the connection was cut (by the server, or something between you): run the command again; nothing is lost, and --retries sets how often gftp tries by itself"
	case errors.Is(err, remote.ErrScheme):
		return cause, "use ftp://, ftpes://, ftps://, sftp://, s3:// or a local path"
	case errors.Is(err, deploy.ErrNotRepo):
		return cause, ""
	}
	return cause, ""
}

// report prints err for a person and returns the exit code.
func report(w io.Writer, err error) int {
	cause, hint := describe(err)
	if hint == "" {
		hint = fallbackHint(err)
	}
	fmt.Fprintf(w, "gftp: error: %s\n", oneLine(quoteErrNames(err, cause)))
	var fe *deploy.FailedError
	if errors.As(err, &fe) {
		for _, f := range fe.Failures {
			fmt.Fprintf(w, "gftp:   failed %s %s: %s\n", f.Action.Op, quoteName(f.Action.Path), oneLine(quoteErrNames(f.Err, f.Err.Error())))
		}
	}
	if hint != "" {
		fmt.Fprintf(w, "gftp: hint: %s\n", hint)
	}
	return exitCode(err)
}

// oneLine makes a message one line: line breaks become spaces (a server's
// multi-line reply), and any other control character is escaped, so that
// neither can forge a line or repaint the terminal.
func oneLine(s string) string {
	return printable(strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)))
}
