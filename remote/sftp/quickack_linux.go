package sftp

import (
	"net"
	"syscall"
)

// quickAcker returns a function that asks Linux to acknowledge what
// arrives on c at once. OpenSSH's sshd leaves Nagle's algorithm on for a
// session without a terminal, so a small reply that follows another one
// still unacknowledged waits for our ACK, and Linux delays that ACK by 40
// ms or more once it sees a conversation (its "pingpong" mode). At the
// start of a push, the channel open's confirmation waited that way behind
// the host keys sshd announces after login: 80 ms at 50 ms RTT. The flag
// does not stick, so it is set again after every read.
func quickAcker(c net.Conn) func() {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	return func() {
		_ = raw.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}
