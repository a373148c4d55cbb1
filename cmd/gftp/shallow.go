package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gftp/gftp/deploy"
)

// commit is repo.Commit, except that a deployed commit missing from a
// shallow clone (CI's default) is first fetched from the clone's remote,
// alone, at depth 1. Only when that fails is the commit unknown.
func (a *app) commit(ctx context.Context, repo *deploy.Repo, h plumbing.Hash) (*object.Commit, error) {
	c, err := repo.Commit(h)
	var uc *deploy.UnknownCommitError
	if err == nil || !errors.As(err, &uc) || !uc.Shallow {
		return c, err
	}
	a.log.Info("the deployed commit is not in this shallow clone: fetching it alone (depth 1)", "commit", short(h))
	remote, ferr := repo.FetchCommit(ctx, h)
	if ferr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.log.Info("fetching the deployed commit failed", "commit", short(h), "remote", remote, "err", ferr)
		uc.FetchErr = ferr
		return nil, uc
	}
	a.log.Info("fetched the deployed commit", "commit", short(h), "remote", remote)
	return repo.Commit(h)
}

// commitsText says how many commits a deploy covers, or that a shallow
// clone does not hold the history between them.
func commitsText(n int) string {
	if n < 0 {
		return "history not in this shallow clone"
	}
	return fmt.Sprintf("%d commit%s", n, plural(n))
}
