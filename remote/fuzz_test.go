package remote

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzParseURL: any target string parses or fails cleanly, and neither the
// parsed URL's redacted form nor the error ever shows the password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"ftp://u:pw@host/www", "ftpes://h:21//abs", "host/path", "/local", "sftp://u@h/~/w", "s3://b/p", "ftp://u:p@h:x/", "%zz://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseURL(raw)
		var pw string
		if i := strings.Index(raw, "://"); i >= 0 {
			rest := raw[i+3:]
			// Userinfo is what precedes the last '@' of the authority, which
			// ends at the first '/'.
			if slash := strings.Index(rest, "/"); slash >= 0 {
				rest = rest[:slash]
			}
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				if _, p, ok := strings.Cut(rest[:at], ":"); ok && len(p) >= 4 && !strings.ContainsAny(p, "?#") {
					pw = p
				}
			}
		}
		if err != nil {
			// The password may still appear where the rest of the input
			// has the same text (a user name "0000" with password "0000"):
			// count it only past those occurrences.
			if pw != "" && strings.Count(err.Error(), pw) > strings.Count(strings.Replace(raw, ":"+pw+"@", ":@", 1), pw) {
				t.Fatalf("error %q shows the password %q", err, pw)
			}
			return
		}
		if p, ok := u.User.Password(); ok && p != "****" {
			red, err := url.Parse(Redact(u.String()))
			if err != nil {
				t.Fatalf("Redact(%q) does not parse: %v", u.String(), err)
			}
			if rp, _ := red.User.Password(); rp != "****" {
				t.Fatalf("Redact(%q) = %q keeps the password", u.String(), red)
			}
		}
	})
}

// FuzzCheckName: a name CheckName lets through stays inside the root, both
// as a Unix server reads it and as a Windows one does ('\' a separator),
// and it is already clean; one it refuses is refused with ErrEscape.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"", "a", "a/b.txt", "../x", "a/../../x", "/etc/hostname", "a//b", "./a", "a/.", `..\x`, `a\..\..\x`, "a\x00b", "-rf", "#%?.txt", "ünï/cödé", "..a", "a..", "...", "a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckName(name)
		if err != nil {
			if !errors.Is(err, ErrEscape) {
				t.Fatalf("CheckName(%q) = %v, not ErrEscape", name, err)
			}
			return
		}
		if name == "" {
			return
		}
		if j := path.Join("/root", name); !strings.HasPrefix(j, "/root/") {
			t.Fatalf("CheckName(%q) passed, but it names %q", name, j)
		}
		// A Windows server: at worst the root itself, never above it.
		if j := path.Join("/root", strings.ReplaceAll(name, `\`, "/")); j != "/root" && !strings.HasPrefix(j, "/root/") {
			t.Fatalf("CheckName(%q) passed, but a Windows server reads %q", name, j)
		}
		if path.Clean(name) != name || strings.Contains(name, "\x00") {
			t.Fatalf("CheckName(%q) passed an unclean name", name)
		}
	})
}
