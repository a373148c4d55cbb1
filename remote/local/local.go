// Package local is the transport for a directory on this machine (file://
// URLs and plain paths). It is the simplest target, and the fastest one for
// tests.
package local

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/gftp/gftp/remote"
)

func init() {
	remote.Register(func(ctx context.Context, u *url.URL, opts remote.Options) (remote.Remote, error) {
		return New(filepath.FromSlash(u.Path))
	}, "file")
}

// Remote is a directory tree on the local file system.
type Remote struct {
	root string
}

var (
	_ remote.Remote    = (*Remote)(nil)
	_ remote.Hasher    = (*Remote)(nil)
	_ remote.RootMaker = (*Remote)(nil)
)

// New opens the directory root. A missing root is not an error here: every
// operation in it then fails with fs.ErrNotExist, so that reading the marker
// of a target never deployed to says just that.
func New(root string) (*Remote, error) {
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: root, Err: errors.New("not a directory")}
	}
	return &Remote{root: root}, nil
}

func (r *Remote) path(name string) string { return filepath.Join(r.root, filepath.FromSlash(name)) }

// Stat implements remote.Remote.
func (r *Remote) Stat(ctx context.Context, name string) (remote.FileInfo, error) {
	fi, err := os.Stat(r.path(name))
	if err != nil {
		return remote.FileInfo{}, wrap("stat", name, err)
	}
	return remote.FileInfo{Name: name, Size: size(fi), IsDir: fi.IsDir(), ModTime: fi.ModTime()}, nil
}

// Open implements remote.Remote.
func (r *Remote) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f, err := os.Open(r.path(name))
	if err != nil {
		return nil, wrap("open", name, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
	}
	return f, nil
}

// Hash implements remote.Hasher with SHA-256 over the file's content.
func (r *Remote) Hash(ctx context.Context, name string) (remote.Digest, error) {
	f, err := os.Open(r.path(name))
	if err != nil {
		return remote.Digest{}, wrap("hash", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return remote.Digest{}, wrap("hash", name, err)
	}
	return remote.Digest{Algo: "sha256", Sum: h.Sum(nil)}, nil
}

// Put implements remote.Remote.
func (r *Remote) Put(ctx context.Context, name string, src io.Reader, size int64) error {
	f, err := os.OpenFile(r.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return wrap("put", name, err)
	}
	_, err = io.Copy(f, ctxReader{ctx, src})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wrap("put", name, err)
	}
	return nil
}

// Rename implements remote.Remote. rename(2) replaces the target atomically.
func (r *Remote) Rename(ctx context.Context, from, to string) error {
	return wrap("rename", to, os.Rename(r.path(from), r.path(to)))
}

// Remove implements remote.Remote.
func (r *Remote) Remove(ctx context.Context, name string) error {
	p := r.path(name)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return &fs.PathError{Op: "remove", Path: name, Err: errors.New("is a directory")}
	}
	return wrap("remove", name, os.Remove(p))
}

// MkdirRoot implements remote.RootMaker.
func (r *Remote) MkdirRoot(ctx context.Context, dryRun bool) ([]string, error) {
	missing, err := remote.MissingDirs(filepath.ToSlash(r.root), func(dir string) (bool, error) {
		fi, err := os.Stat(filepath.FromSlash(dir))
		switch {
		case err == nil && !fi.IsDir():
			return false, &fs.PathError{Op: "mkdir", Path: dir, Err: errors.New("not a directory")}
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		}
		return false, wrap("mkdir", dir, err)
	})
	if err != nil || dryRun {
		return missing, err
	}
	for i, d := range missing {
		if err := os.Mkdir(filepath.FromSlash(d), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return missing[:i], wrap("mkdir", d, err)
		}
	}
	return missing, nil
}

// Mkdir implements remote.Remote.
func (r *Remote) Mkdir(ctx context.Context, name string) error {
	return wrap("mkdir", name, os.Mkdir(r.path(name), 0o755))
}

// Rmdir implements remote.Remote.
func (r *Remote) Rmdir(ctx context.Context, name string) error {
	p := r.path(name)
	fi, err := os.Lstat(p)
	if err != nil {
		return wrap("rmdir", name, err)
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "rmdir", Path: name, Err: errors.New("not a directory")}
	}
	return wrap("rmdir", name, syscall.Rmdir(p))
}

// List implements remote.Remote.
func (r *Remote) List(ctx context.Context, name string) ([]remote.FileInfo, error) {
	entries, err := os.ReadDir(r.path(name))
	if err != nil {
		return nil, wrap("list", name, err)
	}
	out := make([]remote.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed while listing
		}
		out = append(out, remote.FileInfo{Name: e.Name(), Size: size(fi), IsDir: fi.IsDir(), ModTime: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close implements remote.Remote.
func (r *Remote) Close() error { return nil }

func size(fi fs.FileInfo) int64 {
	if fi.IsDir() {
		return 0
	}
	return fi.Size()
}

// wrap turns an os error into the contract's *fs.PathError about name.
func wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	err = underlying(err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		err = errors.Join(remote.ErrStorageFull, err)
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func underlying(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// ctxReader stops a local copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
