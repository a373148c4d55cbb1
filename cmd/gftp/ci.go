package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gftp/gftp/deploy"
)

// ciKind is the CI system whose log format gftp speaks.
type ciKind int

const (
	ciNone   ciKind = iota
	ciGitHub        // GITHUB_ACTIONS=true: workflow commands
	ciGitLab        // GITLAB_CI=true: collapsible sections
)

func detectCI(getenv func(string) string) ciKind {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		return ciGitHub
	case getenv("GITLAB_CI") == "true":
		return ciGitLab
	}
	return ciNone
}

// ci writes what a CI system's log understands: under GitHub Actions,
// errors and warnings as annotations and -v detail in a collapsed group;
// under GitLab CI, -v detail in a collapsed section. With ciNone every
// method prints what a terminal gets.
type ci struct {
	kind ciKind
	w    io.Writer // stderr
	now  func() time.Time

	mu   sync.Mutex
	open string // the open group's or section's name
}

// startGroup opens the collapsed group that holds -v detail.
func (c *ci) startGroup(name, title string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open != "" {
		return
	}
	switch c.kind {
	case ciGitHub:
		fmt.Fprintf(c.w, "::group::%s\n", ghData(title))
	case ciGitLab:
		// https://docs.gitlab.com/ci/jobs/job_logs/#custom-collapsible-sections
		fmt.Fprintf(c.w, "\x1b[0Ksection_start:%d:%s[collapsed=true]\r\x1b[0K%s\n", c.now().Unix(), name, title)
	default:
		return
	}
	c.open = name
}

// endGroup closes the group, if one is open; the summary and errors come
// after it, where they are seen without unfolding.
func (c *ci) endGroup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == "" {
		return
	}
	switch c.kind {
	case ciGitHub:
		fmt.Fprintln(c.w, "::endgroup::")
	case ciGitLab:
		fmt.Fprintf(c.w, "\x1b[0Ksection_end:%d:%s\r\x1b[0K\n", c.now().Unix(), c.open)
	}
	c.open = ""
}

// warning prints a warning: "gftp: warning: …", or under GitHub Actions a
// warning annotation.
func (c *ci) warning(w io.Writer, msg string) {
	if c.kind == ciGitHub {
		fmt.Fprintf(w, "::warning::gftp: %s\n", ghData(msg))
		return
	}
	fmt.Fprintf(w, "gftp: warning: %s\n", msg)
}

// report prints err as report does, and under GitHub Actions as
// annotations instead: one for each failed file, then one for the error
// with its hint and the exit code, code.
func (c *ci) report(w io.Writer, command string, err error, code int) {
	if c.kind != ciGitHub {
		report(w, err)
		return
	}
	var fe *deploy.FailedError
	if errors.As(err, &fe) {
		for _, f := range fe.Failures {
			fmt.Fprintf(w, "::error title=%s::%s\n", ghProperty(fmt.Sprintf("failed %s %s", f.Action.Op, f.Action.Path)), ghData(oneLine(f.Err.Error())))
		}
	}
	cause, hint := describe(err)
	msg := oneLine(cause)
	if hint != "" {
		msg += "\nhint: " + hint
	}
	title := strings.TrimSpace("gftp "+command) + fmt.Sprintf(" failed (exit %d)", code)
	fmt.Fprintf(w, "::error title=%s::%s\n", ghProperty(title), ghData(msg))
}

// ghData escapes a workflow command's message as the runner unescapes it
// (actions/toolkit, command.ts escapeData).
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value (escapeProperty):
// ':' and ',' end a value too.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// groupCloser closes the -v group before the first write of a result, so
// that the summary stays outside it.
type groupCloser struct {
	w  io.Writer
	ci *ci
}

func (g groupCloser) Write(p []byte) (int, error) {
	g.ci.endGroup()
	return g.w.Write(p)
}
