package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// gftpBin is the gftp binary under test, built once, or the command that
// GFTP_BENCH_GFTP names.
var gftpBin string

func TestMain(m *testing.M) {
	if addr := os.Getenv("GFTP_BENCH_DIAL"); addr != "" {
		// Run inside the client namespace by measureRTT: time TCP connects.
		os.Exit(dialHelper(addr))
	}
	if bin := os.Getenv("GFTP_BENCH_GFTP"); bin != "" {
		// Another gftp command in place of the one built here: a wrapper
		// that runs it under strace or perf, or an older build.
		gftpBin = bin
		os.Exit(m.Run())
	}
	os.Exit(gittest.MainWithGFTP(m, &gftpBin))
}

// dialHelper connects to addr five times and prints the median connect
// time in microseconds.
func dialHelper(addr string) int {
	var ds []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		ds = append(ds, time.Since(start))
		c.Close()
	}
	fmt.Println(median(ds).Microseconds())
	return 0
}

// measureRTT times a TCP connect from the client namespace to addr.
func measureRTT(t testing.TB, w *WAN, addr string) time.Duration {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := Command(w.ClientNS, self)
	cmd.Env = append(os.Environ(), "GFTP_BENCH_DIAL="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dial %s from %s: %v\n%s", addr, w.ClientNS, err, out)
	}
	us, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("dial %s from %s: %s", addr, w.ClientNS, out)
	}
	return time.Duration(us) * time.Microsecond
}

// shape is the size of a benchmark repository: an init of files, then a
// push that changes, deletes and adds some.
type shape struct {
	files, dirs, size       int
	changed, deleted, added int
}

var (
	fullShape  = shape{files: 2000, dirs: 20, size: 4096, changed: 50, deleted: 10, added: 10}
	smokeShape = shape{files: 24, dirs: 3, size: 4096, changed: 5, deleted: 2, added: 2}
)

// fixture is a repository with two commits on branches "one" (the init) and
// "main" (the push), and a copy of the first commit's work tree with its
// files' times, to put on a server before a push.
type fixture struct {
	g      *gittest.Repo
	c1, c2 string
	seed   string
	shape  shape
}

func makeFixture(t *testing.T, sh shape) *fixture {
	t.Helper()
	g := gittest.New(t)
	rng := rand.New(rand.NewPCG(1, 2))
	content := func() []byte {
		b := make([]byte, sh.size)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	name := func(i int) string { return fmt.Sprintf("d%02d/page%04d.html", i%sh.dirs, i) }
	for i := 0; i < sh.files; i++ {
		g.Write(name(i), content())
	}
	g.Git("add", "-A")
	g.Git("commit", "-q", "-m", "one")
	g.Git("branch", "one")
	c1 := g.Git("rev-parse", "HEAD")
	seed := t.TempDir()
	if out, err := exec.Command("cp", "-a", g.Dir+"/.", seed).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(seed, ".git"))
	// Spread the changes over the tree: every k-th file changes, the
	// deletions come from the end, the additions go to existing
	// directories and one new one.
	step := sh.files / (sh.changed + sh.deleted)
	for i := 0; i < sh.changed; i++ {
		g.Write(name(i*step), content())
	}
	for i := 0; i < sh.deleted; i++ {
		g.Remove(name(sh.files - 1 - i*step))
	}
	for i := 0; i < sh.added; i++ {
		if i == sh.added-1 {
			g.Write("new/added.html", content())
			continue
		}
		g.Write(name(sh.files+i), content())
	}
	g.Git("add", "-A")
	g.Git("commit", "-q", "-m", "two")
	c2 := g.Git("rev-parse", "HEAD")
	return &fixture{g: g, c1: c1, c2: c2, seed: seed, shape: sh}
}

// tool is a deploy client under comparison.
type tool struct {
	name string
	// cmd builds the command that deploys the checked-out tree (init or
	// push) to srv.
	cmd func(f *fixture, srv *servers.Server, push bool, insecure bool) *exec.Cmd
	// marker: the tool writes git-ftp's .git-ftp.log.
	marker bool
	// verbose: gftp, which runOne gives -v across the WAN for its
	// statistics line. On loopback it runs at its default verbosity, as
	// its peers run at theirs: a -v line per file is CPU that the loopback
	// figure, the client's CPU, should not count.
	verbose bool
}

func gftpTool(jobs int) tool {
	return tool{name: fmt.Sprintf("gftp -j %d", jobs), marker: true, verbose: true, cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
		sub := "init"
		if push {
			sub = "push"
		}
		args := []string{sub, "-j", strconv.Itoa(jobs)}
		args = append(args, srv.Flags...)
		if insecure {
			args = append(args, "--insecure")
		} else if srv.CACert != "" {
			args = append(args, "--cacert", srv.CACert)
		}
		args = append(args, srv.URL)
		cmd := exec.Command(gftpBin, args...)
		cmd.Env = append(gittest.Env(), srv.Env...)
		cmd.Env = append(cmd.Env, "GFTP_USER="+srv.User, "GFTP_PASSWORD="+srv.Password)
		return cmd
	}}
}

var gitFTPTool = tool{name: "git-ftp", marker: true, cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
	sub := "init"
	if push {
		sub = "push"
	}
	// The password on git-ftp's command line is acceptable in a benchmark.
	args := []string{"ftp", sub, "--user", srv.User, "--passwd", srv.Password}
	if insecure {
		args = append(args, "--insecure")
	} else {
		args = append(args, "--cacert", srv.CACert)
	}
	args = append(args, srv.URL)
	cmd := exec.Command("git", args...)
	cmd.Env = gittest.Env()
	return cmd
}}

var lftpTool = tool{name: "lftp --parallel=8", cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
	verify := "set ssl:ca-file " + srv.CACert
	if insecure {
		verify = "set ssl:verify-certificate no"
	}
	host, port, _ := net.SplitHostPort(srv.Addr)
	script := strings.Join([]string{
		"set ftp:ssl-force true", "set ftp:ssl-protect-data true", verify,
		"set net:max-retries 2", "set net:timeout 30", "set cmd:fail-exit true",
		fmt.Sprintf("open -u %s,%s -p %s ftp://%s", srv.User, srv.Password, port, host),
		`mirror -R --parallel=8 --delete -x '^\.git/' -x '^\.git-ftp\.log$' ./ /`,
	}, "; ")
	cmd := exec.Command("lftp", "-c", script)
	cmd.Env = os.Environ()
	return cmd
}}

// measurement is one run of one tool.
type measurement struct {
	d   time.Duration
	cpu time.Duration // user + system time of the tool's process and the children it reaped
	sys time.Duration // the system (kernel) part of cpu
	// srvCPU is the server's CPU time during the run (its main process
	// and the session processes it reaped), 0 when unknown.
	srvCPU time.Duration
	err    error
	log    string // gftp's statistics line
}

// serverInternal reports whether name (relative to a server's Root) is the
// server's own, not a deployed file: versitygw keeps its temporary uploads
// and metadata in the bucket's directory.
func serverInternal(name string) bool {
	for _, p := range []string{".sgwtmp", ".versitygw", ".sys"} {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// prepare puts the server in the state before the run: empty for an init,
// the first commit (with git-ftp's marker) for a push.
func prepare(t *testing.T, f *fixture, srv *servers.Server, push bool) {
	t.Helper()
	entries, err := os.ReadDir(srv.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if serverInternal(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(srv.Root, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if !push {
		return
	}
	var st syscall.Stat_t
	if err := syscall.Stat(srv.Root, &st); err != nil {
		t.Fatal(err)
	}
	for _, e := range must(os.ReadDir(f.seed)) {
		if out, err := exec.Command("cp", "-a", filepath.Join(f.seed, e.Name()), srv.Root).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(srv.Root, ".git-ftp.log"), []byte(f.c1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", st.Uid, st.Gid), srv.Root).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// verify compares the server's files with the commit, byte for byte.
func verify(t *testing.T, f *fixture, srv *servers.Server, sha string, marker bool) error {
	t.Helper()
	files := gittest.Files(t, srv.Root)
	for n := range files {
		if serverInternal(n) {
			delete(files, n)
		}
	}
	m := files[".git-ftp.log"]
	delete(files, ".git-ftp.log")
	if marker && m != sha+"\n" {
		return fmt.Errorf("marker %q, want %s", m, sha)
	}
	want := f.g.Tree(sha)
	var bad []string
	for n, c := range want {
		if got, ok := files[n]; !ok || got != c {
			bad = append(bad, n)
		}
	}
	for n := range files {
		if _, ok := want[n]; !ok {
			bad = append(bad, n+" (extra)")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 5 {
			bad = append(bad[:5], fmt.Sprintf("and %d more", len(bad)-5))
		}
		return fmt.Errorf("the server does not hold %s: %s", sha[:7], strings.Join(bad, ", "))
	}
	return nil
}

var statsRE = regexp.MustCompile(`(?m)^ftp statistics .*$`)

// runOne prepares the server, runs the tool from ns ("" for the root
// namespace), and verifies the result.
func runOne(t *testing.T, f *fixture, srv *servers.Server, tl tool, ns string, push, insecure bool, timeout time.Duration) measurement {
	t.Helper()
	prepare(t, f, srv, push)
	branch, sha := "one", f.c1
	if push {
		branch, sha = "main", f.c2
	}
	f.g.Git("checkout", "-q", branch)
	c := tl.cmd(f, srv, push, insecure)
	if tl.verbose && ns != "" {
		c.Args = slices.Insert(c.Args, 2, "-v") // after the subcommand
	}
	if ns != "" {
		nc := Command(ns, c.Path, c.Args[1:]...)
		nc.Env = c.Env
		c = nc
	}
	c.Dir = f.g.Dir
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	srv0, srvOK := procCPU(srv.PID)
	start := time.Now()
	if err := c.Start(); err != nil {
		return measurement{err: err}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Process.Kill() })
	err := c.Wait()
	d := time.Since(start)
	stop()
	m := measurement{d: d}
	if ps := c.ProcessState; ps != nil {
		m.cpu = ps.UserTime() + ps.SystemTime()
		m.sys = ps.SystemTime()
	}
	if srvOK {
		// The server's session processes end, and are reaped, just
		// after the client has gone.
		time.Sleep(200 * time.Millisecond)
		if srv1, ok := procCPU(srv.PID); ok {
			m.srvCPU = srv1 - srv0
		}
	}
	if err != nil {
		m.err = fmt.Errorf("%s: %v\n%s", tl.name, err, tailString(out.String(), 1500))
		return m
	}
	if err := verify(t, f, srv, sha, tl.marker); err != nil {
		m.err = fmt.Errorf("%s ran in %v but %w", tl.name, d.Round(time.Millisecond), err)
	}
	m.log = statsRE.FindString(out.String())
	return m
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// target is one server that the benchmark deploys to, with the tools
// compared on it, gftp first.
type target struct {
	id   string // GFTP_BENCH_TARGETS names it
	name string // the heading in BENCHMARKS.md
	// start starts the server: on loopback when w is nil, else in w's
	// server namespace.
	start func(t *testing.T, w *WAN) *servers.Server
	tools []tool
	// slots is how many files gftp keeps moving at once: connections for
	// FTP, files in flight for SFTP and S3. slotWord names them.
	slots    int
	slotWord string
	// floor is the protocol's round trips per file per slot; floorWhy
	// says where it comes from.
	floor    float64
	floorWhy string
	// insecureWAN: the tools skip certificate checks across the WAN.
	insecureWAN bool
}

const (
	g8      = "gftp -j 8"
	lftp8   = "lftp --parallel=8"
	gitFTP  = "git-ftp"
	rclone8 = "rclone --transfers 8"
	lftpS8  = "lftp sftp --parallel=8"
	awsSync = "aws s3 sync"
)

func targets() []target {
	ftpes := func(id, name string, kind servers.Kind, tools []tool) target {
		return target{id: id, name: name, tools: tools, slots: 8, slotWord: "connection", floor: 4,
			floorWhy: "vsftpd: data connection (1), its TLS handshake (1), data until the 226 (2)", insecureWAN: true,
			start: func(t *testing.T, w *WAN) *servers.Server {
				if w == nil {
					return servers.Start(t, kind)
				}
				return startWANServer(t, w, kind)
			}}
	}
	return []target{
		ftpes("ftpes12", "FTPES, vsftpd, TLS 1.2", servers.VsftpdFTPES12, []tool{gftpTool(8), lftpTool, gitFTPTool}),
		ftpes("ftpes13", "FTPES, vsftpd, TLS 1.3 (its default)", servers.VsftpdFTPES13, []tool{gftpTool(8), lftpTool}),
		{id: "sftp", name: "SFTP, OpenSSH", tools: []tool{gftpTool(8), rcloneSFTPTool, lftpSFTPTool},
			slots: 64, slotWord: "in-flight slot", floor: 3,
			floorWhy: "OPEN (1); WRITE and CLOSE sent together (1); RENAME (1), many files sharing each round trip",
			start: func(t *testing.T, w *WAN) *servers.Server {
				if w == nil {
					return servers.StartSSHD(t)
				}
				return servers.StartSSHD(t, servers.WithSSHNetns(w.ServerNS, w.ServerIP))
			}},
		{id: "s3", name: "S3, versitygw", tools: []tool{gftpTool(8), rcloneS3Tool, awsS3Tool},
			slots: 64, slotWord: "in-flight slot", floor: 1,
			floorWhy: "one PUT per file on a kept-alive connection (versitygw runs with `--keep-alive`, as AWS S3 keeps connections open)",
			start: func(t *testing.T, w *WAN) *servers.Server {
				if w == nil {
					return servers.StartS3(t)
				}
				return servers.StartS3(t, servers.WithS3Netns(w.ServerNS, w.ServerIP))
			}},
	}
}

// needTool skips (or, with GFTP_REAL_SERVERS=1, fails) a test when a peer's
// command is missing.
func needTool(t *testing.T, tl tool) {
	t.Helper()
	bins := map[string][2]string{
		gitFTP:  {"git-ftp", "apt-get install git-ftp"},
		lftp8:   {"lftp", "apt-get install lftp"},
		lftpS8:  {"lftp", "apt-get install lftp openssh-client"},
		rclone8: {"rclone", "apt-get install rclone"},
		awsSync: {"aws", "apt-get install awscli"},
	}
	if b, ok := bins[tl.name]; ok {
		if _, err := exec.LookPath(b[0]); err != nil {
			servers.Unavailable(t, b[0]+" not found", b[1])
		}
	}
}

// TestBenchSmoke runs every case of the benchmark once on a small
// repository, so that `make bench` keeps working: loopback, every target
// with each of its tools, and, where the machine allows it (root, TUN),
// gftp through the simulated WAN at a short delay to every target.
func TestBenchSmoke(t *testing.T) {
	f := makeFixture(t, smokeShape)
	if c, ok := procCPU(os.Getpid()); !ok || c <= 0 {
		t.Errorf("procCPU of this process: %v, %v", c, ok)
	}
	for _, tg := range targets() {
		srv := tg.start(t, nil)
		for _, tl := range tg.tools {
			needTool(t, tl)
			for _, p := range []bool{false, true} {
				m := runOne(t, f, srv, tl, "", p, false, 2*time.Minute)
				if m.err != nil {
					t.Errorf("%s push=%v: %v", tg.id, p, m.err)
				} else if m.cpu <= 0 {
					t.Errorf("%s %s push=%v: no CPU time measured", tg.id, tl.name, p)
				}
			}
		}
	}
	t.Run("WAN", func(t *testing.T) {
		const delay = 5 * time.Millisecond
		w, err := NewWAN(delay)
		if err != nil {
			t.Skipf("no simulated WAN here: %v", err)
		}
		t.Cleanup(w.Close)
		// The root namespace must not reach the subnet.
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(w.ServerIP, "21"), time.Second); err == nil {
			c.Close()
			t.Fatalf("%s is reachable from the root namespace", w.ServerIP)
		}
		for i, tg := range targets() {
			if tg.id == "ftpes13" {
				continue // the same server as ftpes12 across the WAN
			}
			srv := tg.start(t, w)
			if i == 0 {
				if rtt := measureRTT(t, w, srv.Addr); rtt < 2*delay {
					t.Errorf("TCP connect across the relay took %v, less than the round trip of %v", rtt, 2*delay)
				}
			}
			for _, p := range []bool{false, true} {
				if m := runOne(t, f, srv, tg.tools[0], w.ClientNS, p, tg.insecureWAN, 2*time.Minute); m.err != nil {
					t.Errorf("%s push=%v: %v", tg.id, p, m.err)
				}
			}
		}
	})
}

// TestReportSmoke writes a report from made-up figures and checks its
// rows and the CPU split's arithmetic.
func TestReportSmoke(t *testing.T) {
	var b bytes.Buffer
	r := report{shape: smokeShape, runs: 1, rtt: 50 * time.Millisecond, targets: targets(), results: map[key][]measurement{
		{"ftpes12", "init", "loopback", g8}:    {{d: time.Second, cpu: time.Second, sys: 400 * time.Millisecond}},
		{"ftpes12", "init", "loopback", lftp8}: {{d: 3 * time.Second, cpu: 2 * time.Second, sys: 600 * time.Millisecond}},
		{"s3", "init", "50 ms RTT", g8}:        {{d: 2 * time.Second}},
		{"s3", "init", "50 ms RTT", awsSync}:   {{d: 20 * time.Second}},
	}}
	writeReport(&b, r)
	for _, want := range []string{
		"| init | loopback | 1.00 s | 3.00 s | not run | 3.0× | – | – | 1.00 s | 2.00 s | – |",
		"| init | 50 ms RTT | 2.00 s | not run | 20.0 s | – | 10.0× | 40.00 (floor 1) |",
		"| 50% | 1.00 s |",
		"gftp's system time takes 0.40 s of it, which leaves 0.60 s (25000 µs per file)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// startWANServer starts vsftpd (FTPES, session reuse required) in the
// server namespace; its certificate names the namespace's address.
func startWANServer(t *testing.T, w *WAN, kind servers.Kind) *servers.Server {
	t.Helper()
	old := servers.Hosts
	servers.Hosts = append(append([]string{}, old...), w.ServerIP)
	defer func() { servers.Hosts = old }()
	return servers.Start(t, kind, servers.InNetns(w.ServerNS, w.ServerIP))
}

// TestBenchmark is `make bench`: every target with every tool, at loopback
// and across the simulated WAN, GFTP_BENCH_RUNS times each (default 3;
// pushes GFTP_BENCH_PUSH_RUNS and loopback inits GFTP_BENCH_LOOPBACK_RUNS,
// each at least 3 by default), interleaved, then
// BENCHMARKS.md. It runs only with GFTP_BENCH=1.
// GFTP_BENCH_REPLAY=LOG writes BENCHMARKS.md from an earlier run's -v
// output instead (replay_test.go).
// GFTP_BENCH_TARGETS (ftpes12,ftpes13,sftp,s3) and GFTP_BENCH_NET
// (loopback or wan) narrow it, and GFTP_BENCH_TOOLS (name prefixes:
// gftp,lftp) keeps only some tools, for trying a change; BENCHMARKS.md then
// holds only what ran. GFTP_BENCH_BEFORE=BIN adds another gftp build that
// takes turns with this one ("gftp before -j 8").
func TestBenchmark(t *testing.T) {
	if os.Getenv("GFTP_BENCH") != "1" {
		t.Skip("the full benchmark takes about 45 minutes: make bench (GFTP_BENCH=1)")
	}
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("GFTP_BENCH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	// A push takes seconds, so one run of it is noisy and more are cheap:
	// at least 3 (GFTP_BENCH_PUSH_RUNS).
	pushRuns := max(runs, 3)
	if n, err := strconv.Atoi(os.Getenv("GFTP_BENCH_PUSH_RUNS")); err == nil && n > 0 {
		pushRuns = n
	}
	// So is a loopback init's CPU: the machine's other work moves it by
	// tens of percent from run to run, and a run takes seconds. At least 3
	// (GFTP_BENCH_LOOPBACK_RUNS), except for git-ftp's, which takes minutes.
	loopRuns := max(runs, 3)
	if n, err := strconv.Atoi(os.Getenv("GFTP_BENCH_LOOPBACK_RUNS")); err == nil && n > 0 {
		loopRuns = n
	}
	out := os.Getenv("GFTP_BENCH_OUT")
	if out == "" {
		out = "../../BENCHMARKS.md"
	}
	if log := os.Getenv("GFTP_BENCH_REPLAY"); log != "" {
		var b bytes.Buffer
		writeReport(&b, replay(t, log, os.Getenv("GFTP_BENCH_LOAD")))
		keepSections(&b, out)
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s from %s:\n%s", out, log, b.String())
		return
	}
	tgs := targets()
	if v := os.Getenv("GFTP_BENCH_TARGETS"); v != "" {
		want := map[string]bool{}
		for _, id := range strings.Split(v, ",") {
			want[strings.TrimSpace(id)] = true
		}
		var sel []target
		for _, tg := range tgs {
			if want[tg.id] {
				sel = append(sel, tg)
				delete(want, tg.id)
			}
		}
		if len(want) > 0 || len(sel) == 0 {
			t.Fatalf("GFTP_BENCH_TARGETS=%q: known targets are ftpes12, ftpes13, sftp, s3", v)
		}
		tgs = sel
	}
	if v := os.Getenv("GFTP_BENCH_TOOLS"); v != "" {
		tgs = onlyTools(tgs, strings.Split(v, ","))
	}
	if bin := os.Getenv("GFTP_BENCH_BEFORE"); bin != "" {
		// Another build beside this one, taking turns with it: a
		// change's before and after from the same run.
		for i := range tgs {
			tgs[i].tools = append([]tool{gftpBinTool("gftp before -j 8", bin, 8)}, tgs[i].tools...)
		}
	}
	networks := benchNetworks()
	for _, tg := range tgs {
		for _, tl := range tg.tools {
			needTool(t, tl)
		}
	}
	rep := report{shape: fullShape, runs: runs, pushRuns: pushRuns, loopRuns: loopRuns, targets: tgs, results: map[key][]measurement{}, started: time.Now()}
	rep.storage = serverStorage(t)
	t.Logf("server storage: %s", rep.storage)
	rep.versions = versions()
	rep.loadStart = loadAvg()
	f := makeFixture(t, fullShape)

	var loads []float64
	record := func(tg target, op, network string, tl tool, m measurement) {
		k := key{tg.id, op, network, tl.name}
		rep.results[k] = append(rep.results[k], m)
		loads = append(loads, loadAvg())
		status := fmt.Sprintf("%v cpu %v sys %v server %v", m.d.Round(time.Millisecond), m.cpu.Round(time.Millisecond), m.sys.Round(time.Millisecond), m.srvCPU.Round(time.Millisecond))
		if m.err != nil {
			status = "FAILED: " + m.err.Error()
		}
		t.Logf("%-8s %-5s %-9s %-22s %s %s", tg.id, op, network, tl.name, status, m.log)
	}
	slowGitFTP := os.Getenv("GFTP_BENCH_GITFTP_WAN_INIT") == "1"
	for _, network := range networks {
		var w *WAN
		ns := ""
		if network != "loopback" {
			var err error
			// The WAN: 25 ms each way.
			w, err = NewWAN(25 * time.Millisecond)
			if err != nil {
				t.Fatalf("simulated WAN: %v", err)
			}
			t.Cleanup(w.Close)
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			go func() {
				if _, ok := <-sig; ok {
					killNS(w.ServerNS)
					killNS(w.ClientNS)
					w.Close()
					os.Exit(1)
				}
			}()
			defer signal.Stop(sig)
			ns = w.ClientNS
		}
		for _, tg := range tgs {
			srv := tg.start(t, w)
			if w != nil && rep.rtt == 0 {
				rep.rtt = measureRTT(t, w, srv.Addr)
				t.Logf("TCP connect across the WAN: %v", rep.rtt)
			}
			insecure := w != nil && tg.insecureWAN
			timeout := 15 * time.Minute
			if w != nil {
				timeout = 30 * time.Minute
			}
			for _, p := range []bool{false, true} {
				op := map[bool]string{false: "init", true: "push"}[p]
				n := runs
				switch {
				case p:
					n = pushRuns
				case w == nil:
					n = loopRuns
				}
				for i := 0; i < n; i++ {
					for _, tl := range tg.tools {
						if w != nil && tl.name == gitFTP && !p && !slowGitFTP {
							continue
						}
						if tl.name == gitFTP && !p && i >= runs {
							continue // minutes a run
						}
						record(tg, op, network, tl, runOne(t, f, srv, tl, ns, p, insecure, timeout))
					}
				}
			}
		}
	}
	if !slowGitFTP {
		rep.notes = append(rep.notes, "git-ftp's init at 50 ms RTT is left out unless GFTP_BENCH_GITFTP_WAN_INIT=1: it uploads one file at a time with a new connection each, about 15 minutes a run (the issue measured it).")
	}
	rep.loadEnd = loadAvg()
	rep.loadMean = mean(loads)
	rep.elapsed = time.Since(rep.started)
	var b bytes.Buffer
	writeReport(&b, rep)
	keepSections(&b, out)
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s:\n%s", out, b.String())
}

// onlyTools keeps, in every target, the tools whose name begins with one
// of prefixes (GFTP_BENCH_TOOLS=gftp,lftp leaves git-ftp's slow loopback
// init out while trying a change).
func onlyTools(tgs []target, prefixes []string) []target {
	var out []target
	for _, tg := range tgs {
		var kept []tool
		for _, tl := range tg.tools {
			for _, p := range prefixes {
				if p = strings.TrimSpace(p); p != "" && strings.HasPrefix(tl.name, p) {
					kept = append(kept, tl)
					break
				}
			}
		}
		tg.tools = kept
		out = append(out, tg)
	}
	return out
}

// benchNetworks is where to measure: loopback and the 50 ms WAN, or the
// one that GFTP_BENCH_NET (loopback or wan) names.
func benchNetworks() []string {
	networks := []string{"loopback", "50 ms RTT"}
	switch os.Getenv("GFTP_BENCH_NET") {
	case "loopback":
		return networks[:1]
	case "wan":
		return networks[1:]
	}
	return networks
}

// procCPU is the CPU time of process pid and of the children it has
// reaped (utime, stime, cutime and cstime of /proc/PID/stat).
func procCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing one.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is the state (field 3); utime..cstime are fields 14-17.
	if len(f) < 15 {
		return 0, false
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	const clkTck = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(ticks) * time.Second / clkTck, true
}

// keepMarker starts the part of BENCHMARKS.md that make bench keeps:
// sections measured another way (by hand, by a Go benchmark) go below it.
const keepMarker = "<!-- Kept by make bench: sections below are measured another way. -->"

// keepSections appends to b what the file out holds from keepMarker on.
func keepSections(b *bytes.Buffer, out string) {
	old, err := os.ReadFile(out)
	if err != nil {
		return
	}
	if i := bytes.Index(old, []byte(keepMarker)); i >= 0 {
		b.WriteString("\n")
		b.Write(old[i:])
	}
}

// loadAvg is the 1-minute load average (0 where /proc has none).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	_, _ = fmt.Sscan(string(b), &l)
	return l
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// killNS ends the processes this benchmark started in a namespace.
func killNS(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func versions() []string {
	var v []string
	for _, c := range [][]string{{"git-ftp", "--version"}, {"lftp", "--version"}, {"rclone", "version"}, {"aws", "--version"},
		{"ssh", "-V"}, {"git", "--version"}, {"uname", "-sr"}} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err == nil {
			v = append(v, strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
		}
	}
	// versitygw built by go install calls itself "git": ask its build
	// information.
	if p, err := exec.LookPath("versitygw"); err == nil {
		if out, err := exec.Command("go", "version", "-m", p).Output(); err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				if f := strings.Fields(l); len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/versity/versitygw" {
					v = append(v, "versitygw "+f[2])
				}
			}
		}
	}
	v = append(v, fmt.Sprintf("%d CPUs, %s", runtime.NumCPU(), runtime.Version()))
	return v
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
