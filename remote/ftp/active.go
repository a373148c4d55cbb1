package ftp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Active mode (RFC 959 PORT, RFC 2428 EPRT): the client listens and the
// server connects back. jlaffaye/ftp has no active mode, and always asks for
// EPSV or PASV before it calls the dial function; so the control connection
// answers those itself: it opens a listener, sends EPRT (or PORT) to the
// server, and hands the library a made-up passive reply. The library then
// "dials", and gets a data connection that accepts the server's connection
// on first use. Over TLS the client stays the TLS client (RFC 4217 section
// 7), so the data connection's TLS and careful Close are the same as in
// passive mode.

// activeConfig is where the client listens in active mode.
type activeConfig struct {
	addr   string // IP to advertise and, when local, to listen on ("": the control connection's local address)
	lo, hi int    // port range (0, 0: any)
}

func parseActive(addr, ports string) (*activeConfig, error) {
	a := &activeConfig{addr: addr}
	if addr != "" && net.ParseIP(addr) == nil {
		return nil, fmt.Errorf("active address %q is not an IP address", addr)
	}
	if ports != "" {
		lo, hi, ok := strings.Cut(ports, "-")
		if !ok {
			hi = lo
		}
		var err1, err2 error
		a.lo, err1 = strconv.Atoi(strings.TrimSpace(lo))
		a.hi, err2 = strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || a.lo < 1 || a.hi > 65535 || a.lo > a.hi {
			return nil, fmt.Errorf("active ports %q: want LOW-HIGH", ports)
		}
	}
	return a, nil
}

// listen opens a listener for one data connection. local is the control
// connection's local address.
func (a *activeConfig) listen(local net.IP) (net.Listener, net.IP, error) {
	adv := local
	bind := local
	if a.addr != "" {
		adv = net.ParseIP(a.addr)
		// Listen on the advertised IP when it is ours; behind NAT it is
		// not, and the control connection's local address is used.
		if l, err := net.Listen("tcp", net.JoinHostPort(a.addr, "0")); err == nil {
			l.Close()
			bind = adv
		}
	}
	if a.lo == 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(bind.String(), "0"))
		return l, adv, err
	}
	n := a.hi - a.lo + 1
	start := rand.IntN(n)
	var last error
	for i := 0; i < n; i++ {
		port := a.lo + (start+i)%n
		l, err := net.Listen("tcp", net.JoinHostPort(bind.String(), strconv.Itoa(port)))
		if err == nil {
			return l, adv, nil
		}
		last = err
	}
	return nil, nil, fmt.Errorf("no free port in %d-%d: %w", a.lo, a.hi, last)
}

// activeIntercept answers the library's EPSV or PASV in active mode.
func (s *session) activeIntercept(cmd string) (string, error) {
	s.dropPending()
	local, _ := s.ctl.raw.LocalAddr().(*net.TCPAddr)
	if local == nil {
		return "", errors.New("active mode: control connection has no TCP address")
	}
	l, adv, err := s.r.active.listen(local.IP)
	if err != nil {
		return "425 active mode: " + err.Error(), nil
	}
	port := l.Addr().(*net.TCPAddr).Port
	var code int
	var msg string
	// EPRT first, unless the caller disabled the extended commands or the
	// server said it has no EPRT; then PORT, which is IPv4 only.
	if cmd == "EPSV" && !s.noEPRT {
		proto := 1
		if adv.To4() == nil {
			proto = 2
		}
		code, msg, err = s.rawCmd(fmt.Sprintf("EPRT |%d|%s|%d|", proto, adv, port))
		if err != nil {
			l.Close()
			return "", err
		}
		if extendedRefused(code) {
			s.noEPRT = true
		}
	}
	if code/100 != 2 && adv.To4() != nil {
		ip := adv.To4()
		code, msg, err = s.rawCmd(fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], port>>8, port&0xff))
		if err != nil {
			l.Close()
			return "", err
		}
	}
	if code/100 != 2 {
		l.Close()
		if code == 0 {
			code, msg = 425, "active mode needs an IPv4 address for PORT"
		}
		// A 4xx/5xx reply makes the library give up on this transfer.
		return fmt.Sprintf("%d %s", code, msg), nil
	}
	s.mu.Lock()
	s.pending = l
	s.mu.Unlock()
	if cmd == "EPSV" {
		return fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", port), nil
	}
	return fmt.Sprintf("227 Entering Passive Mode (127,0,0,1,%d,%d)", port>>8, port&0xff), nil
}

// rawCmd sends one command past the library and reads its reply. The
// library has no reply waiting to be read at this point, so reading the
// connection directly takes nothing from it.
func (s *session) rawCmd(line string) (int, string, error) {
	if _, err := s.ctl.send([]byte(line + "\r\n")); err != nil {
		return 0, "", err
	}
	code, msg, err := s.replies().ReadResponse(0)
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, te.Msg, nil
	}
	return code, msg, err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// dropPending closes a listener that no data connection took.
func (s *session) dropPending() {
	s.mu.Lock()
	l := s.pending
	s.pending = nil
	s.mu.Unlock()
	if l != nil {
		l.Close()
	}
}

// acceptChannel is an active-mode data channel: it accepts the server's
// connection, from the server's address only, when first used.
type acceptChannel struct {
	l      net.Listener
	server net.IP
	c      net.Conn
}

func (a *acceptChannel) Conn(deadline time.Time) (net.Conn, error) {
	if tl, ok := a.l.(*net.TCPListener); ok && !deadline.IsZero() {
		_ = tl.SetDeadline(deadline)
	}
	for {
		c, err := a.l.Accept()
		if err != nil {
			a.l.Close()
			return nil, fmt.Errorf("active mode: the server did not connect: %w", err)
		}
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok && a.server != nil && !ra.IP.Equal(a.server) {
			c.Close() // someone else: FTP bounce protection
			continue
		}
		a.l.Close()
		a.c = c
		return c, nil
	}
}

func (a *acceptChannel) Close() error {
	err := a.l.Close()
	if a.c != nil {
		err = a.c.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
