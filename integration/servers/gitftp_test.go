package servers

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitFTP pushes a repository with git-ftp, the tool gftp replaces, to
// every kind of server, so that the servers are known to work as targets
// for it and can serve as an oracle for gftp's behaviour.
func TestGitFTP(t *testing.T) {
	for _, tool := range []string{"git", "git-ftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			Unavailable(t, tool+" not found", "apt-get install git git-ftp")
		}
	}
	for _, kind := range FTPKinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind)
			repo := t.TempDir()
			git := func(args ...string) string {
				t.Helper()
				cmd := exec.Command("git", args...)
				cmd.Dir = repo
				cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
					"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "HOME="+repo)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			git("init", "-q", "-b", "main")
			files := map[string]string{"index.html": "<h1>hi</h1>\n", "css/site.css": "body{}\n"}
			for name, content := range files {
				p := filepath.Join(repo, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			git("add", ".")
			git("commit", "-q", "-m", "first")
			args := []string{"ftp", "init", "--user", s.User, "--passwd", s.Password}
			if s.CACert != "" {
				args = append(args, "--cacert", s.CACert)
			}
			if kind.TLS() && kind != PureFTPdTLS {
				// Over TLS 1.3, the curl under git-ftp meets vsftpd's upload
				// quirk (see ftp.go), and proftpd refuses its second data
				// connection on one control connection ("client did not
				// reuse TLS session"). git-ftp passes curl options through
				// neither flag nor config, but curl reads ~/.curlrc.
				if err := os.WriteFile(filepath.Join(repo, ".curlrc"), []byte("tls-max = 1.2\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			git(append(args, s.URL)...)
			for name, content := range files {
				got, err := os.ReadFile(filepath.Join(s.Root, name))
				if err != nil || !bytes.Equal(got, []byte(content)) {
					t.Errorf("%s in Root: %q, %v; want %q", name, got, err, content)
				}
			}
			head := strings.TrimSpace(git("rev-parse", "HEAD"))
			if got, err := os.ReadFile(filepath.Join(s.Root, ".git-ftp.log")); err != nil || strings.TrimSpace(string(got)) != head {
				t.Errorf(".git-ftp.log in Root: %q, %v; want %s", got, err, head)
			}
		})
	}
}
