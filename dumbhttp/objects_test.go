package dumbhttp

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/revlist"
)

// missingObjects never leaves out an object that the exact set difference
// (go-git's revlist, which walks all of have's history) holds, and in these
// histories sends nothing more.
func TestMissingObjectsAgainstRevlist(t *testing.T) {
	requireGit(t)
	src := tagRepo(t)
	rev := func(names ...string) []plumbing.Hash {
		var hs []plumbing.Hash
		for _, n := range names {
			hs = append(hs, plumbing.NewHash(git(t, src, "rev-parse", n)))
		}
		return hs
	}
	// A merge, a revert to old content, and a branch from the past.
	base := git(t, src, "rev-parse", "HEAD")
	git(t, src, "checkout", "-q", "-b", "side", "HEAD~2")
	commit(t, src, "side.txt", "side\n")
	git(t, src, "checkout", "-q", "main")
	git(t, src, "merge", "-q", "--no-edit", "side")
	commit(t, src, "src/a.txt", strings.Repeat("line a\n", 200)) // content an older commit had
	git(t, src, "tag", "-a", "-m", "late", "late", "v1.0")

	s, err := openStorage(src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		tips, have []string
	}{
		{[]string{"main"}, nil},
		{[]string{"main", "nested2", "blobtag", "treetag"}, nil},
		{[]string{"main"}, []string{base}},
		{[]string{"main", "side", "late"}, []string{base, "v1.0"}},
		{[]string{"side"}, []string{"main"}},
		{[]string{"main"}, []string{"side"}},
		{[]string{"nested2", "late"}, []string{"nested1"}},
		{[]string{"main", "feature/x"}, []string{"main~3", "light"}},
	} {
		name := strings.Join(c.tips, ",") + " minus " + strings.Join(c.have, ",")
		got, err := missingObjects(s, rev(c.tips...), rev(c.have...))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := revlist.Objects(s, rev(c.tips...), rev(c.have...))
		if err != nil {
			t.Fatal(err)
		}
		gotSet := map[plumbing.Hash]bool{}
		for _, h := range got {
			gotSet[h] = true
		}
		for _, h := range want {
			if !gotSet[h] {
				t.Errorf("%s: %s is missing", name, h)
			}
		}
		if len(got) != len(want) {
			t.Logf("%s: %d objects, exact set has %d", name, len(got), len(want))
		}
	}
}
