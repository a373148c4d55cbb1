package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/diag"
	"github.com/gftp/gftp/integration/servers"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/diag")

// diagRun diagnoses srv's URL (or target) with its credentials and CA
// unless told otherwise, and returns the report and its text.
func diagRun(t *testing.T, target diag.Target, o diag.Options) (*diag.Report, string) {
	t.Helper()
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep := diag.Run(ctx, target, o)
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	var j bytes.Buffer
	if err := rep.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, j.String())
	}
	if testing.Verbose() {
		t.Logf("report:\n%s", b.String())
	}
	if strings.Contains(b.String()+j.String(), "gftp-ftp-password") {
		t.Errorf("the password appears in the report")
	}
	return rep, b.String()
}

func target(t *testing.T, srv *servers.Server) diag.Target {
	t.Helper()
	tg, err := diag.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func creds(srv *servers.Server) diag.Options {
	return diag.Options{User: srv.User, Password: srv.Password, CACert: srv.CACert}
}

// noise is what changes from run to run: ports, timings, dates,
// fingerprints, temporary names and cipher suites (which depend on the
// CPU's AES support).
var noise = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s)\b|\b\d+m\d+(\.\d+)?s\b`), "TIME"},
	{regexp.MustCompile(`(127\.0\.0\.1|localhost|wrong\.invalid)([:.])\d{2,5}\b`), "$1${2}PORT"},
	{regexp.MustCompile(`(port |:)\d{4,5}\b`), "${1}PORT"},
	{regexp.MustCompile(`(PORT|Passive Mode \(|Entering Passive Mode \()127,0,0,1,\d+,\d+`), "${1}127,0,0,1,P,P"},
	{regexp.MustCompile(`PORT 127,0,0,1,\d+,\d+`), "PORT 127,0,0,1,P,P"},
	{regexp.MustCompile(`\(\|\|\|\d+\|\)`), "(|||PORT|)"},
	{regexp.MustCompile(`(EPRT \|[12]\|[0-9a-f.:]+\|)\d+\|`), "${1}PORT|"},
	{regexp.MustCompile(`[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4} GMT`), "DATE"},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z| \d{2}:\d{2} UTC)?`), "DATE"},
	{regexp.MustCompile(`[0-9a-f]{64}`), "FINGERPRINT"},
	{regexp.MustCompile(`\.gftp-diag-[0-9a-f]{12}`), ".gftp-diag-RANDOM"},
	{regexp.MustCompile(`TLS_[A-Z0-9_]+`), "CIPHER"},
	{regexp.MustCompile(`expires in \S+`), "expires in TIME"},
	// pure-ftpd's greeting.
	{regexp.MustCompile(`Local time is now \d\d:\d\d`), "Local time is now HH:MM"},
	{regexp.MustCompile(`You are user number \d+ of`), "You are user number N of"},
	{regexp.MustCompile(`Server port: \d+`), "Server port: PORT"},
	{regexp.MustCompile(`[\d.]+ seconds \(measured here\), [\d.]+ [KMG]?bytes per second`), "N seconds (measured here), N bytes per second"},
}

func normalize(s string) string {
	for _, n := range noise {
		s = n.re.ReplaceAllString(s, n.repl)
	}
	return s
}

// golden compares the report's text, with the noise stripped, with
// testdata/diag/NAME.txt; -update rewrites it.
func golden(t *testing.T, name, text string) {
	t.Helper()
	path := filepath.Join("..", "testdata", "diag", name+".txt")
	got := normalize(text)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s (run with -update to accept):\n%s", path, lineDiff(string(want), got))
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

func status(t *testing.T, rep *diag.Report, id string, want diag.Status, summary ...string) *diag.Check {
	t.Helper()
	c := rep.Check(id)
	if c == nil {
		t.Fatalf("no %s check in the report", id)
	}
	if c.Status != want {
		t.Errorf("%s: status %s, want %s (%s)", id, c.Status, want, c.Summary)
	}
	for _, s := range summary {
		if !strings.Contains(c.Summary+"\n"+strings.Join(c.Advice, "\n"), s) {
			t.Errorf("%s: summary and advice lack %q:\n%s\n%s", id, s, c.Summary, strings.Join(c.Advice, "\n"))
		}
	}
	return c
}

// TestDiagServers diagnoses every FTP server with a valid chain given by
// --cacert, credentials and the write test: everything passes, and each
// data connection says whether it resumed the control connection's TLS
// session, and whether the server demands it.
func TestDiagServers(t *testing.T) {
	for _, kind := range servers.FTPKinds() {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			o := creds(srv)
			o.WriteTest = true
			rep, text := diagRun(t, target(t, srv), o)
			if rep.Failed() {
				t.Errorf("diag failed:\n%s", text)
			}
			for _, id := range []string{"dns", "connect", "banner", "feat", "login", "epsv", "pasv", "active", "write"} {
				status(t, rep, id, diag.OK)
			}
			if kind.TLS() {
				status(t, rep, "tls", diag.OK)
				status(t, rep, "certificate", diag.OK, "verified")
				status(t, rep, "prot", diag.OK)
				for _, id := range []string{"epsv", "pasv", "active"} {
					c := rep.Check(id)
					if c.TLS == nil {
						t.Fatalf("%s: no TLS on the data connection", id)
					}
					// pure-ftpd resumes over TLS 1.2 but not 1.3 (servers/ftp.go).
					if want := kind != servers.PureFTPdTLS; c.TLS.Resumed != want {
						t.Errorf("%s: TLS resumed = %v, want %v", id, c.TLS.Resumed, want)
					}
				}
				switch kind {
				case servers.PureFTPdTLS:
					status(t, rep, "reuse", diag.OK, "not required")
				default:
					status(t, rep, "reuse", diag.OK, "required")
				}
			} else {
				status(t, rep, "tls", diag.Warn, "unencrypted")
			}
			golden(t, "servers-"+string(kind), text)
		})
	}
}

// TestDiagLocalhost: a host name is looked up, each address tried in turn
// (localhost may be ::1 first, where nothing listens), and the certificate
// verified for the name.
func TestDiagLocalhost(t *testing.T) {
	srv := servers.Start(t, servers.ProFTPdTLS)
	tg := target(t, srv)
	tg.Host = "localhost"
	o := creds(srv)
	o.HandshakeOnly = true
	rep, text := diagRun(t, tg, o)
	status(t, rep, "dns", diag.OK, "localhost is ", "127.0.0.1")
	status(t, rep, "connect", diag.OK, "connected to 127.0.0.1")
	status(t, rep, "certificate", diag.OK, "verified")
	if rep.Check("login") != nil || len(rep.Notes) == 0 || rep.Failed() {
		t.Errorf("handshake only:\n%s", text)
	}
}

func TestDiagSelfSigned(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13, servers.WithCert(servers.CertSelfSigned))
	rep, text := diagRun(t, target(t, srv), creds(srv))
	status(t, rep, "tls", diag.OK)
	c := status(t, rep, "certificate", diag.Fail, "self-signed certificate", "--pin-sha256 ", "--cacert FILE", "--insecure")
	if len(c.Certificates) != 1 || len(c.Certificates[0].SHA256) != 64 {
		t.Errorf("certificates = %+v", c.Certificates)
	}
	status(t, rep, "login", diag.Skip, "not trusted")
	if !rep.Failed() {
		t.Error("report did not fail")
	}
	golden(t, "self-signed", text)

	// The fingerprint it advises is accepted by --pin-sha256, and then
	// everything works.
	o := creds(srv)
	o.PinSHA256 = []string{c.Certificates[0].SHA256}
	rep, text = diagRun(t, target(t, srv), o)
	status(t, rep, "certificate", diag.OK, "accepted by --pin-sha256")
	if rep.Failed() {
		t.Errorf("pinned diag failed:\n%s", text)
	}
}

func TestDiagExpired(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13, servers.WithCert(servers.CertExpired))
	rep, text := diagRun(t, target(t, srv), creds(srv))
	status(t, rep, "certificate", diag.Fail, "certificate has expired", "renew it", "--pin-sha256 ")
	if !rep.Failed() {
		t.Error("report did not fail")
	}
	golden(t, "expired", text)

	// With --insecure it warns, and the data connections still resume the
	// session, which vsftpd demands, although crypto/tls will not resume a
	// session whose certificate has expired.
	o := creds(srv)
	o.Insecure = true
	rep, text = diagRun(t, target(t, srv), o)
	status(t, rep, "certificate", diag.Warn, "--insecure")
	for _, id := range []string{"epsv", "pasv", "active"} {
		if c := status(t, rep, id, diag.OK); c.TLS == nil || !c.TLS.Resumed {
			t.Errorf("%s did not resume:\n%s", id, text)
		}
	}
}

func TestDiagWrongHost(t *testing.T) {
	srv := servers.Start(t, servers.ProFTPdTLS, servers.WithCert(servers.CertWrongHost))
	rep, text := diagRun(t, target(t, srv), creds(srv))
	status(t, rep, "certificate", diag.Fail, "host name mismatch", "wrong.invalid", "--pin-sha256 ")
	golden(t, "wrong-host", text)
}

func TestDiagPlainServerFTPES(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdPlain)
	tg := target(t, srv)
	tg.Scheme = "ftpes"
	rep, text := diagRun(t, tg, creds(srv))
	status(t, rep, "tls", diag.Fail, "does not offer TLS", "ftp://")
	if rep.Check("login") != nil {
		t.Error("diag went on to log in without TLS")
	}
	golden(t, "plain-ftpes", text)
}

func TestDiagPassiveOnly(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES12, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind, servers.PassiveOnly())
			rep, text := diagRun(t, target(t, srv), creds(srv))
			status(t, rep, "epsv", diag.OK)
			status(t, rep, "active", diag.Warn, "does not allow active mode", "passive mode")
			if rep.Failed() {
				t.Errorf("a passive-only server fails the diagnosis:\n%s", text)
			}
			golden(t, "passive-only-"+string(kind), text)
		})
	}
}

func TestDiagRefused(t *testing.T) {
	port := servers.FreePort(t)
	rep, text := diagRun(t, diag.Target{Scheme: "ftpes", Host: "127.0.0.1", Port: port}, diag.Options{})
	status(t, rep, "connect", diag.Fail, "connection refused", "port "+strconv.Itoa(port))
	if len(rep.Checks) != 2 {
		t.Errorf("checks after a refused connect:\n%s", text)
	}
	golden(t, "refused", text)
}

// blackhole is a listener on loopback whose accept queue is full, so that
// the kernel drops every further SYN: a connect times out, as it does
// through a firewall that drops packets.
func blackhole(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Fill the queue: connections complete until it is full; then one
	// times out, and from then on every connect does.
	for i := 0; i < 16; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			return port
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("could not fill the accept queue of a loopback listener")
	return 0
}

func TestDiagBlackholed(t *testing.T) {
	port := blackhole(t)
	start := time.Now()
	rep, text := diagRun(t, diag.Target{Scheme: "ftpes", Host: "127.0.0.1", Port: port}, diag.Options{ConnectTimeout: time.Second})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("diag took %s for a 1s connect timeout", d)
	}
	status(t, rep, "connect", diag.Fail, "timeout", "firewall")
	golden(t, "blackholed", text)
}

// TestDiagSilent: something accepts the connection but never speaks, as an
// implicit-TLS server does to a client that waits for a greeting.
func TestDiagSilent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	rep, text := diagRun(t, diag.Target{Scheme: "ftpes", Host: "127.0.0.1", Port: port}, diag.Options{Timeout: time.Second})
	status(t, rep, "connect", diag.OK)
	status(t, rep, "banner", diag.Fail, "no greeting", "ftps://")
	golden(t, "silent", text)
}

// TestDiagImplicitOnExplicit: ftps:// to a server that speaks plain FTP
// first fails the handshake and says to use ftpes://.
func TestDiagImplicitOnExplicit(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES12)
	tg := target(t, srv)
	tg.Scheme = "ftps"
	rep, _ := diagRun(t, tg, creds(srv))
	status(t, rep, "tls", diag.Fail, "ftpes://")
}

// TestDiagCommand runs the gftp binary: the text report on stdout, exit 0
// when nothing failed and 6 when something did, and --json.
func TestDiagCommand(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES13)
	dir := t.TempDir()
	r := gftp(t, srv, dir, "diag", "--write-test", srv.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "Result: OK") {
		t.Errorf("diag exited %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = gftp(t, srv, dir, "diag", "--json", srv.URL)
	var rep struct {
		Result string `json:"result"`
		Checks []struct {
			ID, Status string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Result != "ok" || len(rep.Checks) < 10 {
		t.Errorf("--json: %v %+v\n%s", err, rep, r.stdout)
	}

	// Without --cacert, the certificate fails: exit 6, advice on stdout.
	plain := *srv
	plain.CACert = ""
	r = gftp(t, &plain, dir, "diag", "handshake", srv.Addr)
	if r.code != 6 || !strings.Contains(r.stdout, "unknown authority") || !strings.Contains(r.stdout, "--cacert FILE") {
		t.Errorf("diag handshake exited %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "> USER") {
		t.Errorf("diag handshake logged in:\n%s", r.stdout)
	}

	// -vv streams the dialogue to stderr, with the password masked.
	r = gftp(t, srv, dir, "diag", "-vv", srv.URL)
	if !strings.Contains(r.stderr, "> PASS ****") || strings.Contains(r.stderr+r.stdout, srv.Password) {
		t.Errorf("-vv dialogue:\n%s", r.stderr)
	}
}
