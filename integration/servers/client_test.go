package servers

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// refClient is the tests' reference FTP client: github.com/jlaffaye/ftp, a
// client gftp did not write, so that these tests check the servers (and
// gftp's tests check gftp) with somebody else's reading of the protocol. The
// library owns its control connection alone; this file only dials sockets
// for it and secures the data connections, which it leaves to the dial
// function (STYLE.md). It has no active mode; lftpActive covers that.
type refClient struct {
	*ftp.ServerConn
	t    testing.TB
	kind Kind
	tls  *tls.Config // nil without TLS; shared by control and data for resumption

	mu sync.Mutex
	// control is the TLS state of the control connection.
	control tls.ConnectionState
	// data is the TLS state of the last data connection.
	data tls.ConnectionState
	ctl  *tls.Config // cfg's copy for the control connection

	dialed bool // the control connection is dialled: the next dial is data
	// secure, when set, secures the next data connections instead of
	// careful: tests of server quirks use it to misbehave on purpose.
	secure func(raw net.Conn) net.Conn
}

// clientTLS is the client side of a server's TLS: its CA, its host, and a
// session cache for this one control connection. jlaffaye/ftp's data
// connections resume the control session only when both ClientSessionCache
// and ServerName are set (STYLE.md), and vsftpd and proftpd require that.
func clientTLS(s *Server, ca *CA) *tls.Config {
	host, _, _ := net.SplitHostPort(s.Addr)
	return &tls.Config{
		RootCAs:            ca.Pool(),
		ServerName:         host,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
}

// dialFTP connects with jlaffaye/ftp and logs in; for TLS kinds, with cfg
// on the control and the data connections. A TLS handshake error is
// returned as crypto/tls returns it.
func dialFTP(t testing.TB, s *Server, kind Kind, cfg *tls.Config) (*refClient, error) {
	t.Helper()
	f := &refClient{t: t, kind: kind, tls: cfg}
	opts := []ftp.DialOption{ftp.DialWithDialFunc(f.dial)}
	if cfg != nil {
		// The control connection's copy records its state; it shares the
		// session cache, so data connections still resume its session.
		f.ctl = cfg.Clone()
		f.ctl.VerifyConnection = func(cs tls.ConnectionState) error {
			f.mu.Lock()
			f.control = cs
			f.mu.Unlock()
			return nil
		}
		if kind.Scheme() == "ftps" {
			// With a dial function the library does no TLS itself (dial
			// does), but this makes Login ask for PBSZ 0 and PROT P.
			opts = append(opts, ftp.DialWithTLS(f.ctl))
		} else {
			opts = append(opts, ftp.DialWithExplicitTLS(f.ctl))
		}
	}
	sc, err := ftp.Dial(s.Addr, opts...)
	if err != nil {
		return nil, err
	}
	f.ServerConn = sc
	t.Cleanup(func() { _ = sc.Quit() })
	// Under explicit TLS the handshake waits for the first command, USER.
	if err := sc.Login(s.User, s.Password); err != nil {
		return nil, err
	}
	return f, nil
}

// dial is the library's dial function. Its first call is the control
// connection, every later one a passive data connection (EPSV, or PASV).
func (f *refClient) dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c = idle{c}
	f.mu.Lock()
	first := !f.dialed
	f.dialed = true
	secure := f.secure
	f.mu.Unlock()
	switch {
	case first && f.kind.Scheme() == "ftps":
		tc := tls.Client(c, f.ctl)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	case first, f.tls == nil:
		return c, nil
	case secure != nil:
		return secure(c), nil
	}
	// The client is the TLS client on data connections (RFC 4217 section
	// 7). The handshake waits for the first Read or Write: servers start
	// theirs only once the transfer command has arrived.
	return &carefulConn{Conn: tls.Client(c, f.tls), f: f}, nil
}

// Control is the TLS state of the control connection.
func (f *refClient) Control() tls.ConnectionState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.control
}

// Data is the TLS state of the last data connection.
func (f *refClient) Data() tls.ConnectionState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data
}

// carefulConn is a TLS data connection that closes the way vsftpd over TLS
// 1.3 needs: close_notify, then a TCP half-close, then a drain to EOF.
// Closing without reading what the server sent (its TLS 1.3 session
// tickets) would be a TCP RST that loses the tail of an upload of 1 MiB or
// more (STYLE.md; TestVsftpdTLS13CarelessClose shows the careless close).
type carefulConn struct {
	*tls.Conn
	f *refClient
}

func (c *carefulConn) Close() error {
	c.f.mu.Lock()
	c.f.data = c.ConnectionState()
	c.f.mu.Unlock()
	_ = c.CloseWrite()
	if hc, ok := c.NetConn().(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, c.NetConn())
	return c.Conn.Close()
}

// idle is a TCP connection on which every Read and Write must make progress
// within 30 seconds, so that a stuck server fails the test instead of
// hanging it. (jlaffaye/ftp's own deadlines are per dial or per shutdown.)
type idle struct{ net.Conn }

func (c idle) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return c.Conn.Read(p)
}

func (c idle) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.Conn.Write(p)
}

func (c idle) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// put uploads data to name, failing the test on an error.
func (f *refClient) put(name string, data []byte) {
	f.t.Helper()
	if err := f.Stor(name, bytes.NewReader(data)); err != nil {
		f.t.Fatalf("%s: STOR %s: %v", f.kind, name, err)
	}
}

// get downloads name, failing the test on an error.
func (f *refClient) get(name string) []byte {
	f.t.Helper()
	r, err := f.Retr(name)
	if err != nil {
		f.t.Fatalf("%s: RETR %s: %v", f.kind, name, err)
	}
	got, err := io.ReadAll(r)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// A server that closes without close_notify: the bytes count.
		err = nil
	}
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.t.Fatalf("%s: RETR %s: %v", f.kind, name, err)
	}
	return got
}

// replyCode is the FTP reply code in err, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// lftp runs lftp, a second client nobody here wrote, with script against
// s: jlaffaye/ftp has no active mode, and lftp has (over TLS too, which
// Debian 12's curl lacks). It returns lftp's debug output, the dialogue
// included, and its error.
func lftp(t testing.TB, s *Server, kind Kind, dir, script string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("lftp"); err != nil {
		Unavailable(t, "lftp not found", "apt-get install lftp")
	}
	settings := []string{
		"set cmd:fail-exit yes",
		"set net:max-retries 1",
		"set net:timeout 30",
		"set ftp:ssl-allow " + yes(kind.TLS()),
		"set ftp:ssl-force " + yes(kind.TLS()),
		"set ftp:ssl-protect-data " + yes(kind.TLS()),
		"set ftp:ssl-protect-list " + yes(kind.TLS()),
	}
	if s.CACert != "" {
		settings = append(settings, "set ssl:ca-file "+s.CACert)
	}
	if strings.HasPrefix(string(kind), "vsftpd") && kind.TLS() {
		// lftp closes a TLS 1.3 data connection without reading the
		// session tickets vsftpd sent on it, so vsftpd answers 426 to its
		// uploads (STYLE.md; TestVsftpdTLS13CarelessClose). For this
		// second reference client TLS 1.2 is enough: jlaffaye/ftp's
		// careful close covers TLS 1.3 (TestFTP, passive).
		settings = append(settings, `set ssl:priority "NORMAL:-VERS-TLS1.3"`)
	}
	scheme := "ftp"
	if kind.Scheme() == "ftps" {
		scheme = "ftps"
	}
	home := t.TempDir() // no ~/.lftprc
	full := strings.Join(settings, "; ") + "; open -u " + s.User + "," + s.Password + " " +
		scheme + "://" + s.Addr + "; " + script
	cmd := exec.Command("lftp", "-d", "-c", full)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
