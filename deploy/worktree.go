package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sync/errgroup"

	"github.com/gftp/gftp/deploy/manifest"
)

// worktreeFile is a file an include rule takes from the work tree.
type worktreeFile struct {
	repoPath string // from the repository's top, syncroot included
	file     string // on disk
}

// applyManifest turns the work-tree files the include rules collected into
// uploads and deletes through the content manifest on the server
// (issue 17): a file is uploaded only when its size or SHA-256 differs from
// the manifest's (every one with opts.All); a file the manifest lists and
// that is gone locally is deleted; a file the manifest does not list is
// never deleted on its account. The new manifest joins the plan when it
// differs from the old one.
//
// The old manifest is untrusted input: when it has refused entries or does
// not parse, nothing is deleted on its account and every work-tree file is
// uploaded; the deploy then writes a new manifest of what it uploaded.
func (b *builder) applyManifest(ctx context.Context, opts PlanOptions, toTree *object.Tree) error {
	old, warns, err := manifest.Read(ctx, opts.Remote, manifest.Name)
	var ce *manifest.CorruptError
	switch {
	case errors.As(err, &ce):
		b.warn("%v; nothing is deleted on its account, every file from the work tree is uploaded, and this deploy replaces it (gftp sync --rebuild-manifest rebuilds it from the server instead)", err)
	case err != nil:
		return &DownloadError{Err: fmt.Errorf("read %s: %w", manifest.Name, err)}
	}
	for _, w := range warns {
		b.warn("%s", w)
	}
	if len(warns) > 0 {
		b.warn("%s is not trusted: nothing is deleted on its account, and every file from the work tree is uploaded; %s", manifest.Name, manifest.RebuildHint)
	}
	trusted := old.Trusted()

	paths := make([]string, 0, len(b.worktree))
	for rp := range b.worktree {
		if err := manifest.Check(rp); err != nil {
			b.warn("skipping %s from the work tree: %v", b.worktree[rp].repoPath, err)
			continue
		}
		paths = append(paths, rp)
	}
	sort.Strings(paths)
	local, err := hashFiles(ctx, paths, b.worktree)
	if err != nil {
		return err
	}

	next := manifest.New()
	if trusted {
		for _, e := range old.Entries() {
			next.Set(e)
		}
	}
	for _, e := range local {
		next.Set(e)
		o, listed := old.Get(e.Path)
		if trusted && listed && o.Same(e) && !opts.All {
			continue // the server has it
		}
		reason := "include: new"
		if listed {
			reason = "include: changed"
		}
		if opts.All || !trusted {
			reason = "include"
		}
		sum := e.SHA256
		b.uploads[e.Path] = Action{Op: OpUpload, Path: e.Path, Size: e.Size, Reason: reason, file: b.worktree[e.Path].file, sum: &sum}
	}

	if trusted {
		for _, o := range old.Entries() {
			if _, here := b.worktree[o.Path]; here {
				continue
			}
			repoPath := o.Path
			if b.syncroot != "" {
				repoPath = b.syncroot + "/" + o.Path
			}
			if _, err := toTree.FindEntry(repoPath); err == nil {
				next.Delete(o.Path) // the commit has it now
				continue
			}
			if _, up := b.uploads[o.Path]; up {
				next.Delete(o.Path)
				continue
			}
			if b.ignore.Match(repoPath) || b.underMissingDir(o.Path) {
				continue // kept, and kept listed
			}
			if _, err := os.Lstat(filepath.Join(b.repo.Dir, filepath.FromSlash(repoPath))); !errors.Is(err, os.ErrNotExist) {
				continue // still there, though no rule took it this time
			}
			next.Delete(o.Path)
			b.deletes[o.Path] = Action{Op: OpDelete, Path: o.Path, Reason: "gone locally (manifest)"}
		}
	}
	if !trusted || !next.Equal(old) {
		b.plan.Manifest = next
	}
	return nil
}

// underMissingDir reports whether rp lies below an include target that is
// missing locally.
func (b *builder) underMissingDir(rp string) bool {
	for _, d := range b.missingDirs {
		if d == "" || strings.HasPrefix(rp, d+"/") {
			return true
		}
	}
	return false
}

// hashFiles hashes the files in parallel, streaming each one.
func hashFiles(ctx context.Context, paths []string, files map[string]worktreeFile) ([]manifest.Entry, error) {
	out := make([]manifest.Entry, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, rp := range paths {
		g.Go(func() error {
			e, err := manifest.HashFile(gctx, files[rp].file)
			if err != nil {
				return &LocalError{Err: err}
			}
			e.Path = rp
			out[i] = e
			return nil
		})
	}
	return out, g.Wait()
}
