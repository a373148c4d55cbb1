package main

import (
	"io/fs"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gftp/gftp/remote"
)

// quoteName is how every file name is printed, on stdout and stderr alike:
// as it is, or quoted (strconv.Quote) when it holds a control character,
// so that a name cannot forge a line of output or a log (remote.QuoteName).
func quoteName(name string) string { return remote.QuoteName(name) }

// printable escapes the control characters (and invalid UTF-8) of a line
// of text that may hold names, a message or a warning, as strconv.Quote
// does, without the quotes.
func printable(s string) string {
	if remote.QuoteName(s) == s {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || !unicode.IsPrint(r) {
			q := strconv.Quote(s[i : i+n])
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// quoteErrNames quotes, in msg (err's text, or what describe made of it),
// the names of err's *fs.PathErrors that hold a control character, so that
// an error names a file as the plan does.
func quoteErrNames(err error, msg string) string {
	var walk func(error)
	walk = func(e error) {
		if pe, ok := e.(*fs.PathError); ok && quoteName(pe.Path) != pe.Path {
			msg = strings.ReplaceAll(msg, pe.Path, quoteName(pe.Path))
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				walk(next)
			}
		case interface{ Unwrap() []error }:
			for _, next := range u.Unwrap() {
				walk(next)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return msg
}
