// Package proxytest runs a SOCKS5 (RFC 1928, with RFC 1929 user and
// password) or HTTP CONNECT proxy on loopback for tests, and records every
// connection it makes for its clients.
//
// It resolves names only from its own table (Hosts), so a test can give
// gftp a server name that nothing but the proxy knows: any connection that
// bypasses the proxy then fails to resolve. It dials loopback addresses
// only.
package proxytest

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Kind is the proxy protocol.
type Kind string

const (
	SOCKS5 Kind = "socks5"
	HTTP   Kind = "http"
)

// Server is a running proxy.
type Server struct {
	Kind     Kind
	Addr     string // host:port it listens on
	User     string // "" for no authentication
	Password string
	// Hosts maps the names it resolves to IP addresses. Set before use.
	Hosts map[string]string

	l         net.Listener
	mu        sync.Mutex
	targets   []string // what clients asked for, in order
	refused   int      // handshakes refused for credentials
	wg        sync.WaitGroup
	closeOnce sync.Once
	conns     map[net.Conn]struct{}
}

// Start listens on 127.0.0.1 and serves until the test ends.
func Start(t testing.TB, kind Kind, user, password string) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Kind: kind, Addr: l.Addr().String(), User: user, Password: password,
		Hosts: map[string]string{}, l: l, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// URL returns the proxy's URL with the given scheme (socks5, socks5h or
// http) and the server's credentials.
func (s *Server) URL(scheme string) string {
	u := url.URL{Scheme: scheme, Host: s.Addr}
	if s.User != "" {
		u.User = url.UserPassword(s.User, s.Password)
	}
	return u.String()
}

// Targets returns the host:port of every connection a client asked for
// and got, as the client named it.
func (s *Server) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// Refused returns how many clients were refused for their credentials.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Close stops the proxy and cuts every connection through it.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.l.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.conns = nil
		s.mu.Unlock()
		s.wg.Wait()
	})
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			var up net.Conn
			var err error
			if s.Kind == SOCKS5 {
				up, err = s.socks(c, br)
			} else {
				up, err = s.connect(c, br)
			}
			if err != nil || up == nil {
				return
			}
			c.SetDeadline(time.Time{})
			if !s.track(up) {
				up.Close()
				return
			}
			defer s.untrack(up)
			s.relay(c, br, up)
		}()
	}
}

func (s *Server) relay(c net.Conn, br *bufio.Reader, up net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(up, br)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, up)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
}

// dial connects to host:port after resolving host in the table. Only
// loopback addresses are dialled.
func (s *Server) dial(host, port string) (net.Conn, error) {
	ip := net.ParseIP(host)
	if ip == nil {
		s.mu.Lock()
		a := s.Hosts[host]
		s.mu.Unlock()
		if ip = net.ParseIP(a); ip == nil {
			return nil, fmt.Errorf("proxytest: unknown host %q", host)
		}
	}
	if !ip.IsLoopback() {
		return nil, fmt.Errorf("proxytest: %s is not a loopback address", ip)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), 5*time.Second)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.targets = append(s.targets, net.JoinHostPort(host, port))
	s.mu.Unlock()
	return c, nil
}

func (s *Server) authFailed() {
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
}

// socks serves one SOCKS5 handshake and CONNECT request (RFC 1928).
func (s *Server) socks(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 5 {
		return nil, errors.New("not SOCKS5")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return nil, err
	}
	want := byte(0x00)
	if s.User != "" {
		want = 0x02
	}
	offered := false
	for _, m := range methods {
		offered = offered || m == want
	}
	if !offered {
		s.authFailed()
		c.Write([]byte{5, 0xff})
		return nil, errors.New("no acceptable method")
	}
	c.Write([]byte{5, want})
	if want == 0x02 {
		// RFC 1929: VER ULEN UNAME PLEN PASSWD
		b := make([]byte, 2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		user := make([]byte, b[1])
		io.ReadFull(br, user)
		pl, _ := br.ReadByte()
		pass := make([]byte, pl)
		if _, err := io.ReadFull(br, pass); err != nil {
			return nil, err
		}
		if string(user) != s.User || string(pass) != s.Password {
			s.authFailed()
			c.Write([]byte{1, 1})
			return nil, errors.New("bad credentials")
		}
		c.Write([]byte{1, 0})
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(br, req); err != nil {
		return nil, err
	}
	var host string
	switch req[3] {
	case 1:
		b := make([]byte, 4)
		io.ReadFull(br, b)
		host = net.IP(b).String()
	case 4:
		b := make([]byte, 16)
		io.ReadFull(br, b)
		host = net.IP(b).String()
	case 3:
		n, _ := br.ReadByte()
		b := make([]byte, n)
		io.ReadFull(br, b)
		host = string(b)
	default:
		return nil, errors.New("bad address type")
	}
	pb := make([]byte, 2)
	if _, err := io.ReadFull(br, pb); err != nil {
		return nil, err
	}
	reply := func(code byte) { c.Write([]byte{5, code, 0, 1, 127, 0, 0, 1, 0, 0}) }
	if req[1] != 1 {
		reply(7) // command not supported
		return nil, errors.New("not CONNECT")
	}
	up, err := s.dial(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb))))
	if err != nil {
		reply(4) // host unreachable
		return nil, err
	}
	reply(0)
	return up, nil
}

// connect serves one HTTP CONNECT request (RFC 9110, 9.3.6).
func (s *Server) connect(c net.Conn, br *bufio.Reader) (net.Conn, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return nil, errors.New("not CONNECT")
	}
	if s.User != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.User+":"+s.Password))
		if req.Header.Get("Proxy-Authorization") != want {
			s.authFailed()
			io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"proxytest\"\r\nContent-Length: 0\r\n\r\n")
			return nil, errors.New("bad credentials")
		}
	}
	host, port, err := net.SplitHostPort(req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		return nil, err
	}
	up, err := s.dial(host, port)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return nil, err
	}
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	return up, nil
}
