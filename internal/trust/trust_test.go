package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func selfSigned(t *testing.T, host string) *x509.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestVerify(t *testing.T) {
	c := selfSigned(t, "ftp.example")
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	var ua x509.UnknownAuthorityError
	if err := Verify(cs, "ftp.example", nil, nil); !errors.As(err, &ua) {
		t.Fatalf("unknown self-signed: %v", err)
	}
	// Trusted through a CA file.
	file := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
	roots, err := RootCAs(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(cs, "ftp.example", roots, nil); err != nil {
		t.Fatalf("with --cacert: %v", err)
	}
	var he x509.HostnameError
	if err := Verify(cs, "other.example", roots, nil); !errors.As(err, &he) {
		t.Fatalf("wrong host: %v", err)
	}
	// Pinned: accepted whatever its name or signer.
	sum := sha256.Sum256(c.Raw)
	pins, err := ParsePins([]string{"sha256//" + hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(cs, "other.example", nil, pins); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	if _, err := ParsePins([]string{"zz"}); err == nil {
		t.Errorf("a bad pin was accepted")
	}
	if _, err := RootCAs(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Errorf("a missing CA file was accepted")
	}
}
