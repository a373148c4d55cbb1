package main

import (
	"bytes"
	"testing"
)

func TestActiveModeLastFlagWins(t *testing.T) {
	cases := []struct {
		args []string
		want bool
	}{
		{[]string{"gftp", "push", "u"}, false},
		{[]string{"gftp", "push", "-A", "u"}, true},
		{[]string{"gftp", "push", "--active", "--passive", "u"}, false},
		{[]string{"gftp", "init", "--passive", "--insecure", "--active", "u"}, true},
		{[]string{"gftp", "push", "-vA", "u"}, true},
		{[]string{"gftp", "push", "-A", "--passive", "u"}, false},
		{[]string{"gftp", "push", "--", "-A"}, false},
	}
	for _, c := range cases {
		a := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
		a.args = c.args
		if got := a.activeMode(&settings{}); got != c.want {
			t.Errorf("%q: active = %v, want %v", c.args, got, c.want)
		}
	}
	// Without either flag, git config git-ftp.active decides.
	a := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{})
	a.args = []string{"gftp", "push"}
	if !a.activeMode(&settings{git: map[string]string{"git-ftp.active": "true"}}) {
		t.Errorf("git-ftp.active=true was ignored")
	}
	a.args = []string{"gftp", "push", "--passive"}
	if a.activeMode(&settings{git: map[string]string{"git-ftp.active": "true"}}) {
		t.Errorf("--passive did not override git-ftp.active")
	}
}

func TestParseNetrc(t *testing.T) {
	data := []byte("machine a.example login alice password pa\n# comment\nmachine b.example\n  login bob\n  password pb\n  account x\ndefault login anon password ad\n")
	for host, want := range map[string][2]string{"a.example": {"alice", "pa"}, "b.example": {"bob", "pb"}, "c.example": {"anon", "ad"}} {
		l, p, ok := parseNetrc(data, host)
		if !ok || l != want[0] || p != want[1] {
			t.Errorf("%s: %q %q %v, want %q", host, l, p, ok, want)
		}
	}
	if _, _, ok := parseNetrc([]byte("machine x login y password z"), "other"); ok {
		t.Errorf("found an entry for a host not in netrc")
	}
}
