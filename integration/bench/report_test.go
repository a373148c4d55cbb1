package bench

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"
)

// key names one cell of the benchmark.
type key struct{ target, op, net, tool string }

type report struct {
	shape    shape
	runs     int
	pushRuns int           // runs of each push cell (0: runs)
	loopRuns int           // runs of each loopback init cell but git-ftp's (0: runs)
	rtt      time.Duration // measured TCP connect across the WAN
	targets  []target      // what ran, in order
	results  map[key][]measurement
	started  time.Time
	elapsed  time.Duration
	versions []string
	storage  string // where the servers kept their files (serverStorage)
	notes    []string
	// 1-minute load averages: at the start, at the end, and the mean of
	// those read after each run.
	loadStart, loadEnd, loadMean float64
}

// cell is the median wall time and CPU time of the successful runs, how
// many succeeded and failed, and whether the cell ran at all.
func (r report) cell(k key) (d, cpu time.Duration, n, failed int, ok bool) {
	ms, ok := r.results[k]
	if !ok {
		return 0, 0, 0, 0, false
	}
	var ds, cs []time.Duration
	for _, m := range ms {
		if m.err != nil {
			failed++
			continue
		}
		ds = append(ds, m.d)
		cs = append(cs, m.cpu)
	}
	return median(ds), median(cs), len(ds), failed, true
}

// srvCPU is the median of the server's CPU time over a cell's successful
// runs (0 when unknown).
func (r report) srvCPU(k key) time.Duration {
	var cs []time.Duration
	for _, m := range r.results[k] {
		if m.err == nil && m.srvCPU > 0 {
			cs = append(cs, m.srvCPU)
		}
	}
	return median(cs)
}

// secs is a cell's median wall time in seconds, 0 when none succeeded.
func (r report) secs(target, op, network, tool string) float64 {
	d, _, n, _, _ := r.cell(key{target, op, network, tool})
	if n == 0 {
		return 0
	}
	return d.Seconds()
}

// ratio is the peer's median over gftp's: how many times faster gftp was
// (0 when either is missing).
func (r report) ratio(target, op, network, peer string) float64 {
	g, p := r.secs(target, op, network, g8), r.secs(target, op, network, peer)
	if g == 0 || p == 0 {
		return 0
	}
	return p / g
}

// perSlot is gftp's wall time in round trips per file per slot.
func (r report) perSlot(tg target, op, network string) float64 {
	d := r.secs(tg.id, op, network, g8)
	if d == 0 || r.rtt == 0 || network == "loopback" {
		return 0
	}
	files := r.shape.files
	if op == "push" {
		files = r.shape.changed + r.shape.added
	}
	slots := min(tg.slots, files)
	return d / r.rtt.Seconds() / (float64(files) / float64(slots))
}

func (r report) target(id string) (target, bool) {
	for _, tg := range r.targets {
		if tg.id == id {
			return tg, true
		}
	}
	return target{}, false
}

func fmtDur(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func writeReport(b *bytes.Buffer, r report) {
	fmt.Fprintf(b, "# Benchmarks\n\nWritten by `make bench` (integration/bench, TestBenchmark)")
	if !r.started.IsZero() {
		fmt.Fprintf(b, " on %s, in %s", r.started.UTC().Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second))
	}
	fmt.Fprintf(b, ". Do not edit by hand, except below the marker at the end: sections measured another way go there, and `make bench` keeps them.\n\n")
	fmt.Fprintf(b, "- Servers, each started by the benchmark (in the server namespace for the 50 ms rows): vsftpd 3.0.3 with FTPES (AUTH TLS) and `require_ssl_reuse=YES`, once held to TLS 1.2 and once at its default, TLS 1.3; OpenSSH (internal-sftp, password login) for SFTP; versitygw (posix backend, plain HTTP) for S3.\n")
	if r.storage != "" {
		fmt.Fprintf(b, "- The servers' files (and the repository) were on %s.", r.storage)
		if strings.HasPrefix(r.storage, "tmpfs") {
			fmt.Fprintf(b, " %s", tmpfsWhy)
		}
		fmt.Fprintf(b, "\n")
	}
	fmt.Fprintf(b, "- Repository: %d files of %d bytes in %d directories (init); then a commit that changes %d, deletes %d and adds %d (push).\n",
		r.shape.files, r.shape.size, r.shape.dirs, r.shape.changed, r.shape.deleted, r.shape.added)
	cells := fmt.Sprintf("the median of %d runs", r.runs)
	if r.runs == 1 {
		cells = "one run"
	}
	var more []string
	if r.pushRuns > 0 && r.pushRuns != r.runs {
		more = append(more, fmt.Sprintf("a push: of %d", r.pushRuns))
	}
	if r.loopRuns > 0 && r.loopRuns != r.runs {
		more = append(more, fmt.Sprintf("an init on loopback but git-ftp's: of %d", r.loopRuns))
	}
	if len(more) > 0 {
		cells += " (" + strings.Join(more, "; ") + ", since one takes seconds and a single run is noisy)"
	}
	fmt.Fprintf(b, "- Each cell is %s, the tools taking turns within each round. Every run starts from the same server state and is verified byte for byte against the commit afterwards; a run that left the wrong files counts as failed. The peers mirror the work tree (without .git) and delete what is gone; only gftp and git-ftp write git-ftp's marker.\n", cells)
	fmt.Fprintf(b, "- gftp runs with `-j 8` everywhere: 8 connections for FTP; over SFTP and S3 its default `--in-flight 64` files in flight. lftp and rclone run 8 transfers at once; `aws s3 sync` its default 10 requests. On loopback every client runs at its default verbosity; across the 50 ms link gftp runs with `-v`, for its statistics line (a line per file costs CPU that the loopback figures, the clients' own CPU, should not count).\n")
	fmt.Fprintf(b, "- CPU is user + system time of the client's process and of the children it waited for (lftp's ssh processes, git-ftp's curl), from the kernel's rusage at exit; after the slash, the server's during the same run (its main process and the session processes it reaped, from /proc). On loopback the two share the machine's %d CPUs, so wall time cannot go below their sum divided by %d.\n", runtime.NumCPU(), runtime.NumCPU())
	fmt.Fprintf(b, "- 50 ms RTT: client and server in two network namespaces joined by TUN devices and a relay that holds each packet 25 ms each way (no sch_netem on this kernel). Measured TCP connect across it: %v.\n", r.rtt.Round(100*time.Microsecond))
	if r.loadMean > 0 {
		fmt.Fprintf(b, "- Machine load (1-minute load average): %.2f at the start, %.2f at the end, %.2f on average after each run. The machine's CPUs were shared with other work, so wall times, loopback ones above all, carry noise; the ratios, from the same run with the tools taking turns, are the figures to compare.\n", r.loadStart, r.loadEnd, r.loadMean)
	}
	for _, v := range r.versions {
		fmt.Fprintf(b, "- %s\n", v)
	}
	fmt.Fprintf(b, "\nRatios are the peer's median over gftp's: how many times faster gftp was. Round trips are gftp's wall time across the 50 ms link in round trips per file per connection (FTP) or per in-flight slot (SFTP, S3: the files gftp keeps in flight at once), everything included (logins, directories, lock, marker), next to the protocol's floor; for a push, the whole run in round trips.\n")

	for _, tg := range r.targets {
		peers := tg.tools[1:]
		fmt.Fprintf(b, "\n## %s\n\nFloor: %g round trip%s per file per %s: %s.\n\n", tg.name, tg.floor, map[bool]string{true: "", false: "s"}[tg.floor == 1], tg.slotWord, tg.floorWhy)
		var head, rule []string
		head = append(head, "case", "network")
		for _, tl := range tg.tools {
			head = append(head, tl.name)
		}
		for _, tl := range peers {
			head = append(head, tl.name+" / gftp")
		}
		head = append(head, "gftp round trips")
		for _, tl := range tg.tools {
			head = append(head, "CPU "+tl.name)
		}
		for range head {
			rule = append(rule, "---")
		}
		fmt.Fprintf(b, "| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(rule, "|"))
		for _, network := range []string{"loopback", "50 ms RTT"} {
			for _, op := range []string{"init", "push"} {
				if _, _, _, _, ok := r.cell(key{tg.id, op, network, g8}); !ok {
					continue
				}
				cells := []string{op, network}
				var cpus []string
				for _, tl := range tg.tools {
					d, cpu, n, failed, ok := r.cell(key{tg.id, op, network, tl.name})
					switch {
					case !ok:
						cells = append(cells, "not run")
					case n == 0:
						cells = append(cells, fmt.Sprintf("FAILED ×%d", failed))
					case failed > 0:
						cells = append(cells, fmt.Sprintf("%s (%d of %d failed)", fmtDur(d), failed, n+failed))
					default:
						cells = append(cells, fmtDur(d))
					}
					switch srv := r.srvCPU(key{tg.id, op, network, tl.name}); {
					case n == 0 || cpu == 0:
						cpus = append(cpus, "–")
					case srv > 0:
						cpus = append(cpus, fmtDur(cpu)+" / "+fmtDur(srv))
					default:
						cpus = append(cpus, fmtDur(cpu))
					}
				}
				for _, tl := range peers {
					if x := r.ratio(tg.id, op, network, tl.name); x > 0 {
						cells = append(cells, fmt.Sprintf("%.1f×", x))
					} else {
						cells = append(cells, "–")
					}
				}
				switch x := r.perSlot(tg, op, network); {
				case x == 0:
					cells = append(cells, "–")
				case op == "push":
					cells = append(cells, fmt.Sprintf("%.0f in all", r.secs(tg.id, op, network, g8)/r.rtt.Seconds()))
				default:
					cells = append(cells, fmt.Sprintf("%.2f (floor %g)", x, tg.floor))
				}
				cells = append(cells, cpus...)
				fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
			}
		}
		for _, m := range r.results[key{tg.id, "init", "50 ms RTT", g8}] {
			if m.log != "" {
				fmt.Fprintf(b, "\ngftp's transport's own count for its init at 50 ms (-v): `%s`\n", m.log)
				break
			}
		}
	}

	fmt.Fprintf(b, "\n## Targets (issues 7 and 16)\n\n%s\n", strings.Join(targetLines(r), "\n"))
	if _, ok := r.target("ftpes12"); ok {
		fmt.Fprintf(b, "\n## FTPES: round trips per file\n\n")
		fmt.Fprint(b, roundTripText)
		fmt.Fprint(b, stopText(r))
	}
	fmt.Fprint(b, tls13Text(r))
	fmt.Fprint(b, cpuText(r))
	fmt.Fprint(b, sftpText(r))
	fmt.Fprint(b, s3Text(r))
	if len(r.notes) > 0 {
		fmt.Fprintf(b, "\n## Notes\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
	// Failures, in full, so that a wrong run is never a silent one.
	var fails []string
	for k, ms := range r.results {
		for _, m := range ms {
			if m.err != nil {
				fails = append(fails, fmt.Sprintf("- %s %s %s %s: %s", k.target, k.op, k.net, k.tool, strings.ReplaceAll(m.err.Error(), "\n", " ")))
			}
		}
	}
	if len(fails) > 0 {
		sort.Strings(fails)
		fmt.Fprintf(b, "\n## Failed runs\n\n%s\n", strings.Join(fails, "\n"))
	}
}

// targetLines checks this run's figures against the targets of issues 7
// and 16; a target whose cells did not run is left out.
func targetLines(r report) []string {
	var out []string
	add := func(what string, have bool, got string, ok bool) {
		if !have {
			return
		}
		mark := "met"
		if !ok {
			mark = "NOT met"
		}
		out = append(out, fmt.Sprintf("- %s: %s (%s)", what, got, mark))
	}
	atLeast := func(what, target, op, network, peer string, want float64) {
		x := r.ratio(target, op, network, peer)
		add(what, x > 0, fmt.Sprintf("%.1f×", x), x >= want)
	}
	atMost := func(what, target, op, network string, limit float64) {
		d := r.secs(target, op, network, g8)
		add(what, d > 0, fmtDur(time.Duration(d*float64(time.Second))), d <= limit)
	}
	const wan = "50 ms RTT"
	atLeast("FTPES (TLS 1.2), 50 ms RTT, init: at least 2.5× faster than lftp", "ftpes12", "init", wan, lftp8, 2.5)
	atLeast("FTPES (TLS 1.2), 50 ms RTT, push: at least 10× faster than git-ftp", "ftpes12", "push", wan, gitFTP, 10)
	for _, op := range []string{"init", "push"} {
		atLeast("FTPES (TLS 1.2), loopback, "+op+": at least 2× faster than lftp", "ftpes12", op, "loopback", lftp8, 2)
		x := r.ratio("ftpes12", op, "loopback", gitFTP)
		add("FTPES (TLS 1.2), loopback, "+op+": faster than git-ftp", x > 0, fmt.Sprintf("%.1f×", x), x > 1)
	}
	if t12, t13 := r.secs("ftpes12", "init", wan, g8), r.secs("ftpes13", "init", wan, g8); t12 > 0 && t13 > 0 {
		add("FTPES, 50 ms RTT, init: TLS 1.3 within 5% of TLS 1.2", true,
			fmt.Sprintf("%s against %s, %+.1f%%", fmtDur(dur(t13)), fmtDur(dur(t12)), (t13/t12-1)*100), t13 <= t12*1.05)
	}
	for _, id := range []string{"ftpes12", "ftpes13"} {
		_, g, gn, _, _ := r.cell(key{id, "init", "loopback", g8})
		_, l, ln, _, _ := r.cell(key{id, "init", "loopback", lftp8})
		if gn > 0 && ln > 0 && g > 0 && l > 0 {
			tg, _ := r.target(id)
			add(tg.name+", loopback, init: gftp's CPU at most half of lftp's", true,
				fmt.Sprintf("%s against %s, %.0f%%", fmtDur(g), fmtDur(l), 100*g.Seconds()/l.Seconds()), g*2 <= l)
		}
	}
	atMost("SFTP, 50 ms RTT, init: at most 10 s", "sftp", "init", wan, 10)
	atLeast("SFTP, 50 ms RTT, init: at least 10× faster than rclone", "sftp", "init", wan, rclone8, 10)
	atMost("SFTP, 50 ms RTT, push of 70 changes: at most 1.5 s", "sftp", "push", wan, 1.5)
	for _, network := range []string{"loopback", wan} {
		atLeast("S3, "+network+", init: at least 2× faster than rclone", "s3", "init", network, rclone8, 2)
		atLeast("S3, "+network+", init: at least 5× faster than aws s3 sync", "s3", "init", network, awsSync, 5)
	}
	return out
}

func dur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// tls13Text compares gftp's FTPES init at TLS 1.3 with TLS 1.2, in round
// trips per file.
func tls13Text(r report) string {
	t12, t13 := r.secs("ftpes12", "init", "50 ms RTT", g8), r.secs("ftpes13", "init", "50 ms RTT", g8)
	if t12 == 0 || t13 == 0 || r.rtt == 0 {
		return ""
	}
	perFile := float64(r.shape.files) / 8
	extra := (t13 - t12) / r.rtt.Seconds() / perFile
	return fmt.Sprintf("\n## FTPES: TLS 1.3 against TLS 1.2\n\nAt 50 ms RTT gftp's init took %s with TLS 1.3 and %s with TLS 1.2: %+.2f round trips per file per connection (%d files per connection). A HelloRetryRequest on every data connection would cost one more round trip per file, +1.00 here: vsftpd sets a single ECDH curve, so its OpenSSL accepts only P-256, and a client that leads with an X25519 or X25519MLKEM768 key share is sent back for a P-256 one. TLS 1.3 itself costs no more than TLS 1.2 per data connection: the resumed handshake is one round trip either way, and vsftpd's 226 still waits for its lingering close.\n",
		fmtDur(dur(t13)), fmtDur(dur(t12)), extra, int(math.Round(perFile)))
}

// stopText says what stands between gftp and the targets, with this run's
// figures (the analysis is from -vv timelines, relay traces and profiles of
// issue 7).
func stopText(r report) string {
	const lf, gf = lftp8, gitFTP
	var b strings.Builder
	rtt := r.rtt.Seconds()
	med := func(op, network, tl string) float64 { return r.secs("ftpes12", op, network, tl) }
	fmt.Fprintf(&b, "\n### What stands between gftp and the FTP targets (this run's figures, TLS 1.2)\n\n")
	if gi, li := med("init", "50 ms RTT", g8), med("init", "50 ms RTT", lf); gi > 0 && li > 0 && rtt > 0 {
		floor := float64(r.shape.files) / 8 * 4 * rtt
		fmt.Fprintf(&b, "- **50 ms RTT, init: %.1f× lftp (target 2.5×).** On vsftpd one upload costs at least 4 round trips per connection (the table above): connecting its data connection (1; the port comes with the previous file's 226), that connection's TLS handshake (1), and the data until the 226 (2, vsftpd's lingering close). The rename travels while the next data connection is being dialled. So %d files over 8 connections need at least %d round trips, %.1f s at this RTT; gftp took %.1f s, lftp %.1f s. The ratio cannot pass %.1f× with 8 connections and one data connection per file, which is all FTP offers (vsftpd has no MODE B).\n",
			li/gi, r.shape.files, r.shape.files/8*4, floor, gi, li, li/floor)
	}
	if gp, fp := med("push", "50 ms RTT", g8), med("push", "50 ms RTT", gf); gp > 0 && fp > 0 && rtt > 0 {
		uploads := r.shape.changed + r.shape.added
		transfers := uploads + 2 // the staged marker, the lock holder's details
		rounds := (transfers + 7) / 8
		fmt.Fprintf(&b, "- **50 ms RTT, push: %.1f× git-ftp (target 10×).** git-ftp took %.1f s, so 10× means %.2f s, %.0f round trips. gftp took %.2f s, %.0f round trips: about 13 before the first upload (TCP, the greeting, AUTH TLS, a full TLS 1.2 handshake (2), the login in one write plus the server's password check, the lock's MKD, the journal's 550, the marker's download (2)); %d rounds of 4 for %d transfers (%d files, the staged marker and the lock holder's details) over 8 connections; and 3 after the last rename: the deletes, which wait until every upload has succeeded, the marker's rename, and the lock's removal. The other 7 connections are logged in only about when the marker has been read: they send their password after the first login succeeded (so that a wrong one is sent once), and the server then checks 7 passwords at once on two cores. Before issue 7, gftp took 6.3 s for this push and 108.8 s for the init, with the same harness.\n",
			fp/gp, fp, fp/10, fp/10/rtt, gp, gp/rtt, rounds, transfers, uploads)
	}
	cpuOf := func(op, tl string) string {
		_, c, n, _, _ := r.cell(key{"ftpes12", op, "loopback", tl})
		if n == 0 {
			return "(not measured)"
		}
		return fmtDur(c)
	}
	vsftpdCPU := ""
	if gc, gs, gfl, ok := r.cpuShare("ftpes12", "init", g8); ok {
		if lc, ls, _, ok := r.cpuShare("ftpes12", "init", lf); ok {
			vsftpdCPU = fmt.Sprintf(" In this run vsftpd used %s of CPU for gftp's init (with gftp's %s: at least %s on %d CPUs) and %s for lftp's (with lftp's %s).",
				fmtDur(dur(gs)), fmtDur(dur(gc)), fmtDur(dur(gfl)), runtime.NumCPU(), fmtDur(dur(ls)), fmtDur(dur(lc)))
		}
	}
	x := func(op string) float64 {
		g, l := med(op, "loopback", g8), med(op, "loopback", lf)
		if g == 0 {
			return 0
		}
		return l / g
	}
	fmt.Fprintf(&b, "- **Loopback: init %.1f×, push %.1f× lftp (target 2×).** Loopback is CPU-bound on this 2-core machine: during a loopback init both cores are over 90%% busy, most of it in the kernel. gftp itself used %s of CPU (user and system) for the 2,000-file init, lftp %s; the rest is vsftpd's per-transfer work (privilege-separated PASV and accept, a TLS handshake per data connection, a log line per command in this test set-up), which is about the same per file for every client. gftp sends 4 commands per file where lftp sends 2, because of the atomic rename. Loopback medians move by tens of percent between runs.%s\n",
		x("init"), x("push"), cpuOf("init", g8), cpuOf("init", lf), vsftpdCPU)
	return b.String()
}

// roundTripText explains the per-file figure (TestRoundTripsPerFile in
// integration/rtt_test.go checks the command sequence on every server).
const roundTripText = `What one upload costs on a warm connection (PutAtomic: a temporary name, then a rename), read from the FTP dialogue and, for the WAN, from a packet trace of the relay:

| | what is sent | round trips |
|---|---|---|
| through jlaffaye/ftp, before issue 7 | EPSV; connect; STOR, wait for 150; TLS handshake; data, then 226 (2); RNFR; RNTO | 8 |
| vsftpd now | STOR and the next EPSV in one write, the TLS ClientHello at once on the data connection dialled ahead (1); data, then 226 and 229 (2); RNFR and RNTO in one write, the next data connection dialled meanwhile (1) | 4 |
| proftpd, pure-ftpd now | the same, except that the EPSV goes with RNFR and RNTO (both read commands during a transfer and refuse an EPSV there with 450 and 500), so the next STOR leaves while its data connection is being dialled; and SIZE of the temporary file before the rename, since they store a data connection that ends without close_notify, so a cut upload could pass for whole | 5 to 6 |

Why 226 takes two round trips after the data: vsftpd closes the data connection with SO_LINGER, so it sends 226 only once the client has acknowledged its FIN (relay trace: data and FIN at t, server FIN at t+0.5, client ACK at t+1, 226 at t+1.5, received at t+2). The rename cannot go earlier: RNFR and RNTO wait for the 226, so that a failed upload is never renamed over the old file. The TLS 1.2 handshake of each data connection costs its round trip because a client cannot send data before the server's Finished. That leaves 4 round trips per file per connection, so the 2,000-file init at -j 8 and 50 ms is about 2,000 / 8 x 4 x 52 ms = 52 s before logins, directories, lock and marker.

Outside the uploads: a login sends USER, PASS, FEAT, TYPE I, OPTS UTF8 ON, PBSZ 0, PROT P and an EPSV (and the first connection's PWD) in one write, one round trip instead of eight, and dials the first transfer's data connection at once; servers keep that port open across MKD, SIZE, DELE and renames. The pool's other connections connect and do TLS alongside the first, and send their password once the first login has succeeded. Paths are absolute (no CWD); new directories are made beside the uploads, each once; reading a missing file (the journal) costs one round trip; a download returns as soon as the bytes its 150 announced have arrived, without waiting for the 226; deletes go out pipelined; the new marker is uploaded beside the files and renamed into place at the end; the lock comes down in one round trip.
`

// perPeerSlot is a tool's wall time across the WAN in round trips per file
// per slot, for a peer moving slots files at once.
func (r report) perPeerSlot(target, tool string, slots int) float64 {
	d := r.secs(target, "init", "50 ms RTT", tool)
	if d == 0 || r.rtt == 0 {
		return 0
	}
	return d / r.rtt.Seconds() / (float64(r.shape.files) / float64(slots))
}

// sftpText gives the SFTP rows' round-trip arithmetic with this run's
// figures.
func sftpText(r report) string {
	tg, ok := r.target("sftp")
	if !ok || r.rtt == 0 {
		return ""
	}
	gi, gp := r.secs("sftp", "init", "50 ms RTT", g8), r.secs("sftp", "push", "50 ms RTT", g8)
	if gi == 0 {
		return ""
	}
	rtt := r.rtt.Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, "\n## SFTP: files in flight over one SSH connection\n\n")
	rounds := float64(r.shape.files) / float64(tg.slots)
	fmt.Fprintf(&b, "- **Init at 50 ms RTT: %s, %.2f round trips per file in flight.** pkg/sftp gives an upload 4 round trips of its own (OPEN; WRITE; CLOSE, which waits for the write's status; RENAME), and the requests of the %d files in flight share them: %d / %d × 4 × %.1f ms = %.1f s, plus connecting, logging in, taking the lock, starting the SFTP sessions and writing the marker, and gftp's own start and plan. The floor of 3 would need WRITE and CLOSE sent together, which pkg/sftp's File does not do. More files in flight shorten the first term (128: half); 64 stays the default because each file in flight may hold its content in memory when go-git has it below 1 MiB, and 64 keeps a 1 GiB file among 63 others under 128 MiB RSS (TestSFTPMemoryInFlight).\n",
		fmtDur(dur(gi)), r.perSlot(tg, "init", "50 ms RTT"), tg.slots, r.shape.files, tg.slots, rtt*1000, rounds*4*rtt)
	if x := r.perPeerSlot("sftp", rclone8, 8); x > 0 {
		fmt.Fprintf(&b, "- **rclone --transfers 8: %s, %.1f× gftp**, %.1f round trips per file per transfer: one file per transfer at a time, each waiting for its own OPEN, WRITE, CLOSE and the SETSTAT of its modification time, and more.\n",
			fmtDur(dur(r.secs("sftp", "init", "50 ms RTT", rclone8))), r.ratio("sftp", "init", "50 ms RTT", rclone8), x)
	}
	if x := r.perPeerSlot("sftp", lftpS8, 8); x > 0 {
		fmt.Fprintf(&b, "- **lftp sftp --parallel=8: %s, %.1f× gftp**, %.1f round trips per file per connection (8 ssh connections, one file on each at a time).\n",
			fmtDur(dur(r.secs("sftp", "init", "50 ms RTT", lftpS8))), r.ratio("sftp", "init", "50 ms RTT", lftpS8), x)
	}
	if gp > 0 {
		fmt.Fprintf(&b, "- **Push of %d changes at 50 ms RTT: %s, %.0f round trips** (target 1.5 s, %.0f round trips). A push shares few round trips: each step waits for the one before. Read from a trace of the relay and -vv: the SSH connection, TCP (1), version exchange (1), key exchange (2), service request (1), the \"none\" probe that x/crypto/ssh always sends first (1) and the password (1, plus the server's password hash); the SFTP session, channel open (1, and 1 more: sshd, with Nagle on, holds its confirmation behind the host keys it announces after login until our ACK, which TCP_QUICKACK now sends at once instead of 40-80 ms later), subsystem and version (2: an INIT sent behind the subsystem request would wait anyway, for sshd grants the channel a window only with its answer); the lock, whose session carries the marker's and the journal's OPEN and STAT right behind its MKDIR (1: OpenSSH handles one session's requests in order, so they are opened only once the lock is ours); the marker's READ beside FSTAT (1); the uploads of %d files together, OPEN, WRITE, CLOSE and RENAME (4, plus TCP slow start: their %d KiB on a young connection take a few more), those into a new directory sent behind its MKDIR on its session rather than a round trip after it; the deletes (1: the LSTAT that keeps a REMOVE from falling back to RMDIR on a directory went out with the uploads); the marker's rename with the lock's two RMDIRs right behind it on its session (1: the server removes the lock only once the marker has moved; they took a round trip each until this run's version). That is about 20 round trips, %.1f s at this RTT, before any CPU time: gftp's start and reading its settings until the target is known, and its plan once the marker is read (opening the repository's commit and the dirty-tree check now overlap the login), and sshd's fork, re-exec and password hash per connection, on a shared 2-core machine. What is left is not gftp's to remove: the \"none\" probe is x/crypto/ssh's; the deletes must wait for every upload, so that no page goes before its replacement is there, and the marker for every delete; and more SSH connections would multiply TCP's first window, but each costs the server a password hash. Closing the 8 SFTP sessions one after the other cost 8 more round trips before, and reading the marker 3 more.\n",
			r.shape.changed+r.shape.deleted+r.shape.added, fmtDur(dur(gp)), gp/rtt, 1.5/rtt, r.shape.changed+r.shape.added, (r.shape.changed+r.shape.added)*r.shape.size/1024, 20*rtt)
	}
	return b.String()
}

// cpuSplit is the median of a cell's client CPU and of its system part
// over the successful runs that logged both.
func (r report) cpuSplit(k key) (cpu, sys time.Duration) {
	var cs, ss []time.Duration
	for _, m := range r.results[k] {
		if m.err == nil && m.cpu > 0 && m.sys > 0 {
			cs = append(cs, m.cpu)
			ss = append(ss, m.sys)
		}
	}
	return median(cs), median(ss)
}

// cpuText splits the client's CPU for the FTPES init on loopback into user
// and system time: the figures behind the CPU target of issue 16.
func cpuText(r report) string {
	type row struct {
		name         string
		g, gs, l, ls time.Duration
	}
	var rows []row
	for _, id := range []string{"ftpes12", "ftpes13"} {
		tg, ok := r.target(id)
		if !ok {
			continue
		}
		g, gs := r.cpuSplit(key{id, "init", "loopback", g8})
		l, ls := r.cpuSplit(key{id, "init", "loopback", lftp8})
		if g == 0 || l == 0 {
			continue
		}
		rows = append(rows, row{tg.name, g, gs, l, ls})
	}
	if len(rows) == 0 {
		return ""
	}
	files := float64(r.shape.files)
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", d.Seconds()/files*1e6) }
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Client CPU for the FTPES init on loopback: user and system\n\n")
	fmt.Fprintf(&b, "The target is gftp's CPU at most half of lftp's. The same runs as the tables above, split by the kernel's rusage into user and system time, per file in brackets (%d files):\n\n", r.shape.files)
	fmt.Fprintf(&b, "| | gftp -j 8: all | gftp: system | lftp --parallel=8: all | lftp: system | gftp / lftp | half of lftp |\n|---|---|---|---|---|---|---|\n")
	for _, w := range rows {
		fmt.Fprintf(&b, "| %s | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %.0f%% | %s |\n", w.name,
			fmtDur(w.g), us(w.g), fmtDur(w.gs), us(w.gs), fmtDur(w.l), us(w.l), fmtDur(w.ls), us(w.ls), 100*w.g.Seconds()/w.l.Seconds(), fmtDur(w.l/2))
	}
	w := rows[0]
	fmt.Fprintf(&b, "\nEvery file is a data connection of its own: a TCP connect, a resumed TLS handshake, the content, a FIN, and on the control connection STOR and its replies; gftp also sends RNFR and RNTO per file, for the atomic replacement lftp does not make. On loopback the kernel runs the receiving side's TCP work inside the sender's system call, so part of vsftpd's receive path is billed to the client. ")
	if half := w.l / 2; w.gs >= half {
		fmt.Fprintf(&b, "In the %s run gftp's system time alone, %s, is already more than half of lftp's whole CPU (%s): the target would need gftp's user time below zero, whatever it does in user space. ", w.name, fmtDur(w.gs), fmtDur(half))
	} else {
		fmt.Fprintf(&b, "In the %s run half of lftp's CPU is %s; gftp's system time takes %s of it, which leaves %s (%s per file) for everything gftp does in user space: the TLS handshake of each data connection (its key schedule and AES-GCM; with TLS 1.3 also a P-256 key exchange, since Go's client resumes a session only with a fresh key share), the FTP dialogue, reading the blob and the Go runtime's scheduling. gftp's user time was %s (%s per file). ", w.name, fmtDur(half), fmtDur(w.gs), fmtDur(half-w.gs), us(half-w.gs), fmtDur(w.g-w.gs), us(w.g-w.gs))
	}
	fmt.Fprintf(&b, "gftp runs its Go code on one CPU while FTP transfers run (remote.ProcsLimiter): with two, the Go scheduler took 18%% of its profile, spinning the second CPU up for each wake-up and back to sleep (about 9 nanosleep calls per file in strace), and in runs alternating with the build before, one CPU cut gftp's CPU for this init by 5 to 25%%. Control and data connections write and half-close through RawSyscall (ftpconn's fastConn): a write on loopback runs the receiver's TCP work too and outlasts sysmon's 20 µs tick, and through net.Conn the runtime then handed the one CPU to another thread to run nothing (perf stat of the init: context switches 33k to 22k, sysmon's nanosleeps 13k to 7.5k, system calls 111k to 85k). An upload's data connection is closed unread once its 226 is in, instead of being read to the server's close; its last bytes go with the FIN; and the goroutines that dial and run the handshake grow their stacks once. Reads go through RawSyscall too, and so do the passive data connections' connects: Data.Release dissolves a finished upload's TCP connection (connect(2) to AF_UNSPEC) and the next passive port is connected on the same socket, which saves socket, close, the poller's add and delete, getsockname, getpeername and TCP_NODELAY per file; the upload's read of a loose object's head, which the plan has just read, is a RawSyscall as well. A system call entered through the scheduler wakes sysmon from the sleep it takes while the process waits for the server, and sysmon then polls every 20 µs for the next millisecond: kept from that sleep (GODEBUG=schedtrace, as an experiment), the init took 13%% less CPU, and these changes took sysmon's wake-ups in an init from about 490 to under 10 (perf probe on runtime.entersyscallWakeSysmon). What is left, by perf of the process with TLS 1.2: the kernel about half (on this VM every system call's entry and exit is dear; the loopback TCP work of both ends; connect; the interrupts that wake a sleeping thread), TLS 6%%, allocation and the collector 8%%, the scheduler 5%%; with TLS 1.3, each data connection's P-256 key exchange adds about 12%%. Before issue 16's work it was 2.81 s against lftp's 3.13 s (90%%) with TLS 1.2, and 3.31 s against 2.69 s (123%%) with TLS 1.3.\n")
	return b.String()
}

// cpuShare describes a loopback cell's CPU: the client's, the server's,
// and the wall time their sum allows on this machine's CPUs.
func (r report) cpuShare(target, op, tool string) (client, server, floor float64, ok bool) {
	k := key{target, op, "loopback", tool}
	_, c, n, _, _ := r.cell(k)
	s := r.srvCPU(k)
	if n == 0 || c == 0 || s == 0 {
		return 0, 0, 0, false
	}
	return c.Seconds(), s.Seconds(), (c.Seconds() + s.Seconds()) / float64(runtime.NumCPU()), true
}

// s3Text gives the S3 rows' round-trip arithmetic with this run's figures.
func s3Text(r report) string {
	tg, ok := r.target("s3")
	if !ok {
		return ""
	}
	rtt := r.rtt.Seconds()
	gi := r.secs("s3", "init", "50 ms RTT", g8)
	var b strings.Builder
	fmt.Fprintf(&b, "\n## S3: requests in flight on one connection pool\n\n")
	if gl := r.secs("s3", "init", "loopback", g8); gl > 0 {
		if c, s, floor, ok := r.cpuShare("s3", "init", g8); ok {
			fmt.Fprintf(&b, "- **Init on loopback: %s.** Here gftp and versitygw share the machine's %d CPUs: gftp used %s of CPU, versitygw %s on its behalf, so the run could not take less than %s.",
				fmtDur(dur(gl)), runtime.NumCPU(), fmtDur(dur(c)), fmtDur(dur(s)), fmtDur(dur(floor)))
			for _, p := range []string{rclone8, awsSync} {
				if pc, ps, _, ok := r.cpuShare("s3", "init", p); ok {
					fmt.Fprintf(&b, " %s took %s (%.1f× gftp) with %s of its own CPU and %s of versitygw's.", p, fmtDur(dur(r.secs("s3", "init", "loopback", p))), r.ratio("s3", "init", "loopback", p), fmtDur(dur(pc)), fmtDur(dur(ps)))
				}
			}
			fmt.Fprintf(&b, " The server's share is work per PUT that no client can take away, so on loopback a ratio is bounded by the peer's time over that floor, whatever the client does.")
			var above []string
			for _, p := range []struct {
				tool string
				want float64
			}{{rclone8, 2}, {awsSync, 5}} {
				pl := r.secs("s3", "init", "loopback", p.tool)
				switch {
				case pl <= 0 || gl <= pl/p.want:
				case pl/p.want < floor:
					fmt.Fprintf(&b, " %g× %s would need %s, less than that floor: versitygw's CPU alone takes %s of it on %d CPUs.",
						p.want, p.tool, fmtDur(dur(pl/p.want)), fmtDur(dur(s/float64(runtime.NumCPU()))), runtime.NumCPU())
				default:
					above = append(above, fmt.Sprintf("%g× %s needs %s", p.want, p.tool, fmtDur(dur(pl/p.want))))
				}
			}
			if len(above) > 0 {
				fmt.Fprintf(&b, " %s: above that floor, but this run took %.1f× its floor, the CPUs being shared with other work (the load below), which stretches a client that keeps both CPUs busy more than one that keeps one.",
					strings.Join(above, ", "), gl/floor)
			}
			fmt.Fprintf(&b, "\n")
		}
	}
	if gi == 0 || rtt == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "- **Init at 50 ms RTT: %s, %.2f round trips per request in flight.** An object is one PUT, one round trip on a kept-alive connection. versitygw runs with `--keep-alive` here, as AWS S3 keeps connections open; at its own default it answers every request with `Connection: close`, so that every PUT of every client also opens its TCP connection (2 round trips; the runs before this one measured that: gftp 10.3 s, rclone 57.0 s, aws s3 sync 40.4 s). gftp's requests share one pool of as many connections as it keeps PUTs in flight (TestS3ConnectionsReused counts them). With %d PUTs in flight, %d files need %d / %d × 1 × %.1f ms = %.2f s; the rest is gftp's start and plan, the lock and the marker, and the CPU below.\n",
		fmtDur(dur(gi)), r.perSlot(tg, "init", "50 ms RTT"), tg.slots, r.shape.files, r.shape.files, tg.slots, rtt*1000, float64(r.shape.files)/float64(tg.slots)*rtt)
	if _, c, n, _, _ := r.cell(key{"s3", "init", "50 ms RTT", g8}); n > 0 && c > 0 {
		s := r.srvCPU(key{"s3", "init", "50 ms RTT", g8})
		fmt.Fprintf(&b, "- The CPU work does not go away across the link: gftp used %s of CPU and versitygw %s for this init, %s on %d CPUs, partly while requests wait for their answers; the round trips alone are %s.\n",
			fmtDur(c), fmtDur(s), fmtDur((c+s)/time.Duration(runtime.NumCPU())), runtime.NumCPU(), fmtDur(dur(float64(r.shape.files)/float64(tg.slots)*rtt)))
	}
	for _, p := range []struct {
		tool  string
		slots int
	}{{rclone8, 8}, {awsSync, 10}} {
		if x := r.perPeerSlot("s3", p.tool, p.slots); x > 0 {
			floor := float64(r.shape.files) / float64(p.slots) * rtt
			fmt.Fprintf(&b, "- **%s: %s, %.1f× gftp**, %.2f round trips per file per request slot (%d at once): at 1 round trip per PUT its floor is %d / %d × 1 × %.1f ms = %.1f s, so the ratio to gftp is bounded by how many requests each keeps in flight.\n",
				p.tool, fmtDur(dur(r.secs("s3", "init", "50 ms RTT", p.tool))), r.ratio("s3", "init", "50 ms RTT", p.tool), x, p.slots, r.shape.files, p.slots, rtt*1000, floor)
		}
	}
	return b.String()
}
