package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// evilName would forge a log line if printed raw, and cannot travel in an
// FTP command.
const evilName = "evil\nINFO uploaded index.html"

// TestControlCharNames: a file name with LF is refused at plan time on FTP,
// naming the file (quoted) and the .git-ftp-ignore line that leaves it out;
// that line works; SFTP carries the name byte for byte; and no output, plan
// or -v log prints it raw.
func TestControlCharNames(t *testing.T) {
	g := gittest.New(t)
	g.Write("index.html", []byte("<h1>hi</h1>\n"))
	g.Write(evilName, []byte("evil content\n"))
	g.Write("tab\tname.txt", []byte("tab\n"))
	head := g.Commit("odd names")

	t.Run("vsftpd", func(t *testing.T) {
		srv := servers.Start(t, servers.VsftpdFTPES13)
		r := gftp(t, srv, g.Dir, "init", srv.URL)
		if r.code != 4 {
			t.Fatalf("init with a LF in a name: exit %d, want 4\n%s", r.code, r.stderr)
		}
		for _, want := range []string{
			`gftp: error: cannot deploy "evil\nINFO uploaded index.html": an FTP command cannot carry a file name with CR or LF`,
			"gftp: hint: rename the file, or exclude it with a line in .git-ftp-ignore such as evil?INFO uploaded index.html",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		forged(t, r.stderr+r.stdout)
		if got := gittest.Files(t, srv.Root); len(got) != 0 {
			t.Fatalf("the refused deploy touched the server: %v", got)
		}
		// The dry run refuses the same way, before printing a plan.
		if r := gftp(t, srv, g.Dir, "init", "--dry-run", srv.URL); r.code != 4 || strings.Contains(r.stdout, "upload") {
			t.Errorf("dry run: exit %d\n%s", r.code, r.stdout)
		}

		// The line the hint gives leaves it out.
		g.Write(".git-ftp-ignore", []byte("evil?INFO uploaded index.html\n"))
		head2 := g.Commit("ignore it")
		mustGftp(t, srv, g.Dir, "init", srv.URL)
		files := gittest.Files(t, srv.Root)
		if files[".git-ftp.log"] != head2+"\n" || files["index.html"] != "<h1>hi</h1>\n" || files["tab\tname.txt"] != "tab\n" {
			t.Errorf("server holds %q", files)
		}
		if _, ok := files[evilName]; ok {
			t.Error("the ignored file was uploaded")
		}
		g.Git("rm", "-q", ".git-ftp-ignore")
		g.Commit("no ignore")
	})

	t.Run("sshd", func(t *testing.T) {
		srv := servers.StartSSHD(t)
		r := mustGftp(t, srv, g.Dir, "init", "-v", "--deploy-rev", head, srv.URL)
		got, err := os.ReadFile(filepath.Join(srv.Root, evilName))
		if err != nil || string(got) != "evil content\n" {
			t.Fatalf("SFTP did not carry %q: %q, %v", evilName, got, err)
		}
		if !strings.Contains(r.stderr, `path="evil\nINFO uploaded index.html"`) {
			t.Errorf("-v does not quote the name:\n%s", r.stderr)
		}
		forged(t, r.stderr+r.stdout)
		d := mustGftp(t, srv, g.Dir, "push", "--dry-run", "--all", "--deploy-rev", head, srv.URL)
		if !strings.Contains(d.stdout, `upload  "evil\nINFO uploaded index.html"`) || !strings.Contains(d.stdout, `upload  "tab\tname.txt"`) {
			t.Errorf("the plan does not quote the names:\n%s", d.stdout)
		}
		forged(t, d.stdout)
	})
}

// forged fails when a line of output starts with what follows the LF in
// evilName: the name was printed raw.
func forged(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "INFO uploaded index.html") {
			t.Fatalf("a name forged a line:\n%s", out)
		}
	}
}
