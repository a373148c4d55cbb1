package tlstrace

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// pki is a CA and a server certificate it signed, made for one test.
type pki struct {
	roots *x509.CertPool
	cert  tls.Certificate
}

func newPKI(t *testing.T, hosts []string, notBefore, notAfter time.Time, selfSigned bool) pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlstrace test CA", Organization: []string{"gftp tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"gftp tests"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	parent, signer := ca, any(caKey)
	if selfSigned {
		tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, tmpl.KeyUsage|x509.KeyUsageCertSign
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pki{roots: pool, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func validPKI(t *testing.T) pki {
	return newPKI(t, []string{"127.0.0.1", "localhost"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), false)
}

// chunk is what crossed the wire in one Read or Write.
type chunk struct {
	out  bool
	data []byte
}

// recorder keeps every byte of a connection, in order, so that a test can
// replay a real handshake into a fresh Tracer.
type recorder struct {
	net.Conn
	mu     sync.Mutex
	chunks []chunk
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	if n > 0 {
		r.mu.Lock()
		r.chunks = append(r.chunks, chunk{false, append([]byte{}, p[:n]...)})
		r.mu.Unlock()
	}
	return n, err
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.chunks = append(r.chunks, chunk{true, append([]byte{}, p...)})
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// server is a loopback tls.Server that sends "hello" after each handshake
// (so that the client reads any TLS 1.3 session tickets) and then waits
// for the client to close.
func server(t *testing.T, cfg *tls.Config) string {
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
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				_, _ = tc.Write([]byte("hello"))
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()
	return l.Addr().String()
}

// dial runs a traced handshake through a recorder, reads the server's
// hello, and returns the lines and the recorded bytes.
func dial(t *testing.T, addr string, cfg *tls.Config, accepted string) (lines []string, rec *recorder, cs tls.ConnectionState, err error) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	rec = &recorder{Conn: raw}
	c, _, err := Handshake(rec, cfg, func(l string) { lines = append(lines, l) }, accepted)
	if err != nil {
		return lines, rec, cs, err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read hello: %v", err)
	}
	return lines, rec, c.ConnectionState(), nil
}

// wire keeps only the lines named from records (not the Summary).
func wire(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "* TLSv") {
			out = append(out, l)
		}
	}
	return out
}

// replay feeds recorded bytes into a fresh Tracer one byte at a time, so
// that every record and handshake message is split across reads.
func replay(rec *recorder) []string {
	var lines []string
	tr := New(func(l string) { lines = append(lines, l) })
	for _, c := range rec.chunks {
		d := &tr.in
		if c.out {
			d = &tr.out
		}
		for i := range c.data {
			tr.feed(d, c.data[i:i+1])
		}
	}
	return lines
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTLS13FullAndResumed(t *testing.T) {
	p := validPKI(t)
	addr := server(t, &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS13})
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(4)}

	lines, rec, cs, err := dial(t, addr, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if cs.DidResume {
		t.Fatal("first connection resumed")
	}
	// Both sides send a compatibility ChangeCipherSpec (RFC 8446 appendix
	// D.4); ours is named with our Finished, as curl shows it.
	want := []string{
		"* TLSv1.3 (OUT), TLS handshake, Client hello (1):",
		"* TLSv1.3 (IN), TLS handshake, Server hello (2):",
		"* TLSv1.3 (IN), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.3 (IN), TLS handshake, Encrypted Extensions (8):",
		"* TLSv1.3 (IN), TLS handshake, Certificate (11):",
		"* TLSv1.3 (IN), TLS handshake, CERT verify (15):",
		"* TLSv1.3 (IN), TLS handshake, Finished (20):",
		"* TLSv1.3 (OUT), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.3 (OUT), TLS handshake, Finished (20):",
	}
	equal(t, "full handshake", wire(lines), want)
	text := strings.Join(lines, "\n")
	for _, s := range []string{
		"* SSL connection using TLSv1.3 / TLS_",
		"*  subject: CN=127.0.0.1; O=gftp tests",
		`*  subjectAltName: DNS:localhost, IP:127.0.0.1 (host "127.0.0.1" matched)`,
		"*  issuer: CN=tlstrace test CA; O=gftp tests",
		"*  SSL certificate verify ok.",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("summary lacks %q:\n%s", s, text)
		}
	}
	// The same bytes, replayed without the VerifyConnection hook and split
	// at every byte, name the same messages.
	equal(t, "replayed full handshake", replay(rec), want)

	lines, rec, cs, err = dial(t, addr, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if !cs.DidResume {
		t.Fatal("second connection did not resume")
	}
	want = []string{
		"* TLSv1.3 (OUT), TLS handshake, Client hello (1):",
		"* TLSv1.3 (IN), TLS handshake, Server hello (2):",
		"* TLSv1.3 (IN), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.3 (IN), TLS handshake, Encrypted Extensions (8):",
		"* TLSv1.3 (IN), TLS handshake, Finished (20):",
		"* TLSv1.3 (OUT), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.3 (OUT), TLS handshake, Finished (20):",
	}
	equal(t, "resumed handshake", wire(lines), want)
	equal(t, "replayed resumed handshake", replay(rec), want)
	if r, line := Resumption(cs); !r || line != "* SSL session resumed (TLSv1.3)" {
		t.Errorf("Resumption = %v %q", r, line)
	}
}

// TestHelloRetryRequest: a server that wants another key share (vsftpd
// here asks for P-256) answers the first ClientHello with a
// HelloRetryRequest, and the client sends a second ClientHello in clear.
func TestHelloRetryRequest(t *testing.T) {
	p := validPKI(t)
	addr := server(t, &tls.Config{Certificates: []tls.Certificate{p.cert}, CurvePreferences: []tls.CurveID{tls.CurveP256}})
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1"}
	lines, rec, _, err := dial(t, addr, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"* TLSv1.3 (OUT), TLS handshake, Client hello (1):",
		"* TLSv1.3 (IN), TLS handshake, Server hello (2):",
		"* TLSv1.3 (IN), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.3 (OUT), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.3 (OUT), TLS handshake, Client hello (1):",
		"* TLSv1.3 (IN), TLS handshake, Server hello (2):",
		"* TLSv1.3 (IN), TLS handshake, Encrypted Extensions (8):",
		"* TLSv1.3 (IN), TLS handshake, Certificate (11):",
		"* TLSv1.3 (IN), TLS handshake, CERT verify (15):",
		"* TLSv1.3 (IN), TLS handshake, Finished (20):",
		"* TLSv1.3 (OUT), TLS handshake, Finished (20):",
	}
	// The server's compatibility ChangeCipherSpec races with our second
	// ClientHello, so each direction is compared on its own.
	for _, dir := range []string{"(IN)", "(OUT)"} {
		equal(t, "handshake with HelloRetryRequest "+dir, only(wire(lines), dir), only(want, dir))
		equal(t, "replayed handshake with HelloRetryRequest "+dir, only(replay(rec), dir), only(want, dir))
	}
}

func only(lines []string, dir string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, dir) {
			out = append(out, l)
		}
	}
	return out
}

func TestTLS12(t *testing.T) {
	p := validPKI(t)
	addr := server(t, &tls.Config{Certificates: []tls.Certificate{p.cert}, MaxVersion: tls.VersionTLS12})
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	lines, rec, _, err := dial(t, addr, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"* TLSv1.3 (OUT), TLS handshake, Client hello (1):",
		"* TLSv1.2 (IN), TLS handshake, Server hello (2):",
		"* TLSv1.2 (IN), TLS handshake, Certificate (11):",
		"* TLSv1.2 (IN), TLS handshake, Server key exchange (12):",
		"* TLSv1.2 (IN), TLS handshake, Server finished (14):",
		"* TLSv1.2 (OUT), TLS handshake, Client key exchange (16):",
		"* TLSv1.2 (OUT), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.2 (OUT), TLS handshake, Finished (20):",
		"* TLSv1.2 (IN), TLS handshake, Newsession Ticket (4):",
		"* TLSv1.2 (IN), TLS change cipher, Change cipher spec (1):",
		"* TLSv1.2 (IN), TLS handshake, Finished (20):",
	}
	equal(t, "TLS 1.2 handshake", wire(lines), want)
	equal(t, "replayed TLS 1.2 handshake", replay(rec), want)

	_, _, cs, err := dial(t, addr, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if r, line := Resumption(cs); !r || line != "* SSL session resumed (TLSv1.2)" {
		t.Errorf("Resumption = %v %q", r, line)
	}
}

func TestVerifyReasons(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		pki    pki
		reason string
		alert  string
	}{
		{"self-signed", newPKI(t, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour), true), "self-signed certificate", ""},
		{"expired", newPKI(t, []string{"127.0.0.1"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour), false), "certificate has expired (on ", ""},
		{"not yet valid", newPKI(t, []string{"127.0.0.1"}, now.Add(24*time.Hour), now.Add(48*time.Hour), false), "certificate is not yet valid (valid from ", ""},
		{"wrong host", newPKI(t, []string{"wrong.invalid"}, now.Add(-time.Hour), now.Add(time.Hour), false), "host name mismatch: the certificate is for wrong.invalid, not 127.0.0.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				addr := server(t, &tls.Config{Certificates: []tls.Certificate{tc.pki.cert}, MaxVersion: v})
				roots := tc.pki.roots
				if tc.name == "self-signed" {
					roots = x509.NewCertPool() // the test CA did not sign it
				}
				cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
				lines, _, _, err := dial(t, addr, cfg, "")
				var cve *tls.CertificateVerificationError
				if !errors.As(err, &cve) {
					t.Fatalf("%s: err = %v, want a CertificateVerificationError", VersionName(v), err)
				}
				if r := Reason(err); !strings.HasPrefix(r, tc.reason) {
					t.Errorf("Reason = %q, want %q...", r, tc.reason)
				}
				text := strings.Join(lines, "\n")
				want := "* " + VersionName(v) + " (OUT), TLS alert, bad certificate (554):"
				if !strings.Contains(text, want) || !strings.Contains(text, "*  SSL certificate verify result: "+tc.reason) {
					t.Errorf("%s: log lacks the alert or the result:\n%s", VersionName(v), text)
				}

				// Accepted anyway, the verify result says so.
				cfg.InsecureSkipVerify = true
				lines, _, _, err = dial(t, addr, cfg, "--insecure")
				if err != nil {
					t.Fatal(err)
				}
				text = strings.Join(lines, "\n")
				if !strings.Contains(text, "*  SSL certificate verify result: "+tc.reason) || !strings.Contains(text, "continuing anyway (--insecure)") {
					t.Errorf("%s: insecure log:\n%s", VersionName(v), text)
				}
			}
		})
	}
}

func TestDN(t *testing.T) {
	for in, want := range map[string]string{
		"CN=a,O=b":            "CN=a; O=b",
		`CN=a\,b,O=c`:         `CN=a\,b; O=c`,
		"CN=x+OU=y,C=FR":      "CN=x; OU=y; C=FR",
		"":                    "",
		"CN=gftp test server": "CN=gftp test server",
	} {
		if got := DN(in); got != want {
			t.Errorf("DN(%q) = %q, want %q", in, got, want)
		}
	}
}
