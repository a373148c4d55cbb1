//go:build !linux

package ftpconn

import (
	"context"
	"net"
)

// sockCache is Linux's (reuse_linux.go): elsewhere every passive data
// connection has a socket of its own.
type sockCache struct{}

func newSockCache(*Conn) *sockCache { return nil }

func (s *sockCache) close() {}

// dialPassive connects to a passive port with the data dialer.
func (c *Conn) dialPassive(addr string) (net.Conn, error) {
	nc, err := c.dataDialer.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return fastWrites(nc), nil
}

// recycle closes nothing and keeps nothing: Data.Release closes.
func recycle(net.Conn) {}
