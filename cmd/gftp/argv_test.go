package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

func TestNormaliseArgs(t *testing.T) {
	spec := specOf(newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}).command())
	spec.localUser = "alice"
	cases := []struct{ in, want string }{
		// A bare -u is $USER, as in git-ftp: last, or before an option.
		{"push url -u", "push url --user=alice"},
		{"push -u -v url", "push --user=alice -v url"},
		{"push -u bob url", "push -u bob url"},
		// git-ftp's order: options and URL before the action.
		{"-u deploy -p pw ftp://host/x init", "init -u deploy -p pw ftp://host/x"},
		{"-v push -s prod", "push -v -s prod"},
		{"push -u john ftp://ftp.example.com:4445/public_ftp -p pw -v", "push -u john ftp://ftp.example.com:4445/public_ftp -p pw -v"},
		{"ftp://host/x --user deploy catchup", "catchup ftp://host/x --user deploy"},
		// A flag's value is never the action.
		{"-u push init", "init -u push"},
		{"--syncroot=log push", "push --syncroot=log"},
		// Bare -s and -k become an empty value; with a word, they take it.
		{"push -s", "push --scope="},
		{"push -s -v", "push --scope= -v"},
		{"-s push", "push --scope="},
		{"push -s ftp://host/", "push --scope= ftp://host/"},
		{"push -s Staging", "push -s Staging"},
		{"push -k", "push --keychain="},
		{"push -k me@host", "push -k me@host"},
		// Bundled one-letter flags are split.
		{"push -vA url", "push -v -A url"},
		{"push -vv url", "push -v -v url"},
		// Of --active and --passive only the last stays.
		{"push -A --passive u", "push --passive u"},
		{"init --passive --insecure --active u", "init --insecure --active u"},
		{"push -vA --passive u", "push -v --passive u"},
		{"push --active=false -A u", "push -A u"},
		// --version anywhere is the version command, as in git-ftp.
		{"push --version", "version"},
		// Nothing after -- is touched.
		{"push -- -A init", "push -- -A init"},
		{"diag -v handshake host", "diag -v handshake host"},
		{"-v diag handshake host", "diag -v handshake host"},
		{"", ""},
	}
	for _, c := range cases {
		in := append([]string{"gftp"}, strings.Fields(c.in)...)
		want := append([]string{"gftp"}, strings.Fields(c.want)...)
		if got := normaliseArgs(in, spec); !slices.Equal(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", c.in, got[1:], want[1:])
		}
	}
}

// TestActiveModeLastFlagWins: of -A/--active and --passive the last one on
// the line wins, else git config git-ftp.active decides.
func TestActiveModeLastFlagWins(t *testing.T) {
	cases := []struct {
		args string
		git  string
		want bool
	}{
		{"push u", "", false},
		{"push -A u", "", true},
		{"push --active --passive u", "", false},
		{"init --passive --insecure --active u", "", true},
		{"push -vA u", "", true},
		{"push -A --passive u", "", false},
		{"-A push u", "", true},
		{"push u", "true", true},
		{"push --passive u", "true", false},
	}
	for _, c := range cases {
		a := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
		root := a.command()
		var got bool
		for _, cmd := range root.Commands {
			cmd.Action = func(_ context.Context, cmd *cli.Command) error {
				s := &settings{cmd: cmd, git: map[string]string{}}
				if c.git != "" {
					s.git["git-ftp.active"] = c.git
				}
				got = activeMode(s)
				return nil
			}
		}
		args := normaliseArgs(append([]string{"gftp"}, strings.Fields(c.args)...), specOf(root))
		if err := root.Run(context.Background(), args); err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if got != c.want {
			t.Errorf("%q (git-ftp.active=%q): active = %v, want %v", c.args, c.git, got, c.want)
		}
	}
}
