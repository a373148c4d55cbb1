package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// IgnoreFile and IncludeFile are read from the top of the work tree, as
// git-ftp reads them.
const (
	IgnoreFile  = ".git-ftp-ignore"
	IncludeFile = ".git-ftp-include"
)

// Ignore is the parsed .git-ftp-ignore: shell globs matched against the
// whole repository-relative path (syncroot prefix included), with the
// semantics of a bash `case` pattern: '*' also matches '/'.
type Ignore struct {
	patterns []*regexp.Regexp
	sources  []string
}

// ParseIgnore reads .git-ftp-ignore content. '#' comments and blank lines
// are skipped and CR is stripped, as git-ftp does with grep and tr.
func ParseIgnore(data []byte) *Ignore {
	ig := &Ignore{}
	for _, line := range lines(data) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		ig.patterns = append(ig.patterns, globRegexp(line))
		ig.sources = append(ig.sources, line)
	}
	return ig
}

// LoadIgnore reads the work tree's .git-ftp-ignore; a missing file ignores
// nothing.
func LoadIgnore(dir string) (*Ignore, error) {
	data, err := os.ReadFile(filepath.Join(dir, IgnoreFile))
	if os.IsNotExist(err) {
		return &Ignore{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseIgnore(data), nil
}

// Match reports whether the repository-relative path is ignored.
func (ig *Ignore) Match(repoPath string) bool {
	if ig == nil {
		return false
	}
	for _, re := range ig.patterns {
		if re.MatchString(repoPath) {
			return true
		}
	}
	return false
}

// Len is the number of patterns.
func (ig *Ignore) Len() int { return len(ig.patterns) }

// lines splits on LF and strips every CR.
func lines(data []byte) []string {
	data = bytes.ReplaceAll(data, []byte("\r"), nil)
	return strings.Split(string(data), "\n")
}

// globRegexp translates a bash pattern ('*', '?', '[...]' with '!' or '^'
// negation, and backslash escapes) to an anchored regexp. An unterminated
// '[' is a literal, as in bash.
func globRegexp(pat string) *regexp.Regexp {
	// regexp reads its input as UTF-8, each invalid byte as one U+FFFD; the
	// pattern must say the same (a []rune conversion does exactly that), or
	// even its literal fallback panics.
	pat = string([]rune(pat))
	var b strings.Builder
	b.WriteString(`^(?s:`)
	rs := []rune(pat)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+1 < len(rs) {
				i++
				b.WriteString(regexp.QuoteMeta(string(rs[i])))
			} else {
				b.WriteString(`\\`)
			}
		case '[':
			if class, n, ok := bracket(rs[i:]); ok {
				b.WriteString(class)
				i += n - 1
			} else {
				b.WriteString(`\[`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		// Cannot happen for what we generate; match the pattern literally.
		return regexp.MustCompile(`^` + regexp.QuoteMeta(pat) + `$`)
	}
	return re
}

// bracket translates a bracket expression starting at rs[0] == '['. It
// returns the regexp class, how many runes it consumed, and whether it was
// terminated.
func bracket(rs []rune) (string, int, bool) {
	i := 1
	var b strings.Builder
	b.WriteString("[")
	if i < len(rs) && (rs[i] == '!' || rs[i] == '^') {
		b.WriteString("^")
		i++
	}
	first := true
	for ; i < len(rs); i++ {
		c := rs[i]
		if c == ']' && !first {
			b.WriteString("]")
			return b.String(), i + 1, true
		}
		first = false
		switch {
		case c == '\\' && i+1 < len(rs):
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case c == '[' && i+1 < len(rs) && rs[i+1] == ':':
			end := -1 // the rune index of the ":]" that closes "[:name"
			for j := i + 2; j+1 < len(rs); j++ {
				if rs[j] == ':' && rs[j+1] == ']' {
					end = j
					break
				}
			}
			if end < 0 {
				return "", 0, false
			}
			b.WriteString(string(rs[i : end+2]))
			i = end + 1
		case c == '-':
			b.WriteString("-")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return "", 0, false
}

// IncludeRule is one line of .git-ftp-include.
type IncludeRule struct {
	// Target is the repository-relative path to upload from the work tree.
	// A trailing '/' names a directory.
	Target string
	// Source, for "target:source" lines, is the repository-relative path
	// whose change since the deployed commit triggers the upload. Empty for
	// "!target" lines, which always upload.
	Source string
	Line   int
}

// Always reports whether the rule uploads on every deploy ("!target").
func (r IncludeRule) Always() bool { return r.Source == "" }

// ParseInclude reads .git-ftp-include. A "target:source" source is
// relative to the syncroot unless it starts with '/', as in git-ftp.
func ParseInclude(data []byte, syncroot string) ([]IncludeRule, error) {
	var rules []IncludeRule
	for n, line := range lines(data) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if t, ok := strings.CutPrefix(line, "!"); ok {
			if t == "" {
				return nil, fmt.Errorf("%s:%d: empty path after '!'", IncludeFile, n+1)
			}
			if err := CheckRepoPath(t); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", IncludeFile, n+1, err)
			}
			rules = append(rules, IncludeRule{Target: cleanRel(t), Line: n + 1})
			continue
		}
		target, source, ok := strings.Cut(line, ":")
		if !ok || target == "" || source == "" {
			return nil, fmt.Errorf("%s:%d: %q is neither \"!path\" nor \"target:source\"", IncludeFile, n+1, line)
		}
		if err := CheckRepoPath(target); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", IncludeFile, n+1, err)
		}
		if err := CheckRepoPath(strings.TrimPrefix(source, "/")); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", IncludeFile, n+1, err)
		}
		if s, abs := strings.CutPrefix(source, "/"); abs {
			source = s
		} else if syncroot != "" {
			source = syncroot + "/" + source
		}
		rules = append(rules, IncludeRule{Target: cleanRel(target), Source: cleanRel(source), Line: n + 1})
	}
	return rules, nil
}

// IncludeError is a line of a submodule's .git-ftp-include that cannot be
// read (exit code 2, as for the superproject's own).
type IncludeError struct{ Err error }

func (e *IncludeError) Error() string { return e.Err.Error() }
func (e *IncludeError) Unwrap() error { return e.Err }

// Hint tells what to do.
func (e *IncludeError) Hint() string { return "fix the line in the submodule's " + IncludeFile }

// CheckRepoPath refuses a path from .git-ftp-include or --syncroot that
// would leave the repository: absolute, or with a ".." element. Such a
// line once read a file outside the work tree and uploaded it above the
// remote root.
func CheckRepoPath(p string) error {
	if strings.HasPrefix(p, "/") || filepath.IsAbs(p) {
		return fmt.Errorf("%s is an absolute path: paths are relative to the top of the repository", quote(p))
	}
	for _, el := range strings.Split(filepath.ToSlash(p), "/") {
		if el == ".." {
			return fmt.Errorf("%s leaves the repository (a \"..\" element)", quote(p))
		}
	}
	return nil
}

// quote names a path in an error: always quoted, since the path is what
// the user must find in a file.
func quote(p string) string { return strconv.Quote(p) }

// EscapeError says that an include path resolves, through a symbolic link,
// outside the repository.
type EscapeError struct {
	Line int
	Path string // as written in .git-ftp-include
	Real string // where it leads
}

func (e *EscapeError) Error() string {
	return fmt.Sprintf("%s:%d: %s leads outside the repository, to %s (a symbolic link)", IncludeFile, e.Line, strconv.Quote(e.Path), strconv.Quote(e.Real))
}

// Hint tells what to do.
func (e *EscapeError) Hint() string {
	return "gftp uploads only files inside the repository: copy the file into it, or remove the line from " + IncludeFile
}

// cleanRel drops a leading "./" and keeps a trailing '/'.
func cleanRel(p string) string {
	for strings.HasPrefix(p, "./") {
		p = p[2:]
	}
	return p
}

// LoadInclude reads the work tree's .git-ftp-include; a missing file has no
// rules.
func LoadInclude(dir, syncroot string) ([]IncludeRule, error) {
	data, err := os.ReadFile(filepath.Join(dir, IncludeFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseInclude(data, syncroot)
}
