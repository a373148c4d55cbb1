package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

var staticGFTP string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	staticGFTP = filepath.Join(dir, "gftp")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=image-test", "-o", staticGFTP, "github.com/gftp/gftp/cmd/gftp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gftp: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if built.oci != "" {
		os.RemoveAll(filepath.Dir(built.oci))
	}
	os.Exit(code)
}

func testSpec(t *testing.T) spec {
	if runtime.GOOS != "linux" {
		t.Skip("the image takes git and sh from a Linux machine")
	}
	s := spec{GFTP: staticGFTP, Arch: runtime.GOARCH, Version: "v0.0.0-test", CACerts: "/etc/ssl/certs/ca-certificates.crt", Git: "/usr/bin/git", Shell: "/usr/bin/dash"}
	for _, f := range []string{s.CACerts, s.Git, s.Shell} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("make image needs %s (Debian: ca-certificates, git, dash): %v", f, err)
		}
	}
	return s
}

// buildTo builds the image and writes it to a new directory; it returns
// the layout directory and the docker archive.
func buildTo(t *testing.T, s spec) (string, string) {
	img, err := build(s)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	oci, archive := filepath.Join(dir, "image"), filepath.Join(dir, "image.tar")
	if err := write(img, oci, archive, "gftp:"+s.Version); err != nil {
		t.Fatal(err)
	}
	return oci, archive
}

func readImage(t *testing.T, dir string) v1.Image {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v0.0.0-test" {
		t.Fatalf("index: %+v", m.Manifests)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// built is the image the tests share: a build takes a while (50 MB of
// gzip).
var built struct {
	once     sync.Once
	oci, tar string
	err      error
}

func sharedImage(t *testing.T) (string, string) {
	s := testSpec(t)
	built.once.Do(func() {
		img, err := build(s)
		if err != nil {
			built.err = err
			return
		}
		dir, err := os.MkdirTemp("", "mkimage-image-")
		if err != nil {
			built.err = err
			return
		}
		built.oci, built.tar = filepath.Join(dir, "image"), filepath.Join(dir, "image.tar")
		built.err = write(img, built.oci, built.tar, "gftp:"+s.Version)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.oci, built.tar
}

// TestImageReproducible builds the image twice and gets the same bytes.
func TestImageReproducible(t *testing.T) {
	oci1, tar1 := sharedImage(t)
	oci2, tar2 := buildTo(t, testSpec(t))
	d1, err := readImage(t, oci1).Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := readImage(t, oci2).Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("two builds: digests %s and %s", d1, d2)
	}
	for _, pair := range [][2]string{{tar1, tar2}, {filepath.Join(oci1, "index.json"), filepath.Join(oci2, "index.json")}} {
		a, _ := os.ReadFile(pair[0])
		b, _ := os.ReadFile(pair[1])
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s and %s differ", pair[0], pair[1])
		}
	}
}

// file is one entry of the image's layer.
type file struct {
	hdr  *tar.Header
	data []byte
}

func layerFiles(t *testing.T, img v1.Image) ([]string, map[string]file) {
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(h.Name, "/")
		names = append(names, name)
		files[name] = file{h, data}
	}
	return names, files
}

// TestImageContents checks the image's configuration and its files: the
// gftp binary, executable, the CA bundle, sh and git; all owned by root,
// dated the epoch, in sorted order.
func TestImageContents(t *testing.T) {
	s := testSpec(t)
	oci, _ := sharedImage(t)
	img := readImage(t, oci)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Time.Equal(epoch) {
		t.Errorf("config: os %s, architecture %s, created %s", cf.OS, cf.Architecture, cf.Created)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/gftp"}) || !slices.Equal(cf.Config.Cmd, []string{"--help"}) {
		t.Errorf("entrypoint %q, cmd %q", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	for _, env := range []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"} {
		if !slices.Contains(cf.Config.Env, env) {
			t.Errorf("env %q lacks %s", cf.Config.Env, env)
		}
	}
	if cf.Config.Labels["org.opencontainers.image.version"] != s.Version {
		t.Errorf("labels: %v", cf.Config.Labels)
	}

	names, files := layerFiles(t, img)
	if !slices.IsSorted(names) {
		t.Errorf("entries are not sorted: %q", names)
	}
	for _, f := range files {
		if !f.hdr.ModTime.Equal(epoch) || f.hdr.Uid != 0 || f.hdr.Gid != 0 {
			t.Errorf("%s: time %s, owner %d:%d", f.hdr.Name, f.hdr.ModTime, f.hdr.Uid, f.hdr.Gid)
		}
	}
	same := func(p, host string, mode int64) {
		t.Helper()
		f, ok := files[p]
		want, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || f.hdr.Typeflag != tar.TypeReg || f.hdr.Mode != mode || !bytes.Equal(f.data, want) {
			t.Errorf("%s: present %v, mode %o, same as %s %v", p, ok, f.hdr.Mode, host, ok && bytes.Equal(f.data, want))
		}
	}
	same("/usr/local/bin/gftp", s.GFTP, 0o755)
	same("/etc/ssl/certs/ca-certificates.crt", s.CACerts, 0o644)
	same("/bin/sh", s.Shell, 0o755)
	same("/usr/bin/git", s.Git, 0o755)
	if f := files["/etc/gitconfig"]; !strings.Contains(string(f.data), "directory = *") {
		t.Errorf("/etc/gitconfig: %q", f.data)
	}
	if f := files["/tmp"]; f.hdr == nil || f.hdr.Typeflag != tar.TypeDir || f.hdr.Mode != 0o1777 {
		t.Errorf("/tmp is not a sticky, world-writable directory")
	}
}

// TestImageRefusesDynamicBinary: a gftp built with cgo would need the
// libraries that came with git; the build says how to make a static one.
func TestImageRefusesDynamicBinary(t *testing.T) {
	s := testSpec(t)
	s.GFTP = s.Git // a dynamically linked executable
	if _, err := build(s); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("a dynamic binary: %v", err)
	}
	s.GFTP = s.CACerts
	if _, err := build(s); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("not an executable: %v", err)
	}
}

// extract unpacks the image's file system into dir, as a container runtime
// does, and gives it the /dev/null every runtime mounts.
func extract(t *testing.T, img v1.Image, dir string) {
	_, files := layerFiles(t, img)
	for name, f := range files {
		p := filepath.Join(dir, name)
		switch f.hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(p, os.FileMode(f.hdr.Mode&0o777)|os.ModeSticky*os.FileMode(f.hdr.Mode>>9&1))
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, f.data, os.FileMode(f.hdr.Mode)); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Symlink(f.hdr.Linkname, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "dev", "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
}

// TestImageRuns runs the image's programs inside its own file system
// (chroot, as root): a deploy with gftp, which reads git config and asks
// git status, git's HTTPS transport loading its libraries, and sh.
func TestImageRuns(t *testing.T) {
	testSpec(t)
	if os.Geteuid() != 0 {
		if os.Getenv("GFTP_REAL_SERVERS") == "1" {
			t.Fatal("TestImageRuns needs root (chroot)")
		}
		t.Skip("TestImageRuns needs root (chroot); CI runs it as root")
	}
	oci, _ := sharedImage(t)
	root := t.TempDir()
	extract(t, readImage(t, oci), root)

	// A repository in the image's file system, as a CI job mounts one.
	site := filepath.Join(root, "builds", "site")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", site}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>from the image</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "first")
	head := git("rev-parse", "HEAD")
	git("config", "git-ftp.url", "/srv/www") // read by gftp through git config

	run := func(dir string, args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("/builds/site", "/usr/local/bin/gftp", "push", "--auto-init"); err != nil {
		t.Fatalf("gftp push in the image: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(root, "srv", "www", "index.html"))
	if err != nil || string(got) != "<h1>from the image</h1>\n" {
		t.Errorf("deployed index.html: %q, %v", got, err)
	}
	if log, _ := os.ReadFile(filepath.Join(root, "srv", "www", ".git-ftp.log")); !strings.HasPrefix(string(log), head) {
		t.Errorf(".git-ftp.log = %q, want %s", log, head)
	}

	// A dirty tree: gftp asks git status, and refuses.
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run("/builds/site", "/usr/local/bin/gftp", "push"); err == nil || !strings.Contains(out, "index.html") {
		t.Errorf("gftp push of a dirty tree in the image: %v\n%s", err, out)
	}

	// git's HTTPS transport loads (libcurl and TLS libraries present): it
	// gets as far as connecting.
	out, err := run("/", "/usr/bin/git", "ls-remote", "https://127.0.0.1:1/x.git")
	if err == nil || !strings.Contains(out, "Failed to connect to 127.0.0.1 port 1") {
		t.Errorf("git ls-remote https in the image: %v\n%s", err, out)
	}
	if out, err := run("/", "/bin/sh", "-c", "echo ok from sh"); err != nil || out != "ok from sh\n" {
		t.Errorf("sh in the image: %v %q", err, out)
	}
}
