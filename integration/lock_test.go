package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestLockRace starts two pushes of a large change at the same moment:
// exactly one deploys, the other fails fast with exit 7 naming the holder,
// and no lock is left behind.
func TestLockRace(t *testing.T) {
	targets := map[string]func(t *testing.T) *servers.Server{
		"vsftpd-ftpes-tls13": func(t *testing.T) *servers.Server { return servers.Start(t, servers.VsftpdFTPES13) },
		"proftpd-tls":        func(t *testing.T) *servers.Server { return servers.Start(t, servers.ProFTPdTLS) },
		"sshd-password":      func(t *testing.T) *servers.Server { return servers.StartSSHD(t) },
		"versitygw":          func(t *testing.T) *servers.Server { return servers.StartS3(t) },
	}
	for name, start := range targets {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			g := gittest.New(t)
			g.Write("index.html", []byte("one"))
			g.Commit("one")
			mustGftp(t, srv, g.Dir, "init", srv.URL)
			for i := 0; i < 500; i++ {
				g.Write(fmt.Sprintf("files/f%03d.txt", i), []byte(strings.Repeat("x", i)))
			}
			head := g.Commit("many files")

			var wg sync.WaitGroup
			results := make([]result, 2)
			for i := range results {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					results[i] = gftp(t, srv, g.Dir, "push", "-j", "1", srv.URL)
				}(i)
			}
			wg.Wait()
			codes := []int{results[0].code, results[1].code}
			if !(codes[0] == 0 && codes[1] == 7 || codes[0] == 7 && codes[1] == 0) {
				t.Fatalf("exit codes %v, want one 0 and one 7\nfirst: %s\nsecond: %s", codes, results[0].stderr, results[1].stderr)
			}
			loser := results[0]
			if codes[1] == 7 {
				loser = results[1]
			}
			if !strings.Contains(loser.stderr, "the remote is locked by") || !strings.Contains(loser.stderr, "gftp push of "+head[:7]) {
				t.Errorf("the loser does not name the holder:\n%s", loser.stderr)
			}
			checkServed(t, srv, g, head)
			if _, err := os.Stat(filepath.Join(srv.Root, ".gftp.lock")); !os.IsNotExist(err) {
				t.Errorf("the lock was left behind: %v", err)
			}
		})
	}
}
