package servers

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// What the FTP servers here do, measured with Go's crypto/tls client
// (TestFTP, TestSessionReuseRequired, TestVsftpdTLS13CarelessClose):
//
//   - vsftpd (3.0.3) and proftpd (1.3.8, mod_tls) refuse a data connection
//     whose TLS session does not resume the control connection's: vsftpd
//     answers "522 SSL connection failed: session reuse required" (and drops
//     the control connection), proftpd "425 Unable to build data connection:
//     Operation not permitted" (and carries on). A tls.Config with its own ClientSessionCache
//     and ServerName resumes, over TLS 1.2 and 1.3, in passive and active
//     mode. pure-ftpd requires nothing; it resumes over TLS 1.2 but not 1.3.
//   - vsftpd over TLS 1.3 sends session tickets on each data connection. A
//     client that closes an upload without reading them makes its kernel
//     send a RST, and vsftpd answers "426 Failure reading network stream"
//     (every time for 2 MiB here, curl included). Send close_notify,
//     half-close TCP, drain to EOF, then close.
//   - Debian 12's curl (so git-ftp) over TLS 1.3 to proftpd: the second data
//     connection of one control connection does not resume, and proftpd
//     refuses it ("client did not reuse TLS session"); over TLS 1.2 it works.
//     Go's client resumes every time (its cache keeps the newest ticket).
//   - vsftpd 3.0.3 has no switch for TLS versions, and its default
//     ssl_ciphers (DES-CBC3-SHA) is refused by OpenSSL 3: the config sets
//     ssl_ciphers, and TLS 1.2-only comes from an OPENSSL_CONF MaxProtocol.
//   - vsftpd changes into the user's home before local_root, so the system
//     user's home must exist ("500 OOPS: cannot change directory").
//   - pure-pw hashes with argon2id at about 3 s of CPU, and pure-ftpd pays
//     that again at every login; a crypt(3) SHA-512 hash is accepted too and
//     costs milliseconds. Per-user quotas from the puredb work without -n;
//     an upload over quota is stored, then removed, with "552 Quota
//     exceeded: [name] won't be saved" after the data is sent.
//   - pure-ftpd logs only to syslog, so its failures show little here.

// Kind names one configuration of a real FTP server.
type Kind string

// The FTP server configurations Start knows. Every one listens on 127.0.0.1,
// allows passive mode on a loopback port range and, unless PassiveOnly is
// given, active mode (PORT/EPRT) too.
const (
	// VsftpdPlain is vsftpd without TLS: ftp://.
	VsftpdPlain Kind = "vsftpd-plain"
	// VsftpdFTPES12 is vsftpd with explicit TLS (AUTH TLS), required for
	// login and data, TLS session reuse required on the data connection
	// (require_ssl_reuse=YES), and TLS 1.2 only: ftpes://.
	VsftpdFTPES12 Kind = "vsftpd-ftpes-tls12"
	// VsftpdFTPES13 is VsftpdFTPES12 that also offers TLS 1.3, which a
	// client that can will negotiate.
	VsftpdFTPES13 Kind = "vsftpd-ftpes-tls13"
	// VsftpdImplicit is vsftpd with implicit TLS (implicit_ssl=YES): ftps://.
	VsftpdImplicit Kind = "vsftpd-implicit"
	// PureFTPdTLS is pure-ftpd with explicit TLS required on control and data
	// (-Y 3) and a virtual user from a puredb file: ftpes://.
	PureFTPdTLS Kind = "pure-ftpd-tls"
	// ProFTPdTLS is proftpd with mod_tls, TLSRequired on, and its default
	// requirement that the data connection resumes the control connection's
	// TLS session: ftpes://.
	ProFTPdTLS Kind = "proftpd-tls"
)

// FTPKinds returns every FTP server configuration, in a stable order.
func FTPKinds() []Kind {
	return []Kind{VsftpdPlain, VsftpdFTPES12, VsftpdFTPES13, VsftpdImplicit, PureFTPdTLS, ProFTPdTLS}
}

// TLS reports whether the kind speaks TLS.
func (k Kind) TLS() bool { return k != VsftpdPlain }

// Scheme is the URL scheme of the kind: ftp, ftpes (explicit TLS) or ftps
// (implicit TLS).
func (k Kind) Scheme() string {
	switch k {
	case VsftpdPlain:
		return "ftp"
	case VsftpdImplicit:
		return "ftps"
	}
	return "ftpes"
}

// CertKind chooses the server certificate.
type CertKind int

const (
	// CertValid is signed by the test CA (Server.CACert), for 127.0.0.1 and
	// localhost, and valid now. The default.
	CertValid CertKind = iota
	// CertSelfSigned signs itself: no CA vouches for it, and the test CA in
	// Server.CACert did not sign it.
	CertSelfSigned
	// CertExpired is signed by the test CA but expired yesterday.
	CertExpired
	// CertWrongHost is signed by the test CA and valid now, but only for
	// the name wrong.invalid, not for 127.0.0.1 or localhost.
	CertWrongHost
)

func (c CertKind) String() string {
	switch c {
	case CertValid:
		return "valid"
	case CertSelfSigned:
		return "self-signed"
	case CertExpired:
		return "expired"
	case CertWrongHost:
		return "wrong-host"
	}
	return "CertKind(" + strconv.Itoa(int(c)) + ")"
}

// Option changes how Start configures a server.
type Option func(*config)

type config struct {
	cert        CertKind
	ca          *CA
	passiveOnly bool
	quota       int64
	maxPerIP    int
	netns       string // run in this network namespace
	listenIP    string // listen (and answer PASV) on this address instead of 127.0.0.1
	onePort     bool   // a passive range of one port
	certHosts   []string
}

// CertHosts adds names to the valid certificate's (CertValid), for a
// server reached under a name only a proxy resolves.
func CertHosts(names ...string) Option {
	return func(cfg *config) { cfg.certHosts = append(cfg.certHosts, names...) }
}

// WithCert chooses the server certificate (CertValid when not given).
func WithCert(c CertKind) Option { return func(cfg *config) { cfg.cert = c } }

// WithCA makes the server certificate with ca instead of a fresh test CA,
// for tests that start several servers and want one CACert for all.
func WithCA(ca *CA) Option { return func(cfg *config) { cfg.ca = ca } }

// PassiveOnly makes the server refuse active mode (PORT and EPRT).
// pure-ftpd has no switch for that, so Start fails the test for PureFTPdTLS.
func PassiveOnly() Option { return func(cfg *config) { cfg.passiveOnly = true } }

// Quota limits the user to a total of bytes in Root, after which an upload
// fails the way a full disk does. Only PureFTPdTLS supports it (a per-user
// virtual quota); Start fails the test for any other kind.
func Quota(bytes int64) Option { return func(cfg *config) { cfg.quota = bytes } }

// OnePassivePort gives the server a passive range of a single port, so that
// every EPSV of a session names the port the previous one did: the case in
// which a data connection meant for one listener can reach the next.
func OnePassivePort() Option { return func(cfg *config) { cfg.onePort = true } }

// MaxPerIP makes the server refuse more than n control connections from one
// address at a time, as shared hosts do: vsftpd's max_per_ip, which answers
// "421 There are too many connections from your internet address." Only the
// vsftpd kinds support it; Start fails the test for any other.
func MaxPerIP(n int) Option { return func(cfg *config) { cfg.maxPerIP = n } }

// InNetns runs the server in the network namespace ns (made by the caller,
// with `ip netns add`), listening and answering PASV on ip, an address of
// that namespace. Server.Addr and URL name ip; the caller reaches them from
// a namespace that routes to it. Only the vsftpd kinds support it.
func InNetns(ns, ip string) Option {
	return func(cfg *config) { cfg.netns, cfg.listenIP = ns, ip }
}

// The account every FTP server here logs in. vsftpd authenticates it against
// the system (PAM), so .ci/install-servers.sh makes it with this password;
// pure-ftpd and proftpd carry it as a virtual user with the same uid, so
// every server writes files owned by it.
const (
	ftpUser     = "gftp-ftp"
	ftpPassword = "gftp-ftp-password"
	// ftpPasswordCrypt is `openssl passwd -6 -salt gftptestsalt` of
	// ftpPassword, for proftpd's AuthUserFile.
	ftpPasswordCrypt = "$6$gftptestsalt$Mq9lbKaW65FWzkMKGau9pvcl3bWwpJInadad8spsXow.PoN.RRULgsTPulV2.hOTN8NDbznqAAcz/nUrsytrA."
	// vsftpdPAMService is the PAM service install-servers.sh writes.
	vsftpdPAMService = "gftp-vsftpd"
)

const installHint = "run .ci/install-servers.sh as root"

// ServersDir is where .ci/install-servers.sh unpacks the server packages:
// $GFTP_SERVERS_DIR, or /opt/gftp-servers.
func ServersDir() string {
	if d := os.Getenv("GFTP_SERVERS_DIR"); d != "" {
		return d
	}
	return "/opt/gftp-servers"
}

// findBinary finds rel (e.g. "usr/sbin/vsftpd") in the unpacked package
// pkg, or else its base name on PATH.
func findBinary(pkg, rel string) (string, bool) {
	p := filepath.Join(ServersDir(), pkg, rel)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p, true
	}
	if p, err := exec.LookPath(filepath.Base(rel)); err == nil {
		return p, true
	}
	if p := filepath.Join("/", rel); fileExists(p) {
		return p, true
	}
	return "", false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Start starts a fresh server of the given kind, with an empty Root, for the
// rest of the test, and returns once it has sent its 220 banner. The server
// is stopped, and its directories removed, when the test ends; if the test
// failed, the tail of the server's logs is written to the test log.
func Start(t testing.TB, kind Kind, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.quota > 0 && kind != PureFTPdTLS {
		t.Fatalf("servers: Quota is supported by %s only, not %s", PureFTPdTLS, kind)
	}
	if (cfg.maxPerIP > 0 || cfg.netns != "") && !strings.HasPrefix(string(kind), "vsftpd") {
		t.Fatalf("servers: MaxPerIP and InNetns are supported by vsftpd only, not %s", kind)
	}
	if cfg.passiveOnly && kind == PureFTPdTLS {
		t.Fatalf("servers: PassiveOnly is not supported by %s", kind)
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "real FTP servers must be started as root", "run the tests as root")
	}
	acct := lookupAccount(t)

	dir := t.TempDir()
	root := makeRoot(t, acct)
	port, ports := reservePorts(t)
	if cfg.onePort {
		ports[1] = ports[0]
	}
	ip := "127.0.0.1"
	if cfg.listenIP != "" {
		ip = cfg.listenIP
	}
	s := &Server{
		Name:     string(kind),
		User:     ftpUser,
		Password: ftpPassword,
		Root:     root,
		Addr:     net.JoinHostPort(ip, strconv.Itoa(port)),
	}
	s.URL = kind.Scheme() + "://" + s.Addr + "/"
	r := &run{t: t, kind: kind, cfg: cfg, dir: dir, srv: s, acct: acct, port: port, pasv: ports}
	if kind.TLS() {
		r.makeCert()
	}

	switch kind {
	case VsftpdPlain, VsftpdFTPES12, VsftpdFTPES13, VsftpdImplicit:
		r.vsftpd()
	case PureFTPdTLS:
		r.pureftpd()
	case ProFTPdTLS:
		r.proftpd()
	default:
		t.Fatalf("servers: unknown FTP kind %q", kind)
	}
	r.start()
	logs.Lock()
	logs.m[s] = r
	logs.Unlock()
	t.Cleanup(func() {
		logs.Lock()
		delete(logs.m, s)
		logs.Unlock()
	})
	return s
}

var logs = struct {
	sync.Mutex
	m map[*Server]*run
}{m: map[*Server]*run{}}

// Logs returns what a server that Start started has logged so far (the last
// 64 KiB of each log file, headed by its name), for tests that check what
// the server saw: vsftpd logs the FTP dialogue and TLS details, proftpd its
// TLSLog, pure-ftpd only its transfers. It is "" for other servers.
func Logs(s *Server) string {
	logs.Lock()
	r := logs.m[s]
	logs.Unlock()
	if r == nil {
		return ""
	}
	return r.logTail(64 << 10)
}

// run is one server being set up.
type run struct {
	t    testing.TB
	kind Kind
	cfg  config
	dir  string // config, certificates, logs
	srv  *Server
	acct account
	port int
	pasv [2]int // passive port range, inclusive

	cert *KeyPair
	cmd  *exec.Cmd
	env  []string
	logs []string // files worth showing when something fails
}

type account struct {
	uid, gid int
}

func lookupAccount(t testing.TB) account {
	t.Helper()
	u, err := user.Lookup(ftpUser)
	if err != nil {
		Unavailable(t, "system user "+ftpUser+" does not exist", installHint)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("servers: user %s has uid %q gid %q", ftpUser, u.Uid, u.Gid)
	}
	return account{uid, gid}
}

// makeRoot makes an empty directory owned by the FTP account, reachable by
// it (t.TempDir's parent is 0700), where the server's "/" is.
func makeRoot(t testing.TB, acct account) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(filepath.Dir(root), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(root, acct.uid, acct.gid); err != nil {
		t.Fatal(err)
	}
	return root
}

// portBlockSize is how many ports each server gets: its control port, then
// its passive range, big enough for a pool of parallel transfers plus ports
// in TIME_WAIT.
const portBlockSize = 21

// reservePorts picks a block of ports that are free now, below Linux's
// ephemeral range (32768-60999) so that outgoing connections do not take
// them. Test binaries of several packages run at once, so each block is
// claimed with an flock on a file named after it, held until the test ends
// (the kernel drops it if the process dies).
func reservePorts(t testing.TB) (control int, pasv [2]int) {
	t.Helper()
	const lo, hi = 20000, 32000
	slots := (hi - lo) / portBlockSize
	lockDir := filepath.Join(os.TempDir(), "gftp-ports")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
Try:
	for try := 0; try < 300; try++ {
		base := lo + rand.IntN(slots)*portBlockSize
		f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(base)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		// flock locks belong to the open file, so this also excludes
		// other tests of this process.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		for p := base; p < base+portBlockSize; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				f.Close()
				continue Try
			}
			l.Close()
		}
		t.Cleanup(func() { f.Close() })
		return base, [2]int{base + 1, base + portBlockSize - 1}
	}
	t.Fatalf("servers: no free block of %d ports in %d-%d", portBlockSize, lo, hi)
	return 0, [2]int{}
}

func (r *run) makeCert() {
	t := r.t
	ca := r.cfg.ca
	if ca == nil {
		ca = NewCA(t)
	}
	r.srv.CACert = ca.Path
	now := time.Now()
	switch r.cfg.cert {
	case CertValid:
		r.cert = ca.Issue(t, append(append([]string{}, Hosts...), r.cfg.certHosts...), now.Add(-time.Hour), now.Add(24*time.Hour))
	case CertSelfSigned:
		r.cert = SelfSigned(t, Hosts, now.Add(-time.Hour), now.Add(24*time.Hour))
	case CertExpired:
		r.cert = ca.Issue(t, Hosts, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	case CertWrongHost:
		r.cert = ca.Issue(t, []string{"wrong.invalid"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	default:
		t.Fatalf("servers: unknown CertKind %d", r.cfg.cert)
	}
}

func (r *run) write(name, content string, mode os.FileMode) string {
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *run) missing(what string) {
	Unavailable(r.t, what+" not found (looked in "+ServersDir()+" and PATH)", installHint)
}

// vsftpd writes a vsftpd.conf. vsftpd 3.0.3 has no switch for TLS versions
// (only ssl_tlsv1, ssl_sslv2, ssl_sslv3), so TLS 1.2-only is made through
// OpenSSL's own configuration (OPENSSL_CONF, MaxProtocol), which vsftpd's
// SSL_CTX picks up.
func (r *run) vsftpd() {
	bin, ok := findBinary("vsftpd", "usr/sbin/vsftpd")
	if !ok {
		r.missing("vsftpd")
	}
	if !fileExists("/etc/pam.d/" + vsftpdPAMService) {
		Unavailable(r.t, "PAM service /etc/pam.d/"+vsftpdPAMService+" missing", installHint)
	}
	empty := filepath.Join(r.dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		r.t.Fatal(err)
	}
	logFile := filepath.Join(r.dir, "vsftpd.log")
	r.logs = append(r.logs, logFile)
	yn := func(b bool) string {
		if b {
			return "YES"
		}
		return "NO"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by integration/servers for %s
listen=YES
listen_ipv6=NO
listen_address=%s
listen_port=%d
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
file_open_mode=0666
local_root=%s
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name=%s
secure_chroot_dir=%s
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
tcp_wrappers=NO
userlist_enable=NO
max_clients=0
max_per_ip=%d
idle_session_timeout=600
data_connection_timeout=300
pasv_enable=YES
pasv_address=%s
pasv_min_port=%d
pasv_max_port=%d
port_enable=%s
connect_from_port_20=NO
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
vsftpd_log_file=%s
syslog_enable=NO
`, r.kind, r.ip(), r.port, r.srv.Root, vsftpdPAMService, empty, r.cfg.maxPerIP, r.ip(), r.pasv[0], r.pasv[1], yn(!r.cfg.passiveOnly), logFile)
	if r.kind.TLS() {
		fmt.Fprintf(&b, `ssl_enable=YES
rsa_cert_file=%s
rsa_private_key_file=%s
ssl_ciphers=HIGH:!aNULL:!MD5
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
allow_anon_ssl=NO
force_local_data_ssl=YES
force_local_logins_ssl=YES
require_ssl_reuse=YES
implicit_ssl=%s
debug_ssl=YES
`, r.cert.CertFile, r.cert.KeyFile, yn(r.kind == VsftpdImplicit))
		maxProto := "TLSv1.3"
		if r.kind == VsftpdFTPES12 {
			maxProto = "TLSv1.2"
		}
		conf := r.write("openssl.cnf", `openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.2
MaxProtocol = `+maxProto+`
CipherString = DEFAULT:@SECLEVEL=2
`, 0o644)
		r.env = append(r.env, "OPENSSL_CONF="+conf)
	}
	conf := r.write("vsftpd.conf", b.String(), 0o600)
	r.cmd = exec.Command(bin, conf)
	if r.cfg.netns != "" {
		r.cmd = exec.Command("ip", "netns", "exec", r.cfg.netns, bin, conf)
	}
}

// pureftpd makes a puredb with one virtual user (chrooted to Root, with the
// FTP account's uid) and the pure-ftpd command line. pure-ftpd logs only to
// syslog, which a test has not got, so only its stderr is kept.
func (r *run) pureftpd() {
	bin, ok := findBinary("pure-ftpd", "usr/sbin/pure-ftpd")
	if !ok {
		r.missing("pure-ftpd")
	}
	pw, ok := findBinary("pure-ftpd", "usr/bin/pure-pw")
	if !ok {
		r.missing("pure-pw")
	}
	// The passwd line is written here rather than by `pure-pw useradd`,
	// which hashes with argon2id at a cost of about 3 s of CPU, and which
	// pure-ftpd then pays again at every login. A crypt(3) SHA-512 hash
	// works as well and costs milliseconds. Fields: login, hash, uid, gid,
	// gecos, home ("/./" chroots there), upload and download bandwidth,
	// upload and download ratio, max connections, file quota, size quota
	// (bytes), then local and client IP allow/deny lists and time limits.
	quota := ""
	if r.cfg.quota > 0 {
		quota = strconv.FormatInt(r.cfg.quota, 10)
	}
	passwd := r.write("pureftpd.passwd", fmt.Sprintf("%s:%s:%d:%d::%s/./:::::::%s:::::\n",
		ftpUser, ftpPasswordCrypt, r.acct.uid, r.acct.gid, r.srv.Root, quota), 0o600)
	pdb := filepath.Join(r.dir, "pureftpd.pdb")
	if out, err := exec.Command(pw, "mkdb", pdb, "-f", passwd).CombinedOutput(); err != nil {
		r.t.Fatalf("servers: pure-pw mkdb: %v\n%s", err, out)
	}
	xfer := filepath.Join(r.dir, "transfer.log")
	r.logs = append(r.logs, xfer)
	args := []string{
		"-S", "127.0.0.1," + strconv.Itoa(r.port),
		"-4",      // IPv4 only
		"-H",      // do not resolve host names
		"-E",      // no anonymous logins
		"-A",      // chroot everyone
		"-u", "1", // any uid but root may log in
		"-l", "puredb:" + pdb,
		"-p", fmt.Sprintf("%d:%d", r.pasv[0], r.pasv[1]),
		"-P", "127.0.0.1",
		"-c", "50", "-C", "50", // clients, and clients per IP
		"-I", "600",
		"-O", "clf:" + xfer,
		"-Y", "3", // TLS required on control and data
		"-2", r.cert.CertFile + "," + r.cert.KeyFile,
		"-J", "HIGH:!aNULL:!MD5",
		"-d", // verbose, for whoever reads syslog
	}
	r.cmd = exec.Command(bin, args...)
}

// proftpd writes a proftpd.conf with one virtual user in an AuthUserFile
// (home Root, chrooted there with DefaultRoot ~) and mod_tls loaded from the
// unpacked proftpd-mod-crypto.
func (r *run) proftpd() {
	bin, ok := findBinary("proftpd-core", "usr/sbin/proftpd")
	if !ok {
		r.missing("proftpd")
	}
	// mod_tls comes from proftpd-mod-crypto and mod_digest (HASH, XSHA256,
	// XMD5...) from proftpd-core: ModulePath names one directory, so the
	// run gets one with a link to each.
	modules := map[string][]string{
		"mod_tls.so": {
			filepath.Join(ServersDir(), "proftpd-mod-crypto", "usr/lib/proftpd"),
			"/usr/lib/proftpd",
		},
		"mod_digest.so": {
			filepath.Join(ServersDir(), "proftpd-core", "usr/lib/proftpd"),
			"/usr/lib/proftpd",
		},
	}
	modDir := filepath.Join(r.dir, "modules")
	if err := os.MkdirAll(modDir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	for mod, dirs := range modules {
		found := false
		for _, d := range dirs {
			if fileExists(filepath.Join(d, mod)) {
				if err := os.Symlink(filepath.Join(d, mod), filepath.Join(modDir, mod)); err != nil {
					r.t.Fatal(err)
				}
				found = true
				break
			}
		}
		if !found {
			r.missing("proftpd's " + mod + " (proftpd-core, proftpd-mod-crypto)")
		}
	}
	passwd := r.write("passwd", fmt.Sprintf("%s:%s:%d:%d::%s:/bin/sh\n",
		ftpUser, ftpPasswordCrypt, r.acct.uid, r.acct.gid, r.srv.Root), 0o600)
	group := r.write("group", fmt.Sprintf("%s:x:%d:\n", ftpUser, r.acct.gid), 0o600)
	sysLog := filepath.Join(r.dir, "proftpd.log")
	tlsLog := filepath.Join(r.dir, "tls.log")
	xferLog := filepath.Join(r.dir, "xfer.log")
	r.logs = append(r.logs, sysLog, tlsLog, xferLog)
	limit := ""
	if r.cfg.passiveOnly {
		limit = "<Limit PORT EPRT>\n  DenyAll\n</Limit>\n"
	}
	conf := fmt.Sprintf(`# generated by integration/servers for %s
ServerName "gftp test proftpd"
ServerType standalone
DefaultServer on
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
Port %d
User %s
Group %s
PidFile %q
ScoreboardFile %q
DelayEngine off
WtmpLog off
UseReverseDNS off
SystemLog %q
TransferLog %q
MaxInstances 100
TimeoutIdle 600
Umask 022
AllowOverwrite on
AllowStoreRestart on
PassivePorts %d %d
AuthOrder mod_auth_file.c
AuthUserFile %q
AuthGroupFile %q
RequireValidShell off
DefaultRoot ~
%s
ModulePath %q
LoadModule mod_tls.c
LoadModule mod_digest.c
TLSEngine on
TLSLog %q
TLSProtocol TLSv1.2 TLSv1.3
TLSRequired on
TLSRSACertificateFile %q
TLSRSACertificateKeyFile %q
TLSVerifyClient off
TLSRenegotiate none
`, r.kind, r.port, ftpUser, ftpUser,
		filepath.Join(r.dir, "proftpd.pid"), filepath.Join(r.dir, "proftpd.scoreboard"),
		sysLog, xferLog, r.pasv[0], r.pasv[1], passwd, group, limit,
		modDir, tlsLog, r.cert.CertFile, r.cert.KeyFile)
	path := r.write("proftpd.conf", conf, 0o600)
	// -n: stay in the foreground, logging to the SystemLog.
	r.cmd = exec.Command(bin, "-n", "-c", path)
}

// ip is the address the server listens on.
func (r *run) ip() string {
	if r.cfg.listenIP != "" {
		return r.cfg.listenIP
	}
	return "127.0.0.1"
}

// start runs the command with its output in a log file, in its own process
// group (so that every session child dies with it), and waits for the 220
// banner.
func (r *run) start() {
	t := r.t
	out := filepath.Join(r.dir, "stderr.log")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	r.logs = append([]string{out}, r.logs...)
	r.cmd.Stdout, r.cmd.Stderr = f, f
	r.cmd.Dir = r.dir
	r.cmd.Env = append(os.Environ(), r.env...)
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("servers: start %s: %v", r.kind, err)
	}
	f.Close()
	r.srv.PID = r.cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		_ = r.cmd.Wait()
		close(exited)
	}()
	pgid := r.cmd.Process.Pid
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s logs:\n%s", r.kind, r.logTail(8<<10))
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
		}
		// Session children may outlive the parent; end the whole group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	})

	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("servers: %s exited before its banner (%v)\n%s", r.kind, r.cmd.ProcessState, r.logTail(8<<10))
		default:
		}
		if last = r.banner(); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("servers: %s on %s sent no 220 banner in 15s: %v\n%s", r.kind, r.srv.Addr, last, r.logTail(8<<10))
}

// banner connects once and reads the greeting, through TLS for implicit
// TLS (not verified: a test may have asked for a bad certificate).
func (r *run) banner() error {
	if r.cfg.netns != "" {
		// From here the namespace is out of reach; ask from inside it.
		out, err := exec.Command("ip", "netns", "exec", r.cfg.netns, "bash", "-c",
			"exec 3<>/dev/tcp/"+r.ip()+"/"+strconv.Itoa(r.port)+" && timeout 3 head -c 3 <&3").Output()
		if err != nil {
			return err
		}
		if string(out) != "220" {
			return fmt.Errorf("banner %q", out)
		}
		return nil
	}
	c, err := net.DialTimeout("tcp", r.srv.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if r.kind == VsftpdImplicit {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return err
		}
		c = tc
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("banner %q", strings.TrimSpace(line))
	}
	_, _ = c.Write([]byte("QUIT\r\n"))
	return nil
}

// logTail returns the last max bytes of each log file.
func (r *run) logTail(max int) string {
	var b bytes.Buffer
	for _, p := range r.logs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if len(data) > max {
			data = data[len(data)-max:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", p, bytes.TrimRight(data, "\n"))
	}
	return b.String()
}
