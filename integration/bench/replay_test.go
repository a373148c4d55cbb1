package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Replaying a run: TestBenchmark with GFTP_BENCH_REPLAY=LOG writes
// BENCHMARKS.md from the -v output of an earlier `make bench` instead of
// measuring again, so that a change to the report's text need not cost
// another 45 minutes. GFTP_BENCH_LOAD names a file of "UNIX-TIME LOAD"
// lines sampled during that run (for the machine-load line), if any.

var (
	replayRow     = regexp.MustCompile(`bench_test\.go:\d+: (\S+)\s+(init|push)\s+(loopback|50 ms RTT)\s+(.+?)\s+(\d[0-9.hmµns]*s) cpu (\S+)(?: sys (\S+))? server (\S+) ?(.*)$`)
	replayBad     = regexp.MustCompile(`bench_test\.go:\d+: (\S+)\s+(init|push)\s+(loopback|50 ms RTT)\s+(.+?)\s+FAILED: (.*)$`)
	replayRTT     = regexp.MustCompile(`TCP connect across the WAN: (\S+)`)
	replayStorage = regexp.MustCompile(`server storage: (.+)$`)
	replayEnd     = regexp.MustCompile(`--- (?:PASS|FAIL): TestBenchmark \(([0-9.]+)s\)`)
)

// replay rebuilds a run's report from its log.
func replay(t *testing.T, logFile, loadFile string) report {
	t.Helper()
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	rep := report{shape: fullShape, results: map[key][]measurement{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	dur := func(s string) time.Duration {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s: %v", logFile, err)
		}
		return d
	}
	for sc.Scan() {
		line := sc.Text()
		if m := replayRow.FindStringSubmatch(line); m != nil {
			k := key{m[1], m[2], m[3], m[4]}
			ms := measurement{d: dur(m[5]), cpu: dur(m[6]), srvCPU: dur(m[8]), log: strings.TrimSpace(m[9])}
			if m[7] != "" { // runs before the system time was logged
				ms.sys = dur(m[7])
			}
			rep.results[k] = append(rep.results[k], ms)
		} else if m := replayBad.FindStringSubmatch(line); m != nil {
			k := key{m[1], m[2], m[3], m[4]}
			rep.results[k] = append(rep.results[k], measurement{err: errors.New(m[5])})
		} else if m := replayRTT.FindStringSubmatch(line); m != nil {
			rep.rtt = dur(m[1])
		} else if m := replayStorage.FindStringSubmatch(line); m != nil {
			rep.storage = strings.TrimSpace(m[1])
		} else if m := replayEnd.FindStringSubmatch(line); m != nil {
			s, _ := strconv.ParseFloat(m[1], 64)
			rep.elapsed = time.Duration(s * float64(time.Second))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rep.results) == 0 {
		t.Fatalf("%s holds no measurements", logFile)
	}
	rep.started = fi.ModTime().Add(-rep.elapsed)
	rep.runs, rep.pushRuns, rep.loopRuns = 0, 0, 0
	for k, ms := range rep.results {
		switch {
		case k.op == "push":
			rep.pushRuns = max(rep.pushRuns, len(ms))
		case k.net == "loopback" && k.tool != gitFTP:
			rep.loopRuns = max(rep.loopRuns, len(ms))
		default:
			rep.runs = max(rep.runs, len(ms))
		}
	}
	if rep.runs == 0 {
		rep.runs = rep.loopRuns
	}
	for _, tg := range targets() {
		for k := range rep.results {
			if k.target == tg.id {
				rep.targets = append(rep.targets, tg)
				break
			}
		}
	}
	if _, ok := rep.results[key{"ftpes12", "init", "50 ms RTT", gitFTP}]; !ok {
		rep.notes = append(rep.notes, "git-ftp's init at 50 ms RTT is left out unless GFTP_BENCH_GITFTP_WAN_INIT=1: it uploads one file at a time with a new connection each, about 15 minutes a run (the issue measured it).")
	}
	if loadFile != "" {
		var loads []float64
		if b, err := os.ReadFile(loadFile); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var ts int64
				var x float64
				if _, err := fmt.Sscan(l, &ts, &x); err == nil {
					loads = append(loads, x)
				}
			}
		}
		if len(loads) > 0 {
			rep.loadStart, rep.loadEnd, rep.loadMean = loads[0], loads[len(loads)-1], mean(loads)
		}
	}
	note := "This report was written afterwards from the -v log of the run (GFTP_BENCH_REPLAY)"
	if rep.loadMean > 0 {
		note += ", the load from samples taken beside it"
	}
	rep.notes = append(rep.notes, note+".")
	rep.versions = versions()
	return rep
}

// TestReplayRow reads a run's row with and without the system time that
// later runs log.
func TestReplayRow(t *testing.T) {
	for _, c := range []struct {
		line     string
		cpu, sys string
		srv, log string
	}{
		{"    bench_test.go:623: ftpes12  init  loopback  gftp -j 8              2.5s cpu 2.1s sys 1.2s server 3s ftp statistics connections=8", "2.1s", "1.2s", "3s", "ftp statistics connections=8"},
		{"    bench_test.go:620: ftpes12  init  loopback  lftp --parallel=8      3.1s cpu 2.9s server 4.2s ", "2.9s", "", "4.2s", ""},
	} {
		m := replayRow.FindStringSubmatch(c.line)
		if m == nil {
			t.Fatalf("%q: no match", c.line)
		}
		if m[6] != c.cpu || m[7] != c.sys || m[8] != c.srv || strings.TrimSpace(m[9]) != c.log {
			t.Errorf("%q: cpu %q sys %q server %q log %q", c.line, m[6], m[7], m[8], m[9])
		}
	}
}
