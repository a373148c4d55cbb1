package servers

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// CA is a certificate authority made for one test. Nothing outside the test
// trusts it, so a client must be given Path (or Pool) to verify what it signs.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	Path    string // PEM file of Cert
}

// KeyPair is a server certificate and its private key, as PEM and as files.
type KeyPair struct {
	Cert     *x509.Certificate
	CertPEM  []byte
	KeyPEM   []byte
	CertFile string // the certificate alone
	KeyFile  string // the private key alone (PKCS#8), mode 0600
	PEMFile  string // key then certificate in one file, for servers that want one
	TLS      tls.Certificate
}

// Hosts is what a server certificate is issued for by default: the loopback
// address every test server listens on, and its name.
var Hosts = []string{"127.0.0.1", "localhost"}

// NewCA makes a CA valid from an hour ago for a day, and writes its
// certificate to a file in t.TempDir().
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ca key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "gftp test CA", Organization: []string{"gftp tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("ca certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("ca certificate: %v", err)
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}
	ca.Path = writeFile(t, "ca-*.pem", ca.CertPEM, 0o644)
	return ca
}

// Pool returns a pool holding only the CA, for tls.Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue signs a server certificate for hosts (IP addresses go into the IP
// SANs, anything else into the DNS SANs) valid from notBefore to notAfter.
// The key is RSA-2048, which every FTP server and client here accepts.
func (ca *CA) Issue(t testing.TB, hosts []string, notBefore, notAfter time.Time) *KeyPair {
	t.Helper()
	return issue(t, hosts, notBefore, notAfter, ca.Cert, ca.Key)
}

// SelfSigned makes a server certificate for hosts that signs itself, so that
// no CA vouches for it.
func SelfSigned(t testing.TB, hosts []string, notBefore, notAfter time.Time) *KeyPair {
	t.Helper()
	return issue(t, hosts, notBefore, notAfter, nil, nil)
}

// leafKey is one RSA key shared by every leaf certificate of the test
// binary: generating RSA keys is slow, and tests do not need distinct keys.
var leafKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

func issue(t testing.TB, hosts []string, notBefore, notAfter time.Time, parent *x509.Certificate, signer crypto.Signer) *KeyPair {
	t.Helper()
	key, err := leafKey()
	if err != nil {
		t.Fatalf("server key: %v", err)
	}
	cn := "gftp test server"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"gftp tests"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if parent == nil {
		parent, signer = tmpl, key
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("server key: %v", err)
	}
	kp := &KeyPair{
		Cert:    cert,
		CertPEM: pemBlock("CERTIFICATE", der),
		KeyPEM:  pemBlock("PRIVATE KEY", keyDER),
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}
	kp.CertFile = writeFile(t, "cert-*.pem", kp.CertPEM, 0o644)
	kp.KeyFile = writeFile(t, "key-*.pem", kp.KeyPEM, 0o600)
	kp.PEMFile = writeFile(t, "keycert-*.pem", append(append([]byte{}, kp.KeyPEM...), kp.CertPEM...), 0o600)
	return kp
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFile writes data to a new file in t.TempDir() named after pattern.
func writeFile(t testing.TB, pattern string, data []byte, mode os.FileMode) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), pattern)
	if err != nil {
		t.Fatalf("write %s: %v", pattern, err)
	}
	name := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(name, mode)
	}
	if err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return filepath.Clean(name)
}
