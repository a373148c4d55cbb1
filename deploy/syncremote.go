package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"

	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/remote"
)

// ServerFiles lists every file under r's root with its size, leaving out
// gftp's own: the marker, the lock, the journal, the manifest and temporary
// files (a live run's, or a dead one's that the run holding the lock
// sweeps). A missing root is an empty tree.
func ServerFiles(ctx context.Context, r remote.Remote) (map[string]int64, error) {
	files := map[string]int64{}
	own := func(name string) bool {
		return remote.IsTemp(path.Base(name)) || name == LockName || name == JournalName || name == DefaultMarker || name == manifest.Name
	}
	if err := walkFiles(ctx, r, own, func(name string, fi remote.FileInfo) { files[name] = fi.Size }); err != nil {
		return nil, err
	}
	return files, nil
}

// Extra returns the files on the server (ServerFiles) that are neither in
// scan nor listed in old, nor matched by the scan's excludes: what
// --delete-extra removes.
func Extra(scan *Scan, old *manifest.Manifest, server map[string]int64) []string {
	local := make(map[string]bool, len(scan.Files))
	for _, f := range scan.Files {
		local[f.Path] = true
	}
	var out []string
	for name := range server {
		if local[name] || scan.exclude.Match(name) {
			continue
		}
		if old != nil {
			if _, ok := old.Get(name); ok {
				continue
			}
		}
		out = append(out, name)
	}
	return out
}

// ErrNoDigest says that the server cannot digest its files (--checksum).
var ErrNoDigest = errors.New("the server cannot digest files")

// ContentDrift asks the server for the digest of every local file that old says
// is there unchanged, jobs at a time, and returns those whose server copy
// differs, or is missing, with why. It fails with ErrNoDigest when the
// transport cannot digest files at all; files it cannot digest one by one
// (a multipart S3 object) are counted in skipped.
func ContentDrift(ctx context.Context, r remote.Remote, scan *Scan, old *manifest.Manifest, jobs int) (drift map[string]string, checked, skipped int, err error) {
	h, ok := remote.As[remote.Hasher](r)
	if !ok {
		return nil, 0, 0, ErrNoDigest
	}
	var todo []Action
	byPath := map[string]LocalFile{}
	for _, f := range scan.Files {
		if e, ok := old.Get(f.Path); ok && e.Same(manifest.Entry{Path: f.Path, Size: f.Size, SHA256: f.SHA256}) {
			todo = append(todo, Action{Path: f.Path})
			byPath[f.Path] = f
		}
	}
	var (
		mu          sync.Mutex
		first       error
		unsupported int
	)
	drift = map[string]string{}
	parallel(ctx, jobs, todo, func(a Action) {
		f := byPath[a.Path]
		d, err := h.Hash(ctx, a.Path)
		why := ""
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			mu.Lock()
			unsupported++
			mu.Unlock()
			return
		case errors.Is(err, fs.ErrNotExist):
			why = "drift: missing on the server"
		case err != nil:
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			return
		default:
			same, err := digestMatches(f, d)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			if !same {
				why = "drift: its " + d.Algo + " on the server differs"
			}
		}
		mu.Lock()
		checked++
		if why != "" {
			drift[a.Path] = why
		}
		mu.Unlock()
	})
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		return nil, 0, 0, first
	}
	if unsupported > 0 && checked == 0 {
		return nil, 0, unsupported, ErrNoDigest
	}
	return drift, checked, unsupported, nil
}

// digestMatches compares the server's digest of f with f's content: at
// once for SHA-256, by reading the file again for another algorithm.
func digestMatches(f LocalFile, d remote.Digest) (bool, error) {
	if d.Algo == "sha256" {
		return bytes.Equal(d.Sum, f.SHA256[:]), nil
	}
	h := d.NewHash()
	if h == nil {
		return false, errors.New("unknown digest " + d.Algo)
	}
	fh, err := os.Open(f.File)
	if err != nil {
		return false, &LocalError{Err: err}
	}
	defer fh.Close()
	if _, err := io.Copy(h, fh); err != nil {
		return false, &LocalError{Err: err}
	}
	return bytes.Equal(h.Sum(nil), d.Sum), nil
}
