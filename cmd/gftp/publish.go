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
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "move published refs that are not fast-forwards (an older or rewritten branch, commits the local repository lacks, a moved tag)"},
			&cli.BoolFlag{Name: "prune", Usage: "delete published refs that match --refs and no longer exist locally (default: keep them)"},
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
	t, r := s.target, s.r
	plan, err := dumbhttp.NewPlan(ctx, t.repo.Dir, r, dumbhttp.Options{
		Refs:      cmd.StringSlice("refs"),
		Head:      cmd.String("head"),
		Force:     cmd.Bool("force"),
		Prune:     cmd.Bool("prune"),
		Repack:    cmd.Bool("repack"),
		Jobs:      int(cmd.Int("jobs")),
		Logger:    a.log,
		Leftovers: a.brokenLock != nil,
	})
	if err != nil {
		return publishErr(err)
	}
	defer plan.Close()
	w := a.stdout
	for _, c := range plan.Refs {
		fmt.Fprintf(w, "  %-13s %s\n", c.Update, refLine(c))
	}
	if rej := plan.Rejected(); len(rej) > 0 {
		return publishErr(&dumbhttp.RejectedError{Refs: rej})
	}
	res := plan.Result()
	if !cmd.Bool("dry-run") {
		if res, err = plan.Apply(ctx, r); err != nil {
			return publishErr(err)
		}
	}
	a.out.rep.published(res)
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

// refLine shows one ref of a publish plan the way git push does: old..new
// for a fast-forward, old...new for a forced or rejected update.
func refLine(c dumbhttp.RefChange) string {
	line := quoteName(c.Name) + " "
	switch c.Update {
	case dumbhttp.UpdateNew:
		line += short(c.New)
	case dumbhttp.UpdateDeleted, dumbhttp.UpdateKept:
		line += short(c.Old)
	case dumbhttp.UpdateFastForward:
		line += short(c.Old) + ".." + short(c.New)
	default:
		line += short(c.Old) + "..." + short(c.New)
	}
	switch {
	case c.Reason == dumbhttp.ReasonMissingLocally:
		line += " (" + c.Reason + "; --prune deletes it)"
	case c.Reason != "":
		line += " (" + c.Reason + ")"
	}
	return line
}

// publishErr gives a publish's errors their exit codes and hints.
func publishErr(err error) error {
	var rej *dumbhttp.RejectedError
	switch {
	case errors.As(err, &rej):
		hint := "the local commits do not contain the published ones (an older checkout, or rewritten history): update the local branches and publish again, or pass --force to overwrite the published refs"
		if rej.Tags() {
			hint = "a published tag never moves without --force: make a new tag, or pass --force to move it"
		}
		if rej.FetchFirst() {
			hint = "the target holds commits the local repository lacks (someone else published, or this clone is shallow): fetch them and publish again, or pass --force to overwrite the published refs"
		}
		return &cliError{code: exitGit, msg: err.Error(), hint: hint + "; nothing was changed"}
	case errors.Is(err, dumbhttp.ErrTargetChanged):
		return &cliError{code: exitRemote, msg: err.Error(),
			hint: "another publish changed the target while this one ran (no ref was written); run the same command again"}
	case errors.Is(err, dumbhttp.ErrHeadNotPublished):
		return usageErr("choose a published branch with --head, or widen --refs", "%v", err)
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "no pack"
	}
	return s
}
