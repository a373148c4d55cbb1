//go:build !linux

package ftpconn

import "net"

// quickAck is Linux's TCP_QUICKACK; elsewhere it does nothing.
func quickAck(net.Conn) {}
