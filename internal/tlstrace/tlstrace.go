// Package tlstrace logs a TLS handshake the way curl -v does, from our own
// code, so that users can read it with the troubleshooting guides they
// already know:
//
//   - TLSv1.3 (OUT), TLS handshake, Client hello (1):
//   - TLSv1.3 (IN), TLS handshake, Server hello (2):
//   - TLSv1.3 (IN), TLS change cipher, Change cipher spec (1):
//   - TLSv1.3 (IN), TLS handshake, Encrypted Extensions (8):
//     ...
//   - SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384
//   - Server certificate:
//   - subject: CN=ftp.example.com; O=Example
//     ...
//
// A Tracer sees the bytes through a net.Conn wrapper (Conn) placed under
// tls.Client, and names the records and handshake messages that travel in
// clear. TLS 1.2 shows nearly everything: only each side's Finished is
// encrypted, and it is always the first handshake message after that side's
// ChangeCipherSpec (RFC 5246 section 7.4.9). TLS 1.3 encrypts every
// handshake message after ServerHello (RFC 8446 section 2): the tracer names
// them from what it can prove instead. VerifyConnection (installed by
// Config) runs once EncryptedExtensions and, in a full handshake, the
// Certificate have arrived; a ServerHello without the pre_shared_key
// extension means a full handshake with CertificateVerify; and the client
// sends its first encrypted record only after the server's Finished. The
// rest, the negotiated version and cipher, and the certificate, come from
// tls.ConnectionState (Summary).
//
// The tracer is written for the client side: OUT is what we send.
package tlstrace

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Record content types (RFC 8446 section 5.1).
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordApplicationData  = 23
)

// Handshake message types (RFC 8446 section 4, RFC 5246 section 7.4).
const (
	msgClientHello         = 1
	msgServerHello         = 2
	msgEncryptedExtensions = 8
	msgCertificate         = 11
	msgCertificateVerify   = 15
	msgFinished            = 20
)

// Extensions read from the hellos.
const (
	extPreSharedKey      = 41
	extSupportedVersions = 43
)

// helloRetryRequest is the Random of a ServerHello that is really a
// HelloRetryRequest (RFC 8446 section 4.1.3).
var helloRetryRequest = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11,
	0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
	0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// Tracer follows the handshake of one TLS connection and writes curl's
// lines to its log function. Use one Tracer per connection.
type Tracer struct {
	// Accepted says why a certificate that failed verification was used
	// anyway, for the verify result line: "--insecure", "--pin-sha256".
	// Set it before the handshake; "" prints just "continuing anyway".
	Accepted string

	mu      sync.Mutex
	log     func(string)
	offered uint16 // highest version in our ClientHello
	version uint16 // negotiated, from ServerHello; 0 before
	psk     bool   // TLS 1.3 ServerHello accepted a pre-shared key: resumption
	in, out direction

	// TLS 1.3: how far the server's encrypted flight has been reported.
	flight13  int  // 0 nothing, 1 EncryptedExtensions (and Certificate), 2 all
	done      bool // our Finished is sent: the handshake is over on the wire
	rejected  bool // VerifyConnection refused the certificate
	verified  bool // VerifyConnection ran
	verifyErr error
	ccs13     bool   // TLS 1.3: our compatibility ChangeCipherSpec, not yet named
	sawSH     bool   // a ServerHello that is not a HelloRetryRequest arrived
	host      string // the name verified, from Config
}

type direction struct {
	name     string // "IN" or "OUT"
	rec      []byte // a partial record
	hs       []byte // a partial handshake message
	ccs      bool   // TLS 1.2: ChangeCipherSpec sent, so what follows is encrypted
	finished bool
}

// New returns a Tracer that writes each line to log.
func New(log func(line string)) *Tracer {
	if log == nil {
		log = func(string) {}
	}
	return &Tracer{log: log, in: direction{name: "IN"}, out: direction{name: "OUT"}}
}

// NewWriter returns a Tracer that writes each line, with a newline, to w.
func NewWriter(w io.Writer) *Tracer {
	return New(func(line string) { fmt.Fprintln(w, line) })
}

// Conn wraps c so that the tracer sees every byte read and written. Put it
// under tls.Client: tls.Client(t.Conn(raw), t.Config(cfg)).
func (t *Tracer) Conn(c net.Conn) net.Conn { return &conn{Conn: c, t: t} }

type conn struct {
	net.Conn
	t *Tracer
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.t.feed(&c.t.in, p[:n])
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	c.t.feed(&c.t.out, p)
	return c.Conn.Write(p)
}

// CloseWrite half-closes the underlying TCP connection when it can, so that
// a caller can do the careful close that vsftpd needs over TLS 1.3.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap returns the wrapped connection.
func (c *conn) Unwrap() net.Conn { return c.Conn }

// Config returns a clone of cfg whose VerifyConnection also tells the
// tracer what arrived, and records how the certificate fared (Verification).
// It verifies the chain itself, against cfg.RootCAs and cfg.ServerName, so
// that it can name the reason even when cfg accepts the certificate anyway
// (InsecureSkipVerify, or a VerifyConnection of its own that pins). Whether
// the connection goes on is decided exactly as cfg decides it.
func (t *Tracer) Config(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	orig := cfg.VerifyConnection
	insecure := cfg.InsecureSkipVerify
	roots, name := cfg.RootCAs, cfg.ServerName
	t.mu.Lock()
	t.host = name
	t.mu.Unlock()
	c.InsecureSkipVerify = true //nolint:gosec // verified below, as cfg would
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		chainErr := Verify(cs, roots, name)
		var err error
		switch {
		case orig != nil:
			err = orig(cs)
		case !insecure:
			err = chainErr
		}
		t.verifyConn(cs, chainErr, err != nil)
		return err
	}
	return c
}

func (t *Tracer) verifyConn(cs tls.ConnectionState, chainErr error, rejected bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.verified, t.verifyErr, t.rejected = true, chainErr, rejected
	if t.version == tls.VersionTLS13 && t.flight13 == 0 {
		t.emit(&t.in, recordHandshake, "Encrypted Extensions", msgEncryptedExtensions)
		if !cs.DidResume && len(cs.PeerCertificates) > 0 {
			t.emit(&t.in, recordHandshake, "Certificate", msgCertificate)
		}
		t.flight13 = 1
	}
}

// Verification is how the server certificate fared in a handshake.
type Verification struct {
	Ran      bool  // VerifyConnection ran: the server sent a certificate
	Err      error // why the chain did not verify; nil when it did
	Accepted bool  // the connection went on (Err == nil, or accepted anyway)
}

// Verification returns how the server certificate fared in the handshake
// of a Config from this tracer.
func (t *Tracer) Verification() Verification {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Verification{Ran: t.verified, Err: t.verifyErr, Accepted: t.verified && !t.rejected}
}

// Verify checks the server's chain as crypto/tls does: against roots (the
// system's when nil), for serverName. A failure is a
// *tls.CertificateVerificationError wrapping the x509 reason.
func Verify(cs tls.ConnectionState, roots *x509.CertPool, serverName string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("tls: server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: serverName, Intermediates: x509.NewCertPool()}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}

// Reason names why a certificate did not verify, in the words users search
// for: "self-signed certificate", "certificate has expired",
// "certificate is not yet valid", "unable to get local issuer certificate
// (unknown authority)", "host name mismatch (...)". It returns "" for nil
// and err.Error() for anything else.
func Reason(err error) string {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &he):
		return fmt.Sprintf("host name mismatch: the certificate is for %s, not %s", CertNames(he.Certificate), he.Host)
	case errors.As(err, &ci):
		if ci.Reason == x509.Expired {
			if ci.Cert != nil && time.Now().Before(ci.Cert.NotBefore) {
				return "certificate is not yet valid (valid from " + curlDate(ci.Cert.NotBefore) + ")"
			}
			if ci.Cert != nil {
				return "certificate has expired (on " + curlDate(ci.Cert.NotAfter) + ")"
			}
			return "certificate has expired or is not yet valid"
		}
		return "certificate is invalid: " + ci.Error()
	case errors.As(err, &ua):
		if SelfSigned(ua.Cert) {
			return "self-signed certificate"
		}
		return "unknown authority: no trusted CA signed the certificate"
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return cve.Err.Error()
	}
	return err.Error()
}

// SelfSigned reports whether c signs itself. (x509's CheckSignatureFrom
// would refuse a leaf that is not marked as a CA, as most self-signed
// server certificates are not.)
func SelfSigned(c *x509.Certificate) bool {
	return c != nil && string(c.RawSubject) == string(c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// CertNames lists the names a certificate is valid for: its DNS and IP
// SANs, or its common name when it has none.
func CertNames(c *x509.Certificate) string {
	if c == nil {
		return "another host"
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return c.Subject.CommonName
	}
	return strings.Join(names, ", ")
}

// Fingerprint is the SHA-256 of the certificate's DER, in lower-case hex,
// as --pin-sha256 takes it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Summary writes what the wire could not show: the version and cipher, the
// server certificate, and the verification result (from Config's hook; a
// resumed session shows the certificate of the session it resumed).
func (t *Tracer) Summary(cs tls.ConnectionState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log(fmt.Sprintf("* SSL connection using %s / %s", VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)))
	if cs.DidResume {
		t.log("* SSL session resumed")
	}
	if len(cs.PeerCertificates) == 0 {
		return
	}
	leaf := cs.PeerCertificates[0]
	t.log("* Server certificate:")
	host := t.host
	if host == "" {
		host = cs.ServerName
	}
	for _, l := range CertLines(leaf, host) {
		t.log("*  " + l)
	}
	if !t.verified {
		return
	}
	switch {
	case t.verifyErr == nil:
		t.log("*  SSL certificate verify ok.")
	case !t.rejected:
		how := "continuing anyway"
		if t.Accepted != "" {
			how += " (" + t.Accepted + ")"
		}
		t.log("*  SSL certificate verify result: " + Reason(t.verifyErr) + ", " + how)
	default:
		t.log("*  SSL certificate verify result: " + Reason(t.verifyErr))
	}
}

// Failed writes the verification result of a handshake that failed, when
// the certificate was the cause; Summary cannot, as there is no connection.
func (t *Tracer) Failed(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.verified && t.rejected && t.verifyErr != nil {
		t.log("*  SSL certificate verify result: " + Reason(t.verifyErr))
		return
	}
	t.log("* TLS handshake failed: " + err.Error())
}

// CertLines describes a certificate in curl's words: subject, dates,
// subjectAltName (and whether host matches it), issuer.
func CertLines(c *x509.Certificate, host string) []string {
	lines := []string{
		"subject: " + DN(c.Subject.String()),
		"start date: " + curlDate(c.NotBefore) + "; expire date: " + curlDate(c.NotAfter),
	}
	var sans []string
	for _, d := range c.DNSNames {
		sans = append(sans, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		sans = append(sans, "IP:"+ip.String())
	}
	if len(sans) > 0 {
		san := "subjectAltName: " + strings.Join(sans, ", ")
		if host != "" {
			if c.VerifyHostname(host) == nil {
				san += fmt.Sprintf(" (host %q matched)", host)
			} else {
				san += fmt.Sprintf(" (does not match host %q)", host)
			}
		}
		lines = append(lines, san)
	}
	lines = append(lines, "issuer: "+DN(c.Issuer.String()))
	return lines
}

// DN turns an RFC 2253 name (Go's pkix.Name.String: "CN=a,O=b") into
// curl's "CN=a; O=b".
func DN(s string) string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			cur.WriteByte(s[i])
			cur.WriteByte(s[i+1])
			i++
		case s[i] == ',' || s[i] == '+':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	return strings.Join(parts, "; ")
}

// curlDate is OpenSSL's ASN1_TIME_print format, which curl shows.
func curlDate(t time.Time) string { return t.UTC().Format("Jan _2 15:04:05 2006 GMT") }

// Resumption says whether a connection resumed its TLS session, in the
// words a data-connection log line needs.
func Resumption(cs tls.ConnectionState) (resumed bool, line string) {
	if cs.DidResume {
		return true, "* SSL session resumed (" + VersionName(cs.Version) + ")"
	}
	return false, "* SSL session NOT resumed: full handshake (" + VersionName(cs.Version) + ")"
}

// VersionName is curl's name for a TLS version: "TLSv1.3".
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1.0"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	case 0x0300:
		return "SSLv3"
	}
	return fmt.Sprintf("TLS(0x%04x)", v)
}

// feed parses bytes travelling in one direction.
func (t *Tracer) feed(d *direction, p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done && len(d.rec) == 0 {
		return // past the handshake: application data, never logged
	}
	d.rec = append(d.rec, p...)
	for len(d.rec) >= 5 {
		n := int(d.rec[3])<<8 | int(d.rec[4])
		if len(d.rec) < 5+n {
			return
		}
		typ, ver, payload := d.rec[0], uint16(d.rec[1])<<8|uint16(d.rec[2]), d.rec[5:5+n]
		if !t.done {
			t.record(d, typ, ver, payload)
		}
		d.rec = d.rec[5+n:]
	}
	if len(d.rec) == 0 {
		d.rec = nil
	}
}

func (t *Tracer) record(d *direction, typ byte, ver uint16, payload []byte) {
	tls13 := t.version == tls.VersionTLS13
	switch typ {
	case recordChangeCipherSpec:
		if tls13 && d == &t.out && t.sawSH {
			// Named with our Finished, where curl shows it: where it
			// goes on the wire depends on the client's buffering.
			t.ccs13 = true
			return
		}
		t.emitVer(d, ver, typ, "Change cipher spec", 1)
		if !tls13 {
			d.ccs = true
		}
	case recordAlert:
		if d.ccs || len(payload) != 2 {
			t.emitVer(d, ver, typ, "[encrypted]", 0)
			return
		}
		code := int(payload[0])<<8 | int(payload[1])
		t.emitVer(d, ver, typ, alertName(payload[1]), code)
	case recordHandshake:
		if d.ccs {
			// TLS 1.2: the first message after ChangeCipherSpec is
			// Finished, encrypted (RFC 5246 section 7.4.9).
			if !d.finished {
				d.finished = true
				t.emitVer(d, ver, typ, "Finished", msgFinished)
			}
			if t.in.finished && t.out.finished {
				t.done = true
			}
			return
		}
		d.hs = append(d.hs, payload...)
		for len(d.hs) >= 4 {
			n := int(d.hs[1])<<16 | int(d.hs[2])<<8 | int(d.hs[3])
			if len(d.hs) < 4+n {
				return
			}
			t.message(d, ver, d.hs[0], d.hs[4:4+n])
			d.hs = d.hs[4+n:]
		}
		if len(d.hs) == 0 {
			d.hs = nil
		}
	case recordApplicationData:
		if !tls13 {
			return
		}
		if d == &t.out {
			// In TLS 1.3 our first encrypted record is our Finished,
			// sent after the server's Finished arrived, or the alert
			// that rejects the server's certificate.
			if t.rejected {
				t.flight13 = 2
				t.emit(d, recordAlert, "bad certificate", 2<<8|42)
				t.done = true
				return
			}
			t.flush13()
			if t.ccs13 {
				t.emit(d, recordChangeCipherSpec, "Change cipher spec", 1)
			}
			t.emit(d, recordHandshake, "Finished", msgFinished)
			t.done = true
		}
	}
}

// flush13 names the server's encrypted TLS 1.3 flight. It is called at
// our first encrypted record, which we send only once the server's Finished
// has arrived. (Our ChangeCipherSpec proves nothing: crypto/tls sends it
// for middlebox compatibility right after ServerHello.)
func (t *Tracer) flush13() {
	if t.flight13 == 2 {
		return
	}
	in := &t.in
	if t.flight13 == 0 {
		t.emit(in, recordHandshake, "Encrypted Extensions", msgEncryptedExtensions)
		if !t.psk {
			t.emit(in, recordHandshake, "Certificate", msgCertificate)
		}
	}
	if !t.psk {
		t.emit(in, recordHandshake, "CERT verify", msgCertificateVerify)
	}
	t.emit(in, recordHandshake, "Finished", msgFinished)
	t.flight13 = 2
}

// message names one cleartext handshake message and learns the versions.
func (t *Tracer) message(d *direction, ver uint16, typ byte, body []byte) {
	switch typ {
	case msgClientHello:
		t.offered = helloVersion(body, true)
		t.emitVersion(d, t.offered, recordHandshake, msgName(typ), int(typ))
		return
	case msgServerHello:
		v, hrr, psk := serverHello(body)
		// A HelloRetryRequest exists only in TLS 1.3; a second
		// ClientHello follows it, in clear.
		t.version = v
		if !hrr {
			t.psk, t.sawSH = psk, true
		}
		t.emitVersion(d, v, recordHandshake, msgName(typ), int(typ))
		return
	}
	t.emitVer(d, ver, recordHandshake, msgName(typ), int(typ))
}

// emitVer writes one line, with the negotiated version once known and the
// record's version before.
func (t *Tracer) emitVer(d *direction, recVer uint16, rt byte, name string, code int) {
	v := t.version
	if v == 0 {
		v = recVer
		if d == &t.out && t.offered != 0 {
			v = t.offered
		}
	}
	t.emitVersion(d, v, rt, name, code)
}

func (t *Tracer) emit(d *direction, rt byte, name string, code int) {
	t.emitVer(d, 0, rt, name, code)
}

func (t *Tracer) emitVersion(d *direction, v uint16, rt byte, name string, code int) {
	t.log(fmt.Sprintf("* %s (%s), %s, %s (%d):", VersionName(v), d.name, recordName(rt), name, code))
}

// recordName is curl's name for a record content type.
func recordName(rt byte) string {
	switch rt {
	case recordChangeCipherSpec:
		return "TLS change cipher"
	case recordAlert:
		return "TLS alert"
	case recordHandshake:
		return "TLS handshake"
	case recordApplicationData:
		return "TLS app data"
	}
	return fmt.Sprintf("TLS record %d", rt)
}

// msgName is curl's name for a handshake message type (lib/vtls/openssl.c).
func msgName(typ byte) string {
	switch typ {
	case 0:
		return "Hello request"
	case msgClientHello:
		return "Client hello"
	case msgServerHello:
		return "Server hello"
	case 4:
		return "Newsession Ticket"
	case 5:
		return "End of early data"
	case msgEncryptedExtensions:
		return "Encrypted Extensions"
	case msgCertificate:
		return "Certificate"
	case 12:
		return "Server key exchange"
	case 13:
		return "Request CERT"
	case 14:
		return "Server finished"
	case msgCertificateVerify:
		return "CERT verify"
	case 16:
		return "Client key exchange"
	case msgFinished:
		return "Finished"
	case 22:
		return "Certificate Status"
	case 23:
		return "Supplemental data"
	case 24:
		return "Key update"
	case 67:
		return "Next protocol"
	case 254:
		return "Message hash"
	}
	return "Unknown"
}

// alertName is OpenSSL's long name for an alert description, as curl
// prints it.
func alertName(desc byte) string {
	switch desc {
	case 0:
		return "close notify"
	case 10:
		return "unexpected_message"
	case 20:
		return "bad record mac"
	case 22:
		return "record overflow"
	case 40:
		return "handshake failure"
	case 42:
		return "bad certificate"
	case 43:
		return "unsupported certificate"
	case 44:
		return "certificate revoked"
	case 45:
		return "certificate expired"
	case 46:
		return "certificate unknown"
	case 47:
		return "illegal parameter"
	case 48:
		return "unknown CA"
	case 49:
		return "access denied"
	case 50:
		return "decode error"
	case 51:
		return "decrypt error"
	case 70:
		return "protocol version"
	case 71:
		return "insufficient security"
	case 80:
		return "internal error"
	case 86:
		return "inappropriate fallback"
	case 90:
		return "user canceled"
	case 109:
		return "missing extension"
	case 110:
		return "unsupported extension"
	case 112:
		return "unrecognized name"
	case 116:
		return "certificate required"
	case 120:
		return "no application protocol"
	}
	return "unknown"
}

// helloVersion reads a ClientHello: the highest version in
// supported_versions, or the legacy version.
func helloVersion(b []byte, client bool) uint16 {
	if len(b) < 2 {
		return 0
	}
	legacy := uint16(b[0])<<8 | uint16(b[1])
	exts, ok := helloExtensions(b, client)
	if !ok {
		return legacy
	}
	best := legacy
	if sv, ok := exts[extSupportedVersions]; ok && len(sv) >= 1 {
		list := sv[1:]
		if int(sv[0]) <= len(list) {
			list = list[:sv[0]]
		}
		for i := 0; i+1 < len(list); i += 2 {
			v := uint16(list[i])<<8 | uint16(list[i+1])
			if v&0x0f0f == 0x0a0a {
				continue // GREASE (RFC 8701)
			}
			if v > best && v <= tls.VersionTLS13 {
				best = v
			}
		}
	}
	return best
}

// serverHello reads a ServerHello: the chosen version, whether it is a
// HelloRetryRequest, and whether it accepted a pre-shared key.
func serverHello(b []byte) (version uint16, hrr, psk bool) {
	if len(b) < 34 {
		return 0, false, false
	}
	version = uint16(b[0])<<8 | uint16(b[1])
	hrr = string(b[2:34]) == string(helloRetryRequest)
	exts, ok := helloExtensions(b, false)
	if !ok {
		return version, hrr, false
	}
	if sv, ok := exts[extSupportedVersions]; ok && len(sv) == 2 {
		version = uint16(sv[0])<<8 | uint16(sv[1])
	}
	_, psk = exts[extPreSharedKey]
	return version, hrr, psk
}

// helloExtensions returns a hello's extensions by type (RFC 8446 section
// 4.1.2 and 4.1.3).
func helloExtensions(b []byte, client bool) (map[uint16][]byte, bool) {
	p := 2 + 32 // version, random
	if len(b) < p+1 {
		return nil, false
	}
	p += 1 + int(b[p]) // session id
	if client {
		if len(b) < p+2 {
			return nil, false
		}
		p += 2 + (int(b[p])<<8 | int(b[p+1])) // cipher suites
		if len(b) < p+1 {
			return nil, false
		}
		p += 1 + int(b[p]) // compression methods
	} else {
		p += 2 + 1 // cipher suite, compression method
	}
	if len(b) < p+2 {
		return nil, false
	}
	end := p + 2 + (int(b[p])<<8 | int(b[p+1]))
	p += 2
	if end > len(b) {
		return nil, false
	}
	exts := map[uint16][]byte{}
	for p+4 <= end {
		typ := uint16(b[p])<<8 | uint16(b[p+1])
		n := int(b[p+2])<<8 | int(b[p+3])
		p += 4
		if p+n > end {
			return nil, false
		}
		exts[typ] = b[p : p+n]
		p += n
	}
	return exts, true
}

// Handshake runs a traced TLS client handshake on raw: it wraps raw, clones
// cfg through Config, logs every line to log, and writes the Summary. On a
// failure it logs why, and returns the handshake error unchanged.
func Handshake(raw net.Conn, cfg *tls.Config, log func(string), accepted string) (*tls.Conn, *Tracer, error) {
	t := New(log)
	t.Accepted = accepted
	c := tls.Client(t.Conn(raw), t.Config(cfg))
	if err := c.Handshake(); err != nil {
		t.Failed(err)
		return nil, t, err
	}
	t.Summary(c.ConnectionState())
	return c, t, nil
}
