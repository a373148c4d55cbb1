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

// FuzzParseDigestReply: whatever a server answers to HASH, XSHA256, XMD5 or
// MD5, parsing never panics and a digest it returns is at least 16 bytes.
func FuzzParseDigestReply(f *testing.F) {
	f.Add("HASH", 213, "Computing SHA-256 digest\nSHA-256 0-12 a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447 /f")
	f.Add("XSHA256", 250, "A948904F2F0F479B8F8197694B30184B0D2ED1C1CD2A1EC0FB85D299A192A447")
	f.Add("MD5", 251, "/x 6f5902ac237024bdd0c176cb93063dc4")
	f.Add("HASH", 213, "\n\n")
	f.Fuzz(func(t *testing.T, cmd string, code int, msg string) {
		sum, err := parseDigestReply(cmd, code, msg)
		if err == nil && len(sum) < 16 {
			t.Fatalf("parseDigestReply(%q, %d, %q) = %x", cmd, code, msg, sum)
		}
	})
}

// FuzzHashWayFrom: whatever a FEAT reply lists, choosing a digest never
// panics and never picks a command the reply did not offer.
func FuzzHashWayFrom(f *testing.F) {
	f.Add("HASH CRC32;MD5;SHA-1*;SHA-256;SHA-512;\nXSHA256\nMD5")
	f.Add("XMD5\nSIZE")
	f.Add("HASH ;;*;")
	f.Fuzz(func(t *testing.T, feat string) {
		lines := strings.Split(feat, "\n")
		w := hashWayFrom(lines)
		if w.cmd == "" {
			return
		}
		for _, l := range lines {
			if name, _, _ := strings.Cut(l, " "); strings.EqualFold(name, w.cmd) {
				return
			}
		}
		t.Fatalf("hashWayFrom(%q) chose %q", lines, w.cmd)
	})
}
