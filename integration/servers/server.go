// Package servers starts real servers (vsftpd, pure-ftpd, proftpd, OpenSSH,
// an S3 server) for tests, each as its own process with a generated config
// and certificate on a free loopback port, torn down when the test ends.
//
// When a server's binary is missing, the test is skipped with a message that
// says how to install it; with GFTP_REAL_SERVERS=1 (as .ci/run sets) it fails
// instead, so that CI can never pass by skipping.
package servers

import (
	"net"
	"os"
	"testing"
)

// Server is a running server, seen as a deploy target.
type Server struct {
	Name     string   // e.g. "vsftpd-ftpes-tls13"
	URL      string   // target URL whose path is Root, e.g. "ftpes://127.0.0.1:40123/"
	User     string   // login user ("" when the URL or Flags carry it)
	Password string   // login password ("" for key-only logins)
	Root     string   // local directory that the URL's path maps to: where files land
	CACert   string   // PEM file of the CA that signed the server certificate ("" when no TLS)
	Flags    []string // extra gftp flags this server needs (e.g. --known-hosts FILE)
	Env      []string // extra environment, KEY=VALUE (e.g. SSH_AUTH_SOCK, AWS_*)
	Addr     string   // host:port of the control connection
	PID      int      // the server's main process, whose CPU time counts its reaped children's (benchmarks read it)
}

// Required reports whether real-server tests must run (GFTP_REAL_SERVERS=1).
func Required() bool { return os.Getenv("GFTP_REAL_SERVERS") == "1" }

// Unavailable skips the test, or fails it when real servers are required.
// why says what is missing; how says how to get it.
func Unavailable(t testing.TB, why, how string) {
	t.Helper()
	if Required() {
		t.Fatalf("real server unavailable: %s (GFTP_REAL_SERVERS=1 forbids skipping; %s)", why, how)
	}
	t.Skipf("real server unavailable: %s; %s, then run with GFTP_REAL_SERVERS=1", why, how)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
