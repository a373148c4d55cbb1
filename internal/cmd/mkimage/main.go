// Command mkimage builds gftp's container image without a container daemon:
// an OCI image layout directory and a `docker load` archive, from the static
// gftp binary, a CA bundle, a shell, and git with the shared libraries it
// loads, all taken from the build machine (Debian 12 in CI). `make image`
// runs it. The image is reproducible: the same inputs give the same digest
// (fixed times, sorted entries, no build-machine details).
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var s spec
	flag.StringVar(&s.GFTP, "gftp", "dist/gftp-linux-amd64", "the static gftp binary for the image's platform")
	flag.StringVar(&s.Arch, "arch", "amd64", "the image's architecture (GOARCH); git and sh come from this machine, so it must be this machine's")
	flag.StringVar(&s.Version, "version", "dev", "the version, for the image's labels and tag")
	flag.StringVar(&s.CACerts, "cacerts", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to install")
	flag.StringVar(&s.Git, "git", "/usr/bin/git", "the git to install, with its HTTP helper and their libraries (empty: no git)")
	flag.StringVar(&s.Shell, "sh", "/usr/bin/dash", "the POSIX shell to install as /bin/sh (empty: none)")
	layoutDir := flag.String("oci", "dist/image", "write an OCI image layout directory here")
	archive := flag.String("docker", "dist/gftp-image.tar", "write a `docker load` archive here (empty: none)")
	repo := flag.String("name", "gftp", "the image's repository name in the archive's tag")
	flag.Parse()

	img, err := build(s)
	if err == nil {
		err = write(img, *layoutDir, *archive, *repo+":"+s.Version)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Printf("%s %s\n", d, *layoutDir)
}
