package diag

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"

	"github.com/gftp/gftp/internal/ftpconn"
)

// diag speaks FTP through internal/ftpconn, the protocol code gftp's FTP
// transport uses, so that what it diagnoses is what a deploy does. It adds
// what a diagnosis needs around it: each step is a check of its own, the
// dialogue ftpconn logs at -vv goes into the check that caused it, and
// every connection is dialled (and logged) here.

// dialogue is the slog handler through which ftpconn's -vv dialogue
// ("> CMD", "< reply", the TLS handshake trace) reaches the report.
type dialogue struct{ r *runner }

func (h dialogue) Enabled(_ context.Context, l slog.Level) bool { return l == slog.LevelDebug }

func (h dialogue) Handle(_ context.Context, rec slog.Record) error {
	h.r.log(rec.Message)
	return nil
}

func (h dialogue) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h dialogue) WithGroup(string) slog.Handler      { return h }

// acceptedMark stands for why an unverified certificate was accepted in
// ftpconn's handshake trace ("continuing anyway (...)"): diag knows it only
// once its policy has seen the certificate, during the handshake, so log
// puts it in.
const acceptedMark = "\x00accepted"

// dialer opens the connections ftpconn asks for: first the control
// connection that the connect check opened already, then passive data
// connections, each logged as curl logs it.
type dialer struct {
	r     *runner
	first net.Conn // the control connection, handed over once
	quiet bool     // a second session: no log
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if c := d.first; c != nil {
		d.first = nil
		return c, nil
	}
	r := d.r
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	// ftpconn names the address the PASV reply announced (Config.
	// TrustPASVIP): diag reads it for its NAT advice, and connects where
	// gftp would.
	r.mu.Lock()
	r.announced = net.ParseIP(host)
	r.mu.Unlock()
	if !r.o.TrustPASVIP {
		host = r.dataHost()
	}
	addr = net.JoinHostPort(host, port)
	log := r.log
	if d.quiet {
		log = func(string) {}
	}
	log(fmt.Sprintf("*   Trying %s...", addr))
	conn, err := r.dial(addr)
	if err != nil {
		why := err.Error()
		var ne net.Error
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			why = "connection refused"
		case errors.As(err, &ne) && ne.Timeout():
			why = fmt.Sprintf("no answer in %s", r.o.ConnectTimeout)
		}
		log(fmt.Sprintf("* connect to %s port %s failed: %s", host, port, why))
		return nil, &dialError{port: port, why: why, err: err}
	}
	log(fmt.Sprintf("* Connected to %s (%s) port %s", r.t.Host, host, port))
	return conn, nil
}

// dialError is a passive data connection that could not be made.
type dialError struct {
	port, why string
	err       error
}

func (e *dialError) Error() string { return "connect to port " + e.port + ": " + e.why }
func (e *dialError) Unwrap() error { return e.err }

// tlsConfig is the TLS template of one control connection (ftpconn clones
// it, with a session cache of its own and ServerName). Its first handshake
// is the control connection's: with decide, the policy judges the
// certificate there, without refusing it, so that the certificate check can
// show any certificate, and no password goes out unless it passed. Later
// handshakes are the data connections' (transfer reads their state from
// ftpconn.Data).
func (r *runner) tlsConfig(decide bool) *tls.Config {
	cfg := r.policy.config()
	first := true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if first {
			first = false
			if decide {
				r.trusted, r.accepted = r.policy.decide(cs)
				if r.accepted == "" && !r.trusted {
					r.accepted = "diag only: to show the certificate; no password will be sent"
				}
				r.ctlTLS = &cs
			}
		}
		return nil
	}
	return cfg
}

// ftpConfig is the ftpconn configuration of a control connection to the
// target: through d, logging to log.
func (r *runner) ftpConfig(d *dialer, log *slog.Logger, tlsCfg *tls.Config) ftpconn.Config {
	cfg := ftpconn.Config{
		Addr:          r.t.Address(),
		Dialer:        d,
		Proxied:       r.dialer != nil,
		TLS:           tlsCfg,
		InsecureLabel: acceptedMark,
		Timeout:       r.o.Timeout,
		Log:           log,
		DisableEPSV:   r.o.DisableEPSV,
		TrustPASVIP:   true, // see dialer
		Active:        r.activeCfg,
	}
	switch r.t.Scheme {
	case "ftpes":
		cfg.Mode = ftpconn.Explicit
	case "ftps":
		cfg.Mode = ftpconn.Implicit
	}
	return cfg
}

// session opens another control connection, secured with a template from
// tlsConfig and logged in. Its login is never in the report; with logged,
// what it says after the login is.
func (r *runner) session(tlsCfg *tls.Config, logged bool) (*ftpconn.Conn, error) {
	d := &dialer{r: r, quiet: !logged}
	var log *slog.Logger
	if logged {
		log = slog.New(dialogue{r})
		r.mu.Lock()
		r.muted = true
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			r.muted = false
			r.mu.Unlock()
		}()
	}
	cfg := r.ftpConfig(d, log, tlsCfg)
	if r.dialer == nil {
		// Where the connect check got through.
		cfg.Addr = net.JoinHostPort(r.ips[0].String(), strconv.Itoa(r.t.Port))
	}
	if r.t.Scheme == "ftp" {
		cfg.TLS = nil
	}
	ctl, err := ftpconn.Dial(r.ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := ctl.Login(r.o.User, r.o.Password); err != nil {
		ctl.Abort()
		return nil, err
	}
	if strings.Trim(r.t.Path, "/") != "" {
		if _, err := ctl.Cmd("CWD " + r.t.Path); err != nil {
			ctl.Abort()
			return nil, err
		}
	}
	return ctl, nil
}

// replyText is a reply as one line for a summary: its code and the last
// line of its text.
func replyText(code int, msg string) string {
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return strconv.Itoa(code) + " " + strings.TrimSpace(msg)
}

// errReply is the reply in err (a refusal ftpconn returned), as one line,
// or err's text.
func errReply(err error) string {
	var te *textproto.Error
	if errors.As(err, &te) {
		return replyText(te.Code, te.Msg)
	}
	return err.Error()
}

// lastReply is the last reply line in c's dialogue, without "< ".
func lastReply(c *Check) string {
	for i := len(c.Log) - 1; i >= 0; i-- {
		if l, ok := strings.CutPrefix(c.Log[i], "< "); ok {
			return l
		}
	}
	return ""
}

// features reads a FEAT reply's lines (ftpconn.Features) into names,
// upper-cased, and their parameters.
func features(r ftpconn.Reply) map[string]string {
	feats := map[string]string{}
	for _, l := range ftpconn.Features(r) {
		name, params, _ := strings.Cut(strings.Join(strings.Fields(l), " "), " ")
		feats[strings.ToUpper(name)] = params
	}
	return feats
}

// authTLS reports whether FEAT lists AUTH TLS (RFC 4217 section 6).
func authTLS(feats map[string]string) bool {
	for _, m := range strings.Fields(strings.ToUpper(feats["AUTH"])) {
		if m == "TLS" || m == "TLS-C" || m == "SSL" {
			return true
		}
	}
	return false
}

// unroutable reports whether ip cannot be reached across the internet:
// private (RFC 1918, RFC 4193), shared (RFC 6598), loopback, link-local or
// unspecified. A PASV reply with such an address, from a server reached at
// another address, comes from behind NAT.
func unroutable(ip net.IP) bool {
	if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return true
	}
	_, cgnat, _ := net.ParseCIDR("100.64.0.0/10")
	return cgnat.Contains(ip)
}

// timeout reports whether err is a deadline that passed.
func timeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
