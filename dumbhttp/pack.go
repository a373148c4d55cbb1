package dumbhttp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// packWindow is the delta search window, git's default pack.window.
const packWindow = 10

// missingObjects returns the objects reachable from tips but not from have,
// sorted so that the pack built from them is the same every time. Every
// object of have must exist locally (the divergence check sees to that).
func missingObjects(s *filesystem.Storage, tips, have []plumbing.Hash) ([]plumbing.Hash, error) {
	hs, err := revlist.Objects(s, tips, have)
	if err != nil {
		return nil, fmt.Errorf("list objects to publish: %w", err)
	}
	sort.Slice(hs, func(i, j int) bool { return bytes.Compare(hs[i][:], hs[j][:]) < 0 })
	return hs, nil
}

// builtPack is a pack and its index written to a local temporary directory.
type builtPack struct {
	Name     string // "pack-<checksum>", the base name without extension
	PackPath string
	IdxPath  string
	PackSize int64
	IdxSize  int64
}

// buildPack writes the objects hs as one self-contained pack (deltas only
// against objects in the same pack, never a thin pack) with go-git's
// encoder, and its version 2 index, into dir.
func buildPack(s *filesystem.Storage, hs []plumbing.Hash, dir string) (*builtPack, error) {
	tmp := filepath.Join(dir, "new.pack")
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	sum, err := packfile.NewEncoder(bw, s, false).Encode(hs, packWindow)
	if err != nil {
		return nil, fmt.Errorf("encode pack: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}

	// Index it by parsing it back, as git index-pack does.
	w := new(idxfile.Writer)
	p, err := packfile.NewParser(packfile.NewScanner(f), w)
	if err != nil {
		return nil, fmt.Errorf("index pack: %w", err)
	}
	if _, err := p.Parse(); err != nil {
		return nil, fmt.Errorf("index pack: %w", err)
	}
	idx, err := w.Index()
	if err != nil {
		return nil, fmt.Errorf("index pack: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	bp := &builtPack{Name: "pack-" + sum.String()}
	bp.PackPath = filepath.Join(dir, bp.Name+".pack")
	bp.IdxPath = filepath.Join(dir, bp.Name+".idx")
	if err := os.Rename(tmp, bp.PackPath); err != nil {
		return nil, err
	}
	xf, err := os.Create(bp.IdxPath)
	if err != nil {
		return nil, err
	}
	xw := bufio.NewWriter(xf)
	if _, err := idxfile.NewEncoder(xw).Encode(idx); err != nil {
		xf.Close()
		return nil, fmt.Errorf("write index: %w", err)
	}
	if err := xw.Flush(); err != nil {
		xf.Close()
		return nil, err
	}
	if err := xf.Close(); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		path string
		size *int64
	}{{bp.PackPath, &bp.PackSize}, {bp.IdxPath, &bp.IdxSize}} {
		fi, err := os.Stat(x.path)
		if err != nil {
			return nil, err
		}
		*x.size = fi.Size()
	}
	return bp, nil
}
