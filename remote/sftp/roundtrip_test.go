package sftp_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
)

// TestRemoveRefusesDirectories: Remove sends LSTAT and REMOVE together,
// and pkg/sftp's REMOVE falls back to RMDIR; a directory, empty or not,
// must still be refused and left in place, a missing file reported as
// missing, and a file removed.
func TestRemoveRefusesDirectories(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	root := t.TempDir()
	r, err := open(t, srv, root, remote.Options{Password: testPassword, KnownHosts: kh, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, d := range []string{"empty", "full"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "full", "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"empty", "full"} {
		err := r.Remove(ctx, d)
		if err == nil {
			t.Errorf("remove directory %s: no error", d)
		}
		if fi, serr := os.Stat(filepath.Join(root, d)); serr != nil || !fi.IsDir() {
			t.Errorf("remove directory %s (%v): it is gone (%v)", d, err, serr)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "full", "x")); err != nil {
		t.Errorf("a file in a refused directory is gone: %v", err)
	}
	if err := r.Remove(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove missing: %v, want fs.ErrNotExist", err)
	}
	if err := r.Remove(ctx, "f"); err != nil {
		t.Errorf("remove f: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("f is still there: %v", err)
	}
}

// TestNoSubsystemFailsAtOnce: a server that refuses the sftp subsystem
// fails the connection at once, with that refusal, not after the idle
// timeout (a session's INIT must never be sent blind, without the
// request's answer: see dial).
func TestNoSubsystemFailsAtOnce(t *testing.T) {
	isolate(t)
	srv := startServer(t, &server{noSFTP: true})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	start := time.Now()
	_, err := open(t, srv, t.TempDir(), remote.Options{Password: testPassword, KnownHosts: kh, Timeout: 20 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "subsystem") {
		t.Fatalf("connect to a server without sftp: %v, want the subsystem's refusal", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusal took %v", d)
	}
}
