// Package deploy turns two commits into a plan of remote actions and carries
// the plan out: it is the heart of gftp init, push and catchup.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"

	"github.com/gftp/gftp/internal/gitdir"
	"github.com/gftp/gftp/internal/objectformat"
)

// largeObjectThreshold makes go-git stream blobs larger than this from their
// pack instead of loading them whole (STYLE.md: 200 MiB took 978 MB RSS at
// the default, 8 MB with a threshold).
const largeObjectThreshold = 1 << 20

// Repo is a local git repository opened for deploying.
type Repo struct {
	Dir    string // the work tree's top directory
	git    *git.Repository
	fs     *filesystem.Storage
	dotgit string // the common git directory: objects, packs, config
}

// ErrNotRepo means the directory is not inside a git work tree.
var ErrNotRepo = errors.New("not a git repository")

// OpenRepo opens the repository whose work tree holds dir.
func OpenRepo(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		dir, common, err := gitdir.Of(d)
		if err == nil {
			if err := objectformat.Check(d, dir); err != nil {
				return nil, err
			}
			// A .git file (a linked work tree, a submodule) names the git
			// directory; a linked work tree keeps objects, packs and config
			// in the common directory. Opened here rather than by
			// PlainOpen, so that the large-object threshold applies to
			// them too.
			var fs billy.Filesystem = osfs.New(dir)
			if common != dir {
				fs = dotgit.NewRepositoryFilesystem(fs, osfs.New(common))
			}
			st := filesystem.NewStorageWithOptions(fs, cache.NewObjectLRUDefault(),
				filesystem.Options{LargeObjectThreshold: largeObjectThreshold})
			r, err := git.Open(st, osfs.New(d))
			if err != nil {
				return nil, fmt.Errorf("open repository %s: %w", d, err)
			}
			return &Repo{Dir: d, git: r, fs: st, dotgit: common}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open repository %s: %w", d, err)
		}
		if filepath.Dir(d) == d {
			return nil, fmt.Errorf("%s: %w (run gftp inside the work tree of the repository to deploy)", abs, ErrNotRepo)
		}
	}
}

// Resolve turns a revision (SHA, branch, tag, HEAD) into a commit.
func (r *Repo) Resolve(rev string) (*object.Commit, error) {
	h, err := r.git.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		_, herr := r.git.Head()
		return nil, &RevisionError{Rev: rev, NoCommits: errors.Is(herr, plumbing.ErrReferenceNotFound), Err: err}
	}
	c, err := r.git.CommitObject(*h)
	if err != nil {
		return nil, &RevisionError{Rev: rev, Err: err}
	}
	return c, nil
}

// RevisionError says the commit to deploy cannot be found.
type RevisionError struct {
	Rev       string
	NoCommits bool // the repository has no commit yet
	Err       error
}

func (e *RevisionError) Error() string {
	if e.NoCommits {
		return "the repository has no commits yet"
	}
	return fmt.Sprintf("unknown revision %q", e.Rev)
}

func (e *RevisionError) Unwrap() error { return e.Err }

// Hint tells what to do.
func (e *RevisionError) Hint() string {
	if e.NoCommits {
		return "gftp deploys commits: commit your files first"
	}
	return "check the revision given with --deploy-rev (a SHA, branch or tag that git rev-parse knows)"
}

// Commit looks a commit up by its full hash.
func (r *Repo) Commit(h plumbing.Hash) (*object.Commit, error) {
	c, err := r.git.CommitObject(h)
	if err != nil {
		return nil, &UnknownCommitError{Rev: h.String(), Shallow: r.isShallow(), Err: err}
	}
	return c, nil
}

func (r *Repo) isShallow() bool {
	s, err := r.git.Storer.Shallow()
	return err == nil && len(s) > 0
}

// UnknownCommitError says a commit is not in the local history, and why
// that most likely is.
type UnknownCommitError struct {
	Rev     string
	Shallow bool
	Err     error
	// FetchErr is why fetching the commit into the shallow clone failed.
	FetchErr error
}

func (e *UnknownCommitError) Error() string {
	msg := fmt.Sprintf("commit %s is not in the local repository", e.Rev)
	if e.Shallow {
		msg += " (this is a shallow clone)"
	}
	return msg
}

func (e *UnknownCommitError) Unwrap() error { return e.Err }

// Hint tells the user the likely cause and the ways out.
func (e *UnknownCommitError) Hint() string {
	cause := "the history was rewritten (rebase, amend, force-push) or the branch is not up to date"
	if e.Shallow {
		cause = "the clone is shallow: fetch the full history (git fetch --unshallow; in GitHub Actions, actions/checkout with fetch-depth: 0)"
	}
	if e.FetchErr != nil {
		cause = fmt.Sprintf("the clone is shallow, and fetching the commit from its remote failed (%v): the commit may be gone from the remote (history rewritten), or the remote does not serve a commit by its SHA; fetch the full history (git fetch --unshallow; in GitHub Actions, actions/checkout with fetch-depth: 0)", e.FetchErr)
	}
	return "likely cause: " + cause + "; to deploy anyway, use --force (uploads every file) or catchup (marks the commit deployed without uploading)"
}

// Log returns the commits reachable from to but not from from (from may be
// the zero hash), newest first. In a shallow clone the walks stop where the
// history does: complete is false when the walk from to reached a commit
// whose parents the clone lacks before it met from's history, and then the
// list holds only the commits that are there.
func (r *Repo) Log(ctx context.Context, from, to plumbing.Hash) (commits []*object.Commit, complete bool, err error) {
	cut, err := r.historyCuts()
	if err != nil {
		return nil, false, err
	}
	walk := func(start *object.Commit, seen map[plumbing.Hash]bool, visit func(*object.Commit)) error {
		return object.NewCommitPreorderIter(start, seen, cut.parents).ForEach(func(c *object.Commit) error {
			visit(c)
			return ctx.Err()
		})
	}
	seen := map[plumbing.Hash]bool{}
	if !from.IsZero() {
		c, err := r.Commit(from)
		if err != nil {
			return nil, false, err
		}
		if err := walk(c, nil, func(c *object.Commit) { seen[c.Hash] = true }); err != nil {
			return nil, false, err
		}
	}
	c, err := r.Commit(to)
	if err != nil {
		return nil, false, err
	}
	complete = true
	err = walk(c, seen, func(c *object.Commit) {
		commits = append(commits, c)
		if cut.commits[c.Hash] {
			complete = false
		}
	})
	return commits, complete, err
}

// historyCuts are where a shallow clone's history ends: the shallow
// commits whose parents are missing, and those parents.
type historyCuts struct {
	commits map[plumbing.Hash]bool
	parents []plumbing.Hash
}

func (r *Repo) historyCuts() (historyCuts, error) {
	hc := historyCuts{commits: map[plumbing.Hash]bool{}}
	shallow, err := r.git.Storer.Shallow()
	if err != nil {
		return hc, err
	}
	for _, h := range shallow {
		c, err := r.git.CommitObject(h)
		if err != nil {
			continue
		}
		for _, p := range c.ParentHashes {
			if _, err := r.git.Storer.EncodedObject(plumbing.CommitObject, p); err != nil {
				hc.commits[h] = true
				hc.parents = append(hc.parents, p)
			}
		}
	}
	return hc, nil
}

// Dirty lists the tracked files with uncommitted changes. It asks git
// itself: go-git's status is slow on large trees and differs from git on
// details users care about (filters, racy timestamps).
func (r *Repo) Dirty(ctx context.Context) ([]string, error) {
	cmd := exec.CommandContext(ctx, "git", "status", "--porcelain=v1", "-z", "--untracked-files=no", "--ignore-submodules=dirty")
	cmd.Dir = r.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git status: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var files []string
	recs := strings.Split(string(out), "\x00")
	for i := 0; i < len(recs); i++ {
		rec := recs[i]
		if len(rec) < 4 {
			continue
		}
		files = append(files, rec[3:])
		if rec[0] == 'R' || rec[0] == 'C' {
			i++ // the original name follows a rename or copy
		}
	}
	return files, nil
}

// openBlob streams a blob from the object store: a loose one directly
// (loose.go), anything else through go-git.
func (r *Repo) openBlob(h plumbing.Hash) (io.ReadCloser, error) {
	if r.dotgit != "" {
		rc, err := openLoose(filepath.Join(r.dotgit, "objects"), h)
		if err == nil {
			return rc, nil
		}
		if !isLooseMiss(err) {
			return nil, fmt.Errorf("read blob %s: %w", h, err)
		}
	}
	b, err := r.git.BlobObject(h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return b.Reader()
}

// blobSize reads a blob's size from its header without loading it: a
// loose one's directly (loose.go), anything else through go-git.
func (r *Repo) blobSize(h plumbing.Hash) (int64, error) {
	if r.dotgit != "" {
		n, err := looseSize(filepath.Join(r.dotgit, "objects"), h)
		if err == nil || !isLooseMiss(err) {
			return n, err
		}
	}
	return r.git.Storer.EncodedObjectSize(h)
}

// blobSizes sizes many blobs at once. go-git's EncodedObjectSize looks for a
// loose file and then opens the pack afresh for every object, which took
// 3 s for the 100,000 blobs of an init plan; here each pack is opened once
// and its index asked for every object, and only what no pack holds is
// looked up one by one (loose objects).
func (r *Repo) blobSizes(hashes []plumbing.Hash) (map[plumbing.Hash]int64, error) {
	sizes := make(map[plumbing.Hash]int64, len(hashes))
	if r.fs != nil && len(hashes) > 64 {
		if err := r.packedSizes(hashes, sizes); err != nil {
			return nil, err
		}
	}
	for _, h := range hashes {
		if _, ok := sizes[h]; ok {
			continue
		}
		n, err := r.blobSize(h)
		if err != nil {
			return nil, err
		}
		sizes[h] = n
	}
	return sizes, nil
}

// packedSizes fills sizes for the hashes found in the repository's packs.
func (r *Repo) packedSizes(hashes []plumbing.Hash, sizes map[plumbing.Hash]int64) error {
	fs := osfs.New(r.dotgit)
	dg := dotgit.New(fs)
	packs, err := dg.ObjectPacks()
	if err != nil {
		return err
	}
	for _, ph := range packs {
		if len(sizes) == len(hashes) {
			break
		}
		err := func() error {
			idxf, err := dg.ObjectPackIdx(ph)
			if err != nil {
				return err
			}
			idx := idxfile.NewMemoryIndex()
			err = idxfile.NewDecoder(idxf).Decode(idx)
			idxf.Close()
			if err != nil {
				return err
			}
			pf, err := dg.ObjectPack(ph)
			if err != nil {
				return err
			}
			p := packfile.NewPackfile(idx, fs, pf, largeObjectThreshold)
			defer p.Close()
			for _, h := range hashes {
				if _, ok := sizes[h]; ok {
					continue
				}
				off, err := idx.FindOffset(h)
				if err != nil {
					continue // not in this pack
				}
				n, err := p.GetSizeByOffset(off)
				if err != nil {
					return err
				}
				sizes[h] = n
			}
			return nil
		}()
		if err != nil {
			return fmt.Errorf("pack %s: %w", ph, err)
		}
	}
	return nil
}

// readBlob loads a small blob (a symlink target) whole.
func (r *Repo) readBlob(h plumbing.Hash) ([]byte, error) {
	rc, err := r.openBlob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 1<<16))
}
