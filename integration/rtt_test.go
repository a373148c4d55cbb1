package integration_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/remotetest"
)

// dialogue is the -vv control dialogue of one connection: "> CMD" for a
// command sent, "< 226 ..." for a reply line.
var dialogueRE = regexp.MustCompile(`(?m)^([<>]) (.*) conn=(\d+)$`)

type line struct {
	out  bool // sent by the client
	text string
}

func dialogues(stderr string) map[string][]line {
	out := map[string][]line{}
	for _, m := range dialogueRE.FindAllStringSubmatch(stderr, -1) {
		out[m[3]] = append(out[m[3]], line{m[1] == ">", m[2]})
	}
	return out
}

// perFile cuts one connection's dialogue at each STOR of a temporary file
// under dir/ and returns, for each upload but the last, the commands sent
// until the next such STOR and the round trips (a reply awaited after
// sending) among them.
func perFile(d []line, dir string) (cmds [][]string, turns []int) {
	var starts []int
	for i, l := range d {
		if l.out && strings.HasPrefix(l.text, "STOR ") && strings.Contains(l.text, "/"+dir+"/.gftp-tmp-") {
			starts = append(starts, i)
		}
	}
	for k := 0; k+1 < len(starts); k++ {
		var c []string
		n := 0
		for i := starts[k]; i < starts[k+1]; i++ {
			if d[i].out {
				verb, _, _ := strings.Cut(d[i].text, " ")
				c = append(c, verb)
				if i+1 < len(d) && !d[i+1].out {
					n++
				}
			}
		}
		cmds = append(cmds, c)
		turns = append(turns, n)
	}
	return cmds, turns
}

// TestRoundTripsPerFile deploys files over one connection (-j 1) to each
// real server and reads the dialogue. Each upload after the first is four
// commands, with the data connection dialled ahead:
//
//   - vsftpd: STOR and the next EPSV in one write (with the TLS ClientHello
//     on the data connection dialled ahead), answered 150, 226, 229; then
//     RNFR and RNTO in one write: two waits on the control connection, and
//     three round trips with the data connection's TLS handshake.
//   - proftpd and pure-ftpd read commands during a transfer and refuse an
//     EPSV there (450, 500), so it goes with RNFR and RNTO, and the next
//     STOR leaves while its data connection is being dialled: two waits on
//     the control connection, four round trips.
//
// The library path before this took seven: EPSV, connect, STOR, TLS, 226,
// RNFR, RNTO. This is a check of the command sequence, not of time.
func TestRoundTripsPerFile(t *testing.T) {
	const files = 12
	for _, kind := range []servers.Kind{servers.VsftpdFTPES12, servers.VsftpdFTPES13, servers.VsftpdPlain, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		t.Run(string(kind), func(t *testing.T) {
			srv := servers.Start(t, kind)
			g := gittest.New(t)
			for i := 0; i < files; i++ {
				g.Write(fmt.Sprintf("d/f%02d.txt", i), remotetest.Content(int64(i), 4096))
			}
			g.Write("d/big.bin", remotetest.Content(99, 3<<20)) // past socket buffers: data, then 226
			g.Write("d/zero", nil)
			c1 := g.Commit("one")
			// --no-lock: the lock's details would go up on the one connection
			// between two of the uploads this test reads.
			r := mustGftp(t, srv, g.Dir, "init", "-j", "1", "--no-lock", "-vv", srv.URL)
			checkServed(t, srv, g, c1)
			// vsftpd over TLS refuses a data stream that ends without
			// close_notify (426), so its uploads need no check; everywhere
			// else a cut upload can look complete, so the temporary file's
			// SIZE is checked before the rename: one more round trip.
			want, wantTurns := "STOR EPSV RNFR RNTO", 2
			switch kind {
			case servers.PureFTPdTLS, servers.ProFTPdTLS:
				want, wantTurns = "STOR SIZE RNFR RNTO EPSV", 3
			case servers.VsftpdPlain:
				want, wantTurns = "STOR EPSV SIZE RNFR RNTO", 3
			}
			if strings.Contains(r.stderr, "sending it with the rename instead") {
				t.Fatalf("%s: an early EPSV was sent to a server that does not take it:\n%s", kind, tail(r.stderr, 4000))
			}
			ds := dialogues(r.stderr)
			if len(ds) != 1 {
				t.Fatalf("-j 1 used %d connections", len(ds))
			}
			for _, d := range ds {
				cmds, turns := perFile(d, "d")
				if len(cmds) != files+1 {
					t.Fatalf("found %d uploads in the dialogue, want %d:\n%s", len(cmds)+1, files+2, tail(r.stderr, 4000))
				}
				for i, c := range cmds {
					got := strings.Join(c, " ")
					if got != want || turns[i] != wantTurns {
						t.Errorf("upload %d: commands %q with %d waits for a reply; want %q with %d", i, got, turns[i], want, wantTurns)
					}
				}
			}
			// The same with a pool of connections, and a push over it.
			for i := 0; i < files; i += 2 {
				g.Write(fmt.Sprintf("d/f%02d.txt", i), remotetest.Content(int64(i+100), 4096))
			}
			g.Remove("d/f01.txt")
			g.Write("e/new.txt", []byte("new"))
			c2 := g.Commit("two")
			r = mustGftp(t, srv, g.Dir, "push", "-j", "4", "-v", srv.URL)
			checkServed(t, srv, g, c2)
			if strings.Contains(r.stderr, "sending it with the rename instead") {
				t.Fatalf("%s: an early EPSV was sent to a server that does not take it:\n%s", kind, tail(r.stderr, 4000))
			}
		})
	}
}
