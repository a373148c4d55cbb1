package diag

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// control is an FTP control connection that logs its dialogue the way curl
// does ("> CMD", "< reply"), with the password masked.
type control struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	log     func(string)
}

func newControl(c net.Conn, timeout time.Duration, log func(string)) *control {
	return &control{conn: c, r: bufio.NewReader(c), timeout: timeout, log: log}
}

// setConn replaces the connection (after AUTH TLS).
func (c *control) setConn(conn net.Conn) {
	c.conn = conn
	c.r = bufio.NewReader(conn)
}

// errTimeout marks a reply that did not come in time.
var errTimeout = errors.New("timeout")

// reply reads one reply, a multi-line one whole (RFC 959 section 4.2:
// "123-First line" ... "123 Last line").
func (c *control) reply() (code int, msg string, err error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	defer c.conn.SetReadDeadline(time.Time{})
	var lines []string
	line, err := c.readLine()
	if err != nil {
		return 0, "", err
	}
	lines = append(lines, line)
	if len(line) < 3 {
		return 0, line, fmt.Errorf("malformed reply %q", line)
	}
	code, err = strconv.Atoi(line[:3])
	if err != nil || code < 100 || code > 599 {
		return 0, line, fmt.Errorf("malformed reply %q", line)
	}
	if len(line) > 3 && line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := c.readLine()
			if err != nil {
				return 0, strings.Join(lines, "\n"), err
			}
			lines = append(lines, l)
			if strings.HasPrefix(l, end) || l == line[:3] {
				break
			}
		}
	}
	return code, strings.Join(lines, "\n"), nil
}

func (c *control) readLine() (string, error) {
	l, err := c.r.ReadString('\n')
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", fmt.Errorf("no reply in %s: %w", c.timeout, errTimeout)
		}
		if err == io.EOF {
			if l != "" {
				c.log("< " + strings.TrimRight(l, "\r\n"))
			}
			return "", fmt.Errorf("the server closed the control connection: %w", io.EOF)
		}
		return "", err
	}
	l = strings.TrimRight(l, "\r\n")
	c.log("< " + l)
	return l, nil
}

// cmd sends one command and reads its reply.
func (c *control) cmd(line string) (int, string, error) {
	if err := c.send(line); err != nil {
		return 0, "", err
	}
	return c.reply()
}

func (c *control) send(line string) error {
	shown := line
	if strings.HasPrefix(strings.ToUpper(line), "PASS ") {
		shown = "PASS ****"
	}
	c.log("> " + shown)
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	defer c.conn.SetWriteDeadline(time.Time{})
	_, err := io.WriteString(c.conn, line+"\r\n")
	return err
}

// lastLine is the text of a reply's last line, without its code, for
// one-line summaries.
func lastLine(msg string) string {
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return strings.TrimSpace(msg)
}

// ParseFEAT reads a FEAT reply (RFC 2389 section 3.2): the features between
// "211-" and "211 End", one per line, each a name and optional parameters.
// Names come back upper-cased as keys; the value holds the parameters.
func ParseFEAT(msg string) map[string]string {
	feats := map[string]string{}
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if i == 0 || i == len(lines)-1 && len(l) >= 3 && l[:3] == "211" {
			continue
		}
		// Feature lines begin with a space (RFC 2389); some servers put
		// the code on every line ("211-EPSV").
		l = strings.TrimPrefix(l, "211-")
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		// Name and parameters are separated by white space, a tab included.
		name := strings.Fields(l)[0]
		params := strings.TrimSpace(l[len(name):])
		feats[strings.ToUpper(name)] = params
	}
	return feats
}

// authTLS reports whether FEAT lists AUTH TLS (RFC 4217 section 6).
func authTLS(feats map[string]string) bool {
	for _, m := range strings.Fields(strings.ToUpper(feats["AUTH"])) {
		if m == "TLS" || m == "TLS-C" || m == "SSL" {
			return true
		}
	}
	return false
}

// ParsePASV reads a 227 reply (RFC 959 section 4.1.2: "227 Entering
// Passive Mode (h1,h2,h3,h4,p1,p2)"). Servers differ in what surrounds the
// six numbers, so it takes the first run of six comma-separated numbers.
func ParsePASV(msg string) (net.IP, int, error) {
	msg = lastLine(msg)
	start := strings.IndexFunc(msg[min(len(msg), 4):], func(r rune) bool { return r >= '0' && r <= '9' })
	if start < 0 {
		return nil, 0, fmt.Errorf("no address in PASV reply %q", msg)
	}
	s := msg[min(len(msg), 4)+start:]
	end := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == ',' || r == ' ') })
	if end >= 0 {
		s = s[:end]
	}
	parts := strings.Split(strings.ReplaceAll(s, " ", ""), ",")
	if len(parts) < 6 {
		return nil, 0, fmt.Errorf("no address in PASV reply %q", msg)
	}
	var n [6]int
	for i := range n {
		v, err := strconv.Atoi(parts[i])
		if err != nil || v < 0 || v > 255 {
			return nil, 0, fmt.Errorf("bad address in PASV reply %q", msg)
		}
		n[i] = v
	}
	return net.IPv4(byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])).To4(), n[4]<<8 | n[5], nil
}

// ParseEPSV reads a 229 reply (RFC 2428 section 3: "229 Entering Extended
// Passive Mode (|||6446|)"); the delimiter is whatever character follows
// the opening parenthesis.
func ParseEPSV(msg string) (int, error) {
	msg = lastLine(msg)
	i := strings.IndexByte(msg, '(')
	j := strings.LastIndexByte(msg, ')')
	if i < 0 || j < i+5 {
		return 0, fmt.Errorf("no port in EPSV reply %q", msg)
	}
	inner := msg[i+1 : j]
	d := inner[0]
	if len(inner) < 5 || inner[1] != d || inner[2] != d || inner[len(inner)-1] != d {
		return 0, fmt.Errorf("bad EPSV reply %q", msg)
	}
	port, err := strconv.Atoi(inner[3 : len(inner)-1])
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("bad port in EPSV reply %q", msg)
	}
	return port, nil
}

// portCommand is the PORT (RFC 959) or, for IPv6, EPRT (RFC 2428) command
// that announces addr for an active data connection.
func portCommand(addr *net.TCPAddr) string {
	if ip4 := addr.IP.To4(); ip4 != nil {
		return fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", ip4[0], ip4[1], ip4[2], ip4[3], addr.Port>>8, addr.Port&0xff)
	}
	return fmt.Sprintf("EPRT |2|%s|%d|", addr.IP, addr.Port)
}

// unroutable reports whether ip cannot be reached across the internet:
// private (RFC 1918, RFC 4193), shared (RFC 6598), loopback, link-local or
// unspecified. A PASV reply with such an address, from a server reached at
// another address, comes from behind NAT.
func unroutable(ip net.IP) bool {
	if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return true
	}
	_, cgnat, _ := net.ParseCIDR("100.64.0.0/10")
	return cgnat.Contains(ip)
}
