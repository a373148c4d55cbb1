package ftpconn

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestDataDialerNoKeepAlive: a data connection is dialled without TCP
// keep-alive (SO_KEEPALIVE off on its socket), and the control connection's
// dialer is left as it was.
func TestDataDialerNoKeepAlive(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctl := &net.Dialer{Timeout: time.Second}
	c, err := dataDialer(ctl).DialContext(t.Context(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	_ = rc.Control(func(fd uintptr) { on, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
	if err != nil || on != 0 {
		t.Errorf("SO_KEEPALIVE = %d (%v), want 0", on, err)
	}
	if ctl.KeepAlive != 0 {
		t.Errorf("the control dialer changed: KeepAlive %v", ctl.KeepAlive)
	}
}
