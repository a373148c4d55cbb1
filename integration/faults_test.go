package integration_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// faultProxy sits in front of a real FTP server on another loopback
// address, 127.0.0.2, on the server's control port and on every port of its
// passive range: gftp connects data channels to the control host, so every
// connection, control or data, passes through it even though TLS hides the
// EPSV replies. Each new connection is, by the luck of a seeded generator,
// passed through, cut after some bytes in one direction, or stalled.
type faultProxy struct {
	host     string
	lns      []net.Listener
	mu       sync.Mutex
	rng      *rand.Rand
	rate     float64 // chance that a connection gets a fault
	stall    time.Duration
	happened []string
	// script, when set, decides instead of the generator: seq counts the
	// connections to data ports (the control port is base).
	script    func(port, seq int) fault
	base      int
	dataSeq   int
	truncated int // truncations that cut something off
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func startFaultProxy(t *testing.T, srv *servers.Server) *faultProxy {
	t.Helper()
	_, portStr, _ := net.SplitHostPort(srv.Addr)
	base, _ := strconv.Atoi(portStr)
	p := &faultProxy{host: "127.0.0.2", stall: 6 * time.Second, rng: rand.New(rand.NewPCG(1, 1)), base: base}
	// The harness gives each server its control port and the 20 after it
	// for passive data.
	for port := base; port <= base+20; port++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(p.host, strconv.Itoa(port)))
		if err != nil {
			p.close()
			servers.Unavailable(t, "cannot listen on 127.0.0.2: "+err.Error(), "the fault proxy needs the whole 127.0.0.0/8 loopback range")
		}
		p.lns = append(p.lns, ln)
		p.wg.Add(1)
		go p.serve(ln, port)
	}
	t.Cleanup(p.close)
	return p
}

// arm sets the seed and fault rate for the next push.
func (p *faultProxy) arm(seed uint64, rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p.rate = rate
	p.happened = nil
}

func (p *faultProxy) report() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.happened, "; ")
}

func (p *faultProxy) close() {
	p.closeOnce.Do(func() {
		for _, ln := range p.lns {
			ln.Close()
		}
		p.wg.Wait()
	})
}

func (p *faultProxy) serve(ln net.Listener, port int) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c, port)
	}
}

type fault struct {
	kind string // "pass", "cut-up", "cut-down", "stall"
	at   int64  // bytes before it strikes
}

func (p *faultProxy) decide(port int) fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := fault{kind: "pass"}
	if p.script != nil {
		if port != p.base {
			p.dataSeq++
			f = p.script(port, p.dataSeq)
		}
		if f.kind != "pass" {
			p.happened = append(p.happened, fmt.Sprintf("%s@%d port %d", f.kind, f.at, port))
		}
		return f
	}
	if p.rng.Float64() < p.rate {
		f.kind = []string{"cut-up", "cut-down", "stall"}[p.rng.IntN(3)]
		f.at = p.rng.Int64N(64 << 10)
		p.happened = append(p.happened, fmt.Sprintf("%s@%d port %d", f.kind, f.at, port))
	}
	return f
}

func (p *faultProxy) handle(client net.Conn, port int) {
	defer client.Close()
	server, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return
	}
	defer server.Close()
	f := p.decide(port)
	done := make(chan struct{}, 2)
	pump := func(dst, src net.Conn, dir string) {
		defer func() { done <- struct{}{} }()
		limit := int64(-1)
		if (f.kind == "cut-up" && dir == "up") || (f.kind == "cut-down" && dir == "down") || f.kind == "stall" || (f.kind == "truncate" && dir == "up") {
			limit = f.at
		}
		switch {
		case limit < 0:
			io.Copy(dst, src)
		case f.kind == "truncate":
			// Take everything the client sends, forward only the start:
			// the client believes the whole file went out.
			io.CopyN(dst, src, limit)
			server.(*net.TCPConn).CloseWrite()
			if n, _ := io.Copy(io.Discard, src); n > 0 {
				p.mu.Lock()
				p.truncated++
				p.mu.Unlock()
			}
			io.Copy(io.Discard, server)
		default:
			io.CopyN(dst, src, limit)
			if f.kind == "stall" {
				time.Sleep(p.stall) // the peer must time out, not hang
			}
		}
		// End both directions: a cut is a reset-like end of the connection.
		client.Close()
		server.Close()
	}
	go pump(server, client, "up")
	go pump(client, server, "down")
	<-done
	<-done
}

// TestTruncatedUploadNeverRenamed: the server receives only the start of
// an upload that the client sent whole, and says so (426). Whatever was
// pipelined behind it, the truncated file must never be renamed into place:
// without retries the push fails with the marker unmoved; with them it
// completes with the right bytes.
func TestTruncatedUploadNeverRenamed(t *testing.T) {
	for _, kind := range []servers.Kind{servers.VsftpdFTPES13, servers.VsftpdPlain, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			proxy := startFaultProxy(t, srv)
			_, port, _ := net.SplitHostPort(srv.Addr)
			scheme, _, _ := strings.Cut(srv.URL, "://")
			url := scheme + "://" + net.JoinHostPort(proxy.host, port) + "/"
			g := gittest.New(t)
			g.Write("index.html", []byte("one"))
			c1 := g.Commit("one")
			env := append(gittest.Env(), "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
			if r := runGftp(t, g.Dir, env, time.Minute, "init", "--insecure", url); r.code != 0 {
				t.Fatalf("init: %s", r.stderr)
			}
			content := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB: fits the socket buffers
			g.Write("page.html", content)
			g.Write("index.html", []byte("two"))
			c2 := g.Commit("two")

			// Truncate every upload from here on; nothing may be renamed.
			proxy.mu.Lock()
			proxy.script = func(port, seq int) fault { return fault{kind: "truncate", at: 8000} }
			proxy.mu.Unlock()
			r := runGftp(t, g.Dir, env, time.Minute, "push", "--no-lock", "--insecure", "--retries", "0", "-j", "1", url)
			if r.code != 4 {
				t.Fatalf("push of truncated uploads exited %d, want 4\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if got := readMarker(t, srv); got != c1+"\n" {
				t.Fatalf("marker moved to %q", got)
			}
			if got, err := os.ReadFile(filepath.Join(srv.Root, "page.html")); err == nil {
				t.Fatalf("a truncated upload was renamed into place (%d bytes)", len(got))
			}
			if got, _ := os.ReadFile(filepath.Join(srv.Root, "index.html")); string(got) != "one" && string(got) != "two" {
				t.Fatalf("index.html holds %q, neither its old nor its new content", got)
			}

			// Only the first upload is truncated: a retry completes it.
			proxy.mu.Lock()
			proxy.truncated = 0
			proxy.script = func(port, seq int) fault {
				if proxy.truncated == 0 { // called with proxy.mu held
					return fault{kind: "truncate", at: 8000}
				}
				return fault{kind: "pass"}
			}
			proxy.mu.Unlock()
			r = runGftp(t, g.Dir, env, time.Minute, "push", "--no-lock", "--insecure", "-j", "1", url)
			if r.code != 0 {
				t.Fatalf("push with retries exited %d\n%s", r.code, r.stderr)
			}
			checkServed(t, srv, g, c2)
		})
	}
}

// runGftp runs gftp with a deadline, so that a hang fails the test instead
// of blocking it.
func runGftp(t *testing.T, dir string, env []string, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, gftpBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("gftp %s hung (killed after %s)\nstderr:\n%s", strings.Join(args, " "), limit, stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// leftovers lists temporary files, the lock and the journal under root.
func leftovers(root string) []string {
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && (strings.HasPrefix(fi.Name(), ".gftp-tmp-") || fi.Name() == ".gftp.lock" || fi.Name() == ".gftp.journal") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestFaultInjection runs seeded pushes to real vsftpd (FTPES, TLS 1.3,
// require_ssl_reuse) through a proxy that cuts or stalls connections. Each
// push must either succeed with every byte and the marker exact and nothing
// left behind, or fail with one clear error and the marker unmoved, after
// which a clean re-run completes.
func TestFaultInjection(t *testing.T) {
	pushes := 50
	if testing.Short() {
		pushes = 5
	}
	srv := servers.Start(t, servers.VsftpdFTPES13)
	proxy := startFaultProxy(t, srv)
	_, port, _ := net.SplitHostPort(srv.Addr)
	faultyURL := "ftpes://" + net.JoinHostPort(proxy.host, port) + "/"

	g := gittest.New(t)
	for i := 0; i < 20; i++ {
		g.Write(fmt.Sprintf("site/page%02d.html", i), []byte(strings.Repeat("p", 100*i)))
	}
	g.Write("site/big.bin", bytes.Repeat([]byte("b"), 300<<10))
	deployed := g.Commit("base")
	env := append(gittest.Env(), "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
	direct := func(args ...string) result {
		return runGftp(t, g.Dir, env, 2*time.Minute, append(append(args[:1:1], "--cacert", srv.CACert), args[1:]...)...)
	}
	if r := direct("init", srv.URL); r.code != 0 {
		t.Fatalf("init: %s", r.stderr)
	}

	var succeeded, failed int
	for seed := 1; seed <= pushes; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		for i := 0; i < 6; i++ {
			n := rng.IntN(20)
			g.Write(fmt.Sprintf("site/page%02d.html", n), []byte(fmt.Sprintf("seed %d change %d %s", seed, i, strings.Repeat("x", rng.IntN(50000)))))
		}
		if rng.IntN(3) == 0 {
			g.Write("site/big.bin", bytes.Repeat([]byte{byte(seed)}, 200<<10+rng.IntN(200<<10)))
		}
		if rng.IntN(4) == 0 {
			g.Write(fmt.Sprintf("site/new%02d/extra.txt", seed), []byte("new"))
		}
		head := g.Commit(fmt.Sprintf("seed %d", seed))

		proxy.arm(uint64(seed), 0.25)
		r := runGftp(t, g.Dir, env, 2*time.Minute, "push", "--insecure", "--timeout", "2s", "--retries", "2", "-j", "4", faultyURL)
		faults := proxy.report()
		switch r.code {
		case 0:
			succeeded++
			checkServed(t, srv, g, head)
			if l := leftovers(srv.Root); len(l) > 0 {
				t.Fatalf("seed %d: success left %q behind (faults: %s)", seed, l, faults)
			}
		default:
			failed++
			if got := readMarker(t, srv); got != deployed+"\n" {
				t.Fatalf("seed %d: a failed push (exit %d) moved the marker to %q (faults: %s)\n%s", seed, r.code, got, faults, r.stderr)
			}
			if n := strings.Count(r.stderr, "gftp: error: "); n != 1 || !strings.Contains(r.stderr, "gftp: hint: ") {
				t.Errorf("seed %d: want one error line and a hint, got:\n%s", seed, r.stderr)
			}
			if r.code != 4 && r.code != 5 && r.code != 6 {
				t.Errorf("seed %d: exit %d, want 4, 5 or 6\n%s", seed, r.code, r.stderr)
			}
			proxy.arm(0, 0)
			if rr := direct("push", srv.URL); rr.code != 0 {
				t.Fatalf("seed %d: the clean re-run failed (exit %d):\n%s", seed, rr.code, rr.stderr)
			}
			checkServed(t, srv, g, head)
			if l := leftovers(srv.Root); len(l) > 0 {
				t.Fatalf("seed %d: the re-run left %q behind", seed, l)
			}
		}
		deployed = head
		if testing.Verbose() {
			t.Logf("seed %d: exit %d, faults: %s", seed, r.code, faults)
		}
	}
	t.Logf("%d pushes under faults: %d succeeded (some after retries), %d failed cleanly and were completed by a re-run", pushes, succeeded, failed)
}
