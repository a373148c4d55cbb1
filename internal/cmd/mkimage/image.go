package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// spec is what goes into the image.
type spec struct {
	GFTP    string // the static gftp binary
	Arch    string // GOARCH of the image
	Version string
	CACerts string // the CA bundle
	Git     string // git, or empty for none
	Shell   string // the shell for /bin/sh, or empty for none
}

// epoch is the time of every file and of the image itself, so that the
// digest depends on the contents alone (the Unix epoch, as ko and
// reproducible-builds.org's SOURCE_DATE_EPOCH default do).
var epoch = time.Unix(0, 0).UTC()

const (
	binPath     = "/usr/local/bin/gftp"
	caPath      = "/etc/ssl/certs/ca-certificates.crt"
	imageSource = "https://github.com/gftp/gftp"
)

// gitconfig trusts every directory: CI systems check the repository out as
// one user and run the job as another, and git then refuses to read it
// ("dubious ownership"), which would fail gftp's config reads and dirty check.
const gitconfig = "[safe]\n\tdirectory = *\n"

// entry is one file, directory or symlink of the image's file system.
type entry struct {
	typ  byte // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode int64
	data []byte
	link string
}

// rootfs maps absolute paths to entries. Parent directories are implied.
type rootfs map[string]entry

func (r rootfs) file(p string, mode int64, data []byte) {
	r[p] = entry{typ: tar.TypeReg, mode: mode, data: data}
}
func (r rootfs) dir(p string, mode int64) { r[p] = entry{typ: tar.TypeDir, mode: mode} }
func (r rootfs) symlink(p, target string) {
	r[p] = entry{typ: tar.TypeSymlink, mode: 0o777, link: target}
}

// copy adds the host file host (after its symlinks) at p.
func (r rootfs) copy(p, host string, mode int64) error {
	data, err := os.ReadFile(host)
	if err != nil {
		return err
	}
	r.file(p, mode, data)
	return nil
}

// tar writes the file system as a tar stream: parents before children,
// names sorted, owner root, every time the epoch.
func (r rootfs) tar() ([]byte, error) {
	all := map[string]entry{}
	for p, e := range r {
		all[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = entry{typ: tar.TypeDir, mode: 0o755}
			}
		}
	}
	for p, e := range r { // explicit directories keep their mode
		all[p] = e
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		e := all[p]
		h := &tar.Header{Typeflag: e.typ, Name: strings.TrimPrefix(p, "/"), Mode: e.mode, ModTime: epoch, Linkname: e.link, Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			h.Name += "/"
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// build makes the image from s.
func build(s spec) (v1.Image, error) {
	fsys := rootfs{}
	if err := checkStatic(s.GFTP, s.Arch); err != nil {
		return nil, err
	}
	if err := fsys.copy(binPath, s.GFTP, 0o755); err != nil {
		return nil, fmt.Errorf("gftp binary: %w", err)
	}
	if err := fsys.copy(caPath, s.CACerts, 0o644); err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	fsys.file("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"))
	fsys.file("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	fsys.dir("/tmp", 0o1777)
	fsys.dir("/root", 0o700)
	if (s.Git != "" || s.Shell != "") && s.Arch != runtime.GOARCH {
		return nil, fmt.Errorf("git and sh come from this %s machine; an %s image can have neither (-git '' -sh '')", runtime.GOARCH, s.Arch)
	}
	var programs []string
	if s.Shell != "" {
		if err := fsys.copy("/bin/sh", s.Shell, 0o755); err != nil {
			return nil, fmt.Errorf("shell: %w", err)
		}
		programs = append(programs, s.Shell)
	}
	if s.Git != "" {
		exe, err := addGit(fsys, s.Git)
		if err != nil {
			return nil, err
		}
		programs = append(programs, exe...)
	}
	for _, p := range programs {
		if err := addLibraries(fsys, p); err != nil {
			return nil, err
		}
	}

	data, err := fsys.tar()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "gftp mkimage", Comment: "gftp, CA certificates, sh and git",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", s.Arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{binPath}
	cf.Config.Cmd = []string{"--help"}
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + caPath}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "gftp",
		"org.opencontainers.image.description": "Deploys a git repository to FTP, FTPES, FTPS, SFTP or S3, uploading only what changed.",
		"org.opencontainers.image.version":     s.Version,
		"org.opencontainers.image.source":      imageSource,
	}
	return mutate.ConfigFile(img, cf)
}

// checkStatic makes sure the gftp binary is a static Linux executable for
// arch: the image must not depend on the libraries that come with git.
func checkStatic(bin, arch string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("gftp binary %s: not a Linux executable: %w", bin, err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if want == elf.EM_NONE || f.Machine != want {
		return fmt.Errorf("gftp binary %s is for %s, not %s", bin, f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("gftp binary %s is linked dynamically: build it with CGO_ENABLED=0 (make release)", bin)
		}
	}
	return nil
}

// addGit adds git, its exec-path with the HTTP(S) transport (a shallow
// clone's missing commit is fetched over the clone's remote, usually
// HTTPS), and /etc/gitconfig. It returns the programs whose libraries the
// image needs.
func addGit(fsys rootfs, git string) ([]string, error) {
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git --exec-path: %w", err)
	}
	execPath := strings.TrimSpace(string(out))
	if !filepath.IsAbs(execPath) {
		return nil, fmt.Errorf("git's exec path %q is not absolute", execPath)
	}
	if err := fsys.copy("/usr/bin/git", git, 0o755); err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	http := filepath.Join(execPath, "git-remote-http")
	if err := fsys.copy(http, http, 0o755); err != nil {
		return nil, fmt.Errorf("git's HTTP transport: %w", err)
	}
	fsys.symlink(filepath.Join(execPath, "git-remote-https"), "git-remote-http")
	// git runs its own subcommands (fetch's index-pack) from the exec path.
	fsys.symlink(filepath.Join(execPath, "git"), "/usr/bin/git")
	fsys.file("/etc/gitconfig", 0o644, []byte(gitconfig))
	return []string{git, http}, nil
}

// addLibraries adds the shared libraries that program loads, at the paths
// the dynamic linker finds them on this machine, as ldd lists them.
func addLibraries(fsys rootfs, program string) error {
	out, err := exec.Command("ldd", program).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", program, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
		// "/lib64/ld-linux-x86-64.so.2 (0x...)" or "linux-vdso.so.1 (0x...)"
		line := strings.TrimSpace(sc.Text())
		if strings.Contains(line, "not found") {
			return fmt.Errorf("ldd %s: %s", program, line)
		}
		lib := line
		if _, after, ok := strings.Cut(line, "=>"); ok {
			lib = strings.TrimSpace(after)
		}
		lib, _, _ = strings.Cut(lib, " (")
		if !filepath.IsAbs(lib) {
			continue // the vDSO
		}
		if _, ok := fsys[lib]; ok {
			continue
		}
		if err := fsys.copy(lib, lib, 0o755); err != nil {
			return fmt.Errorf("library of %s: %w", program, err)
		}
	}
	return sc.Err()
}

// write stores img as an OCI image layout in dir (replacing it) and, when
// archive is not empty, as a `docker load` archive tagged ref.
func write(img v1.Image, dir, archive, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	_, version, _ := strings.Cut(ref, ":")
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version})); err != nil {
		return err
	}
	if archive == "" {
		return nil
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(archive, tag, img)
}
