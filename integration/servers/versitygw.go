package servers

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// S3 credentials and region of every versitygw that StartS3 runs. They are
// throwaway values for a loopback server.
const (
	S3AccessKey = "gftptestaccess"
	S3SecretKey = "gftp-test-secret-Zq7xW2pL9vR4"
	S3Region    = "us-east-1"
	S3Bucket    = "gftp-test"
)

// versitygwPath finds the versitygw binary: $VERSITYGW, PATH, $GOBIN,
// $GOPATH/bin, ~/go/bin, and where .ci/install-versitygw.sh puts it.
func versitygwPath() string {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		for _, p := range filepath.SplitList(d) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	dirs = append(dirs, "/usr/local/bin", "/root/go/bin")
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// S3Option changes how StartS3 runs versitygw.
type S3Option func(*s3Config)

type s3Config struct {
	tls       bool
	netns, ip string
	close     bool
}

// WithS3TLS serves HTTPS with a certificate from a CA made for the test; the
// Server's CACert is that CA, and its endpoint flag says https.
func WithS3TLS() S3Option { return func(c *s3Config) { c.tls = true } }

// WithS3ConnectionClose runs versitygw at its own default, which answers
// every request with `Connection: close`, so that each request of every
// client opens a new TCP connection. Without it versitygw keeps connections
// alive (--keep-alive), as AWS S3 and other S3 servers do; a client must
// stay correct either way.
func WithS3ConnectionClose() S3Option { return func(c *s3Config) { c.close = true } }

// WithS3Netns runs versitygw in the network namespace ns (made by the
// caller, with `ip netns add`), listening on ip, an address of that
// namespace. Server.Addr and the endpoint flag name ip; the caller reaches
// them from a namespace that routes to it.
func WithS3Netns(ns, ip string) S3Option { return func(c *s3Config) { c.netns, c.ip = ns, ip } }

// StartS3 runs versitygw with its posix backend on a free loopback port,
// serving one empty bucket, and stops it when the test ends. It keeps
// connections alive unless WithS3ConnectionClose is given.
//
// The Server's URL is s3://gftp-test/, Root is the bucket's directory (an
// object a/b lands in Root/a/b), Env holds the credentials and region, and
// Flags the endpoint and path-style addressing. User and Password are the
// access key and secret too, for tests that build remote.Options.
func StartS3(t testing.TB, opts ...S3Option) *Server {
	t.Helper()
	var c s3Config
	for _, o := range opts {
		o(&c)
	}
	bin := versitygwPath()
	if bin == "" {
		Unavailable(t, "versitygw not found in $VERSITYGW, PATH, $GOBIN or $GOPATH/bin", "run .ci/install-versitygw.sh")
		return nil
	}
	dir := t.TempDir()
	gwroot := filepath.Join(dir, "gw")
	root := filepath.Join(gwroot, S3Bucket)
	// In the posix backend a bucket is a top-level directory; versitygw
	// serves one made beforehand (it owns it to the root account).
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	port := FreePort(t)
	listen := "127.0.0.1"
	if c.netns != "" {
		listen = c.ip
	}
	addr := net.JoinHostPort(listen, strconv.Itoa(port))
	args := []string{
		"--port", addr,
		"--access", S3AccessKey,
		"--secret", S3SecretKey,
		"--region", S3Region,
		"--quiet",
	}
	if !c.close {
		args = append(args, "--keep-alive")
	}
	scheme, caCert, name := "http", "", "versitygw-posix"
	if c.close {
		name += "-close"
	}
	if c.tls {
		kp := NewCA(t)
		leaf := kp.Issue(t, Hosts, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
		args = append(args, "--cert", leaf.CertFile, "--key", leaf.KeyFile)
		scheme, caCert, name = "https", kp.Path, name+"-tls"
	}
	args = append(args, "posix", gwroot)
	var out vgwOutput
	cmd := exec.Command(bin, args...)
	if c.netns != "" {
		// ip netns exec enters the namespace and execs versitygw, so
		// the process (and its Pdeathsig) is versitygw's own.
		cmd = exec.Command("ip", append([]string{"netns", "exec", c.netns, bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=", "ROOT_SECRET_ACCESS_KEY=", "ROOT_ACCESS_KEY=", "ROOT_SECRET_KEY=")
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("versitygw: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})
	if err := vgwWaitListening(addr, c.netns, exited, 20*time.Second); err != nil {
		t.Fatalf("versitygw on %s: %v\n%s", addr, err, out.String())
	}
	return &Server{
		Name:     name,
		URL:      "s3://" + S3Bucket + "/",
		User:     S3AccessKey,
		Password: S3SecretKey,
		Root:     root,
		CACert:   caCert,
		Flags:    []string{"--s3-endpoint", scheme + "://" + addr, "--s3-path-style"},
		Env: []string{
			"AWS_ACCESS_KEY_ID=" + S3AccessKey,
			"AWS_SECRET_ACCESS_KEY=" + S3SecretKey,
			"AWS_REGION=" + S3Region,
			"AWS_EC2_METADATA_DISABLED=true",
		},
		Addr: addr,
		PID:  cmd.Process.Pid,
	}
}

// vgwWaitListening waits until addr accepts a connection (dialled from
// inside netns when it is set: the root namespace cannot reach it), the
// process exits, or the time is up.
func vgwWaitListening(addr, netns string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var err error
		if netns != "" {
			host, port, _ := net.SplitHostPort(addr)
			var out []byte
			out, err = exec.Command("ip", "netns", "exec", netns, "bash", "-c", "exec 3<>/dev/tcp/"+host+"/"+port).CombinedOutput()
			if err == nil {
				return nil
			}
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		} else {
			var c net.Conn
			c, err = net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %v: %v", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vgwOutput collects a process's output while the test reads it.
type vgwOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *vgwOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *vgwOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
