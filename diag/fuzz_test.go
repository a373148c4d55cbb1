package diag

import (
	"strings"
	"testing"

	"github.com/gftp/gftp/internal/ftpconn"
)

// FuzzFeatures: any FEAT reply reads; feature names come back upper-case
// and without spaces.
func FuzzFeatures(f *testing.F) {
	f.Add("Features:\n EPRT\n EPSV\n MDTM\n PASV\n REST STREAM\n SIZE\n TVFS\n UTF8\n AUTH TLS\nEnd")
	f.Add("no features")
	f.Fuzz(func(t *testing.T, msg string) {
		for name := range features(ftpconn.Reply{Code: 211, Msg: msg}) {
			if name != strings.ToUpper(name) || strings.ContainsAny(name, " \t\r\n") {
				t.Fatalf("features(%q) gave feature %q", msg, name)
			}
		}
	})
}
