// Package proxy opens TCP connections through a SOCKS5 or HTTP CONNECT
// proxy, for every transport (FTP control and data, SFTP, S3) and diag.
//
// The proxy is given as curl's -x takes it, since git-ftp hands its -x to
// curl: [scheme://][user:password@]host[:port]. No scheme means http://,
// and no port means 1080 (curl(1), --proxy). socks5:// resolves the
// target's name here and sends the proxy an address; socks5h:// sends the
// name and lets the proxy resolve it; http:// asks for a tunnel with
// CONNECT (RFC 9110, 9.3.6).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	xproxy "golang.org/x/net/proxy"
)

// ContextDialer opens connections; *net.Dialer is one.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// ErrAuth is wrapped by an Error when the proxy refused the credentials
// (SOCKS5 RFC 1929 status, HTTP 407), or wanted some and got none.
var ErrAuth = errors.New("the proxy refused the credentials")

// Error is a failure to get through the proxy: reaching it, logging in, or
// its refusal to connect to the target. The proxy's password is not in it.
type Error struct {
	Proxy string // the proxy URL, password redacted
	Addr  string // the target, host:port
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("proxy %s: connect to %s: %v", e.Proxy, e.Addr, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Hint says what to check, for the command line's hint line.
func (e *Error) Hint() string {
	if errors.Is(e.Err, ErrAuth) {
		return "check the user and password in the proxy URL (--proxy, GFTP_PROXY, git config git-ftp.proxy)"
	}
	return "check the proxy URL (--proxy, GFTP_PROXY, git config git-ftp.proxy or http.proxy) and that the proxy may connect to the server; --proxy '' connects directly"
}

// Parse checks a proxy URL as curl reads it, and fills in its defaults: the
// scheme http and the port 1080.
func Parse(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid proxy URL %q", Redact(raw))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "http", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("unsupported proxy scheme %q in %s: use socks5://, socks5h:// or http://", u.Scheme, Redact(raw))
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("invalid proxy URL %s: want [scheme://][user:password@]host[:port]", Redact(raw))
	}
	u.Path = ""
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "1080")
	}
	return u, nil
}

// Redact returns the proxy URL with its password replaced by ****.
func Redact(raw string) string {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		// Unparsable: keep only what follows the last @, if any.
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < i {
				return raw[:j+3] + "****@" + raw[i+1:]
			}
			return "****@" + raw[i+1:]
		}
		return raw
	}
	out := u.String()
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
			out = strings.Replace(u.String(), ":redacted@", ":****@", 1)
		}
	}
	if !strings.Contains(raw, "://") {
		return strings.TrimPrefix(out, "http://")
	}
	return out
}

// Dialer returns a dialer that connects through the proxy at proxyURL, or
// direct itself when proxyURL is empty. direct reaches the proxy; its
// Timeout bounds the whole dial, the proxy's handshake included.
func Dialer(proxyURL string, direct *net.Dialer) (ContextDialer, error) {
	if direct == nil {
		direct = &net.Dialer{}
	}
	if proxyURL == "" {
		return direct, nil
	}
	u, err := Parse(proxyURL)
	if err != nil {
		return nil, err
	}
	d := &dialer{url: u, name: Redact(u.String()), direct: direct, timeout: direct.Timeout}
	if u.Scheme == "socks5" || u.Scheme == "socks5h" {
		// x/net/proxy's SOCKS5 client (RFC 1928, RFC 1929 user and
		// password) sends a name to the proxy as it is given, for either
		// scheme; socks5:// resolves it first (dial below).
		// Its DialWithConn runs the handshake on a connection we opened,
		// so that the caller gets the *net.TCPConn itself (CloseWrite).
		x, err := xproxy.FromURL(u, direct)
		if err != nil {
			return nil, err
		}
		sd, ok := x.(socksDialer)
		if !ok {
			return nil, errors.New("proxy: x/net/proxy's SOCKS5 dialer has no DialWithConn")
		}
		d.socks = sd
	}
	return d, nil
}

// socksDialer is what x/net/proxy's SOCKS5 dialer (*socks.Dialer) offers.
type socksDialer interface {
	DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
}

type dialer struct {
	url     *url.URL
	name    string // redacted
	direct  *net.Dialer
	socks   socksDialer
	timeout time.Duration
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	c, err := d.dial(ctx, network, addr)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, err
		}
		var pe *Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, &Error{Proxy: d.name, Addr: addr, Err: err}
	}
	return c, nil
}

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.socks == nil {
		return d.connect(ctx, network, addr)
	}
	if d.url.Scheme == "socks5" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if net.ParseIP(host) == nil {
			ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			if len(ips) == 0 {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			addr = net.JoinHostPort(ips[0].Unmap().String(), port)
		}
	}
	c, err := d.direct.DialContext(ctx, network, d.url.Host)
	if err != nil {
		return nil, unreachable(err)
	}
	if _, err := d.socks.DialWithConn(ctx, c, network, addr); err != nil {
		c.Close()
		return nil, socksErr(err)
	}
	return c, nil
}

// unreachable says that the proxy itself could not be reached.
func unreachable(err error) error {
	return fmt.Errorf("cannot reach the proxy: %w", err)
}

// socksErr marks the SOCKS client's refusals of credentials with ErrAuth.
// x/net/proxy returns them as plain errors inside a *net.OpError.
func socksErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		msg := oe.Err.Error()
		if strings.Contains(msg, "authentication failed") || strings.Contains(msg, "no acceptable authentication methods") ||
			strings.Contains(msg, "invalid username/password") {
			return fmt.Errorf("%w (%s)", ErrAuth, msg)
		}
		var ne net.Error
		if errors.As(oe.Err, &ne) || errors.Is(oe.Err, io.EOF) || errors.Is(oe.Err, io.ErrUnexpectedEOF) || errors.Is(oe.Err, syscall.ECONNRESET) {
			return fmt.Errorf("SOCKS5 handshake: %w", oe.Err)
		}
		// The proxy's own reply, e.g. "unknown error host unreachable".
		return fmt.Errorf("refused: %s", strings.TrimPrefix(msg, "unknown error "))
	}
	return err
}
