package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
)

// TestSFTPPushLoop times only gftp's SFTP push of the benchmark's 70
// changes at 50 ms RTT, GFTP_BENCH_PUSHLOOP times, for working on the push
// without the whole SFTP benchmark. GFTP_BENCH_TRACE=FILE writes a packet
// timeline of the last run (as the relay saw each packet: time, direction,
// TCP payload), and GFTP_BENCH_VV=1 runs it with -vv, each line stamped,
// into $TMPDIR/gftp-push-vv.txt. GFTP_BENCH_BEFORE=BINARY alternates an older
// gftp with this one instead, on a busy machine the fairer comparison.
func TestSFTPPushLoop(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GFTP_BENCH_PUSHLOOP"))
	if n <= 0 {
		t.Skip("GFTP_BENCH_PUSHLOOP=N")
	}
	w, err := NewWAN(25 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	var mu sync.Mutex
	var trace bytes.Buffer
	var t0 time.Time
	on := false
	w.Trace = func(p []byte) {
		mu.Lock()
		defer mu.Unlock()
		if !on || len(p) < 40 {
			return
		}
		src := fmt.Sprintf("%d.%d.%d.%d", p[12], p[13], p[14], p[15])
		ihl := int(p[0]&0xf) * 4
		tot := int(p[2])<<8 | int(p[3])
		doff := int(p[ihl+12]>>4) * 4
		flags := p[ihl+13]
		dir := "C>"
		if src == w.ServerIP {
			dir = "<S"
		}
		fmt.Fprintf(&trace, "%8.1f %s len=%d flags=%02x\n", float64(time.Since(t0).Microseconds())/1000, dir, tot-ihl-doff, flags)
	}
	srv := servers.StartSSHD(t, servers.WithSSHNetns(w.ServerNS, w.ServerIP))
	t.Logf("rtt %v", measureRTT(t, w, srv.Addr))
	f := makeFixture(t, fullShape)
	tl := gftpTool(8)
	var ds []string
	before := os.Getenv("GFTP_BENCH_BEFORE")
	if before != "" {
		// Alternate: the binary before the change, then this one.
		after := tl
		old := tool{name: "before", marker: true, verbose: true, cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
			c := after.cmd(f, srv, push, insecure)
			c.Path, c.Args[0] = before, before
			return c
		}}
		var bs, as []string
		for i := 0; i < n; i++ {
			for j, x := range []tool{old, after} {
				m := runOne(t, f, srv, x, w.ClientNS, true, false, 5*time.Minute)
				if m.err != nil {
					t.Fatal(m.err)
				}
				d := m.d.Round(time.Millisecond).String()
				if j == 0 {
					bs = append(bs, d)
				} else {
					as = append(as, d)
				}
				t.Logf("%s %d: %v", x.name, i, m.d.Round(time.Millisecond))
			}
		}
		t.Logf("before: %s", strings.Join(bs, " "))
		t.Logf("after:  %s", strings.Join(as, " "))
		return
	}
	for i := 0; i < n; i++ {
		mu.Lock()
		trace.Reset()
		on = i == n-1
		t0 = time.Now()
		mu.Unlock()
		var m measurement
		if i == n-1 && os.Getenv("GFTP_BENCH_VV") == "1" {
			m = runTimed(t, f, srv, tl, w.ClientNS, &t0, &mu)
		} else {
			m = runOne(t, f, srv, tl, w.ClientNS, true, false, 5*time.Minute)
		}
		if m.err != nil {
			t.Fatal(m.err)
		}
		ds = append(ds, m.d.Round(time.Millisecond).String())
		t.Logf("push %d: %v cpu %v", i, m.d.Round(time.Millisecond), m.cpu)
	}
	t.Logf("pushes: %s", strings.Join(ds, " "))
	if p := os.Getenv("GFTP_BENCH_TRACE"); p != "" {
		mu.Lock()
		_ = os.WriteFile(p, trace.Bytes(), 0o644)
		mu.Unlock()
	}
}

// runTimed runs one push with -vv, each line of its output stamped with
// the time since the process started (the trace's clock is reset too).
func runTimed(t *testing.T, f *fixture, srv *servers.Server, tl tool, ns string, t0 *time.Time, mu *sync.Mutex) measurement {
	prepare(t, f, srv, true)
	f.g.Git("checkout", "-q", "main")
	c := tl.cmd(f, srv, true, false)
	c.Args = append(c.Args[:len(c.Args)-1], "-vv", c.Args[len(c.Args)-1])
	nc := Command(ns, c.Path, c.Args[1:]...)
	nc.Env = c.Env
	nc.Dir = f.g.Dir
	pr, pw, _ := os.Pipe()
	nc.Stdout, nc.Stderr = pw, pw
	mu.Lock()
	*t0 = time.Now()
	mu.Unlock()
	start := *t0
	if err := nc.Start(); err != nil {
		return measurement{err: err}
	}
	pw.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintf(&out, "%8.1f %s\n", float64(time.Since(start).Microseconds())/1000, sc.Text())
		}
		close(done)
	}()
	err := nc.Wait()
	d := time.Since(start)
	<-done
	_ = os.WriteFile(filepath.Join(os.TempDir(), "gftp-push-vv.txt"), out.Bytes(), 0o644)
	return measurement{d: d, err: err}
}
