package ftpconn

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
