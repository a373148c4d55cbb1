// Package objectformat tells which hash a repository names its objects by,
// and refuses the ones gftp cannot read.
//
// go-git v5 fixes the hash at compile time (plumbing/hash, build tag
// sha256): one binary reads SHA-1 repositories or SHA-256 ones, never both.
// Opened anyway, a SHA-256 repository fails with "unknown extension:
// objectformat", and a storage opened without go-git's checks would misread
// its objects. Checking the config first gives the user a reason and a way
// out instead.
package objectformat

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/config"

	"github.com/gftp/gftp/internal/gitdir"
)

// Error says a repository uses an object format gftp cannot read.
type Error struct {
	Dir    string // the repository (work tree or git directory)
	Format string // extensions.objectformat, e.g. "sha256"
}

func (e *Error) Error() string {
	return fmt.Sprintf("repository %s uses the %s object format (extensions.objectformat), which gftp cannot read yet", e.Dir, e.Format)
}

// Hint tells the way out.
func (e *Error) Hint() string {
	return "gftp reads SHA-1 repositories only (git init's default); deploy this one with git-ftp for now (README: Coming from git-ftp)"
}

// Check returns an *Error when the repository whose git directory is gitdir
// names its objects by anything but SHA-1. The config is read from the
// common directory, where linked work trees keep it. dir names the
// repository in the error. A missing or unreadable config is not this
// check's business: the open that follows reports it.
func Check(dir, gitDir string) error {
	common := gitdir.Common(gitDir)
	f, err := os.Open(filepath.Join(common, "config"))
	if err != nil {
		return nil
	}
	defer f.Close()
	cfg := config.New()
	if err := config.NewDecoder(f).Decode(cfg); err != nil {
		return nil
	}
	format := strings.ToLower(cfg.Section("extensions").Option("objectformat"))
	if format == "" || format == "sha1" {
		return nil
	}
	return &Error{Dir: dir, Format: format}
}

// CheckWorkTree is Check for the work tree at top, whose .git is a
// directory or a file naming one (linked work trees, submodules).
func CheckWorkTree(top string) error {
	dir, _, err := gitdir.Of(top)
	if err != nil {
		return nil
	}
	return Check(top, dir)
}
