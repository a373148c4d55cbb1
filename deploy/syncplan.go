package deploy

import (
	"sort"

	"github.com/gftp/gftp/deploy/manifest"
)

// SyncPlanOptions shape NewSyncPlan.
type SyncPlanOptions struct {
	// Old is the manifest read from the server: what gftp uploaded there
	// before. nil when it is rebuilt (Sizes); empty on a first sync. When
	// it is not trusted (it had refused entries), nothing is deleted, every
	// local file is sent, and the new manifest lists only the local files:
	// an entry of a forged manifest never makes a later sync delete the
	// file it names.
	Old *manifest.Manifest
	// Sizes, when rebuilding the manifest (Old is nil), are the sizes of
	// the files on the server: a local file of the same size there is
	// recorded with its local hash and not sent again.
	Sizes map[string]int64
	// Drift names files whose server copy differs from the manifest's
	// digest (--checksum), with why: they are sent again.
	Drift map[string]string
	// Extra are files on the server that are neither local nor in the
	// manifest (--delete-extra): they are deleted.
	Extra []string
	// CheckName refuses a name the transport cannot carry (as in
	// PlanOptions).
	CheckName func(name string) error
}

// NewSyncPlan computes what deploying the scanned directory means, given
// what the server holds, and the manifest to leave there afterwards: every
// local file, and the listed files that stay on the server (excluded ones,
// which a sync never touches, and any it was told to keep). A file that
// gftp did not upload (not in the manifest) is never touched, except an
// Extra one. The plan writes no marker.
func NewSyncPlan(scan *Scan, opts SyncPlanOptions) (*Plan, error) {
	p := &Plan{Commits: -1}
	untrusted := opts.Old != nil && !opts.Old.Trusted()
	if untrusted {
		opts.Old, opts.Extra, opts.Drift = nil, nil, nil
	}
	local := make(map[string]bool, len(scan.Files))
	keep := make([]manifest.Entry, 0, len(scan.Files)) // the new manifest
	for _, f := range scan.Files {
		local[f.Path] = true
		e := manifest.Entry{Path: f.Path, Size: f.Size, SHA256: f.SHA256}
		keep = append(keep, e)
		reason := ""
		switch {
		case opts.Old != nil:
			k, ok := opts.Old.Get(f.Path)
			switch {
			case !ok:
				reason = "new"
			case !k.Same(e):
				reason = "modified"
			case opts.Drift[f.Path] != "":
				reason = opts.Drift[f.Path]
			}
		case opts.Sizes != nil:
			size, ok := opts.Sizes[f.Path]
			switch {
			case !ok:
				reason = "not on the server"
			case size != f.Size:
				reason = "another size on the server"
			}
		case untrusted:
			reason = "manifest not trusted"
		default:
			reason = "new"
		}
		if reason != "" {
			p.Uploads = append(p.Uploads, FileUpload(e, f.File, reason))
		}
	}
	excluded := scan.exclude.Match
	var old []manifest.Entry
	if opts.Old != nil {
		old = opts.Old.Entries()
	}
	for _, k := range old {
		if local[k.Path] {
			continue
		}
		if excluded(k.Path) {
			keep = append(keep, k)
			continue
		}
		p.Deletes = append(p.Deletes, Action{Op: OpDelete, Path: k.Path, Reason: "gone locally"})
	}
	for _, name := range opts.Extra {
		if local[name] || excluded(name) {
			continue
		}
		if opts.Old != nil {
			if _, listed := opts.Old.Get(name); listed {
				continue
			}
		}
		p.Deletes = append(p.Deletes, Action{Op: OpDelete, Path: name, Reason: "extra on the server"})
	}
	sort.Slice(p.Deletes, func(i, j int) bool { return p.Deletes[i].Path < p.Deletes[j].Path })

	// Directories: those of the uploads that nothing known on the server
	// lies in are made (Mkdir of one that exists is harmless); those the
	// deletes may empty and that keep nothing are removed if empty.
	exists := map[string]bool{}
	for _, k := range old {
		for d := syncDir(k.Path); d != "" && !exists[d]; d = syncDir(d) {
			exists[d] = true
		}
	}
	for name := range opts.Sizes {
		for d := syncDir(name); d != "" && !exists[d]; d = syncDir(d) {
			exists[d] = true
		}
	}
	mk := map[string]bool{}
	for _, a := range p.Uploads {
		for d := syncDir(a.Path); d != "" && !exists[d] && !mk[d]; d = syncDir(d) {
			mk[d] = true
		}
	}
	for d := range mk {
		p.Mkdirs = append(p.Mkdirs, Action{Op: OpMkdir, Path: d, Reason: "new directory"})
	}
	sort.Slice(p.Mkdirs, func(i, j int) bool { return depthLess(p.Mkdirs[i].Path, p.Mkdirs[j].Path, false) })
	p.Manifest = manifest.New(keep...)
	gone, kept := map[string]bool{}, map[string]bool{}
	if len(p.Deletes) > 0 {
		for _, e := range keep {
			for d := syncDir(e.Path); d != "" && !kept[d]; d = syncDir(d) {
				kept[d] = true
			}
		}
	}
	for _, a := range p.Deletes {
		for d := syncDir(a.Path); d != "" && !gone[d] && !kept[d]; d = syncDir(d) {
			gone[d] = true
		}
	}
	for d := range gone {
		p.Rmdirs = append(p.Rmdirs, Action{Op: OpRmdir, Path: d, Reason: "emptied"})
	}
	sort.Slice(p.Rmdirs, func(i, j int) bool { return depthLess(p.Rmdirs[i].Path, p.Rmdirs[j].Path, true) })
	if err := checkNames(p, "", opts.CheckName); err != nil {
		return nil, err
	}
	return p, nil
}
