package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestSFTPHostKeysCLI: what a user sees for an unknown and a changed host
// key, and --accept-new-host-key, through the gftp command.
func TestSFTPHostKeysCLI(t *testing.T) {
	srv := servers.StartSSHD(t)
	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	head := g.Commit("one")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, nil, 0o600)

	r := gftp(t, srv, g.Dir, "init", "--known-hosts", kh, srv.URL)
	expectFailure(t, r, 4, "is not known", "SHA256:", "--accept-new-host-key")
	if _, err := os.Stat(filepath.Join(srv.Root, ".git-ftp.log")); !os.IsNotExist(err) {
		t.Fatalf("deployed to a host whose key is unknown")
	}

	mustGftp(t, srv, g.Dir, "init", "--known-hosts", kh, "--accept-new-host-key", srv.URL)
	checkServed(t, srv, g, head)
	data, _ := os.ReadFile(kh)
	if !strings.Contains(string(data), "[127.0.0.1]:") {
		t.Fatalf("--accept-new-host-key did not add the host: %q", data)
	}

	// Another key for the same host: refused loudly, even with
	// --accept-new-host-key.
	fields := strings.Fields(string(data))
	other := fields[0] + " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMu0VY4FuqtMfjPmhtHyUQmW4N6yG7kXQyBwxnNqhhmL\n"
	os.WriteFile(kh, []byte(other), 0o600)
	r = gftp(t, srv, g.Dir, "push", "--known-hosts", kh, "--accept-new-host-key", srv.URL)
	expectFailure(t, r, 5, "HAS CHANGED", "ssh-keygen -R")
}
