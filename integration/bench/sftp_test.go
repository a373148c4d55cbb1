package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestSFTPInFlight times gftp's SFTP init of the benchmark repository
// (2,000 files of 4 KiB) against OpenSSH at several --in-flight counts,
// at loopback and across the simulated 50 ms WAN, beside rclone when it is
// installed and, with GFTP_BENCH_BEFORE=BINARY, an older gftp. --in-flight
// equal to -j is the old way: one file per SFTP session at a time. It
// runs only with GFTP_BENCH_SFTP=1; GFTP_BENCH_RUNS (default 3),
// GFTP_BENCH_INFLIGHT (the counts, default 8,32,64,128) and
// GFTP_BENCH_NET (loopback or wan; default both) and GFTP_BENCH_RCLONE=0
// narrow it.
func TestSFTPInFlight(t *testing.T) {
	if os.Getenv("GFTP_BENCH_SFTP") != "1" {
		t.Skip("takes minutes: GFTP_BENCH_SFTP=1")
	}
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("GFTP_BENCH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	f := makeFixture(t, fullShape)
	tools := []tool{}
	if bin := os.Getenv("GFTP_BENCH_BEFORE"); bin != "" {
		tools = append(tools, gftpBinTool("gftp before -j 8", bin, 8))
	}
	counts := "8,32,64,128"
	if v := os.Getenv("GFTP_BENCH_INFLIGHT"); v != "" {
		counts = v
	}
	for _, v := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("GFTP_BENCH_INFLIGHT: %v", err)
		}
		tools = append(tools, withArgs(gftpTool(8), fmt.Sprintf("gftp -j 8 --in-flight %d", n), "--in-flight", strconv.Itoa(n)))
	}
	if _, err := exec.LookPath("rclone"); err == nil && os.Getenv("GFTP_BENCH_RCLONE") != "0" {
		tools = append(tools, rcloneSFTPTool)
	}
	networks := benchNetworks()
	var lines []string
	for _, network := range networks {
		var srv *servers.Server
		ns := ""
		if network == "loopback" {
			srv = servers.StartSSHD(t)
		} else {
			w, err := NewWAN(25 * time.Millisecond)
			if err != nil {
				t.Fatalf("simulated WAN: %v", err)
			}
			t.Cleanup(w.Close)
			srv = servers.StartSSHD(t, servers.WithSSHNetns(w.ServerNS, w.ServerIP))
			ns = w.ClientNS
			t.Logf("TCP connect across the WAN: %v", measureRTT(t, w, srv.Addr))
		}
		res := map[string][]time.Duration{}
		for i := 0; i < runs; i++ {
			for _, tl := range tools {
				m := runOne(t, f, srv, tl, ns, false, false, 10*time.Minute)
				if m.err != nil {
					t.Errorf("%s %s: %v", network, tl.name, m.err)
					continue
				}
				t.Logf("%-9s %-28s %v", network, tl.name, m.d.Round(time.Millisecond))
				res[tl.name] = append(res[tl.name], m.d)
			}
		}
		base := median(res[tools[0].name])
		for _, tl := range tools {
			d := median(res[tl.name])
			lines = append(lines, fmt.Sprintf("| sftp init | %s | %s | %s | %.1f× |", network, tl.name, fmtDur(d), base.Seconds()/d.Seconds()))
		}
	}
	t.Logf("median of %d runs, 2,000 × 4 KiB; ratio: %s's time over the row's\n%s", runs, tools[0].name, strings.Join(lines, "\n"))
}

// withArgs is tl under another name, with extra arguments before its URL.
func withArgs(tl tool, name string, extra ...string) tool {
	return tool{name: name, marker: tl.marker, verbose: tl.verbose, cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
		c := tl.cmd(f, srv, push, insecure)
		last := c.Args[len(c.Args)-1]
		c.Args = append(append(c.Args[:len(c.Args)-1:len(c.Args)-1], extra...), last)
		return c
	}}
}

// gftpBinTool is gftpTool(jobs) with another gftp binary.
func gftpBinTool(name, bin string, jobs int) tool {
	tl := gftpTool(jobs)
	return tool{name: name, marker: true, verbose: true, cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
		c := tl.cmd(f, srv, push, insecure)
		c.Path, c.Args[0] = bin, bin
		return c
	}}
}

// rcloneSFTPTool mirrors the work tree with rclone sync --transfers 8, as
// issue 16 measured it. It writes no marker.
var rcloneSFTPTool = tool{name: "rclone --transfers 8", cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
	host, port, _ := net.SplitHostPort(srv.Addr)
	obscured, err := exec.Command("rclone", "obscure", srv.Password).Output()
	if err != nil {
		panic(err)
	}
	known := ""
	for i, a := range srv.Flags {
		if a == "--known-hosts" && i+1 < len(srv.Flags) {
			known = srv.Flags[i+1]
		}
	}
	cmd := exec.Command("rclone", "sync", "--transfers", "8", "--exclude", "/.git/**", "--exclude", "/.git-ftp.log",
		"--sftp-host", host, "--sftp-port", port, "--sftp-user", srv.User,
		"--sftp-pass", strings.TrimSpace(string(obscured)), "--sftp-known-hosts-file", known,
		".", ":sftp:"+srv.Root)
	cmd.Env = append(gittest.Env(), "RCLONE_CONFIG=/dev/null")
	return cmd
}}
