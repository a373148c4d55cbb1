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
// A publish is a Plan, computed by NewPlan from the local refs and what the
// target holds, then carried out by Plan.Apply; a dry run prints the plan
// and does not apply it. Published refs move the way git push moves them:
// forward only, unless forced, and a published ref that the local
// repository lacks stays unless pruned.
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
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/sync/errgroup"

	"github.com/gftp/gftp/remote"
)

// Options control a publish.
type Options struct {
	// Refs are the patterns of the refs to publish ("refs/heads/*",
	// "refs/tags/v*", or short names like "main" and "v*"). '*' matches
	// across slashes. Empty means every branch and tag.
	Refs []string
	// Head is the branch HEAD names ("main" or "refs/heads/main"). Empty
	// means the local current branch, or main, master, or the first
	// published branch when the current one is not published.
	Head string
	// Force moves published refs that are not fast-forwards: a branch
	// whose local commit does not contain the published one (rewound or
	// rewritten), a published commit the local repository lacks (someone
	// else published there), and a tag that moved. Without it the publish
	// is refused with a RejectedError and writes nothing.
	Force bool
	// Prune removes published refs that match Refs and no longer exist
	// locally. Without it they stay published as they are.
	Prune bool
	// Repack writes one pack holding every published object and stops
	// listing the others. The packs it supersedes stay on the target, so
	// that a clone that already read the old list can still fetch them; a
	// later publish removes them.
	Repack bool
	// Leftovers says a dead publish may have left temporary files beside
	// the small files it writes (the root, info/, objects/info/), not only
	// in objects/pack: they are removed from there too.
	Leftovers bool
	// Jobs caps the uploads and deletions run at once (at least 1), unless
	// the transport says how many to keep in flight (remote.Concurrency).
	Jobs int
	// Logger receives Info lines for what is written and deleted, and Debug
	// lines for what was read. Nil discards.
	Logger *slog.Logger
}

// Result reports what a publish did, or, for a plan not applied, would do.
type Result struct {
	// Uploaded are the remote names written, in the order they became
	// visible (the pack before its index, info/refs last). Before Apply the
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
	// PackSize is the new pack's size in bytes (0 before Apply).
	PackSize int64
	// Head is the ref HEAD names on the target.
	Head string
	// Changes lists the refs created, moved or deleted, by name.
	Changes []RefChange
	// Kept lists the published refs that the local repository lacks and
	// that stay as they are.
	Kept []RefChange
	// DryRun is true when nothing was touched: the plan was not applied.
	DryRun bool
}

var (
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

// newPackName stands for the new pack until Apply has built it and knows
// its checksum.
const newPackName = "pack-<new>.pack"

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

// Publish plans a publish of the repository at repoDir to the directory r
// is rooted at, and applies the plan. See the package comment for the
// order of the writes, which is what keeps concurrent clones consistent.
// Publishes to the same target must not run at once; the caller holds a
// lock.
func Publish(ctx context.Context, repoDir string, r remote.Remote, opts Options) (*Result, error) {
	p, err := NewPlan(ctx, repoDir, r, opts)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Apply(ctx, r)
}

// Plan is a publish decided and not yet carried out: what becomes of each
// published ref, the objects to pack, and the files to write and delete, in
// order. It holds the local repository open until Close.
type Plan struct {
	// Refs is every ref that changes, or is kept or rejected, by name.
	Refs []RefChange
	// Head is the ref HEAD will name.
	Head string

	opts   Options
	s      *filesystem.Storage
	t      *target
	refs   []Ref           // the refs the target will list
	objs   []plumbing.Hash // the objects the new pack will hold
	listed []string        // the target's complete packs, in list order
	repack bool
	steps  steps // with the new pack named newPackName
}

// steps are a publish's writes and deletions, in the order they run.
type steps struct {
	uploads, packPuts, after, headPut, tail []put
	looseDeletes, packDeletes, tempDeletes  []string
}

// put is one file to write: data, or for pack files the local path.
type put struct {
	name string
	data []byte
	path string
	size int64
}

func (st *steps) all() []put {
	return slices.Concat(st.uploads, st.packPuts, st.after, st.headPut, st.tail)
}

// NewPlan reads the local refs and the target, and decides what a publish
// would do. It writes nothing, and it does not build the pack: Apply does.
// Refs that would move without being fast-forwards show in Plan.Refs as
// rejected, and Apply refuses them (see Rejected).
func NewPlan(ctx context.Context, repoDir string, r remote.Remote, opts Options) (_ *Plan, err error) {
	log := logger(opts)
	s, err := openStorage(repoDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	patterns := opts.Refs
	if len(patterns) == 0 {
		patterns = defaultRefs
	}
	local, err := localRefs(s, patterns)
	if err != nil {
		return nil, err
	}
	if len(local) == 0 {
		return nil, fmt.Errorf("publish: no local ref matches %s", strings.Join(patterns, " "))
	}
	t, err := readTarget(ctx, r)
	if err != nil {
		return nil, err
	}
	log.Debug("target state", "refs", len(t.refs), "packs", len(t.listed), "info/refs", t.hasInfoRefs)
	if opts.Leftovers {
		for _, d := range []string{"", "info", "objects/info"} {
			entries, err := r.List(ctx, d)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			for _, e := range entries {
				if !e.IsDir && remote.IsTemp(e.Name) {
					t.temps = append(t.temps, remote.Join(d, e.Name))
				}
			}
		}
	}

	p := &Plan{opts: opts, s: s, t: t}
	p.refs, p.Refs = decideRefs(s, t.refs, local, patterns, opts.Force, opts.Prune)
	if p.Head, err = headBranch(s, opts.Head, p.refs); err != nil {
		return nil, err
	}

	// Packs still listed, in their order; a listed pack whose files are gone
	// is dropped, as git drops it.
	complete := func(name string) bool {
		_, p := t.files[name+".pack"]
		_, i := t.files[name+".idx"]
		return p && i
	}
	if t.hasPacks {
		for _, name := range t.listed {
			if base, ok := strings.CutSuffix(name, ".pack"); ok && complete(base) && !slices.Contains(p.listed, name) {
				p.listed = append(p.listed, name)
			}
		}
	} else {
		// No list yet: adopt every complete pack already there.
		for name := range t.files {
			if base, ok := strings.CutSuffix(name, ".pack"); ok && complete(base) {
				p.listed = append(p.listed, name)
			}
		}
		slices.Sort(p.listed)
	}

	// The objects to send: what the new tips reach that the published tips
	// do not (the published commits we have bound the walk). A repack sends
	// everything, and needs every published object locally: a kept ref we
	// lack would lose its objects with the packs no longer listed.
	var have, tips []plumbing.Hash
	published := map[plumbing.Hash]bool{}
	for _, tr := range t.refs {
		if s.HasEncodedObject(tr.Hash) == nil {
			have = append(have, tr.Hash)
			published[tr.Hash] = true
		}
	}
	allLocal, allPublished := true, true
	for _, ref := range p.refs {
		if s.HasEncodedObject(ref.Hash) != nil {
			allLocal = false // a kept ref we lack: its objects are there
			continue
		}
		if !slices.Contains(tips, ref.Hash) {
			tips = append(tips, ref.Hash)
		}
		allPublished = allPublished && published[ref.Hash]
	}
	refsChanged := !t.hasInfoRefs || !bytes.Equal(InfoRefs(p.refs), t.infoRefs)
	p.repack = opts.Repack && (len(p.listed) > 1 || refsChanged)
	if p.repack && !allLocal {
		log.Warn("not repacking: some published refs are not in the local repository")
		p.repack = false
	}
	switch {
	case p.repack:
		p.objs, err = missingObjects(s, tips, nil)
	case !allPublished:
		p.objs, err = missingObjects(s, tips, have)
	}
	if err != nil {
		return nil, err
	}
	newPack := ""
	if len(p.objs) > 0 {
		newPack = newPackName
	}
	p.steps = p.plan(nil, newPack)
	return p, nil
}

// Rejected lists the refs the plan refuses to move, if any.
func (p *Plan) Rejected() []RefChange {
	var out []RefChange
	for _, c := range p.Refs {
		if c.Update == UpdateRejected {
			out = append(out, c)
		}
	}
	return out
}

// Result describes the plan as a Result that nothing has carried out.
func (p *Plan) Result() *Result {
	res := p.result(p.steps)
	res.DryRun = true
	if res.NewObjects > 0 {
		res.Pack = strings.TrimSuffix(newPackName, ".pack")
	}
	return res
}

func (p *Plan) result(st steps) *Result {
	res := &Result{Head: p.Head, NewObjects: len(p.objs)}
	for _, c := range p.Refs {
		switch c.Update {
		case UpdateKept:
			res.Kept = append(res.Kept, c)
		case UpdateRejected:
		default:
			res.Changes = append(res.Changes, c)
		}
	}
	all := st.all()
	for _, u := range all {
		res.Uploaded = append(res.Uploaded, u.name)
	}
	res.Deleted = slices.Concat(st.looseDeletes, st.packDeletes, st.tempDeletes)
	res.UpToDate = len(all) == 0 && len(res.Changes) == 0
	return res
}

// Close releases the local repository.
func (p *Plan) Close() error { return p.s.Close() }

// plan lays out the writes and deletions for the new pack newPack
// ("pack-<sha>.pack", newPackName before it is built, "" for none); bp is
// the built pack, nil before Apply builds it.
func (p *Plan) plan(bp *builtPack, newPack string) steps {
	t := p.t
	var st steps

	// The new list keeps the order of the old one and adds the new pack at
	// the end, which is what update-server-info does in a post-receive hook:
	// it keeps the packs an existing list names in their order and puts
	// the others after them (server-info.c, compare_info). Run on the
	// target, it would write the same bytes.
	var list []string
	if !p.repack {
		for _, name := range p.listed {
			if name != newPack {
				list = append(list, name)
			}
		}
	}
	if newPack != "" {
		list = append(list, newPack)
	}
	packs := Packs(list)
	infoRefs := InfoRefs(p.refs)
	packedRefs := PackedRefs(p.refs)
	headContent := []byte("ref: " + p.Head + "\n")

	if !t.hasConfig {
		st.uploads = append(st.uploads, put{name: configName, data: []byte(bareConfig)})
	}
	switch {
	case bp != nil:
		base := packDir + "/" + bp.Name
		if fi, ok := t.files[bp.Name+".pack"]; !ok || fi.Size != bp.PackSize {
			st.packPuts = append(st.packPuts, put{name: base + ".pack", path: bp.PackPath, size: bp.PackSize})
		}
		if fi, ok := t.files[bp.Name+".idx"]; !ok || fi.Size != bp.IdxSize {
			st.packPuts = append(st.packPuts, put{name: base + ".idx", path: bp.IdxPath, size: bp.IdxSize})
		}
	case newPack != "":
		base := packDir + "/" + strings.TrimSuffix(newPack, ".pack")
		st.packPuts = append(st.packPuts, put{name: base + ".pack"}, put{name: base + ".idx"})
	}
	if !bytes.Equal(packedRefs, t.packedRefs) {
		st.after = append(st.after, put{name: packedRefsName, data: packedRefs})
	}
	if !t.hasPacks || !bytes.Equal(packs, t.packs) {
		st.tail = append(st.tail, put{name: packsName, data: packs})
	}
	if !t.hasInfoRefs || !bytes.Equal(infoRefs, t.infoRefs) {
		st.tail = append(st.tail, put{name: infoRefsName, data: infoRefs})
	}
	if !bytes.Equal(headContent, t.head) {
		// HEAD goes before info/refs, so that the first clone to see the new
		// refs sees the new HEAD, unless it names a branch the old refs lack
		// while an old HEAD is there: then a clone of the old refs would
		// find HEAD dangling, and it goes last.
		h := put{name: headName, data: headContent}
		if t.head != nil && !slices.ContainsFunc(t.refs, func(r Ref) bool { return r.Name == p.Head }) {
			st.tail = append(st.tail, h)
		} else {
			st.headPut = append(st.headPut, h)
		}
	}

	// Loose refs on the target would hide packed-refs from a local clone.
	st.looseDeletes = t.looseRefs
	// Packs no longer listed by the previous publish (superseded by a
	// repack, or left by an interrupted publish) go now, after info/refs.
	// Only with an existing list: without one, nothing says what is ours.
	if t.hasPacks {
		keep := map[string]bool{}
		for _, name := range append(slices.Clone(t.listed), list...) {
			keep[strings.TrimSuffix(name, ".pack")] = true
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
			st.packDeletes = append(st.packDeletes, packDir+"/"+n)
		}
	}
	st.tempDeletes = t.temps
	return st
}

// Apply carries the plan out against r, the remote NewPlan read: it builds
// the pack, then writes in the order that keeps clones consistent. It
// refuses a plan with rejected refs (RejectedError) before writing anything.
func (p *Plan) Apply(ctx context.Context, r remote.Remote) (*Result, error) {
	if rej := p.Rejected(); len(rej) > 0 {
		return nil, &RejectedError{Refs: rej}
	}
	log := logger(p.opts)
	jobs := remote.InFlight(r, p.opts.Jobs) // SFTP and S3 keep many requests in flight over one connection
	for _, c := range p.Refs {
		if c.Update == UpdateForced {
			log.Warn("forcing a ref that is not a fast-forward", "ref", c.Name, "old", c.Old, "new", c.New, "reason", c.Reason)
		}
	}

	st := p.steps
	var bp *builtPack
	if len(p.objs) > 0 {
		dir, err := os.MkdirTemp("", "gftp-pack-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		log.Info("packing objects", "objects", len(p.objs))
		if bp, err = buildPack(p.s, p.objs, dir); err != nil {
			return nil, err
		}
		st = p.plan(bp, bp.Name+".pack")
	}
	res := p.result(st)
	if bp != nil {
		res.Pack, res.PackSize = bp.Name, bp.PackSize
	}
	if res.UpToDate {
		log.Info("target is up to date", "head", p.Head, "refs", len(p.refs))
	}
	if err := p.run(ctx, r, st, jobs, log); err != nil {
		return nil, err
	}
	return res, nil
}

// run writes and deletes, in the order that keeps concurrent clones
// consistent (see the package comment).
func (p *Plan) run(ctx context.Context, r remote.Remote, st steps, jobs int, log *slog.Logger) error {
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

	if len(st.all()) > 0 {
		for _, d := range []string{packDir, "objects/info", "info", "refs/heads", "refs/tags"} {
			if err := remote.MkdirAll(ctx, r, d); err != nil {
				return err
			}
		}
	}
	if err := putAll(st.uploads); err != nil {
		return err
	}
	// The pack and its index may go up together: nothing reads either
	// before objects/info/packs or a ref names them.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for _, u := range st.packPuts {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return putOne(u)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// The refs are about to change. If another publish changed them since
	// this one read them, its objects and this one's would not add up:
	// stop before anything refers to the new pack.
	if len(st.after)+len(st.headPut)+len(st.tail) > 0 {
		for _, f := range []struct {
			name string
			was  []byte
		}{{infoRefsName, p.t.infoRefs}, {packsName, p.t.packs}} {
			now, _, err := readFile(ctx, r, f.name)
			if err != nil {
				return err
			}
			if !bytes.Equal(now, f.was) {
				return fmt.Errorf("publish: %s: %w", f.name, ErrTargetChanged)
			}
		}
	}
	if err := putAll(st.after); err != nil {
		return err
	}
	for _, l := range st.looseDeletes {
		if err := deleteOne(l); err != nil {
			return err
		}
	}
	if err := putAll(st.headPut); err != nil {
		return err
	}
	if err := putAll(st.tail); err != nil {
		return err
	}
	// Each index before its pack: delete in two rounds.
	for _, idxRound := range []bool{true, false} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(jobs)
		for _, d := range st.packDeletes {
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
			return err
		}
	}
	// Temporary files an interrupted publish left (in objects/pack they can
	// be large). Failing to remove them fails nothing.
	for _, name := range st.tempDeletes {
		if err := deleteOne(name); err != nil {
			log.Warn("cannot remove a leftover temporary file", "name", name, "err", err)
		}
	}
	return nil
}

func logger(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
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
