package main

import (
	"slices"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gftp/gftp/remote"
)

// TestHookArgs: git-ftp's four hook arguments. Without a scope the first
// is the host with its port; the URL masks the password as user:***@,
// encodes the user as git-ftp's urlencode does, and ends the path in "/".
func TestHookArgs(t *testing.T) {
	local := plumbing.NewHash("1111111111111111111111111111111111111111")
	cases := []struct {
		raw, scope, user, deployed string
		want                       []string
	}{
		{"ftp://host", "", "", "", []string{"host", "ftp://host/", local.String(), ""}},
		{"ftp://host:2121/www", "", "", "abc", []string{"host:2121", "ftp://host:2121/www/", local.String(), "abc"}},
		{"ftpes://deploy:secret@host/a/b/", "Live", "", "", []string{"Live", "ftpes://deploy:***@host/a/b/", local.String(), ""}},
		{"sftp://host/www", "prod/eu", "me@example.com", "", []string{"prod/eu", "sftp://me%40example.com:***@host/www/", local.String(), ""}},
	}
	for _, c := range cases {
		u, err := remote.ParseURL(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		s := &settings{scope: c.scope, env: func(string) string { return "" }, git: map[string]string{}}
		if c.user != "" {
			s.git["git-ftp.user"] = c.user
			if c.scope != "" {
				s.git["git-ftp."+c.scope+".user"] = c.user
			}
		}
		got := hookArgs(&target{settings: s, url: u, deployed: c.deployed}, local)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.raw, got, c.want)
		}
	}
}
