// Package remotetest is the one conformance suite every transport must pass.
// A transport's test calls Run with a factory for a Remote rooted at an empty
// directory, and, where it can, a way to read the server's storage directly,
// so that the suite checks the bytes that really landed.
package remotetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/gftp/gftp/remote"
)

// Config describes the transport under test.
type Config struct {
	// New returns a Remote rooted at an empty directory. The suite closes it.
	New func(t *testing.T) remote.Remote
	// ReadBacking reads a file from the server's own storage, bypassing the
	// transport. Nil when the test cannot see the storage.
	ReadBacking func(t *testing.T, name string) ([]byte, error)
	// NoDirs is set for transports without real directories (S3): Mkdir
	// always succeeds and empty directories do not exist.
	NoDirs bool
	// Hashes is set when the server under test digests files
	// (remote.Hasher): the suite then requires a right digest instead of
	// accepting errors.ErrUnsupported.
	Hashes bool
}

// HardNames are file names that must round-trip byte for byte.
var HardNames = []string{
	"with space.txt",
	"ünïcödé-日本語.txt",
	"hash#sign.txt",
	"percent%20sign.txt",
	"question?mark.txt",
	"star*.txt",
	"bracket[1].txt",
	"-leading-dash.txt",
	"--double-dash",
	"semi;colon&amp.txt",
	"quote'double\".txt",
	"back\\slash.txt",
	"tab\tname.txt",
	"trailing-space .txt",
	".hidden",
	"UPPER.lower",
	"long-" + string(bytes.Repeat([]byte("x"), 200)) + ".txt",
}

// Content returns deterministic bytes for a test file.
func Content(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	ctx := context.Background()
	open := func(t *testing.T) remote.Remote {
		t.Helper()
		r := c.New(t)
		t.Cleanup(func() { r.Close() })
		return r
	}
	check := func(t *testing.T, r remote.Remote, name string, want []byte) {
		t.Helper()
		rc, err := r.Open(ctx, name)
		if err != nil {
			t.Fatalf("open %q: %v", name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %q: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("open %q: got %d bytes, want %d (content differs)", name, len(got), len(want))
		}
		if c.ReadBacking != nil {
			got, err := c.ReadBacking(t, name)
			if err != nil {
				t.Fatalf("read %q on the server: %v", name, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("server copy of %q: got %d bytes, want %d (content differs)", name, len(got), len(want))
			}
		}
		fi, err := r.Stat(ctx, name)
		if err != nil {
			t.Fatalf("stat %q: %v", name, err)
		}
		if fi.IsDir || fi.Size != int64(len(want)) {
			t.Fatalf("stat %q: size %d dir %v, want size %d file", name, fi.Size, fi.IsDir, len(want))
		}
	}
	put := func(t *testing.T, r remote.Remote, name string, data []byte) {
		t.Helper()
		if err := r.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("put %q: %v", name, err)
		}
	}

	t.Run("HardNames", func(t *testing.T) {
		r := open(t)
		if err := r.Mkdir(ctx, "dir with #?%"); err != nil {
			t.Fatalf("mkdir: %v", err)
		}
		for i, n := range HardNames {
			for _, name := range []string{n, remote.Join("dir with #?%", n)} {
				data := Content(int64(i), 100+i)
				put(t, r, name, data)
				check(t, r, name, data)
			}
		}
		list, err := r.List(ctx, "")
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		seen := map[string]bool{}
		for _, fi := range list {
			seen[fi.Name] = true
		}
		for _, n := range HardNames {
			if !seen[n] {
				t.Errorf("list of root lacks %q", n)
			}
		}
	})

	t.Run("EmptyAndLarge", func(t *testing.T) {
		r := open(t)
		put(t, r, "empty", nil)
		check(t, r, "empty", []byte{})
		big := Content(8, 8<<20+13)
		put(t, r, "big.bin", big)
		check(t, r, "big.bin", big)
	})

	t.Run("Overwrite", func(t *testing.T) {
		r := open(t)
		put(t, r, "f", Content(1, 5000))
		put(t, r, "f", Content(2, 10))
		check(t, r, "f", Content(2, 10))
	})

	t.Run("NotExist", func(t *testing.T) {
		r := open(t)
		if _, err := r.Stat(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat missing: got %v, want fs.ErrNotExist", err)
		}
		if rc, err := r.Open(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("open missing: got %v, want fs.ErrNotExist", err)
		}
		if err := r.Remove(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("remove missing: got %v, want fs.ErrNotExist", err)
		}
		var pe *fs.PathError
		if _, err := r.Stat(ctx, "missing"); !errors.As(err, &pe) || pe.Path != "missing" {
			t.Errorf("stat missing: %v is not a *fs.PathError about %q", err, "missing")
		}
		if !c.NoDirs {
			if err := r.Put(ctx, "no/such/dir/f", bytes.NewReader([]byte("x")), 1); err == nil {
				t.Errorf("put into a missing directory succeeded")
			}
		}
	})

	t.Run("RenameReplaces", func(t *testing.T) {
		r := open(t)
		put(t, r, "old", Content(3, 300))
		put(t, r, "new", Content(4, 400))
		if err := r.Rename(ctx, "new", "old"); err != nil {
			t.Fatalf("rename over existing: %v", err)
		}
		check(t, r, "old", Content(4, 400))
		if _, err := r.Stat(ctx, "new"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("source of rename still there: %v", err)
		}
	})

	t.Run("PutAtomic", func(t *testing.T) {
		r := open(t)
		if err := r.Mkdir(ctx, "d"); err != nil {
			t.Fatalf("mkdir: %v", err)
		}
		for i := 0; i < 2; i++ {
			data := Content(int64(10+i), 1000*(i+1))
			if err := remote.PutAtomic(ctx, r, "d/a -b#.txt", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("put atomic: %v", err)
			}
			check(t, r, "d/a -b#.txt", data)
		}
		list, err := r.List(ctx, "d")
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(list) != 1 || list[0].Name != "a -b#.txt" {
			t.Errorf("after PutAtomic, d holds %v; want only the file (no temporary left)", names(list))
		}
	})

	t.Run("Dirs", func(t *testing.T) {
		if c.NoDirs {
			t.Skip("transport has no directories")
		}
		r := open(t)
		if err := r.Mkdir(ctx, "a"); err != nil {
			t.Fatalf("mkdir a: %v", err)
		}
		if err := r.Mkdir(ctx, "a"); !errors.Is(err, fs.ErrExist) {
			t.Errorf("mkdir existing: got %v, want fs.ErrExist", err)
		}
		if err := remote.MkdirAll(ctx, r, "a/b/c d/e"); err != nil {
			t.Fatalf("mkdirall: %v", err)
		}
		fi, err := r.Stat(ctx, "a/b/c d")
		if err != nil || !fi.IsDir {
			t.Fatalf("stat dir: %+v %v", fi, err)
		}
		put(t, r, "a/b/f", []byte("x"))
		if err := r.Rmdir(ctx, "a/b"); err == nil {
			t.Errorf("rmdir of a non-empty directory succeeded")
		}
		if err := r.Rmdir(ctx, "a/b/c d/e"); err != nil {
			t.Errorf("rmdir empty: %v", err)
		}
		list, err := r.List(ctx, "a/b")
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if got := fmt.Sprint(names(list)); got != "[c d f]" {
			t.Errorf("list a/b = %s, want [c d f]", got)
		}
		for _, fi := range list {
			if fi.Name == "c d" && !fi.IsDir || fi.Name == "f" && (fi.IsDir || fi.Size != 1) {
				t.Errorf("list entry %+v is wrong", fi)
			}
		}
		if _, err := r.List(ctx, "missing"); err == nil {
			t.Errorf("list of a missing directory succeeded")
		}
	})

	t.Run("Hash", func(t *testing.T) {
		r := open(t)
		h, ok := remote.As[remote.Hasher](r)
		if !ok {
			if c.Hashes {
				t.Fatalf("%T is no remote.Hasher", r)
			}
			return
		}
		for i, name := range []string{"h.bin", "with space #1.txt", "empty"} {
			data := Content(int64(50+i), []int{70000, 333, 0}[i])
			put(t, r, name, data)
			d, err := h.Hash(ctx, name)
			if errors.Is(err, errors.ErrUnsupported) && !c.Hashes {
				t.Logf("no digest: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("hash %q: %v", name, err)
			}
			want := d.NewHash()
			if want == nil {
				t.Fatalf("hash %q: unknown algorithm %q", name, d.Algo)
			}
			want.Write(data)
			if !bytes.Equal(d.Sum, want.Sum(nil)) {
				t.Fatalf("hash %q = %s, want %s:%x", name, d, d.Algo, want.Sum(nil))
			}
		}
		if _, err := h.Hash(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("hash of a missing file: %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("RemoveAll", func(t *testing.T) {
		r := open(t)
		b, ok := remote.As[remote.BatchRemover](r)
		if !ok {
			return
		}
		if err := r.Mkdir(ctx, "del"); err != nil {
			t.Fatal(err)
		}
		var names []string
		for i := 0; i < 70; i++ { // more than one batch of pipelined commands
			n := fmt.Sprintf("del/-%02d ü #%%?.txt", i)
			put(t, r, n, []byte{byte(i)})
			names = append(names, n)
		}
		names = append(names, "del/missing")
		var blocked string
		if !c.NoDirs {
			blocked = "del/full"
			if err := r.Mkdir(ctx, blocked); err != nil {
				t.Fatal(err)
			}
			put(t, r, blocked+"/x", []byte("x"))
			names = append(names, blocked)
		}
		err := b.RemoveAll(ctx, names)
		if blocked == "" && err != nil {
			t.Fatalf("RemoveAll: %v", err)
		}
		if blocked != "" {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != blocked || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("RemoveAll = %v; want one *fs.PathError, for %s", err, blocked)
			}
		}
		for _, n := range names {
			if n == blocked {
				continue
			}
			if _, err := r.Stat(ctx, n); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%q after RemoveAll: %v", n, err)
			}
		}
	})

	t.Run("Parallel", func(t *testing.T) {
		r := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				data := Content(int64(100+i), 20000+i)
				errs <- remote.PutAtomic(ctx, r, fmt.Sprintf("p%02d", i), bytes.NewReader(data), int64(len(data)))
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("parallel put: %v", err)
			}
		}
		for i := 0; i < 32; i++ {
			check(t, r, fmt.Sprintf("p%02d", i), Content(int64(100+i), 20000+i))
		}
	})
}

func names(list []remote.FileInfo) []string {
	var s []string
	for _, fi := range list {
		s = append(s, fi.Name)
	}
	return s
}
