//go:build !linux

package sftp

import "net"

// quickAcker does nothing where there is no TCP_QUICKACK.
func quickAcker(net.Conn) func() { return func() {} }
