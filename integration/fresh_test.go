package integration_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// freshTarget is a server whose account starts empty: no target directory.
type freshTarget struct {
	name  string
	start func(t *testing.T) *servers.Server
	dirs  bool // the server has directories (S3 has prefixes only)
	// remoteRoot returns the --remote-root value that puts sub under
	// srv.Root, and the URL to pass with it, whose path follows it.
	remoteRoot func(srv *servers.Server, sub, rest string) (root, url string)
}

func freshTargets() []freshTarget {
	ftpRoot := func(srv *servers.Server, sub, rest string) (string, string) {
		return sub, strings.TrimSuffix(srv.URL, "/") + "/" + rest
	}
	var ts []freshTarget
	ts = append(ts, freshTarget{name: "local", dirs: true, start: func(t *testing.T) *servers.Server {
		dir := t.TempDir()
		return &servers.Server{Name: "local", URL: dir, Root: dir}
	}})
	for _, k := range []servers.Kind{servers.VsftpdPlain, servers.VsftpdFTPES13, servers.VsftpdImplicit, servers.PureFTPdTLS, servers.ProFTPdTLS} {
		ts = append(ts, freshTarget{name: string(k), dirs: true, remoteRoot: ftpRoot,
			start: func(t *testing.T) *servers.Server { return servers.Start(t, k) }})
	}
	ts = append(ts, freshTarget{name: "sshd", dirs: true,
		start: func(t *testing.T) *servers.Server { return servers.StartSSHD(t) },
		remoteRoot: func(srv *servers.Server, sub, rest string) (string, string) {
			host := strings.TrimPrefix(srv.URL, "sftp://")
			host, _, _ = strings.Cut(host, "/")
			return filepath.ToSlash(filepath.Join(srv.Root, sub)), "sftp://" + host + "/" + rest
		}})
	ts = append(ts, freshTarget{name: "versitygw", remoteRoot: ftpRoot,
		start: func(t *testing.T) *servers.Server { return servers.StartS3(t) }})
	return ts
}

// under is the URL of the path sub below the server's root.
func under(srv *servers.Server, sub string) string {
	return strings.TrimSuffix(srv.URL, "/") + "/" + sub
}

// TestFreshPath deploys to paths that do not exist yet, three levels deep,
// on an account that starts empty, as every first deploy to a new site
// does: init, push --auto-init, catchup, publish-dumb and init --no-lock
// create the path, parents first; a dry run lists what it would create and
// creates nothing; a plain push into a missing path says to run init.
func TestFreshPath(t *testing.T) {
	for _, tc := range freshTargets() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			if got := gittest.Files(t, srv.Root); len(visible(got)) != 0 {
				t.Fatalf("the account does not start empty: %v", got)
			}
			g := gittest.New(t)
			g.Write("index.html", []byte("<h1>hello</h1>\n"))
			g.Write("css/site.css", []byte("body{}\n"))
			head := g.Commit("one")
			want := g.Tree(head)

			check := func(sub string, files map[string]string, marker string) {
				t.Helper()
				got := gittest.Files(t, filepath.Join(srv.Root, sub))
				if m := got[".git-ftp.log"]; m != marker {
					t.Errorf("%s: marker %q, want %q", sub, m, marker)
				}
				delete(got, ".git-ftp.log")
				if !reflect.DeepEqual(visible(got), files) {
					t.Errorf("%s holds %v, want %v", sub, got, files)
				}
				if _, err := os.Stat(filepath.Join(srv.Root, sub, ".gftp.lock")); !os.IsNotExist(err) {
					t.Errorf("%s: lock left behind (%v)", sub, err)
				}
			}

			// A dry run lists the missing directories and creates none.
			r := mustGftp(t, srv, g.Dir, "init", "--dry-run", under(srv, "newdir/a/b"))
			if tc.dirs {
				for _, d := range []string{"newdir", "newdir/a", "newdir/a/b"} {
					if !strings.Contains(r.stdout, d+" (missing on the server)") {
						t.Errorf("dry run does not list %s:\n%s", d, r.stdout)
					}
				}
				if strings.Contains(r.stdout, "newdir/a/b/") {
					t.Errorf("dry run lists more than the path:\n%s", r.stdout)
				}
			}
			if _, err := os.Stat(filepath.Join(srv.Root, "newdir")); !os.IsNotExist(err) {
				t.Fatalf("the dry run created newdir (%v)", err)
			}

			mustGftp(t, srv, g.Dir, "init", under(srv, "newdir/a/b"))
			check("newdir/a/b", want, head+"\n")

			// A push without --auto-init does not create the path.
			r = gftp(t, srv, g.Dir, "push", under(srv, "nopath/x"))
			if r.code != 5 || !strings.Contains(r.stderr, "gftp init") {
				t.Errorf("push into a missing path: exit %d, want 5 and a hint naming init\n%s", r.code, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(srv.Root, "nopath")); !os.IsNotExist(err) {
				t.Errorf("push without --auto-init created nopath (%v)", err)
			}

			mustGftp(t, srv, g.Dir, "push", "--auto-init", under(srv, "auto/a/b"))
			check("auto/a/b", want, head+"\n")

			mustGftp(t, srv, g.Dir, "catchup", under(srv, "caught/a/b"))
			check("caught/a/b", map[string]string{}, head+"\n")

			mustGftp(t, srv, g.Dir, "init", "--no-lock", under(srv, "nolock/a/b"))
			check("nolock/a/b", want, head+"\n")

			if tc.remoteRoot != nil {
				root, url := tc.remoteRoot(srv, "rr", "a/b")
				mustGftp(t, srv, g.Dir, "init", "--remote-root", root, url)
				check("rr/a/b", want, head+"\n")
			}

			mustGftp(t, srv, g.Dir, "publish-dumb", under(srv, "git/a/repo.git"))
			refs, err := os.ReadFile(filepath.Join(srv.Root, "git/a/repo.git/info/refs"))
			if err != nil || !strings.Contains(string(refs), head) {
				t.Errorf("publish-dumb into a fresh path: info/refs %q, %v", refs, err)
			}
		})
	}
}

// visible drops an S3 server's own bookkeeping from a listing.
func visible(files map[string]string) map[string]string {
	out := map[string]string{}
	for n, c := range files {
		if strings.HasPrefix(n, ".sys/") || strings.HasPrefix(n, ".versitygw") || strings.Contains(n, "/.sys/") {
			continue
		}
		out[n] = c
	}
	return out
}
