package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/internal/proxy"
	"github.com/gftp/gftp/internal/proxy/proxytest"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "proxy.example:3128", want: "http://proxy.example:3128"},
		{in: "proxy.example", want: "http://proxy.example:1080"}, // curl's default port
		{in: "socks5h://u:p@127.0.0.1", want: "socks5h://u:p@127.0.0.1:1080"},
		{in: "SOCKS5://[::1]:9050", want: "socks5://[::1]:9050"},
		{in: "socks4://h:1", err: `unsupported proxy scheme "socks4"`},
		{in: "https://u:secret@h:1", err: `unsupported proxy scheme "https"`},
		{in: "http://h:1/path", err: "invalid proxy URL"},
		{in: "http://", err: "invalid proxy URL"},
	} {
		u, err := proxy.Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %v, want error %q", tc.in, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("Parse(%q) error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"socks5h://user:secret@h:1": "socks5h://user:****@h:1",
		"user:secret@h:1":           "user:****@h:1",
		"http://h:1":                "http://h:1",
		"http://user:se%cret@h:1":   "http://****@h:1", // unparsable: the user goes too
	} {
		got := proxy.Redact(in)
		if strings.Contains(got, "secret") || strings.Contains(got, "se%cret") || !strings.HasPrefix(got, strings.TrimSuffix(want, ":1")) {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// bannerServer speaks first, as FTP and SSH servers do, then echoes.
func bannerServer(t *testing.T) (port string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "220 hello\r\n")
				io.Copy(c, c)
			}()
		}
	}()
	_, port, _ = net.SplitHostPort(l.Addr().String())
	return port
}

func TestDialThroughProxy(t *testing.T) {
	port := bannerServer(t)
	for _, tc := range []struct {
		kind   proxytest.Kind
		scheme string
		host   string
	}{
		{proxytest.SOCKS5, "socks5", "127.0.0.1"},
		{proxytest.SOCKS5, "socks5h", "only-the-proxy-knows.onion"}, // Go never resolves .onion (RFC 7686)
		{proxytest.HTTP, "http", "only-the-proxy-knows.onion"},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			p := proxytest.Start(t, tc.kind, "u", "p@ss:word")
			p.Hosts["only-the-proxy-knows.onion"] = "127.0.0.1"
			d, err := proxy.Dialer(p.URL(tc.scheme), &net.Dialer{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(tc.host, port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			if line, err := br.ReadString('\n'); err != nil || line != "220 hello\r\n" {
				t.Fatalf("banner %q, %v", line, err)
			}
			io.WriteString(c, "ping\n")
			if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
				t.Fatalf("echo %q, %v", line, err)
			}
			if _, ok := c.(interface{ CloseWrite() error }); !ok {
				t.Errorf("%T has no CloseWrite; FTP data connections need it", c)
			}
			if got := p.Targets(); len(got) != 1 || got[0] != net.JoinHostPort(tc.host, port) {
				t.Errorf("proxy targets %v", got)
			}
		})
	}
}

func TestDialWrongCredentials(t *testing.T) {
	port := bannerServer(t)
	for _, tc := range []struct {
		kind   proxytest.Kind
		scheme string
	}{{proxytest.SOCKS5, "socks5h"}, {proxytest.HTTP, "http"}} {
		t.Run(tc.scheme, func(t *testing.T) {
			p := proxytest.Start(t, tc.kind, "u", "right")
			for _, url := range []string{
				tc.scheme + "://u:wrong-secret@" + p.Addr,
				tc.scheme + "://" + p.Addr, // none
			} {
				d, err := proxy.Dialer(url, &net.Dialer{Timeout: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				_, err = d.DialContext(context.Background(), "tcp", "127.0.0.1:"+port)
				var pe *proxy.Error
				if !errors.As(err, &pe) || !errors.Is(err, proxy.ErrAuth) {
					t.Fatalf("%s: err = %v, want a proxy.Error wrapping ErrAuth", proxy.Redact(url), err)
				}
				if strings.Contains(err.Error(), "wrong-secret") {
					t.Errorf("error shows the password: %v", err)
				}
			}
			if p.Refused() != 2 || len(p.Targets()) != 0 {
				t.Errorf("proxy refused %d, connected %v", p.Refused(), p.Targets())
			}
		})
	}
}

func TestDialRefusedTarget(t *testing.T) {
	p := proxytest.Start(t, proxytest.HTTP, "", "")
	d, _ := proxy.Dialer(p.URL("http"), &net.Dialer{Timeout: 5 * time.Second})
	_, err := d.DialContext(context.Background(), "tcp", "unknown.onion:21")
	if err == nil || errors.Is(err, proxy.ErrAuth) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v, want the proxy's 502", err)
	}
}

func TestDialUnreachableProxy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	for _, scheme := range []string{"socks5h", "http"} {
		d, _ := proxy.Dialer(scheme+"://"+addr, &net.Dialer{Timeout: 5 * time.Second})
		_, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:21")
		if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "cannot reach the proxy") {
			t.Errorf("%s: err = %v, want ECONNREFUSED reaching the proxy", scheme, err)
		}
	}
	// The SOCKS proxy's own refusal of the target.
	p := proxytest.Start(t, proxytest.SOCKS5, "", "")
	d, _ := proxy.Dialer(p.URL("socks5h"), &net.Dialer{Timeout: 5 * time.Second})
	_, err = d.DialContext(context.Background(), "tcp", "unknown.onion:21")
	if err == nil || !strings.Contains(err.Error(), "refused: host unreachable") {
		t.Errorf("err = %v, want the proxy's refusal", err)
	}
}
