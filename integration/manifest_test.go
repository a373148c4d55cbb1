package integration_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/internal/gittest"
)

// hugoBuild writes a static site into g's gitignored public/, as Hugo or
// Vite build it: asset names carry a hash of their content.
func hugoBuild(t *testing.T, g *gittest.Repo, css, js string) {
	t.Helper()
	os.RemoveAll(filepath.Join(g.Dir, "public"))
	name := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s)))[:8] }
	g.Write("public/index.html", []byte("<link href=css/main."+name(css)+".css><script src=js/app."+name(js)+".js>"))
	g.Write("public/css/main."+name(css)+".css", []byte(css))
	g.Write("public/js/app."+name(js)+".js", []byte(js))
	g.Write("public/img/logo.png", []byte("\x89PNG"))
	g.Write("public/posts/a post/ünï #1.html", []byte("<p>post"))
}

// inode identifies the file that holds a name on the server's disk: an
// upload through a temporary name and a rename gives it a new one.
func inode(t *testing.T, f string) uint64 {
	t.Helper()
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestManifestHugo (issue 17): a Hugo-like build, gitignored, deployed
// through .git-ftp-include's !public/ and as a gitignored syncroot, to a
// fresh account on each server. The second build renames its stylesheet:
// the stale one is deleted, the unchanged files are not sent again (the
// --json counts, and the files keep their inode on the server's disk), a
// file gftp did not upload stays, and .gftp-manifest on the server lists
// exactly the build with each file's size and SHA-256. A forged manifest
// deletes nothing.
func TestManifestHugo(t *testing.T) {
	want := map[string]bool{"local": true, "vsftpd-ftpes-tls13": true, "proftpd-tls": true, "sshd": true, "versitygw": true}
	for _, tc := range freshTargets() {
		if !want[tc.name] {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			for _, mode := range []struct {
				name, sub, syncroot, prefix string
				fromCommit                  []string // files that come from the commit
			}{
				{name: "include", sub: "inc", prefix: "public/", fromCommit: []string{".git-ftp-include", ".gitignore", "content/post.md"}},
				{name: "syncroot", sub: "root", syncroot: "public"},
			} {
				t.Run(mode.name, func(t *testing.T) {
					g := gittest.New(t)
					g.Write(".gitignore", []byte("public/\n"))
					g.Write(".git-ftp-include", []byte("!public/\n"))
					g.Write("content/post.md", []byte("# one"))
					g.Commit("one")
					hugoBuild(t, g, "body{}", "alert(1)")
					args := func(cmd string) []string {
						a := []string{cmd, "--json"}
						if mode.syncroot != "" {
							a = append(a, "--syncroot", mode.syncroot)
						}
						return append(a, under(srv, mode.sub))
					}
					root := filepath.Join(srv.Root, mode.sub)
					build := func() map[string]string {
						out := map[string]string{}
						for p, c := range gittest.Files(t, filepath.Join(g.Dir, "public")) {
							out[mode.prefix+p] = c
						}
						return out
					}

					r := lastJSON(t, mustGftp(t, srv, g.Dir, args("init")...).stdout)
					first := build()
					if r.Uploaded != len(first)+len(mode.fromCommit) || r.Deleted != 0 {
						t.Fatalf("init: %+v, want %d uploads", r, len(first)+len(mode.fromCommit))
					}
					checkManifest(t, root, first)
					// Someone else's file, beside gftp's.
					foreign := filepath.Join(root, filepath.FromSlash(mode.prefix), "css", "theirs.css")
					if err := os.WriteFile(foreign, []byte("theirs"), 0o644); err != nil {
						t.Fatal(err)
					}
					keep := filepath.Join(root, filepath.FromSlash(mode.prefix), "img", "logo.png")
					ino := inode(t, keep)

					// The next build: a new stylesheet, so a new name and a
					// new index.html; the rest is the same.
					g.Write("content/post.md", []byte("# two"))
					g.Commit("two")
					hugoBuild(t, g, "body{color:red}", "alert(1)")
					second := build()
					r = lastJSON(t, mustGftp(t, srv, g.Dir, args("push")...).stdout)
					wantUp := 2 // the new stylesheet and index.html
					if mode.syncroot == "" {
						wantUp++ // content/post.md, from the commit
					}
					if r.Uploaded != wantUp || r.Deleted != 1 {
						t.Errorf("push: %d uploaded, %d deleted; want %d and 1 (the stale stylesheet)", r.Uploaded, r.Deleted, wantUp)
					}
					served := visible(gittest.Files(t, root))
					for p := range first {
						if _, still := second[p]; !still {
							if _, ok := served[p]; ok {
								t.Errorf("stale %s is still on the server", p)
							}
						}
					}
					for p, c := range second {
						if served[p] != c {
							t.Errorf("%s on the server: %q, want %q", p, served[p], c)
						}
					}
					if b, err := os.ReadFile(foreign); err != nil || string(b) != "theirs" {
						t.Errorf("a file gftp did not upload was touched: %q %v", b, err)
					}
					if inode(t, keep) != ino {
						t.Errorf("the unchanged %s was uploaded again", keep)
					}
					checkManifest(t, root, second)

					// A manifest someone forged on the server: an entry that
					// leaves the target, and one for the foreign file. It is
					// not trusted: nothing is deleted, and a warning says so.
					forged := manifest.New(manifest.Entry{Path: "../../escape"}, manifest.Entry{Path: mode.prefix + "css/theirs.css", Size: 6})
					if err := os.WriteFile(filepath.Join(root, manifest.Name), forged.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					g.Write("content/post.md", []byte("# three"))
					g.Commit("three")
					out := mustGftp(t, srv, g.Dir, args("push")...)
					if r := lastJSON(t, out.stdout); r.Deleted != 0 {
						t.Errorf("a forged manifest deleted %d files", r.Deleted)
					}
					if !strings.Contains(out.stderr, "not trusted") || !strings.Contains(out.stderr, `"../../escape"`) {
						t.Errorf("no warning about the forged manifest:\n%s", out.stderr)
					}
					if b, err := os.ReadFile(foreign); err != nil || string(b) != "theirs" {
						t.Errorf("a forged manifest got a foreign file touched: %q %v", b, err)
					}
					checkManifest(t, root, second)
				})
			}
		})
	}
}

// checkManifest requires .gftp-manifest in dir to list exactly files, with
// each one's size and SHA-256, and to parse as trusted.
func checkManifest(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, manifest.Name))
	if err != nil {
		t.Fatalf("no manifest on the server: %v", err)
	}
	m, warns, err := manifest.Parse(bytes.NewReader(data))
	if err != nil || len(warns) > 0 || !m.Trusted() {
		t.Fatalf("manifest on the server: %v %v\n%s", err, warns, data)
	}
	got := map[string]string{}
	for _, e := range m.Entries() {
		c, ok := files[e.Path]
		if !ok || e.Size != int64(len(c)) || e.SHA256 != sha256.Sum256([]byte(c)) {
			t.Errorf("manifest entry %q (%d bytes) does not match the build", e.Path, e.Size)
		}
		got[e.Path] = c
	}
	if !reflect.DeepEqual(got, files) {
		var names []string
		for p := range files {
			names = append(names, p)
		}
		sort.Strings(names)
		t.Errorf("manifest lists %d files, the build has %d: %s\n%s", len(got), len(files), strings.Join(names, ", "), data)
	}
}
