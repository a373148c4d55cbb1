package ftpconn

import "crypto/tls"

// AttachSecondReader tries what a second parser of the control connection
// would do first: attach a reader to its socket.
func AttachSecondReader(c *Conn) { c.sock.attach() }

// StrayRead sends cmd and reads its reply straight from the socket, past
// the connection's reader: what a second parser would do.
func StrayRead(c *Conn, cmd string) {
	_, _ = c.sock.conn.Write([]byte(cmd + "\r\n"))
	buf := make([]byte, 512)
	_, _ = c.sock.Read(buf)
}

// PassiveAddr exposes passiveAddr.
func PassiveAddr(c *Conn, cmd string, r Reply) (string, error) { return c.passiveAddr(cmd, r) }

// RememberGroup makes the next control connections to addr offer g first,
// as if a TLS 1.3 server there had chosen it.
func RememberGroup(addr string, g tls.CurveID) { groups.Store(addr, g) }

// ForgetGroup drops what was learnt of addr's group: a test that starts a
// server on a port an earlier one had (go test -count=N) starts afresh.
func ForgetGroup(addr string) { groups.Delete(addr) }

// FinalLine exposes finalLine.
func FinalLine(line []byte) bool { return finalLine(line) }
