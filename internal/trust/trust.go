// Package trust reads what the user says to trust (--cacert, --pin-sha256)
// once, the same way for every client that speaks TLS: the FTP and S3
// transports and the diagnostics.
package trust

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// RootCAs returns the system's CAs plus those in the PEM file, or nil (the
// system's alone) when file is empty.
func RootCAs(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates (--cacert): %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read CA certificates (--cacert): no PEM certificate in %s", file)
	}
	return pool, nil
}

// ParsePins reads --pin-sha256 values: hex SHA-256 fingerprints of a leaf
// certificate's DER, with or without ':' separators or a "sha256//" prefix.
func ParsePins(pins []string) (map[string]bool, error) {
	if len(pins) == 0 {
		return nil, nil
	}
	out := map[string]bool{}
	for _, p := range pins {
		norm := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimPrefix(p, "sha256//")))
		if b, err := hex.DecodeString(norm); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("--pin-sha256 %q is not a hex SHA-256 fingerprint", p)
		}
		out[norm] = true
	}
	return out, nil
}

// Pinned reports whether the certificate's fingerprint is among pins.
func Pinned(pins map[string]bool, cert *x509.Certificate) bool {
	if cert == nil || len(pins) == 0 {
		return false
	}
	sum := sha256.Sum256(cert.Raw)
	return pins[hex.EncodeToString(sum[:])]
}

// Verify checks a handshake's certificates the way gftp trusts servers: a
// pinned leaf is accepted as it is; otherwise the chain must lead to roots
// (nil: the system's) and the leaf must be valid for serverName. Failures
// come back as *tls.CertificateVerificationError wrapping the x509 error,
// as crypto/tls reports its own.
func Verify(cs tls.ConnectionState, serverName string, roots *x509.CertPool, pins map[string]bool) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &tls.CertificateVerificationError{Err: fmt.Errorf("the server sent no certificate")}
	}
	if Pinned(pins, certs[0]) {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: serverName})
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}
