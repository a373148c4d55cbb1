package deploy

import (
	"strings"
	"testing"
)

// TestParseLFSPointer: the spec's pointer, and near misses that are
// deployed as they are.
func TestParseLFSPointer(t *testing.T) {
	oid := strings.Repeat("4d", 32)
	good := "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 12345\n"
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"spec", good, true},
		{"extension keys sorted", "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:" + oid + "\noid sha256:" + oid + "\nsize 1\n", true},
		{"no final newline", strings.TrimSuffix(good, "\n"), false},
		{"CRLF", strings.ReplaceAll(good, "\n", "\r\n"), false},
		{"other version", strings.Replace(good, "spec/v1", "spec/v2", 1), false},
		{"unsorted keys", "version https://git-lfs.github.com/spec/v1\nsize 12345\noid sha256:" + oid + "\n", false},
		{"upper-case oid", strings.Replace(good, oid, strings.ToUpper(oid), 1), false},
		{"short oid", strings.Replace(good, oid, oid[:62], 1), false},
		{"sha1 oid", strings.Replace(good, "sha256:", "sha1:", 1), false},
		{"negative size", strings.Replace(good, "12345", "-1", 1), false},
		{"no size", "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\n", false},
		{"too long", good + "zzz " + strings.Repeat("x", 1024) + "\n", false},
		{"plain text", "hello\n", false},
	} {
		gotOID, size, ok := parseLFSPointer([]byte(tc.data))
		if ok != tc.ok || (ok && (gotOID != oid || size <= 0)) {
			t.Errorf("%s: got %q %d %v, want ok=%v", tc.name, gotOID, size, ok, tc.ok)
		}
	}
}
