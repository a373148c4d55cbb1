package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
	"github.com/gftp/gftp/remote/retry"
)

// cutting fails the first cuts uploads of size bytes after reading part of
// their content, as a dropped transfer does. It counts the renames to
// page.html, which fail with rename when it is set.
type cutting struct {
	remote.Remote
	mu      sync.Mutex
	size    int64
	cuts    int
	renames int
	rename  error
}

func (c *cutting) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	c.mu.Lock()
	cut := size == c.size && c.cuts > 0
	if cut {
		c.cuts--
	}
	c.mu.Unlock()
	if cut {
		io.CopyN(io.Discard, r, 5)
		return &fs.PathError{Op: "put", Path: name, Err: fmt.Errorf("connection reset: %w", remote.ErrTemporary)}
	}
	return c.Remote.Put(ctx, name, r, size)
}

func (c *cutting) Rename(ctx context.Context, from, to string) error {
	if to != "page.html" {
		return c.Remote.Rename(ctx, from, to)
	}
	c.mu.Lock()
	c.renames++
	err := c.rename
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.Remote.Rename(ctx, from, to)
}

// TestUploadRetriedByOneLayer: the retry decorator is the only layer that
// retries an upload. A transfer cut after a few bytes is replayed from a
// fresh read of its content and arrives whole; a rename that keeps failing
// is tried Retries+1 times in all, not once more for every retried upload.
func TestUploadRetriedByOneLayer(t *testing.T) {
	g := gittest.New(t)
	content := bytes.Repeat([]byte("0123456789"), 1000)
	g.Write("page.html", content)
	g.Commit("one")
	dir := t.TempDir()
	lr, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &cutting{Remote: lr, size: int64(len(content)), cuts: 2}
	policy := retry.Policy{Retries: 2, Base: time.Millisecond, Max: time.Millisecond}
	res, err := runOn(t, g.Dir, retry.New(c, policy))
	if err != nil {
		t.Fatalf("push with two cut transfers and two retries: %v", err)
	}
	if res.Bytes != int64(len(content)) {
		t.Errorf("counted %d bytes sent, want %d: bytes of cut attempts count once", res.Bytes, len(content))
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "page.html")); !bytes.Equal(got, content) {
		t.Fatalf("page.html holds %d bytes, want its %d", len(got), len(content))
	}
	if c.cuts != 0 {
		t.Fatalf("%d cuts left: the upload was not retried", c.cuts)
	}

	g.Write("page.html", []byte("two"))
	g.Commit("two")
	c.rename = &fs.PathError{Op: "rename", Path: "page.html", Err: fmt.Errorf("connection reset: %w", remote.ErrTemporary)}
	c.renames = 0
	if _, err := runOn(t, g.Dir, retry.New(c, policy)); err == nil {
		t.Fatal("a push whose renames all fail succeeded")
	}
	if c.renames != policy.Retries+1 {
		t.Errorf("page.html's rename was tried %d times, want %d", c.renames, policy.Retries+1)
	}
}
