package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
)

func TestGitHubEscaping(t *testing.T) {
	if got, want := ghData("50% done\r\nnext: a,b"), "50%25 done%0D%0Anext: a,b"; got != want {
		t.Errorf("ghData = %q, want %q", got, want)
	}
	if got, want := ghProperty("failed upload a:b,c%\n"), "failed upload a%3Ab%2Cc%25%0A"; got != want {
		t.Errorf("ghProperty = %q, want %q", got, want)
	}
}

// TestCILines: the exact lines each CI system gets, and a terminal gets
// what it always did.
func TestCILines(t *testing.T) {
	failed := &deploy.FailedError{Failures: []deploy.Failure{
		{Action: deploy.Action{Op: deploy.OpUpload, Path: "dir/a,b:c.txt"}, Err: errors.New("put: 553 100% refused\nby server")},
	}, Skipped: "deletes were not attempted"}
	at := time.Unix(1767322800, 0)

	var gh bytes.Buffer
	c := &ci{kind: ciGitHub, w: &gh, now: func() time.Time { return at }}
	c.startGroup("gftp_push", "gftp push (details)")
	c.startGroup("gftp_push", "again") // one group at a time
	c.warning(&gh, "50% of\nit")
	c.endGroup()
	c.endGroup()
	c.report(&gh, "push", failed, exitUpload)
	want := "::group::gftp push (details)\n" +
		"::warning::gftp: 50%25 of%0Ait\n" +
		"::endgroup::\n" +
		"::error title=failed upload dir/a%2Cb%3Ac.txt::put: 553 100%25 refused by server\n" +
		"::error title=gftp push failed (exit 4)::1 of the deploy's actions failed; deletes were not attempted; the marker was not moved%0A" +
		"hint: fix the cause above and run the same push again; the marker did not move, so the same push sends the same changes again\n"
	if gh.String() != want {
		t.Errorf("GitHub lines:\n%q\nwant\n%q", gh.String(), want)
	}

	var gl bytes.Buffer
	c = &ci{kind: ciGitLab, w: &gl, now: func() time.Time { return at }}
	c.startGroup("gftp_push", "gftp push (details)")
	c.endGroup()
	c.warning(&gl, "careful")
	c.report(&gl, "push", failed, exitUpload)
	want = "\x1b[0Ksection_start:1767322800:gftp_push[collapsed=true]\r\x1b[0Kgftp push (details)\n" +
		"\x1b[0Ksection_end:1767322800:gftp_push\r\x1b[0K\n" +
		"gftp: warning: careful\n"
	var term bytes.Buffer
	report(&term, failed)
	if gl.String() != want+term.String() {
		t.Errorf("GitLab lines:\n%q\nwant\n%q", gl.String(), want+term.String())
	}

	var none bytes.Buffer
	c = &ci{kind: ciNone, w: &none, now: time.Now}
	c.startGroup("gftp_push", "gftp push (details)")
	c.warning(&none, "careful")
	c.endGroup()
	c.report(&none, "push", failed, exitUpload)
	if none.String() != "gftp: warning: careful\n"+term.String() {
		t.Errorf("terminal lines:\n%q", none.String())
	}
}

func TestDetectCI(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		env  func(string) string
		want ciKind
	}{
		{env(), ciNone},
		{env("GITHUB_ACTIONS", "true"), ciGitHub},
		{env("GITHUB_ACTIONS", "false"), ciNone},
		{env("GITLAB_CI", "true"), ciGitLab},
		{env("CI", "true"), ciNone},
	} {
		if got := detectCI(c.env); got != c.want {
			t.Errorf("detectCI = %v, want %v", got, c.want)
		}
	}
}

// TestCIEndToEnd runs a failing push -v under each CI system: the detail
// is in a group that closes before the summary, the errors are
// annotations on GitHub, and the terminal output has none of it.
func TestCIEndToEnd(t *testing.T) {
	repo := gittest.New(t)
	repo.Write("a.txt", []byte("a\n"))
	repo.Commit("one")
	srv := filepath.Join(t.TempDir(), "srv")
	if _, errOut, code := gftpRun(t, repo.Dir, nil, "init", srv); code != 0 {
		t.Fatal(errOut)
	}
	repo.Write("b.txt", []byte("b\n"))
	repo.Commit("two")
	if err := mkdirAll(filepath.Join(srv, "b.txt", "blocker")); err != nil {
		t.Fatal(err)
	}

	// GitHub Actions.
	out, errOut, code := gftpRun(t, repo.Dir, []string{"GITHUB_ACTIONS=true"}, "push", "-v", srv)
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if code != exitUpload || lines[0] != "::group::gftp push (details)" || !strings.HasPrefix(out, "Deploy of ") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	n := len(lines)
	if lines[n-3] != "::endgroup::" ||
		!regexp.MustCompile(`^::error title=failed upload b\.txt::rename b\.txt: .+`).MatchString(lines[n-2]) ||
		lines[n-1] != "::error title=gftp push failed (exit 4)::1 of the deploy's actions failed; deletes were not attempted; the marker was not moved%0A"+
			"hint: fix the cause above and run the same push again; the marker did not move, so the same push sends the same changes again" {
		t.Errorf("GitHub stderr:\n%s", errOut)
	}
	if strings.Contains(errOut, "gftp: error:") {
		t.Errorf("the error is printed twice: %s", errOut)
	}

	// GitLab CI.
	_, errOut, _ = gftpRun(t, repo.Dir, []string{"GITLAB_CI=true"}, "push", "-v", srv)
	lines = strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if !regexp.MustCompile(`^\x1b\[0Ksection_start:\d+:gftp_push\[collapsed=true\]\r\x1b\[0Kgftp push \(details\)$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^\x1b\[0Ksection_end:\d+:gftp_push\r\x1b\[0K$`).MatchString(lines[len(lines)-4]) ||
		lines[len(lines)-3] != "gftp: error: 1 of the deploy's actions failed; deletes were not attempted; the marker was not moved" {
		t.Errorf("GitLab stderr:\n%q", errOut)
	}

	// A terminal (no CI variables): none of it. Without -v, no group either.
	for _, args := range [][]string{{"push", "-v", srv}, {"push", srv}} {
		_, errOut, _ = gftpRun(t, repo.Dir, nil, args...)
		if strings.Contains(errOut, "::") || strings.Contains(errOut, "section_") {
			t.Errorf("terminal stderr has CI lines:\n%s", errOut)
		}
	}
	_, errOut, _ = gftpRun(t, repo.Dir, []string{"GITHUB_ACTIONS=true"}, "push", srv)
	if strings.Contains(errOut, "::group::") || !strings.Contains(errOut, "::error title=gftp push failed (exit 4)::") {
		t.Errorf("GitHub without -v:\n%s", errOut)
	}
}

func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }
