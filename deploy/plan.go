package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/utils/merkletrie"

	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/remote"
)

// Op is what an Action does on the remote.
type Op string

// The operations, in the order the executor runs them.
const (
	OpMkdir    Op = "mkdir"
	OpUpload   Op = "upload"
	OpDelete   Op = "delete"
	OpRmdir    Op = "rmdir"
	OpManifest Op = "manifest" // the content manifest (deploy/manifest), after every file
	OpMarker   Op = "marker"
)

// Action is one step of a plan.
type Action struct {
	Op     Op
	Path   string // remote name, relative to the remote root
	Size   int64  // bytes to upload
	Reason string // why: "added", "modified", "deleted", "include", ...

	repo *Repo         // where blob is, when not the plan's repository (a submodule)
	blob plumbing.Hash // content from the object store, or
	file string        // content from the work tree (include targets)
	lfs  *lfsObject    // set when blob is a Git LFS pointer: its content
	sum  *[32]byte     // file's SHA-256, when hashed for the manifest (the journal records it)
}

// FileUpload is the upload of local file to e.Path, for plans built
// without a repository (gftp sync): e is the file's manifest entry, whose
// size and digest were read from file. The executor needs no Repo for it,
// and a run that fails records its digest in the journal, so that the next
// run can skip it.
func FileUpload(e manifest.Entry, file, reason string) Action {
	sum := e.SHA256
	return Action{Op: OpUpload, Path: e.Path, Size: e.Size, Reason: reason, file: file, sum: &sum}
}

// Plan is everything a deploy will do, computed before anything is touched.
type Plan struct {
	From    plumbing.Hash // deployed commit; zero when uploading everything
	To      plumbing.Hash // commit being deployed
	Commits int           // commits between From and To; -1 when a shallow clone lacks the history between them
	Marker  string        // the marker's name; "" writes no marker (gftp sync)

	Mkdirs  []Action // parents first
	Uploads []Action // sorted by path
	Deletes []Action
	Rmdirs  []Action // deepest first; removed only if empty
	// Submodules are the submodules deployed with this plan, each with its
	// own marker; their files are among the actions above.
	Submodules []Submodule
	// Manifest, when set, is written to manifest.Name after every upload
	// and delete succeeded and before the marker: the files on the server
	// that did not come from a commit, with their digests.
	Manifest *manifest.Manifest
	// Warnings are things the user should know (skipped symlinks, ...).
	Warnings []string
}

// Bytes is the total size of the uploads.
func (p *Plan) Bytes() int64 {
	var n int64
	for _, a := range p.Uploads {
		n += a.Size
	}
	return n
}

// Actions lists every step in execution order, the marker last.
func (p *Plan) Actions() []Action {
	var all []Action
	all = append(all, p.Mkdirs...)
	all = append(all, p.Uploads...)
	all = append(all, p.Deletes...)
	all = append(all, p.Rmdirs...)
	if p.Manifest != nil {
		all = append(all, p.manifestAction(int64(len(p.Manifest.Bytes()))))
	}
	for _, sm := range p.Submodules {
		all = append(all, sm.markerAction())
	}
	if p.Marker != "" {
		all = append(all, Action{Op: OpMarker, Path: p.Marker, Size: 41, Reason: p.To.String()})
	}
	return all
}

func (p *Plan) manifestAction(size int64) Action {
	n := p.Manifest.Len()
	s := "s"
	if n == 1 {
		s = ""
	}
	return Action{Op: OpManifest, Path: manifest.Name, Size: size, Reason: fmt.Sprintf("%d file%s not from a commit", n, s)}
}

// Empty reports whether the plan changes no file.
func (p *Plan) Empty() bool {
	return len(p.Uploads) == 0 && len(p.Deletes) == 0 && len(p.Submodules) == 0
}

// PlanOptions shape a plan.
type PlanOptions struct {
	// Syncroot is the repository directory whose content is deployed ("" for
	// the top); paths on the remote are relative to it.
	Syncroot string
	// All uploads every file, ignoring From (init, --all, --force).
	All bool
	// Marker is the marker's name (DefaultMarker when empty).
	Marker string
	// Remote, when set, is read for the markers of changed submodules
	// (<path>/.git-ftp.log), as git-ftp does; without it a submodule's
	// deployed commit is the one the deployed commit records.
	Remote remote.Remote
	// Ignore and Include come from .git-ftp-ignore and .git-ftp-include.
	Ignore  *Ignore
	Include []IncludeRule
	// CheckName, when set, refuses a remote name the transport cannot
	// carry (remote.NameCheck: FTP and CR or LF); the plan then fails
	// naming every such file, before anything is touched.
	CheckName func(name string) error

	prefix string // a submodule's remote root, with "/", for reading its markers
}

// NewPlan computes what deploying commit to over from means. from is the
// zero hash when nothing is deployed (or opts.All is set).
func NewPlan(ctx context.Context, repo *Repo, from plumbing.Hash, to *object.Commit, opts PlanOptions) (*Plan, error) {
	syncroot := strings.Trim(path.Clean("/"+filepath.ToSlash(opts.Syncroot)), "/")
	p := &Plan{From: from, To: to.Hash, Marker: opts.Marker}
	if p.Marker == "" {
		p.Marker = DefaultMarker
	}
	if opts.All {
		p.From = plumbing.ZeroHash
	}
	toTree, err := to.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", to.Hash, err)
	}
	worktreeRoot := false // the syncroot is not in the commit: build output
	if syncroot != "" {
		if _, err := toTree.Tree(syncroot); err != nil {
			// As git-ftp: a syncroot that is a directory of the work tree
			// only (gitignored) deploys what .git-ftp-include takes from it.
			if fi, serr := os.Stat(filepath.Join(repo.Dir, filepath.FromSlash(syncroot))); serr != nil || !fi.IsDir() || opts.prefix != "" {
				return nil, fmt.Errorf("syncroot %q is not a directory in commit %s, nor in the work tree", syncroot, to.Hash.String()[:7])
			}
			worktreeRoot = true
		}
	}
	fromTree := &object.Tree{}
	var fromCommit *object.Commit
	if !from.IsZero() && !opts.All {
		c, err := repo.Commit(from)
		if err != nil {
			return nil, err
		}
		fromCommit = c
		if fromTree, err = c.Tree(); err != nil {
			return nil, fmt.Errorf("read tree of %s: %w", from, err)
		}
	}
	if fromCommit != nil {
		commits, complete, err := repo.Log(ctx, from, to.Hash)
		if err != nil {
			return nil, err
		}
		p.Commits = len(commits)
		if !complete {
			p.Commits = -1 // a shallow clone: the diff needs only the two trees
		}
	} else {
		p.Commits = 1
	}

	// DiffTree without rename detection: a rename is a delete plus an
	// upload, and detection costs seconds and gigabytes (STYLE.md).
	changes, err := object.DiffTreeWithOptions(ctx, fromTree, toTree, nil)
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", from, to.Hash, err)
	}

	b := &builder{repo: repo, syncroot: syncroot, ignore: opts.Ignore, plan: p,
		uploads: map[string]Action{}, deletes: map[string]Action{}}
	var changed []string // every changed repository path, for include sources
	var subs []subChange
	for _, ch := range changes {
		action, err := ch.Action()
		if err != nil {
			return nil, err
		}
		name := ch.To.Name
		if action == merkletrie.Delete {
			name = ch.From.Name
		}
		changed = append(changed, name)
		if !b.inSyncroot(name) {
			continue
		}
		switch {
		case ch.To.TreeEntry.Mode == filemode.Submodule && ch.To.Name != "":
			old := plumbing.ZeroHash
			if ch.From.Name != "" && ch.From.TreeEntry.Mode == filemode.Submodule {
				old = ch.From.TreeEntry.Hash
			}
			subs = append(subs, subChange{path: name, from: old, to: ch.To.TreeEntry.Hash})
			continue
		case ch.From.TreeEntry.Mode == filemode.Submodule && ch.To.Name == "":
			b.warn("submodule %s was removed from the repository; its files stay on the server", name)
			continue
		}
		oldBlob, _ := b.resolve(fromTree, ch.From, false)
		newBlob, why := b.resolve(toTree, ch.To, true)
		switch {
		case !newBlob.IsZero() && newBlob != oldBlob:
			reason := "modified"
			switch {
			case action == merkletrie.Insert && opts.All && from.IsZero():
				reason = "new"
			case action == merkletrie.Insert:
				reason = "added"
			case ch.From.TreeEntry.Mode != ch.To.TreeEntry.Mode && (ch.From.TreeEntry.Mode == filemode.Symlink || ch.To.TreeEntry.Mode == filemode.Symlink):
				reason = "type changed"
			}
			if why != "" {
				reason = why
			}
			b.upload(name, newBlob, reason)
		case newBlob.IsZero() && !oldBlob.IsZero():
			reason := "deleted"
			if action != merkletrie.Delete {
				reason = "no longer deployable"
			}
			b.delete(name, reason)
		}
	}
	if err := b.submodules(ctx, subs, opts); err != nil {
		return nil, err
	}
	if opts.Remote != nil && opts.prefix == "" && (len(opts.Include) > 0 || worktreeRoot) {
		// Files from the work tree go through the content manifest.
		b.worktree = map[string]worktreeFile{}
	}
	if worktreeRoot && len(opts.Include) == 0 {
		b.warn("syncroot %s is not in the commit: only what %s takes from the work tree is deployed, as with git-ftp (add the line !%s/ to deploy all of it)", syncroot, IncludeFile, syncroot)
	}
	if err := b.include(opts.Include, changed, from.IsZero() || opts.All); err != nil {
		return nil, err
	}
	if b.worktree != nil {
		if err := b.applyManifest(ctx, opts, toTree); err != nil {
			return nil, err
		}
	}
	if err := b.finish(ctx, fromTree, toTree); err != nil {
		return nil, err
	}
	if err := checkNames(p, syncroot, opts.CheckName); err != nil {
		return nil, err
	}
	return p, nil
}

type builder struct {
	repo     *Repo
	syncroot string
	ignore   *Ignore
	plan     *Plan
	uploads  map[string]Action // by remote path
	deletes  map[string]Action
	subPlans []*Plan // the submodules' own plans, paths already prefixed

	// worktree, when not nil, collects the files include rules take from
	// the work tree, by remote path, for applyManifest to compare with the
	// content manifest; missingDirs are include directories that are gone.
	worktree    map[string]worktreeFile
	missingDirs []string
}

func (b *builder) inSyncroot(repoPath string) bool {
	return b.syncroot == "" || strings.HasPrefix(repoPath, b.syncroot+"/")
}

// remotePath strips the syncroot.
func (b *builder) remotePath(repoPath string) string {
	if b.syncroot == "" {
		return repoPath
	}
	if repoPath == b.syncroot {
		return ""
	}
	return strings.TrimPrefix(repoPath, b.syncroot+"/")
}

func (b *builder) upload(repoPath string, blob plumbing.Hash, reason string) {
	if b.ignore.Match(repoPath) {
		return
	}
	rp := b.remotePath(repoPath)
	delete(b.deletes, rp)
	b.uploads[rp] = Action{Op: OpUpload, Path: rp, Reason: reason, blob: blob}
}

func (b *builder) uploadFile(repoPath, file, reason string) {
	if b.ignore.Match(repoPath) {
		return
	}
	rp := b.remotePath(repoPath)
	delete(b.deletes, rp)
	if b.worktree != nil {
		b.worktree[rp] = worktreeFile{repoPath: repoPath, file: file}
		return
	}
	b.uploads[rp] = Action{Op: OpUpload, Path: rp, Reason: reason, file: file}
}

func (b *builder) delete(repoPath, reason string) {
	if b.ignore.Match(repoPath) {
		return
	}
	rp := b.remotePath(repoPath)
	if _, up := b.uploads[rp]; up {
		return
	}
	b.deletes[rp] = Action{Op: OpDelete, Path: rp, Reason: reason}
}

func (b *builder) warn(format string, args ...any) {
	b.plan.Warnings = append(b.plan.Warnings, fmt.Sprintf(format, args...))
}

// resolve returns the blob deployed for a change side: the file's own blob,
// or for a symlink the blob of the file it points to when that file is in
// the repository. A zero hash means nothing is deployed there.
func (b *builder) resolve(tree *object.Tree, side object.ChangeEntry, warn bool) (plumbing.Hash, string) {
	e := side.TreeEntry
	if side.Name == "" {
		return plumbing.ZeroHash, ""
	}
	switch e.Mode {
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
		return e.Hash, ""
	case filemode.Symlink:
		h, target, err := b.followLink(tree, side.Name, e.Hash)
		if err != nil {
			if warn {
				b.warn("skipping symlink %s: %v", side.Name, err)
			}
			return plumbing.ZeroHash, ""
		}
		return h, "symlink to " + target
	}
	return plumbing.ZeroHash, ""
}

// followLink resolves a symlink inside the tree, following up to eight
// links, and refuses targets outside the repository or that are not files.
func (b *builder) followLink(tree *object.Tree, name string, blob plumbing.Hash) (plumbing.Hash, string, error) {
	for hops := 0; hops < 8; hops++ {
		data, err := b.repo.readBlob(blob)
		if err != nil {
			return plumbing.ZeroHash, "", err
		}
		target := string(data)
		if path.IsAbs(target) {
			return plumbing.ZeroHash, "", fmt.Errorf("it points outside the repository (%s)", target)
		}
		resolved := path.Join(path.Dir(name), target)
		if resolved == ".." || strings.HasPrefix(resolved, "../") {
			return plumbing.ZeroHash, "", fmt.Errorf("it points outside the repository (%s)", target)
		}
		e, err := tree.FindEntry(resolved)
		if err != nil {
			return plumbing.ZeroHash, "", fmt.Errorf("its target %s is not in the commit", resolved)
		}
		switch e.Mode {
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			return e.Hash, resolved, nil
		case filemode.Symlink:
			name, blob = resolved, e.Hash
		default:
			return plumbing.ZeroHash, "", fmt.Errorf("its target %s is not a file", resolved)
		}
	}
	return plumbing.ZeroHash, "", errors.New("too many levels of symbolic links")
}

// include applies .git-ftp-include. Targets come from the work tree.
func (b *builder) include(rules []IncludeRule, changed []string, fromEmpty bool) error {
	for _, r := range rules {
		if !r.Always() && !fromEmpty && !touches(changed, r.Source) {
			continue
		}
		if !r.Always() && fromEmpty && !b.existsInTo(r.Source) {
			continue
		}
		target := strings.TrimSuffix(r.Target, "/")
		if !b.inSyncroot(target) && (target != b.syncroot || b.syncroot == "") {
			b.warn("%s:%d: %s is outside the syncroot %s; skipped", IncludeFile, r.Line, r.Target, b.syncroot)
			continue
		}
		abs := filepath.Join(b.repo.Dir, filepath.FromSlash(target))
		if err := b.inRepo(r, abs); err != nil {
			return err
		}
		fi, err := os.Stat(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if strings.HasSuffix(r.Target, "/") || target == b.syncroot {
				if b.worktree != nil {
					// A build that did not run must not empty the site.
					b.missingDirs = append(b.missingDirs, b.remotePath(target))
					b.warn("%s:%d: directory %s is missing locally; the files the manifest lists in it stay on the server", IncludeFile, r.Line, r.Target)
				} else {
					b.warn("%s:%d: directory %s is missing; deleting a directory is not supported", IncludeFile, r.Line, r.Target)
				}
			} else {
				b.delete(target, "include: gone locally")
				if b.worktree != nil {
					// It may have been a directory (!public without the
					// slash): what the manifest lists below it stays.
					b.missingDirs = append(b.missingDirs, b.remotePath(target))
				}
			}
		case err != nil:
			return &LocalError{Err: err}
		case fi.IsDir():
			err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Type().IsRegular() {
					rel, _ := filepath.Rel(b.repo.Dir, p)
					b.uploadFile(filepath.ToSlash(rel), p, "include")
				}
				return nil
			})
			if err != nil {
				return &LocalError{Err: err}
			}
		default:
			b.uploadFile(target, abs, "include")
		}
	}
	return nil
}

// inRepo refuses an include target that a symbolic link (itself or a
// directory above it) leads out of the repository. A target that does not
// exist leads nowhere.
func (b *builder) inRepo(r IncludeRule, abs string) error {
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil
	}
	top, err := filepath.EvalSymlinks(b.repo.Dir)
	if err != nil {
		return &LocalError{Err: err}
	}
	if rel, err := filepath.Rel(top, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return &EscapeError{Line: r.Line, Path: r.Target, Real: real}
	}
	return nil
}

// existsInTo reports whether the source of an include rule exists in the
// commit being deployed: on init, a source changed when it exists at all.
func (b *builder) existsInTo(source string) bool {
	tree, err := b.plan.toCommitTree(b.repo)
	if err != nil {
		return false
	}
	_, err = tree.FindEntry(strings.TrimSuffix(source, "/"))
	return err == nil
}

func (p *Plan) toCommitTree(repo *Repo) (*object.Tree, error) {
	c, err := repo.Commit(p.To)
	if err != nil {
		return nil, err
	}
	return c.Tree()
}

// touches reports whether any changed path is source or lies below it.
func touches(changed []string, source string) bool {
	source = strings.TrimSuffix(source, "/")
	for _, c := range changed {
		if c == source || strings.HasPrefix(c, source+"/") {
			return true
		}
	}
	return false
}

// finish sorts the actions, sizes the uploads and derives the directories.
func (b *builder) finish(ctx context.Context, fromTree, toTree *object.Tree) error {
	p := b.plan
	var blobs []plumbing.Hash
	for _, a := range b.uploads {
		if !a.blob.IsZero() && a.repo == nil {
			blobs = append(blobs, a.blob)
		}
	}
	sizes, err := b.repo.blobSizes(blobs)
	if err != nil {
		return fmt.Errorf("size of blobs: %w", err)
	}
	if err := b.lfsResolve(toTree, sizes); err != nil {
		return err
	}
	p.Uploads = make([]Action, 0, len(b.uploads))
	for _, a := range b.uploads {
		switch {
		case a.repo != nil: // sized by the submodule's plan
		case a.lfs != nil:
			a.Size = a.lfs.Size
		case !a.blob.IsZero():
			a.Size = sizes[a.blob]
		default:
			fi, err := os.Stat(a.file)
			if err != nil {
				return &LocalError{Err: err}
			}
			a.Size = fi.Size()
		}
		p.Uploads = append(p.Uploads, a)
	}
	sort.Slice(p.Uploads, func(i, j int) bool { return p.Uploads[i].Path < p.Uploads[j].Path })
	for _, a := range b.deletes {
		p.Deletes = append(p.Deletes, a)
	}
	sort.Slice(p.Deletes, func(i, j int) bool { return p.Deletes[i].Path < p.Deletes[j].Path })

	// A directory is created when the deployed tree did not have it. With
	// nothing deployed every directory is asked for; Mkdir of one that
	// exists is harmless.
	repoDir := func(d string) string {
		if b.syncroot == "" {
			return d
		}
		return b.syncroot + "/" + d
	}
	dirs := map[string]bool{}
	inSub := func(d string) bool {
		for _, sm := range p.Submodules {
			if d == sm.Path || strings.HasPrefix(d, sm.Path+"/") {
				return d != sm.Path || !sm.From.IsZero() // its root exists when it was deployed
			}
		}
		return false
	}
	for _, a := range p.Uploads {
		for d := dirOf(a.Path); d != ""; d = dirOf(d) {
			if dirs[d] || inSub(d) {
				break // a submodule's plan has its directories
			}
			if _, err := fromTree.Tree(repoDir(d)); err == nil && !p.From.IsZero() {
				break // it and its parents exist
			}
			dirs[d] = true
		}
	}
	for d := range dirs {
		p.Mkdirs = append(p.Mkdirs, Action{Op: OpMkdir, Path: d, Reason: "new directory"})
	}
	for _, sp := range b.subPlans {
		p.Mkdirs = append(p.Mkdirs, sp.Mkdirs...)
	}
	sort.Slice(p.Mkdirs, func(i, j int) bool { return depthLess(p.Mkdirs[i].Path, p.Mkdirs[j].Path, false) })

	// Directories that deletions may have emptied: those the new tree no
	// longer has. The executor removes them only if they are empty.
	gone := map[string]bool{}
	for _, a := range p.Deletes {
		for d := dirOf(a.Path); d != "" && !gone[d]; d = dirOf(d) {
			if _, err := toTree.Tree(repoDir(d)); err == nil || dirs[d] || inSub(d) {
				break
			}
			gone[d] = true
		}
	}
	for d := range gone {
		p.Rmdirs = append(p.Rmdirs, Action{Op: OpRmdir, Path: d, Reason: "emptied"})
	}
	for _, sp := range b.subPlans {
		p.Rmdirs = append(p.Rmdirs, sp.Rmdirs...)
	}
	sort.Slice(p.Rmdirs, func(i, j int) bool { return depthLess(p.Rmdirs[i].Path, p.Rmdirs[j].Path, true) })
	return ctx.Err()
}

func dirOf(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// depthLess orders paths by depth (shallow first, or deep first), then by
// name.
func depthLess(a, b string, deepFirst bool) bool {
	da, db := strings.Count(a, "/"), strings.Count(b, "/")
	if da != db {
		if deepFirst {
			return da > db
		}
		return da < db
	}
	return a < b
}

// LocalError is a failure to read the local work tree (exit code 10).
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }

// open returns the content of an upload.
func (a Action) open(repo *Repo) (io.ReadCloser, error) {
	if a.lfs != nil {
		return a.lfs.open()
	}
	if a.repo != nil {
		repo = a.repo
	}
	if !a.blob.IsZero() {
		return repo.openBlob(a.blob)
	}
	f, err := os.Open(a.file)
	if err != nil {
		return nil, &LocalError{Err: err}
	}
	return f, nil
}
