// Command gftp deploys git repositories to plain file hosts (FTP, FTPES,
// FTPS, SFTP, S3 and local directories), uploading only what changed since
// the last deploy. It is a drop-in for git-ftp.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	// The transports register their URL schemes.
	_ "github.com/gftp/gftp/remote/ftp"
	_ "github.com/gftp/gftp/remote/local"
	_ "github.com/gftp/gftp/remote/s3"
	_ "github.com/gftp/gftp/remote/sftp"
)

func main() {
	ctx, stop := signalContext(os.Stderr)
	defer stop()
	stopProfile := startCPUProfile()
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(code)
}

// run is the whole program, testable: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	root := a.command()
	if completing(args) {
		_ = root.Run(ctx, args) // candidates for a completion script
		return exitOK
	}
	spec := specOf(root)
	spec.localUser = os.Getenv("USER")
	args = normaliseArgs(args, spec)
	if err := checkAction(args, spec); err != nil {
		return report(stderr, err)
	}
	a.setupOutput(root, args, os.Getenv)
	force := func(reason string) { a.exit(forcedExitError(reason)) }
	forcedExit.Store(&force)
	err := root.Run(ctx, args)
	if err != nil && ctx.Err() != nil && !errors.Is(err, context.Canceled) {
		// A signal stopped the run, whatever failed on the way (a git
		// command killed with the context, a connection cut): exit 130.
		err = errors.Join(context.Canceled, err)
	}
	return a.exit(err)
}

// cleanupBudget bounds the clean exit after the first signal: CI runners
// follow SIGTERM with SIGKILL after a few seconds, so the interrupted deploy
// gets this long to remove its temporary files and release the lock, and
// then quits anyway (the next run removes what is left).
const cleanupBudget = 4 * time.Second

// signalContext is cancelled by the first SIGINT or SIGTERM, so that work in
// flight can stop cleanly and the marker stays where it was; a second one,
// or a cleanup that outlasts cleanupBudget, exits at once.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(stderr, "gftp: %s: stopping; signal again to quit at once\n", signalName(sig))
		cancel()
		reason := "signalled again: quit at once"
		select {
		case <-ch:
			fmt.Fprintln(stderr, "gftp: quitting at once; the next run removes what this one left")
		case <-time.After(cleanupBudget):
			fmt.Fprintf(stderr, "gftp: cleanup took longer than %s; quitting; the next run removes what this one left\n", cleanupBudget)
			reason = fmt.Sprintf("%s: cleanup took longer than %s: quit", signalName(sig), cleanupBudget)
		}
		if f := forcedExit.Load(); f != nil {
			(*f)(reason)
		}
		os.Exit(exitInterrupted)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func signalName(sig os.Signal) string {
	if sig == syscall.SIGTERM {
		return "terminated"
	}
	return "interrupted"
}
