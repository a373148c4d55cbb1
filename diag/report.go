package diag

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the verdict of one check.
type Status string

// The verdicts, from best to worst. Skip means the check could not run
// (no credentials, or an earlier check failed) and counts as neither.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check is one step of the diagnosis.
type Check struct {
	ID      string        `json:"id"`      // dns, connect, tls, banner, feat, certificate, login, prot, epsv, pasv, active, reuse, write
	Title   string        `json:"title"`   // what was checked, for people
	Status  Status        `json:"status"`  // ok, warn, fail or skip
	Summary string        `json:"summary"` // the verdict in one line
	Log     []string      `json:"log,omitempty"`
	Advice  []string      `json:"advice,omitempty"`
	Elapsed time.Duration `json:"-"`
	// ElapsedMS is Elapsed in milliseconds, for --json.
	ElapsedMS float64 `json:"elapsed_ms"`

	// Certificates is the chain the server sent, leaf first (certificate).
	Certificates []CertInfo `json:"certificates,omitempty"`
	// TLS describes the connection (tls, and data connections).
	TLS *TLSInfo `json:"tls,omitempty"`

	start time.Time // when it began
}

// CertInfo describes one certificate of the server's chain.
type CertInfo struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	SANs      []string  `json:"sans,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"`
}

// TLSInfo describes a TLS connection.
type TLSInfo struct {
	Version string `json:"version"`
	Cipher  string `json:"cipher"`
	Resumed bool   `json:"resumed"`
	// Verified is how the certificate fared: "ok", "pinned", "insecure"
	// (not verified, accepted by --insecure) or "failed: REASON".
	Verified string `json:"verified,omitempty"`
}

// Report is the result of Run: every check in the order it ran.
type Report struct {
	Target string   `json:"target"`
	Checks []*Check `json:"checks"`
	// Notes are remarks on the whole run, such as checks left out.
	Notes []string `json:"notes,omitempty"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Result is the overall verdict: fail when a check failed, warn when one
// warned, else ok.
func (r *Report) Result() Status {
	res := OK
	for _, c := range r.Checks {
		switch c.Status {
		case Fail:
			return Fail
		case Warn:
			res = Warn
		}
	}
	return res
}

// Check returns the check with the given ID, or nil.
func (r *Report) Check(id string) *Check {
	for _, c := range r.Checks {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (r *Report) ids(s Status) []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == s {
			out = append(out, c.ID)
		}
	}
	return out
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	for _, c := range r.Checks {
		c.ElapsedMS = float64(c.Elapsed.Microseconds()) / 1000
	}
	out := struct {
		*Report
		Result Status `json:"result"`
	}{r, r.Result()}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteText writes the report for people: each check with its dialogue
// and advice, then a summary table and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Diagnosing %s\n", r.Target)
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "\n== %s: %s [%s]", c.Title, c.Summary, c.Status)
		if c.Elapsed > 0 {
			fmt.Fprintf(&b, " (%s)", dur(c.Elapsed))
		}
		b.WriteString("\n")
		for _, l := range c.Log {
			fmt.Fprintf(&b, "   %s\n", l)
		}
		for _, a := range c.Advice {
			fmt.Fprintf(&b, "   => %s\n", a)
		}
	}
	b.WriteString("\nSummary:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tRESULT\tDETAIL")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.ID, c.Status, c.Summary)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	switch fails, warns := r.ids(Fail), r.ids(Warn); {
	case len(fails) > 0:
		fmt.Fprintf(&b, "Result: FAIL (%s failed", strings.Join(fails, ", "))
		if len(warns) > 0 {
			fmt.Fprintf(&b, "; %s warned", strings.Join(warns, ", "))
		}
		b.WriteString(")\n")
	case len(warns) > 0:
		fmt.Fprintf(&b, "Result: OK with warnings (%s)\n", strings.Join(warns, ", "))
	default:
		b.WriteString("Result: OK\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dur rounds a duration for people.
func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
