package manifest_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gftp/gftp/deploy/manifest"
	"github.com/gftp/gftp/remote"
)

func itoa(n int) string     { return strconv.Itoa(n) }
func hexOf(b []byte) string { return hex.EncodeToString(b) }
func sortLines(l []string) []string {
	sort.Slice(l, func(i, j int) bool { return pathOf(l[i]) < pathOf(l[j]) })
	return l
}

func pathOf(line string) string {
	_, rest, _ := strings.Cut(line, " ")
	_, p, _ := strings.Cut(rest, " ")
	if u, err := strconv.Unquote(p); err == nil {
		return u
	}
	return p
}

// FuzzParse: whatever a server returns as the manifest, Parse never panics;
// it returns a manifest or an error wrapping ErrCorrupt; every entry it
// accepts is a name that stays inside the target; and what it accepts
// encodes to bytes that parse back to the same entries.
func FuzzParse(f *testing.F) {
	h := strings.Repeat("ab", 32)
	f.Add(manifest.New().Bytes())
	f.Add(manifest.New(entry("a", "1"), entry("new\nline", ""), entry("\xff", "x")).Bytes())
	f.Add(forge(h + " 3 ../x"))
	f.Add(forge(h+" 3 /abs", h+" 3 ok"))
	f.Add(forge(h + ` 3 "a\x00b"`))
	f.Add([]byte("gftp-manifest 1\n" + h + " 3 a\n"))
	f.Add([]byte("gftp-manifest 1\nend 0 \n"))
	f.Add([]byte("<html>404</html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
		// The same bytes as entry lines under a valid trailer, since
		// random bytes seldom carry a matching checksum.
		checkParse(t, forge(strings.Split(string(data), "\n")...))
	})
}

func checkParse(t *testing.T, data []byte) {
	m, warns, err := manifest.Parse(bytes.NewReader(data))
	if m == nil {
		t.Fatal("nil manifest")
	}
	if err != nil {
		if !errors.Is(err, manifest.ErrCorrupt) {
			t.Fatalf("error not wrapping ErrCorrupt: %v", err)
		}
		if m.Len() != 0 || m.Trusted() {
			t.Fatal("a corrupt manifest must be empty and untrusted")
		}
		return
	}
	if m.Trusted() != (len(warns) == 0) {
		t.Fatalf("trusted %v with %d warnings", m.Trusted(), len(warns))
	}
	for _, e := range m.Entries() {
		if e.Path == "" || remote.CheckName(e.Path) != nil {
			t.Fatalf("accepted %q", e.Path)
		}
	}
	again, _, err := manifest.Parse(bytes.NewReader(m.Bytes()))
	if err != nil || !again.Equal(m) {
		t.Fatalf("re-encoding does not parse back: %v", err)
	}
}
