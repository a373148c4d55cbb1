package diag

import (
	"strings"
	"testing"
)

// FuzzParsePASV: any 227 reply parses or fails cleanly; an accepted one
// yields an IPv4 address and a port in range.
func FuzzParsePASV(f *testing.F) {
	f.Add("227 Entering Passive Mode (127,0,0,1,78,33).")
	f.Add("227 Entering Passive Mode (10,0,0,5,4,1)")
	f.Add("227 =192,168,1,2,255,255")
	f.Add("227 (1,2,3)")
	f.Fuzz(func(t *testing.T, msg string) {
		ip, port, err := ParsePASV(msg)
		if err != nil {
			return
		}
		if ip.To4() == nil || port < 0 || port > 65535 {
			t.Fatalf("ParsePASV(%q) = %v, %d", msg, ip, port)
		}
	})
}

// FuzzParseEPSV: any 229 reply parses or fails cleanly; an accepted port is
// in range.
func FuzzParseEPSV(f *testing.F) {
	f.Add("229 Entering Extended Passive Mode (|||6446|)")
	f.Add("229 (!!!1!)")
	f.Add("229 (|||70000|)")
	f.Fuzz(func(t *testing.T, msg string) {
		port, err := ParseEPSV(msg)
		if err == nil && (port <= 0 || port > 65535) {
			t.Fatalf("ParseEPSV(%q) = %d", msg, port)
		}
	})
}

// FuzzParseFEAT: any FEAT reply parses; feature names come back upper-case
// and without spaces.
func FuzzParseFEAT(f *testing.F) {
	f.Add("211-Features:\n EPRT\n EPSV\n MDTM\n PASV\n REST STREAM\n SIZE\n TVFS\n UTF8\n AUTH TLS\n211 End")
	f.Add("211 no features")
	f.Fuzz(func(t *testing.T, msg string) {
		for name := range ParseFEAT(msg) {
			if name != strings.ToUpper(name) || strings.ContainsAny(name, " \t\r\n") {
				t.Fatalf("ParseFEAT(%q) gave feature %q", msg, name)
			}
		}
	})
}
