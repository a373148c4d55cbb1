package main

import (
	"errors"

	"github.com/gftp/gftp/deploy"
)

// fallbackHint is the hint for an error that brings none of its own, so
// that every error prints one (README: "Every error is printed as one
// line ... followed by gftp: hint:").
func fallbackHint(err error) string {
	var (
		de *deploy.DownloadError
		le *deploy.LocalError
	)
	switch {
	case errors.Is(err, deploy.ErrNotRepo):
		return "cd into the work tree of the repository to deploy, or make one with git init and a first commit"
	case errors.As(err, &de):
		return "the server did not hand out the marker: check the URL's path and the user's read rights; -vv shows the dialogue"
	case errors.As(err, &le):
		return "check the local file named above: that it exists and that gftp may read it"
	case isRemoteErr(err):
		return "check the URL, the network and the server; 'gftp diag URL' checks an FTP connection step by step, and -vv shows the dialogue"
	}
	return "run again with -v (or -vv for the protocol dialogue) to see what gftp did; if it looks like a bug in gftp, report it with that output"
}
