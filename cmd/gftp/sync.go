package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/remote"
)

func (a *app) syncCommand() *cli.Command {
	return &cli.Command{
		Name:      "sync",
		Usage:     "deploy the files of DIR, no git needed: upload what changed since the last sync and delete what is gone, by the manifest (" + manifest.Name + ") kept on the server",
		ArgsUsage: "DIR [URL|SCOPE]",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"D"}, Usage: "print the plan and touch nothing on the remote"},
			&cli.StringSliceFlag{Name: "exclude", Usage: "do not deploy files matching `GLOB` (.git-ftp-ignore syntax, relative to DIR; '*' crosses '/'); repeatable. Excluded files on the server are never touched"},
			&cli.StringFlag{Name: "ignore-file", Usage: "read exclude patterns from `FILE` (.git-ftp-ignore syntax) instead of DIR/" + deploy.SyncIgnoreFile},
			&cli.BoolFlag{Name: "delete-extra", Usage: "also delete files on the server that are neither in DIR nor in the manifest (nor excluded); with --dry-run, list them"},
			&cli.BoolFlag{Name: "checksum", Usage: "ask the server for the digest of every file the manifest says is up to date (FTP HASH/XSHA256..., S3 ETag, local) and upload again those that differ"},
			&cli.BoolFlag{Name: "rebuild-manifest", Usage: "ignore the server's manifest (corrupt or lost) and rebuild it from the server's file sizes: a file of the local size is kept, others are uploaded; nothing is deleted"},
		}, lockFlags()...),
		Action: a.run(a.syncCmd),
	}
}

// workDir is where --password-command and the like run: the repository
// for push, the working directory for sync.
func (t *target) workDir() string {
	if t.repo != nil {
		return t.repo.Dir
	}
	wd, _ := os.Getwd()
	return wd
}

// syncTarget reads DIR and the target's URL. Settings come from flags and
// GFTP_* variables, and from git config when the working directory is in a
// repository (scopes, passwords), as for push.
func (a *app) syncTarget(ctx context.Context, cmd *cli.Command) (*target, error) {
	args := cmd.Args().Slice()
	switch {
	case len(args) == 0:
		return nil, missingErr("usage: gftp sync DIR [URL|SCOPE]", "sync needs the directory to deploy")
	case len(args) > 2:
		return nil, usageErr("usage: gftp sync DIR [URL|SCOPE]", "too many arguments: %q", args)
	}
	if cmd.IsSet("syncroot") {
		return nil, usageErr("sync deploys DIR itself: name the directory you want as DIR", "--syncroot does not apply to sync")
	}
	dir := args[0]
	if fi, err := os.Stat(dir); err != nil {
		return nil, &deploy.LocalError{Err: err}
	} else if !fi.IsDir() {
		return nil, usageErr("give a directory as DIR", "%s is not a directory", dir)
	}
	repoDir := ""
	if wd, err := a.getwd(); err == nil {
		if repo, err := deploy.OpenRepo(wd); err == nil {
			repoDir = repo.Dir
		}
	}
	s, err := loadSettings(ctx, cmd, repoDir)
	if err != nil {
		return nil, err
	}
	arg := ""
	if len(args) == 2 {
		arg = args[1]
	}
	u, err := a.targetURL(s, arg)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &deploy.LocalError{Err: err}
	}
	t := &target{settings: s, url: u, local: abs}
	t.display = remote.Redact(u.String())
	a.out.rep.setURL(t.display)
	return t, nil
}

func (a *app) syncCmd(ctx context.Context, cmd *cli.Command) error {
	t, err := a.syncTarget(ctx, cmd)
	if err != nil {
		return err
	}
	dry := cmd.Bool("dry-run")

	// The local side first: an unreadable file fails the run before
	// anything on the server is touched.
	ig, err := deploy.LoadSyncIgnore(t.local, cmd.String("ignore-file"), cmd.StringSlice("exclude"))
	if err != nil {
		return err
	}
	start := time.Now()
	scan, err := deploy.ScanDir(ctx, t.local, deploy.ScanOptions{Exclude: ig})
	if err != nil {
		return err
	}
	for _, w := range scan.Warnings {
		a.warn("%s", w)
	}
	a.log.Info("scanned", "dir", t.local, "files", len(scan.Files), "excluded", len(scan.Excluded), "elapsed", time.Since(start).Round(time.Millisecond))

	r, err := a.open(ctx, cmd, t)
	if err != nil {
		return err
	}
	defer r.Close()
	unlock, err := a.lock(ctx, cmd, r, "")
	if err != nil {
		return err
	}
	defer unlock()

	opts := deploy.SyncPlanOptions{CheckName: remote.NameCheck(r)}
	var server map[string]int64
	if cmd.Bool("rebuild-manifest") || cmd.Bool("delete-extra") {
		if server, err = deploy.ServerFiles(ctx, r); err != nil {
			return err
		}
	}
	if cmd.Bool("rebuild-manifest") {
		opts.Sizes = server
		a.log.Info("rebuilding the manifest from the server's sizes", "files", len(server))
	} else {
		old, warns, err := manifest.Read(ctx, r, manifest.Name)
		if err != nil {
			return err
		}
		for _, w := range warns {
			a.warn("%s", w)
		}
		if !old.Trusted() {
			a.warn("the manifest %s on the server has entries gftp refuses: this sync deletes nothing, sends every file and writes a new manifest of the local files", manifest.Name)
		}
		opts.Old = old
	}
	if cmd.Bool("delete-extra") {
		opts.Extra = deploy.Extra(scan, opts.Old, server)
	}
	if cmd.Bool("checksum") && opts.Old == nil {
		a.warn("--checksum compares against the manifest, which --rebuild-manifest does not read; it is not used")
	}
	if cmd.Bool("checksum") && opts.Old != nil {
		drift, checked, skipped, err := deploy.ContentDrift(ctx, r, scan, opts.Old, remote.InFlight(r, int(cmd.Int("jobs"))))
		switch {
		case errors.Is(err, deploy.ErrNoDigest):
			a.warn("--checksum: %v; only sizes and the manifest are compared", err)
		case err != nil:
			return err
		default:
			if skipped > 0 {
				a.warn("--checksum: the server could not digest %d file%s (a multipart S3 upload has no plain digest); they were not compared", skipped, plural(skipped))
			}
			a.log.Info("checksum", "checked", checked, "differ", len(drift))
			opts.Drift = drift
		}
	}
	plan, err := deploy.NewSyncPlan(scan, opts)
	if err != nil {
		return err
	}
	a.out.rep.plan(plan, dry)
	if len(plan.Uploads)+len(plan.Deletes) == 0 && opts.Old != nil && opts.Old.Trusted() && plan.Manifest.Equal(opts.Old) {
		a.out.rep.setUpToDate()
		a.tidyUpToDate(ctx, r)
		fmt.Fprintf(a.stdout, "Everything up to date: %s matches %s (%d file%s).\n", t.local, t.display, len(scan.Files), plural(len(scan.Files)))
		return nil
	}
	if dry {
		a.printSyncPlan(plan, t)
		return nil
	}
	prog := newProgress(a.stderr, plan, a.verbose >= 0 && a.verbose < 2)
	ex := &deploy.Executor{Remote: r, Jobs: int(cmd.Int("jobs")), Observer: observers{prog, a.out.rep}, Logger: a.log, Leftovers: a.brokenLock != nil}
	res, err := ex.Run(ctx, plan)
	prog.Finish()
	if res != nil {
		a.out.rep.executed(plan, res)
	}
	if err != nil {
		if res != nil {
			what := "FAILED"
			if res.Interrupted {
				what = "INTERRUPTED"
			}
			fmt.Fprintf(a.stdout, "Sync of %s to %s %s: %d of %d uploaded, %d of %d deleted, %s in %s; the manifest was not updated.\n",
				t.local, t.display, what, res.Uploaded, len(plan.Uploads), res.Deleted, len(plan.Deletes), humanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
		}
		return err
	}
	resumed := ""
	if res.Resumed > 0 {
		resumed = fmt.Sprintf(" (%d more already there from an earlier run)", res.Resumed)
	}
	fmt.Fprintf(a.stdout, "Synced %s to %s: %d uploaded%s, %d deleted, %d unchanged, %s in %s.\n",
		t.local, t.display, res.Uploaded, resumed, res.Deleted, len(scan.Files)-len(plan.Uploads), humanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
	return nil
}

func (a *app) printSyncPlan(p *deploy.Plan, t *target) {
	w := a.stdout
	fmt.Fprintf(w, "Plan for the sync of %s to %s:\n", t.local, t.display)
	for _, act := range p.Actions() {
		switch act.Op {
		case deploy.OpUpload:
			fmt.Fprintf(w, "  %-8s %s (%s, %s)\n", act.Op, quoteName(act.Path), humanBytes(act.Size), act.Reason)
		case deploy.OpRmdir:
			fmt.Fprintf(w, "  %-8s %s (if empty)\n", act.Op, quoteName(act.Path))
		default:
			fmt.Fprintf(w, "  %-8s %s (%s)\n", act.Op, quoteName(act.Path), act.Reason)
		}
	}
	fmt.Fprintf(w, "Dry run: would upload %d file%s (%s) and delete %d; nothing was changed on the remote.\n",
		len(p.Uploads), plural(len(p.Uploads)), humanBytes(p.Bytes()), len(p.Deletes))
}
