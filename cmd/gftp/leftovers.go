package main

import (
	"context"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/remote"
)

// tidyUpToDate ends a run that has nothing to deploy. When its lock replaced
// a dead run's, that run may have died after moving the marker and before
// removing its journal: the journal goes now, so that nothing of it is left.
func (a *app) tidyUpToDate(ctx context.Context, r remote.Remote) {
	if a.brokenLock == nil {
		return
	}
	if err := deploy.RemoveJournal(ctx, r); err != nil {
		a.log.Info("could not remove the journal", "name", deploy.JournalName, "err", err)
	}
}

// finishesDeadInit reports whether an init that finds the marker already
// there is the re-run of an init of the same commit that died after moving
// the marker, and whose lock this run broke: then there is nothing left to
// do. Any other init over a marker refuses, as git-ftp's does.
func (a *app) finishesDeadInit(deployed, to plumbing.Hash) bool {
	b := a.brokenLock
	return b != nil && deployed == to && b.Command == "init" && b.Commit != "" && strings.HasPrefix(to.String(), b.Commit)
}
