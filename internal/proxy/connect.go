package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// connect opens a tunnel to addr with HTTP CONNECT (RFC 9110, 9.3.6). The
// name in addr goes to the proxy unresolved, as curl sends it.
func (d *dialer) connect(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.direct.DialContext(ctx, network, d.url.Host)
	if err != nil {
		return nil, unreachable(err)
	}
	// Cancellation and the deadline reach the handshake through the socket.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	conn, err := d.handshake(c, addr)
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return conn, nil
}

func (d *dialer) handshake(c net.Conn, addr string) (net.Conn, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", addr, addr)
	if u := d.url.User; u != nil {
		p, _ := u.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + p))
		fmt.Fprintf(&b, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	b.WriteString("\r\n")
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("reading the proxy's answer to CONNECT: %w", err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusProxyAuthRequired:
		return nil, fmt.Errorf("%w (%s)", ErrAuth, resp.Status)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("refused: CONNECT answered %s", resp.Status)
	}
	if br.Buffered() > 0 {
		// The server spoke first (an FTP banner, an SSH version line) and
		// its bytes came with the proxy's answer.
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

// bufferedConn reads what the handshake's reader holds before the socket.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the socket, as FTP data connections end (remote/ftp).
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
