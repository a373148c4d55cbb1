package sftp_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sftplib "github.com/pkg/sftp"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/retry"
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

// countingLister counts the STAT and LSTAT requests a RequestServer gets.
type countingLister struct {
	sftplib.FileLister
	stats *atomic.Int32
}

func (l countingLister) Filelist(r *sftplib.Request) (sftplib.ListerAt, error) {
	if r.Method == "Stat" || r.Method == "Lstat" {
		l.stats.Add(1)
	}
	return l.FileLister.Filelist(r)
}

// TestPrepareRemoveSendsRemoveAlone: once PrepareRemove has checked the
// names, Remove sends no LSTAT of its own (a round trip saved), still
// refuses a directory, reports a name found missing as missing, and checks
// again a name written since (Put).
func TestPrepareRemoveSendsRemoveAlone(t *testing.T) {
	isolate(t)
	var stats atomic.Int32
	h := sftplib.InMemHandler()
	h.FileList = countingLister{h.FileList, &stats}
	srv := startServer(t, &server{handlers: &h})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, f := range []string{"a", "b"} {
		if err := r.Put(ctx, f, strings.NewReader(f), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Mkdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	rp, ok := remote.As[remote.RemovePreparer](r)
	if !ok {
		t.Fatal("the sftp transport is no remote.RemovePreparer")
	}
	before := stats.Load()
	rp.PrepareRemove(ctx, []string{"a", "d", "gone", "b"})
	for deadline := time.Now().Add(5 * time.Second); stats.Load() < before+4; {
		if time.Now().After(deadline) {
			t.Fatalf("%d checks reached the server, want 4", stats.Load()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the answers are in
	if err := r.Put(ctx, "b", strings.NewReader("B"), 1); err != nil {
		t.Fatal(err)
	}
	n := stats.Load()
	if err := r.Remove(ctx, "a"); err != nil {
		t.Errorf("remove a: %v", err)
	}
	if err := r.Remove(ctx, "d"); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("remove d: %v, want a directory refused", err)
	}
	if err := r.Remove(ctx, "gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove gone: %v, want fs.ErrNotExist", err)
	}
	if got := stats.Load() - n; got != 0 {
		t.Errorf("removes of prepared names sent %d STAT/LSTAT requests, want 0", got)
	}
	if err := r.Remove(ctx, "b"); err != nil {
		t.Errorf("remove b: %v", err)
	}
	if got := stats.Load() - n; got != 1 {
		t.Errorf("remove of b, written after PrepareRemove, sent %d STAT/LSTAT requests, want 1 (checked again)", got)
	}
	for _, f := range []string{"a", "b"} {
		if _, err := r.Stat(ctx, f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", f, err)
		}
	}
	if fi, err := r.Stat(ctx, "d"); err != nil || !fi.IsDir {
		t.Errorf("directory d is gone: %v", err)
	}
}

// orderLog records, in the order the server handles them, the MKDIRs and
// the opens for reading a RequestServer gets.
type orderLog struct {
	mu  sync.Mutex
	ops []string
}

func (o *orderLog) add(op string) {
	o.mu.Lock()
	o.ops = append(o.ops, op)
	o.mu.Unlock()
}

func (o *orderLog) has(op string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Contains(o.ops, op)
}

func (o *orderLog) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ops := o.ops
	o.ops = nil
	return ops
}

type loggingCmder struct {
	sftplib.FileCmder
	log *orderLog
}

func (c loggingCmder) Filecmd(r *sftplib.Request) error {
	if r.Method == "Mkdir" {
		c.log.add("mkdir " + r.Filepath)
	}
	return c.FileCmder.Filecmd(r)
}

type loggingReader struct {
	sftplib.FileReader
	log *orderLog
}

func (g loggingReader) Fileread(r *sftplib.Request) (io.ReaderAt, error) {
	g.log.add("open " + r.Filepath)
	return g.FileReader.Fileread(r)
}

// TestPreOpenBehindLock: files given to PreOpen are opened by the next
// MkdirNested in the same exchange, but only once the lock's MKDIR has
// gone out on the session (the server handles them in that order: a
// marker replaced before the lock was ours must not be what is read), and
// Open then reads them; when the lock exists, they are dropped, and Open
// opens afresh.
func TestPreOpenBehindLock(t *testing.T) {
	isolate(t)
	var log orderLog
	h := sftplib.InMemHandler()
	h.FileCmd = loggingCmder{h.FileCmd, &log}
	h.FileGet = loggingReader{h.FileGet, &log}
	r := openInMem(t, &h, 2)
	ctx := context.Background()
	if err := r.Put(ctx, "m", strings.NewReader("one"), 3); err != nil {
		t.Fatal(err)
	}
	po, ok := remote.As[remote.PreOpener](r)
	if !ok {
		t.Fatal("the sftp transport is no remote.PreOpener")
	}
	nd, ok := remote.As[remote.NestedDirMaker](r)
	if !ok {
		t.Fatal("the sftp transport is no remote.NestedDirMaker")
	}
	read := func(name string) (string, error) {
		rc, err := r.Open(ctx, name)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	for i := 0; i < 20; i++ {
		log.take()
		po.PreOpen("m", "j")
		if dirErr, subErr := nd.MkdirNested(ctx, "lock", "me"); dirErr != nil || subErr != nil {
			t.Fatalf("MkdirNested: %v, %v", dirErr, subErr)
		}
		// Opened with the lock, before anyone asks.
		for deadline := time.Now().Add(2 * time.Second); !log.has("open /m"); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: /m was not opened behind the lock", i)
			}
		}
		if s, err := read("m"); err != nil || s != "one" {
			t.Fatalf("read m: %q, %v", s, err)
		}
		if _, err := read("j"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("read j: %v, want fs.ErrNotExist", err)
		}
		got := log.take()
		opens := 0
		for _, op := range got {
			if op == "open /m" {
				opens++
			}
		}
		// (The lock's MKDIR first; the OPEN of /m behind it, once.)
		if lock, m := slices.Index(got, "mkdir /lock"), slices.Index(got, "open /m"); lock < 0 || m < lock || opens != 1 {
			t.Fatalf("round %d: the server handled %q; want the lock's MKDIR, then one open of /m", i, got)
		}
		if err := nd.RmdirNested(ctx, "lock", "me"); err != nil {
			t.Fatal(err)
		}
	}

	// The lock is someone else's: nothing opened behind it is read.
	if err := r.Mkdir(ctx, "lock"); err != nil {
		t.Fatal(err)
	}
	log.take()
	po.PreOpen("m")
	if dirErr, _ := nd.MkdirNested(ctx, "lock", "me"); !errors.Is(dirErr, fs.ErrExist) {
		t.Fatalf("MkdirNested on a held lock: %v, want fs.ErrExist", dirErr)
	}
	// The OPEN sent behind the MKDIR may reach the server after
	// MkdirNested returns: let it arrive before counting.
	for deadline := time.Now().Add(2 * time.Second); !log.has("open /m") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	log.take()
	if s, err := read("m"); err != nil || s != "one" {
		t.Fatalf("read m: %q, %v", s, err)
	}
	if got := log.take(); !slices.Equal(got, []string{"open /m"}) {
		t.Errorf("after a lock not taken, Open sent %q, want a fresh open of /m", got)
	}
}

// slowMkdir holds each MKDIR for a while before making it.
type slowMkdir struct {
	sftplib.FileCmder
	delay time.Duration
}

func (c slowMkdir) Filecmd(r *sftplib.Request) error {
	if r.Method == "Mkdir" {
		time.Sleep(c.delay)
	}
	return c.FileCmder.Filecmd(r)
}

// TestMkdirStartThenPut: an upload into a directory whose MKDIR has gone
// out but is not answered yet goes out behind it on its session, so that
// the server makes the directory first, though other sessions are idle.
func TestMkdirStartThenPut(t *testing.T) {
	isolate(t)
	h := sftplib.InMemHandler()
	h.FileCmd = slowMkdir{h.FileCmd, 300 * time.Millisecond}
	r := openInMem(t, &h, 4)
	ctx := context.Background()
	// Start more sessions: they open while the ones there are busy.
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = r.Stat(ctx, "x")
			}()
		}
		wg.Wait()
		time.Sleep(50 * time.Millisecond)
	}
	ds, ok := remote.As[remote.DirStarter](r)
	if !ok {
		t.Fatal("the sftp transport is no remote.DirStarter")
	}
	for i, dir := range []string{"new", "new/sub"} {
		start := time.Now()
		done := ds.MkdirStart(ctx, dir)
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("MkdirStart(%s) took %v: it waited for the answer", dir, d)
		}
		name := dir + "/f"
		if err := r.Put(ctx, name, strings.NewReader("data"), 4); err != nil {
			t.Fatalf("put %s right behind the MKDIR of %s: %v", name, dir, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("mkdir %s: %v", dir, err)
		}
		if fi, err := r.Stat(ctx, name); err != nil || fi.Size != 4 {
			t.Fatalf("round %d: %s: %+v, %v", i, name, fi, err)
		}
	}
}

// reorderedOpen answers the first OPEN for writing as a server that ran it
// before the MKDIR sent ahead of it would: no such directory.
type reorderedOpen struct {
	sftplib.FileWriter
	once sync.Once
}

func (w *reorderedOpen) Filewrite(r *sftplib.Request) (io.WriterAt, error) {
	first := false
	w.once.Do(func() { first = true })
	if first {
		return nil, os.ErrNotExist
	}
	return w.FileWriter.Filewrite(r)
}

// TestPutBehindMkdirReordered: a server that does not keep one session's
// order (the SFTP drafts promise it only for requests on one file) may run
// an upload's OPEN before the MKDIR of its directory sent ahead of it; the
// upload is opened again once the MKDIR is answered, and the file arrives.
func TestPutBehindMkdirReordered(t *testing.T) {
	isolate(t)
	h := sftplib.InMemHandler()
	h.FileCmd = slowMkdir{h.FileCmd, 200 * time.Millisecond}
	h.FilePut = &reorderedOpen{FileWriter: h.FilePut}
	r := openInMem(t, &h, 0)
	ctx := context.Background()
	ds, ok := remote.As[remote.DirStarter](r)
	if !ok {
		t.Fatal("the sftp transport is no remote.DirStarter")
	}
	done := ds.MkdirStart(ctx, "new")
	if err := r.Put(ctx, "new/f", strings.NewReader("data"), 4); err != nil {
		t.Fatalf("put behind a reordered MKDIR: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	rc, err := r.Open(ctx, "new/f")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "data" {
		t.Fatalf("new/f: %q, %v", b, err)
	}
}

// TestPreOpenedDroppedOnWrite: a file opened behind the lock and not read
// yet is dropped when the same Remote writes that name (catchup writes the
// marker without reading it): a later Open reads the new content, not the
// file the early handle held.
func TestPreOpenedDroppedOnWrite(t *testing.T) {
	isolate(t)
	h := sftplib.InMemHandler()
	r := openInMem(t, &h, 0)
	ctx := context.Background()
	for _, write := range []string{"rename", "remove"} {
		if err := r.Put(ctx, "m", strings.NewReader("old"), 3); err != nil {
			t.Fatal(err)
		}
		po, _ := remote.As[remote.PreOpener](r)
		nd, _ := remote.As[remote.NestedDirMaker](r)
		po.PreOpen("m")
		if dirErr, subErr := nd.MkdirNested(ctx, "lock", "me"); dirErr != nil || subErr != nil {
			t.Fatalf("MkdirNested: %v, %v", dirErr, subErr)
		}
		want := "new"
		switch write {
		case "rename":
			if err := r.Put(ctx, "m.tmp", strings.NewReader("new"), 3); err != nil {
				t.Fatal(err)
			}
			if err := r.Rename(ctx, "m.tmp", "m"); err != nil {
				t.Fatal(err)
			}
		case "remove":
			if err := r.Remove(ctx, "m"); err != nil {
				t.Fatal(err)
			}
			want = ""
		}
		rc, err := r.Open(ctx, "m")
		switch {
		case want == "" && !errors.Is(err, fs.ErrNotExist):
			t.Fatalf("%s: open of a removed m: %v, want fs.ErrNotExist", write, err)
		case want != "":
			if err != nil {
				t.Fatalf("%s: open m: %v", write, err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != want {
				t.Fatalf("%s: m reads %q, want %q", write, b, want)
			}
		}
		if err := nd.RmdirNested(ctx, "lock", "me"); err != nil {
			t.Fatal(err)
		}
	}
}

// openInMem starts a server with handlers h and opens it with jobs
// connections (0: the default), trusting its host key, logging nothing.
func openInMem(t *testing.T, h *sftplib.Handlers, jobs int) remote.Remote {
	t.Helper()
	srv := startServer(t, &server{handlers: h})
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, Jobs: jobs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// gatedRename logs renames and removals of directories in the order the
// server handles them, and holds each rename until the first RMDIR has
// reached the server (or 5 s have passed).
type gatedRename struct {
	sftplib.FileCmder
	log    *orderLog
	rmdirs <-chan struct{}
	early  *atomic.Bool // a rename was answered before any RMDIR arrived
}

func (g gatedRename) Filecmd(r *sftplib.Request) error {
	if r.Method == "Rmdir" {
		g.log.add("rmdir " + r.Filepath)
	}
	return g.FileCmder.Filecmd(r)
}

func (g gatedRename) PosixRename(r *sftplib.Request) error {
	select {
	case <-g.rmdirs:
	case <-time.After(5 * time.Second):
		g.early.Store(true)
	}
	g.log.add("rename " + r.Filepath + " " + r.Target)
	return g.FileCmder.(sftplib.PosixRenameFileCmder).PosixRename(r)
}

// TestRenameRmdirNested: the marker's rename and the lock's two RMDIRs go
// out in one exchange (the RMDIRs reach the server while it still holds
// the rename unanswered), and the server handles the rename first, so the
// lock is gone only once the marker has moved. A failed rename still
// releases the lock and says why it failed.
func TestRenameRmdirNested(t *testing.T) {
	isolate(t)
	var log orderLog
	var early atomic.Bool
	rmdirs := make(chan struct{})
	var once sync.Once
	h := sftplib.InMemHandler()
	h.FileCmd = gatedRename{h.FileCmd, &log, rmdirs, &early}
	srv := &server{handlers: &h, sniff: func(typ byte) {
		if typ == 15 { // SSH_FXP_RMDIR
			once.Do(func() { close(rmdirs) })
		}
	}}
	startServer(t, srv)
	kh := srv.knownHosts(t, srv.hostKeys[0].PublicKey())
	r, err := open(t, srv, "/", remote.Options{Password: testPassword, KnownHosts: kh, Jobs: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rr, ok := remote.As[remote.RenameRmdirer](r)
	if !ok {
		t.Fatal("the sftp transport is no remote.RenameRmdirer")
	}
	nd, _ := remote.As[remote.NestedDirMaker](r)
	read := func(name string) string {
		rc, err := r.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, f := range []string{"marker", "marker.tmp"} {
		if err := r.Put(ctx, f, strings.NewReader(f), int64(len(f))); err != nil {
			t.Fatal(err)
		}
	}
	if dirErr, subErr := nd.MkdirNested(ctx, "lock", "me"); dirErr != nil || subErr != nil {
		t.Fatalf("MkdirNested: %v, %v", dirErr, subErr)
	}
	log.take()
	sent, renameErr, rmdirErr := rr.RenameRmdirNested(ctx, "marker.tmp", "marker", "lock", "me")
	if !sent || renameErr != nil || rmdirErr != nil {
		t.Fatalf("RenameRmdirNested: sent %v, rename %v, rmdir %v", sent, renameErr, rmdirErr)
	}
	if early.Load() {
		t.Error("the rename was answered before the lock's RMDIR reached the server: two round trips, not one")
	}
	if got, want := log.take(), []string{"rename /marker.tmp /marker", "rmdir /lock/me", "rmdir /lock"}; !slices.Equal(got, want) {
		t.Errorf("the server handled %q, want %q", got, want)
	}
	if got := read("marker"); got != "marker.tmp" {
		t.Errorf("marker holds %q, want the staged content", got)
	}
	for _, n := range []string{"marker.tmp", "lock"} {
		if _, err := r.Stat(ctx, n); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", n, err)
		}
	}

	// A rename that fails: the lock goes all the same, and the error says
	// what is missing.
	if dirErr, subErr := nd.MkdirNested(ctx, "lock", "me"); dirErr != nil || subErr != nil {
		t.Fatalf("MkdirNested: %v, %v", dirErr, subErr)
	}
	sent, renameErr, rmdirErr = rr.RenameRmdirNested(ctx, "gone.tmp", "marker", "lock", "me")
	if !sent || !errors.Is(renameErr, fs.ErrNotExist) || rmdirErr != nil {
		t.Fatalf("RenameRmdirNested of a missing file: sent %v, rename %v (want fs.ErrNotExist), rmdir %v", sent, renameErr, rmdirErr)
	}
	if _, err := r.Stat(ctx, "lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock is still there after a failed rename: %v", err)
	}
	if got := read("marker"); got != "marker.tmp" {
		t.Errorf("marker holds %q after a failed rename", got)
	}
}

// TestMaxProcsThroughOpen: an SFTP target, as Open returns it and with
// retries around it, asks the executor for one CPU.
func TestMaxProcsThroughOpen(t *testing.T) {
	isolate(t)
	h := sftplib.InMemHandler()
	r := retry.New(openInMem(t, &h, 2), retry.Policy{})
	if got := remote.MaxProcs(r); got != 1 {
		t.Errorf("remote.MaxProcs(sftp) = %d, want 1", got)
	}
}
