package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/deploy"
)

// errDrift makes check exit 1 when the server differs, as diff does.
var errDrift = &cliError{code: exitUnknown, msg: "the server differs from the deployed commit", hint: "run 'gftp push --repair' to upload what is missing or wrong"}

func (a *app) checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "compare the files on the server with the deployed commit: missing, extra and wrong-size files (exit 1 when they differ)",
		ArgsUsage: "[URL|SCOPE]",
		Action:    a.checkCmd,
	}
}

func (a *app) checkCmd(ctx context.Context, cmd *cli.Command) error {
	t, err := a.resolveTarget(ctx, cmd)
	if err != nil {
		return err
	}
	r, err := a.open(ctx, cmd, t)
	if err != nil {
		return err
	}
	defer r.Close()
	h, err := deploy.ReadMarker(ctx, r, a.markerName(t))
	if err != nil {
		return err
	}
	a.out.rep.setDeployed(h)
	c, err := a.commit(ctx, t.repo, h)
	if err != nil {
		return err
	}
	opts, err := a.planOptions(t, true)
	if err != nil {
		return err
	}
	d, err := deploy.Check(ctx, t.repo, r, c, opts)
	if err != nil {
		return err
	}
	a.out.rep.check(d)
	w := a.stdout
	for _, m := range d.Missing {
		fmt.Fprintf(w, "  missing %s (%s)\n", m.Path, humanBytes(m.Size))
	}
	for _, m := range d.Mismatch {
		fmt.Fprintf(w, "  size    %s (server %s, commit %s)\n", m.Action.Path, humanBytes(m.Got), humanBytes(m.Action.Size))
	}
	for _, p := range d.Extra {
		fmt.Fprintf(w, "  extra   %s\n", p)
	}
	for _, p := range d.Temps {
		fmt.Fprintf(w, "  temp    %s (left by an interrupted run)\n", p)
	}
	fmt.Fprintf(w, "Checked %d file%s against %s at %s: %d missing, %d wrong size, %d extra, %d temporary.\n",
		d.Checked, plural(d.Checked), short(h), t.display, len(d.Missing), len(d.Mismatch), len(d.Extra), len(d.Temps))
	if !d.Clean() {
		return errDrift
	}
	return nil
}
