package deploy_test

import (
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy"
)

// FuzzParseMarker: whatever a server returns as the marker, parsing never
// panics, and an accepted marker is exactly a trimmed 40-hex SHA.
func FuzzParseMarker(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef01234567\n"))
	f.Add([]byte("  0123456789ABCDEF0123456789abcdef01234567\r\n"))
	f.Add([]byte("<html>404</html>"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := deploy.ParseMarker(".git-ftp.log", data)
		if err != nil {
			return
		}
		if got, want := h.String(), strings.ToLower(strings.TrimSpace(string(data))); got != want {
			t.Fatalf("accepted %q as %s", data, got)
		}
	})
}

// FuzzIgnore: any .git-ftp-ignore parses, and matching any path never
// panics; a pattern without glob characters matches itself.
func FuzzIgnore(f *testing.F) {
	f.Add("*.log\n# c\r\n\nsrc/[!a]?.go\n\\*lit\nx[\n[[:digit:]]", "src/b1.go")
	f.Add("a/**/b", "a/x/y/b")
	f.Fuzz(func(t *testing.T, file, path string) {
		ig := deploy.ParseIgnore([]byte(file))
		ig.Match(path)
		if path != "" && !strings.ContainsAny(path, "*?[\\\n\r") && !strings.HasPrefix(path, "#") && strings.TrimSpace(path) != "" {
			if !deploy.ParseIgnore([]byte(path)).Match(path) {
				t.Fatalf("literal pattern %q does not match itself", path)
			}
		}
	})
}

// FuzzInclude: any .git-ftp-include either parses into rules with targets,
// or fails with an error naming the file; it never panics.
func FuzzInclude(f *testing.F) {
	f.Add("!build/\ncss/a.css:scss/a.scss\n# c\n:x\n!\n", "site")
	f.Fuzz(func(t *testing.T, file, syncroot string) {
		rules, err := deploy.ParseInclude([]byte(file), syncroot)
		if err != nil {
			if !strings.Contains(err.Error(), deploy.IncludeFile) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, r := range rules {
			if r.Target == "" && !r.Always() {
				t.Fatalf("rule %+v has no target", r)
			}
		}
	})
}
