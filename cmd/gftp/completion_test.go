package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/internal/gittest"
)

// needTool finds a shell the tests use, or skips (fails with
// GFTP_REAL_SERVERS=1, as CI installs them: .ci/install-servers.sh).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("GFTP_REAL_SERVERS") == "1" {
			t.Fatalf("%s is not installed (.ci/install-servers.sh installs it)", name)
		}
		t.Skipf("%s is not installed (.ci/install-servers.sh installs it)", name)
	}
	return p
}

// shell runs script with the named shell in dir and returns its stdout.
func shell(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	cmd.Dir = dir
	cmd.Env = gittest.Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestCompletionScripts: each script is valid for its shell, and bash and
// fish, given a partial command line, complete it by asking gftp.
func TestCompletionScripts(t *testing.T) {
	dir := t.TempDir()
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell", "pwsh"} {
		out, errOut, code := gftpRun(t, dir, nil, "completion", sh)
		if code != 0 || out == "" {
			t.Fatalf("gftp completion %s: exit %d\n%s", sh, code, errOut)
		}
		scripts[sh] = out
		if err := os.WriteFile(filepath.Join(dir, "gftp."+sh), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if scripts["pwsh"] != scripts["powershell"] || !strings.Contains(scripts["powershell"], "Register-ArgumentCompleter -Native -CommandName gftp") {
		t.Errorf("powershell script:\n%s", scripts["powershell"])
	}

	t.Run("syntax", func(t *testing.T) {
		shell(t, dir, "bash", "-n", "gftp.bash")
		shell(t, dir, "zsh", "-n", "gftp.zsh")
		shell(t, dir, "fish", "--no-execute", "gftp.fish")
	})

	t.Run("bash", func(t *testing.T) {
		bc := "/usr/share/bash-completion/bash_completion"
		if _, err := os.Stat(bc); err != nil {
			if os.Getenv("GFTP_REAL_SERVERS") == "1" {
				t.Fatal("bash-completion is not installed (.ci/install-servers.sh installs it)")
			}
			t.Skip("bash-completion is not installed")
		}
		complete := func(words ...string) string {
			script := "source " + bc + "; source gftp.bash; COMP_WORDS=(" + strings.Join(words, " ") + "); " +
				"COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; " +
				"__gftp_bash_autocomplete; printf '%s\\n' \"${COMPREPLY[@]}\""
			return shell(t, dir, "bash", "-c", script)
		}
		if got := complete("gftp", "pus"); got != "push\n" {
			t.Errorf("gftp pus<TAB> = %q, want push", got)
		}
		if got := complete("gftp", "push", "--dry"); got != "--dry-run\n" {
			t.Errorf("gftp push --dry<TAB> = %q, want --dry-run", got)
		}
		if got := complete("gftp", "completion", "f"); got != "fish\n" {
			t.Errorf("gftp completion f<TAB> = %q, want fish", got)
		}
	})

	t.Run("fish", func(t *testing.T) {
		complete := func(line string) string {
			return shell(t, dir, "fish", "--no-config", "-c", "source gftp.fish; complete -C '"+line+"'")
		}
		if got := complete("gftp pus"); !strings.HasPrefix(got, "push\tupload what changed") || strings.Count(got, "\n") != 1 {
			t.Errorf("gftp pus<TAB> = %q", got)
		}
		if got := complete("gftp push --dry"); !strings.HasPrefix(got, "--dry-run\tprint the plan") {
			t.Errorf("gftp push --dry<TAB> = %q", got)
		}
	})
}

// TestManPage: docs/gftp.1 is what gftp man prints, which is made from the
// command tree that --help prints; and groff reads it without a warning.
func TestManPage(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "docs", "gftp.1"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"gftp", "man"}, nil, &out, &errb); code != 0 {
		t.Fatalf("gftp man exited %d: %s", code, errb.String())
	}
	if out.String() != string(want) {
		t.Errorf("docs/gftp.1 differs from what gftp man prints: a command or flag changed; run make man and commit docs/gftp.1")
	}
	if got := manPage(newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}).command()); got != out.String() {
		t.Errorf("the man page of the command definitions differs from gftp man's")
	}
	// Every command and flag that help shows is in it.
	root := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}).command()
	for _, c := range root.Commands {
		if !c.Hidden && !strings.Contains(out.String(), `.SS "gftp `+roffText(c.Name)) {
			t.Errorf("the man page lacks the command %s", c.Name)
		}
		for _, f := range c.Flags {
			if !strings.Contains(out.String(), roffText("--"+f.Names()[0])) {
				t.Errorf("the man page lacks %s's --%s", c.Name, f.Names()[0])
			}
		}
	}
	if groff, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(groff, "-man", "-ww", "-z")
		cmd.Stdin = bytes.NewReader(want)
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("groff: %v\n%s", err, msg)
		}
	}
}
