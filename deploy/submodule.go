package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Submodules are deployed as git-ftp deploys them: a changed submodule is
// deployed from its own repository into its path on the server, with its
// own marker there (<path>/.git-ftp.log), so that it can be diffed on its
// own next time. git-ftp runs itself in the submodule (handle_submodule_sync):
// push diffs from that marker, and a missing marker means init. Here the
// submodule's actions join the plan, so one lock, one executor and one
// progress bar cover them, on every transport; its marker is written after
// every file went up, before the superproject's.

// Submodule is a submodule deployed with a plan.
type Submodule struct {
	Path   string        // its root on the server, relative to the remote root
	From   plumbing.Hash // its deployed commit (zero: every file is uploaded)
	To     plumbing.Hash // the commit the superproject records
	Marker string        // its marker's path on the server
}

func (s Submodule) markerAction() Action {
	return Action{Op: OpMarker, Path: s.Marker, Size: 41, Reason: s.To.String()}
}

// SubmoduleError says a submodule cannot be deployed from this clone: it is
// not checked out, or lacks the commit the superproject records.
type SubmoduleError struct {
	Paths  []string
	Commit string // set when the submodule lacks this commit
}

func (e *SubmoduleError) Error() string {
	if e.Commit != "" {
		return fmt.Sprintf("submodule %s: commit %s, which the deployed commit records, is not in its repository", e.Paths[0], e.Commit)
	}
	return fmt.Sprintf("submodule %s changed but is not checked out, so its files cannot be deployed", strings.Join(e.Paths, ", "))
}

// Hint tells how to get the submodule.
func (e *SubmoduleError) Hint() string {
	return "run 'git submodule update --init --recursive' (in GitHub Actions, actions/checkout with submodules: recursive), or list the submodule in .git-ftp-ignore to leave it alone"
}

// subChange is a submodule whose recorded commit changed (from is zero
// when it is new).
type subChange struct {
	path     string
	from, to plumbing.Hash
}

// submodules plans each changed submodule and merges its actions, under
// its path, into the plan.
func (b *builder) submodules(ctx context.Context, subs []subChange, opts PlanOptions) error {
	var notOut []string
	for _, sc := range subs {
		if b.ignore.Match(sc.path) {
			continue
		}
		sub, to, err := openSubmodule(b.repo, sc.path, sc.to)
		if errors.Is(err, errNotCheckedOut) {
			notOut = append(notOut, sc.path)
			continue
		}
		if err != nil {
			return err
		}
		root := b.remotePath(sc.path)
		marker := opts.Marker
		if marker == "" {
			marker = DefaultMarker
		}
		subMarker := root + "/" + marker
		from, all := plumbing.ZeroHash, opts.All || b.plan.From.IsZero()
		if !all {
			from = sc.from
			if opts.Remote != nil {
				h, err := ReadMarker(ctx, opts.Remote, opts.prefix+subMarker)
				var me *MarkerError
				switch {
				case err == nil:
					from = h
				case errors.Is(err, ErrNoMarker) || errors.As(err, &me):
					from = plumbing.ZeroHash // git-ftp: push failed with 5, so init
				default:
					return err
				}
			}
			if !from.IsZero() {
				if _, err := sub.Commit(from); err != nil {
					b.warn("submodule %s: its deployed commit %s is not in its repository; uploading every file", sc.path, from.String()[:7])
					from = plumbing.ZeroHash
				}
			}
			all = from.IsZero()
		}
		// The submodule's own .git-ftp-ignore and .git-ftp-include, as
		// git-ftp, run again inside the submodule, reads them.
		ignore, err := LoadIgnore(sub.Dir)
		if err != nil {
			return &LocalError{Err: err}
		}
		include, err := LoadInclude(sub.Dir, "")
		var pe *fs.PathError
		switch {
		case errors.As(err, &pe):
			return &LocalError{Err: err}
		case err != nil:
			return &IncludeError{Err: fmt.Errorf("submodule %s: %w", sc.path, err)}
		}
		sp, err := NewPlan(ctx, sub, from, to, PlanOptions{
			All: all, Marker: marker, Ignore: ignore, Include: include,
			Remote: opts.Remote, prefix: opts.prefix + root + "/",
		})
		if err != nil {
			return fmt.Errorf("submodule %s: %w", sc.path, err)
		}
		b.merge(root, sub, sp)
		b.plan.Submodules = append(b.plan.Submodules, Submodule{Path: root, From: sp.From, To: to.Hash, Marker: subMarker})
	}
	if len(notOut) > 0 {
		return &SubmoduleError{Paths: notOut}
	}
	return nil
}

var errNotCheckedOut = errors.New("not checked out")

// openSubmodule opens the submodule at path of the superproject's work tree
// and the commit h in it.
func openSubmodule(super *Repo, path string, h plumbing.Hash) (*Repo, *object.Commit, error) {
	dir := filepath.Join(super.Dir, filepath.FromSlash(path))
	// Without its own .git, OpenRepo would find the superproject's.
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		return nil, nil, errNotCheckedOut
	}
	sub, err := OpenRepo(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("submodule %s: %w", path, err)
	}
	c, err := sub.git.CommitObject(h)
	if err != nil {
		return nil, nil, &SubmoduleError{Paths: []string{path}, Commit: h.String()}
	}
	return sub, c, nil
}

// merge adds a submodule's plan, whose paths are relative to root.
func (b *builder) merge(root string, sub *Repo, sp *Plan) {
	under := func(a Action) Action {
		a.Path = root + "/" + a.Path
		return a
	}
	for _, a := range sp.Uploads {
		if a.repo == nil {
			a.repo = sub
		}
		a.Reason = "submodule: " + a.Reason
		b.uploads[root+"/"+a.Path] = under(a)
	}
	for _, a := range sp.Deletes {
		a.Reason = "submodule: " + a.Reason
		b.deletes[root+"/"+a.Path] = under(a)
	}
	sp.Mkdirs = mapActions(sp.Mkdirs, under)
	sp.Rmdirs = mapActions(sp.Rmdirs, under)
	b.subPlans = append(b.subPlans, sp)
	for _, sm := range sp.Submodules {
		sm.Path, sm.Marker = root+"/"+sm.Path, root+"/"+sm.Marker
		b.plan.Submodules = append(b.plan.Submodules, sm)
	}
	for _, w := range sp.Warnings {
		b.warn("submodule %s: %s", root, w)
	}
}

func mapActions(list []Action, f func(Action) Action) []Action {
	out := make([]Action, len(list))
	for i, a := range list {
		out[i] = f(a)
	}
	return out
}

// SubmoduleMarkers lists the markers catchup writes for the submodules of
// commit (within syncroot) that are checked out, nested ones included, as
// git-ftp's submodule_catchup does. Each records the commit the
// superproject records.
func SubmoduleMarkers(ctx context.Context, repo *Repo, commit *object.Commit, syncroot, marker string) ([]Submodule, error) {
	if marker == "" {
		marker = DefaultMarker
	}
	syncroot = strings.Trim(filepath.ToSlash(syncroot), "/")
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	// The submodules are those .gitmodules names (git submodule status
	// reads it too): no walk of a big tree.
	e, err := tree.FindEntry(".gitmodules")
	if err != nil || !e.Mode.IsFile() {
		return nil, nil
	}
	data, err := repo.readBlob(e.Hash)
	if err != nil {
		return nil, err
	}
	mods := config.NewModules()
	if err := mods.Unmarshal(data); err != nil {
		return nil, fmt.Errorf(".gitmodules: %w", err)
	}
	paths := make([]string, 0, len(mods.Submodules))
	for _, m := range mods.Submodules {
		paths = append(paths, strings.Trim(path.Clean("/"+m.Path), "/"))
	}
	sort.Strings(paths)
	var out []Submodule
	for _, name := range paths {
		e, err := tree.FindEntry(name)
		if err != nil || e.Mode != filemode.Submodule {
			continue
		}
		root := name
		if syncroot != "" {
			if !strings.HasPrefix(name, syncroot+"/") {
				continue
			}
			root = strings.TrimPrefix(name, syncroot+"/")
		}
		sub, c, err := openSubmodule(repo, name, e.Hash)
		if errors.Is(err, errNotCheckedOut) {
			continue // git-ftp skips them too (git submodule status: '-')
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Submodule{Path: root, To: e.Hash, Marker: root + "/" + marker})
		nested, err := SubmoduleMarkers(ctx, sub, c, "", marker)
		if err != nil {
			return nil, err
		}
		for _, n := range nested {
			n.Path, n.Marker = root+"/"+n.Path, root+"/"+n.Marker
			out = append(out, n)
		}
	}
	return out, ctx.Err()
}
