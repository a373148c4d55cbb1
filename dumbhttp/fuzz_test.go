package dumbhttp

import (
	"bytes"
	"testing"
)

// FuzzParseInfoRefs: whatever a target serves as info/refs, parsing never
// panics, and what parses writes back to a form that parses to the same.
func FuzzParseInfoRefs(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef01234567\trefs/heads/main\n" +
		"89abcdef0123456789abcdef0123456789abcdef\trefs/tags/v1\n" +
		"0123456789abcdef0123456789abcdef01234567\trefs/tags/v1^{}\n"))
	f.Add([]byte("garbage\n\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		refs, err := ParseInfoRefs(data)
		if err != nil {
			return
		}
		again, err := ParseInfoRefs(InfoRefs(refs))
		if err != nil {
			t.Fatalf("re-parse of written refs: %v", err)
		}
		if !bytes.Equal(InfoRefs(again), InfoRefs(refs)) {
			t.Fatalf("info/refs does not round-trip")
		}
	})
}

// FuzzParsePacks: objects/info/packs parsing never panics and round-trips.
func FuzzParsePacks(f *testing.F) {
	f.Add([]byte("P pack-0123456789abcdef0123456789abcdef01234567.pack\n\n"))
	f.Add([]byte("X y\nP\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		packs := ParsePacks(data)
		if got := ParsePacks(Packs(packs)); len(got) != len(packs) {
			t.Fatalf("objects/info/packs does not round-trip: %q -> %q", packs, got)
		}
	})
}
