package servers

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ftpClient is the least FTP client that checks a server the way gftp's
// transport will talk to it: crypto/tls with a session cache of its own and
// ServerName set, so that data connections resume the control session.
type ftpClient struct {
	t    testing.TB
	kind Kind
	c    net.Conn
	r    *bufio.Reader
	tls  *tls.Config // nil without TLS
	// Control is the TLS state of the control connection.
	Control tls.ConnectionState
	// Data is the TLS state of the last data connection.
	Data tls.ConnectionState
}

// clientTLS is the client side of a server's TLS: its CA, its host, and a
// session cache for this one control connection.
func clientTLS(s *Server, ca *CA) *tls.Config {
	host, _, _ := net.SplitHostPort(s.Addr)
	return &tls.Config{
		RootCAs:            ca.Pool(),
		ServerName:         host,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
}

// dialFTP connects and, for TLS kinds, secures the control connection.
// It does not log in. A TLS handshake error is returned as is.
func dialFTP(t testing.TB, s *Server, kind Kind, cfg *tls.Config) (*ftpClient, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	f := &ftpClient{t: t, kind: kind, c: c, tls: cfg}
	t.Cleanup(func() { f.c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if kind.Scheme() == "ftps" {
		if err := f.secure(); err != nil {
			return nil, err
		}
	}
	f.r = bufio.NewReader(f.c)
	if code, msg := f.reply(); code != 220 {
		return nil, fmt.Errorf("banner: %d %s", code, msg)
	}
	if kind.Scheme() == "ftpes" {
		f.expect(234, "AUTH TLS")
		if err := f.secure(); err != nil {
			return nil, err
		}
		f.r = bufio.NewReader(f.c)
	}
	return f, nil
}

func (f *ftpClient) secure() error {
	tc := tls.Client(f.c, f.tls)
	if err := tc.Handshake(); err != nil {
		return err
	}
	f.c = tc
	f.Control = tc.ConnectionState()
	return nil
}

// login logs in, and asks for protected data connections under TLS.
func (f *ftpClient) login(s *Server) {
	f.t.Helper()
	if f.tls != nil {
		f.expect(200, "PBSZ 0")
		f.expect(200, "PROT P")
	}
	f.expect(331, "USER "+s.User)
	f.expect(230, "PASS "+s.Password)
	f.expect(200, "TYPE I")
}

// reply reads one reply, multi-line replies whole (RFC 959 section 4.2).
func (f *ftpClient) reply() (int, string) {
	f.t.Helper()
	var msg strings.Builder
	line, err := f.r.ReadString('\n')
	if err != nil {
		f.t.Fatalf("%s: read reply: %v (so far %q)", f.kind, err, line)
	}
	msg.WriteString(line)
	if len(line) < 4 {
		f.t.Fatalf("%s: short reply %q", f.kind, line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		f.t.Fatalf("%s: bad reply %q", f.kind, line)
	}
	if line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := f.r.ReadString('\n')
			if err != nil {
				f.t.Fatalf("%s: read reply: %v", f.kind, err)
			}
			msg.WriteString(l)
			if strings.HasPrefix(l, end) {
				break
			}
		}
	}
	return code, strings.TrimSpace(msg.String())
}

// cmd sends a command and returns the reply.
func (f *ftpClient) cmd(line string) (int, string) {
	f.t.Helper()
	if _, err := io.WriteString(f.c, line+"\r\n"); err != nil {
		f.t.Fatalf("%s: send %q: %v", f.kind, redact(line), err)
	}
	return f.reply()
}

// expect sends a command and fails the test unless the reply has code want.
func (f *ftpClient) expect(want int, line string) string {
	f.t.Helper()
	code, msg := f.cmd(line)
	if code != want {
		f.t.Fatalf("%s: %s: got %q, want %d", f.kind, redact(line), msg, want)
	}
	return msg
}

func redact(line string) string {
	if strings.HasPrefix(line, "PASS ") {
		return "PASS ****"
	}
	return line
}

// dataConn is how a data connection is made: passive or active.
type dataConn func(f *ftpClient) (open func() net.Conn)

// passiveData asks for EPSV (RFC 2428) and dials the port it names.
func passiveData(f *ftpClient) func() net.Conn {
	f.t.Helper()
	msg := f.expect(229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i {
		f.t.Fatalf("%s: EPSV reply %q", f.kind, msg)
	}
	port := msg[i+4 : j]
	host, _, _ := net.SplitHostPort(f.c.RemoteAddr().String())
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		f.t.Fatalf("%s: dial passive port %s: %v", f.kind, port, err)
	}
	return func() net.Conn { return c }
}

// activeData listens on loopback, sends EPRT (RFC 2428) and accepts the
// server's connection once the transfer command was sent.
func activeData(f *ftpClient) func() net.Conn {
	f.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	f.expect(200, fmt.Sprintf("EPRT |1|127.0.0.1|%d|", port))
	return func() net.Conn {
		defer l.Close()
		_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		c, err := l.Accept()
		if err != nil {
			f.t.Fatalf("%s: accept active data connection: %v", f.kind, err)
		}
		return c
	}
}

// transfer runs one data command (STOR or RETR) and feeds the data
// connection to do. The client is the TLS client on data connections in
// either mode (RFC 4217 section 7), and it resumes the control session.
func (f *ftpClient) transfer(mode dataConn, command string, do func(net.Conn) error) {
	f.t.Helper()
	open := mode(f)
	code, msg := f.cmd(command)
	if code != 150 && code != 125 {
		f.t.Fatalf("%s: %s: got %q, want 150", f.kind, command, msg)
	}
	c := open()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var tc *tls.Conn
	if f.tls != nil {
		tc = tls.Client(c, f.tls)
		if err := tc.Handshake(); err != nil {
			f.t.Fatalf("%s: %s: data TLS handshake: %v", f.kind, command, err)
		}
		f.Data = tc.ConnectionState()
		c = tc
	}
	err := do(c)
	if tc != nil {
		// close_notify, then half-close and drain: without reading what
		// the server sent (TLS 1.3 session tickets), closing would be a
		// TCP RST that loses the tail of an upload (STYLE.md, vsftpd).
		_ = tc.CloseWrite()
		_ = tc.NetConn().(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, tc.NetConn())
	}
	c.Close()
	if err != nil {
		f.t.Fatalf("%s: %s: data: %v", f.kind, command, err)
	}
	if code, msg := f.reply(); code != 226 && code != 250 {
		f.t.Fatalf("%s: %s: got %q, want 226", f.kind, command, msg)
	}
}

func (f *ftpClient) put(mode dataConn, name string, data []byte) {
	f.t.Helper()
	f.transfer(mode, "STOR "+name, func(c net.Conn) error {
		_, err := c.Write(data)
		return err
	})
}

func (f *ftpClient) get(mode dataConn, name string) []byte {
	f.t.Helper()
	var got []byte
	f.transfer(mode, "RETR "+name, func(c net.Conn) error {
		var err error
		got, err = io.ReadAll(c)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// A server that closes without close_notify: the bytes count.
			err = nil
		}
		return err
	})
	return got
}
