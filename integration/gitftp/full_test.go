package gitftp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/internal/gittest"
)

// fullScenarios run on one kind of server (vsftpd FTPES): the features that
// do not depend on the transport.
func fullScenarios() []scenario {
	return []scenario{
		ignoreInclude(),
		gitignoredSyncroot(),
		{
			name: "syncroot",
			setup: func(t *testing.T, g *gittest.Repo) {
				g.Write("public/index.html", []byte("home\n"))
				g.Write("public/css/a.css", []byte("a{}\n"))
				g.Write("src/main.go", []byte("package main\n"))
				g.Write("README.md", []byte("readme\n"))
				g.Commit("one")
			},
			steps: []step{
				{
					name:  "init",
					args:  []string{"init", "{auth}", "--syncroot", "public", "{url}"},
					check: checks(wantMarker("HEAD"), wantServed("index.html", "css/a.css")),
				},
				{
					name: "push",
					change: func(t *testing.T, g *gittest.Repo) {
						g.Write("public/index.html", []byte("home 2\n"))
						g.Write("public/js/app.js", []byte("app\n"))
						g.Remove("public/css/a.css")
						g.Write("src/main.go", []byte("package main // 2\n"))
						g.Commit("two")
					},
					args:  []string{"push", "{auth}", "--syncroot", "public", "{url}"},
					check: checks(wantMarker("HEAD"), wantServed("index.html", "js/app.js")),
				},
			},
		},
		{
			// man git-ftp says the URL's path is ignored with --remote-root;
			// git-ftp 1.6's code (set_remote_path) puts the remote root in
			// front of it, and the README says gftp does as git-ftp does.
			name:  "remote-root",
			setup: site,
			steps: []step{
				{
					// The URL's directory exists: a path that does not is
					// the fresh-path scenario's.
					name:   "init",
					server: func(t *testing.T, dir string) { mkdirOwned(t, dir, filepath.Join(dir, "site")) },
					args:   []string{"init", "{auth}", "--remote-root", "{path}", "{root}site"},
					check:  checks(wantServed(prefix("site/", siteFiles)...)),
				},
				{
					name:   "push",
					change: siteChange,
					args:   []string{"push", "{auth}", "--remote-root", "{path}", "{root}site"},
					check:  wantServed(prefix("site/", []string{"index.html", "css/site.css", "keep/a.txt", "img/logo.png", "new/deep/er/file.txt"})...),
				},
			},
		},
		{
			name:  "scope",
			setup: site,
			steps: []step{
				{
					// git-ftp stores the URL without the credentials, and
					// them in the scope's user and password keys.
					name: "add-scope Staging",
					args: []string{"add-scope", "Staging", "{credurl}"},
					check: func(t *testing.T, r *stepRun) {
						for _, l := range r.lanes {
							got := strings.Join(sorted(strings.Split(l.repo.Git("config", "--get-regexp", `^git-ftp\.`), "\n")), "\n")
							want := strings.Join(sorted([]string{
								"git-ftp.Staging.url " + r.tg.url(l.path),
								"git-ftp.Staging.user " + r.tg.srv.User,
								"git-ftp.Staging.password " + r.tg.srv.Password,
							}), "\n")
							if got != want {
								t.Errorf("%s: git config after add-scope:\n%s\nwant\n%s", l.name, got, want)
							}
						}
					},
				},
				{name: "init -s Staging", args: []string{"init", "-s", "Staging", "{cacert}"}, check: wantMarker("HEAD")},
				{name: "push -s Staging", change: siteChange, args: []string{"push", "-s", "Staging", "{cacert}"}, check: wantMarker("HEAD")},
				// git-ftp allows 0-9 a-z A-Z - _ / in a scope's name.
				{name: "add-scope prod/EU_1", args: []string{"add-scope", "prod/EU_1", "{credurl}"}},
				{name: "catchup -s prod/EU_1", change: commitFile("index.html", "two and a half\n"), args: []string{"catchup", "-s", "prod/EU_1", "{cacert}"}, check: wantMarker("HEAD")},
				{name: "remove-scope Staging", args: []string{"remove-scope", "Staging"}},
				{name: "push -s Staging after remove-scope", change: commitFile("index.html", "three\n"), args: []string{"push", "-s", "Staging", "{cacert}"}, code: 3, check: wantMarker("HEAD~1")},
			},
		},
		{
			// git-ftp's -c sets the deployed commit: the base of the diff,
			// used instead of the marker.
			name:  "commit-flag",
			setup: site,
			steps: []step{
				{name: "init", args: []string{"init", "{auth}", "{url}"}},
				{
					name:   "push -c HEAD~1",
					change: both(commitFile("two.txt", "2\n"), commitFile("three.txt", "3\n")),
					args:   []string{"push", "{auth}", "-c", "{rev:HEAD~1}", "{url}"},
					check:  checks(wantMarker("HEAD"), wantServed(append([]string{"three.txt"}, siteFiles...)...)),
				},
				{
					// catchup records HEAD whatever -c says.
					name:   "catchup -c HEAD~1",
					change: commitFile("four.txt", "4\n"),
					args:   []string{"catchup", "{auth}", "-c", "{rev:HEAD~1}", "{url}"},
					check:  checks(wantMarker("HEAD"), wantServed(append([]string{"three.txt"}, siteFiles...)...)),
				},
			},
		},
		{
			name:  "all",
			setup: site,
			steps: []step{
				{name: "init", args: []string{"init", "{auth}", "{url}"}},
				{
					name: "push -a uploads every file again",
					server: func(t *testing.T, dir string) {
						editServer(t, dir, "index.html", "changed on the server\n")
						if err := os.Remove(filepath.Join(dir, "css", "site.css")); err != nil {
							t.Fatal(err)
						}
					},
					args:  []string{"push", "{auth}", "-a", "{url}"},
					check: checks(wantMarker("HEAD"), wantServed(siteFiles...)),
				},
				{
					// git-ftp -a lists every file of the commit and deletes
					// nothing.
					name:   "push -a after a delete",
					change: both(func(t *testing.T, g *gittest.Repo) { g.Remove("old/gone.txt") }, commitFile("index.html", "two\n")),
					args:   []string{"push", "{auth}", "-a", "{url}"},
					check:  checks(wantMarker("HEAD"), wantServed(siteFiles...)),
				},
			},
		},
		{
			name:  "catchup",
			setup: site,
			steps: []step{
				{name: "catchup uploads only the marker", args: []string{"catchup", "{auth}", "{url}"}, check: checks(wantMarker("HEAD"), wantServed())},
				{
					name:   "push sends only what changed since",
					change: both(commitFile("index.html", "two\n"), commitFile("b.txt", "b\n")),
					args:   []string{"push", "{auth}", "{url}"},
					check:  checks(wantMarker("HEAD"), wantServed("index.html", "b.txt")),
				},
			},
		},
		{
			name:  "dry-run",
			setup: site,
			steps: []step{
				{name: "init --dry-run", args: []string{"init", "{auth}", "--dry-run", "{url}"}, check: checks(wantMarker(""), wantServed())},
				{name: "init", args: []string{"init", "{auth}", "{url}"}},
				{name: "push --dry-run", change: siteChange, args: []string{"push", "{auth}", "--dry-run", "{url}"}, check: checks(wantMarker("HEAD~1"), wantServed(siteFiles...))},
			},
		},
		{
			name:  "auto-init",
			setup: site,
			steps: []step{
				{name: "push --auto-init with nothing deployed", args: []string{"push", "{auth}", "--auto-init", "{url}"}, check: checks(wantMarker("HEAD"), wantServed(siteFiles...))},
			},
		},
		{
			name:  "auto-init-fresh-path",
			fresh: true,
			setup: site,
			steps: []step{
				{name: "push --auto-init into a new path", args: []string{"push", "{auth}", "--auto-init", "{url}/a/b/c"}, check: checks(wantMarkerIn("a/b/c", "HEAD"), wantServed(prefix("a/b/c/", siteFiles)...))},
			},
		},
		showLog(),
		{
			// curl, under git-ftp, goes on after a refused upload and
			// reports only how the last transfer went, so git-ftp can move
			// the marker over a file that never arrived. gftp fails the
			// deploy and leaves the marker, and its journal of what arrived
			// (README: "Coming from git-ftp", "What gets deployed").
			name:  "refused-upload",
			setup: site,
			steps: []step{
				{name: "init", args: []string{"init", "{auth}", "{url}"}},
				{
					name: "a directory the account cannot write",
					server: func(t *testing.T, dir string) {
						for _, p := range []string{"keep", "keep/a.txt"} {
							if err := os.Chown(filepath.Join(dir, p), 0, 0); err != nil {
								t.Fatal(err)
							}
						}
					},
					change:   both(commitFile("keep/a.txt", "a 2\n"), commitFile("z.txt", "z\n")),
					args:     []string{"push", "{auth}", "{url}"},
					code:     0,
					gftpCode: differs(4),
					unlike:   []string{".git-ftp.log", ".gftp.journal"},
					check: func(t *testing.T, r *stepRun) {
						for i, l := range r.lanes {
							_, err := os.Stat(filepath.Join(l.dir, ".gftp.journal"))
							if journal := err == nil; journal != (r.tools[i] == gftp) {
								t.Errorf("%s: %s left a journal: %v", l.name, r.tools[i], journal)
							}
							want := "HEAD"
							if r.tools[i] == gftp {
								want = "HEAD~2"
							}
							if got, sha := marker(t, l, ""), l.repo.Git("rev-parse", want)+"\n"; got != sha {
								t.Errorf("%s: %s left the marker %q, want %s (%s)", l.name, r.tools[i], got, want, sha)
							}
						}
						tr := readTree(t, r.lanes[0].dir)
						if tr.files["keep/a.txt"] != "a\n" || tr.files["z.txt"] != "z\n" {
							t.Errorf("git-ftp's lane: keep/a.txt %q, z.txt %q", tr.files["keep/a.txt"], tr.files["z.txt"])
						}
					},
				},
			},
		},
		{
			name:  "missing-marker",
			setup: site,
			steps: []step{
				{name: "init", args: []string{"init", "{auth}", "{url}"}},
				{
					name:   "push without a marker: exit 5",
					server: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ".git-ftp.log")) },
					change: siteChange,
					args:   []string{"push", "{auth}", "{url}"},
					code:   5,
					check:  wantServed(siteFiles...),
				},
				{name: "show without a marker: exit 5", args: []string{"show", "{auth}", "{url}"}, code: 5},
				{
					// --auto-init uploads every file: it deletes nothing.
					name:  "push --auto-init",
					args:  []string{"push", "{auth}", "--auto-init", "{url}"},
					check: checks(wantMarker("HEAD"), wantServed(append([]string{"new/deep/er/file.txt"}, siteFiles...)...)),
				},
			},
		},
		{
			name:  "unknown-sha",
			setup: site,
			steps: []step{
				{name: "init", args: []string{"init", "{auth}", "{url}"}},
				{
					// git-ftp asks whether to upload every file, and reading
					// no answer it exits 2; gftp asks nothing and exits 8 with
					// a hint (README: "Coming from git-ftp").
					name: "push over an unknown SHA",
					server: func(t *testing.T, dir string) {
						editServer(t, dir, ".git-ftp.log", "0123456789abcdef0123456789abcdef01234567\n")
					},
					change:   siteChange,
					args:     []string{"push", "{auth}", "{url}"},
					code:     2,
					gftpCode: differs(8),
				},
				{
					name:  "push -f uploads every file",
					args:  []string{"push", "{auth}", "-f", "{url}"},
					check: checks(wantMarker("HEAD"), wantServed(append([]string{"new/deep/er/file.txt"}, siteFiles...)...)),
				},
			},
		},
		{
			// git-ftp refuses uncommitted changes to tracked files, as gftp
			// does; untracked files are no reason to refuse.
			name:  "dirty",
			setup: site,
			steps: []step{
				{name: "init", args: []string{"init", "{auth}", "{url}"}},
				{
					name: "push with a changed tracked file: exit 8",
					change: func(t *testing.T, g *gittest.Repo) {
						g.Commit("two")
						g.Write("index.html", []byte("uncommitted\n"))
					},
					args:  []string{"push", "{auth}", "{url}"},
					code:  8,
					check: wantMarker("HEAD~1"),
				},
				{
					name: "push with an untracked file",
					change: func(t *testing.T, g *gittest.Repo) {
						g.Git("checkout", "--", "index.html")
						g.Write("notes.txt", []byte("mine\n"))
					},
					args:  []string{"push", "{auth}", "{url}"},
					check: checks(wantMarker("HEAD"), wantServed(siteFiles...)),
				},
			},
		},
	}
}

// ignoreInclude: .git-ftp-ignore filters uploads; .git-ftp-include's
// "!path" uploads an untracked build product every time, and
// "target:source" uploads target whenever source changed.
func ignoreInclude() scenario {
	build := func(js, css string) func(*testing.T, *gittest.Repo) {
		return func(t *testing.T, g *gittest.Repo) {
			g.Write("build/app.js", []byte(js))
			g.Write("dist/bundle.css", []byte(css))
		}
	}
	return scenario{
		name: "ignore-include",
		setup: func(t *testing.T, g *gittest.Repo) {
			g.Write(".gitignore", []byte("build/\ndist/\n"))
			g.Write(".git-ftp-ignore", []byte("# logs and secrets\n*.log\nsecret/*\n\n"))
			g.Write(".git-ftp-include", []byte("!build/app.js\ndist/bundle.css:src/style.scss\n"))
			g.Write("index.html", []byte("home\n"))
			g.Write("debug.log", []byte("log 1\n"))
			g.Write("secret/key.txt", []byte("k1\n"))
			g.Write("src/style.scss", []byte("$a: 1;\n"))
			g.Commit("one")
			build("js 1\n", "css 1\n")(t, g)
		},
		steps: []step{
			{
				name: "init",
				args: []string{"init", "{auth}", "{url}"},
				check: checks(wantMarker("HEAD"), wantServed(".gitignore", ".git-ftp-ignore", ".git-ftp-include",
					"index.html", "src/style.scss", "build/app.js", "dist/bundle.css")),
			},
			{
				name: "push: the source changed",
				change: both(build("js 2\n", "css 2\n"), func(t *testing.T, g *gittest.Repo) {
					g.Write("debug.log", []byte("log 2\n"))
					g.Write("secret/key.txt", []byte("k2\n"))
					g.Write("src/style.scss", []byte("$a: 2;\n"))
					g.Commit("two")
				}),
				args: []string{"push", "{auth}", "{url}"},
				check: func(t *testing.T, r *stepRun) {
					tr := readTree(t, r.lanes[0].dir)
					if tr.files["build/app.js"] != "js 2\n" || tr.files["dist/bundle.css"] != "css 2\n" {
						t.Errorf("git-ftp's lane: build/app.js %q, dist/bundle.css %q", tr.files["build/app.js"], tr.files["dist/bundle.css"])
					}
				},
			},
			{
				name:   "push: the source did not change",
				change: both(build("js 3\n", "css 3\n"), commitFile("index.html", "home 3\n")),
				args:   []string{"push", "{auth}", "{url}"},
				check: func(t *testing.T, r *stepRun) {
					tr := readTree(t, r.lanes[0].dir)
					if tr.files["build/app.js"] != "js 3\n" || tr.files["dist/bundle.css"] != "css 2\n" {
						t.Errorf("git-ftp's lane: build/app.js %q, dist/bundle.css %q", tr.files["build/app.js"], tr.files["dist/bundle.css"])
					}
				},
			},
			{
				// A "!path" that is gone locally is deleted on the server.
				name: "push: the included file is gone",
				change: both(func(t *testing.T, g *gittest.Repo) {
					g.Remove("build/app.js")
				}, commitFile("index.html", "home 4\n")),
				args: []string{"push", "{auth}", "{url}"},
				check: wantServed(".gitignore", ".git-ftp-ignore", ".git-ftp-include",
					"index.html", "src/style.scss", "dist/bundle.css"),
			},
		},
	}
}

// gitignoredSyncroot (issue 17): a syncroot that only the work tree has,
// fed by a target:source rule. git-ftp takes it ([ -d "$SYNCROOT" ]) and
// uploads the include targets below it, the syncroot stripped.
func gitignoredSyncroot() scenario {
	compile := func(css string) func(*testing.T, *gittest.Repo) {
		return func(t *testing.T, g *gittest.Repo) { g.Write("dist/main.css", []byte(css)) }
	}
	return scenario{
		name: "gitignored-syncroot",
		setup: func(t *testing.T, g *gittest.Repo) {
			g.Write(".gitignore", []byte("dist/\n"))
			g.Write(".git-ftp-include", []byte("dist/main.css:/main.scss\n"))
			g.Write("main.scss", []byte("$a: 1;\n"))
			g.Commit("one")
			compile("a{}\n")(t, g)
		},
		steps: []step{
			{
				name:  "init",
				args:  []string{"init", "{auth}", "--syncroot", "dist", "{url}"},
				check: checks(wantMarker("HEAD"), wantServed("main.css")),
			},
			{
				name:   "push: the source changed",
				change: both(compile("a{color:red}\n"), commitFile("main.scss", "$a: 2;\n")),
				args:   []string{"push", "{auth}", "--syncroot", "dist", "{url}"},
				check: func(t *testing.T, r *stepRun) {
					if got := readTree(t, r.lanes[0].dir).files["main.css"]; got != "a{color:red}\n" {
						t.Errorf("git-ftp's lane: main.css %q", got)
					}
				},
			},
		},
	}
}

// showLog: git-ftp's show runs `git show DEPLOYED` and its log `git log
// DEPLOYED`; gftp's do the same (README: "Commands").
func showLog() scenario {
	output := func(wantOf func(g *gittest.Repo) string) func(*testing.T, *stepRun) {
		return func(t *testing.T, r *stepRun) {
			for i, l := range r.lanes {
				want := wantOf(l.repo)
				if got := strings.TrimSpace(r.results[i].stdout); got != want {
					t.Errorf("%s: %s printed\n%s\nwant\n%s", l.name, r.tools[i], got, want)
				}
			}
		}
	}
	return scenario{
		name:  "show-log",
		setup: site,
		steps: []step{
			{name: "init", args: []string{"init", "{auth}", "{url}"}},
			{
				name:   "show",
				change: both(commitFile("a.txt", "a\n"), commitFile("b.txt", "b\n")),
				args:   []string{"show", "{auth}", "{url}"},
				check:  output(func(g *gittest.Repo) string { return g.Git("show", "HEAD~2") }),
			},
			{
				name:  "log",
				args:  []string{"log", "{auth}", "{url}"},
				check: output(func(g *gittest.Repo) string { return g.Git("log", "HEAD~2") }),
			},
		},
	}
}
