package main

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

// parsedCmd runs the real command line parser on args and returns the
// command it would run.
func parsedCmd(t *testing.T, args string) *cli.Command {
	t.Helper()
	root := newApp(nil, io.Discard, io.Discard).command()
	var got *cli.Command
	for _, c := range root.Commands {
		c.Action = func(_ context.Context, cmd *cli.Command) error { got = cmd; return nil }
	}
	argv := normaliseArgs(append([]string{"gftp"}, strings.Fields(args)...), specOf(root))
	if err := root.Run(context.Background(), argv); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return got
}

// TestResolveSettings: flags > GFTP_* > .git-ftp-config (scope, plain) >
// git config (scope, plain) > ~/.netrc, the URL's userinfo as a flag, and
// which source supplies the password.
func TestResolveSettings(t *testing.T) {
	type want struct {
		user, password string
		from           source
		cred           credential
		active         bool
		jobs           int
	}
	netrc := func(host string) (string, string, bool) {
		if host == "host" {
			return "netrc-user", "netrc-pw", true
		}
		return "", "", false
	}
	cases := []struct {
		name      string
		args      string // after the action
		env, file map[string]string
		git       map[string]string
		url       string
		want      want
		wantErr   string
	}{
		{name: "nothing", url: "ftp://other/", want: want{jobs: 4}},
		{name: "netrc when no password", url: "ftp://host/",
			want: want{user: "netrc-user", password: "netrc-pw", from: srcNetrc, jobs: 4}},
		{name: "netrc only for its login", url: "ftp://host/", git: map[string]string{"git-ftp.user": "me"},
			want: want{user: "me", jobs: 4}},
		{name: "git config", url: "ftp://host/", git: map[string]string{"git-ftp.user": "g", "git-ftp.password": "gp"},
			want: want{user: "g", password: "gp", from: srcGitConfig, jobs: 4}},
		{name: "scope beats plain, case kept", args: "-s Live", url: "ftp://host/",
			git:  map[string]string{"git-ftp.user": "g", "git-ftp.Live.user": "live", "git-ftp.live.user": "lower"},
			want: want{user: "live", jobs: 4}},
		{name: ".git-ftp-config beats git config", url: "ftp://host/",
			git: map[string]string{"git-ftp.password": "gp"}, file: map[string]string{"git-ftp.password": "fp"},
			want: want{password: "fp", from: srcFile, jobs: 4}},
		{name: "env beats files", url: "ftp://host/",
			env: map[string]string{"GFTP_PASSWORD": "ep"}, file: map[string]string{"git-ftp.password": "fp"},
			want: want{password: "ep", from: srcEnv, jobs: 4}},
		{name: "flag beats env", args: "-u f -p fp", url: "ftp://host/",
			env:  map[string]string{"GFTP_USER": "e", "GFTP_PASSWORD": "ep"},
			want: want{user: "f", password: "fp", from: srcFlag, jobs: 4}},
		{name: "URL userinfo beats config, not env", url: "ftp://u:up@host/",
			git:  map[string]string{"git-ftp.user": "g"},
			want: want{user: "u", password: "up", from: srcFlag, jobs: 4}},
		{name: "env user beats URL user", url: "ftp://u@host/", env: map[string]string{"GFTP_USER": "e"},
			want: want{user: "e", jobs: 4}},
		{name: "password command beats a config password", url: "ftp://host/",
			env: map[string]string{"GFTP_PASSWORD_COMMAND": "pass show x"}, git: map[string]string{"git-ftp.password": "gp"},
			want: want{user: "", password: "gp", from: srcGitConfig, cred: credCommand, jobs: 4}},
		{name: "-p beats a config password command", args: "-p fp", url: "ftp://host/",
			git:  map[string]string{"git-ftp.password-command": "pass show x"},
			want: want{password: "fp", from: srcFlag, jobs: 4}},
		{name: "-P asks", args: "-P", url: "ftp://host/", want: want{from: srcNone, cred: credPrompt, jobs: 4}},
		{name: "keychain from git config", url: "ftp://host/", git: map[string]string{"git-ftp.keychain": "me@host", "git-ftp.password": "gp"},
			want: want{password: "gp", from: srcGitConfig, cred: credKeychain, jobs: 4}},
		{name: "-p beats the keychain", args: "-k -p fp", url: "ftp://host/",
			want: want{password: "fp", from: srcFlag, jobs: 4}},
		{name: "git-ftp.active", url: "ftp://other/", git: map[string]string{"git-ftp.active": "true"},
			want: want{active: true, jobs: 4}},
		{name: "--passive beats git-ftp.active", args: "--passive", url: "ftp://other/", git: map[string]string{"git-ftp.active": "1"},
			want: want{jobs: 4}},
		{name: "jobs from env", url: "ftp://other/", env: map[string]string{"GFTP_JOBS": "8"}, want: want{jobs: 8}},
		{name: "bad jobs", url: "ftp://other/", env: map[string]string{"GFTP_JOBS": "many"}, wantErr: "--jobs must be a number"},
		{name: "bad timeout", url: "ftp://other/", git: map[string]string{"git-ftp.timeout": "soon"}, wantErr: "not a duration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := parsedCmd(t, "push "+c.args)
			s := &settings{cmd: cmd, scope: cmd.String("scope"), file: c.file, git: c.git,
				env: func(k string) string { return c.env[k] }}
			u, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			st, err := resolveSettings(s, u, netrc)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || exitCode(err) != exitUsage {
					t.Fatalf("error %v (exit %d), want %q and exit 2", err, exitCode(err), c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{st.User, st.Password, st.PasswordFrom, st.Credential, st.Active, st.Jobs}
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}
