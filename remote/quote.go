package remote

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// QuoteName returns name fit to print on a line of human output or a log:
// name itself when every rune of it is printable, else strconv.Quote(name),
// so that a file named "x\nINFO deployed" cannot forge a line, and a name
// with a terminal escape cannot repaint the screen. Every place that prints
// a remote or repository name goes through it.
func QuoteName(name string) string {
	for i, r := range name {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(name[i:]); n <= 1 {
				return strconv.Quote(name)
			}
		}
		if !unicode.IsPrint(r) { // control characters, and spaces other than ' '
			return strconv.Quote(name)
		}
	}
	return name
}
