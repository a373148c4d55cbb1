package main

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v3"
)

// output is where a run's results go besides the human lines: the --json
// reporter and the CI system's log format.
type output struct {
	rep     *reporter
	ci      *ci
	command string // the command being run, as the command line names it
	json    bool
}

func newOutput() *output {
	return &output{rep: newReporter(time.Now()), ci: &ci{now: time.Now}}
}

// setupOutput decides, from the command line and the environment, where
// output goes: with --json the human lines go to stderr and stdout carries
// only JSON; under a CI system, results close the -v group first.
func (a *app) setupOutput(root *cli.Command, args []string, getenv func(string) string) {
	o := a.out
	o.command = commandOf(args, root.Commands)
	o.ci.kind, o.ci.w = detectCI(getenv), a.stderr
	if jsonRequested(args, root.Commands) {
		o.json = true
		o.rep.w = a.stdout
		a.stdout = a.stderr
	}
	if o.ci.kind != ciNone {
		a.stdout = groupCloser{w: a.stdout, ci: o.ci}
	}
	root.Writer = a.stdout
}

// outputReady runs once the flags are parsed: -v turns on the action lines
// and the CI group, and the reporter redacts what the log redacts.
func (a *app) outputReady() {
	o := a.out
	o.rep.actions = o.json && a.verbose >= 1
	if h, ok := a.log.Handler().(*logHandler); ok {
		o.rep.redact = func(s string) string {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, secret := range *h.secrets {
				s = strings.ReplaceAll(s, secret, "****")
			}
			return s
		}
	}
	if a.verbose >= 1 && o.command != "" {
		o.ci.startGroup("gftp_"+strings.ReplaceAll(o.command, "-", "_"), "gftp "+o.command+" (details)")
	}
}

// exit reports how the run ended: the human error (or CI annotations) on
// stderr, then the JSON result on stdout. It returns the exit code.
func (a *app) exit(err error) int {
	a.out.ci.endGroup()
	code := exitOK
	if err != nil {
		code = remoteExitCode(a.out.command, err, exitCode(err))
		a.out.ci.report(a.stderr, a.out.command, err, code)
	}
	a.out.rep.finish(a.out.command, err, code)
	return code
}

// forcedExitError is the outcome of a second signal, or of a cleanup
// that outlasted its budget: the program quits at once.
func forcedExitError(reason string) error {
	return &cliError{code: exitInterrupted, msg: reason,
		hint: "the marker was not moved, so the next push resumes the deploy; run from this host, it breaks the lock this run left (from another host: --break-lock)"}
}

// forcedExit holds what runs before signalContext ends the program at
// once, so that --json output still ends with its result object.
var forcedExit atomic.Pointer[func(reason string)]

// commandOf names the command args run: the first argument that names one.
func commandOf(args []string, commands []*cli.Command) string {
	names := map[string]string{}
	for _, c := range commands {
		names[c.Name] = c.Name
		for _, al := range c.Aliases {
			names[al] = c.Name
		}
	}
	for _, arg := range args[min(len(args), 1):] {
		if arg == "--" {
			break
		}
		if n, ok := names[arg]; ok {
			return n
		}
	}
	return ""
}
