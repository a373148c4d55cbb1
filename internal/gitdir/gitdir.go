// Package gitdir finds a work tree's git directories the way git does,
// without running it: .git itself, or the directory a .git file names
// (linked work trees, submodules), and the common directory that holds
// objects, packs and config (a linked work tree's "commondir").
package gitdir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Of returns the git directory of the work tree at top, and its common
// directory (the same directory, unless a commondir file names another).
func Of(top string) (dir, common string, err error) {
	dir = filepath.Join(top, ".git")
	fi, err := os.Stat(dir)
	if err != nil {
		return "", "", err
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(dir)
		if err != nil {
			return "", "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		gd, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir: ")
		if !ok {
			return "", "", fmt.Errorf("%s: a .git file without a gitdir line", dir)
		}
		if !filepath.IsAbs(gd) {
			gd = filepath.Join(top, gd)
		}
		dir = gd
	}
	return dir, Common(dir), nil
}

// Common returns the common directory of the git directory dir.
func Common(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "commondir"))
	if err != nil {
		return dir
	}
	common := strings.TrimSpace(string(b))
	if !filepath.IsAbs(common) {
		common = filepath.Join(dir, common)
	}
	return filepath.Clean(common)
}
