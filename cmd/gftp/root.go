package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/remote"
)

// createsRoot reports whether cmd starts a deploy, and so creates the
// remote directory and its parents when they are missing, as git-ftp does:
// init, catchup, publish-dumb, and push --auto-init.
func createsRoot(cmd *cli.Command) bool {
	switch cmd.Name {
	case "init", "catchup", "publish-dumb", "sync":
		return true
	case "push":
		return cmd.Bool("auto-init")
	}
	return false
}

// rootWithoutLock does for --dry-run and --no-lock what the lock does
// otherwise (deploy.LockOptions.CreateRoot): a dry run lists the remote
// directories it would create; --no-lock creates them up front, since no
// lock's mkdir finds them missing first.
func (a *app) rootWithoutLock(ctx context.Context, cmd *cli.Command, r remote.Remote) error {
	if !createsRoot(cmd) {
		return nil
	}
	dry := cmd.Bool("dry-run")
	dirs, err := remote.MkdirRoot(ctx, r, dry)
	if err != nil {
		return fmt.Errorf("create the remote directory: %w", err)
	}
	if !dry {
		a.logCreated(dirs)
		return nil
	}
	for _, d := range dirs {
		fmt.Fprintf(a.stdout, "  mkdir   %s (missing on the server)\n", quoteName(d))
	}
	if len(dirs) > 0 {
		fmt.Fprintf(a.stdout, "Dry run: would create %d missing remote director%s first.\n", len(dirs), pluralY(len(dirs)))
	}
	return nil
}

// logCreated tells -v which remote directories a first deploy created.
func (a *app) logCreated(dirs []string) {
	for _, d := range dirs {
		a.log.Info("created the remote directory", "dir", d)
	}
}

func pluralY(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}
