package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/objectformat"
	"github.com/gftp/gftp/remote"
)

// TestErrorLadder walks every rung of exitCode: each error prints exactly
// one "gftp: error:" line and one "gftp: hint:" line, and exits with the
// code the README's table gives, per command where git-ftp's differ.
func TestErrorLadder(t *testing.T) {
	connect := func(err error) error { return &fs.PathError{Op: "connect", Path: "ftpes://deploy@host/", Err: err} }
	cases := []struct {
		name   string
		err    error
		action string
		want   int
	}{
		{"locked", &deploy.LockedError{Age: time.Minute, TTL: time.Hour}, "push", 7},
		{"interrupted", fmt.Errorf("upload: %w", context.Canceled), "push", 130},
		{"usage", usageErr("see 'gftp help push'", "flag provided but not defined: -z"), "push", 2},
		{"missing", missingErr("give the URL", "no URL given"), "push", 3},
		{"upload failed", &deploy.FailedError{Failures: []deploy.Failure{{Action: deploy.Action{Op: deploy.OpUpload, Path: "a.txt"}, Err: errors.New("553 denied")}}}, "push", 4},
		{"no marker", fmt.Errorf("read marker .git-ftp.log: %w", deploy.ErrNoMarker), "push", 5},
		{"marker unreadable", &deploy.DownloadError{Err: errors.New("550 permission denied")}, "push", 5},
		{"marker garbage", &deploy.MarkerError{Name: ".git-ftp.log", Content: "<html>"}, "push", 5},
		{"unknown commit", &deploy.UnknownCommitError{Rev: strings.Repeat("a", 40)}, "push", 8},
		{"unknown revision", &deploy.RevisionError{Rev: "nope"}, "push", 8},
		{"submodule", &deploy.SubmoduleError{Paths: []string{"lib"}}, "push", 8},
		{"dirty", &DirtyError{Files: []string{"a.txt"}}, "push", 8},
		{"not a repository", fmt.Errorf("/tmp: %w", deploy.ErrNotRepo), "init", 8},
		{"sha256", &objectformat.Error{Dir: "/r", Format: "sha256"}, "init", 8},
		{"hook", &cliError{code: exitHook, msg: "pre-ftp-push hook failed", hint: "--no-verify"}, "push", 9},
		{"local file", &deploy.LocalError{Err: &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}}, "push", 10},
		// A refused login or connection: git-ftp's 4 for init and catchup,
		// 5 for push, show and log; 6 for gftp's own commands.
		{"login init", connect(fmt.Errorf("530: %w", remote.ErrAuth)), "init", 4},
		{"login catchup", connect(fmt.Errorf("530: %w", remote.ErrAuth)), "catchup", 4},
		{"login push", connect(fmt.Errorf("530: %w", remote.ErrAuth)), "push", 5},
		{"refused show", connect(syscall.ECONNREFUSED), "show", 5},
		{"refused log", connect(syscall.ECONNREFUSED), "log", 5},
		{"refused check", connect(syscall.ECONNREFUSED), "check", 6},
		{"refused publish-dumb", connect(syscall.ECONNREFUSED), "publish-dumb", 6},
		{"cut init", connect(syscall.ECONNRESET), "init", 4},
		{"remote path", &fs.PathError{Op: "stat", Path: "x", Err: errors.New("500 odd")}, "push", 5},
		// An unknown scheme is git-ftp's 6 for every command.
		{"scheme", fmt.Errorf("gopher://x: %w", remote.ErrScheme), "push", 6},
		{"unknown", errors.New("something odd"), "push", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			got := remoteExitCode(c.action, c.err, report(&b, c.err))
			out := b.String()
			if got != c.want {
				t.Errorf("%s: exit %d, want %d", c.action, got, c.want)
			}
			if n := strings.Count(out, "gftp: error: "); n != 1 {
				t.Errorf("%d error lines:\n%s", n, out)
			}
			if n := strings.Count(out, "gftp: hint: "); n != 1 {
				t.Errorf("%d hint lines:\n%s", n, out)
			}
		})
	}
}
