package integration_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/remotetest"
)

// TestBackOffMaxPerIP deploys with -j 8 to a vsftpd that takes two
// connections from one address (max_per_ip=2, as shared hosts cap them) and
// answers the third with 421: the pool shrinks to what the server took, says
// so at -v, and the deploy succeeds. Runs follow each other at once, so the
// first connection of a run may meet the previous run's sessions still
// counted by the server.
func TestBackOffMaxPerIP(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES12, servers.MaxPerIP(2))
	g := gittest.New(t)
	for i := 0; i < 60; i++ {
		g.Write(fmt.Sprintf("d%d/f%02d.txt", i%3, i), remotetest.Content(int64(i), 4096))
	}
	c1 := g.Commit("one")
	r := mustGftp(t, srv, g.Dir, "init", "-j", "8", "-v", srv.URL)
	checkServed(t, srv, g, c1)
	if !strings.Contains(r.stderr, "server refused another connection") {
		t.Errorf("no word at -v of the server refusing a connection:\n%s", tail(r.stderr, 3000))
	}
	for i := 0; i < 60; i += 3 {
		g.Write(fmt.Sprintf("d%d/f%02d.txt", i%3, i), remotetest.Content(int64(i+1000), 4096))
	}
	g.Remove("d1/f01.txt")
	c2 := g.Commit("two")
	mustGftp(t, srv, g.Dir, "push", "-j", "8", "-v", srv.URL)
	checkServed(t, srv, g, c2)
}
