package action

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/internal/gittest"
)

// TestActionSyncDir uses the action with the dir input against an FTPES
// server with nothing on it, from a workspace that is no repository (a
// build's output): it runs gftp sync, so the second use sends only the
// changed asset and deletes the stale one, and writes no marker.
func TestActionSyncDir(t *testing.T) {
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t)
	rel.publish(t, asset, "")
	srv, root := ftpServer(t)
	work := t.TempDir()
	build := func(files map[string]string) {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(work, "public")); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			p := filepath.Join(work, "public", filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	with := map[string]string{
		"url":      "ftpes://" + srv.Addr() + "/www",
		"user":     "deploy",
		"password": password,
		"dir":      "public",
		"args":     "--cacert '" + srv.CACertFile() + "' --exclude '*.map'",
	}
	build(map[string]string{"index.html": "<h1>one</h1>\n", "assets/app.1111.js": "one()\n", "assets/app.1111.js.map": "{}", "img/logo.svg": "<svg/>\n"})
	r := newRunner(t, rel)
	res := r.use(work, with)
	if res.failed {
		t.Fatalf("first sync failed:\n%s", res.log)
	}
	for k, v := range map[string]string{"uploaded": "3", "deleted": "0", "exit-code": "0", "commit": ""} {
		if res.outputs[k] != v {
			t.Errorf("first sync: output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	files := gittest.Files(t, filepath.Join(root, "www"))
	if files["index.html"] != "<h1>one</h1>\n" || files["assets/app.1111.js"] != "one()\n" || !strings.HasPrefix(files[".gftp-manifest"], "gftp-manifest 1\n") {
		t.Errorf("server after the first sync: %v", files)
	}
	if _, ok := files[".git-ftp.log"]; ok {
		t.Errorf("a sync wrote a marker")
	}
	if _, ok := files["assets/app.1111.js.map"]; ok {
		t.Errorf("the excluded source map was uploaded")
	}
	if !strings.Contains(res.log, "gftp sync --json") || !strings.Contains(res.summary, "### gftp sync to `ftpes://") {
		t.Errorf("the action did not run gftp sync:\n%s\n%s", res.log, res.summary)
	}

	build(map[string]string{"index.html": "<h1>two</h1>\n", "assets/app.2222.js": "two()\n", "img/logo.svg": "<svg/>\n"})
	res = r.use(work, with)
	if res.failed {
		t.Fatalf("second sync failed:\n%s", res.log)
	}
	for k, v := range map[string]string{"uploaded": "2", "deleted": "1", "exit-code": "0"} {
		if res.outputs[k] != v {
			t.Errorf("second sync: output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	files = gittest.Files(t, filepath.Join(root, "www"))
	if _, ok := files["assets/app.1111.js"]; ok || files["assets/app.2222.js"] != "two()\n" || files["img/logo.svg"] != "<svg/>\n" {
		t.Errorf("server after the second sync: %v", files)
	}

	// dir with another command, or a dir that is not there, fails the
	// step before gftp runs.
	for _, bad := range []map[string]string{{"command": "init"}, {"dir": "dist"}} {
		w := map[string]string{}
		for k, v := range with {
			w[k] = v
		}
		for k, v := range bad {
			w[k] = v
		}
		res := newRunner(t, rel).use(work, w)
		if errs := errorLines(res.log); !res.failed || len(errs) != 1 || !strings.Contains(errs[0], `the input "dir"`) || strings.Contains(res.log, "gftp sync --json") {
			t.Errorf("%v: failed=%v errors=%q\n%s", bad, res.failed, errs, res.log)
		}
	}
}
