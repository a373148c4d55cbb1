package ftp

import (
	"context"
	"errors"
	"io/fs"
	"net/textproto"
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
func (r *Remote) RefuseName(name string) error {
	if strings.ContainsAny(name, "\r\n") {
		return &fs.PathError{Op: "put", Path: name, Err: &kindError{fs.ErrInvalid, errors.New("an FTP command cannot carry a file name with CR or LF")}}
	}
	return nil
}

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
	if strings.ContainsAny(r.root, "\r\n") {
		return nil, &fs.PathError{Op: "mkdir", Path: r.root, Err: &kindError{fs.ErrInvalid, errors.New("an FTP path cannot hold CR or LF")}}
	}
	var made []string
	err := r.with(ctx, func(s *session) error {
		if dryRun {
			var err error
			made, err = remote.MissingDirs(r.root, func(dir string) (bool, error) {
				err := s.sc.ChangeDir(dir)
				var te *textproto.Error
				if err != nil && !errors.As(err, &te) {
					return false, classify("CWD", err)
				}
				return err == nil, nil
			})
			return err
		}
		chain := r.rootChain()
		codes := make([]int, len(chain))
		msgs := make([]string, len(chain))
		if s.settled() {
			cmds := make([]string, len(chain))
			for i, d := range chain {
				cmds[i] = "MKD " + d
			}
			if err := s.send(cmds...); err != nil {
				s.broken = true
				return classify("MKD", err)
			}
			for i := range chain {
				code, msg, err := s.reply()
				if err != nil {
					s.broken = true
					return classify("MKD", err)
				}
				codes[i], msgs[i] = code, msg
			}
		} else {
			for i, d := range chain {
				err := s.sc.MakeDir(d)
				var te *textproto.Error
				switch {
				case errors.As(err, &te):
					codes[i], msgs[i] = te.Code, te.Msg
				case err != nil:
					return classify("MKD", err)
				default:
					codes[i] = 257
				}
			}
		}
		for i, d := range chain {
			if codes[i] < 300 {
				made = append(made, d)
			}
		}
		if n := len(chain); n == 0 || codes[n-1] < 300 {
			return nil
		}
		// The root's MKD failed: it exists, or the first directory that
		// is still missing says why not.
		for i, d := range chain {
			if codes[i] < 300 {
				continue
			}
			err := s.sc.ChangeDir(d)
			var te *textproto.Error
			if err != nil && !errors.As(err, &te) {
				return classify("CWD", err)
			}
			if err != nil {
				return &fs.PathError{Op: "mkdir", Path: d, Err: classify("MKD", &textproto.Error{Code: codes[i], Msg: msgs[i]})}
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
