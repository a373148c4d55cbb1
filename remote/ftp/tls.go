package ftp

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gftp/gftp/internal/trust"
	"github.com/gftp/gftp/remote"
)

// tlsPolicy is how a Remote trusts servers. It is shared by all connections;
// each control connection gets its own tls.Config from config.
type tlsPolicy struct {
	serverName string
	insecure   bool
	roots      *x509.CertPool // nil: the system pool
	pins       map[string]bool
	keyLog     interface{ Write([]byte) (int, error) }
}

func newTLSPolicy(host string, opts remote.Options) (*tlsPolicy, error) {
	p := &tlsPolicy{serverName: host, insecure: opts.Insecure, keyLog: opts.KeyLog}
	var err error
	if p.roots, err = trust.RootCAs(opts.CACert); err != nil {
		return nil, err
	}
	if p.pins, err = trust.ParsePins(opts.PinSHA256); err != nil {
		return nil, err
	}
	return p, nil
}

// config returns a fresh tls.Config for one control connection and its data
// connections. It has its own session cache and ServerName, even for an IP
// address and with --insecure: Go resumes a session only when both are set,
// and vsftpd (require_ssl_reuse=YES) answers 522 to a data connection that
// does not resume the control session. The cache is not shared between
// control connections, because proftpd answers 425 to a data connection that
// resumes another control connection's session.
func (p *tlsPolicy) config() *tls.Config {
	return &tls.Config{
		ServerName:         p.serverName,
		RootCAs:            p.roots, // read by the -vv handshake log's own check
		ClientSessionCache: keepSessions{tls.NewLRUClientSessionCache(4)},
		MinVersion:         tls.VersionTLS12,
		KeyLogWriter:       p.keyLog,
		// Verification is done by verify, which also knows pins; it sees
		// resumed sessions too.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   p.verify,
	}
}

// verify does what crypto/tls does when InsecureSkipVerify is false, and
// accepts a leaf whose SHA-256 was pinned. Failures come back as a
// *tls.CertificateVerificationError wrapping the x509 reason, as crypto/tls
// returns them.
func (p *tlsPolicy) verify(cs tls.ConnectionState) error {
	if p.insecure {
		return nil
	}
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("tls: server sent no certificate")
	}
	if p.pins != nil {
		sum := sha256.Sum256(certs[0].Raw)
		if p.pins[hex.EncodeToString(sum[:])] {
			return nil
		}
	}
	opts := x509.VerifyOptions{
		Roots:         p.roots,
		DNSName:       p.serverName,
		Intermediates: x509.NewCertPool(),
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		verr := &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
		if p.pins != nil {
			sum := sha256.Sum256(certs[0].Raw)
			return fmt.Errorf("certificate sha256 %s matches no pin: %w", hex.EncodeToString(sum[:]), verr)
		}
		return verr
	}
	return nil
}

// keepResumable lets data connections resume the control session when the
// server's certificate has expired and was accepted anyway (--insecure or a
// pin). crypto/tls refuses to resume a session whose certificate has expired,
// whatever InsecureSkipVerify says, and then vsftpd (require_ssl_reuse, its
// default) answers 522 and proftpd 425 to every transfer. Config.Time is used
// only for session bookkeeping here, since verify reads the real clock, so
// this connection's TLS clock is moved back to just before the expiry.
func keepResumable(cfg *tls.Config, cs tls.ConnectionState) (shift time.Duration) {
	if len(cs.PeerCertificates) == 0 {
		return 0
	}
	notAfter := cs.PeerCertificates[0].NotAfter
	now := time.Now()
	if !now.After(notAfter) {
		return 0
	}
	shift = now.Sub(notAfter) + time.Hour
	if d := cs.PeerCertificates[0].NotAfter.Sub(cs.PeerCertificates[0].NotBefore); d < 2*time.Hour {
		shift = now.Sub(notAfter) + d/2
	}
	cfg.Time = func() time.Time { return time.Now().Add(-shift) }
	return shift
}

// dataConfig is the tls.Config of a control connection's data connections:
// the control connection's own (they resume its session), except that over
// TLS 1.2 it is held to TLS 1.2. A ClientHello that offers TLS 1.3 carries
// fresh key shares, ML-KEM among them, which cost more CPU than the rest of
// a resumed TLS 1.2 handshake (a quarter of gftp's CPU for 2,000 small
// files, profiled); a TLS 1.2 session cannot use them. Over TLS 1.3 the
// shares stay: vsftpd's OpenSSL refuses a resumption whose key shares it
// did not expect ("no suitable key share").
func dataConfig(ctl *tls.Config, version uint16) *tls.Config {
	if version != tls.VersionTLS12 {
		return ctl
	}
	c := ctl.Clone()
	c.MaxVersion = tls.VersionTLS12
	return c
}

// keepSessions is a session cache that never forgets. crypto/tls drops the
// cached session when a handshake that tried to resume it fails (RFC 5077
// section 3.2); a data connection's handshake fails whenever the server
// refuses the command it was for (a RETR of a missing file, a STOR into a
// missing directory), because gftp starts the handshake with the command.
// Forgetting the control connection's session then makes every later data
// connection on it fail to resume, which vsftpd answers with 522 and a
// dropped connection. The session stays good as long as its control
// connection lives, and each control connection has its own cache.
type keepSessions struct{ tls.ClientSessionCache }

func (k keepSessions) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		k.ClientSessionCache.Put(key, cs)
	}
}
