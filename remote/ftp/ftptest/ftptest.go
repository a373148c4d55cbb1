// Package ftptest runs an in-process FTP server that serves a directory, for
// tests and for demonstrations (make demo). It is built on
// github.com/fclairamb/ftpserverlib, listens on loopback only, and can speak
// explicit or implicit TLS with a certificate it makes up, signed by a CA of
// its own that CACertFile names.
package ftptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// TLSMode is how the server offers TLS.
type TLSMode int

// TLS modes.
const (
	NoTLS       TLSMode = iota // clear text only; AUTH TLS is refused
	ExplicitTLS                // AUTH TLS offered, clear text allowed
	RequireTLS                 // AUTH TLS required before login and for transfers
	ImplicitTLS                // TLS from the first byte (ftps://)
)

// Config configures a Server. The zero value serves clear text FTP to any
// user and password.
type Config struct {
	User     string // when set, only this user may log in
	Password string // the password of User
	TLS      TLSMode
	// Certificate overrides the generated one.
	Certificate *tls.Certificate
	// Addr is where to listen; "127.0.0.1:0" when empty.
	Addr string
	// MaxConns makes the server answer "421 Too many connections" beyond
	// this many simultaneous control connections (0: no limit).
	MaxConns int
	// DisableMLST hides MLST and MLSD, like vsftpd.
	DisableMLST bool
	// NoRenameOver makes RNTO fail when the target exists, as some
	// servers (and Windows file systems) do.
	NoRenameOver bool
	// IdleTimeout closes control connections idle this long (default 300s;
	// whole seconds).
	IdleTimeout time.Duration
	// Logger receives the server's own logs (discarded when nil).
	Logger *slog.Logger
	// RenameDelay makes each rename (the end of every upload gftp makes)
	// take this long: a slow server, to interrupt a deploy in the middle.
	RenameDelay time.Duration
}

// Server is a running FTP server.
type Server struct {
	cfg    Config
	root   string
	ftp    *ftpserver.FtpServer
	ln     *limitListener
	tlsCfg *tls.Config
	dir    string // holds the CA certificate file
	caFile string
	done   chan error
	once   sync.Once
}

// Start serves root (which must exist) until Close.
func Start(root string, cfg Config) (*Server, error) {
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("ftptest: %s is not a directory", root)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, root: root, done: make(chan error, 1)}
	if cfg.TLS != NoTLS {
		if err := s.setupTLS(); err != nil {
			s.cleanup()
			return nil, err
		}
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s.ln = &limitListener{Listener: l, max: cfg.MaxConns}
	var ln net.Listener = s.ln
	if cfg.TLS == ImplicitTLS {
		ln = tls.NewListener(ln, s.tlsCfg)
	}
	drv := &driver{s: s, listener: ln}
	s.ftp = ftpserver.NewFtpServer(drv)
	if cfg.Logger != nil {
		s.ftp.Logger = cfg.Logger
	}
	if err := s.ftp.Listen(); err != nil {
		l.Close()
		s.cleanup()
		return nil, err
	}
	go func() { s.done <- s.ftp.Serve() }()
	return s, nil
}

// Addr returns the host:port of the control connection.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's URL (ftp://, ftpes:// or ftps://) with the root
// as its path and no user in it.
func (s *Server) URL() string {
	scheme := "ftp"
	switch s.cfg.TLS {
	case ExplicitTLS, RequireTLS:
		scheme = "ftpes"
	case ImplicitTLS:
		scheme = "ftps"
	}
	return (&url.URL{Scheme: scheme, Host: s.Addr(), Path: "/"}).String()
}

// Root returns the directory served.
func (s *Server) Root() string { return s.root }

// CACertFile returns a PEM file holding the CA that signed the server's
// generated certificate ("" without TLS or with Config.Certificate).
func (s *Server) CACertFile() string { return s.caFile }

// Leaf returns the server's certificate (nil without TLS).
func (s *Server) Leaf() *x509.Certificate {
	if s.tlsCfg == nil || len(s.tlsCfg.Certificates) == 0 {
		return nil
	}
	c := s.tlsCfg.Certificates[0]
	if c.Leaf != nil {
		return c.Leaf
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	return leaf
}

// Conns returns the number of control connections open now.
func (s *Server) Conns() int { return s.ln.count() }

// MaxSeen returns the largest number of control connections open at once.
func (s *Server) MaxSeen() int {
	s.ln.mu.Lock()
	defer s.ln.mu.Unlock()
	return s.ln.peak
}

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.ftp.Stop()
		s.ln.closeAll()
		s.cleanup()
	})
	return err
}

func (s *Server) cleanup() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func (s *Server) setupTLS() error {
	if s.cfg.Certificate != nil {
		s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{*s.cfg.Certificate}, MinVersion: tls.VersionTLS12}
		return nil
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gftp ftptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	s.tlsCfg = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: leaf}},
		MinVersion:   tls.VersionTLS12,
	}
	if s.dir, err = os.MkdirTemp("", "ftptest-"); err != nil {
		return err
	}
	s.caFile = filepath.Join(s.dir, "ca.pem")
	return os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o644)
}

// driver is the ftpserverlib main driver.
type driver struct {
	s        *Server
	listener net.Listener
}

func (d *driver) GetSettings() (*ftpserver.Settings, error) {
	idle := 300
	if d.s.cfg.IdleTimeout > 0 {
		idle = max(1, int(d.s.cfg.IdleTimeout/time.Second))
	}
	st := &ftpserver.Settings{
		Listener:    d.listener,
		Banner:      "gftp ftptest",
		DisableMLSD: d.s.cfg.DisableMLST,
		DisableMLST: d.s.cfg.DisableMLST,
		IdleTimeout: idle,
		// Active mode connects back from any port, not 20.
		ActiveTransferPortNon20: true,
	}
	switch d.s.cfg.TLS {
	case RequireTLS:
		st.TLSRequired = ftpserver.MandatoryEncryption
	case ImplicitTLS:
		st.TLSRequired = ftpserver.ImplicitEncryption
	}
	return st, nil
}

func (d *driver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "gftp ftptest ready", nil
}

func (d *driver) ClientDisconnected(ftpserver.ClientContext) {}

var errAuth = errors.New("login incorrect")

func (d *driver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if d.s.cfg.User != "" && (user != d.s.cfg.User || pass != d.s.cfg.Password) {
		return nil, errAuth
	}
	var fs afero.Fs = afero.NewBasePathFs(afero.NewOsFs(), d.s.root)
	if d.s.cfg.RenameDelay > 0 {
		fs = slowRename{fs, d.s.cfg.RenameDelay}
	}
	if d.s.cfg.NoRenameOver {
		return noRenameOver{fs}, nil
	}
	return fs, nil
}

// slowRename waits before each rename.
type slowRename struct {
	afero.Fs
	delay time.Duration
}

func (f slowRename) Rename(oldname, newname string) error {
	time.Sleep(f.delay)
	return f.Fs.Rename(oldname, newname)
}

// noRenameOver refuses to rename onto an existing name.
type noRenameOver struct{ afero.Fs }

func (f noRenameOver) Rename(oldname, newname string) error {
	if _, err := f.Stat(newname); err == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrExist}
	}
	return f.Fs.Rename(oldname, newname)
}

func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.s.tlsCfg == nil {
		return nil, errors.New("TLS is not enabled on this server")
	}
	return d.s.tlsCfg, nil
}

// limitListener counts control connections and turns away those beyond max
// with a 421 reply, as vsftpd does with max_clients.
type limitListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[*countedConn]bool
	peak  int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.conns == nil {
			l.conns = map[*countedConn]bool{}
		}
		if l.max > 0 && len(l.conns) >= l.max {
			l.mu.Unlock()
			go func() {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, "421 Too many connections, try later.\r\n")
				c.Close()
			}()
			continue
		}
		cc := &countedConn{Conn: c, l: l}
		l.conns[cc] = true
		if len(l.conns) > l.peak {
			l.peak = len(l.conns)
		}
		l.mu.Unlock()
		return cc, nil
	}
}

func (l *limitListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *limitListener) closeAll() {
	l.mu.Lock()
	var all []*countedConn
	for c := range l.conns {
		all = append(all, c)
	}
	l.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
