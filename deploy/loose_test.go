package deploy

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gftp/gftp/internal/gittest"
)

// TestOpenBlobLoose reads loose blobs of every size class (empty, small,
// larger than cachedHead, larger than looseSmall once compressed) the direct way and checks the
// bytes against the files committed and against go-git; a packed blob and
// a tree go through go-git.
func TestOpenBlobLoose(t *testing.T) {
	g := gittest.New(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 300<<10) // incompressible: well over looseSmall
	for i := range big {
		big[i] = byte(rnd.Uint32())
	}
	files := map[string][]byte{
		"empty":  {},
		"small":  []byte("hello, loose object\n"),
		"text":   bytes.Repeat([]byte("line of text\n"), 5000),
		"random": big,
		"mid":    big[:40<<10], // past cachedHead, within looseSmall
	}
	for name, data := range files {
		g.Write(name, data)
	}
	g.Commit("c1")
	repo, err := OpenRepo(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		h := plumbing.NewHash(g.Git("rev-parse", "HEAD:"+name))
		hex := h.String()
		if _, err := os.Stat(filepath.Join(g.Dir, ".git", "objects", hex[:2], hex[2:])); err != nil {
			t.Fatalf("%s: not loose: %v", name, err)
		}
		if n, err := looseSize(filepath.Join(g.Dir, ".git", "objects"), h); err != nil || n != int64(len(data)) {
			t.Fatalf("%s: looseSize = %d, %v; want %d", name, n, err, len(data))
		}
		rc, err := openLoose(filepath.Join(g.Dir, ".git", "objects"), h)
		if err != nil {
			t.Fatalf("%s: openLoose: %v", name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read %d bytes (%v), want %d", name, len(got), err, len(data))
		}
		// Twice, with pooled readers, through openBlob, and against go-git.
		rc, err = repo.openBlob(h)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(rc)
		rc.Close()
		b, err := repo.git.BlobObject(h)
		if err != nil {
			t.Fatal(err)
		}
		gr, _ := b.Reader()
		want, _ := io.ReadAll(gr)
		gr.Close()
		if !bytes.Equal(got, want) || !bytes.Equal(got, data) {
			t.Fatalf("%s: openBlob and go-git disagree", name)
		}
	}
	tree := plumbing.NewHash(g.Git("rev-parse", "HEAD^{tree}"))
	if _, err := openLoose(filepath.Join(g.Dir, ".git", "objects"), tree); !isLooseMiss(err) {
		t.Fatalf("a tree read as a blob: %v", err)
	}
	if _, err := looseSize(filepath.Join(g.Dir, ".git", "objects"), tree); !isLooseMiss(err) {
		t.Fatalf("a tree's size read as a blob's: %v", err)
	}
	// Packed: the loose files are gone, go-git reads the pack.
	g.Git("gc", "-q", "--prune=now")
	repo, err = OpenRepo(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	h := plumbing.NewHash(g.Git("rev-parse", "HEAD:text"))
	rc, err := repo.openBlob(h)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, files["text"]) {
		t.Fatalf("packed blob: %d bytes, want %d", len(got), len(files["text"]))
	}
}

// TestOpenLooseTruncated: a loose object cut short is an error, not a
// short file uploaded as whole.
func TestOpenLooseTruncated(t *testing.T) {
	g := gittest.New(t)
	g.Write("f", bytes.Repeat([]byte("abcdefgh"), 10000))
	g.Commit("c1")
	h := plumbing.NewHash(g.Git("rev-parse", "HEAD:f"))
	hex := h.String()
	p := filepath.Join(g.Dir, ".git", "objects", hex[:2], hex[2:])
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := openLoose(filepath.Join(g.Dir, ".git", "objects"), h)
	if err != nil {
		return // refused at the header: fine
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("a truncated loose object read without an error")
	}
}
