package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/remote/local"
)

// filePlan hashes the files of dir into a plan of FileUploads with their
// manifest, as gftp sync builds one: no repository, no marker.
func filePlan(t *testing.T, dir string) *deploy.Plan {
	t.Helper()
	p := &deploy.Plan{Manifest: manifest.New()}
	err := filepath.WalkDir(dir, func(f string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, f)
		e, err := manifest.HashFile(context.Background(), f)
		if err != nil {
			return err
		}
		e.Path = filepath.ToSlash(rel)
		p.Manifest.Set(e)
		p.Uploads = append(p.Uploads, deploy.FileUpload(e, f, "new"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Mkdirs = []deploy.Action{{Op: deploy.OpMkdir, Path: "sub"}}
	return p
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		f := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExecutorWithoutRepo: a plan of local files runs with Repo == nil,
// writes its manifest after the files, and no marker when it has none.
func TestExecutorWithoutRepo(t *testing.T) {
	ctx := context.Background()
	src, srv := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{"index.html": "<h1>", "sub/new\nline #%?.css": "body{}", "-dash": ""})
	p := filePlan(t, src)
	var ops []string
	for _, a := range p.Actions() {
		ops = append(ops, string(a.Op))
	}
	if got := strings.Join(ops, ","); got != "mkdir,upload,upload,upload,manifest" {
		t.Fatalf("actions: %s", got)
	}
	r, err := local.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&deploy.Executor{Remote: r, Jobs: 3}).Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 3 || !res.Manifest || res.Marker || res.Interrupted {
		t.Fatalf("result: %+v", res)
	}
	got, err := os.ReadFile(filepath.Join(srv, "sub", "new\nline #%?.css"))
	if err != nil || string(got) != "body{}" {
		t.Fatalf("uploaded file: %q %v", got, err)
	}
	raw, err := os.ReadFile(filepath.Join(srv, manifest.Name))
	if err != nil || !bytes.Equal(raw, p.Manifest.Bytes()) {
		t.Fatalf("manifest on the server: %q %v", raw, err)
	}
	if _, err := os.Stat(filepath.Join(srv, deploy.DefaultMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a plan without a marker wrote one: %v", err)
	}
	entries, _ := os.ReadDir(srv)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".gftp-tmp-") || e.Name() == deploy.JournalName {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestManifestNotWrittenOnFailure: when an upload fails, neither the
// manifest nor the marker moves, and the next run skips what the failed
// one delivered (the journal keeps local files by digest).
func TestManifestNotWrittenOnFailure(t *testing.T) {
	ctx := context.Background()
	src, srv := t.TempDir(), t.TempDir()
	writeFiles(t, src, map[string]string{"a.css": "a", "b.js": "bb", "c.txt": "ccc"})
	p := filePlan(t, src)
	p.Marker = deploy.DefaultMarker
	old := []byte("old manifest stays\n")
	if err := os.WriteFile(filepath.Join(srv, manifest.Name), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(src, "b.js")); err != nil {
		t.Fatal(err)
	}
	r, err := local.New(srv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&deploy.Executor{Remote: r, Jobs: 1}).Run(ctx, p)
	var fe *deploy.FailedError
	if !errors.As(err, &fe) || res.Manifest || res.Marker {
		t.Fatalf("err %v, result %+v", err, res)
	}
	if raw, _ := os.ReadFile(filepath.Join(srv, manifest.Name)); !bytes.Equal(raw, old) {
		t.Fatalf("the manifest moved after a failure: %q", raw)
	}
	if _, err := os.Stat(filepath.Join(srv, deploy.DefaultMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker moved after a failure: %v", err)
	}
	writeFiles(t, src, map[string]string{"b.js": "bb"})
	res, err = (&deploy.Executor{Remote: r, Jobs: 1}).Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 2 || res.Uploaded != 1 || !res.Manifest || !res.Marker {
		t.Errorf("second run: %+v", res)
	}
	if raw, _ := os.ReadFile(filepath.Join(srv, manifest.Name)); !bytes.Equal(raw, p.Manifest.Bytes()) {
		t.Fatalf("manifest after the second run: %q", raw)
	}
}
