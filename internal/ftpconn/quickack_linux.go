package ftpconn

import (
	"net"
	"syscall"
)

// quickAck makes the kernel acknowledge what arrives on c at once, for the
// next while. Servers (vsftpd) write their replies without TCP_NODELAY, so
// Nagle's algorithm holds a reply (226) back until the client has
// acknowledged the one before it (150); with Linux's delayed ACK that is
// 40 ms, a whole round trip added to every upload across a WAN (seen in a
// packet trace of the benchmark's relay). The kernel leaves quick-ACK mode
// on its own, so it is set again after every read that leaves replies
// owed (sock.Read).
func quickAck(c net.Conn) {
	if fc, ok := c.(*fastConn); ok {
		fc.quickAck()
		return
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
