package main

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/dumbhttp"
)

// jsonCommands are the commands that take --json.
var jsonCommands = map[string]bool{"init": true, "push": true, "catchup": true, "check": true, "show": true, "publish-dumb": true, "sync": true}

// jsonSchema is the version of the --json object's layout; it changes only
// when a field is removed or changes meaning (README, "Machine-readable
// output").
const jsonSchema = 1

// jsonFlag is --json; run() decides from the command line itself (see
// jsonRequested), so that a usage error is reported as JSON too.
func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print one JSON object with the result on stdout (and, with -v, one JSON line per action before it); human output goes to stderr"}
}

// jsonRequested reports whether args ask for --json on a command that takes
// it. It reads the command line rather than the parsed flags, because a
// command line that does not parse must still get its JSON error object.
// Of several --json and --json=BOOL the last wins.
func jsonRequested(args []string, commands []*cli.Command) bool {
	if !jsonCommands[commandOf(args, commands)] {
		return false
	}
	on := false
	for _, arg := range args[min(len(args), 1):] {
		if arg == "--" {
			break
		}
		name, v, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name != "json" || !strings.HasPrefix(arg, "-") {
			continue
		}
		on = !hasValue
		if hasValue {
			on, _ = strconv.ParseBool(v)
		}
	}
	return on
}

// jsonResult is the object --json prints last on stdout. Every field is
// always present (zero when it does not apply), except the sections of one
// command: check, publish and deployed_commit. README documents it.
type jsonResult struct {
	Type        string        `json:"type"` // "result"
	Schema      int           `json:"schema"`
	Version     string        `json:"version"`
	Command     string        `json:"command"`
	OK          bool          `json:"ok"`
	ExitCode    int           `json:"exit_code"`
	Error       *jsonError    `json:"error"`
	URL         string        `json:"url"`
	DryRun      bool          `json:"dry_run"`
	UpToDate    bool          `json:"up_to_date"`
	Interrupted bool          `json:"interrupted"`
	Target      string        `json:"target"`
	Previous    string        `json:"previous"`
	Deployed    string        `json:"deployed"`
	Commits     *int          `json:"commits"`
	Planned     jsonPlanned   `json:"planned"`
	Uploaded    int           `json:"uploaded"`
	Resumed     int           `json:"resumed"`
	Deleted     int           `json:"deleted"`
	Skipped     int           `json:"skipped"`
	Mkdirs      int           `json:"mkdirs"`
	Rmdirs      int           `json:"rmdirs"`
	Bytes       int64         `json:"bytes"`
	ElapsedMS   int64         `json:"elapsed_ms"`
	Failures    []jsonFailure `json:"failures"`

	Check          *jsonCheck   `json:"check,omitempty"`
	Publish        *jsonPublish `json:"publish,omitempty"`
	DeployedCommit *jsonCommit  `json:"deployed_commit,omitempty"`
}

type jsonError struct {
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

type jsonPlanned struct {
	Uploads int   `json:"uploads"`
	Deletes int   `json:"deletes"`
	Bytes   int64 `json:"bytes"`
}

type jsonFailure struct {
	Op     string `json:"op"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

type jsonCheck struct {
	Checked   int             `json:"checked"`
	Clean     bool            `json:"clean"`
	Missing   []jsonFile      `json:"missing"`
	WrongSize []jsonWrongSize `json:"wrong_size"`
	Extra     []string        `json:"extra"`
	Temporary []string        `json:"temporary"`
}

type jsonFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

type jsonWrongSize struct {
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	ServerSize int64  `json:"server_size"`
}

type jsonPublish struct {
	Refs          []jsonRef `json:"refs"`
	UploadedFiles []string  `json:"uploaded_files"`
	DeletedFiles  []string  `json:"deleted_files"`
	NewObjects    int       `json:"new_objects"`
	Pack          string    `json:"pack"`
	Head          string    `json:"head"`
}

type jsonRef struct {
	Name   string `json:"name"`
	Old    string `json:"old"`
	New    string `json:"new"`
	Update string `json:"update"`
}

type jsonCommit struct {
	SHA     string `json:"sha"`
	Author  string `json:"author"`
	Email   string `json:"email"`
	Date    string `json:"date"`
	Subject string `json:"subject"`
}

// jsonAction is one line of -v --json: an action the executor finished
// ("action"), or, with --dry-run, one it would do ("plan").
type jsonAction struct {
	Type    string `json:"type"`
	Op      string `json:"op"`
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Reason  string `json:"reason"`
	OK      bool   `json:"ok"`
	Resumed bool   `json:"resumed,omitempty"`
	Error   string `json:"error,omitempty"`
}

// reporter collects what a command did and, with --json, writes it to
// stdout: the action lines as they happen, the result object once, last.
// Its methods are safe to call without --json (they only collect) and
// from several goroutines.
type reporter struct {
	mu      sync.Mutex
	w       io.Writer // stdout; nil without --json
	actions bool      // -v: one line per action
	redact  func(string) string
	start   time.Time
	done    bool
	res     jsonResult
	resumed map[string]bool
	// ran is set once the executor's result is in; until then the counts
	// come from the actions seen (a second Ctrl-C does not wait for it).
	ran  bool
	seen struct{ uploaded, resumed, deleted int }
}

func newReporter(start time.Time) *reporter {
	return &reporter{start: start, redact: func(s string) string { return s }, resumed: map[string]bool{},
		res: jsonResult{Type: "result", Schema: jsonSchema, Version: version, Failures: []jsonFailure{}}}
}

func hashString(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

// line writes one JSON line, unless the result is out already.
func (r *reporter) line(v any) {
	if r.w == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		_, _ = io.WriteString(r.w, r.redact(string(b))+"\n")
	}
}

func (r *reporter) update(fn func(*jsonResult)) {
	r.mu.Lock()
	fn(&r.res)
	r.mu.Unlock()
}

func (r *reporter) setURL(display string) { r.update(func(j *jsonResult) { j.URL = display }) }

func (r *reporter) setTarget(c *object.Commit) {
	r.update(func(j *jsonResult) { j.Target = c.Hash.String() })
}

// setDeployed records the commit the marker named when the command read it.
func (r *reporter) setDeployed(h plumbing.Hash) {
	r.update(func(j *jsonResult) { j.Previous, j.Deployed = hashString(h), hashString(h) })
}

func (r *reporter) setUpToDate() { r.update(func(j *jsonResult) { j.UpToDate = true }) }

// plan records what a deploy is about to do; with --dry-run and -v, each
// step becomes a "plan" line.
func (r *reporter) plan(p *deploy.Plan, dryRun bool) {
	r.update(func(j *jsonResult) {
		j.Target = hashString(p.To) // "" for a sync
		j.DryRun = dryRun
		j.Planned = jsonPlanned{Uploads: len(p.Uploads), Deletes: len(p.Deletes), Bytes: p.Bytes()}
		if p.Commits >= 0 {
			n := p.Commits
			j.Commits = &n
		}
	})
	if dryRun && r.actions {
		for _, a := range p.Actions() {
			r.line(jsonAction{Type: "plan", Op: string(a.Op), Path: a.Path, Size: a.Size, Reason: a.Reason, OK: true})
		}
	}
}

// executed records the executor's result.
func (r *reporter) executed(p *deploy.Plan, res *deploy.Result) {
	r.update(func(j *jsonResult) {
		r.ran = true
		j.Uploaded, j.Resumed, j.Deleted = res.Uploaded, res.Resumed, res.Deleted
		j.Mkdirs, j.Rmdirs, j.Bytes = res.Mkdirs, res.Rmdirs, res.Bytes
		j.Interrupted = res.Interrupted
		failed := 0
		for _, f := range res.Failures {
			if f.Action.Op == deploy.OpUpload || f.Action.Op == deploy.OpDelete {
				failed++
			}
		}
		j.Skipped = max(len(p.Uploads)+len(p.Deletes)-res.Uploaded-res.Resumed-res.Deleted-failed, 0)
		if res.Marker {
			j.Deployed = p.To.String()
		}
		j.Failures = failuresOf(res.Failures)
	})
}

func failuresOf(fs []deploy.Failure) []jsonFailure {
	out := []jsonFailure{}
	for _, f := range fs {
		out = append(out, jsonFailure{Op: string(f.Action.Op), Path: f.Action.Path, Reason: oneLine(f.Err.Error())})
	}
	return out
}

func (r *reporter) setDryRun() { r.update(func(j *jsonResult) { j.DryRun = true }) }

// recorded says how catchup's write of the marker went.
func (r *reporter) recorded(marker string, h plumbing.Hash, err error) {
	r.End(deploy.Action{Op: deploy.OpMarker, Path: marker, Size: 41, Reason: h.String()}, err)
	if err == nil {
		r.update(func(j *jsonResult) { j.Deployed = h.String() })
	}
}

func (r *reporter) check(d *deploy.Drift) {
	c := &jsonCheck{Checked: d.Checked, Clean: d.Clean(), Missing: []jsonFile{}, WrongSize: []jsonWrongSize{},
		Extra: append([]string{}, d.Extra...), Temporary: append([]string{}, d.Temps...)}
	for _, m := range d.Missing {
		c.Missing = append(c.Missing, jsonFile{Path: m.Path, Size: m.Size})
	}
	for _, m := range d.Mismatch {
		c.WrongSize = append(c.WrongSize, jsonWrongSize{Path: m.Action.Path, Size: m.Action.Size, ServerSize: m.Got})
	}
	r.update(func(j *jsonResult) { j.Check = c })
}

func (r *reporter) show(c *object.Commit) {
	subject, _, _ := strings.Cut(c.Message, "\n")
	r.update(func(j *jsonResult) {
		j.DeployedCommit = &jsonCommit{SHA: c.Hash.String(), Author: c.Author.Name, Email: c.Author.Email,
			Date: c.Author.When.Format(time.RFC3339), Subject: subject}
	})
}

func (r *reporter) published(res *dumbhttp.Result) {
	p := &jsonPublish{Refs: []jsonRef{}, UploadedFiles: append([]string{}, res.Uploaded...),
		DeletedFiles: append([]string{}, res.Deleted...), NewObjects: res.NewObjects, Pack: res.Pack, Head: res.Head}
	for _, c := range slices.Concat(res.Changes, res.Kept) {
		p.Refs = append(p.Refs, jsonRef{Name: c.Name, Old: hashString(c.Old), New: hashString(c.New), Update: string(c.Update)})
	}
	if r.actions {
		for _, f := range res.Uploaded {
			r.line(jsonAction{Type: map[bool]string{true: "plan", false: "action"}[res.DryRun], Op: string(deploy.OpUpload), Path: f, OK: true})
		}
		for _, f := range res.Deleted {
			r.line(jsonAction{Type: "action", Op: string(deploy.OpDelete), Path: f, OK: true})
		}
	}
	r.update(func(j *jsonResult) {
		r.ran = true
		j.Publish = p
		j.DryRun, j.UpToDate = res.DryRun, res.UpToDate
		if !res.DryRun {
			j.Uploaded, j.Deleted, j.Bytes = len(res.Uploaded), len(res.Deleted), res.PackSize
		}
		j.Planned = jsonPlanned{Uploads: len(res.Uploaded), Deletes: len(res.Deleted), Bytes: res.PackSize}
	})
}

// finish completes the result with the command's outcome and, with
// --json, writes it. Only the first call writes.
func (r *reporter) finish(command string, err error, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	j := &r.res
	j.Command = command
	j.ExitCode = code
	j.OK = err == nil
	j.ElapsedMS = time.Since(r.start).Milliseconds()
	if !r.ran {
		j.Uploaded, j.Resumed, j.Deleted = r.seen.uploaded, r.seen.resumed, r.seen.deleted
	}
	if err != nil {
		cause, hint := describe(err)
		j.Error = &jsonError{Message: oneLine(cause), Hint: hint}
		j.Interrupted = j.Interrupted || code == exitInterrupted
		var fe *deploy.FailedError
		if len(j.Failures) == 0 && errors.As(err, &fe) {
			j.Failures = failuresOf(fe.Failures)
		}
	}
	r.done = true
	if r.w == nil {
		return
	}
	b, merr := json.Marshal(j)
	if merr != nil {
		b = []byte(`{"type":"result","schema":1,"ok":false,"exit_code":1}`)
	}
	_, _ = io.WriteString(r.w, r.redact(string(b))+"\n")
}

// Begin, Progress and End make the reporter a deploy.Observer: with -v
// --json each finished action is a line.
func (r *reporter) Begin(deploy.Action)           {}
func (r *reporter) Progress(deploy.Action, int64) {}

// Resumed hears of an upload that an earlier run delivered.
func (r *reporter) Resumed(a deploy.Action) {
	r.mu.Lock()
	r.resumed[a.Path] = true
	r.mu.Unlock()
}

func (r *reporter) End(a deploy.Action, err error) {
	r.mu.Lock()
	resumed := r.resumed[a.Path] && a.Op == deploy.OpUpload
	if err == nil {
		switch {
		case resumed:
			r.seen.resumed++
		case a.Op == deploy.OpUpload:
			r.seen.uploaded++
		case a.Op == deploy.OpDelete:
			r.seen.deleted++
		}
	}
	r.mu.Unlock()
	if !r.actions {
		return
	}
	l := jsonAction{Type: "action", Op: string(a.Op), Path: a.Path, Size: a.Size, Reason: a.Reason, OK: err == nil, Resumed: resumed}
	if err != nil {
		l.Error = oneLine(err.Error())
	}
	r.line(l)
}

// observers fans executor events out to several observers.
type observers []deploy.Observer

func (o observers) Begin(a deploy.Action) {
	for _, x := range o {
		x.Begin(a)
	}
}

func (o observers) Progress(a deploy.Action, n int64) {
	for _, x := range o {
		x.Progress(a, n)
	}
}

func (o observers) End(a deploy.Action, err error) {
	for _, x := range o {
		x.End(a, err)
	}
}

func (o observers) Resumed(a deploy.Action) {
	for _, x := range o {
		if ro, ok := x.(deploy.ResumeObserver); ok {
			ro.Resumed(a)
		}
	}
}
