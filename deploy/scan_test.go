package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy/manifest"
)

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func scanPaths(s *Scan) map[string]string {
	out := map[string]string{}
	for _, f := range s.Files {
		out[f.Path] = fmt.Sprintf("%d:%x", f.Size, f.SHA256[:4])
	}
	return out
}

func sum4(s string) string {
	h := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%d:%x", len(s), h[:4])
}

// TestScanDir: excludes, gftp's reserved names, .git, and symlinks that
// stay inside the directory (followed) or leave it (skipped, warned).
func TestScanDir(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.txt": "s3cret"})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"index.html":         "<h1>hi</h1>",
		"css/a.css":          "a{}",
		"css/a.css.map":      "{}",
		"drafts/x.md":        "x",
		".git/config":        "[core]",
		".git-ftp.log":       "abc",
		".gftp-manifest":     "forged",
		"sub/.git-ftp.log":   "not reserved below the top",
		SyncIgnoreFile:       "drafts/*\n",
		"shared/logo.svg":    "<svg/>",
		"deep/nested/file.t": "deep",
	})
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("css/a.css", filepath.Join(dir, "link.css")))
	must(os.Symlink("../shared", filepath.Join(dir, "css", "shared")))
	must(os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "leak.txt")))
	must(os.Symlink(outside, filepath.Join(dir, "leakdir")))
	must(os.Symlink("nowhere", filepath.Join(dir, "dangling")))
	must(os.Symlink(".", filepath.Join(dir, "self")))

	ig, err := LoadSyncIgnore(dir, "", []string{"*.map"})
	must(err)
	s, err := ScanDir(context.Background(), dir, ScanOptions{Exclude: ig, Reserved: []string{".git-ftp.log", ".gftp-manifest"}, Jobs: 3})
	must(err)
	want := map[string]string{
		"index.html":          sum4("<h1>hi</h1>"),
		"css/a.css":           sum4("a{}"),
		"link.css":            sum4("a{}"),
		"css/shared/logo.svg": sum4("<svg/>"),
		"shared/logo.svg":     sum4("<svg/>"),
		"sub/.git-ftp.log":    sum4("not reserved below the top"),
		"deep/nested/file.t":  sum4("deep"),
	}
	if got := scanPaths(s); !reflect.DeepEqual(got, want) {
		t.Errorf("scan:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(s.Excluded, []string{"css/a.css.map", "drafts/x.md"}) {
		t.Errorf("excluded %v", s.Excluded)
	}
	warnings := strings.Join(s.Warnings, "\n")
	for _, w := range []string{"leak.txt: it points outside", "leakdir: it points outside", "dangling: its target does not exist", "self", ".git-ftp.log: the name is gftp's own", ".gftp-manifest: the name is gftp's own"} {
		if !strings.Contains(warnings, w) {
			t.Errorf("no warning %q in:\n%s", w, warnings)
		}
	}
	if strings.Contains(fmt.Sprint(scanPaths(s)), "s3cret") {
		t.Error("a file outside the directory was deployed")
	}
}

// TestScanUnreadable: a file that cannot be read fails the scan with a
// LocalError (exit 10).
func TestScanUnreadable(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a", "b/locked.txt": "b"})
	if err := os.Chmod(filepath.Join(dir, "b", "locked.txt"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := ScanDir(context.Background(), dir, ScanOptions{})
	var le *LocalError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "locked.txt") {
		t.Fatalf("scan of an unreadable file: %v, want a LocalError naming it", err)
	}
}

func TestSyncPlan(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"index.html":        "v2",
		"assets/app.123.js": "js new",
		"assets/keep.css":   "css",
		"uploads/user.jpg":  "jpg",
	})
	ig, _ := LoadSyncIgnore(dir, "", []string{"uploads/*"})
	s, err := ScanDir(context.Background(), dir, ScanOptions{Exclude: ig})
	if err != nil {
		t.Fatal(err)
	}
	k := func(p, c string) manifest.Entry {
		return manifest.Entry{Path: p, Size: int64(len(c)), SHA256: sha256.Sum256([]byte(c))}
	}
	old := manifest.New(k("index.html", "v1"), k("assets/app.999.js", "js old"), k("assets/keep.css", "css"),
		k("old/gone/a.txt", "a"), k("uploads/user.jpg", "jpg"))
	p, err := NewSyncPlan(s, SyncPlanOptions{Old: old, Extra: []string{"stray.txt", "uploads/other.jpg", "index.html"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range p.Actions() {
		got = append(got, string(a.Op)+" "+a.Path+" ("+a.Reason+")")
	}
	want := []string{
		"upload assets/app.123.js (new)",
		"upload index.html (modified)",
		"delete assets/app.999.js (gone locally)",
		"delete old/gone/a.txt (gone locally)",
		"delete stray.txt (extra on the server)",
		"rmdir old/gone (emptied)",
		"rmdir old (emptied)",
		"manifest .gftp-manifest (4 files not from a commit)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n got %q\nwant %q", got, want)
	}
	var names []string
	for _, e := range p.Manifest.Entries() {
		names = append(names, e.Path)
	}
	if !reflect.DeepEqual(names, []string{"assets/app.123.js", "assets/keep.css", "index.html", "uploads/user.jpg"}) {
		t.Errorf("new manifest: %v", names)
	}

	// A manifest with a refused entry (a path out of the target) is not
	// trusted: nothing is deleted (not even --delete-extra's), every local
	// file is sent, and the new manifest forgets what the forged one
	// listed, so that no later sync deletes a file on its word.
	var body bytes.Buffer
	for _, line := range strings.SplitAfter(strings.TrimSuffix(string(old.Bytes()), "\n"), "\n") {
		if strings.HasPrefix(line, "gftp-manifest") || strings.HasPrefix(line, "end ") {
			continue
		}
		if body.Len() == 0 { // "../" sorts first
			body.WriteString(strings.Repeat("0", 64) + " 1 ../../etc/passwd\n")
		}
		body.WriteString(line)
	}
	forged := fmt.Sprintf("gftp-manifest 1\n%send %d %x\n", body.String(), strings.Count(body.String(), "\n"), sha256.Sum256(body.Bytes()))
	untrusted, warns, err := manifest.Parse(strings.NewReader(forged))
	if err != nil || len(warns) != 1 || untrusted.Trusted() {
		t.Fatalf("forged manifest: %v, %v, trusted %v", err, warns, untrusted.Trusted())
	}
	p, _ = NewSyncPlan(s, SyncPlanOptions{Old: untrusted, Extra: []string{"stray.txt"}})
	names = nil
	for _, e := range p.Manifest.Entries() {
		names = append(names, e.Path)
	}
	if len(p.Deletes) != 0 || len(p.Uploads) != 3 || !reflect.DeepEqual(names, []string{"assets/app.123.js", "assets/keep.css", "index.html"}) {
		t.Errorf("untrusted: %d deletes, %d uploads, new manifest %q", len(p.Deletes), len(p.Uploads), names)
	}
	p, _ = NewSyncPlan(s, SyncPlanOptions{Old: manifest.New()})
	if len(p.Deletes) != 0 {
		t.Errorf("empty manifest: %d deletes", len(p.Deletes))
	}

	// Rebuilding from the server's sizes.
	p, _ = NewSyncPlan(s, SyncPlanOptions{Sizes: map[string]int64{"index.html": 2, "assets/app.123.js": 1, "zzz": 4}})
	got = nil
	for _, a := range p.Uploads {
		got = append(got, a.Path+" ("+a.Reason+")")
	}
	if !reflect.DeepEqual(got, []string{"assets/app.123.js (another size on the server)", "assets/keep.css (not on the server)"}) || len(p.Deletes) != 0 {
		t.Errorf("rebuild: %q, %d deletes", got, len(p.Deletes))
	}
}
