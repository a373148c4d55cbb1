package ftp

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/gftp/gftp/remote"
)

var (
	_ remote.RootMaker   = (*Remote)(nil)
	_ remote.NameRefuser = (*Remote)(nil)
)

// RefuseName implements remote.NameRefuser: a command line ends at CR LF
// (RFC 959, 4.1), so no FTP command can name a file with CR or LF in it.
// The server would act on a name cut short, and the rest of the line
// would be read as another command.
func (r *Remote) RefuseName(name string) error { return refuseLineBreak("put", name) }

// rootChain lists the directories from the top down to the root that may
// need creating: those below the login directory for a root relative to it
// (the login directory exists), else every one below "/".
func (r *Remote) rootChain() []string {
	base := "/"
	if !strings.HasPrefix(r.rawDir, "/") && strings.HasPrefix(r.login, "/") {
		base = path.Clean(r.login)
	}
	var chain []string
	for d := r.root; d != base && d != "/" && d != "."; d = path.Dir(d) {
		chain = append(chain, d)
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}

// MkdirRoot implements remote.RootMaker. The MKD of every directory from
// the top down to the root goes out in one write, so that a missing path
// of any depth costs one round trip: servers answer pipelined commands in
// order, and each MKD finds its parent made by the one before (550 for
// those that exist). The 257 replies name the directories made. A dry run
// asks with CWD, one directory at a time, from the root up.
func (r *Remote) MkdirRoot(ctx context.Context, dryRun bool) ([]string, error) {
	var made []string
	err := r.with(ctx, func(s *session) error {
		if dryRun {
			var err error
			made, err = remote.MissingDirs(r.root, func(dir string) (bool, error) {
				_, err := s.c.Cmd("CWD " + dir)
				if err != nil && s.c.Broken() {
					return false, classify("CWD", err)
				}
				return err == nil, nil
			})
			return err
		}
		chain := r.rootChain()
		if len(chain) == 0 {
			return nil
		}
		cmds := make([]string, len(chain))
		for i, d := range chain {
			cmds[i] = "MKD " + d
		}
		reps, err := s.c.Do(cmds...)
		if err != nil {
			s.broken = true
			return classify("MKD", err)
		}
		for i, d := range chain {
			if reps[i].Code < 300 {
				made = append(made, d)
			}
		}
		if reps[len(chain)-1].Code < 300 {
			return nil
		}
		// The root's MKD failed: it exists, or the first directory that
		// is still missing says why not.
		for i, d := range chain {
			if reps[i].Code < 300 {
				continue
			}
			if _, err := s.c.Cmd("CWD " + d); err != nil {
				if s.c.Broken() {
					return classify("CWD", err)
				}
				return &fs.PathError{Op: "mkdir", Path: d, Err: classify("MKD", reps[i].Err())}
			}
		}
		return nil
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return made, err
		}
		return made, pathErr("mkdir", r.root, err)
	}
	return made, nil
}
