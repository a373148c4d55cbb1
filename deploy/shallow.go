package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// IsShallow reports whether the repository is a shallow clone (git
// rev-parse --is-shallow-repository).
func (r *Repo) IsShallow() bool { return r.isShallow() }

// FetchCommit fetches commit h, and only it (depth 1), from the clone's
// remote into a shallow clone that lacks it: a deploy diffs two trees and
// needs no history between them, so CI's default clone of depth 1 is
// enough. It returns the remote's name. The remote must serve a commit by
// its SHA: protocol v2 (git's default since 2.26, and GitHub) does; an
// older protocol needs uploadpack.allowReachableSHA1InWant on the server.
// The repository is reopened afterwards, so the commit is found.
func (r *Repo) FetchCommit(ctx context.Context, h plumbing.Hash) (string, error) {
	remote, err := r.fetchRemote(ctx)
	if err != nil {
		return "", err
	}
	// Never ask for credentials on a terminal (CI has none); a remote that
	// needs them must have them configured, as actions/checkout does.
	if _, err := r.runGit(ctx, []string{"GIT_TERMINAL_PROMPT=0"}, "fetch", "--quiet", "--no-tags", "--depth=1", remote, h.String()); err != nil {
		return remote, err
	}
	nr, err := OpenRepo(r.Dir)
	if err != nil {
		return remote, err
	}
	*r = *nr
	return remote, nil
}

// fetchRemote is the remote to fetch from: the current branch's upstream
// remote, else origin, else the only remote there is.
func (r *Repo) fetchRemote(ctx context.Context) (string, error) {
	if branch, err := r.runGit(ctx, nil, "symbolic-ref", "--quiet", "--short", "HEAD"); err == nil && branch != "" {
		if name, err := r.runGit(ctx, nil, "config", "--get", "branch."+branch+".remote"); err == nil && name != "" && name != "." {
			return name, nil
		}
	}
	out, err := r.runGit(ctx, nil, "remote")
	if err != nil {
		return "", err
	}
	remotes := strings.Fields(out)
	switch {
	case slices.Contains(remotes, "origin"):
		return "origin", nil
	case len(remotes) == 1:
		return remotes[0], nil
	case len(remotes) == 0:
		return "", errors.New("the clone has no remote to fetch from")
	}
	return "", fmt.Errorf("the clone has several remotes (%s) and none is origin or the branch's upstream", strings.Join(remotes, ", "))
}

// runGit runs git in the work tree and returns its trimmed output, or an
// error that carries git's own message.
func (r *Repo) runGit(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(string(out)), nil
}
