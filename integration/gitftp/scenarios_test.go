package gitftp_test

import (
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gftp/gftp/internal/gittest"
)

// site commits the first version of a small site: files at the top, in
// directories two deep, a binary file, and the directories the push
// scenario empties.
func site(t *testing.T, g *gittest.Repo) {
	g.Write("index.html", []byte("<h1>one</h1>\n"))
	g.Write("css/site.css", []byte("body{}\n"))
	g.Write("old/gone.txt", []byte("bye\n"))
	g.Write("keep/a.txt", []byte("a\n"))
	g.Write("keep/sub/x.txt", []byte("x\n"))
	logo := make([]byte, 256)
	for i := range logo {
		logo[i] = byte(i)
	}
	g.Write("img/logo.png", logo)
	g.Commit("one")
}

// siteChange commits adds, changes and deletes, two of which empty a
// directory (old/ and keep/sub/).
func siteChange(t *testing.T, g *gittest.Repo) {
	g.Write("index.html", []byte("<h1>two</h1>\n"))
	g.Write("new/deep/er/file.txt", []byte("new\n"))
	g.Write("img/logo.png", []byte{0, 0xff, '\r', '\n', 0})
	g.Remove("old/gone.txt")
	g.Remove("keep/sub/x.txt")
	g.Commit("two")
}

// commitFile commits one added or changed file.
func commitFile(name, content string) func(*testing.T, *gittest.Repo) {
	return func(t *testing.T, g *gittest.Repo) {
		g.Write(name, []byte(content))
		g.Commit("change " + name)
	}
}

// touchGit creates (or with remove, deletes) a file in .git, where the
// hooks look for fail-pre and fail-post.
func touchGit(name string, remove bool) func(*testing.T, *gittest.Repo) {
	return func(t *testing.T, g *gittest.Repo) {
		p := filepath.Join(g.Dir, ".git", name)
		if remove {
			os.Remove(p)
			return
		}
		write(t, p, "")
	}
}

func both(fns ...func(*testing.T, *gittest.Repo)) func(*testing.T, *gittest.Repo) {
	return func(t *testing.T, g *gittest.Repo) {
		for _, f := range fns {
			f(t, g)
		}
	}
}

// wantMarker checks that every lane's marker names rev ("": no marker).
func wantMarker(rev string) func(*testing.T, *stepRun) { return wantMarkerIn("", rev) }

// wantMarkerIn checks the marker in the directory sub of every lane's.
func wantMarkerIn(sub, rev string) func(*testing.T, *stepRun) {
	return func(t *testing.T, r *stepRun) {
		for _, l := range r.lanes {
			want := ""
			if rev != "" {
				want = l.repo.Git("rev-parse", rev) + "\n"
			}
			if got := marker(t, l, sub); got != want {
				t.Errorf("%s: marker %q, want %q", l.name, got, want)
			}
		}
	}
}

// wantServed checks that the git-ftp lane holds exactly these files
// (besides the marker), pinning git-ftp's own behaviour: the other lanes
// are compared with it.
func wantServed(files ...string) func(*testing.T, *stepRun) {
	return func(t *testing.T, r *stepRun) {
		tr := readTree(t, r.lanes[0].dir)
		var got []string
		for n := range tr.files {
			if path.Base(n) != ".git-ftp.log" {
				got = append(got, n)
			}
		}
		if strings.Join(sorted(got), " ") != strings.Join(sorted(files), " ") {
			t.Errorf("git-ftp's lane holds %q, want %q", sorted(got), sorted(files))
		}
	}
}

func checks(fns ...func(*testing.T, *stepRun)) func(*testing.T, *stepRun) {
	return func(t *testing.T, r *stepRun) {
		for _, f := range fns {
			f(t, r)
		}
	}
}

var siteFiles = []string{"index.html", "css/site.css", "old/gone.txt", "keep/a.txt", "keep/sub/x.txt", "img/logo.png"}

// coreScenarios run on every kind of server.
func coreScenarios() []scenario {
	return []scenario{
		{
			name:  "fresh-path",
			fresh: true,
			// check_remote_access sends "MKDIR path/" with the path
			// relative and all levels at once: it exits 4.
			notOverSFTP: "git-ftp 1.6 cannot create a missing path over SFTP",
			setup:       site,
			steps: []step{
				{
					name: "init --dry-run creates nothing",
					args: []string{"init", "{auth}", "--dry-run", "{url}/l1/l2/l3"},
					check: checks(wantMarker(""), func(t *testing.T, r *stepRun) {
						// git-ftp checks the path with curl --ftp-create-dirs even
						// in a dry run; gftp creates nothing (README: "Coming from
						// git-ftp").
						for _, l := range r.lanes {
							_, err := os.Stat(filepath.Join(l.dir, "l1"))
							if l.before == gftp && err == nil {
								t.Errorf("%s: gftp init --dry-run created l1/", l.name)
							}
						}
					}),
				},
				{
					name:  "init 3 levels deep",
					args:  []string{"init", "{auth}", "{url}/l1/l2/l3"},
					check: checks(wantMarkerIn("l1/l2/l3", "HEAD"), wantServed(prefix("l1/l2/l3/", siteFiles)...)),
				},
				{
					name: "second init refused",
					args: []string{"init", "{auth}", "{url}/l1/l2/l3"},
					code: 2,
				},
				{
					name:   "push",
					change: siteChange,
					args:   []string{"push", "{auth}", "{url}/l1/l2/l3"},
					check:  wantMarkerIn("l1/l2/l3", "HEAD"),
				},
			},
			switchAt: 2,
		},
		{
			name:  "push",
			setup: site,
			steps: []step{
				{name: "init", args: []string{"init", "{auth}", "{url}"}, check: checks(wantMarker("HEAD"), wantServed(siteFiles...))},
				{
					name:   "adds, changes, deletes, emptied directories",
					change: siteChange,
					args:   []string{"push", "{auth}", "{url}"},
					check: checks(wantMarker("HEAD"),
						wantServed("index.html", "css/site.css", "keep/a.txt", "img/logo.png", "new/deep/er/file.txt"),
						emptiedDirs("old/", "keep/sub/")),
				},
				{
					// git-ftp takes the action anywhere on the line.
					name:  "nothing to push, options and URL before the action",
					args:  []string{"{auth}", "{url}", "push"},
					check: wantMarker("HEAD"),
				},
			},
		},
		{
			name:  "hooks",
			setup: site,
			hooks: true,
			steps: []step{
				{name: "init runs both hooks", args: []string{"init", "{auth}", "{url}"}, check: hookCount(1, 1)},
				{
					name:   "failing pre-ftp-push: exit 9, nothing uploaded",
					change: both(siteChange, touchGit("fail-pre", false)),
					args:   []string{"push", "{auth}", "{url}"},
					code:   9,
					check:  checks(wantMarker("HEAD~1"), hookCount(2, 1)),
				},
				{
					// git-ftp's --no-verify takes the next argument with it, so
					// it comes last.
					name:  "--no-verify skips pre-ftp-push",
					args:  []string{"push", "{auth}", "{url}", "--no-verify"},
					check: checks(wantMarker("HEAD"), hookCount(2, 2)),
				},
				{
					name:   "failing post-ftp-push is ignored",
					change: both(touchGit("fail-pre", true), touchGit("fail-post", false), commitFile("index.html", "three\n")),
					args:   []string{"push", "{auth}", "{url}"},
					check:  checks(wantMarker("HEAD"), hookCount(3, 3)),
				},
				{
					name:   "--enable-post-errors: exit 9 after the deploy",
					change: commitFile("index.html", "four\n"),
					args:   []string{"push", "{auth}", "{url}", "--enable-post-errors"},
					code:   9,
					check:  checks(wantMarker("HEAD"), hookCount(4, 4)),
				},
				{
					// git-ftp runs both hooks in a dry run; gftp runs
					// pre-ftp-push only (README: "Coming from git-ftp").
					name:        "push --dry-run",
					change:      both(touchGit("fail-post", true), commitFile("index.html", "five\n")),
					args:        []string{"push", "{auth}", "--dry-run", "{url}"},
					hooksUnlike: true,
					check: checks(wantMarker("HEAD~1"), hookCount(5, 5), func(t *testing.T, r *stepRun) {
						ref := hookRuns(t, r.lanes[0])
						for i, l := range r.lanes[1:] {
							want := ref
							if r.tools[i+1] == gftp {
								want = ref[:len(ref)-1]
							}
							if got := hookRuns(t, l); !reflect.DeepEqual(got, want) {
								t.Errorf("%s's hooks ran otherwise than %s's:\n got %q\nwant %q", l.name, r.tools[i+1], got, want)
							}
						}
					}),
				},
			},
		},
	}
}

func prefix(p string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, p+n)
	}
	return out
}

// emptiedDirs: git-ftp deletes files only, so a directory whose files a
// push deleted stays, empty; gftp removes it (README: "Coming from
// git-ftp"). Each lane must show the behaviour of the tool that pushed.
func emptiedDirs(dirs ...string) func(*testing.T, *stepRun) {
	return func(t *testing.T, r *stepRun) {
		for i, l := range r.lanes {
			tr := readTree(t, l.dir)
			for _, d := range dirs {
				has := contains(tr.empty, d)
				if r.tools[i] == gitFTP && !has {
					t.Errorf("%s: git-ftp removed the emptied directory %s (it used to leave it)", l.name, d)
				}
				if r.tools[i] == gftp && has {
					t.Errorf("%s: gftp left the emptied directory %s", l.name, d)
				}
			}
		}
	}
}

// hookCount checks how often each lane's hooks ran so far (the comparison
// with the git-ftp lane checks the rest), and that git-ftp's own runs have
// the documented arguments.
func hookCount(pre, post int) func(*testing.T, *stepRun) {
	return func(t *testing.T, r *stepRun) {
		runs := hookRuns(t, r.lanes[0])
		var p, q int
		for _, h := range runs {
			switch h.name {
			case "pre-ftp-push":
				p++
			case "post-ftp-push":
				q++
			}
			if len(h.args) != 4 || h.args[0] != r.tg.srv.Addr || !strings.Contains(h.args[1], "/LANE/") {
				t.Errorf("git-ftp's %s got %q: want host, URL, local SHA, remote SHA", h.name, h.args)
			}
		}
		if p != pre || q != post {
			t.Errorf("git-ftp ran pre-ftp-push %d and post-ftp-push %d times, want %d and %d", p, q, pre, post)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
