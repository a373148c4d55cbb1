// Package diag diagnoses the connection to an FTP server, one check at a
// time, and says what to do about each problem: DNS and TCP connect, the
// banner and FEAT, TLS (explicit or implicit) with a curl-style handshake
// log, the certificate chain, and with credentials the login, PBSZ/PROT,
// a data connection in each mode (EPSV, PASV, active), whether the server
// demands TLS session reuse, and optionally a write test.
//
// It is independent of remote/, and speaks FTP through internal/ftpconn,
// the protocol code of gftp's FTP transport (the same login batch, data
// channels and TLS), one step at a time, so that it watches every step a
// transport hides and diagnoses what a deploy does.
package diag

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
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

	ips       []net.IP
	raw       net.Conn      // the control connection the connect check opened
	peer      net.IP        // where it goes (the proxy, through one)
	ctl       *ftpconn.Conn // the control connection, once the greeting is in
	stop      func() bool   // ends the context watch on ctl
	activeCfg *ftpconn.Active
	policy    *policy
	feats     map[string]string
	prot      bool   // data connections are protected (PROT P)
	good      string // a data mode that worked: "epsv", "pasv" or "active"

	// mu guards what ftpconn's callbacks (the TLS hook, the dialer of
	// passive connections, which runs on its own goroutine) share with
	// the checks, and the current check's log.
	mu        sync.Mutex
	trusted   bool   // the certificate passed the policy (or there is no TLS)
	accepted  string // why a certificate that did not verify was used
	ctlTLS    *tls.ConnectionState
	announced net.IP // the address in the last passive reply
	// next, while ftpconn.Dial runs, begins the check a dialogue line
	// belongs to (the greeting, then TLS, or the other way round).
	next func(line string)
	// quietNext drops ftpconn's "* Connected" line: the connect check
	// has it.
	quietNext bool
	muted     bool // a second session logs in: not in the report

	dialer        proxy.ContextDialer // nil: direct (proxy.go)
	proxyName     string              // the proxy URL, password redacted
	proxyResolves bool                // the proxy resolves the host name (socks5h, http)
}

// begin starts a check; the dialogue goes into it until the next.
func (r *runner) begin(id, title string) *Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = r.newCheck(id, title)
	return r.cur
}

func (r *runner) log(line string) {
	r.mu.Lock()
	if r.muted || r.quietNext && strings.HasPrefix(line, "* Connected to ") {
		r.quietNext = false
		r.mu.Unlock()
		return
	}
	line = strings.ReplaceAll(line, acceptedMark, r.accepted)
	if r.next != nil {
		r.next(line)
	}
	if r.cur != nil {
		r.cur.Log = append(r.cur.Log, line)
	}
	r.mu.Unlock()
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
	if r.activeCfg, err = ftpconn.ParseActive(r.o.ActiveAddr, r.o.ActivePorts); err != nil {
		c := r.begin("options", "Active mode options")
		c.set(Fail, "%v", err)
		return
	}
	if !r.setupProxy() || !r.resolve() || !r.connect() || !r.greet() {
		return
	}
	r.feat()
	if r.t.Scheme == "ftp" {
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
	r.dataChecks()
	if r.secure() && r.good != "" && r.good != "active" {
		r.reuse()
	}
	if r.o.WriteTest {
		r.writeTest()
	}
}

// secure reports whether the control connection is over TLS.
func (r *runner) secure() bool { return r.t.Scheme != "ftp" }

func (r *runner) close() {
	r.mu.Lock()
	r.cur = nil // the goodbye belongs to no check
	r.mu.Unlock()
	switch {
	case r.ctl != nil:
		r.stop()
		_ = r.ctl.Close() // QUIT, when the dialogue is in step
		r.ctl = nil
	case r.raw != nil:
		r.raw.Close()
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
		r.raw, r.peer = conn, conn.RemoteAddr().(*net.TCPAddr).IP
		c.set(OK, "connected to %s port %d", r.peer, port)
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

// greet is checks 2a and 3: ftpconn takes over the control connection and
// reads the greeting, and secures it with TLS (explicit: AUTH TLS after the
// greeting; implicit: before it), as a deploy does. Its dialogue is split
// into the checks it belongs to as it arrives; the certificate is judged
// during the handshake (tlsConfig) and shown by the certificate check.
func (r *runner) greet() bool {
	var tlsCfg *tls.Config
	first := r.begin("banner", "Server greeting")
	switch r.t.Scheme {
	case "ftpes":
		tlsCfg = r.tlsConfig(true)
		r.next = func(line string) {
			if line == "> AUTH TLS" && r.cur.ID == "banner" {
				r.cur.Elapsed = time.Since(r.cur.start)
				r.cur = r.newCheck("tls", "TLS (AUTH TLS)")
			}
		}
	case "ftps":
		tlsCfg = r.tlsConfig(true)
		first.ID, first.Title = "tls", "TLS (implicit)"
		r.next = func(line string) {
			if strings.HasPrefix(line, "< ") && r.cur.ID == "tls" {
				r.cur.Elapsed = time.Since(r.cur.start)
				r.cur = r.newCheck("banner", "Server greeting")
			}
		}
	}
	r.quietNext = true
	d := &dialer{r: r, first: r.raw}
	ctl, err := ftpconn.Dial(r.ctx, r.ftpConfig(d, slog.New(dialogue{r}), tlsCfg))
	r.mu.Lock()
	r.next, r.quietNext = nil, false
	cur := r.cur
	cur.Elapsed = time.Since(cur.start)
	r.mu.Unlock()
	if ctl != nil {
		r.ctl = ctl
		r.stop = context.AfterFunc(r.ctx, ctl.Abort)
	}
	if tc := r.rep.Check("tls"); tc != nil && r.ctlTLS != nil {
		cs := r.ctlTLS
		tc.TLS = &TLSInfo{Version: tlstrace.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite), Verified: r.policy.verdict}
		tc.set(OK, "%s / %s", tc.TLS.Version, tc.TLS.Cipher)
		// The certificate check follows the handshake's.
		r.certificate()
		r.moveAfter("tls", r.rep.Checks[len(r.rep.Checks)-1])
	}
	if b := r.rep.Check("banner"); b != nil && strings.HasPrefix(lastReply(b), "220") && (err == nil || b != cur) {
		b.set(OK, "%s", strings.TrimPrefix(lastReply(b), "220 "))
	}
	if err == nil {
		return true
	}
	switch {
	case r.ctx.Err() != nil:
		cur.set(Fail, "interrupted")
	case cur.ID == "banner":
		r.bannerFailed(cur, err)
	case errors.Is(err, ftpconn.ErrTLSRefused):
		cur.set(Fail, "the server does not offer TLS: AUTH TLS was answered %s", lastReply(cur))
		cur.advise("the server speaks plain FTP only; ftpes:// needs a server with TLS enabled (vsftpd ssl_enable=YES, proftpd TLSEngine on, pure-ftpd --tls=1)")
		cur.advise("ftp://%s/ would work, but sends the password and the files unencrypted", r.t.Address())
	default:
		r.handshakeFailed(cur, err)
	}
	return false
}

// newCheck is begin for a caller that holds r.mu.
func (r *runner) newCheck(id, title string) *Check {
	c := &Check{ID: id, Title: title, Status: OK, start: time.Now()}
	r.rep.Checks = append(r.rep.Checks, c)
	return c
}

// moveAfter moves check c to just after the check with ID id.
func (r *runner) moveAfter(id string, c *Check) {
	r.dropCheck(c)
	out := make([]*Check, 0, len(r.rep.Checks)+1)
	for _, x := range r.rep.Checks {
		out = append(out, x)
		if x.ID == id {
			out = append(out, c)
		}
	}
	r.rep.Checks = out
}

// dropCheck removes check c (nil: none) from the report.
func (r *runner) dropCheck(c *Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.rep.Checks[:0]
	for _, x := range r.rep.Checks {
		if x != c {
			out = append(out, x)
		}
	}
	r.rep.Checks = out
	if r.cur == c && len(out) > 0 {
		r.cur = out[len(out)-1]
	}
}

// bannerFailed explains a greeting that did not come, or refused.
func (r *runner) bannerFailed(c *Check, err error) {
	var te *textproto.Error
	switch {
	case timeout(err):
		c.set(Fail, "connected, but the server sent no greeting in %s", r.o.Timeout)
		if r.t.Scheme != "ftps" {
			c.advise("a server with implicit TLS waits silently for a TLS handshake: if it is one (usually port 990), use ftps://%s/", r.t.Address())
		}
		c.advise("otherwise something that is not an FTP server answers on port %d, or the server is overloaded", r.t.Port)
	case errors.As(err, &te):
		c.set(Fail, "the server refuses the session: %s", replyText(te.Code, te.Msg))
		c.advise("a 421 reply means the server is busy or limits connections (per IP or in total); try again later")
	default:
		c.set(Fail, "no greeting: %v", err)
		if errors.Is(err, io.EOF) {
			c.advise("the server closed the connection at once: it may refuse your address (tcp_wrappers, max clients per IP) or be out of processes")
		}
	}
}

// handshakeFailed explains a TLS handshake on the control connection that
// failed.
func (r *runner) handshakeFailed(c *Check, err error) {
	c.set(Fail, "TLS handshake failed: %v", strings.TrimPrefix(err.Error(), "tls handshake: "))
	var re tls.RecordHeaderError
	switch {
	case errors.As(err, &re):
		if r.t.Scheme == "ftpes" {
			c.advise("the server did not answer with TLS after accepting AUTH TLS; it may be misconfigured")
		} else {
			c.advise("the server speaks plain FTP on port %d, not implicit TLS: use ftpes://%s/ (explicit TLS) or ftp://", r.t.Port, r.t.Address())
		}
	case strings.Contains(err.Error(), "protocol version"):
		c.advise("the server offers only TLS versions older than 1.2, which gftp refuses; upgrade the server's TLS configuration")
	default:
		c.advise("check the server's TLS configuration (certificate and key files, ciphers) and its log")
	}
}

// feat is check 2b: FEAT (over TLS for ftpes://, as a deploy sends it).
func (r *runner) feat() {
	c := r.begin("feat", "Features (FEAT)")
	rs, err := r.ctl.Do("FEAT")
	switch {
	case err != nil:
		c.set(Warn, "no answer to FEAT: %v", err)
		r.feats = map[string]string{}
		return
	case rs[0].Code != 211:
		c.set(Warn, "FEAT not supported (%s); an old server", replyText(rs[0].Code, rs[0].Msg))
		r.feats = map[string]string{}
		return
	}
	r.feats = features(rs[0])
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

// login is checks 5a and 5b: the login batch a deploy sends (USER, PASS,
// FEAT, TYPE I, and over TLS PBSZ 0 and PROT P, in one write), then CWD.
func (r *runner) login() bool {
	c := r.begin("login", "Login as "+r.o.User)
	var err error
	r.timed(c, func() { _, err = r.ctl.Login(r.o.User, r.o.Password) })
	var prot *Check
	if r.secure() {
		prot = r.begin("prot", "Protected data connections (PBSZ/PROT)")
	}
	var te *textproto.Error
	var step *ftpconn.StepError
	isStep := errors.As(err, &step)
	switch {
	case err == nil:
		c.set(OK, "logged in as %s", r.o.User)
	case isStep && step.Cmd == "TYPE I":
		c.set(Warn, "logged in, but TYPE I (binary) was refused: %s", errReply(err))
	case isStep && step.Cmd == "PROT P" && prot != nil:
		c.set(OK, "logged in as %s", r.o.User)
		prot.set(Fail, "the server refused to protect data connections: %s", errReply(err))
		prot.advise("without PROT P the files would travel unencrypted; enable TLS for data connections on the server")
		return false
	case !errors.As(err, &te):
		c.set(Fail, "login: %v", err)
		r.dropCheck(prot)
		return false
	case te.Code == 332:
		c.set(Fail, "the server wants an account (ACCT), which gftp does not send")
		r.dropCheck(prot)
		return false
	default:
		r.dropCheck(prot)
		c.set(Fail, "login refused: %s", replyText(te.Code, te.Msg))
		low := strings.ToLower(te.Msg)
		if !r.secure() && (strings.Contains(low, "encrypt") || strings.Contains(low, "tls") || strings.Contains(low, "ssl")) {
			c.advise("the server requires TLS: use ftpes://%s/", r.t.Address())
			return false
		}
		c.advise("check the user and the password (--user, GFTP_PASSWORD, --password-command, ~/.netrc, git config git-ftp.password)")
		c.advise("some servers refuse users that are not allowed FTP (vsftpd userlist, /etc/ftpusers) with the same message")
		return false
	}
	if prot != nil {
		prot.set(OK, "data connections are encrypted (PROT P)")
		r.prot = true
	}
	if p := strings.Trim(r.t.Path, "/"); p != "" {
		r.mu.Lock()
		r.cur = c
		r.mu.Unlock()
		rs, err := r.ctl.Do("CWD " + r.t.Path)
		switch {
		case err != nil:
			c.set(Fail, "CWD %s: %v", r.t.Path, err)
			return false
		case rs[0].Code/100 != 2:
			c.set(Warn, "logged in, but %s is not a directory here (%s)", r.t.Path, replyText(rs[0].Code, rs[0].Msg))
			c.advise("gftp init creates it; otherwise check the path in the URL (it is relative to the login directory unless the server chroots)")
		}
	}
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

// config is a TLS template for one control connection and its data
// connections (ftpconn gives each connection its own session cache and
// ServerName), with verification left to decide, so that any certificate
// can be inspected.
func (p *policy) config() *tls.Config {
	return &tls.Config{
		ServerName:         p.host,
		RootCAs:            p.roots,
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
