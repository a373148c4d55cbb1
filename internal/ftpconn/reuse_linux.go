package ftpconn

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// A passive data connection's socket is used again for the next one of the
// same control connection: once an upload's reply is in, Data.Release
// dissolves the TCP connection (connect(2) to an AF_UNSPEC address, which
// Linux's TCP takes as a disconnect) and keeps the socket, and the next
// Passive connects it to the new port.
//
// A new socket per file cost, besides socket(2), the network poller's
// registration and removal, close(2), and the getsockname, getpeername and
// TCP_NODELAY calls of net's dial: 7 of about 40 system calls per file in
// a 2,000-file FTPES init. And net's connect and close are entered through
// the scheduler, which wakes sysmon from its idle sleep and sets it polling
// every 20 µs for the next millisecond; an FTP client is idle between
// replies many times per file. With sysmon kept from that sleep, the init
// took 13% less CPU (perf stat: sysmon's sleeps 7,000 → 700, futex 3,000 →
// 200, context switches 21,000 → 12,000). Here the connect, like every read
// and write of a fastConn, is a RawSyscall and waits in the poller.
//
// Only sockets net dialled directly are kept (not through a proxy), at most
// maxSpare per control connection (one for the connection opened ahead),
// and a connect that fails on a kept socket closes it and dials anew.

// maxSpare is the most sockets a control connection keeps.
const maxSpare = 2

// Socket states of a fastConn: in use, closed, or handed back to its cache
// (Data.Release), after which this fastConn must not touch it.
const (
	connLive int32 = iota
	connClosed
	connRecycled
)

// sockCache holds a control connection's idle data sockets, disconnected
// and still registered with the poller.
type sockCache struct {
	mu      sync.Mutex
	free    []*net.TCPConn
	done    bool
	timeout time.Duration
}

// newSockCache returns the cache for c's passive data connections, or nil
// when they go through a proxy or a dialer other than net's.
func newSockCache(c *Conn) *sockCache {
	d, ok := c.dataDialer.(*net.Dialer)
	if !ok || c.cfg.Proxied {
		return nil
	}
	return &sockCache{timeout: d.Timeout}
}

func (s *sockCache) get() *net.TCPConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) == 0 {
		return nil
	}
	tc := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	return tc
}

// put keeps tc for the next data connection, or closes it.
func (s *sockCache) put(tc *net.TCPConn) {
	s.mu.Lock()
	if !s.done && len(s.free) < maxSpare {
		s.free = append(s.free, tc)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	_ = tc.Close()
}

// close closes the idle sockets; sockets in use are closed when released.
func (s *sockCache) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	free := s.free
	s.free, s.done = nil, true
	s.mu.Unlock()
	for _, tc := range free {
		_ = tc.Close()
	}
}

// dialPassive connects to a passive port: on a kept socket when there is
// one, else with the data dialer.
func (c *Conn) dialPassive(addr string) (net.Conn, error) {
	if c.socks != nil {
		if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Zone() == "" {
			if tc := c.socks.get(); tc != nil {
				fc, err := reconnect(tc, ap, c.socks.timeout)
				if err == nil {
					fc.cache = c.socks
					return fc, nil
				}
				_ = tc.Close() // and dial: the port may refuse that too
			}
		}
	}
	nc, err := c.dataDialer.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	nc = fastWrites(nc)
	if fc, ok := nc.(*fastConn); ok {
		fc.cache = c.socks
	}
	return nc, nil
}

// reconnect connects the idle socket tc to ap, waiting in the poller.
func reconnect(tc *net.TCPConn, ap netip.AddrPort, timeout time.Duration) (*fastConn, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var sa4 syscall.RawSockaddrInet4
	var sa6 syscall.RawSockaddrInet6
	var sa unsafe.Pointer
	var salen uintptr
	port := ap.Port()
	if a := ap.Addr().Unmap(); a.Is4() {
		sa4.Family = syscall.AF_INET
		sa4.Addr = a.As4()
		putPort(&sa4.Port, port)
		sa, salen = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	} else {
		sa6.Family = syscall.AF_INET6
		sa6.Addr = a.As16()
		putPort(&sa6.Port, port)
		sa, salen = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	}
	if timeout > 0 {
		_ = tc.SetWriteDeadline(time.Now().Add(timeout))
	}
	var cerr error
	err = rc.Write(func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, fd, uintptr(sa), salen)
		switch e {
		case 0, syscall.EISCONN:
			return true
		case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
			return false // wait until writable, then ask again
		default:
			cerr = os.NewSyscallError("connect", e)
			return true
		}
	})
	_ = tc.SetWriteDeadline(time.Time{})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return &fastConn{TCPConn: tc, rc: rc, raddr: net.TCPAddrFromAddrPort(ap)}, nil
}

// putPort stores port in network byte order, whatever the host's.
func putPort(dst *uint16, port uint16) {
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(dst))[:], port)
}

// recycle hands the socket of a released data connection back to its
// control connection's cache, disconnected. Nothing may use nc since, or
// while recycle runs (Data.Release).
func recycle(nc net.Conn) {
	fc, ok := nc.(*fastConn)
	if !ok || fc.cache == nil || !fc.state.CompareAndSwap(connLive, connRecycled) {
		return
	}
	var unspec syscall.RawSockaddr // Family 0: AF_UNSPEC
	var e syscall.Errno
	err := fc.rc.Control(func(fd uintptr) {
		_, _, e = syscall.RawSyscall(syscall.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
	})
	if err != nil || e != 0 {
		_ = fc.TCPConn.Close()
		return
	}
	// crypto/tls left a write deadline of now after its close_notify.
	_ = fc.TCPConn.SetDeadline(time.Time{})
	fc.cache.put(fc.TCPConn)
}
