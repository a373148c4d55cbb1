package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
	"github.com/gftp/gftp/remote/retry"
)

// flaky fails the first n calls of each method with a transient error after
// doing the work (as when a reply is lost), or before it.
type flaky struct {
	remote.Remote
	failAfter bool
	left      map[string]int
}

func (f *flaky) fail(op, name string) error {
	if f.left[op] > 0 {
		f.left[op]--
		return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("connection reset: %w", remote.ErrTemporary)}
	}
	return nil
}

func (f *flaky) Rename(ctx context.Context, from, to string) error {
	if !f.failAfter {
		if err := f.fail("rename", to); err != nil {
			return err
		}
	}
	if err := f.Remote.Rename(ctx, from, to); err != nil {
		return err
	}
	return f.fail("rename", to)
}

func (f *flaky) Stat(ctx context.Context, name string) (remote.FileInfo, error) {
	if err := f.fail("stat", name); err != nil {
		return remote.FileInfo{}, err
	}
	return f.Remote.Stat(ctx, name)
}

func (f *flaky) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := f.fail("put", name); err != nil {
		io.CopyN(io.Discard, r, 3) // consume part of the reader, as a dropped transfer does
		return err
	}
	return f.Remote.Put(ctx, name, r, size)
}

func (f *flaky) Mkdir(ctx context.Context, name string) error {
	err := f.Remote.Mkdir(ctx, name)
	if err == nil {
		if ferr := f.fail("mkdir", name); ferr != nil {
			return ferr
		}
	}
	return err
}

func newFlaky(t *testing.T, failAfter bool, left map[string]int) (*retry.Remote, string, *strings.Builder) {
	dir := t.TempDir()
	l, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	p := retry.Policy{Retries: 3, Base: time.Millisecond, Max: 4 * time.Millisecond, Logger: slogTo(&log)}
	return retry.New(&flaky{Remote: l, failAfter: failAfter, left: left}, p), dir, &log
}

func TestRetriesTransientFailures(t *testing.T) {
	ctx := context.Background()
	r, dir, log := newFlaky(t, false, map[string]int{"stat": 2, "put": 2, "rename": 1})
	data := []byte("hello, retried world")
	// A seekable reader can be replayed by Put itself.
	if err := r.Put(ctx, "seek.txt", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "seek.txt"))
	if !bytes.Equal(got, data) {
		t.Fatalf("after retried put the file holds %q", got)
	}
	if _, err := r.Stat(ctx, "seek.txt"); err != nil {
		t.Fatalf("stat: %v", err)
	}
	if err := remote.PutAtomic(ctx, r, "atomic.txt", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put atomic: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "atomic.txt")); !bytes.Equal(got, data) {
		t.Fatalf("atomic.txt holds %q", got)
	}
	if n := strings.Count(log.String(), "retrying"); n != 5 {
		t.Errorf("logged %d retries, want 5:\n%s", n, log.String())
	}
}

func TestLostReplyCountsAsDone(t *testing.T) {
	ctx := context.Background()
	r, dir, _ := newFlaky(t, true, map[string]int{"rename": 1, "mkdir": 1})
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	if err := r.Rename(ctx, "a", "b"); err != nil {
		t.Fatalf("rename whose reply was lost: %v", err)
	}
	if err := r.Mkdir(ctx, "d"); err != nil {
		t.Fatalf("mkdir whose reply was lost: %v", err)
	}
}

func TestPermanentFailuresAreNotRetried(t *testing.T) {
	ctx := context.Background()
	r, _, log := newFlaky(t, false, nil)
	if _, err := r.Stat(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	// A reader that cannot seek is not replayed.
	r2, _, _ := newFlaky(t, false, map[string]int{"put": 1})
	err := r2.Put(ctx, "x", io.LimitReader(strings.NewReader("abcdef"), 6), 6)
	if !errors.Is(err, remote.ErrTemporary) {
		t.Fatalf("put of an unseekable reader: %v, want the transient error back", err)
	}
	if log.Len() != 0 {
		t.Errorf("permanent failures were retried: %s", log.String())
	}
}

func TestCancelStopsRetrying(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, _, _ := newFlaky(t, false, map[string]int{"stat": 100})
	r.Policy.Base, r.Policy.Max = time.Hour, time.Hour
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := r.Stat(ctx, "x"); !errors.Is(err, remote.ErrTemporary) {
		t.Fatalf("err = %v", err)
	}
}

// TestPutAtomicRetriesOneLayer: the temporary upload and its rename are
// retried together, as one unit, so that a failing rename is tried
// Retries+1 times in all, never Retries+1 times inside each of Retries+1
// uploads; and nothing temporary is left behind.
func TestPutAtomicRetriesOneLayer(t *testing.T) {
	ctx := context.Background()
	r, dir, log := newFlaky(t, false, map[string]int{"rename": 1000})
	data := []byte("never renamed")
	err := remote.PutAtomic(ctx, r, "a.txt", bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, remote.ErrTemporary) {
		t.Fatalf("PutAtomic with a rename that always fails = %v, want a temporary failure", err)
	}
	f := r.Remote.(*flaky)
	if tried := 1000 - f.left["rename"]; tried != r.Policy.Retries+1 {
		t.Errorf("rename tried %d times, want %d (one layer of retries)", tried, r.Policy.Retries+1)
	}
	if n := strings.Count(log.String(), "retrying"); n != r.Policy.Retries {
		t.Errorf("logged %d retries, want %d:\n%s", n, r.Policy.Retries, log.String())
	}
	if list, _ := os.ReadDir(dir); len(list) != 0 {
		t.Errorf("left %v behind", list)
	}
}
