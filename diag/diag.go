// Package diag diagnoses the connection to an FTP server, one check at a
// time, and says what to do about each problem: DNS and TCP connect, the
// banner and FEAT, TLS (explicit or implicit) with a curl-style handshake
// log, the certificate chain, and with credentials the login, PBSZ/PROT,
// a data connection in each mode (EPSV, PASV, active), whether the server
// demands TLS session reuse, and optionally a write test.
//
// It is independent of remote/: it has its own small FTP client, so that it
// can watch every step that a transport hides, and so that a bug in the
// transport cannot hide itself from the diagnosis.
package diag

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gftp/gftp/internal/proxy"
	"github.com/gftp/gftp/internal/tlstrace"
	"github.com/gftp/gftp/internal/trust"
)

// Target is the server to diagnose.
type Target struct {
	Scheme string // "ftp" (no TLS), "ftpes" (AUTH TLS) or "ftps" (implicit TLS)
	Host   string // a name or an IP address
	Port   int
	Path   string // the directory a deploy would use; "" or "/" for the login directory
}

// Address is host:port.
func (t Target) Address() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

func (t Target) String() string {
	u := url.URL{Scheme: t.Scheme, Host: t.Address(), Path: t.Path}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

// ParseURL reads ftp://, ftpes:// or ftps:// URLs (any user and password in
// them are ignored: pass them in Options). A bare HOST[:PORT][/path] means
// ftp://, as git-ftp reads it.
func ParseURL(raw string) (Target, error) {
	if !strings.Contains(raw, "://") {
		raw = "ftp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("diag: parse url: %w", err)
	}
	t := Target{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname(), Path: u.Path}
	switch t.Scheme {
	case "ftp", "ftpes":
		t.Port = 21
	case "ftps":
		t.Port = 990
	default:
		return Target{}, fmt.Errorf("diag: %s:// is not diagnosed yet; use ftp://, ftpes:// or ftps://", t.Scheme)
	}
	if t.Host == "" {
		return Target{}, fmt.Errorf("diag: no host in %q", raw)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("diag: bad port %q", p)
		}
		t.Port = n
	}
	return t, nil
}

// ParseHostPort reads HOST[:PORT] for a handshake check: explicit TLS
// (AUTH TLS) on port 21 by default, implicit TLS when the port is 990.
func ParseHostPort(s string) (Target, error) {
	if strings.Contains(s, "://") {
		return ParseURL(s)
	}
	t, err := ParseURL("ftpes://" + s)
	if err != nil {
		return t, err
	}
	if t.Port == 990 {
		t.Scheme = "ftps"
	}
	return t, nil
}

// Options are what the diagnosis knows beyond the target.
type Options struct {
	User     string // without it, no login and no data connections
	Password string // never logged, never in the report

	Insecure  bool     // accept a certificate that does not verify (warns)
	CACert    string   // PEM file of CAs to trust as well as the system's
	PinSHA256 []string // leaf fingerprints to accept (hex SHA-256)
	KeyLog    io.Writer

	DisableEPSV bool // skip the EPSV check, as gftp --disable-epsv skips EPSV
	TrustPASVIP bool // dial the address of the PASV reply, not the control connection's
	// ActiveAddr is the address announced in PORT/EPRT (a client behind
	// NAT announces its public one); default the control connection's
	// local address.
	ActiveAddr string
	// ActivePorts is the local port range to listen on, "LOW-HIGH"; default
	// any port.
	ActivePorts string
	WriteTest   bool // store, size, rename and delete a small temporary file
	// HandshakeOnly stops after the certificate, without logging in, as
	// `gftp diag handshake` does.
	HandshakeOnly bool

	// Proxy is a SOCKS5 or HTTP CONNECT proxy URL (internal/proxy) that
	// every connection goes through; "" connects directly. Its password
	// is never in the report.
	Proxy string

	// ConnectTimeout bounds the TCP connect (and DNS); default 5s.
	ConnectTimeout time.Duration
	// Timeout bounds each reply and data transfer; default 15s.
	Timeout time.Duration
	// Log receives the dialogue as it happens (the same lines the report
	// keeps), for -vv. Optional.
	Log func(line string)
	// Resolver resolves host names; nil is net.DefaultResolver.
	Resolver *net.Resolver
}

// Run diagnoses t and returns the report. It never returns nil; a failure
// is a check with Status Fail, and ctx cancellation stops it early.
func Run(ctx context.Context, t Target, o Options) *Report {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	r := &runner{ctx: ctx, t: t, o: o, rep: &Report{Target: t.String()}}
	r.run()
	return r.rep
}

type runner struct {
	ctx context.Context
	t   Target
	o   Options
	rep *Report
	cur *Check

	ips     []net.IP
	ctl     *control
	stop    func() bool // ends the context watch on ctl
	cfg     *tls.Config // this control connection's TLS, with its session cache
	policy  *policy
	trusted bool // the certificate passed the policy (or there is no TLS)
	feats   map[string]string
	prot    bool   // data connections are protected (PROT P)
	good    string // a data mode that worked: "epsv", "pasv" or "active"

	dialer        proxy.ContextDialer // nil: direct (proxy.go)
	proxyName     string              // the proxy URL, password redacted
	proxyResolves bool                // the proxy resolves the host name (socks5h, http)
}

// begin starts a check; the dialogue goes into it until the next.
func (r *runner) begin(id, title string) *Check {
	c := &Check{ID: id, Title: title, Status: OK}
	r.rep.Checks = append(r.rep.Checks, c)
	r.cur = c
	return c
}

func (r *runner) log(line string) {
	if r.cur != nil {
		r.cur.Log = append(r.cur.Log, line)
	}
	if r.o.Log != nil {
		r.o.Log(line)
	}
}

func (c *Check) set(s Status, format string, args ...any) {
	c.Status = s
	c.Summary = fmt.Sprintf(format, args...)
}

func (c *Check) advise(format string, args ...any) {
	c.Advice = append(c.Advice, fmt.Sprintf(format, args...))
}

// timed runs fn and records its duration in the current check.
func (r *runner) timed(c *Check, fn func()) {
	start := time.Now()
	fn()
	c.Elapsed = time.Since(start)
}

func (r *runner) run() {
	defer r.close()
	pol, err := newPolicy(r.t.Host, r.o)
	if err != nil {
		c := r.begin("options", "TLS options")
		c.set(Fail, "%v", err)
		return
	}
	r.policy = pol
	if _, _, err := portRange(r.o.ActivePorts); err != nil {
		c := r.begin("options", "Active mode options")
		c.set(Fail, "%v", err)
		return
	}
	if a := r.o.ActiveAddr; a != "" && net.ParseIP(a) == nil {
		c := r.begin("options", "Active mode options")
		c.set(Fail, "--active-addr %q is not an IP address", a)
		return
	}
	if !r.setupProxy() || !r.resolve() || !r.connect() {
		return
	}
	if r.t.Scheme == "ftps" {
		if !r.handshake(false) {
			return
		}
		r.certificate()
	}
	if !r.banner() {
		return
	}
	r.feat()
	switch r.t.Scheme {
	case "ftpes":
		if !r.authTLS() {
			return
		}
		r.certificate()
	case "ftp":
		r.plain()
	}
	if r.ctx.Err() != nil {
		return
	}
	if r.o.HandshakeOnly {
		r.rep.Notes = append(r.rep.Notes, "a handshake check does not log in; 'gftp diag URL' with credentials also tests the login and the data connections")
		return
	}
	if r.o.User == "" {
		c := r.begin("login", "Login")
		c.set(Skip, "no user given: login and data connections not tested")
		c.advise("give credentials to test them: --user USER with GFTP_PASSWORD, --password-command, ~/.netrc or -P")
		return
	}
	if !r.trusted {
		c := r.begin("login", "Login")
		c.set(Skip, "not attempted: the certificate is not trusted")
		c.advise("gftp never sends a password to a server it cannot verify; fix the certificate check above first")
		return
	}
	if !r.login() {
		return
	}
	if r.cfg != nil && !r.protect() {
		return
	}
	r.dataChecks()
	if r.cfg != nil && r.good != "" && r.good != "active" {
		r.reuse()
	}
	if r.o.WriteTest {
		r.writeTest()
	}
	if r.ctl != nil {
		r.cur = nil // the goodbye belongs to no check
		_ = r.ctl.send("QUIT")
		_, _, _ = r.ctl.reply()
	}
}

func (r *runner) close() {
	if r.ctl != nil {
		r.stop()
		r.ctl.conn.Close()
		r.ctl = nil
	}
	if r.ctx.Err() != nil {
		r.rep.Notes = append(r.rep.Notes, "interrupted: the checks after the last one did not run")
	}
}

// resolve is check 1a: DNS.
func (r *runner) resolve() bool {
	c := r.begin("dns", "DNS lookup of "+r.t.Host)
	if r.proxyResolves && net.ParseIP(r.t.Host) == nil {
		c.set(Skip, "not looked up here: the proxy %s resolves %s", r.proxyName, r.t.Host)
		return true
	}
	if ip := net.ParseIP(r.t.Host); ip != nil {
		r.ips = []net.IP{ip}
		c.set(OK, "%s is an IP address: no lookup needed", r.t.Host)
		return true
	}
	var addrs []net.IPAddr
	var err error
	r.timed(c, func() {
		ctx, cancel := context.WithTimeout(r.ctx, r.o.ConnectTimeout)
		defer cancel()
		addrs, err = r.o.Resolver.LookupIPAddr(ctx, r.t.Host)
	})
	if err != nil {
		c.set(Fail, "cannot resolve %s: %v", r.t.Host, unwrapDNS(err))
		c.advise("check the host name in the URL for typos")
		c.advise("check this machine's DNS: getent hosts %s", r.t.Host)
		return false
	}
	var list []string
	for _, a := range addrs {
		r.ips = append(r.ips, a.IP)
		list = append(list, a.IP.String())
	}
	c.set(OK, "%s is %s", r.t.Host, strings.Join(list, ", "))
	return true
}

func unwrapDNS(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return errors.New("no such host")
		}
		if de.IsTimeout {
			return errors.New("the DNS server did not answer in time")
		}
	}
	return err
}

// connect is check 1b: TCP connect, to each address in turn.
func (r *runner) connect() bool {
	port := r.t.Port
	c := r.begin("connect", fmt.Sprintf("TCP connect to port %d", port))
	if r.dialer != nil {
		return r.connectProxy(c)
	}
	d := net.Dialer{Timeout: r.o.ConnectTimeout}
	var conn net.Conn
	var errs []error
	var refused, timedOut bool
	r.timed(c, func() {
		for _, ip := range r.ips {
			addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
			r.log(fmt.Sprintf("*   Trying %s...", addr))
			start := time.Now()
			cn, err := d.DialContext(r.ctx, "tcp", addr)
			if err == nil {
				r.log(fmt.Sprintf("* Connected to %s (%s) port %d after %s", r.t.Host, ip, port, dur(time.Since(start))))
				conn = cn
				return
			}
			var ne net.Error
			switch {
			case errors.Is(err, syscall.ECONNREFUSED):
				refused = true
				r.log(fmt.Sprintf("* connect to %s port %d failed: Connection refused", ip, port))
			case errors.As(err, &ne) && ne.Timeout():
				timedOut = true
				r.log(fmt.Sprintf("* connect to %s port %d failed: no answer in %s", ip, port, r.o.ConnectTimeout))
			default:
				r.log(fmt.Sprintf("* connect to %s port %d failed: %v", ip, port, err))
			}
			errs = append(errs, err)
		}
	})
	if conn != nil {
		c.set(OK, "connected to %s port %d", conn.RemoteAddr().(*net.TCPAddr).IP, port)
		r.ctl = newControl(conn, r.o.Timeout, r.log)
		r.stop = context.AfterFunc(r.ctx, func() { conn.Close() })
		return true
	}
	switch {
	case r.ctx.Err() != nil:
		c.set(Fail, "interrupted")
	case refused && !timedOut:
		c.set(Fail, "connection refused: nothing listens on %s port %d, or a firewall rejects the connection", r.t.Host, port)
		c.advise("check the port: FTP and FTPES use 21, implicit FTPS (ftps://) uses 990; give another with HOST:PORT")
		c.advise("check that the FTP server is running and listening on port %d (on the server: ss -ltnp | grep :%d)", port, port)
		c.advise("if it is, a firewall rejects port %d: allow incoming TCP port %d on the server", port, port)
	case timedOut:
		c.set(Fail, "timeout: no answer from %s port %d in %s; a firewall drops the packets, or the host is down", r.t.Host, port, r.o.ConnectTimeout)
		c.advise("a firewall that drops packets looks like this: allow outgoing TCP to port %d on your side, and incoming TCP port %d on the server (its firewall, and any cloud security group)", port, port)
		c.advise("check that the host is up and that %s is its address", r.t.Host)
	default:
		c.set(Fail, "cannot connect: %v", errors.Join(errs...))
	}
	return false
}

// banner is check 2a: the greeting.
func (r *runner) banner() bool {
	c := r.begin("banner", "Server greeting")
	var code int
	var msg string
	var err error
	r.timed(c, func() { code, msg, err = r.ctl.reply() })
	switch {
	case errors.Is(err, errTimeout):
		c.set(Fail, "connected, but the server sent no greeting in %s", r.o.Timeout)
		if r.t.Scheme != "ftps" {
			c.advise("a server with implicit TLS waits silently for a TLS handshake: if it is one (usually port 990), use ftps://%s/", r.t.Address())
		}
		c.advise("otherwise something that is not an FTP server answers on port %d, or the server is overloaded", r.t.Port)
		return false
	case err != nil:
		c.set(Fail, "no greeting: %v", err)
		if errors.Is(err, io.EOF) {
			c.advise("the server closed the connection at once: it may refuse your address (tcp_wrappers, max clients per IP) or be out of processes")
		}
		return false
	case code != 220:
		c.set(Fail, "the server refuses the session: %s", lastLine(msg))
		c.advise("a 421 reply means the server is busy or limits connections (per IP or in total); try again later")
		return false
	}
	c.set(OK, "%s", strings.TrimPrefix(lastLine(msg), "220 "))
	return true
}

// feat is check 2b: FEAT.
func (r *runner) feat() {
	c := r.begin("feat", "Features (FEAT)")
	code, msg, err := r.ctl.cmd("FEAT")
	switch {
	case err != nil:
		c.set(Warn, "no answer to FEAT: %v", err)
		r.feats = map[string]string{}
		return
	case code != 211:
		c.set(Warn, "FEAT not supported (%s); an old server", lastLine(msg))
		r.feats = map[string]string{}
		return
	}
	r.feats = ParseFEAT(msg)
	var names []string
	for _, f := range []string{"AUTH", "PBSZ", "PROT", "EPSV", "EPRT", "PASV", "SIZE", "MDTM", "MLST", "UTF8", "REST"} {
		if v, ok := r.feats[f]; ok {
			if v != "" && f == "AUTH" {
				f += " " + v
			}
			names = append(names, f)
		}
	}
	c.set(OK, "%d features: %s", len(r.feats), strings.Join(names, ", "))
}

// plain is what ftp:// gets instead of TLS: a warning.
func (r *runner) plain() {
	c := r.begin("tls", "TLS")
	r.trusted = true
	if authTLS(r.feats) {
		c.set(Warn, "not used (ftp://), although the server offers AUTH TLS")
		c.advise("use ftpes://%s/ to encrypt the password and the files", r.t.Address())
		return
	}
	c.set(Warn, "not used (ftp://): the password and the files travel unencrypted")
	c.advise("if the server can, enable TLS on it and use ftpes://")
}

// authTLS is check 3 for ftpes: AUTH TLS, then the handshake.
func (r *runner) authTLS() bool {
	code, msg, err := r.ctl.cmd("AUTH TLS")
	if err != nil || code != 234 {
		c := r.begin("tls", "TLS (AUTH TLS)")
		c.Log = append(c.Log, r.lastCheckLog("AUTH TLS")...)
		if err != nil {
			c.set(Fail, "AUTH TLS: %v", err)
			return false
		}
		c.set(Fail, "the server does not offer TLS: AUTH TLS was answered %s", lastLine(msg))
		c.advise("the server speaks plain FTP only; ftpes:// needs a server with TLS enabled (vsftpd ssl_enable=YES, proftpd TLSEngine on, pure-ftpd --tls=1)")
		c.advise("ftp://%s/ would work, but sends the password and the files unencrypted", r.t.Address())
		return false
	}
	return r.handshake(true)
}

// lastCheckLog moves the dialogue of the latest command from the previous
// check to the current one (the command was sent before the check began).
func (r *runner) lastCheckLog(cmd string) []string {
	if len(r.rep.Checks) < 2 {
		return nil
	}
	prev := r.rep.Checks[len(r.rep.Checks)-2]
	for i := len(prev.Log) - 1; i >= 0; i-- {
		if prev.Log[i] == "> "+cmd {
			moved := append([]string{}, prev.Log[i:]...)
			prev.Log = prev.Log[:i]
			return moved
		}
	}
	return nil
}

// handshake is check 3: the TLS handshake on the control connection, logged
// as curl logs it. It accepts any certificate, so that the certificate
// check can show it whatever it is; whether the login may go on is the
// policy's decision (r.trusted).
func (r *runner) handshake(explicit bool) bool {
	title := "TLS (implicit)"
	if explicit {
		title = "TLS (AUTH TLS)"
	}
	c := r.begin("tls", title)
	if explicit {
		c.Log = append(c.Log, r.lastCheckLog("AUTH TLS")...)
	}
	r.cfg = r.policy.config()
	tr := tlstrace.New(r.log)
	var tc *tls.Conn
	var err error
	r.timed(c, func() {
		tc = tls.Client(tr.Conn(r.ctl.conn), tr.Config(r.cfg))
		_ = tc.SetDeadline(time.Now().Add(r.o.Timeout))
		err = tc.HandshakeContext(r.ctx)
		_ = tc.SetDeadline(time.Time{})
	})
	if err != nil {
		tr.Failed(err)
		c.set(Fail, "TLS handshake failed: %v", err)
		var re tls.RecordHeaderError
		switch {
		case errors.As(err, &re):
			if explicit {
				c.advise("the server did not answer with TLS after accepting AUTH TLS; it may be misconfigured")
			} else {
				c.advise("the server speaks plain FTP on port %d, not implicit TLS: use ftpes://%s/ (explicit TLS) or ftp://", r.t.Port, r.t.Address())
			}
		case strings.Contains(err.Error(), "protocol version"):
			c.advise("the server offers only TLS versions older than 1.2, which gftp refuses; upgrade the server's TLS configuration")
		default:
			c.advise("check the server's TLS configuration (certificate and key files, ciphers) and its log")
		}
		return false
	}
	cs := tc.ConnectionState()
	r.trusted, tr.Accepted = r.policy.decide(cs)
	if tr.Accepted == "" && !r.trusted {
		tr.Accepted = "diag only: to show the certificate; no password will be sent"
	}
	tr.Summary(cs)
	if r.trusted {
		keepResumable(r.cfg, cs)
	}
	r.ctl.setConn(tc)
	c.TLS = &TLSInfo{Version: tlstrace.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite), Verified: r.policy.verdict}
	c.set(OK, "%s / %s", c.TLS.Version, c.TLS.Cipher)
	return true
}

// certificate is check 4: the chain, its verification and what to do.
func (r *runner) certificate() {
	c := r.begin("certificate", "Server certificate")
	p := r.policy
	for i, cert := range p.chain {
		role := "server"
		if i > 0 {
			role = "intermediate"
			if tlstrace.SelfSigned(cert) {
				role = "root"
			}
		}
		c.Log = append(c.Log, fmt.Sprintf("certificate %d (%s):", i, role))
		for _, l := range tlstrace.CertLines(cert, r.t.Host) {
			c.Log = append(c.Log, "  "+l)
		}
		fp := tlstrace.Fingerprint(cert)
		c.Log = append(c.Log, "  sha256 fingerprint: "+fp)
		info := CertInfo{Subject: tlstrace.DN(cert.Subject.String()), Issuer: tlstrace.DN(cert.Issuer.String()),
			NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), SHA256: fp}
		for _, d := range cert.DNSNames {
			info.SANs = append(info.SANs, "DNS:"+d)
		}
		for _, ip := range cert.IPAddresses {
			info.SANs = append(info.SANs, "IP:"+ip.String())
		}
		c.Certificates = append(c.Certificates, info)
	}
	if len(p.chain) == 0 {
		c.set(Fail, "the server sent no certificate")
		return
	}
	leaf := p.chain[0]
	fp := tlstrace.Fingerprint(leaf)
	reason := tlstrace.Reason(p.chainErr)
	switch {
	case p.chainErr == nil:
		c.set(OK, "verified: %s, valid until %s", tlstrace.CertNames(leaf), leaf.NotAfter.UTC().Format("2006-01-02"))
		// Warn when little of its life is left: two weeks, or a quarter
		// for short-lived certificates, which are renewed more often.
		left, life := time.Until(leaf.NotAfter), leaf.NotAfter.Sub(leaf.NotBefore)
		if left < min(14*24*time.Hour, life/4) {
			c.set(Warn, "verified, but it expires in %s (on %s)", left.Round(time.Minute), leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
			c.advise("renew the server's certificate before it expires")
		}
		return
	case p.verdict == "pinned":
		c.set(OK, "accepted by --pin-sha256 (it does not verify: %s)", reason)
		return
	case p.verdict == "insecure":
		c.set(Warn, "NOT verified (%s); accepted because of --insecure", reason)
		c.advise("--insecure lets anyone on the path read the password and change the files; pin this certificate instead: --pin-sha256 %s", fp)
		return
	}
	c.set(Fail, "not trusted: %s", reason)
	var (
		he x509.HostnameError
		ci x509.CertificateInvalidError
		ua x509.UnknownAuthorityError
	)
	switch {
	case errors.As(p.chainErr, &he):
		names := tlstrace.CertNames(leaf)
		first, _, _ := strings.Cut(names, ", ")
		c.advise("connect with a name the certificate is for (%s), e.g. %s://%s/", names, r.t.Scheme, net.JoinHostPort(first, strconv.Itoa(r.t.Port)))
		c.advise("or accept this exact certificate: --pin-sha256 %s", fp)
	case errors.As(p.chainErr, &ci) && ci.Reason == x509.Expired && time.Now().Before(leaf.NotBefore):
		c.advise("check the clock of this machine and of the server (date -u): the certificate is valid from %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	case errors.As(p.chainErr, &ci) && ci.Reason == x509.Expired:
		c.advise("the certificate expired on %s: renew it on the server", leaf.NotAfter.UTC().Format("2006-01-02"))
		c.advise("until then, accept this exact certificate: --pin-sha256 %s", fp)
	case errors.As(p.chainErr, &ua) && tlstrace.SelfSigned(leaf):
		c.advise("if you trust this server, accept this exact certificate: --pin-sha256 %s", fp)
		starttls := "-starttls ftp "
		if r.t.Scheme == "ftps" {
			starttls = ""
		}
		c.advise("or trust it as its own CA: save it in PEM and pass --cacert FILE (openssl s_client %s-connect %s </dev/null | openssl x509 > server.pem)", starttls, r.t.Address())
		c.advise("better, install a certificate from a public CA (e.g. Let's Encrypt) on the server")
	case errors.As(p.chainErr, &ua):
		c.advise("trust the CA that signed it (issuer: %s): --cacert FILE with its certificate in PEM", tlstrace.DN(leaf.Issuer.String()))
		c.advise("if the CA is a public one, the server may not send its intermediate certificates: configure it to send the full chain")
		c.advise("or accept this exact certificate: --pin-sha256 %s", fp)
	default:
		c.advise("accept this exact certificate: --pin-sha256 %s", fp)
	}
	c.advise("--insecure skips the check, but then anyone on the path can read the password (not recommended)")
}

// login is check 5a.
func (r *runner) login() bool {
	c := r.begin("login", "Login as "+r.o.User)
	var ok bool
	r.timed(c, func() { ok = r.doLogin(c) })
	if !ok {
		return false
	}
	if p := strings.Trim(r.t.Path, "/"); p != "" {
		code, msg, err := r.ctl.cmd("CWD " + r.t.Path)
		switch {
		case err != nil:
			c.set(Fail, "CWD %s: %v", r.t.Path, err)
			return false
		case code/100 != 2:
			c.set(Warn, "logged in, but %s is not a directory here (%s)", r.t.Path, lastLine(msg))
			c.advise("gftp init creates it; otherwise check the path in the URL (it is relative to the login directory unless the server chroots)")
			return true
		}
	}
	return true
}

func (r *runner) doLogin(c *Check) bool {
	code, msg, err := r.ctl.cmd("USER " + r.o.User)
	if err == nil && code == 331 {
		code, msg, err = r.ctl.cmd("PASS " + r.o.Password)
	}
	switch {
	case err != nil:
		c.set(Fail, "login: %v", err)
		return false
	case code == 230:
	case code == 332:
		c.set(Fail, "the server wants an account (ACCT), which gftp does not send")
		return false
	default:
		c.set(Fail, "login refused: %s", lastLine(msg))
		low := strings.ToLower(msg)
		if r.cfg == nil && (strings.Contains(low, "encrypt") || strings.Contains(low, "tls") || strings.Contains(low, "ssl")) {
			c.advise("the server requires TLS: use ftpes://%s/", r.t.Address())
			return false
		}
		c.advise("check the user and the password (--user, GFTP_PASSWORD, --password-command, ~/.netrc, git config git-ftp.password)")
		c.advise("some servers refuse users that are not allowed FTP (vsftpd userlist, /etc/ftpusers) with the same message")
		return false
	}
	c.set(OK, "logged in as %s", r.o.User)
	if code, msg, err := r.ctl.cmd("TYPE I"); err != nil || code != 200 {
		c.set(Warn, "logged in, but TYPE I (binary) was refused: %s", lastLine(msg))
	}
	return true
}

// protect is check 5b: PBSZ and PROT P.
func (r *runner) protect() bool {
	c := r.begin("prot", "Protected data connections (PBSZ/PROT)")
	code, msg, err := r.ctl.cmd("PBSZ 0")
	if err == nil && code == 200 {
		code, msg, err = r.ctl.cmd("PROT P")
	}
	switch {
	case err != nil:
		c.set(Fail, "%v", err)
		return false
	case code != 200:
		c.set(Fail, "the server refused to protect data connections: %s", lastLine(msg))
		c.advise("without PROT P the files would travel unencrypted; enable TLS for data connections on the server")
		return false
	}
	c.set(OK, "data connections are encrypted (PROT P)")
	r.prot = true
	return true
}

// policy is how the diagnosis trusts the server, the way gftp's transports
// do (--cacert, --insecure, --pin-sha256), with what it saw.
type policy struct {
	host     string
	insecure bool
	roots    *x509.CertPool
	pins     map[string]bool

	keyLog   io.Writer
	chain    []*x509.Certificate
	chainErr error
	verdict  string // "ok", "pinned", "insecure" or "failed: REASON"
}

func newPolicy(host string, o Options) (*policy, error) {
	p := &policy{host: host, insecure: o.Insecure, keyLog: o.KeyLog}
	var err error
	if p.roots, err = trust.RootCAs(o.CACert); err != nil {
		return nil, err
	}
	if p.pins, err = trust.ParsePins(o.PinSHA256); err != nil {
		return nil, err
	}
	return p, nil
}

// config is a TLS config for one control connection and its data
// connections: its own session cache and ServerName, so that data
// connections resume the control session (STYLE.md), and verification left
// to decide, so that any certificate can be inspected.
func (p *policy) config() *tls.Config {
	return &tls.Config{
		ServerName:         p.host,
		RootCAs:            p.roots,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
		MinVersion:         tls.VersionTLS12,
		KeyLogWriter:       p.keyLog,
		InsecureSkipVerify: true, //nolint:gosec // decide verifies, and no password goes out unless it passed
	}
}

// decide verifies the control connection's certificate: trusted reports
// whether gftp would go on, and accepted names why when it did not verify.
func (p *policy) decide(cs tls.ConnectionState) (trusted bool, accepted string) {
	p.chain = cs.PeerCertificates
	p.chainErr = tlstrace.Verify(cs, p.roots, p.host)
	switch {
	case p.chainErr == nil:
		p.verdict = "ok"
		return true, ""
	case len(p.chain) > 0 && p.pins[tlstrace.Fingerprint(p.chain[0])]:
		p.verdict = "pinned"
		return true, "--pin-sha256"
	case p.insecure:
		p.verdict = "insecure"
		return true, "--insecure"
	}
	p.verdict = "failed: " + tlstrace.Reason(p.chainErr)
	return false, ""
}

// keepResumable lets data connections resume the control session when the
// accepted certificate has expired: crypto/tls refuses to resume a session
// whose certificate has expired, whatever InsecureSkipVerify says, and
// servers that demand reuse then refuse every data connection (vsftpd 522,
// proftpd 425). Config.Time serves only session bookkeeping here, since
// verification is ours and reads the real clock.
func keepResumable(cfg *tls.Config, cs tls.ConnectionState) {
	if len(cs.PeerCertificates) == 0 {
		return
	}
	leaf := cs.PeerCertificates[0]
	now := time.Now()
	if !now.After(leaf.NotAfter) {
		return
	}
	shift := now.Sub(leaf.NotAfter) + time.Minute
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 2*time.Minute {
		shift = now.Sub(leaf.NotAfter) + d/2
	}
	cfg.Time = func() time.Time { return time.Now().Add(-shift) }
}
