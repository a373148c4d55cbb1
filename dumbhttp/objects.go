package dumbhttp

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// missingObjects returns the objects reachable from tips that the target,
// which holds everything reachable from have, lacks, sorted so that the pack
// built from them is the same every time.
//
// It works the way git pack-objects does for a push rather than listing
// everything have reaches: the commits reachable from tips but not from
// have are new; the trees and blobs of the commits at the boundary (the
// published parents of new commits, and the published tips) are known to be
// there, and of the new commits' trees only what those lack is sent. The
// commit graph of have is walked, but none of its history's trees, so a
// publish of one commit costs a few milliseconds, not a walk of every tree
// ever written. Like git, it may send again an object that only an older
// published commit holds (a file reverted to an old content); that costs a
// few bytes and never correctness. With have empty it lists everything.
// Every object of have must exist locally (the divergence check sees to it).
func missingObjects(s *filesystem.Storage, tips, have []plumbing.Hash) ([]plumbing.Hash, error) {
	w := &walker{s: s, seen: map[plumbing.Hash]bool{}, out: map[plumbing.Hash]bool{}}

	// The published side: tag objects, commits and their ancestry.
	haveTags := map[plumbing.Hash]bool{}
	var haveCommits []plumbing.Hash
	var haveOther []plumbing.Hash // trees and blobs published through tags
	for _, h := range have {
		t, target, typ, err := w.peel(h)
		if err != nil {
			return nil, err
		}
		for _, x := range t {
			haveTags[x] = true
		}
		if typ == plumbing.CommitObject {
			haveCommits = append(haveCommits, target)
		} else {
			haveOther = append(haveOther, target)
		}
	}
	old, err := w.ancestry(haveCommits, nil)
	if err != nil {
		return nil, err
	}
	published := make(map[plumbing.Hash]bool, len(old))
	for _, c := range old {
		published[c] = true
	}

	// The new side.
	var newCommits []plumbing.Hash
	var newOther []plumbing.Hash
	for _, h := range tips {
		t, target, typ, err := w.peel(h)
		if err != nil {
			return nil, err
		}
		for _, x := range t {
			if haveTags[x] {
				break // the rest of the chain is published with it
			}
			w.out[x] = true
		}
		if typ == plumbing.CommitObject {
			newCommits = append(newCommits, target)
		} else {
			newOther = append(newOther, target)
		}
	}
	fresh, err := w.ancestry(newCommits, published)
	if err != nil {
		return nil, err
	}

	// What the boundary holds is on the target.
	boundary := slices.Clone(haveCommits)
	for _, c := range fresh {
		for _, p := range w.parents[c] {
			if published[p] {
				boundary = append(boundary, p)
			}
		}
	}
	for _, c := range boundary {
		if err := w.markTree(w.trees[c], false); err != nil {
			return nil, err
		}
	}
	for _, h := range haveOther {
		if err := w.markObject(h, false); err != nil {
			return nil, err
		}
	}

	// Everything the new commits and targets reach beyond that.
	for _, c := range fresh {
		w.out[c] = true
		if err := w.markTree(w.trees[c], true); err != nil {
			return nil, err
		}
	}
	for _, h := range newOther {
		if err := w.markObject(h, true); err != nil {
			return nil, err
		}
	}

	hs := make([]plumbing.Hash, 0, len(w.out))
	for h := range w.out {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	return hs, nil
}

type walker struct {
	s       *filesystem.Storage
	seen    map[plumbing.Hash]bool // trees and blobs already accounted for
	out     map[plumbing.Hash]bool // objects to send
	parents map[plumbing.Hash][]plumbing.Hash
	trees   map[plumbing.Hash]plumbing.Hash
}

// peel follows tag objects from h, returning the tags passed, the object at
// the end and its type.
func (w *walker) peel(h plumbing.Hash) (tags []plumbing.Hash, target plumbing.Hash, typ plumbing.ObjectType, err error) {
	for range 1000 {
		o, err := w.s.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return nil, h, 0, fmt.Errorf("object %s: %w", h, err)
		}
		if o.Type() != plumbing.TagObject {
			return tags, h, o.Type(), nil
		}
		t, err := object.DecodeTag(w.s, o)
		if err != nil {
			return nil, h, 0, fmt.Errorf("tag %s: %w", h, err)
		}
		tags = append(tags, h)
		h = t.Target
	}
	return nil, h, 0, fmt.Errorf("tag %s: chain too deep", h)
}

// ancestry returns the commits reachable from tips and not from stop (nor
// in it), recording each one's parents and tree.
func (w *walker) ancestry(tips []plumbing.Hash, stop map[plumbing.Hash]bool) ([]plumbing.Hash, error) {
	if w.parents == nil {
		w.parents = map[plumbing.Hash][]plumbing.Hash{}
		w.trees = map[plumbing.Hash]plumbing.Hash{}
	}
	var order []plumbing.Hash
	visited := map[plumbing.Hash]bool{}
	queue := slices.Clone(tips)
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if visited[h] || stop[h] {
			continue
		}
		visited[h] = true
		if _, ok := w.trees[h]; !ok {
			c, err := object.GetCommit(w.s, h)
			if err != nil {
				return nil, fmt.Errorf("commit %s: %w", h, err)
			}
			w.parents[h] = c.ParentHashes
			w.trees[h] = c.TreeHash
		}
		order = append(order, h)
		queue = append(queue, w.parents[h]...)
	}
	return order, nil
}

// markTree walks tree h. With send false it records everything in it as
// present on the target; with send true it adds what is not present to the
// objects to send. A tree already seen is skipped whole: everything below
// it was seen with it.
func (w *walker) markTree(h plumbing.Hash, send bool) error {
	if w.seen[h] {
		return nil
	}
	w.seen[h] = true
	if send {
		w.out[h] = true
	}
	t, err := object.GetTree(w.s, h)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		switch {
		case e.Mode == filemode.Submodule:
			// A gitlink names a commit of another repository.
		case e.Mode == filemode.Dir:
			if err := w.markTree(e.Hash, send); err != nil {
				return err
			}
		case !w.seen[e.Hash]:
			w.seen[e.Hash] = true
			if send {
				w.out[e.Hash] = true
			}
		}
	}
	return nil
}

// markObject handles a tree or blob named directly by a tag.
func (w *walker) markObject(h plumbing.Hash, send bool) error {
	o, err := w.s.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("object %s: %w", h, err)
	}
	if o.Type() == plumbing.TreeObject {
		return w.markTree(h, send)
	}
	if !w.seen[h] {
		w.seen[h] = true
		if send {
			w.out[h] = true
		}
	}
	return nil
}
