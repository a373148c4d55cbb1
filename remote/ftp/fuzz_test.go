package ftp

import (
	"strings"
	"testing"
)

// FuzzParseMLSD: whatever a server sends as an MLSD listing, parsing never
// panics, and no entry is named "", ".", ".." or contains a '/'.
func FuzzParseMLSD(f *testing.F) {
	f.Add("type=file;size=12;modify=20260101120000; a b.txt\r\ntype=dir;modify=20260101120000; sub\r\ntype=cdir; .\r\ntype=pdir; ..\r\n")
	f.Add("size=1;type=file; -dash\nmodify=bad;type=file; x\n")
	f.Add("garbage without a space\n")
	f.Fuzz(func(t *testing.T, listing string) {
		list, err := parseMLSD(listing)
		if err != nil {
			return
		}
		for _, fi := range list {
			if fi.Name == "" || fi.Name == "." || fi.Name == ".." || strings.Contains(fi.Name, "/") {
				t.Fatalf("parseMLSD(%q) gave entry %q", listing, fi.Name)
			}
		}
	})
}
