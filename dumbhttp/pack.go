package dumbhttp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// packWindow is the delta search window, git's default pack.window.
const packWindow = 10

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
	idx, err := indexPack(s, f, sum)
	if err != nil {
		return nil, fmt.Errorf("index pack: %w", err)
	}
	// The pack must hold exactly the objects asked for: one missing would
	// make a published ref dangle.
	if n, err := idx.Count(); err != nil || n != int64(len(hs)) {
		return nil, fmt.Errorf("index pack: %d objects for %d asked (%v)", n, len(hs), err)
	}
	for _, h := range hs {
		if ok, err := idx.Contains(h); err != nil || !ok {
			return nil, fmt.Errorf("index pack: object %s missing from the pack (%v)", h, err)
		}
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

// indexPack reads back the pack in f, which holds objects of s, and builds
// its index. go-git's packfile.Parser would do it, but it reads every object
// whole into memory; here only deltas are rebuilt in memory (the encoder
// made them in memory too), and whole objects are hashed as they stream by.
func indexPack(s *filesystem.Storage, f *os.File, checksum plumbing.Hash) (*idxfile.MemoryIndex, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	sc := packfile.NewScanner(f)
	_, count, err := sc.Header()
	if err != nil {
		return nil, err
	}
	type entry struct {
		off     int64
		crc     uint32
		typ     plumbing.ObjectType // of the object, once resolved
		delta   bool
		baseOff int64
		baseRef plumbing.Hash
		hash    plumbing.Hash
	}
	entries := make([]*entry, 0, count)
	byOff := map[int64]*entry{}
	byHash := map[plumbing.Hash]*entry{}
	for i := uint32(0); i < count; i++ {
		oh, err := sc.NextObjectHeader()
		if err != nil {
			return nil, err
		}
		e := &entry{off: oh.Offset, typ: oh.Type, delta: oh.Type.IsDelta(),
			baseOff: oh.OffsetReference, baseRef: oh.Reference}
		w := io.Discard
		var h plumbing.Hasher
		if !e.delta {
			h = plumbing.NewHasher(oh.Type, oh.Length)
			w = h
		}
		_, crc, err := sc.NextObject(w)
		if err != nil {
			return nil, err
		}
		e.crc = crc
		if !e.delta {
			e.hash = h.Sum()
			byHash[e.hash] = e
		}
		entries = append(entries, e)
		byOff[e.off] = e
	}

	var resolve func(e *entry, depth int) error
	resolve = func(e *entry, depth int) error {
		if !e.delta {
			return nil
		}
		if depth > 1000 {
			return fmt.Errorf("delta chain too deep at offset %d", e.off)
		}
		base := byOff[e.baseOff]
		if e.typ == plumbing.REFDeltaObject {
			base = byHash[e.baseRef]
		}
		if base == nil {
			return fmt.Errorf("delta at offset %d: base not in the pack", e.off)
		}
		if err := resolve(base, depth+1); err != nil {
			return err
		}
		bo, err := s.EncodedObject(plumbing.AnyObject, base.hash)
		if err != nil {
			return err
		}
		baseData, err := readAll(bo)
		if err != nil {
			return err
		}
		if _, err := sc.SeekObjectHeader(e.off); err != nil {
			return err
		}
		var delta bytes.Buffer
		if _, _, err := sc.NextObject(&delta); err != nil {
			return err
		}
		data, err := packfile.PatchDelta(baseData, delta.Bytes())
		if err != nil {
			return err
		}
		e.typ, e.delta = base.typ, false
		e.hash = plumbing.ComputeHash(e.typ, data)
		byHash[e.hash] = e
		return nil
	}
	w := new(idxfile.Writer)
	if err := w.OnHeader(count); err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := resolve(e, 0); err != nil {
			return nil, err
		}
		w.Add(e.hash, uint64(e.off), e.crc)
	}
	if err := w.OnFooter(checksum); err != nil {
		return nil, err
	}
	return w.Index()
}

func readAll(o plumbing.EncodedObject) ([]byte, error) {
	rc, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
