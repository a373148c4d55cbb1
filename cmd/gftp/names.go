package main

import (
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
