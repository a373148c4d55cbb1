package dumbhttp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"

	"github.com/gftp/gftp/internal/objectformat"
)

// largeObjectThreshold is the size above which go-git streams an object
// instead of reading it into memory (see STYLE.md: a 200 MiB blob costs
// about 1 GB of RSS at the default, 8 MB with a threshold).
const largeObjectThreshold = 4 << 20

// openStorage opens the object and ref storage of the repository at dir: a
// work tree with a .git directory or a .git file (linked work trees and
// submodules), or a bare repository. The caller closes it: descriptors are
// kept open, which halves the time to pack a repository of many objects.
func openStorage(dir string) (*filesystem.Storage, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	gitdir, err := findGitDir(abs)
	if err != nil {
		return nil, err
	}
	if err := objectformat.Check(abs, gitdir); err != nil {
		return nil, err
	}
	var fs billy.Filesystem = osfs.New(gitdir)
	if b, err := os.ReadFile(filepath.Join(gitdir, "commondir")); err == nil {
		common := strings.TrimSpace(string(b))
		if !filepath.IsAbs(common) {
			common = filepath.Join(gitdir, common)
		}
		fs = dotgit.NewRepositoryFilesystem(fs, osfs.New(common))
	}
	return filesystem.NewStorageWithOptions(fs, cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: largeObjectThreshold, KeepDescriptors: true}), nil
}

func findGitDir(dir string) (string, error) {
	dotgit := filepath.Join(dir, ".git")
	fi, err := os.Stat(dotgit)
	switch {
	case err == nil && fi.IsDir():
		return dotgit, nil
	case err == nil:
		b, err := os.ReadFile(dotgit)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		gd, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir: ")
		if !ok {
			return "", fmt.Errorf("open repository %s: .git file has no gitdir line", dir)
		}
		if !filepath.IsAbs(gd) {
			gd = filepath.Join(dir, gd)
		}
		return gd, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	// A bare repository: HEAD and objects/ at the top.
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		if fi, err := os.Stat(filepath.Join(dir, "objects")); err == nil && fi.IsDir() {
			return dir, nil
		}
	}
	return "", fmt.Errorf("open repository %s: not a git repository", dir)
}

// matchRef reports whether the full ref name matches one of patterns. A
// pattern that does not start with "refs/" is tried as given and under
// refs/heads/ and refs/tags/, so "main" and "v*" work. '*' matches any run
// of characters, slashes included, as in a refspec; '?' matches one.
func matchRef(name string, patterns []string) bool {
	for _, p := range patterns {
		if strings.HasPrefix(p, "refs/") {
			if glob(p, name) {
				return true
			}
			continue
		}
		for _, prefix := range []string{"refs/", "refs/heads/", "refs/tags/"} {
			if glob(prefix+p, name) {
				return true
			}
		}
	}
	return false
}

// glob matches name against pattern, where '*' matches any string and '?'
// any one byte.
func glob(pattern, name string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			pattern = pattern[1:]
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if glob(pattern, name[i:]) {
					return true
				}
			}
			return false
		case '?':
			if name == "" {
				return false
			}
		default:
			if name == "" || name[0] != pattern[0] {
				return false
			}
		}
		pattern, name = pattern[1:], name[1:]
	}
	return name == ""
}

// defaultRefs are published when Options.Refs is empty.
var defaultRefs = []string{"refs/heads/*", "refs/tags/*"}

// localRefs returns the refs of the repository that match patterns, each
// fully peeled. Symbolic refs are skipped: packed-refs cannot hold them, and
// HEAD is written on its own.
func localRefs(s *filesystem.Storage, patterns []string) ([]Ref, error) {
	iter, err := s.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("list local refs: %w", err)
	}
	defer iter.Close()
	var refs []Ref
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() != plumbing.HashReference || !strings.HasPrefix(r.Name().String(), "refs/") {
			return nil
		}
		if !matchRef(r.Name().String(), patterns) {
			return nil
		}
		peeled, err := peel(s, r.Hash())
		if err != nil {
			return fmt.Errorf("ref %s: %w", r.Name(), err)
		}
		refs = append(refs, Ref{Name: r.Name().String(), Hash: r.Hash(), Peeled: peeled})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortRefs(refs)
	return refs, nil
}

// peel follows a chain of annotated tags from h to the first object that is
// not a tag, as git's deref_tag does. It returns the zero hash when h does
// not name a tag.
func peel(s *filesystem.Storage, h plumbing.Hash) (plumbing.Hash, error) {
	var peeled plumbing.Hash
	for depth := 0; ; depth++ {
		o, err := s.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("object %s: %w", h, err)
		}
		if o.Type() != plumbing.TagObject {
			return peeled, nil
		}
		if depth > 100 {
			return plumbing.ZeroHash, fmt.Errorf("tag %s: chain too deep", h)
		}
		t, err := object.DecodeTag(s, o)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("tag %s: %w", h, err)
		}
		h, peeled = t.Target, t.Target
	}
}

// headBranch picks the branch HEAD will name: want when given (short or
// full), else the local repository's current branch if it is published,
// else main, master, or the first published branch.
func headBranch(s *filesystem.Storage, want string, refs []Ref) (string, error) {
	published := map[string]bool{}
	var first string
	for _, r := range refs {
		if strings.HasPrefix(r.Name, "refs/heads/") {
			published[r.Name] = true
			if first == "" {
				first = r.Name
			}
		}
	}
	if want != "" {
		if !strings.HasPrefix(want, "refs/") {
			want = "refs/heads/" + want
		}
		if !published[want] {
			return "", fmt.Errorf("head %s: %w", want, ErrHeadNotPublished)
		}
		return want, nil
	}
	var current string
	if h, err := s.Reference(plumbing.HEAD); err == nil && h.Type() == plumbing.SymbolicReference {
		current = h.Target().String()
		if published[current] {
			return current, nil
		}
	}
	for _, c := range []string{"refs/heads/main", "refs/heads/master", first} {
		if published[c] {
			return c, nil
		}
	}
	if current != "" {
		return current, nil // nothing published under refs/heads: keep git's default
	}
	return "refs/heads/main", nil
}
