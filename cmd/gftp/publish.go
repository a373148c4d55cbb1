package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/dumbhttp"
)

func (a *app) publishDumbCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish-dumb",
		Usage:     "publish the repository's dumb-HTTP layout (a bare repository git can clone over plain HTTP) to TARGET, uploading only what is new",
		ArgsUsage: "TARGET (a URL or a scope)",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "refs", Usage: "publish the refs matching `PATTERN` (refs/heads/*, v*, main; '*' crosses '/'); default every branch and tag"},
			&cli.StringFlag{Name: "head", Usage: "make HEAD point to `BRANCH` (default the current branch)"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"D"}, Usage: "print what would be uploaded and deleted, and touch nothing"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "replace published refs whose objects the local repository lacks"},
			&cli.BoolFlag{Name: "repack", Usage: "write one pack of every published object; superseded packs are removed by a later publish"},
		}, lockFlags()...),
		Action: a.publishDumbCmd,
	}
}

func (a *app) publishDumbCmd(ctx context.Context, cmd *cli.Command) error {
	s, err := a.begin(ctx, cmd, false)
	if err != nil {
		return err
	}
	defer s.close()
	s.publish()
	t, r := s.target, s.r
	res, err := dumbhttp.Publish(ctx, t.repo.Dir, r, dumbhttp.Options{
		Refs:      cmd.StringSlice("refs"),
		Head:      cmd.String("head"),
		DryRun:    cmd.Bool("dry-run"),
		Force:     cmd.Bool("force"),
		Repack:    cmd.Bool("repack"),
		Jobs:      int(cmd.Int("jobs")),
		Logger:    a.log,
		Leftovers: a.brokenLock != nil,
	})
	switch {
	case errors.Is(err, dumbhttp.ErrDiverged):
		return &cliError{code: exitRemote, msg: err.Error(),
			hint: "someone else published there: fetch their commits first, or pass --force to replace their refs"}
	case errors.Is(err, dumbhttp.ErrTargetChanged):
		return &cliError{code: exitRemote, msg: err.Error(),
			hint: "another publish changed the target while this one ran (no ref was written); run the same command again"}
	case errors.Is(err, dumbhttp.ErrHeadNotPublished):
		return usageErr("choose a published branch with --head, or widen --refs", "%v", err)
	case err != nil:
		return err
	}
	a.out.rep.published(res)
	w := a.stdout
	if res.DryRun {
		for _, p := range res.Uploaded {
			fmt.Fprintf(w, "  upload  %s\n", quoteName(p))
		}
	}
	// Deletions (superseded packs, leftovers) happen even when the refs are
	// up to date.
	for _, p := range res.Deleted {
		fmt.Fprintf(w, "  delete  %s\n", quoteName(p))
	}
	for _, c := range res.Changes {
		switch {
		case c.Old.IsZero():
			fmt.Fprintf(w, "  new     %s %s\n", quoteName(c.Name), short(c.New))
		case c.New.IsZero():
			fmt.Fprintf(w, "  removed %s\n", quoteName(c.Name))
		default:
			fmt.Fprintf(w, "  updated %s %s..%s\n", quoteName(c.Name), short(c.Old), short(c.New))
		}
	}
	switch {
	case res.UpToDate:
		fmt.Fprintf(w, "Everything up to date at %s: nothing uploaded.\n", t.display)
	case res.DryRun:
		fmt.Fprintf(w, "Dry run: would upload %d files (%d new objects) and delete %d at %s; nothing was changed.\n",
			len(res.Uploaded), res.NewObjects, len(res.Deleted), t.display)
	default:
		fmt.Fprintf(w, "Published %d ref change%s to %s: %d new objects in %s (%s), %d files uploaded, %d deleted; HEAD -> %s.\n",
			len(res.Changes), plural(len(res.Changes)), t.display, res.NewObjects, orNone(res.Pack), humanBytes(res.PackSize),
			len(res.Uploaded), len(res.Deleted), res.Head)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no pack"
	}
	return s
}
