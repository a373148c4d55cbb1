package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tmpfsMagic is statfs(2)'s f_type of a tmpfs.
const tmpfsMagic = 0x01021994

// tmpfsWhy is why the servers' files go on a tmpfs (serverStorage).
const tmpfsWhy = "Between runs the benchmark deletes what the run before uploaded, and ext4 without a journal (the disk of the machine this was first measured on) gives out no inode freed in the last minute or more: it skips past each of them for every new file, reading its inode table block (recently_deleted). On that disk, versitygw's CPU for one and the same gftp init, run four times in a row, grew from 0.97 s to 1.80 s (in a run that took 2.38 s of it, perf put 44% in that scan); on tmpfs it stays at 0.74 to 0.81 s. That cost is the machine's disk, not a client's protocol, and it moved with the order the tools ran in."

// serverStorage puts the test's temporary files, the servers' roots among
// them, on a tmpfs when there is one (/dev/shm), and returns how the
// report names where they were.
//
// Why: tmpfsWhy, which the report prints.
//
// GFTP_BENCH_STORAGE=DIR puts them in DIR instead; "disk" leaves $TMPDIR.
func serverStorage(t *testing.T) string {
	t.Helper()
	base := os.Getenv("GFTP_BENCH_STORAGE")
	switch base {
	case "disk":
		return "the disk (" + os.TempDir() + ")"
	case "":
		var st syscall.Statfs_t
		if err := syscall.Statfs("/dev/shm", &st); err != nil || st.Type != tmpfsMagic {
			return "the disk (" + os.TempDir() + "; no tmpfs at /dev/shm)"
		}
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "gftp-bench-")
	if err != nil {
		t.Fatalf("server storage: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// As /tmp is: the servers' accounts (vsftpd's, sshd's) must reach
	// their roots below it, and MkdirTemp makes it 0700.
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatalf("server storage: %v", err)
	}
	t.Setenv("TMPDIR", dir)
	kind := "a directory"
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic {
		kind = "tmpfs"
	}
	return kind + " (" + filepath.Dir(dir) + ")"
}

// TestServerStorage: the servers' files go under a new directory of the
// tmpfs (or of GFTP_BENCH_STORAGE), which $TMPDIR then names, and the
// report says where, as does a replay of the run's log.
func TestServerStorage(t *testing.T) {
	base := t.TempDir()
	t.Run("dir", func(t *testing.T) {
		t.Setenv("GFTP_BENCH_STORAGE", base)
		got := serverStorage(t)
		if tmp := os.Getenv("TMPDIR"); filepath.Dir(tmp) != base {
			t.Errorf("TMPDIR %q, want a directory in %s", tmp, base)
		}
		if !strings.HasSuffix(got, "("+base+")") {
			t.Errorf("storage %q does not name %s", got, base)
		}
		if fi, err := os.Stat(os.Getenv("TMPDIR")); err != nil || fi.Mode()&(os.ModePerm|os.ModeSticky) != 0o777|os.ModeSticky {
			t.Errorf("TMPDIR: %v, %v; want drwxrwxrwt as /tmp, so that the FTP and SSH accounts reach their roots", fi.Mode(), err)
		}
	})
	t.Run("disk", func(t *testing.T) {
		before := os.TempDir()
		t.Setenv("GFTP_BENCH_STORAGE", "disk")
		if got := serverStorage(t); !strings.HasPrefix(got, "the disk") || os.TempDir() != before {
			t.Errorf("storage %q, TMPDIR %q (was %q)", got, os.TempDir(), before)
		}
	})
	t.Run("tmpfs", func(t *testing.T) {
		var st syscall.Statfs_t
		if syscall.Statfs("/dev/shm", &st) != nil || st.Type != tmpfsMagic {
			t.Skip("no tmpfs at /dev/shm")
		}
		t.Setenv("GFTP_BENCH_STORAGE", "")
		got := serverStorage(t)
		if got != "tmpfs (/dev/shm)" || !strings.HasPrefix(os.TempDir(), "/dev/shm/gftp-bench-") {
			t.Errorf("storage %q, TMPDIR %q", got, os.TempDir())
		}
		var b bytes.Buffer
		writeReport(&b, report{storage: got})
		if !strings.Contains(b.String(), "were on tmpfs (/dev/shm). Between runs") || !strings.Contains(b.String(), "recently_deleted") {
			t.Errorf("the report does not say where the files were, and why:\n%s", b.String())
		}
		m := replayStorage.FindStringSubmatch("    bench_test.go:645: server storage: " + got)
		if m == nil || m[1] != got {
			t.Errorf("replay reads %q from the log line", m)
		}
	})
}
