// Command gftp-demo runs gftp's main job end to end on a fresh machine that
// has only Go and git: it starts an embedded FTPES server on a free loopback
// port, makes a sample repository, runs `gftp init`, commits a change, runs
// `gftp push`, and shows what landed on the server. `make demo` runs it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gftp/gftp/remote/ftp/ftptest"
)

func main() {
	gftp := flag.String("gftp", "bin/gftp", "the gftp binary to run")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()
	if err := demo(*gftp, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %v\n", err)
		os.Exit(1)
	}
}

func demo(gftp string, keep bool) error {
	gftp, err := filepath.Abs(gftp)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "gftp-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}
	root, repo := filepath.Join(work, "server"), filepath.Join(work, "site")
	for _, d := range []string{root, repo} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	srv, err := ftptest.Start(root, ftptest.Config{User: "demo", Password: "demo-secret", TLS: ftptest.RequireTLS})
	if err != nil {
		return fmt.Errorf("start the embedded FTP server: %w", err)
	}
	defer srv.Close()
	fmt.Printf("== An FTPES server (TLS required) listens on %s, serving %s\n", srv.Addr(), root)

	env := append(os.Environ(), "GFTP_USER=demo", "GFTP_PASSWORD=demo-secret",
		"GIT_AUTHOR_NAME=Demo", "GIT_AUTHOR_EMAIL=demo@example.com",
		"GIT_COMMITTER_NAME=Demo", "GIT_COMMITTER_EMAIL=demo@example.com", "GIT_CONFIG_NOSYSTEM=1")
	git := func(args ...string) error { return runIn(repo, env, false, "git", args...) }
	write := func(name, content string) error {
		p := filepath.Join(repo, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(content), 0o644)
	}

	fmt.Println("\n== A sample site in a git repository")
	files := map[string]string{
		"index.html":            "<h1>Welcome</h1>\n",
		"css/site.css":          "body { font: 16px sans-serif }\n",
		"about us/#1 team.html": "<p>Names with spaces, # and unicode: ü</p>\n",
		"drafts/old-post.html":  "<p>to be removed</p>\n",
		".git-ftp-ignore":       "*.md\n",
		"README.md":             "Not deployed: listed in .git-ftp-ignore.\n",
	}
	if err := git("init", "-q", "-b", "main"); err != nil {
		return err
	}
	for name, content := range files {
		if err := write(name, content); err != nil {
			return err
		}
	}
	if err := git("add", "-A"); err != nil {
		return err
	}
	if err := git("commit", "-q", "-m", "First version of the site"); err != nil {
		return err
	}

	url := srv.URL()
	gftpRun := func(args ...string) error {
		fmt.Printf("\n$ gftp %s\n", strings.Join(args, " "))
		return runIn(repo, env, true, gftp, args...)
	}
	if err := gftpRun("init", "--cacert", srv.CACertFile(), url); err != nil {
		return err
	}

	fmt.Println("\n== A second commit: one change, one new file, one deletion")
	if err := write("index.html", "<h1>Welcome back</h1>\n"); err != nil {
		return err
	}
	if err := write("blog/first post.html", "<p>Hello</p>\n"); err != nil {
		return err
	}
	if err := git("rm", "-q", "drafts/old-post.html"); err != nil {
		return err
	}
	if err := git("add", "-A"); err != nil {
		return err
	}
	if err := git("commit", "-q", "-m", "Update the site"); err != nil {
		return err
	}
	if err := gftpRun("push", "--dry-run", "--cacert", srv.CACertFile(), url); err != nil {
		return err
	}
	if err := gftpRun("push", "-v", "--cacert", srv.CACertFile(), url); err != nil {
		return err
	}

	fmt.Printf("\n== What the server holds now (%s)\n", root)
	var names []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		data, _ := os.ReadFile(filepath.Join(root, n))
		fmt.Printf("  %-28s %q\n", n, strings.TrimSpace(string(data)))
	}

	// Check what landed against the commit, byte for byte.
	head, err := output(repo, env, "git", "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	marker, _ := os.ReadFile(filepath.Join(root, ".git-ftp.log"))
	if string(marker) != head+"\n" {
		return fmt.Errorf("the marker holds %q, want %q", marker, head)
	}
	tracked, err := output(repo, env, "git", "ls-files", "-z")
	if err != nil {
		return err
	}
	want := 1 // the marker
	for _, n := range strings.Split(tracked, "\x00") {
		if n == "" || strings.HasSuffix(n, ".md") {
			continue
		}
		want++
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(n)))
		local, _ := os.ReadFile(filepath.Join(repo, filepath.FromSlash(n)))
		if err != nil || !bytes.Equal(got, local) {
			return fmt.Errorf("%s on the server differs from the commit", n)
		}
	}
	if len(names) != want {
		return fmt.Errorf("the server holds %d files, want %d", len(names), want)
	}
	fmt.Printf("\nOK: the server holds exactly commit %s, and .git-ftp.log records it.\n", head[:7])
	return nil
}

func runIn(dir string, env []string, show bool, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	if show {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	} else {
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		defer func() {
			if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
				os.Stderr.Write(out.Bytes())
			}
		}()
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func output(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
