package diag

import (
	"fmt"
	"net"
	"strconv"

	"github.com/gftp/gftp/internal/proxy"
)

// Through a proxy (Options.Proxy) the checks change where the path does:
// the proxy resolves the name (except socks5://) and opens every
// connection, passive data ones to the URL's host; active mode cannot work
// (the server cannot connect back through it) and is not tried.

// dial opens a connection to addr, through the proxy when there is one.
func (r *runner) dial(addr string) (net.Conn, error) {
	if r.dialer == nil {
		d := net.Dialer{Timeout: r.o.ConnectTimeout}
		return d.DialContext(r.ctx, "tcp", addr)
	}
	return r.dialer.DialContext(r.ctx, "tcp", addr)
}

// setupProxy makes the proxy's dialer; false when its URL is wrong.
func (r *runner) setupProxy() bool {
	if r.o.Proxy == "" {
		return true
	}
	u, err := proxy.Parse(r.o.Proxy)
	if err == nil {
		r.dialer, err = proxy.Dialer(r.o.Proxy, &net.Dialer{Timeout: r.o.ConnectTimeout})
	}
	if err != nil {
		c := r.begin("options", "Proxy")
		c.set(Fail, "%v", err)
		return false
	}
	r.proxyName = proxy.Redact(u.String())
	r.proxyResolves = u.Scheme != "socks5"
	return true
}

// dataHost is where passive data connections go: the control connection's
// peer, or behind a proxy (whose address that is) the URL's host.
func (r *runner) dataHost() string {
	if r.dialer != nil {
		return r.t.Host
	}
	return r.peer.String()
}

// connectProxy is check 1b through the proxy: one connection to the URL's
// host and port, which the proxy opens.
func (r *runner) connectProxy(c *Check) bool {
	c.Title = fmt.Sprintf("TCP connect to port %d through the proxy", r.t.Port)
	var conn net.Conn
	var err error
	r.timed(c, func() {
		r.log(fmt.Sprintf("*   Trying %s through the proxy %s...", r.t.Address(), r.proxyName))
		conn, err = r.dial(r.t.Address())
	})
	if err != nil {
		if r.ctx.Err() != nil {
			c.set(Fail, "interrupted")
			return false
		}
		c.set(Fail, "cannot connect through the proxy: %v", err)
		if h, ok := err.(interface{ Hint() string }); ok {
			c.advise("%s", h.Hint())
		}
		return false
	}
	r.log(fmt.Sprintf("* Connected to %s port %d through the proxy %s", r.t.Host, r.t.Port, r.proxyName))
	c.set(OK, "connected to %s port %s through the proxy %s", r.t.Host, strconv.Itoa(r.t.Port), r.proxyName)
	r.raw, r.peer = conn, nil
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		r.peer = a.IP
	}
	return true
}
