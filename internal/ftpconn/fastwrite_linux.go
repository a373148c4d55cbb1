package ftpconn

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// fastConn is a TCP connection whose reads and writes do not tell the Go
// scheduler that they may block. A write to a non-blocking socket never
// blocks, but on loopback it runs the receiver's TCP processing too and
// often takes more than sysmon's 20 µs tick. Through net.Conn's Write the
// runtime then counts the goroutine as in a system call, and with
// GOMAXPROCS=1 (FTP transfers: remote.ProcsLimiter) sysmon takes its P away
// and wakes another thread to run nothing, and polls every 20 µs from then
// on: about 8 sysmon wake-ups per file, and the futex calls and
// inter-processor interrupts of the hand-offs, in a trace of a 2,000-file init.
// Written with RawSyscall, the write is ordinary Go code to the scheduler;
// EAGAIN still waits in the network poller, with the connection's deadlines.
type fastConn struct {
	*net.TCPConn
	rc syscall.RawConn

	// A passive data connection's: the cache its socket goes back to
	// (reuse_linux.go), where it is now connected to, when that is not
	// where net dialled it, and whether it was closed or handed back.
	cache *sockCache
	raddr net.Addr
	state atomic.Int32
}

// gone is the error of a use after Close or recycle.
func (c *fastConn) gone(op string) error {
	if c.state.Load() == connLive {
		return nil
	}
	return c.opError(op, net.ErrClosed)
}

// opError is err from op on this connection, as net reports one.
func (c *fastConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Close closes the socket, unless it went back to its cache.
func (c *fastConn) Close() error {
	for {
		switch s := c.state.Load(); {
		case s == connRecycled:
			return nil
		case s == connClosed || c.state.CompareAndSwap(connLive, connClosed):
			return c.TCPConn.Close()
		}
	}
}

// RemoteAddr is where the connection goes.
func (c *fastConn) RemoteAddr() net.Addr {
	if c.raddr != nil {
		return c.raddr
	}
	return c.TCPConn.RemoteAddr()
}

// LocalAddr is the connection's own address; net's is from its first
// connect.
func (c *fastConn) LocalAddr() net.Addr {
	if c.raddr == nil {
		return c.TCPConn.LocalAddr()
	}
	var sa syscall.Sockaddr
	_ = c.rc.Control(func(fd uintptr) { sa, _ = syscall.Getsockname(int(fd)) })
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	}
	return nil
}

// fastWrites returns c with fast writes when it is a TCP connection.
func fastWrites(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &fastConn{TCPConn: tc, rc: rc}
}

func (c *fastConn) Write(p []byte) (int, error) { return c.send(p, 0) }

// Read reads the way Write writes, for the same reason and one more: a
// system call entered through the scheduler (syscall.Read) wakes sysmon
// when it sleeps because the process was idle, and sysmon then polls every
// 20 µs for the next millisecond. An FTP client is idle between replies
// many times per file, and each reply's read woke it: in a 2,000-file
// FTPES init, 7,000 sysmon sleeps and 3,000 futex calls, 13% of the
// process's CPU (perf stat, with sysmon kept awake as the control). A
// socket read never blocks; EAGAIN waits in the network poller, with the
// connection's deadlines.
func (c *fastConn) Read(p []byte) (int, error) {
	if err := c.gone("read"); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			m, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case 0:
				n = int(m)
				if n == 0 {
					rerr = io.EOF
				}
				return true
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until readable
			default:
				rerr = os.NewSyscallError("read", e)
				return true
			}
		}
	})
	if err == nil {
		err = rerr
	}
	if err != nil && err != io.EOF {
		return n, c.opError("read", err)
	}
	return n, err
}

// writeLast writes p as what precedes a half-close: the kernel holds it
// (MSG_MORE) so that CloseWrite's FIN goes in the same segment, one
// segment less for the server to take and acknowledge per file.
func (c *fastConn) writeLast(p []byte) (int, error) { return c.send(p, syscall.MSG_MORE) }

func (c *fastConn) send(p []byte, flags int) (int, error) {
	if err := c.gone("write"); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n), uintptr(flags), 0, 0)
			switch e {
			case 0:
				n += int(m)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until writable
			default:
				werr = os.NewSyscallError("write", e)
				return true
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// quickAck is quickAck for this connection, without a RawConn per call
// and, like Read, without waking sysmon.
func (c *fastConn) quickAck() {
	if c.state.Load() != connLive {
		return
	}
	_ = c.rc.Control(func(fd uintptr) {
		one := int32(1)
		_, _, _ = syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, uintptr(unsafe.Pointer(&one)), 4, 0)
	})
}

// CloseWrite half-closes the connection the way Write writes: the FIN runs
// through the receiver's processing on loopback too.
func (c *fastConn) CloseWrite() error {
	if err := c.gone("close"); err != nil {
		return err
	}
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		if _, _, e := syscall.RawSyscall(syscall.SYS_SHUTDOWN, fd, syscall.SHUT_WR, 0); e != 0 {
			serr = os.NewSyscallError("shutdown", e)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return c.opError("close", err)
	}
	return nil
}
