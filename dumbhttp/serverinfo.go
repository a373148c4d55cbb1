package dumbhttp

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Ref is one published reference: its name, the object it names, and, when
// that object is an annotated tag, the object the tag chain finally points
// to (Peeled is the zero hash otherwise).
type Ref struct {
	Name   string
	Hash   plumbing.Hash
	Peeled plumbing.Hash
}

// sortRefs orders refs by name byte for byte, the order of git's ref
// iterators (strcmp on the full name).
func sortRefs(refs []Ref) {
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
}

// InfoRefs renders info/refs the way git update-server-info does
// (server-info.c, add_info_ref): one "<oid> TAB <name> LF" line per ref in
// name order, each annotated tag followed by "<oid> TAB <name>^{} LF" naming
// the object at the end of the tag chain (deref_tag peels fully; go-git's
// plumbing/serverinfo peels one level only).
func InfoRefs(refs []Ref) []byte {
	refs = append([]Ref(nil), refs...)
	sortRefs(refs)
	var b bytes.Buffer
	for _, r := range refs {
		fmt.Fprintf(&b, "%s\t%s\n", r.Hash, r.Name)
		if !r.Peeled.IsZero() {
			fmt.Fprintf(&b, "%s\t%s^{}\n", r.Peeled, r.Name)
		}
	}
	return b.Bytes()
}

// packedRefsHeader is the first line git writes to packed-refs
// (refs/packed-backend.c, PACKED_REFS_HEADER), trailing space included.
// "fully-peeled" promises a "^<oid>" line after every annotated tag.
const packedRefsHeader = "# pack-refs with: peeled fully-peeled sorted \n"

// PackedRefs renders a packed-refs file holding refs, sorted and fully
// peeled, as git pack-refs writes it.
func PackedRefs(refs []Ref) []byte {
	refs = append([]Ref(nil), refs...)
	sortRefs(refs)
	var b bytes.Buffer
	b.WriteString(packedRefsHeader)
	for _, r := range refs {
		fmt.Fprintf(&b, "%s %s\n", r.Hash, r.Name)
		if !r.Peeled.IsZero() {
			fmt.Fprintf(&b, "^%s\n", r.Peeled)
		}
	}
	return b.Bytes()
}

// Packs renders objects/info/packs the way git update-server-info does
// (server-info.c, write_pack_info_file): "P <pack basename> LF" per pack in
// the order given, then one empty line. Git keeps the order of the packs an
// existing file already lists and, when it rebuilds the list from nothing,
// puts the most recently modified pack first; the caller supplies the order.
func Packs(packs []string) []byte {
	var b bytes.Buffer
	for _, p := range packs {
		fmt.Fprintf(&b, "P %s\n", p)
	}
	b.WriteString("\n")
	return b.Bytes()
}

// ParseInfoRefs reads an info/refs file. Peeled "^{}" lines fill in the
// Peeled field of the ref before them.
func ParseInfoRefs(data []byte) ([]Ref, error) {
	var refs []Ref
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		hash, name, ok := strings.Cut(line, "\t")
		if !ok || !plumbing.IsHash(hash) || name == "" {
			return nil, fmt.Errorf("info/refs line %d: malformed %q", n, line)
		}
		if base, ok := strings.CutSuffix(name, "^{}"); ok {
			if len(refs) == 0 || refs[len(refs)-1].Name != base {
				return nil, fmt.Errorf("info/refs line %d: peeled line without its ref", n)
			}
			refs[len(refs)-1].Peeled = plumbing.NewHash(hash)
			continue
		}
		refs = append(refs, Ref{Name: name, Hash: plumbing.NewHash(hash)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("info/refs: %w", err)
	}
	return refs, nil
}

// ParsePacks reads objects/info/packs and returns the pack base names it
// lists, in order. Lines other than "P <name>" are ignored, as git does.
func ParsePacks(data []byte) []string {
	var packs []string
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "P "); ok {
			if name = strings.TrimSpace(name); name != "" {
				packs = append(packs, name)
			}
		}
	}
	return packs
}
