package integration_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestSubmodulePush deploys a superproject with a submodule added by `git
// submodule add`, then moves the submodule's pointer and pushes, on a
// local directory, vsftpd (FTPES, TLS 1.3), OpenSSH and versitygw. The
// server must hold the submodule's files under its path, its own marker
// there (as git-ftp writes it), and the superproject's marker.
func TestSubmodulePush(t *testing.T) {
	targets := []pushTarget{{name: "local", start: func(t *testing.T) *servers.Server {
		dir := t.TempDir()
		return &servers.Server{Name: "local", URL: dir, Root: dir}
	}},
		{name: string(servers.VsftpdFTPES13), start: func(t *testing.T) *servers.Server { return servers.Start(t, servers.VsftpdFTPES13) }},
		{name: "sshd", start: func(t *testing.T) *servers.Server {
			return servers.StartSSHD(t, servers.WithSSHAuth(servers.SSHAuthPassword))
		}},
		{name: "versitygw", start: func(t *testing.T) *servers.Server { return servers.StartS3(t) }},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			lib, super := submoduleRepos(t, "<script src=vendor/lib/lib.js>\n",
				map[string]string{"lib.js": "v1\n", "css/lib.css": "body{}\n", "old/gone.txt": "to be deleted\n"})

			mustGftp(t, srv, super.Dir, "init", srv.URL)
			files, marker, temps := served(t, srv.Root)
			want := map[string]string{
				"index.html":              "<script src=vendor/lib/lib.js>\n",
				".gitmodules":             "[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = " + lib.Dir + "\n",
				"vendor/lib/lib.js":       "v1\n",
				"vendor/lib/css/lib.css":  "body{}\n",
				"vendor/lib/old/gone.txt": "to be deleted\n",
				"vendor/lib/.git-ftp.log": lib.Git("rev-parse", "HEAD") + "\n",
			}
			compare(t, "after init", files, want)
			if marker != super.Git("rev-parse", "HEAD")+"\n" || len(temps) > 0 {
				t.Fatalf("after init: marker %q, temporary files %v", marker, temps)
			}

			// Move the pointer: a change, an addition, a deletion.
			lib.Write("lib.js", []byte("v2\n"))
			lib.Write("js/extra.js", []byte("extra\n"))
			lib.Remove("old/gone.txt")
			lib.Commit("lib two")
			movePointer(t, super, "super two")
			mustGftp(t, srv, super.Dir, "push", srv.URL)
			files, marker, temps = served(t, srv.Root)
			want["vendor/lib/lib.js"] = "v2\n"
			want["vendor/lib/js/extra.js"] = "extra\n"
			delete(want, "vendor/lib/old/gone.txt")
			want["vendor/lib/.git-ftp.log"] = lib.Git("rev-parse", "HEAD") + "\n"
			compare(t, "after push", files, want)
			if marker != super.Git("rev-parse", "HEAD")+"\n" || len(temps) > 0 {
				t.Fatalf("after push: marker %q, temporary files %v", marker, temps)
			}
		})
	}
}

// submoduleRepos makes the repository lib with libFiles, and a
// superproject with index.html that adds it as vendor/lib with `git
// submodule add`, as users do.
func submoduleRepos(t *testing.T, index string, libFiles map[string]string) (lib, super *gittest.Repo) {
	t.Helper()
	lib = gittest.New(t)
	for name, content := range libFiles {
		lib.Write(name, []byte(content))
	}
	lib.Commit("lib one")
	super = gittest.New(t)
	super.Write("index.html", []byte(index))
	super.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.Dir, "vendor/lib")
	super.Commit("super one")
	return lib, super
}

// movePointer brings vendor/lib to lib's newest commit and commits that.
func movePointer(t *testing.T, super *gittest.Repo, msg string) {
	t.Helper()
	super.Git("-C", filepath.Join("vendor", "lib"), "-c", "protocol.file.allow=always", "pull", "-q", "--ff-only", "origin", "main")
	super.Git("add", "vendor/lib")
	super.Commit(msg)
}

func compare(t *testing.T, when string, got, want map[string]string) {
	t.Helper()
	for name, content := range want {
		if got[name] != content {
			t.Errorf("%s: %s = %q, want %q", when, name, got[name], content)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected %s on the server", when, name)
		}
	}
}

// TestSubmoduleGitFTP: git-ftp and gftp put a submodule in the same place
// with the same markers, so each continues the other's deploy: git-ftp
// inits, gftp pushes a moved pointer, git-ftp pushes the next one.
func TestSubmoduleGitFTP(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES12)
	lib, super := submoduleRepos(t, "home\n", map[string]string{"lib.js": "v1\n", "old.txt": "to be deleted\n"})
	move := func(content string) {
		lib.Write("lib.js", []byte(content))
		lib.Remove("old.txt")
		lib.Commit("lib " + content)
		movePointer(t, super, "super "+content)
	}
	check := func(when, libJS string, old bool) {
		t.Helper()
		files, marker, _ := served(t, srv.Root)
		want := map[string]string{
			"index.html":              "home\n",
			".gitmodules":             "[submodule \"vendor/lib\"]\n\tpath = vendor/lib\n\turl = " + lib.Dir + "\n",
			"vendor/lib/lib.js":       libJS,
			"vendor/lib/.git-ftp.log": lib.Git("rev-parse", "HEAD") + "\n",
		}
		if old {
			want["vendor/lib/old.txt"] = "to be deleted\n"
		}
		compare(t, when, files, want)
		if marker != super.Git("rev-parse", "HEAD")+"\n" {
			t.Errorf("%s: marker %q", when, marker)
		}
	}
	// git-ftp passes --insecure to its submodule runs, never --cacert.
	gitFTP(t, srv, super.Dir, "init", "--insecure", srv.URL)
	check("after git-ftp init", "v1\n", true)
	move("v2\n")
	mustGftp(t, srv, super.Dir, "push", srv.URL)
	check("after gftp push", "v2\n", false)
	lib.Write("old.txt", []byte("back\n"))
	lib.Commit("old back")
	move("v3\n")
	gitFTP(t, srv, super.Dir, "push", "--insecure", srv.URL)
	check("after git-ftp push", "v3\n", false)
}

// TestSubmoduleIncludeGitFTP: a submodule's own .git-ftp-include applies
// inside it, as git-ftp (run again inside the submodule) applies it: its
// build output, ignored by git, goes up with the submodule on init and
// again when its source changes. git-ftp and gftp deploy the same commits
// to two directories of one server, which must then hold the same files.
func TestSubmoduleIncludeGitFTP(t *testing.T) {
	srv := servers.Start(t, servers.VsftpdFTPES12)
	lib, super := submoduleRepos(t, "home\n", map[string]string{
		"lib.js":           "v1\n",
		".gitignore":       "dist/\n",
		".git-ftp-include": "dist/app.js:lib.js\n",
		"README.txt":       "lib\n",
	})
	build := func(content string) {
		t.Helper()
		dir := filepath.Join(super.Dir, "vendor", "lib", "dist")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "app.js"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	same := func(when string) map[string]string {
		t.Helper()
		byGitFTP, _, _ := served(t, filepath.Join(srv.Root, "gitftp"))
		byGftp, _, _ := served(t, filepath.Join(srv.Root, "gftp"))
		compare(t, when+": gftp against git-ftp", byGftp, byGitFTP)
		return byGftp
	}
	build("built v1\n")
	gitFTP(t, srv, super.Dir, "init", "--insecure", under(srv, "gitftp"))
	mustGftp(t, srv, super.Dir, "init", under(srv, "gftp"))
	if got := same("after init"); got["vendor/lib/dist/app.js"] != "built v1\n" {
		t.Errorf("after init: vendor/lib/dist/app.js = %q, want the build output", got["vendor/lib/dist/app.js"])
	}

	// The source changes, and the build with it.
	lib.Write("lib.js", []byte("v2\n"))
	lib.Commit("lib v2")
	movePointer(t, super, "super v2")
	build("built v2\n")
	gitFTP(t, srv, super.Dir, "push", "--insecure", under(srv, "gitftp"))
	mustGftp(t, srv, super.Dir, "push", under(srv, "gftp"))
	if got := same("after push"); got["vendor/lib/dist/app.js"] != "built v2\n" {
		t.Errorf("after push: vendor/lib/dist/app.js = %q, want the new build output", got["vendor/lib/dist/app.js"])
	}
}
