package servers

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
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

	"golang.org/x/crypto/ssh"
)

// The system account OpenSSH's sshd logs in. .ci/install-sshd.sh makes it;
// StartSSHD makes it too when it is missing and the test runs as root. Its
// shell is nologin: sshd's config forces internal-sftp, so it never needs one.
const (
	SSHUser     = "gftp-ssh"
	SSHPassword = "gftp-ssh-password"
)

const sshdHint = "run .ci/install-sshd.sh as root"

// SSHAuth is how a client of StartSSHD's server logs in.
type SSHAuth string

// The auth variants: Server.Password is set for SSHAuthPassword only, --key
// names a private key file for the key variants, and SSHAuthAgent puts an
// ed25519 key in an ssh-agent whose socket Server.Env names (SSH_AUTH_SOCK).
// Every variant's key is in the server's authorized_keys; password login is
// always enabled in sshd, so a variant proves its method only because the
// others' credentials are not handed out.
const (
	SSHAuthPassword SSHAuth = "password"
	SSHAuthEd25519  SSHAuth = "ed25519"
	SSHAuthRSA      SSHAuth = "rsa"
	SSHAuthAgent    SSHAuth = "agent"
)

// SSHAuths lists every auth variant, for table tests.
func SSHAuths() []SSHAuth {
	return []SSHAuth{SSHAuthPassword, SSHAuthEd25519, SSHAuthRSA, SSHAuthAgent}
}

// SSHOption configures StartSSHD.
type SSHOption func(*sshConfig)

type sshConfig struct {
	auth          SSHAuth
	knownHostType string
	extraKeys     []ssh.PublicKey
	netns, ip     string
}

// WithSSHNetns runs sshd in the network namespace ns (made by the caller,
// as integration/bench's WAN does), listening on ip, an address of that
// namespace. Server.Addr, URL and the known_hosts file name ip; the caller
// reaches them from a namespace that routes to it.
func WithSSHNetns(ns, ip string) SSHOption {
	return func(c *sshConfig) { c.netns, c.ip = ns, ip }
}

// WithSSHAuthorizedKeys authorizes more client keys, beside the variants'
// own: keys a test makes itself, such as encrypted ones.
func WithSSHAuthorizedKeys(keys ...ssh.PublicKey) SSHOption {
	return func(c *sshConfig) { c.extraKeys = append(c.extraKeys, keys...) }
}

// WithSSHAuth picks the auth variant (default SSHAuthPassword).
func WithSSHAuth(a SSHAuth) SSHOption { return func(c *sshConfig) { c.auth = a } }

// WithSSHKnownHostsType writes only the host key of this type (e.g.
// "ecdsa-sha2-nistp256") to the known_hosts file, while sshd offers
// ed25519, ECDSA and RSA keys: the client must negotiate the known one.
func WithSSHKnownHostsType(keyType string) SSHOption {
	return func(c *sshConfig) { c.knownHostType = keyType }
}

// StartSSHD starts OpenSSH's sshd on a free loopback port with its own host
// keys (ed25519, ECDSA, RSA) and config, for the rest of the test, and
// returns once the server sends its SSH banner. Server.URL is
// sftp://gftp-ssh@127.0.0.1:PORT/ROOT with ROOT the absolute path of
// Server.Root (no chroot: sshd refuses one below /tmp). Server.Flags carries
// --known-hosts FILE (a file with the server's host keys as
// "[127.0.0.1]:PORT ...") and, for the key variants, --key FILE; Server.Env
// carries SSH_AUTH_SOCK for the agent variant. The server and agent are
// stopped, and their files removed, when the test ends; if the test failed,
// sshd's log is written to the test log.
func StartSSHD(t testing.TB, opts ...SSHOption) *Server {
	t.Helper()
	cfg := sshConfig{auth: SSHAuthPassword}
	for _, o := range opts {
		o(&cfg)
	}
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		Unavailable(t, "OpenSSH's sshd is not installed ("+sshd+")", sshdHint)
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "sshd must be started as root", "run the tests as root")
	}
	acct := sshAccount(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation
		t.Fatalf("servers: %v", err)
	}

	// dir holds the config, keys and log. sshd reads authorized_keys as the
	// user, so dir must be reachable by it; the private keys are 0600.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(root, acct.uid, acct.gid); err != nil {
		t.Fatal(err)
	}

	port := FreePort(t)
	listen := "127.0.0.1"
	if cfg.netns != "" {
		listen = cfg.ip
	}
	addr := net.JoinHostPort(listen, strconv.Itoa(port))
	s := &Server{
		Name: "openssh-" + string(cfg.auth),
		User: SSHUser,
		Root: root,
		Addr: addr,
		URL:  "sftp://" + SSHUser + "@" + addr + filepath.ToSlash(root),
	}

	// Host keys, and the known_hosts file that trusts them.
	var config strings.Builder
	var known strings.Builder
	for _, kind := range []string{"ed25519", "ecdsa", "rsa"} {
		signer, pemBytes := sshKey(t, kind)
		file := filepath.Join(dir, "ssh_host_"+kind+"_key")
		if err := os.WriteFile(file, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&config, "HostKey %s\n", file)
		pub := signer.PublicKey()
		if cfg.knownHostType == "" || cfg.knownHostType == pub.Type() {
			fmt.Fprintf(&known, "[%s]:%d %s", listen, port, ssh.MarshalAuthorizedKey(pub))
		}
	}
	if known.Len() == 0 {
		t.Fatalf("servers: no host key of type %q", cfg.knownHostType)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Flags = append(s.Flags, "--known-hosts", knownHosts)

	// Client keys: every variant's is authorized.
	var authorized bytes.Buffer
	keyFiles := map[SSHAuth]string{}
	for _, a := range []SSHAuth{SSHAuthEd25519, SSHAuthRSA, SSHAuthAgent} {
		kind := "ed25519"
		if a == SSHAuthRSA {
			kind = "rsa"
		}
		signer, pemBytes := sshKey(t, kind)
		file := filepath.Join(dir, "client_"+string(a)+"_key")
		if err := os.WriteFile(file, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
			t.Fatal(err)
		}
		authorized.Write(ssh.MarshalAuthorizedKey(signer.PublicKey()))
		keyFiles[a] = file
	}
	for _, k := range cfg.extraKeys {
		authorized.Write(ssh.MarshalAuthorizedKey(k))
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, authorized.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	switch cfg.auth {
	case SSHAuthPassword:
		s.Password = SSHPassword
	case SSHAuthEd25519, SSHAuthRSA:
		s.Flags = append(s.Flags, "--key", keyFiles[cfg.auth])
	case SSHAuthAgent:
		s.Env = append(s.Env, "SSH_AUTH_SOCK="+startAgent(t, dir, keyFiles[SSHAuthAgent]))
	default:
		t.Fatalf("servers: unknown SSHAuth %q", cfg.auth)
	}

	// StrictModes would refuse authorized_keys below the world-writable /tmp.
	fmt.Fprintf(&config, `Port %d
ListenAddress %s
PidFile none
UsePAM no
PasswordAuthentication yes
PermitEmptyPasswords no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin no
AllowUsers %s
Subsystem sftp internal-sftp
ForceCommand internal-sftp
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
MaxSessions 10
MaxStartups 100
LogLevel VERBOSE
`, port, listen, authKeys, SSHUser)
	confFile := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confFile, []byte(config.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	logFile := filepath.Join(dir, "sshd.log")
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", confFile)
	if cfg.netns != "" {
		cmd = exec.Command("ip", "netns", "exec", cfg.netns, sshd, "-D", "-e", "-f", confFile)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("servers: start sshd: %v", err)
	}
	s.PID = cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	sshdPIDs.Store(s, cmd.Process.Pid)
	t.Cleanup(func() {
		sshdPIDs.Delete(s)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				t.Logf("sshd log (%s):\n%s", s.Name, tail(b, 60))
			}
		}
	})
	if cfg.netns != "" {
		// The root namespace cannot reach addr: wait for sshd's own
		// word that it listens.
		if err := waitLog(logFile, "Server listening on", exited, 10*time.Second); err != nil {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("servers: sshd in %s on %s: %v\nsshd log:\n%s", cfg.netns, addr, err, tail(b, 40))
		}
		return s
	}
	if err := waitSSHBanner(addr, exited, 10*time.Second); err != nil {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("servers: sshd on %s: %v\nsshd log:\n%s", addr, err, tail(b, 40))
	}
	return s
}

// waitSSHBanner waits until addr answers with an SSH identification string.
func waitSSHBanner(addr string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no SSH banner within %v (last error: %v)", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until file holds text.
func waitLog(file, text string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if b, err := os.ReadFile(file); err == nil && bytes.Contains(b, []byte(text)) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd did not log %q within %v", text, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sshKey makes a private key in OpenSSH's format.
func sshKey(t testing.TB, kind string) (ssh.Signer, []byte) {
	t.Helper()
	var key any
	var err error
	switch kind {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		t.Fatalf("servers: key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(key, "gftp-test-"+kind)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(blk)
}

type sshAcct struct{ uid, gid int }

var sshUserOnce struct {
	sync.Mutex
	done bool
}

// sshAccount returns the test user, making it (with its password) when it is
// missing, as .ci/install-sshd.sh would.
func sshAccount(t testing.TB) sshAcct {
	t.Helper()
	sshUserOnce.Lock()
	defer sshUserOnce.Unlock()
	u, err := user.Lookup(SSHUser)
	if err != nil && !sshUserOnce.done {
		useradd, lerr := exec.LookPath("useradd")
		if lerr != nil {
			Unavailable(t, "system user "+SSHUser+" does not exist and useradd is missing", sshdHint)
		}
		out, aerr := exec.Command(useradd, "--create-home", "--shell", "/usr/sbin/nologin", SSHUser).CombinedOutput()
		if u, err = user.Lookup(SSHUser); err != nil { // another process may have won the race
			Unavailable(t, fmt.Sprintf("cannot create system user %s: %v %s", SSHUser, aerr, out), sshdHint)
		}
		if aerr == nil {
			setSSHPassword(t)
		}
	}
	if err != nil {
		Unavailable(t, "system user "+SSHUser+" does not exist", sshdHint)
	}
	sshUserOnce.done = true
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("servers: user %s has uid %q gid %q", SSHUser, u.Uid, u.Gid)
	}
	return sshAcct{uid, gid}
}

func setSSHPassword(t testing.TB) {
	t.Helper()
	var out []byte
	var err error
	for i := 0; i < 5; i++ { // chpasswd fails while another tool holds /etc/shadow's lock
		cmd := exec.Command("chpasswd")
		cmd.Stdin = strings.NewReader(SSHUser + ":" + SSHPassword + "\n")
		if out, err = cmd.CombinedOutput(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("servers: chpasswd for %s: %v %s", SSHUser, err, out)
}

// startAgent starts ssh-agent on a socket in dir, adds key, and returns the
// socket's path.
func startAgent(t testing.TB, dir, key string) string {
	t.Helper()
	agentBin, err := exec.LookPath("ssh-agent")
	if err != nil {
		Unavailable(t, "ssh-agent is not installed", sshdHint)
	}
	addBin, err := exec.LookPath("ssh-add")
	if err != nil {
		Unavailable(t, "ssh-add is not installed", sshdHint)
	}
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(agentBin, "-D", "-a", sock)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("servers: start ssh-agent: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The socket file appears at bind(2), before listen(2): dial it.
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("servers: ssh-agent exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers: ssh-agent does not listen on %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	add := exec.Command(addBin, key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("servers: ssh-add %s: %v %s", key, err, out)
	}
	return sock
}

// sshdPIDs maps each running StartSSHD server to its listener's pid.
var sshdPIDs sync.Map

// DropSSHConnections kills the sshd processes serving s's current
// connections (every descendant of the listener: the per-connection monitor
// and its unprivileged child, which holds the socket too), so that every
// client connection ends abruptly, as when a network drops. It returns how
// many processes it killed. The listener keeps accepting.
func DropSSHConnections(t testing.TB, s *Server) int {
	t.Helper()
	v, ok := sshdPIDs.Load(s)
	if !ok {
		t.Fatalf("servers: %s is not a running StartSSHD server", s.Name)
	}
	listener := v.(int)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var victims []int
	var walk func(int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			victims = append(victims, c)
			walk(c)
		}
	}
	walk(listener)
	n := 0
	for _, pid := range victims {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}
