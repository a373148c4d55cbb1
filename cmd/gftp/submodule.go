package main

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/remote"
)

// catchupSubmodules records, as git-ftp's catchup does, each checked-out
// submodule's commit in its own marker under its path, before the
// superproject's marker is written.
func (a *app) catchupSubmodules(ctx context.Context, t *target, r remote.Remote, to *object.Commit, marker string, dryRun bool) error {
	syncroot := strings.Trim(path.Clean("/"+t.settings.str("syncroot")), "/")
	subs, err := deploy.SubmoduleMarkers(ctx, t.repo, to, syncroot, marker)
	if err != nil {
		return err
	}
	for _, sm := range subs {
		if dryRun {
			fmt.Fprintf(a.stdout, "Dry run: would record %s as deployed in %s (submodule %s).\n", sm.To, sm.Marker, sm.Path)
			continue
		}
		// git-ftp's curl creates the directories (--ftp-create-dirs).
		if err := remote.MkdirAll(ctx, r, sm.Path); err != nil {
			return err
		}
		if err := deploy.WriteMarker(ctx, r, sm.Marker, sm.To); err != nil {
			return err
		}
		a.log.Info("submodule recorded", "path", sm.Path, "commit", sm.To)
	}
	return nil
}
