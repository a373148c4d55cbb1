package ftpconn_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
	"github.com/gftp/gftp/remote/ftp/ftptest"
)

// FuzzPassiveAddress feeds the server's EPSV and PASV replies, which come
// from the network, to the parser that turns them into a data address. It
// must never panic, and an address it returns must be the control
// connection's peer (a PASV reply's address is not trusted by default) with
// a port in range.
func FuzzPassiveAddress(f *testing.F) {
	for _, seed := range []struct {
		epsv bool
		code int
		msg  string
	}{
		{true, 229, "Entering Extended Passive Mode (|||6446|)"},
		{true, 229, "Entering Extended Passive Mode (!!!6446!)"},
		{true, 229, "(|||0|)"},
		{true, 229, "(|||65536|)"},
		{true, 229, "(||"},
		{false, 227, "Entering Passive Mode (10,1,2,3,25,32)"},
		{false, 227, "Entering Passive Mode 10,1,2,3,25,32"},
		{false, 227, "=127,0,0,1,4,1"},
		{false, 227, "(1,2,3,4,5)"},
		{false, 227, ")1,2,3,4,5,6("},
		{false, 227, "(256,0,0,1,4,1)"},
		{false, 227, "(127,0,0,1,0,0)"},
		{false, 500, "no"},
	} {
		f.Add(seed.epsv, seed.code, seed.msg)
	}
	srv := startLocal(f, ftptest.NoTLS)
	c := dial(f, ftpconn.Config{Addr: srv.Addr(), Timeout: 10 * time.Second})
	f.Fuzz(func(t *testing.T, epsv bool, code int, msg string) {
		cmd := "PASV"
		if epsv {
			cmd = "EPSV"
		}
		addr, err := ftpconn.PassiveAddr(c, cmd, ftpconn.Reply{Code: code, Msg: msg})
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s %d %q gave %q, not host:port: %v", cmd, code, msg, addr, err)
		}
		if host != "127.0.0.1" {
			t.Errorf("%s %d %q sends the data connection to %q, not the control connection's peer", cmd, code, msg, host)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Errorf("%s %d %q gave port %q", cmd, code, msg, port)
		}
	})
}
