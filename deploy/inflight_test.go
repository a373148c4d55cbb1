package deploy_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// multiplexed is a transport that multiplexes requests (remote.Concurrency)
// and records how many Puts were in flight at once.
type multiplexed struct {
	remote.Remote
	inFlight  int
	now, peak atomic.Int32
	hold      time.Duration
}

func (m *multiplexed) InFlight() int { return m.inFlight }

func (m *multiplexed) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if !strings.HasPrefix(name, "d/") { // the marker or the journal
		return m.Remote.Put(ctx, name, r, size)
	}
	n := m.now.Add(1)
	defer m.now.Add(-1)
	for p := m.peak.Load(); n > p && !m.peak.CompareAndSwap(p, n); p = m.peak.Load() {
	}
	time.Sleep(m.hold) // a round trip, so that the others catch up
	return m.Remote.Put(ctx, name, r, size)
}

// TestExecutorInFlightFromTransport: the executor keeps as many uploads in
// flight as the transport asks for (remote.Concurrency), whatever Jobs
// says, and never more; a transport without it gets Jobs.
func TestExecutorInFlightFromTransport(t *testing.T) {
	g := gittest.New(t)
	for i := 0; i < 40; i++ {
		g.Write(fmt.Sprintf("d/f%02d.txt", i), []byte(fmt.Sprint("file ", i)))
	}
	g.Git("add", "-A")
	g.Git("commit", "-q", "-m", "files")
	for _, tc := range []struct {
		inFlight int
		want     int32
	}{{inFlight: 16, want: 16}, {inFlight: 0, want: 4}} {
		t.Run(fmt.Sprint(tc.inFlight), func(t *testing.T) {
			dir := t.TempDir()
			l, err := local.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			m := &multiplexed{Remote: l, inFlight: tc.inFlight, hold: 50 * time.Millisecond}
			// deployOn runs with Jobs 4.
			if _, _, err := deployOn(t, g.Dir, m, deploy.PlanOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := m.peak.Load(); got != tc.want {
				t.Errorf("peak uploads in flight: %d, want %d", got, tc.want)
			}
			if got := served(t, dir)["d/f39.txt"]; got != "file 39" {
				t.Errorf("d/f39.txt on the target: %q", got)
			}
		})
	}
}

// oneCPU is a transport that asks for one CPU (remote.ProcsLimiter) and
// records GOMAXPROCS while its uploads run.
type oneCPU struct {
	remote.Remote
	procs atomic.Int32
}

func (o *oneCPU) MaxProcs() int { return 1 }

func (o *oneCPU) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if strings.HasPrefix(name, "d/") {
		o.procs.Store(int32(runtime.GOMAXPROCS(0)))
	}
	return o.Remote.Put(ctx, name, r, size)
}

// TestExecutorMaxProcsFromTransport: while the uploads run, GOMAXPROCS is
// what the transport asks for, and afterwards it is back; a GOMAXPROCS in
// the environment wins.
func TestExecutorMaxProcsFromTransport(t *testing.T) {
	prev := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(prev)
	g := gittest.New(t)
	g.Write("d/a.txt", []byte("a"))
	g.Git("add", "-A")
	g.Git("commit", "-q", "-m", "a")
	for _, tc := range []struct {
		env  string
		want int32
	}{{env: "", want: 1}, {env: "2", want: 2}} {
		t.Run("GOMAXPROCS="+tc.env, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tc.env)
			dir := t.TempDir()
			l, err := local.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			o := &oneCPU{Remote: l}
			if _, _, err := deployOn(t, g.Dir, o, deploy.PlanOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := o.procs.Load(); got != tc.want {
				t.Errorf("GOMAXPROCS during the upload: %d, want %d", got, tc.want)
			}
			if got := runtime.GOMAXPROCS(0); got != 2 {
				t.Errorf("GOMAXPROCS after the run: %d, want 2", got)
			}
			if got := served(t, dir)["d/a.txt"]; got != "a" {
				t.Errorf("d/a.txt on the target: %q", got)
			}
		})
	}
}
