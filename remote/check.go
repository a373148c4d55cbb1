package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// ErrEscape is wrapped by the error for a name that would leave the remote
// root: absolute, with a "." or ".." element, an empty element, or a NUL.
var ErrEscape = errors.New("the name leaves the remote root")

// CheckName refuses a name that would leave the remote root, whatever
// produced it (an include file, a server listing, a journal, a manifest).
// A valid name is "" (the root) or slash-separated elements none of which
// is "", "." or "..", nor holds a NUL; an element that a Windows server
// would read as ".." ("..\x", "x\..") is refused too, since IIS takes '\'
// for a separator. Every Remote that Open returns checks each name with it
// before the transport sees it.
func CheckName(name string) error {
	if name == "" {
		return nil
	}
	why := ""
	switch {
	case strings.HasPrefix(name, "/"):
		why = "absolute"
	case strings.IndexByte(name, 0) >= 0:
		why = "holds a NUL byte"
	default:
		for _, el := range strings.Split(name, "/") {
			switch el {
			case "":
				why = "has an empty element"
			case ".", "..":
				why = "has a " + el + " element"
			default:
				for _, part := range strings.Split(el, `\`) {
					if part == ".." {
						why = `has a ".." element between backslashes`
					}
				}
			}
			if why != "" {
				break
			}
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w (%s)", ErrEscape, why)
}

func check(op, name string) error {
	if err := CheckName(name); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// checked is what Open returns: the transport behind a check of every name
// (CheckName), the one place that keeps writes and reads inside the root.
// It also carries the optional capabilities (As finds them on it only when
// the transport has them), so that no name reaches a transport unchecked.
type checked struct{ Remote }

var (
	_ AtomicPutter   = (*checked)(nil)
	_ PutIfAbsenter  = (*checked)(nil)
	_ VersionRemover = (*checked)(nil)
	_ BatchRemover   = (*checked)(nil)
	_ DirRemover     = (*checked)(nil)
	_ Hasher         = (*checked)(nil)
	_ RootMaker      = (*checked)(nil)
	_ NameRefuser    = (*checked)(nil)
)

// Unwrap implements Wrapper.
func (c *checked) Unwrap() Remote { return c.Remote }

func (c *checked) Stat(ctx context.Context, name string) (FileInfo, error) {
	if err := check("stat", name); err != nil {
		return FileInfo{}, err
	}
	return c.Remote.Stat(ctx, name)
}

func (c *checked) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := check("open", name); err != nil {
		return nil, err
	}
	return c.Remote.Open(ctx, name)
}

func (c *checked) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := check("put", name); err != nil {
		return err
	}
	return c.Remote.Put(ctx, name, r, size)
}

func (c *checked) Rename(ctx context.Context, from, to string) error {
	if err := check("rename", from); err != nil {
		return err
	}
	if err := check("rename", to); err != nil {
		return err
	}
	return c.Remote.Rename(ctx, from, to)
}

func (c *checked) Remove(ctx context.Context, name string) error {
	if err := check("remove", name); err != nil {
		return err
	}
	return c.Remote.Remove(ctx, name)
}

func (c *checked) Mkdir(ctx context.Context, name string) error {
	if err := check("mkdir", name); err != nil {
		return err
	}
	return c.Remote.Mkdir(ctx, name)
}

func (c *checked) Rmdir(ctx context.Context, name string) error {
	if err := check("rmdir", name); err != nil {
		return err
	}
	return c.Remote.Rmdir(ctx, name)
}

func (c *checked) List(ctx context.Context, name string) ([]FileInfo, error) {
	if err := check("list", name); err != nil {
		return nil, err
	}
	return c.Remote.List(ctx, name)
}

// PutAtomic implements AtomicPutter when the transport does; else it is
// PutViaTemp through the checks.
func (c *checked) PutAtomic(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := check("put", name); err != nil {
		return err
	}
	if a, ok := As[AtomicPutter](c.Remote); ok {
		return a.PutAtomic(ctx, name, r, size)
	}
	return PutViaTemp(ctx, c, name, r, size)
}

func (c *checked) PutIsAtomic() bool {
	a, ok := As[AtomicPutter](c.Remote)
	return ok && a.PutIsAtomic()
}

func (c *checked) PutIfAbsent(ctx context.Context, name string, r io.Reader) error {
	if err := check("put", name); err != nil {
		return err
	}
	p, _ := As[PutIfAbsenter](c.Remote)
	return p.PutIfAbsent(ctx, name, r)
}

func (c *checked) ReadVersion(ctx context.Context, name string, max int64) ([]byte, string, error) {
	if err := check("open", name); err != nil {
		return nil, "", err
	}
	v, _ := As[VersionRemover](c.Remote)
	return v.ReadVersion(ctx, name, max)
}

func (c *checked) RemoveVersion(ctx context.Context, name, version string) error {
	if err := check("remove", name); err != nil {
		return err
	}
	v, _ := As[VersionRemover](c.Remote)
	return v.RemoveVersion(ctx, name, version)
}

func (c *checked) RemoveAll(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := check("remove", n); err != nil {
			return err
		}
	}
	b, _ := As[BatchRemover](c.Remote)
	return b.RemoveAll(ctx, names)
}

func (c *checked) RemoveDir(ctx context.Context, dir string, files []string) error {
	if err := check("rmdir", dir); err != nil {
		return err
	}
	for _, f := range files {
		if err := check("remove", dir+"/"+f); err != nil {
			return err
		}
	}
	d, _ := As[DirRemover](c.Remote)
	return d.RemoveDir(ctx, dir, files)
}

func (c *checked) Hash(ctx context.Context, name string) (Digest, error) {
	if err := check("hash", name); err != nil {
		return Digest{}, err
	}
	h, _ := As[Hasher](c.Remote)
	return h.Hash(ctx, name)
}

func (c *checked) MkdirRoot(ctx context.Context, dryRun bool) ([]string, error) {
	m, _ := As[RootMaker](c.Remote)
	return m.MkdirRoot(ctx, dryRun)
}

func (c *checked) RefuseName(name string) error {
	if err := check("put", name); err != nil {
		return err
	}
	n, _ := As[NameRefuser](c.Remote)
	return n.RefuseName(name)
}
