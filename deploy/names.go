package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/gftp/gftp/remote"
)

// NameError refuses a deploy whose files the transport cannot name (FTP:
// CR or LF in a file name). It is found when planning, before anything is
// touched, rather than at the rename that would fail half way.
type NameError struct {
	Paths []string // repository paths, syncroot included
	Err   error    // the transport's reason, from the first of them
}

func (e *NameError) Error() string {
	names := make([]string, 0, min(len(e.Paths), 5))
	for _, p := range e.Paths[:cap(names)] {
		names = append(names, remote.QuoteName(p))
	}
	more := ""
	if len(e.Paths) > len(names) {
		more = fmt.Sprintf(" and %d more", len(e.Paths)-len(names))
	}
	return fmt.Sprintf("cannot deploy %s%s: %v", strings.Join(names, ", "), more, e.Err)
}

func (e *NameError) Unwrap() error { return e.Err }

// Hint tells how to leave the files out: a .git-ftp-ignore line cannot
// hold a CR or LF, so '?' stands for each.
func (e *NameError) Hint() string {
	pat := strings.NewReplacer("\r", "?", "\n", "?", "?", `\?`, "*", `\*`, "[", `\[`, `\`, `\\`).Replace(e.Paths[0])
	return fmt.Sprintf("rename the file, or exclude it with a line in %s such as %s (a '?' stands for each CR or LF, which a line cannot hold); SFTP, S3 and local targets can carry such names", IgnoreFile, remote.QuoteName(pat))
}

// checkNames fails the plan with a *NameError when check refuses any of
// its remote names.
func checkNames(p *Plan, syncroot string, check func(string) error) error {
	if check == nil {
		return nil
	}
	var e *NameError
	for _, list := range [][]Action{p.Mkdirs, p.Uploads, p.Deletes, p.Rmdirs} {
		for _, a := range list {
			err := check(a.Path)
			if err == nil {
				continue
			}
			if e == nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // its path is the name, which may not be printed raw
				}
				e = &NameError{Err: err}
			}
			repoPath := a.Path
			if syncroot != "" {
				repoPath = syncroot + "/" + a.Path
			}
			e.Paths = append(e.Paths, repoPath)
		}
	}
	if e == nil {
		return nil
	}
	return e
}
