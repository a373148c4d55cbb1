package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/ftp/ftptest"
)

// gftpRun runs gftp (the test binary, which testscript.Main put in PATH)
// in dir, as a user does, and returns its stdout, stderr and exit code.
func gftpRun(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("gftp", args...)
	cmd.Dir = dir
	cmd.Env = append(gittest.Env(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// parseJSONOut checks that stdout is JSON lines and nothing else, the last
// one the result object with exactly the documented fields, and returns
// the lines before it and the result.
func parseJSONOut(t *testing.T, stdout string) ([]jsonAction, jsonResult) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if stdout == "" || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("stdout is not JSON lines: %q", stdout)
	}
	var actions []jsonAction
	for _, l := range lines[:len(lines)-1] {
		var a jsonAction
		d := json.NewDecoder(strings.NewReader(l))
		d.DisallowUnknownFields()
		if err := d.Decode(&a); err != nil || (a.Type != "action" && a.Type != "plan") {
			t.Fatalf("not an action line (%v): %s", err, l)
		}
		actions = append(actions, a)
	}
	last := lines[len(lines)-1]
	var res jsonResult
	d := json.NewDecoder(strings.NewReader(last))
	d.DisallowUnknownFields()
	if err := d.Decode(&res); err != nil || res.Type != "result" || res.Schema != 1 {
		t.Fatalf("last line is not the result object (%v): %s", err, last)
	}
	// Every documented field is there, even when zero.
	var raw map[string]any
	_ = json.Unmarshal([]byte(last), &raw)
	for _, f := range []string{"ok", "exit_code", "error", "url", "target", "previous", "deployed", "commits", "planned",
		"uploaded", "resumed", "deleted", "skipped", "bytes", "elapsed_ms", "failures", "interrupted", "dry_run", "up_to_date"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("result lacks %q: %s", f, last)
		}
	}
	return actions, res
}

func TestJSONDeploy(t *testing.T) {
	repo := gittest.New(t)
	repo.Write("a.txt", []byte("a\n"))
	repo.Write("dir/b.txt", []byte("bb\n"))
	one := repo.Commit("one")
	srv := filepath.Join(t.TempDir(), "srv")

	// init: every file.
	out, errOut, code := gftpRun(t, repo.Dir, nil, "init", "--json", srv)
	_, res := parseJSONOut(t, out)
	if code != 0 || !res.OK || res.ExitCode != 0 || res.Command != "init" || res.Error != nil {
		t.Fatalf("init: %d %+v\n%s", code, res, errOut)
	}
	if res.Deployed != one || res.Target != one || res.Previous != "" || res.Uploaded != 2 || res.Bytes != 5 || res.Planned.Uploads != 2 {
		t.Errorf("init result: %+v", res)
	}
	// Human output went to stderr.
	if !strings.Contains(errOut, "Deployed "+one[:7]) {
		t.Errorf("the summary is not on stderr: %q", errOut)
	}

	// push -v: one line per action, then the result.
	repo.Write("c.txt", []byte("ccc\n"))
	repo.Remove("a.txt")
	two := repo.Commit("two")
	out, errOut, code = gftpRun(t, repo.Dir, nil, "push", "-v", "--json", srv)
	actions, res := parseJSONOut(t, out)
	if code != 0 || res.Previous != one || res.Deployed != two || res.Uploaded != 1 || res.Deleted != 1 || res.Bytes != 4 ||
		res.Commits == nil || *res.Commits != 1 || len(res.Failures) != 0 {
		t.Errorf("push result: %d %+v\n%s", code, res, errOut)
	}
	var got []string
	for _, a := range actions {
		got = append(got, fmt.Sprintf("%s %s %s %v", a.Type, a.Op, a.Path, a.OK))
	}
	want := []string{"action upload c.txt true", "action delete a.txt true", "action marker .git-ftp.log true"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("action lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Up to date.
	out, _, _ = gftpRun(t, repo.Dir, nil, "push", "--json", srv)
	if _, res = parseJSONOut(t, out); !res.UpToDate || res.Deployed != two || res.Previous != two || res.Uploaded != 0 {
		t.Errorf("up-to-date result: %+v", res)
	}

	// A dry run with -v: the plan as lines, nothing done.
	repo.Write("d.txt", []byte("d\n"))
	three := repo.Commit("three")
	out, _, _ = gftpRun(t, repo.Dir, nil, "push", "--dry-run", "-v", "--json", srv)
	actions, res = parseJSONOut(t, out)
	if !res.DryRun || res.Deployed != two || res.Target != three || res.Planned.Uploads != 1 || res.Uploaded != 0 ||
		len(actions) != 2 || actions[0].Type != "plan" || actions[0].Path != "d.txt" {
		t.Errorf("dry run: %+v %+v", actions, res)
	}

	// show and check.
	out, _, _ = gftpRun(t, repo.Dir, nil, "show", "--json", srv)
	if _, res = parseJSONOut(t, out); res.Deployed != two || res.DeployedCommit == nil || res.DeployedCommit.Subject != "two" {
		t.Errorf("show: %+v", res)
	}
	os.WriteFile(filepath.Join(srv, "extra.txt"), []byte("x"), 0o644)
	out, _, code = gftpRun(t, repo.Dir, nil, "check", "--json", srv)
	if _, res = parseJSONOut(t, out); code != 1 || res.ExitCode != 1 || res.OK || res.Check == nil || res.Check.Clean ||
		len(res.Check.Extra) != 1 || res.Check.Extra[0] != "extra.txt" || res.Check.Checked != 2 {
		t.Errorf("check: %d %+v %+v", code, res, res.Check)
	}

	// catchup.
	out, _, _ = gftpRun(t, repo.Dir, nil, "catchup", "--json", srv)
	if _, res = parseJSONOut(t, out); !res.OK || res.Deployed != three {
		t.Errorf("catchup: %+v", res)
	}
}

// TestJSONFailures: every failure path still prints one valid result
// object, with the exit code, the error and its hint.
func TestJSONFailures(t *testing.T) {
	repo := gittest.New(t)
	repo.Write("a.txt", []byte("a\n"))
	repo.Commit("one")
	srv := filepath.Join(t.TempDir(), "srv")

	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown flag", []string{"push", "--json", "--no-such-flag", srv}, exitUsage, "flag provided but not defined"},
		{"no URL", []string{"push", "--json"}, exitMissingArgs, "no URL given"},
		{"no marker", []string{"push", "--json", srv}, exitDownload, "no deployed commit"},
		{"bad revision", []string{"init", "--deploy-rev", "nope", "--json", srv}, exitGit, `unknown revision "nope"`},
	}
	os.MkdirAll(srv, 0o755)
	for _, c := range cases {
		out, errOut, code := gftpRun(t, repo.Dir, nil, c.args...)
		_, res := parseJSONOut(t, out)
		if code != c.code || res.ExitCode != c.code || res.OK || res.Error == nil || !strings.Contains(res.Error.Message, c.msg) {
			t.Errorf("%s: exit %d, %+v %+v\n%s", c.name, code, res, res.Error, errOut)
		}
		if !strings.Contains(errOut, "gftp: error: ") {
			t.Errorf("%s: no human error on stderr: %q", c.name, errOut)
		}
	}

	// A refused login (FTPES, a wrong password): 5 for push, as git-ftp
	// (remoteExitCode), and the hint.
	ftpRoot := t.TempDir()
	fs, err := ftptest.Start(ftpRoot, ftptest.Config{User: "u", Password: "right", TLS: ftptest.RequireTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	out, errOut, code := gftpRun(t, repo.Dir, []string{"GFTP_PASSWORD=wrong-secret"},
		"push", "--json", "--auto-init", "--cacert", fs.CACertFile(), "--user", "u", fs.URL())
	_, res := parseJSONOut(t, out)
	if code != exitDownload || res.ExitCode != exitDownload || res.Error == nil || !strings.Contains(res.Error.Message, "authentication failed") ||
		!strings.Contains(res.Error.Hint, "check the user and password") {
		t.Errorf("refused login: exit %d %+v %+v\n%s", code, res, res.Error, errOut)
	}
	if strings.Contains(out+errOut, "wrong-secret") {
		t.Errorf("the password leaked: %s %s", out, errOut)
	}

	// A failed upload: 4, the file and its reason in failures, the marker
	// (deployed) where it was.
	out, _, code = gftpRun(t, repo.Dir, nil, "init", "--json", srv)
	_, res = parseJSONOut(t, out)
	if code != 0 {
		t.Fatalf("init: %+v", res)
	}
	one := res.Deployed
	// init over a deploy: 2, and the deployed commit it found.
	out, _, code = gftpRun(t, repo.Dir, nil, "init", "--json", srv)
	if _, res = parseJSONOut(t, out); code != exitUsage || res.Previous != one || res.Deployed != one || res.Uploaded != 0 {
		t.Errorf("init over a deploy: exit %d %+v", code, res)
	}
	repo.Write("b.txt", []byte("b\n"))
	repo.Write("c.txt", []byte("c\n"))
	two := repo.Commit("two")
	os.MkdirAll(filepath.Join(srv, "c.txt", "blocker"), 0o755)
	out, _, code = gftpRun(t, repo.Dir, nil, "push", "--json", srv)
	_, res = parseJSONOut(t, out)
	if code != exitUpload || res.Deployed != one || res.Previous != one || res.Target != two || res.Uploaded != 1 ||
		len(res.Failures) != 1 || res.Failures[0].Path != "c.txt" || res.Failures[0].Op != "upload" || res.Failures[0].Reason == "" {
		t.Errorf("failed upload: exit %d %+v", code, res)
	}
}

// TestJSONInterrupt: Ctrl-C during a slow deploy still ends stdout with a
// valid result object (exit 130, interrupted, the marker unmoved), and so
// does a second Ctrl-C, which quits at once.
func TestJSONInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: interrupts a deploy")
	}
	t.Run("once", func(t *testing.T) {
		res, _ := interruptDeploy(t, 1)
		if res.Uploaded < 1 || res.Uploaded >= 40 || res.Skipped == 0 || res.Error.Message != "interrupted" {
			t.Errorf("result: %+v %+v", res, res.Error)
		}
	})
	t.Run("twice", func(t *testing.T) {
		// The second signal must come while the first one's cleanup runs;
		// when the run ends before it, try again.
		for attempt := 0; ; attempt++ {
			res, stderr := interruptDeploy(t, 2)
			if !strings.Contains(stderr, "quitting at once") && attempt < 3 {
				continue
			}
			if !strings.Contains(res.Error.Message, "signalled again") || !strings.Contains(stderr, "gftp: error: signalled again") || res.Uploaded < 1 {
				t.Errorf("a second Ctrl-C: %+v %+v\n%s", res, res.Error, stderr)
			}
			return
		}
	})
}

// interruptDeploy starts init -v --json of 40 files to a slow FTP server,
// sends SIGINT once the first file has arrived (and again, once the first
// was heard, when signals is 2), and checks what every interrupted run
// must show: exit 130, stdout JSON lines ending in an interrupted result,
// no marker.
func interruptDeploy(t *testing.T, signals int) (jsonResult, string) {
	t.Helper()
	repo := gittest.New(t)
	for i := range 40 {
		repo.Write(fmt.Sprintf("f%02d.txt", i), []byte("x\n"))
	}
	repo.Commit("one")
	root := t.TempDir()
	srv, err := ftptest.Start(root, ftptest.Config{RenameDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cmd := exec.Command("gftp", "init", "-v", "--json", "-j", "2", srv.URL())
	cmd.Dir = repo.Dir
	cmd.Env = gittest.Env()
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	heard := make(chan struct{})
	stderrDone := make(chan string)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "stopping; signal again") {
				close(heard)
			}
		}
		stderrDone <- b.String()
	}()
	var stdout strings.Builder
	rd := bufio.NewReader(outPipe)
	first, err := rd.ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("no action line: %v\n%s", err, <-stderrDone)
	}
	stdout.WriteString(first)
	cmd.Process.Signal(syscall.SIGINT)
	if signals == 2 {
		select {
		case <-heard:
			cmd.Process.Signal(syscall.SIGINT)
		case <-time.After(10 * time.Second):
		}
	}
	rest, _ := io.ReadAll(rd)
	stdout.Write(rest)
	stderr := <-stderrDone
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v\n%s", err, stderr)
	}
	_, res := parseJSONOut(t, stdout.String())
	if res.ExitCode != exitInterrupted || !res.Interrupted || res.OK || res.Deployed != "" || res.Error == nil {
		t.Fatalf("result: %+v\n%s", res, stderr)
	}
	if _, err := os.Stat(filepath.Join(root, ".git-ftp.log")); err == nil {
		t.Error("the marker was written")
	}
	return res, stderr
}

func TestJSONPublishDumb(t *testing.T) {
	repo := gittest.New(t)
	repo.Write("a.txt", []byte("a\n"))
	head := repo.Commit("one")
	dst := filepath.Join(t.TempDir(), "dumb")
	out, errOut, code := gftpRun(t, repo.Dir, nil, "publish-dumb", "-v", "--json", dst)
	actions, res := parseJSONOut(t, out)
	if code != 0 || res.Publish == nil || res.Uploaded == 0 || res.Uploaded != len(res.Publish.UploadedFiles) || len(actions) != res.Uploaded ||
		res.Bytes == 0 || len(res.Publish.Refs) != 1 || res.Publish.Refs[0].New != head || res.Publish.Head != "refs/heads/main" {
		t.Errorf("publish-dumb: exit %d %+v %+v\n%s", code, res, res.Publish, errOut)
	}
}
