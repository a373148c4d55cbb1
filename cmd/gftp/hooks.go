package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/deploy"
)

// git-ftp's hooks, run from the hooks directory (core.hooksPath honoured)
// with the repository's top as working directory.
const (
	preHook  = "pre-ftp-push"
	postHook = "post-ftp-push"
)

// hookArgs are git-ftp's four arguments: the scope (or, without one, the
// host), the URL with the password masked and the path ending in "/", the
// commit being deployed, and the commit deployed before ("" for init).
func hookArgs(t *target, local plumbing.Hash) []string {
	u := t.url
	scope := t.settings.scope
	if scope == "" {
		scope = u.Host
	}
	login := ""
	user := t.settings.str("user")
	if user == "" && u.User != nil {
		user = u.User.Username()
	}
	if user != "" {
		login = gitftpURLEncode(user) + ":***@"
	}
	p := strings.TrimPrefix(u.Path, "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return []string{scope, u.Scheme + "://" + login + u.Host + "/" + p, local.String(), t.deployed}
}

// gitftpURLEncode encodes as git-ftp's urlencode: all but -_.~ and
// alphanumerics, as lower-case %xx.
func gitftpURLEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' || c == '_' || c == '.' || c == '~' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// hooksDir is where git looks for hooks: core.hooksPath when set, else
// .git/hooks (also in a linked worktree).
func hooksDir(ctx context.Context, repoDir string) string {
	c := exec.CommandContext(ctx, "git", "rev-parse", "--git-path", "hooks")
	c.Dir = repoDir
	out, err := c.Output()
	d := strings.TrimSpace(string(out))
	if err != nil || d == "" {
		return filepath.Join(repoDir, ".git", "hooks")
	}
	if !filepath.IsAbs(d) {
		d = filepath.Join(repoDir, d)
	}
	return d
}

// runHook runs hook name if it exists, as git-ftp does (it runs any file
// of that name, so one that is not executable fails). Its output goes to
// stderr, which keeps stdout for gftp's results.
func (a *app) runHook(ctx context.Context, t *target, name string, local plumbing.Hash, stdin []byte) (ran bool, err error) {
	p := filepath.Join(hooksDir(ctx, t.repo.Dir), name)
	if _, err := os.Stat(p); err != nil {
		return false, nil
	}
	args := hookArgs(t, local)
	a.log.Info("running hook", "hook", name, "args", strings.Join(args, ", "))
	c := exec.CommandContext(ctx, p, args...)
	c.Dir = t.repo.Dir
	c.Stdin = bytes.NewReader(stdin)
	c.Stdout, c.Stderr = a.stderr, a.stderr
	return true, c.Run()
}

// preHook runs pre-ftp-push with the plan on stdin, unless --no-verify. A
// failure stops the deploy before anything is uploaded (exit 9).
func (a *app) preHook(ctx context.Context, cmd *cli.Command, t *target, p *deploy.Plan, syncroot string) error {
	if cmd.Bool("no-verify") {
		return nil
	}
	_, err := a.runHook(ctx, t, preHook, p.To, deploy.HookStatus(p, syncroot))
	if err != nil {
		return &cliError{code: exitHook, msg: fmt.Sprintf("%s hook failed (%s); nothing was uploaded", preHook, hookFailure(err)),
			hint: "fix what the hook reports, or skip it once with --no-verify"}
	}
	return nil
}

// postHook runs post-ftp-push after a completed deploy. Its failure is a
// warning, or exit 9 with --enable-post-errors (the deploy stays done).
func (a *app) postHook(ctx context.Context, cmd *cli.Command, t *target, to plumbing.Hash) error {
	_, err := a.runHook(ctx, t, postHook, to, nil)
	if err == nil {
		return nil
	}
	if !cmd.Bool("enable-post-errors") {
		a.warn("%s hook failed (%s); ignored (pass --enable-post-errors to fail on it)", postHook, hookFailure(err))
		return nil
	}
	return &cliError{code: exitHook, msg: fmt.Sprintf("%s hook failed (%s); the deploy itself completed and the marker was moved", postHook, hookFailure(err)),
		hint: "fix the hook and run it by hand; pushing again finds everything up to date"}
}

func hookFailure(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if errors.Is(err, os.ErrPermission) {
		return err.Error() + ": make it executable (chmod +x)"
	}
	return err.Error()
}
