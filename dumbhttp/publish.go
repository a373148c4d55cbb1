// Package dumbhttp publishes a repository as the files git's "dumb" HTTP
// protocol reads, to any remote.Remote, incrementally and so that a clone
// running at any moment of a publish sees a consistent repository.
//
// The published directory is a bare repository: HEAD, config, packed-refs,
// objects/pack, and the two files `git update-server-info` maintains,
// info/refs and objects/info/packs, written byte for byte as git writes
// them. Each publish adds at most one pack, holding the objects reachable
// from the new refs and not from the published ones, and writes files in the
// order that keeps readers consistent: the pack and its index, then the
// refs, then objects/info/packs, then info/refs, and deletions last.
//
// Publishes to one target must not overlap: the caller holds a lock. A
// publish that notices another one changed the refs under it stops with
// ErrTargetChanged before it changes any ref, but only a lock closes the
// window.
package dumbhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/sync/errgroup"

	"github.com/gftp/gftp/remote"
)

// Options control a publish.
type Options struct {
	// Refs are the patterns of the refs to publish ("refs/heads/*",
	// "refs/tags/v*", or short names like "main" and "v*"). '*' matches
	// across slashes. Empty means every branch and tag. The published refs
	// become exactly the matching local refs: a published ref that no longer
	// matches, or no longer exists locally, is removed.
	Refs []string
	// Head is the branch HEAD names ("main" or "refs/heads/main"). Empty
	// means the local current branch, or main, master, or the first
	// published branch when the current one is not published.
	Head string
	// DryRun computes what would be written and deleted, and touches
	// nothing on the remote. The pack is not built, so its name in the
	// result is a placeholder.
	DryRun bool
	// Force publishes even when the target has refs whose objects the local
	// repository lacks (someone else published); those refs are replaced.
	Force bool
	// Repack writes one pack holding every published object and stops
	// listing the others. The packs it supersedes stay on the target, so
	// that a clone that already read the old list can still fetch them; a
	// later publish removes them.
	Repack bool
	// Leftovers says a dead publish may have left temporary files beside
	// the small files it writes (the root, info/, objects/info/), not only
	// in objects/pack: they are removed from there too.
	Leftovers bool
	// Jobs caps the uploads and deletions run at once (at least 1).
	Jobs int
	// Logger receives Info lines for what is written and deleted, and Debug
	// lines for what was read. Nil discards.
	Logger *slog.Logger
}

// Result reports what a publish did, or, with DryRun, would do.
type Result struct {
	// Uploaded are the remote names written, in the order they became
	// visible (the pack before its index, info/refs last). With DryRun the
	// new pack is named "objects/pack/pack-<new>.pack" (and .idx).
	Uploaded []string
	// Deleted are the remote names removed, in order.
	Deleted []string
	// UpToDate is true when the target already had every ref and object:
	// nothing was uploaded. Deleted may still list packs that an earlier
	// publish superseded and leftover temporary files.
	UpToDate bool
	// NewObjects is the number of objects in the new pack (0 if none).
	NewObjects int
	// Pack is the base name ("pack-<sha1>") of the new pack, "" if none.
	Pack string
	// PackSize is the new pack's size in bytes.
	PackSize int64
	// Head is the ref HEAD names on the target.
	Head string
	// Changes lists the refs created, updated or removed, by name.
	Changes []RefChange
	// DryRun is true when nothing was touched.
	DryRun bool
}

// RefChange is one published ref that a publish created (Old is zero),
// removed (New is zero) or moved.
type RefChange struct {
	Name     string
	Old, New plumbing.Hash
}

var (
	// ErrDiverged means the target has refs whose objects the local
	// repository does not have, usually because someone else published
	// there. Fetch their work, or publish with Force to replace it.
	ErrDiverged = errors.New("target has refs whose objects are not in the local repository")
	// ErrTargetChanged means that info/refs or objects/info/packs changed
	// on the target while this publish ran: another publish ran at the same
	// time. Nothing was changed that a reader could see but the new pack,
	// which the next publish removes or reuses. Publish again.
	ErrTargetChanged = errors.New("target changed during publish")
	// ErrHeadNotPublished means Options.Head names a branch that is not
	// among the published refs.
	ErrHeadNotPublished = errors.New("branch is not among the published refs")
)

// Names in the published repository.
const (
	infoRefsName   = "info/refs"
	packsName      = "objects/info/packs"
	packDir        = "objects/pack"
	headName       = "HEAD"
	configName     = "config"
	packedRefsName = "packed-refs"
)

// bareConfig is what `git init --bare` writes to config.
const bareConfig = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"

// target is what a publish reads from the remote before deciding anything.
type target struct {
	infoRefs, packs, head, packedRefs []byte
	hasInfoRefs, hasPacks, hasConfig  bool
	refs                              []Ref
	listed                            []string // objects/info/packs, in order
	files                             map[string]remote.FileInfo
	looseRefs                         []string
	temps                             []string // temporary files of earlier runs (remote names)
}

// Publish makes the repository at repoDir available over dumb HTTP from the
// directory r is rooted at. See the package comment for the order of the
// writes, which is what keeps concurrent clones consistent. Publishes to the
// same target must not run at once; the caller holds a lock.
func Publish(ctx context.Context, repoDir string, r remote.Remote, opts Options) (*Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	jobs := max(opts.Jobs, 1)

	s, err := openStorage(repoDir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	patterns := opts.Refs
	if len(patterns) == 0 {
		patterns = defaultRefs
	}
	refs, err := localRefs(s, patterns)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("publish: no local ref matches %s", strings.Join(patterns, " "))
	}
	head, err := headBranch(s, opts.Head, refs)
	if err != nil {
		return nil, err
	}

	t, err := readTarget(ctx, r)
	if err != nil {
		return nil, err
	}
	log.Debug("target state", "refs", len(t.refs), "packs", len(t.listed), "info/refs", t.hasInfoRefs)

	// Refs on the target whose objects we lack: someone else published.
	var have []plumbing.Hash
	var diverged []string
	for _, tr := range t.refs {
		if s.HasEncodedObject(tr.Hash) != nil {
			diverged = append(diverged, tr.Name)
			continue
		}
		have = append(have, tr.Hash)
	}
	if len(diverged) > 0 {
		if !opts.Force {
			return nil, fmt.Errorf("publish: %w: %s", ErrDiverged, strings.Join(diverged, ", "))
		}
		log.Warn("replacing refs whose objects are not in the local repository", "refs", diverged)
	}

	res := &Result{Head: head, DryRun: opts.DryRun}
	res.Changes = diffRefs(t.refs, refs)

	// Packs still listed, in their order; a listed pack whose files are gone
	// is dropped, as git drops it.
	complete := func(name string) bool {
		_, p := t.files[name+".pack"]
		_, i := t.files[name+".idx"]
		return p && i
	}
	var listed []string
	if t.hasPacks {
		for _, p := range t.listed {
			if name, ok := strings.CutSuffix(p, ".pack"); ok && complete(name) && !slices.Contains(listed, p) {
				listed = append(listed, p)
			}
		}
	} else {
		// No list yet: adopt every complete pack already there.
		for name := range t.files {
			if base, ok := strings.CutSuffix(name, ".pack"); ok && complete(base) {
				listed = append(listed, name)
			}
		}
		slices.Sort(listed)
	}

	infoRefs := InfoRefs(refs)
	packedRefs := PackedRefs(refs)
	headContent := []byte("ref: " + head + "\n")
	refsChanged := !t.hasInfoRefs || !bytes.Equal(infoRefs, t.infoRefs)
	repack := opts.Repack && (len(listed) > 1 || refsChanged)

	// The objects to send: everything reachable for a repack, otherwise what
	// the new tips reach that the published tips do not. When every tip is
	// already published there is nothing to walk.
	var objs []plumbing.Hash
	published := map[plumbing.Hash]bool{}
	for _, h := range have {
		published[h] = true
	}
	var tips []plumbing.Hash
	isTip := map[plumbing.Hash]bool{}
	allPublished := true
	for _, ref := range refs {
		if !isTip[ref.Hash] {
			isTip[ref.Hash] = true
			tips = append(tips, ref.Hash)
		}
		allPublished = allPublished && published[ref.Hash]
	}
	switch {
	case repack:
		objs, err = missingObjects(s, tips, nil)
	case !allPublished:
		objs, err = missingObjects(s, tips, have)
	}
	if err != nil {
		return nil, err
	}
	res.NewObjects = len(objs)

	var bp *builtPack
	var newPack string // "pack-<sha>.pack", "" if none
	if len(objs) > 0 {
		if opts.DryRun {
			newPack = "pack-<new>.pack"
		} else {
			dir, err := os.MkdirTemp("", "gftp-pack-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			log.Info("packing objects", "objects", len(objs))
			bp, err = buildPack(s, objs, dir)
			if err != nil {
				return nil, err
			}
			newPack = bp.Name + ".pack"
			res.PackSize = bp.PackSize
		}
		res.Pack = strings.TrimSuffix(newPack, ".pack")
	}

	// The new list keeps the order of the old one and adds the new pack at
	// the end, which is what update-server-info does in a post-receive hook:
	// it keeps the packs an existing list names in their order and puts
	// the others after them (server-info.c, compare_info). Run on the
	// target, it would write the same bytes.
	var list []string
	if !repack {
		for _, p := range listed {
			if p != newPack {
				list = append(list, p)
			}
		}
	}
	if newPack != "" {
		list = append(list, newPack)
	}
	packs := Packs(list)

	// Plan the writes, in order.
	type put struct {
		name string
		data []byte // nil for pack files
		path string
		size int64
	}
	var uploads []put
	if !t.hasConfig {
		uploads = append(uploads, put{name: configName, data: []byte(bareConfig)})
	}
	var packPuts []put
	if bp != nil {
		base := packDir + "/" + bp.Name
		if fi, ok := t.files[bp.Name+".pack"]; !ok || fi.Size != bp.PackSize {
			packPuts = append(packPuts, put{name: base + ".pack", path: bp.PackPath, size: bp.PackSize})
		}
		if fi, ok := t.files[bp.Name+".idx"]; !ok || fi.Size != bp.IdxSize {
			packPuts = append(packPuts, put{name: base + ".idx", path: bp.IdxPath, size: bp.IdxSize})
		}
	} else if newPack != "" {
		packPuts = append(packPuts,
			put{name: packDir + "/" + newPack},
			put{name: packDir + "/" + strings.TrimSuffix(newPack, ".pack") + ".idx"})
	}
	var after []put
	if !bytes.Equal(packedRefs, t.packedRefs) {
		after = append(after, put{name: packedRefsName, data: packedRefs})
	}
	var headPut, tail []put
	if !t.hasPacks || !bytes.Equal(packs, t.packs) {
		tail = append(tail, put{name: packsName, data: packs})
	}
	if refsChanged {
		tail = append(tail, put{name: infoRefsName, data: infoRefs})
	}
	if !bytes.Equal(headContent, t.head) {
		// HEAD goes before info/refs, so that the first clone to see the new
		// refs sees the new HEAD, unless it names a branch the old refs lack
		// while an old HEAD is there: then a clone of the old refs would
		// find HEAD dangling, and it goes last.
		h := put{name: headName, data: headContent}
		if t.head != nil && !slices.ContainsFunc(t.refs, func(r Ref) bool { return r.Name == head }) {
			tail = append(tail, h)
		} else {
			headPut = append(headPut, h)
		}
	}

	// Loose refs on the target would hide packed-refs from a local clone.
	looseDeletes := t.looseRefs
	// Packs no longer listed by the previous publish (superseded by a
	// repack, or left by an interrupted publish) go now, after info/refs.
	// Only with an existing list: without one, nothing says what is ours.
	var packDeletes []string
	if t.hasPacks {
		keep := map[string]bool{}
		for _, p := range append(slices.Clone(t.listed), list...) {
			keep[strings.TrimSuffix(p, ".pack")] = true
		}
		var names []string
		for name := range t.files {
			base, _, _ := strings.Cut(name, ".")
			if strings.HasPrefix(name, "pack-") && !keep[base] {
				names = append(names, name)
			}
		}
		// The index first: git opens a pack through its index.
		slices.SortFunc(names, func(a, b string) int {
			ia, ib := strings.HasSuffix(a, ".idx"), strings.HasSuffix(b, ".idx")
			if ia != ib {
				if ia {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, n := range names {
			packDeletes = append(packDeletes, packDir+"/"+n)
		}
	}

	all := slices.Concat(uploads, packPuts, after, headPut, tail)
	for _, u := range all {
		res.Uploaded = append(res.Uploaded, u.name)
	}
	tempDeletes := t.temps
	if opts.Leftovers {
		for _, d := range []string{"", "info", "objects/info"} {
			entries, err := r.List(ctx, d)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			for _, e := range entries {
				if !e.IsDir && remote.IsTemp(e.Name) {
					tempDeletes = append(tempDeletes, remote.Join(d, e.Name))
				}
			}
		}
	}
	res.Deleted = slices.Concat(looseDeletes, packDeletes, tempDeletes)
	res.UpToDate = len(all) == 0 && len(res.Changes) == 0
	if res.UpToDate {
		log.Info("target is up to date", "head", head, "refs", len(refs))
	}
	if opts.DryRun {
		return res, nil
	}

	putOne := func(u put) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		log.Info("upload", "name", u.name)
		if u.data != nil {
			return remote.PutAtomic(ctx, r, u.name, bytes.NewReader(u.data), int64(len(u.data)))
		}
		f, err := os.Open(u.path)
		if err != nil {
			return err
		}
		defer f.Close()
		return remote.PutAtomic(ctx, r, u.name, f, u.size)
	}
	putAll := func(us []put) error {
		for _, u := range us {
			if err := putOne(u); err != nil {
				return err
			}
		}
		return nil
	}
	deleteOne := func(name string) error {
		log.Info("delete", "name", name)
		err := r.Remove(ctx, name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}

	if len(all) > 0 {
		for _, d := range []string{packDir, "objects/info", "info", "refs/heads", "refs/tags"} {
			if err := remote.MkdirAll(ctx, r, d); err != nil {
				return nil, err
			}
		}
	}
	if err := putAll(uploads); err != nil {
		return nil, err
	}
	// The pack and its index may go up together: nothing reads either
	// before objects/info/packs or a ref names them.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, u := range packPuts {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return putOne(u)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// The refs are about to change. If another publish changed them since
	// this one read them, its objects and this one's would not add up:
	// stop before anything refers to the new pack.
	if len(after)+len(headPut)+len(tail) > 0 {
		for _, f := range []struct {
			name string
			was  []byte
		}{{infoRefsName, t.infoRefs}, {packsName, t.packs}} {
			now, _, err := readFile(ctx, r, f.name)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(now, f.was) {
				return nil, fmt.Errorf("publish: %s: %w", f.name, ErrTargetChanged)
			}
		}
	}
	if err := putAll(after); err != nil {
		return nil, err
	}
	for _, l := range looseDeletes {
		if err := deleteOne(l); err != nil {
			return nil, err
		}
	}
	if err := putAll(headPut); err != nil {
		return nil, err
	}
	if err := putAll(tail); err != nil {
		return nil, err
	}
	// Each index before its pack: delete in two rounds.
	for _, idxRound := range []bool{true, false} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(jobs)
		for _, d := range packDeletes {
			if strings.HasSuffix(d, ".idx") != idxRound {
				continue
			}
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				return deleteOne(d)
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	// Temporary files an interrupted publish left (in objects/pack they can
	// be large). Failing to remove them fails nothing.
	for _, name := range tempDeletes {
		if err := deleteOne(name); err != nil {
			log.Warn("cannot remove a leftover temporary file", "name", name, "err", err)
		}
	}
	return res, nil
}

// diffRefs lists the refs that differ between the published set and the
// new one, by name.
func diffRefs(old, new []Ref) []RefChange {
	om := map[string]plumbing.Hash{}
	for _, r := range old {
		om[r.Name] = r.Hash
	}
	var ch []RefChange
	seen := map[string]bool{}
	for _, r := range new {
		seen[r.Name] = true
		if o := om[r.Name]; o != r.Hash {
			ch = append(ch, RefChange{Name: r.Name, Old: o, New: r.Hash})
		}
	}
	for _, r := range old {
		if !seen[r.Name] {
			ch = append(ch, RefChange{Name: r.Name, Old: r.Hash})
		}
	}
	slices.SortFunc(ch, func(a, b RefChange) int { return strings.Compare(a.Name, b.Name) })
	return ch
}

// readTarget reads the files a publish decides from.
func readTarget(ctx context.Context, r remote.Remote) (*target, error) {
	t := &target{files: map[string]remote.FileInfo{}}
	var err error
	if t.infoRefs, t.hasInfoRefs, err = readFile(ctx, r, infoRefsName); err != nil {
		return nil, err
	}
	if t.refs, err = ParseInfoRefs(t.infoRefs); err != nil {
		return nil, fmt.Errorf("read target: %w", err)
	}
	if t.packs, t.hasPacks, err = readFile(ctx, r, packsName); err != nil {
		return nil, err
	}
	t.listed = ParsePacks(t.packs)
	if t.head, _, err = readFile(ctx, r, headName); err != nil {
		return nil, err
	}
	if t.packedRefs, _, err = readFile(ctx, r, packedRefsName); err != nil {
		return nil, err
	}
	if _, err := r.Stat(ctx, configName); err == nil {
		t.hasConfig = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	entries, err := r.List(ctx, packDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		switch {
		case e.IsDir:
		case remote.IsTemp(e.Name):
			t.temps = append(t.temps, packDir+"/"+e.Name)
		default:
			t.files[e.Name] = e
		}
	}
	if t.looseRefs, err = walkFiles(ctx, r, "refs"); err != nil {
		return nil, err
	}
	return t, nil
}

// readFile reads a small remote file; a missing one gives ok false.
func readFile(ctx context.Context, r remote.Remote, name string) (data []byte, ok bool, err error) {
	rc, err := r.Open(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	data, err = io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, false, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, true, nil
}

// walkFiles lists the files below dir, recursively; a missing dir is empty.
func walkFiles(ctx context.Context, r remote.Remote, dir string) ([]string, error) {
	entries, err := r.List(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := remote.Join(dir, e.Name)
		if e.IsDir {
			sub, err := walkFiles(ctx, r, name)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		} else if !remote.IsTemp(e.Name) {
			out = append(out, name)
		}
	}
	return out, nil
}
