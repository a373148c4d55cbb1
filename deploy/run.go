package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gftp/gftp/remote"
)

// Observer hears about the executor's progress. Its methods are called
// from several goroutines at once.
type Observer interface {
	// Begin is called when an action starts.
	Begin(a Action)
	// Progress reports n more bytes sent for an upload.
	Progress(a Action, n int64)
	// End is called when an action has finished, with its error.
	End(a Action, err error)
}

// ResumeObserver is an Observer that also hears which uploads were skipped
// because an earlier, failed run delivered them (Resumed comes before End).
type ResumeObserver interface {
	Resumed(a Action)
}

// Executor carries a plan out against a remote.
type Executor struct {
	Remote   remote.Remote
	Repo     *Repo
	Jobs     int          // parallel transfers (at least 1), unless the transport says otherwise (remote.Concurrency)
	Observer Observer     // may be nil
	Logger   *slog.Logger // may be nil
	// Leftovers says a dead run may have left temporary files (the lock
	// taken replaced its lock): they are removed from the directories this
	// run touches, as when a journal is found.
	Leftovers bool
	// JournalEvery is how often, at most, the journal of what arrived is
	// written while the uploads run, so that a run killed outright loses
	// at most that much of its work (default 1 s).
	JournalEvery time.Duration
	// Journal, when set, is the journal read early (StartJournalRead);
	// else Run reads it first.
	Journal *JournalRead
	// Lock, when set, is the lock this run holds. Where the transport can
	// (remote.RenameRmdirer), and nothing is left to do under the lock
	// after it, the marker's move releases it in the same round trip;
	// its Release then does nothing.
	Lock *Lock
}

// limitProcs lowers GOMAXPROCS to what r's transport makes use of
// (remote.ProcsLimiter) and returns what puts it back. A GOMAXPROCS in the
// environment is the user's choice and stays.
func limitProcs(r remote.Remote, log *slog.Logger) func() {
	n := remote.MaxProcs(r)
	if n == 0 || os.Getenv("GOMAXPROCS") != "" || n >= runtime.GOMAXPROCS(0) {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(n)
	log.Debug("CPUs for the transfers", "gomaxprocs", n, "was", prev)
	return func() { runtime.GOMAXPROCS(prev) }
}

// Result counts what a run did.
type Result struct {
	Mkdirs      int
	Uploaded    int
	Resumed     int // uploads skipped: an earlier failed run delivered them
	Deleted     int
	Rmdirs      int
	Bytes       int64
	Manifest    bool // the content manifest was written
	Marker      bool // the marker was moved
	Interrupted bool // the context was cancelled before the end
	Failures    []Failure
	Elapsed     time.Duration
}

// Failure is one action that failed.
type Failure struct {
	Action Action
	Err    error
}

// FailedError says the deploy did not complete: some actions failed, and
// the marker was left where it was.
type FailedError struct {
	Failures []Failure
	Skipped  string // what was not attempted because of them
}

func (e *FailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the deploy's actions failed", len(e.Failures))
	if e.Skipped != "" {
		fmt.Fprintf(&b, "; %s", e.Skipped)
	}
	b.WriteString("; the marker was not moved")
	return b.String()
}

// Unwrap returns the failures' errors, so errors.Is sees through.
func (e *FailedError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

// Run executes the plan: directories and uploads in parallel, then
// deletes, then emptied directories, then the content manifest, then the
// marker, each only when every step before it succeeded. A failed run
// leaves the manifest and the marker untouched, so the next push sends the
// same changes again.
//
// Repo may be nil when every upload is a local file (FileUpload), and a
// plan without a Marker ends with its manifest (gftp sync).
func (e *Executor) Run(ctx context.Context, p *Plan) (*Result, error) {
	start := time.Now()
	res := &Result{}
	done := false // the deploy's last step succeeded
	defer func() {
		res.Elapsed = time.Since(start)
		res.Interrupted = ctx.Err() != nil && !done
	}()
	obs := e.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	jobs := remote.InFlight(e.Remote, e.Jobs)
	defer limitProcs(e.Remote, log)()
	var (
		mu       sync.Mutex
		failures []Failure
	)
	// A failed or interrupted run may have left a journal of what it
	// delivered; its successors skip those files and keep it until the
	// deploy completes.
	var jr journal
	var found bool
	if e.Journal != nil {
		jr, found = e.Journal.wait()
	} else {
		jr, found = readJournal(ctx, e.Remote)
	}
	if found && jr.Run != "" {
		log.Info("resuming after an earlier run", "run", jr.Run, "recorded", len(jr.Uploaded))
	}
	jr.Target, jr.Run = p.To.String(), remote.RunID()
	// Temporary files a dead run left go while this run's uploads go.
	swept := make(chan struct{})
	if found || e.Leftovers {
		go func() {
			defer close(swept)
			e.sweepTemps(ctx, p, jobs, log)
		}()
	} else {
		close(swept)
	}
	defer func() { <-swept }()
	jw := &journalWriter{r: e.Remote, every: e.JournalEvery, mu: &mu, j: &jr, log: log}
	if jw.every <= 0 {
		jw.every = time.Second
	}
	jw.last = time.Now()
	started := false
	defer func() {
		switch {
		case done:
			jw.wait()
			if found || jw.wrote {
				if err := removeJournal(ctx, e.Remote); err != nil {
					log.Info("could not remove the journal", "name", JournalName, "err", err)
				}
			}
		case started && e.Lock != nil && e.Lock.isReleased():
			// The marker's move failed, the lock went with it
			// (moveAndRelease): no journal may be written outside it.
			// None was written before; the next run sends this one's
			// changes again.
			log.Info("no journal written: the lock is already released", "name", JournalName)
		case started:
			if err := jw.final(); err != nil {
				log.Info("could not write the journal", "name", JournalName, "err", err)
			}
		}
	}()
	fail := func(a Action, err error) {
		mu.Lock()
		failures = append(failures, Failure{a, err})
		mu.Unlock()
	}

	// 1. Directories, parents first, once each, beside the uploads (see
	// dirMaker).
	dirs := startDirs(ctx, e.Remote, p.Mkdirs, jobs, obs, fail)
	defer func() { <-dirs.done }()

	// 2. Uploads, each to a temporary name renamed over the old file. The
	// new marker goes up beside them under a temporary name, so that
	// moving it at the end is one rename.
	started = len(p.Uploads) > 0
	var staged *stagedMarker
	// With one job there is nothing to overlap: the marker is written at
	// the end, as one upload, instead.
	if jobs > 1 && p.Marker != "" && len(p.Uploads)+len(p.Deletes) > 0 && ctx.Err() == nil {
		staged = stageMarker(ctx, e.Remote, p.Marker, p.To)
		defer func() {
			if staged != nil && !res.Marker {
				staged.discard()
			}
		}()
	}
	// The deletes' checks go out with the uploads (remote.RemovePreparer):
	// at 50 ms RTT, a round trip less after the uploads.
	if _, batch := remote.As[remote.BatchRemover](e.Remote); !batch && len(p.Deletes) > 0 {
		if rp, ok := remote.As[remote.RemovePreparer](e.Remote); ok {
			names := make([]string, len(p.Deletes))
			for i, a := range p.Deletes {
				names[i] = a.Path
			}
			rp.PrepareRemove(ctx, names)
		}
	}
	var sent atomic.Int64
	var uploaded, resumed atomic.Int64
	parallel(ctx, jobs, p.Uploads, func(a Action) {
		if dirs.wait(ctx, a.Path) != nil {
			return // cancelled: the run ends with ctx.Err()
		}
		obs.Begin(a)
		mu.Lock()
		recorded := jr.Uploaded[a.Path]
		mu.Unlock()
		if ok, how := resumable(ctx, e.Remote, e.Repo, a, recorded, jr.written); ok {
			if ro, ok := obs.(ResumeObserver); ok {
				ro.Resumed(a)
			}
			obs.Progress(a, a.Size)
			obs.End(a, nil)
			log.Info("already there", "path", a.Path, "bytes", a.Size, "reason", "delivered by an earlier run", "checked", how)
			resumed.Add(1)
			return
		} else if how != "" {
			log.Info("uploading again", "path", a.Path, "reason", how)
		}
		mu.Lock()
		jr.forget(a.Path)
		mu.Unlock()
		err := e.upload(ctx, a, obs, &sent)
		obs.End(a, err)
		if err != nil {
			log.Info("upload failed", "path", a.Path, "err", err)
			fail(a, err)
			return
		}
		mu.Lock()
		jr.record(a)
		mu.Unlock()
		jw.maybe()
		log.Info("uploaded", "path", a.Path, "bytes", a.Size, "reason", a.Reason)
		uploaded.Add(1)
	})
	<-dirs.done
	res.Mkdirs = int(dirs.count.Load())
	res.Uploaded, res.Resumed, res.Bytes = int(uploaded.Load()), int(resumed.Load()), sent.Load()
	if err := ctx.Err(); err != nil {
		res.Failures = failures
		return res, err
	}
	if len(failures) > 0 {
		res.Failures = failures
		return res, &FailedError{Failures: failures, Skipped: "deletes were not attempted"}
	}

	// The leftovers of a dead run go before the deletes and the emptied
	// directories, which they could keep from being removed.
	<-swept
	if err := ctx.Err(); err != nil {
		res.Failures = failures
		return res, err
	}

	// 3. Deletes. A file that is already gone is what we wanted. Where the
	// transport deletes in batches (S3), one request covers many files.
	var deleted atomic.Int64
	if b, ok := remote.As[remote.BatchRemover](e.Remote); ok && len(p.Deletes) > 0 {
		names := make([]string, len(p.Deletes))
		for i, a := range p.Deletes {
			names[i] = a.Path
			obs.Begin(a)
		}
		failed := map[string]error{}
		if err := b.RemoveAll(ctx, names); err != nil {
			for _, one := range unjoin(err) {
				var pe *fs.PathError
				if errors.As(one, &pe) {
					failed[pe.Path] = one
				} else {
					for _, n := range names {
						failed[n] = err
					}
					break
				}
			}
		}
		for _, a := range p.Deletes {
			err := failed[a.Path]
			obs.End(a, err)
			if err != nil {
				fail(a, err)
				continue
			}
			log.Info("deleted", "path", a.Path, "reason", a.Reason)
			deleted.Add(1)
		}
	} else {
		parallel(ctx, jobs, p.Deletes, func(a Action) {
			obs.Begin(a)
			err := e.Remote.Remove(ctx, a.Path)
			if errors.Is(err, fs.ErrNotExist) {
				log.Info("already gone", "path", a.Path)
				err = nil
			}
			obs.End(a, err)
			if err != nil {
				fail(a, err)
				return
			}
			log.Info("deleted", "path", a.Path, "reason", a.Reason)
			deleted.Add(1)
		})
	}
	res.Deleted = int(deleted.Load())
	if err := ctx.Err(); err != nil {
		res.Failures = failures
		return res, err
	}
	if len(failures) > 0 {
		res.Failures = failures
		return res, &FailedError{Failures: failures}
	}

	// 4. Directories the deletes emptied, deepest first, and only if empty:
	// never a directory that still holds anything.
	for _, a := range p.Rmdirs {
		list, err := e.Remote.List(ctx, a.Path)
		if err != nil || len(list) > 0 {
			continue
		}
		obs.Begin(a)
		err = e.Remote.Rmdir(ctx, a.Path)
		obs.End(a, err)
		if err == nil {
			res.Rmdirs++
			log.Info("removed empty directory", "path", a.Path)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	// 5. The content manifest, once every file it lists is in place, and
	// before the marker that says the deploy is complete.
	if p.Manifest != nil {
		data := p.Manifest.Bytes()
		m := p.manifestAction(int64(len(data)))
		obs.Begin(m)
		err := remote.PutAtomic(ctx, e.Remote, m.Path, bytes.NewReader(data), int64(len(data)))
		obs.End(m, err)
		if err != nil {
			res.Failures = append(failures, Failure{m, err})
			return res, &FailedError{Failures: res.Failures}
		}
		res.Manifest = true
		log.Info("manifest written", "path", m.Path, "entries", p.Manifest.Len(), "bytes", len(data))
	}

	// 6. The submodules' markers, each once its files are all there, then
	// the marker, last.
	for _, sm := range p.Submodules {
		m := sm.markerAction()
		obs.Begin(m)
		err := WriteMarker(ctx, e.Remote, sm.Marker, sm.To)
		obs.End(m, err)
		if err != nil {
			res.Failures = append(failures, Failure{m, err})
			return res, &FailedError{Failures: res.Failures}
		}
		log.Info("submodule marker written", "path", sm.Marker, "commit", sm.To)
	}
	if p.Marker == "" {
		done = true
		return res, nil
	}
	m := Action{Op: OpMarker, Path: p.Marker, Size: 41, Reason: p.To.String()}
	obs.Begin(m)
	var err error
	renamed := false
	if staged != nil {
		// The lock goes with the marker's move only when no journal is
		// to be removed after it and no sweep of a dead run's files is
		// under way: both belong under the lock.
		var l *Lock
		if !found && !e.Leftovers && !jw.written() {
			l = e.Lock
		}
		renamed, err = staged.commit(ctx, l)
		staged = nil // commit removed what it left
		if l != nil && l.isReleased() {
			log.Debug("lock released with the marker's move", "name", LockName)
		}
	}
	if !renamed {
		err = WriteMarker(ctx, e.Remote, p.Marker, p.To)
	}
	obs.End(m, err)
	if err != nil {
		res.Failures = append(failures, Failure{m, err})
		return res, &FailedError{Failures: res.Failures}
	}
	res.Marker = true
	done = true
	return res, nil
}

// sweepTemps removes the temporary files that an earlier run, which died
// or failed, left in the directories this run touches (a transfer cut off
// mid-way, or a process killed, cannot remove its own). This run holds the
// lock, so every temporary file but its own is a dead run's. Errors are
// only logged: leftovers do no harm, and gftp check lists them.
func (e *Executor) sweepTemps(ctx context.Context, p *Plan, jobs int, log *slog.Logger) {
	seen := map[string]bool{}
	var dirs []Action
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, Action{Path: d})
		}
	}
	add(remote.Dir(p.Marker))
	for _, acts := range [][]Action{p.Uploads, p.Deletes} {
		for _, a := range acts {
			add(remote.Dir(a.Path))
		}
	}
	parallel(ctx, jobs, dirs, func(d Action) {
		list, err := e.Remote.List(ctx, d.Path)
		if err != nil {
			return
		}
		for _, fi := range list {
			if fi.IsDir || !remote.IsTemp(fi.Name) || remote.TempRun(fi.Name) == remote.RunID() {
				continue
			}
			name := remote.Join(d.Path, fi.Name)
			if err := e.Remote.Remove(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				log.Info("could not remove a leftover temporary file", "path", name, "err", err)
			} else {
				log.Info("removed a leftover temporary file", "path", name, "run", remote.TempRun(fi.Name))
			}
		}
	})
}

// upload sends one file. Its content is a source that the retry decorator
// can replay, reopening it for each attempt. When the file's directory is
// missing on the server (drift, or a directory that held only ignored
// files), it creates it and tries once more.
func (e *Executor) upload(ctx context.Context, a Action, obs Observer, total *atomic.Int64) error {
	try := func() error {
		src := &source{open: func() (io.ReadCloser, error) { return a.open(e.Repo) }, size: a.Size, a: a, obs: obs, total: total}
		defer src.Close()
		err := remote.PutAtomic(ctx, e.Remote, a.Path, src, a.Size)
		if err != nil {
			total.Add(-src.n) // sent again, or not at all
		}
		return err
	}
	err := try()
	if err != nil && errors.Is(err, fs.ErrNotExist) && ctx.Err() == nil {
		if d := remote.Dir(a.Path); d != "" {
			if merr := remote.MkdirAll(ctx, e.Remote, d); merr == nil {
				err = try()
			}
		}
	}
	return err
}

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// parallel runs fn over items with at most jobs at once, and stops handing
// out work when ctx is cancelled.
func parallel(ctx context.Context, jobs int, items []Action, fn func(Action)) {
	ch := make(chan Action)
	var wg sync.WaitGroup
	for i := 0; i < min(jobs, len(items)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range ch {
				fn(a)
			}
		}()
	}
feed:
	for _, a := range items {
		select {
		case ch <- a:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
}

type nopObserver struct{}

func (nopObserver) Begin(Action)           {}
func (nopObserver) Progress(Action, int64) {}
func (nopObserver) End(Action, error)      {}
