package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestCheckRepair: drift made by hand on a real server is found by check
// and undone by push --repair.
func TestCheckRepair(t *testing.T) {
	targets := map[string]func(t *testing.T) *servers.Server{
		"vsftpd-ftpes-tls12": func(t *testing.T) *servers.Server { return servers.Start(t, servers.VsftpdFTPES12) },
		"sshd-password":      func(t *testing.T) *servers.Server { return servers.StartSSHD(t) },
		"versitygw":          func(t *testing.T) *servers.Server { return servers.StartS3(t) },
	}
	for name, start := range targets {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			g := gittest.New(t)
			g.Write("index.html", []byte("<h1>hello</h1>"))
			g.Write("css/site.css", []byte("body {}"))
			g.Write("a b/#c.txt", []byte("odd"))
			head := g.Commit("one")
			mustGftp(t, srv, g.Dir, "init", srv.URL)
			r := mustGftp(t, srv, g.Dir, "check", srv.URL)
			if !strings.Contains(r.stdout, "Checked 3 files") || !strings.Contains(r.stdout, "0 missing, 0 wrong size, 0 extra") {
				t.Fatalf("check of a clean server: %s", r.stdout)
			}
			os.Remove(filepath.Join(srv.Root, "css", "site.css"))
			os.WriteFile(filepath.Join(srv.Root, "a b", "#c.txt"), []byte("x"), 0o644)
			os.WriteFile(filepath.Join(srv.Root, "stray.php"), []byte("x"), 0o644)
			r = gftp(t, srv, g.Dir, "check", srv.URL)
			if r.code != 1 {
				t.Fatalf("check of a drifted server exited %d: %s %s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{"missing css/site.css", "size    a b/#c.txt", "extra   stray.php"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("check output lacks %q:\n%s", want, r.stdout)
				}
			}
			mustGftp(t, srv, g.Dir, "push", "--repair", srv.URL)
			os.Remove(filepath.Join(srv.Root, "stray.php"))
			checkServed(t, srv, g, head)
		})
	}
}
