package main

import (
	"context"
	"errors"

	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/remote"
)

// earlyOpen is a connection to the target's remote started as soon as the
// target is known, before the local checks (the commit, a dirty tree): an
// SFTP or FTPS login takes several round trips that the repository work
// need not wait for. At 50 ms RTT the two overlap by a few hundred
// milliseconds on every push.
type earlyOpen struct {
	cancel context.CancelFunc
	done   chan struct{}
	r      remote.Remote
	err    error
	local  chan struct{} // closed once the local checks passed
	failed chan struct{} // closed when they failed
}

// openEarly starts connecting to t in the background. A question on the
// terminal (a password, a key's passphrase) waits until the local checks
// have passed, so that a dirty tree is refused before anyone is asked
// anything, as before.
func (a *app) openEarly(ctx context.Context, cmd *cli.Command, t *target) *earlyOpen {
	return a.startEarly(ctx, func(ctx context.Context) (remote.Remote, error) { return a.open(ctx, cmd, t) })
}

// startEarly runs open in the background, behind the gate that waitLocal
// waits for.
func (a *app) startEarly(ctx context.Context, open func(context.Context) (remote.Remote, error)) *earlyOpen {
	ctx, cancel := context.WithCancel(ctx)
	e := &earlyOpen{cancel: cancel, done: make(chan struct{}), local: make(chan struct{}), failed: make(chan struct{})}
	a.promptGate = func() error {
		select {
		case <-e.local:
			return nil
		case <-e.failed:
			return errors.New("the local checks failed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	go func() {
		defer close(e.done)
		e.r, e.err = open(ctx)
	}()
	return e
}

// wait says the local checks passed and returns the connection.
func (e *earlyOpen) wait() (remote.Remote, error) {
	close(e.local)
	<-e.done
	if e.err != nil {
		e.cancel()
	}
	return e.r, e.err
}

// abandon says the local checks failed: the connection, made or not, is
// closed.
func (e *earlyOpen) abandon() {
	close(e.failed)
	e.cancel()
	<-e.done
	if e.r != nil {
		e.r.Close()
	}
}

// waitLocal waits, when a connection was started early, until the local
// checks have passed: what may ask a person something (a prompt, a
// password command, a keychain) runs only then.
func (a *app) waitLocal() error {
	if a.promptGate == nil {
		return nil
	}
	return a.promptGate()
}

// readJournalEarly starts reading the journal of an earlier run as soon as
// the lock is held, beside the marker's read and the plan, instead of after
// them (deploy.StartJournalRead). A dry run, which holds no lock and runs
// nothing, does not read it.
func (a *app) readJournalEarly(ctx context.Context, cmd *cli.Command, s *session) {
	if cmd.Bool("dry-run") || cmd.Bool("no-lock") {
		return
	}
	s.journal = deploy.StartJournalRead(ctx, s.r)
}
