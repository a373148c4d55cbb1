package main

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"runtime"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/remote"
)

// This file holds what gftp accepts only because git-ftp does: its flags,
// its scope names, its exit codes, and its commands that gftp lacks.

// gitftpRootFlags are git-ftp options with no gftp meaning of their own.
func gitftpRootFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "lock", Aliases: []string{"l"}, Usage: "accepted for git-ftp compatibility: gftp always takes the remote lock (see --no-lock)"},
		&cli.StringFlag{Name: "keychain", Aliases: []string{"k"}, Usage: "macOS: read the password from the keychain for `ACCOUNT[@HOST]` (default: the user and the URL's host)"},
	}
}

// revFlags choose the commit to deploy: HEAD, a branch's tip, or any
// revision.
func revFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "branch", Aliases: []string{"b"}, Usage: "deploy the tip of branch `BRANCH` instead of HEAD (git config git-ftp.branch); nothing is checked out"},
		&cli.StringFlag{Name: "deploy-rev", Usage: "deploy `REV` (a SHA, tag or branch) instead of HEAD"},
	}
}

// hookFlags control git-ftp's pre-ftp-push and post-ftp-push hooks.
func hookFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "no-verify", Usage: "do not run the pre-ftp-push hook"},
		&cli.BoolFlag{Name: "enable-post-errors", Usage: "fail (exit 9) when the post-ftp-push hook fails"},
	}
}

// unsupportedCommands are git-ftp's actions that gftp does not have. Each
// says so in one line, with exit 2.
func unsupportedCommands() []*cli.Command {
	var cmds []*cli.Command
	for _, name := range []string{"download", "pull", "snapshot"} {
		cmds = append(cmds, &cli.Command{
			Name:            name,
			Usage:           "git-ftp's experimental " + name + ": not supported by gftp",
			Hidden:          true,
			SkipFlagParsing: true,
			Action: func(context.Context, *cli.Command) error {
				return usageErr("gftp only deploys; to fetch the server's files use lftp mirror, or git-ftp itself",
					"'%s' is not supported: gftp does not download from the server", name)
			},
		})
	}
	return cmds
}

// scopeNameRe is git-ftp's rule for scope names.
var scopeNameRe = regexp.MustCompile(`^[-0-9a-zA-Z_/]*$`)

// checkScopeName refuses a name that git-ftp refuses, with its exit code.
func checkScopeName(name string) error {
	if name == "" {
		return missingErr("name the scope: gftp add-scope NAME URL, -s NAME", "missing scope name")
	}
	if !scopeNameRe.MatchString(name) {
		return usageErr("scope names may contain only 0-9 a-z A-Z - _ / (as in git-ftp)", "invalid scope name %q", name)
	}
	return nil
}

// currentBranch is what a bare -s names: the branch checked out in dir.
func currentBranch(ctx context.Context, dir string) (string, error) {
	c := exec.CommandContext(ctx, "git", "rev-parse", "--abbrev-ref", "HEAD")
	c.Dir = dir
	out, err := c.Output()
	b := strings.TrimSpace(string(out))
	if err != nil || b == "" || b == "HEAD" {
		return "", missingErr("check out a branch, or name the scope: -s NAME", "-s without a name uses the current branch's name, but HEAD is not on a branch")
	}
	return b, nil
}

// remoteExitCode maps a connection or login failure to git-ftp's exit code
// for the action: git-ftp checks access by uploading for init and catchup
// (4) and by downloading the marker for push, show and log (5). Its 6 is an
// unknown protocol, and gftp's own commands keep 6 for any remote error.
func remoteExitCode(action string, err error, code int) int {
	if code != exitRemote || errors.Is(err, remote.ErrScheme) {
		return code
	}
	switch action {
	case "init", "catchup":
		return exitUpload
	case "push", "show", "log":
		return exitDownload
	}
	return code
}

// keychainPassword reads a password from the macOS keychain, as git-ftp's
// -k does: account is "user@host" or "user" (the URL's host then), or
// empty (the login user and the URL's host).
func keychainPassword(ctx context.Context, account, user, host string) (string, error) {
	if runtime.GOOS != "darwin" {
		return "", usageErr("use --password-command (for example with secret-tool or pass), ~/.netrc, GFTP_PASSWORD or -P",
			"-k/--keychain reads the macOS keychain, which %s does not have", runtime.GOOS)
	}
	if a, h, ok := strings.Cut(account, "@"); ok {
		user, host = a, h
	} else if account != "" {
		user = account
	}
	if user == "" {
		return "", missingErr("give the account: -k USER@HOST, or --user", "missing keychain account")
	}
	args := []string{"find-internet-password", "-a", user}
	if host != "" {
		args = append(args, "-s", host)
	}
	out, err := exec.CommandContext(ctx, "security", append(args, "-w")...).Output()
	if err != nil {
		return "", missingErr("add it with Keychain Access, or: security add-internet-password -a USER -s HOST -w",
			"password not found in keychain for account '%s @ %s'", user, host)
	}
	return strings.TrimRight(string(out), "\r\n"), nil
}

// keychainAccount reports whether -k or git-ftp.keychain asks for the
// keychain, and for which account.
func keychainAccount(s *settings) (string, bool) {
	v, src := s.get("keychain")
	return v, src != srcNone
}

// hasFlag reports whether cmd defines the flag name.
func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// checkAction refuses a normalised command line without a command, as
// git-ftp does ("Action unknown", exit 3), and `gftp help` of a command
// that does not exist. Bare `gftp`, -h and --help show the help.
func checkAction(args []string, spec argvSpec) error {
	const hint = "the commands are init, push, catchup, show, log, check, add-scope, remove-scope, publish-dumb, diag, completion, man, version (gftp help); the command may stand anywhere on the line"
	if len(args) < 2 {
		return nil
	}
	first := args[1]
	switch {
	case first == "help" && len(args) > 2 && !spec.actions[args[2]]:
		return usageErr(hint, "no help for %q: it is not a gftp command", args[2])
	case spec.actions[first]:
		return nil
	case !strings.HasPrefix(first, "-"):
		return missingErr(hint, "no command: %q is not a gftp command", first)
	}
	for _, a := range args[1:] {
		if a == "-h" || a == "--help" || a == "--" {
			return nil
		}
	}
	return missingErr(hint, "no command given")
}
