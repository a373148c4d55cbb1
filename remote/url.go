package remote

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// ParseURL reads a target the way git-ftp does, and a little more:
//
//   - scheme://[user[:password]@]host[:port]/path for every transport;
//   - a bare host/path with no scheme means ftp://host/path (git-ftp);
//   - a local path (starting with "/", "./", "../" or "~/", or ".") or
//     file:///path means a directory on this machine.
//
// The password in a URL is kept in u.User; callers must not print u with it
// (use Redact).
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("parse url: empty URL")
	}
	if isLocalPath(raw) {
		abs, err := filepath.Abs(expandHome(raw))
		if err != nil {
			return nil, fmt.Errorf("parse url %q: %w", raw, err)
		}
		return &url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}, nil
	}
	if !strings.Contains(raw, "://") {
		raw = "ftp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", Redact(raw), unwrapURLError(err))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "file" && u.Host == "" {
		return nil, fmt.Errorf("parse url %q: no host", Redact(raw))
	}
	return u, nil
}

func isLocalPath(s string) bool {
	return s == "." || s == ".." || s == "~" ||
		strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") ||
		strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~/")
}

func expandHome(s string) string {
	if s == "~" || strings.HasPrefix(s, "~/") {
		if home, err := userHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(s, "~"))
		}
	}
	return s
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// redactUserinfo replaces the password of a URL's userinfo, even in a URL
// that does not parse: the text after the first ':' of what lies between
// the first "://" and the last '@' before the path.
func redactUserinfo(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	start := i + 3
	auth := raw[start:]
	if slash := strings.IndexByte(auth, '/'); slash >= 0 {
		auth = auth[:slash]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return raw
	}
	colon := strings.IndexByte(auth[:at], ':')
	if colon < 0 {
		return raw
	}
	return raw[:start+colon+1] + "****" + raw[start+at:]
}

// Redact returns the URL with any password replaced by "****". It works on
// URLs that do not parse too, since those end up in error messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		// Unparsed, or parsed without userinfo (a scheme that is not
		// one, "#://u:pw@"): what looks like a password still goes.
		return redactUserinfo(raw)
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "****")
	}
	return u.String()
}
