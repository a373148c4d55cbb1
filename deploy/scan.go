package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/gftp/gftp/deploy/manifest"
)

// SyncIgnoreFile is the ignore file gftp sync reads from the top of the
// directory it deploys, in .git-ftp-ignore syntax; it is never uploaded.
const SyncIgnoreFile = ".gftp-sync-ignore"

// LocalFile is one file of a directory that gftp sync deploys.
type LocalFile struct {
	Path   string   // slash-separated, relative to the directory: the remote name
	File   string   // the file to read (a symlink's target, resolved)
	Size   int64    // bytes, as read when hashed
	SHA256 [32]byte // of the content
}

// Scan is a directory's deployable content.
type Scan struct {
	Files    []LocalFile // sorted by Path
	Excluded []string    // paths that an exclude pattern matched
	Warnings []string    // skipped symlinks and names, ...

	exclude *Ignore
}

// ScanOptions shape ScanDir.
type ScanOptions struct {
	// Exclude holds the patterns (.git-ftp-ignore syntax: a bash glob in
	// which '*' also matches '/') matched against each file's path
	// relative to the directory.
	Exclude *Ignore
	// Reserved names, relative to the directory, that are gftp's own on
	// the server (marker, lock, journal, manifest): a local file by such a
	// name is skipped with a warning.
	Reserved []string
	// Jobs is how many files are hashed at once (default: twice the CPUs,
	// at least 4: reading is I/O as much as CPU).
	Jobs int
}

// ScanDir walks dir and hashes every file in it, in parallel and streaming.
// A symbolic link is followed when it resolves inside dir (a directory as
// well as a file); one that leads out of dir, or nowhere, is skipped with a
// warning. A ".git" directory is not deployed. A file or directory that
// cannot be read fails the scan with a *LocalError, before anything is
// sent anywhere.
func ScanDir(ctx context.Context, dir string, opts ScanOptions) (*Scan, error) {
	top, err := filepath.Abs(dir)
	if err != nil {
		return nil, &LocalError{Err: err}
	}
	real, err := filepath.EvalSymlinks(top)
	if err != nil {
		return nil, &LocalError{Err: err}
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, &LocalError{Err: err}
	}
	if !fi.IsDir() {
		return nil, &LocalError{Err: &fs.PathError{Op: "sync", Path: dir, Err: errors.New("not a directory")}}
	}
	reserved := map[string]bool{}
	for _, r := range opts.Reserved {
		reserved[r] = true
	}
	w := &walker{ctx: ctx, top: real, exclude: opts.Exclude, reserved: reserved, seen: map[string]bool{real: true}}
	if err := w.walk(real, ""); err != nil {
		return nil, err
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = max(4, 2*runtime.NumCPU())
	}
	if err := hashAll(ctx, w.files, jobs); err != nil {
		return nil, err
	}
	sort.Slice(w.files, func(i, j int) bool { return w.files[i].Path < w.files[j].Path })
	// A path reached twice (a symlinked directory beside its target) is
	// one remote file.
	out := w.files[:0]
	for i, f := range w.files {
		if i > 0 && f.Path == w.files[i-1].Path {
			continue
		}
		out = append(out, f)
	}
	sort.Strings(w.excluded)
	return &Scan{Files: out, Excluded: w.excluded, Warnings: w.warnings, exclude: opts.Exclude}, nil
}

type walker struct {
	ctx      context.Context
	top      string // the directory, symlinks resolved
	exclude  *Ignore
	reserved map[string]bool
	seen     map[string]bool // the real directories being walked (ancestors), against loops
	files    []LocalFile
	excluded []string
	warnings []string
}

func (w *walker) warn(format string, args ...any) {
	w.warnings = append(w.warnings, fmt.Sprintf(format, args...))
}

// walk lists the real directory abs, whose remote name is rel.
func (w *walker) walk(abs, rel string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return &LocalError{Err: err}
	}
	for _, e := range entries {
		name := e.Name()
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		file := filepath.Join(abs, name)
		typ := e.Type()
		if typ&fs.ModeSymlink != 0 {
			target, ok := w.follow(file, p)
			if !ok {
				continue
			}
			fi, err := os.Stat(target)
			if err != nil {
				return &LocalError{Err: err}
			}
			file, typ = target, fi.Mode().Type()
		}
		switch {
		case typ.IsDir():
			if name == ".git" {
				continue
			}
			if w.seen[file] {
				w.warn("skipping %s: it leads to a directory that contains it (%s)", p, file)
				continue
			}
			w.seen[file] = true
			err := w.walk(file, p)
			delete(w.seen, file)
			if err != nil {
				return err
			}
		case typ.IsRegular():
			switch {
			case w.reserved[p]:
				w.warn("skipping %s: the name is gftp's own on the server", p)
			case manifest.Check(p) != nil:
				w.warn("skipping %s: %v", p, manifest.Check(p))
			case rel == "" && name == SyncIgnoreFile:
			case w.exclude.Match(p):
				w.excluded = append(w.excluded, p)
			default:
				w.files = append(w.files, LocalFile{Path: p, File: file})
			}
		default:
			w.warn("skipping %s: not a regular file", p)
		}
	}
	return nil
}

// follow resolves the symlink file (remote name p) and says whether it
// stays inside the directory.
func (w *walker) follow(file, p string) (string, bool) {
	target, err := filepath.EvalSymlinks(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			w.warn("skipping symlink %s: its target does not exist", p)
		} else {
			w.warn("skipping symlink %s: %v", p, err)
		}
		return "", false
	}
	r, err := filepath.Rel(w.top, target)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		w.warn("skipping symlink %s: it points outside the directory (%s)", p, target)
		return "", false
	}
	if r == "." {
		w.warn("skipping symlink %s: it points to the directory itself", p)
		return "", false
	}
	return target, true
}

// hashAll fills in the size and SHA-256 of every file, jobs at a time,
// each streamed through one buffer per worker. The first failure stops
// the others.
func hashAll(ctx context.Context, files []LocalFile, jobs int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for i := 0; i < min(jobs, len(files)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for n := range next {
				if err := hashOne(&files[n], buf); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for n := range files {
		select {
		case next <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// syncDir is the remote directory of a remote name ("" for the root).
func syncDir(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

// LoadSyncIgnore builds the excludes of a sync of dir: the ignore file
// (file, or when file is "" dir's SyncIgnoreFile if there is one), in
// .git-ftp-ignore syntax, and the patterns given one by one (--exclude).
// All are matched against paths relative to dir.
func LoadSyncIgnore(dir, file string, patterns []string) (*Ignore, error) {
	ig := &Ignore{}
	if file == "" {
		data, err := os.ReadFile(filepath.Join(dir, SyncIgnoreFile))
		switch {
		case err == nil:
			ig = ParseIgnore(data)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, &LocalError{Err: err}
		}
	} else {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, &LocalError{Err: err}
		}
		ig = ParseIgnore(data)
	}
	for _, p := range patterns {
		if p == "" {
			continue
		}
		ig.patterns = append(ig.patterns, globRegexp(p))
		ig.sources = append(ig.sources, p)
	}
	return ig, nil
}
