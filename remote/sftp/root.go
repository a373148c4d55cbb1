package sftp

import (
	"context"
	"errors"
	"io/fs"

	sftplib "github.com/pkg/sftp"

	"github.com/gftp/gftp/remote"
)

var _ remote.RootMaker = (*Remote)(nil)

// MkdirRoot implements remote.RootMaker. It asks from the root up which
// directories are missing, then makes them parents first: one round trip
// per level, on one session, since SFTP answers requests as they arrive
// and a mkdir must not overtake its parent's.
func (r *Remote) MkdirRoot(ctx context.Context, dryRun bool) ([]string, error) {
	var made []string
	failed := "" // the directory that could not be made
	err := r.run(ctx, "mkdir", r.root, func(c *sftplib.Client) error {
		missing, err := remote.MissingDirs(r.root, func(dir string) (bool, error) {
			fi, err := c.Stat(dir)
			switch {
			case err == nil && !fi.IsDir():
				failed = dir
				return false, errors.New("not a directory")
			case err == nil:
				return true, nil
			case errors.Is(err, fs.ErrNotExist):
				return false, nil
			}
			return false, err
		})
		if err != nil || dryRun {
			made = missing
			return err
		}
		for _, d := range missing {
			if err := c.Mkdir(d); err != nil {
				if fi, serr := c.Stat(d); serr == nil && fi.IsDir() {
					continue // made meanwhile by someone else
				}
				failed = d
				return err
			}
			made = append(made, d)
		}
		return nil
	}, nil)
	if err != nil && failed != "" {
		err = retarget("mkdir", failed, err)
	}
	return made, err
}
