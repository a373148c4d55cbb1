package deploy

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/remote"
)

// Drift is how the files on a server differ from a commit.
type Drift struct {
	Missing  []Action   // in the commit, not on the server
	Mismatch []Mismatch // on the server with another size
	Extra    []string   // on the server, not in the commit (nor ignored)
	Temps    []string   // temporary files an interrupted run left
	Checked  int        // files compared
}

// Mismatch is a file whose size on the server differs from the commit's.
type Mismatch struct {
	Action Action
	Got    int64
}

// Clean reports whether the server holds the commit's files.
func (d *Drift) Clean() bool {
	return len(d.Missing) == 0 && len(d.Mismatch) == 0 && len(d.Extra) == 0 && len(d.Temps) == 0
}

// Check compares the files on the server with what deploying commit puts
// there (the same set init uploads: syncroot, ignore and include rules
// applied). Sizes are compared, not content: a file changed by hand to one
// of the same size is not seen. The marker, the lock, and paths that
// .git-ftp-ignore matches are not counted as extra.
func Check(ctx context.Context, repo *Repo, r remote.Remote, commit *object.Commit, opts PlanOptions) (*Drift, error) {
	opts.All = true
	want, err := NewPlan(ctx, repo, commit.Hash, commit, opts)
	if err != nil {
		return nil, err
	}
	expected := make(map[string]Action, len(want.Uploads))
	for _, a := range want.Uploads {
		expected[a.Path] = a
	}
	d := &Drift{}
	seen := map[string]bool{}
	markers := map[string]bool{want.Marker: true}
	for _, sm := range want.Submodules {
		markers[sm.Marker] = true
	}
	syncroot := strings.Trim(opts.Syncroot, "/")
	own := func(name string) bool {
		return markers[name] || name == JournalName || name == manifest.Name || name == LockName || strings.HasPrefix(name, LockName+"/")
	}
	err = walkFiles(ctx, r, own, func(name string, fi remote.FileInfo) {
		repoPath := name
		if syncroot != "" {
			repoPath = syncroot + "/" + name
		}
		switch a, ok := expected[name]; {
		case remote.IsTemp(fi.Name):
			d.Temps = append(d.Temps, name)
		case !ok:
			if !opts.Ignore.Match(repoPath) {
				d.Extra = append(d.Extra, name)
			}
		default:
			seen[name] = true
			d.Checked++
			if fi.Size != a.Size {
				d.Mismatch = append(d.Mismatch, Mismatch{Action: a, Got: fi.Size})
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for _, a := range want.Uploads {
		if !seen[a.Path] {
			d.Missing = append(d.Missing, a)
		}
	}
	sort.Strings(d.Extra)
	sort.Strings(d.Temps)
	return d, nil
}

// Repair adds to p the uploads that bring the server back to p.To given the
// drift found against it: missing files and files of the wrong size, unless
// p already uploads them; and the removal of leftover temporary files.
func (p *Plan) Repair(d *Drift) {
	planned := map[string]bool{}
	for _, a := range p.Uploads {
		planned[a.Path] = true
	}
	add := func(a Action, reason string) {
		if !planned[a.Path] {
			a.Reason = reason
			p.Uploads = append(p.Uploads, a)
			planned[a.Path] = true
		}
	}
	for _, a := range d.Missing {
		add(a, "repair: missing on the server")
	}
	for _, m := range d.Mismatch {
		add(m.Action, "repair: wrong size on the server")
	}
	sort.Slice(p.Uploads, func(i, j int) bool { return p.Uploads[i].Path < p.Uploads[j].Path })
	for _, t := range d.Temps {
		p.Deletes = append(p.Deletes, Action{Op: OpDelete, Path: t, Reason: "repair: leftover temporary file"})
	}
}

// walkFiles calls fn for every file below r's root, depth first, leaving
// out what skip names (and, for a directory, all below it). A missing
// directory is empty: the root before any deploy, a directory removed
// while the walk went on, or an S3 prefix with nothing below it. A listing
// that fails is a *DownloadError.
func walkFiles(ctx context.Context, r remote.Remote, skip func(name string) bool, fn func(name string, fi remote.FileInfo)) error {
	var walk func(dir string) error
	walk = func(dir string) error {
		list, err := r.List(ctx, dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, fi := range list {
			name := remote.Join(dir, fi.Name)
			switch {
			case skip(name):
			case fi.IsDir:
				if err := walk(name); err != nil {
					return err
				}
			default:
				fn(name, fi)
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return &DownloadError{Err: err}
	}
	return nil
}
