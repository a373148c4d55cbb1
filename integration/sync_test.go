package integration_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// syncTargets are the servers issue 17 names: local, vsftpd FTPES,
// proftpd, OpenSSH and versitygw, each starting from an empty account.
func syncTargets() []freshTarget {
	var out []freshTarget
	for _, tc := range freshTargets() {
		switch tc.name {
		case "local", string(servers.VsftpdFTPES13), string(servers.ProFTPdTLS), "sshd", "versitygw":
			out = append(out, tc)
		}
	}
	return out
}

// siteBuild writes a site as a generator with hashed asset names builds
// it: build n changes the app's script and style (new names), rewrites
// the home page, drops one post and keeps the rest byte for byte.
func siteBuild(t *testing.T, dir string, n int) map[string]string {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	js := fmt.Sprintf("console.log(%d)\n", n)
	css := fmt.Sprintf("body{margin:%dpx}\n", n)
	h := func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s)))[:8] }
	files := map[string]string{
		"index.html":                      fmt.Sprintf("<h1>build %d</h1><script src=/assets/app.%s.js>\n", n, h(js)),
		"assets/app." + h(js) + ".js":     js,
		"assets/style." + h(css) + ".css": css,
		"assets/logo.svg":                 "<svg/>\n",
		"posts/hello/index.html":          "<p>hello</p>\n",
		"posts/with space/index.html":     "<p>spaces</p>\n",
		"tags/index.xml":                  "<rss/>\n",
		"images/photo.jpg":                strings.Repeat("jpeg", 4096),
		"assets/app." + h(js) + ".js.map": "{}\n",
		"downloads/big/archive.bin":       strings.Repeat("\x00\x01binary", 20000),
	}
	if n == 1 {
		files["posts/old/index.html"] = "<p>old post</p>\n"
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// deployed is what a sync should leave: the site without excluded files.
func deployed(files map[string]string, exclude func(string) bool) map[string]string {
	out := map[string]string{}
	for n, c := range files {
		if !exclude(n) {
			out[n] = c
		}
	}
	return out
}

// onServer lists the files under root, without gftp's manifest and an S3
// server's bookkeeping; it fails on a leftover lock, journal or temporary
// file.
func onServer(t *testing.T, root string) (map[string]string, string) {
	t.Helper()
	got := visible(gittest.Files(t, root))
	man := got[".gftp-manifest"]
	delete(got, ".gftp-manifest")
	for n := range got {
		if strings.HasPrefix(n, ".gftp.lock") || n == ".gftp.journal" || strings.Contains(n, ".gftp-tmp-") || n == ".git-ftp.log" {
			t.Errorf("left on the server: %s", n)
		}
	}
	return got, man
}

// manifestText is a manifest in the format of deploy/manifest whose
// trailer matches its entries, so that only the entries can be refused.
func manifestText(lines ...string) string {
	body := strings.Join(lines, "\n")
	if body != "" {
		body += "\n"
	}
	return fmt.Sprintf("gftp-manifest 1\n%send %d %x\n", body, len(lines), sha256.Sum256([]byte(body)))
}

func manifestLine(path, content string) string {
	return fmt.Sprintf("%x %d %s", sha256.Sum256([]byte(content)), len(content), path)
}

// TestSyncSuite is gftp sync against each real server, from an empty
// account: a Hugo-like build, the next build (stale hashed assets deleted,
// unchanged files not sent again), a dry run that touches nothing,
// --delete-extra, excludes, a malicious and a truncated manifest,
// --rebuild-manifest, an unreadable file, --checksum and two syncs at once.
func TestSyncSuite(t *testing.T) {
	for _, tc := range syncTargets() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			work := t.TempDir()
			site := filepath.Join(work, "public")
			root := filepath.Join(srv.Root, "site", "www")
			url := under(srv, "site/www")
			isMap := func(n string) bool { return strings.HasSuffix(n, ".map") }
			doSync := func(args ...string) result {
				t.Helper()
				full := append([]string{"sync", "--json", "--exclude", "*.map"}, args...)
				return gftp(t, srv, work, append(full, site, url)...)
			}

			// Build 1 to an account with no target directory.
			b1 := siteBuild(t, site, 1)
			r := doSync()
			res := lastJSON(t, r.stdout)
			if r.code != 0 || !res.OK || res.Uploaded != len(b1)-1 || res.Deleted != 0 {
				t.Fatalf("first sync: exit %d, %d uploaded (want %d), %d deleted\n%s", r.code, res.Uploaded, len(b1)-1, res.Deleted, r.stderr)
			}
			got, man := onServer(t, root)
			if want := deployed(b1, isMap); !reflect.DeepEqual(got, want) {
				t.Fatalf("after build 1 the server holds\n%v\nwant\n%v", keys(got), keys(want))
			}
			if !strings.HasPrefix(man, "gftp-manifest 1\n") || !strings.Contains(man, " posts/old/index.html\n") || strings.Contains(man, ".map") {
				t.Errorf("manifest after build 1:\n%s", man)
			}

			// The same build again: nothing to do, nothing written.
			r = doSync()
			if res := lastJSON(t, r.stdout); r.code != 0 || !strings.Contains(r.stdout, `"up_to_date":true`) || res.Uploaded != 0 {
				t.Errorf("unchanged sync: exit %d, %+v", r.code, res)
			}

			// Build 2, first as a dry run: it touches nothing.
			b2 := siteBuild(t, site, 2)
			before := gittest.Files(t, srv.Root)
			r = gftp(t, srv, work, "sync", "--dry-run", "--exclude", "*.map", site, url)
			if r.code != 0 || !strings.Contains(r.stdout, "delete   posts/old/index.html (gone locally)") || !strings.Contains(r.stdout, "Dry run: would upload 3 files") {
				t.Errorf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if after := gittest.Files(t, srv.Root); !reflect.DeepEqual(after, before) {
				t.Errorf("the dry run changed the server")
			}

			// Build 2: the home page and the two new assets go up; the
			// stale assets and the dropped post go; the rest stays.
			r = doSync("-v")
			res = lastJSON(t, r.stdout)
			if r.code != 0 || res.Uploaded != 3 || res.Deleted != 3 {
				t.Errorf("second sync: exit %d, %d uploaded, %d deleted; want 3 and 3\n%s", r.code, res.Uploaded, res.Deleted, r.stderr)
			}
			got, _ = onServer(t, root)
			if want := deployed(b2, isMap); !reflect.DeepEqual(got, want) {
				t.Errorf("after build 2 the server holds\n%v\nwant\n%v", keys(got), keys(want))
			}
			if _, err := os.Stat(filepath.Join(root, "posts", "old")); tc.dirs && !os.IsNotExist(err) {
				t.Errorf("the emptied directory posts/old is still there (%v)", err)
			}

			// Files gftp did not upload: kept without --delete-extra,
			// deleted with it, unless excluded.
			put := func(name, content string) {
				t.Helper()
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			put("stray.html", "by hand")
			put("uploads/user.jpg", "a visitor's upload")
			if err := os.WriteFile(filepath.Join(site, "new.html"), []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			r = doSync()
			if got, _ := onServer(t, root); r.code != 0 || got["stray.html"] != "by hand" || got["new.html"] != "new" {
				t.Errorf("sync without --delete-extra: exit %d, stray.html %q\n%s", r.code, got["stray.html"], r.stderr)
			}
			r = gftp(t, srv, work, "sync", "--dry-run", "--delete-extra", "--exclude", "*.map", "--exclude", "uploads/*", site, url)
			if !strings.Contains(r.stdout, "delete   stray.html (extra on the server)") || strings.Contains(r.stdout, "uploads/user.jpg") {
				t.Errorf("--delete-extra --dry-run does not list exactly stray.html:\n%s", r.stdout)
			}
			r = doSync("--delete-extra", "--exclude", "uploads/*")
			got, _ = onServer(t, root)
			if _, ok := got["stray.html"]; r.code != 0 || ok || got["uploads/user.jpg"] != "a visitor's upload" {
				t.Errorf("--delete-extra: exit %d, stray.html still there %v, uploads/user.jpg %q\n%s", r.code, ok, got["uploads/user.jpg"], r.stderr)
			}

			// A malicious manifest: entries that leave the target, and
			// one for a file gftp never uploaded. Nothing is deleted.
			put("victim.html", "keep me")
			if err := os.WriteFile(filepath.Join(srv.Root, "site", "outside.txt"), []byte("outside"), 0o644); err != nil {
				t.Fatal(err)
			}
			put(".gftp-manifest", manifestText(manifestLine("../outside.txt", "outside"), manifestLine("/etc/hostname", "x"), manifestLine("victim.html", "keep me")))
			r = doSync()
			got, _ = onServer(t, root)
			if r.code != 0 || !strings.Contains(r.stderr, "refused") || got["victim.html"] != "keep me" {
				t.Errorf("malicious manifest: exit %d, victim.html %q\n%s", r.code, got["victim.html"], r.stderr)
			}
			if data, err := os.ReadFile(filepath.Join(srv.Root, "site", "outside.txt")); err != nil || string(data) != "outside" {
				t.Errorf("a file outside the target was touched: %q, %v", data, err)
			}
			// The forged entries are forgotten: the next sync, with a
			// manifest gftp wrote, does not delete victim.html either.
			r = doSync()
			got, man = onServer(t, root)
			if r.code != 0 || got["victim.html"] != "keep me" || strings.Contains(man, "victim.html") {
				t.Errorf("the sync after a malicious manifest: exit %d, victim.html %q, manifest:\n%s\n%s", r.code, got["victim.html"], man, r.stderr)
			}

			// A truncated manifest: exit 5, nothing changed, a hint to
			// rebuild; --rebuild-manifest then sends only what differs.
			_, man = onServer(t, root)
			put(".gftp-manifest", man[:len(man)/2])
			if err := os.Remove(filepath.Join(site, "new.html")); err != nil {
				t.Fatal(err)
			}
			before = gittest.Files(t, srv.Root)
			r = doSync()
			if r.code != 5 || !strings.Contains(r.stderr, "--rebuild-manifest") {
				t.Errorf("truncated manifest: exit %d, want 5 and a hint to --rebuild-manifest\n%s", r.code, r.stderr)
			}
			if after := gittest.Files(t, srv.Root); !reflect.DeepEqual(after, before) {
				t.Errorf("a sync over a truncated manifest changed the server")
			}
			put("index.html", "same size? no")
			r = doSync("--rebuild-manifest")
			res = lastJSON(t, r.stdout)
			if r.code != 0 || res.Uploaded != 1 || res.Deleted != 0 {
				t.Errorf("--rebuild-manifest: exit %d, %d uploaded (want 1: index.html), %d deleted\n%s", r.code, res.Uploaded, res.Deleted, r.stderr)
			}
			got, man = onServer(t, root)
			if got["index.html"] != b2["index.html"] || !strings.Contains(man, " index.html\n") || strings.Contains(man, "new.html") {
				t.Errorf("after --rebuild-manifest: index.html %q, manifest\n%s", got["index.html"], man)
			}

			// An unreadable file: exit 10 before anything is touched.
			if err := os.WriteFile(filepath.Join(site, "secret.html"), []byte("no"), 0o000); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(site, "tags", "index.xml")); err != nil {
				t.Fatal(err)
			}
			before = gittest.Files(t, srv.Root)
			r = gftpNoDAC(t, srv, work, "sync", "--exclude", "*.map", site, url)
			if r.code != 10 || !strings.Contains(r.stderr, "secret.html") {
				t.Errorf("unreadable file: exit %d, want 10 naming it\n%s", r.code, r.stderr)
			}
			if after := gittest.Files(t, srv.Root); !reflect.DeepEqual(after, before) {
				t.Errorf("a sync with an unreadable file changed the server")
			}
			if err := os.Remove(filepath.Join(site, "secret.html")); err != nil {
				t.Fatal(err)
			}

			// --checksum: a file changed on the server behind gftp's back,
			// to the same size, is sent again where the server digests.
			if tc.name == "versitygw" {
				// Through the S3 API, so that versitygw records the
				// new object's ETag (a file changed on its disk keeps
				// the old one).
				s3Put(t, srv, work, "site/www/assets/logo.svg", "<SVG/>\n")
			} else {
				put("assets/logo.svg", "<SVG/>\n")
			}
			if got, _ := onServer(t, root); got["assets/logo.svg"] != "<SVG/>\n" {
				t.Fatalf("the test could not change logo.svg on the server: %q", got["assets/logo.svg"])
			}
			r = doSync("--checksum")
			got, _ = onServer(t, root)
			logo := got["assets/logo.svg"]
			switch {
			case r.code != 0:
				t.Errorf("--checksum: exit %d\n%s", r.code, r.stderr)
			case logo == "<svg/>\n":
				t.Logf("%s: --checksum repaired a file changed on the server", tc.name)
			case tc.name == "local" || tc.name == "versitygw":
				t.Errorf("--checksum did not repair the file: %q\n%s", logo, r.stderr)
			case strings.Contains(r.stderr, "cannot digest"):
				t.Logf("%s: the server cannot digest files; --checksum said so", tc.name)
			default:
				t.Errorf("--checksum: logo.svg %q, and no word that the server cannot digest\n%s", logo, r.stderr)
			}

			// Two syncs at once: each exits 0 or 7 (the lock), and the
			// server ends up with the site.
			for i := 0; i < 40; i++ {
				if err := os.WriteFile(filepath.Join(site, "many", fmt.Sprintf("f%02d.html", i)), []byte(strings.Repeat("x", i)), 0o644); err != nil {
					if err := os.MkdirAll(filepath.Join(site, "many"), 0o755); err != nil {
						t.Fatal(err)
					}
					i--
				}
			}
			var wg sync.WaitGroup
			codes := make([]result, 2)
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = gftp(t, srv, work, "sync", "--exclude", "*.map", "--exclude", "uploads/*", site, url)
				}()
			}
			wg.Wait()
			ok := 0
			for _, c := range codes {
				switch c.code {
				case 0:
					ok++
				case 7:
					if !strings.Contains(c.stderr, "locked") {
						t.Errorf("exit 7 without saying the target is locked:\n%s", c.stderr)
					}
				default:
					t.Errorf("concurrent sync: exit %d\n%s", c.code, c.stderr)
				}
			}
			if ok == 0 {
				t.Errorf("neither of two concurrent syncs succeeded")
			}
			want := map[string]string{}
			for n, c := range gittest.Files(t, site) {
				if !isMap(n) {
					want[n] = c
				}
			}
			want["uploads/user.jpg"] = "a visitor's upload"
			want["victim.html"] = "keep me"
			want["assets/logo.svg"] = logo
			want["new.html"] = "new" // gone locally while the manifest was rebuilt: not listed, so kept
			if got, _ := onServer(t, root); !reflect.DeepEqual(got, want) {
				t.Errorf("after two syncs at once the server holds\n%v\nwant\n%v", keys(got), keys(want))
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// gftpNoDAC runs gftp as gftp() does, but when the test runs as root,
// without the capabilities that let root read any file, so that a file of
// mode 000 is unreadable to it as to anyone.
func gftpNoDAC(t *testing.T, srv *servers.Server, dir string, args ...string) result {
	t.Helper()
	if os.Getuid() != 0 {
		return gftp(t, srv, dir, args...)
	}
	return gftpVia(t, []string{"setpriv", "--bounding-set=-dac_override,-dac_read_search"}, srv, dir, args...)
}

// TestSyncResume: a sync that fails part-way (a directory on the server
// it may not write to) leaves the old manifest and a journal; the next
// sync sends only what did not arrive, and removes the journal.
func TestSyncResume(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to drop the capability that lets root write anywhere")
	}
	dir := t.TempDir()
	srv := &servers.Server{Name: "local", URL: dir, Root: dir}
	work := t.TempDir()
	site := filepath.Join(work, "public")
	files := map[string]string{"zz/blocked.html": "blocked"}
	for i := 0; i < 20; i++ {
		files[fmt.Sprintf("a/f%02d.html", i)] = strings.Repeat("a", i+1)
	}
	for name, content := range files {
		p := filepath.Join(site, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	blocked := filepath.Join(dir, "www", "zz")
	if err := os.MkdirAll(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(blocked, 0o555); err != nil {
		t.Fatal(err)
	}
	r := gftpNoDAC(t, srv, work, "sync", "--json", site, under(srv, "www"))
	res := lastJSON(t, r.stdout)
	if r.code != 4 || res.Uploaded != 20 {
		t.Fatalf("sync into a read-only directory: exit %d, %d uploaded; want 4 and 20\n%s", r.code, res.Uploaded, r.stderr)
	}
	got := gittest.Files(t, filepath.Join(dir, "www"))
	if _, ok := got[".gftp-manifest"]; ok {
		t.Errorf("a failed sync wrote the manifest")
	}
	if _, ok := got[".gftp.journal"]; !ok {
		t.Errorf("a failed sync left no journal")
	}
	if err := os.Chmod(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	r = gftp(t, srv, work, "sync", "--json", site, under(srv, "www"))
	res = lastJSON(t, r.stdout)
	if r.code != 0 || res.Uploaded != 1 || !strings.Contains(r.stdout, `"resumed":20`) {
		t.Errorf("resumed sync: exit %d, %d uploaded (want 1), %s\n%s", r.code, res.Uploaded, r.stdout, r.stderr)
	}
	got, man := onServer(t, filepath.Join(dir, "www"))
	if len(got) != len(files) || !strings.Contains(man, " zz/blocked.html\n") {
		t.Errorf("after the resumed sync: %v\n%s", keys(got), man)
	}
}

// s3Put writes an object through the S3 API with the aws CLI, as someone
// changing the site behind gftp's back would.
func s3Put(t *testing.T, srv *servers.Server, work, key, content string) {
	t.Helper()
	aws, err := exec.LookPath("aws")
	if err != nil {
		servers.Unavailable(t, "the aws CLI is not installed", "install it")
	}
	endpoint := ""
	for i, f := range srv.Flags {
		if f == "--s3-endpoint" && i+1 < len(srv.Flags) {
			endpoint = srv.Flags[i+1]
		}
	}
	file := filepath.Join(work, "s3put")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--endpoint-url", endpoint, "s3", "cp", file, "s3://" + strings.TrimSuffix(strings.TrimPrefix(srv.URL, "s3://"), "/") + "/" + key}
	if srv.CACert != "" {
		args = append([]string{"--ca-bundle", srv.CACert}, args...)
	}
	cmd := exec.Command(aws, args...)
	cmd.Env = append(os.Environ(), srv.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aws s3 cp: %v\n%s", err, out)
	}
}
