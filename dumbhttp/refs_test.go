package dumbhttp

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/remote/local"
)

// planOf plans a publish of src to dst and returns the update of each ref.
func planOf(t *testing.T, src, dst string, opts Options) map[string]RefChange {
	t.Helper()
	lr, err := local.New(dst)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(context.Background(), src, lr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := map[string]RefChange{}
	for _, c := range p.Refs {
		m[c.Name] = c
	}
	return m
}

func wantUpdate(t *testing.T, refs map[string]RefChange, name string, u Update, reason string) {
	t.Helper()
	c, ok := refs[name]
	if !ok || c.Update != u || c.Reason != reason {
		t.Errorf("%s: %+v, want %s (%s)", name, c, u, reason)
	}
}

// TestRefsMoveLikeGitPush is the scenario: main and feature are
// published, then a fresh single-branch clone whose main is older
// publishes. Nothing is rewound or deleted unless forced or pruned, and a
// published ref moves forward freely.
func TestRefsMoveLikeGitPush(t *testing.T) {
	requireGit(t)
	src := newRepo(t)
	git(t, src, "branch", "feature")
	git(t, src, "tag", "v1", "HEAD~1")
	dst := t.TempDir()
	publish(t, src, dst, Options{})
	published := readFileT(t, filepath.Join(dst, "info", "refs"))
	newMain := git(t, src, "rev-parse", "main")

	ci := filepath.Join(t.TempDir(), "ci")
	git(t, "", "clone", "-q", "--single-branch", "--no-tags", "-b", "main", src, ci)
	git(t, ci, "reset", "-q", "--hard", "HEAD~1")
	oldMain := git(t, ci, "rev-parse", "main")

	refs := planOf(t, ci, dst, Options{})
	wantUpdate(t, refs, "refs/heads/main", UpdateRejected, ReasonNonFastForward)
	wantUpdate(t, refs, "refs/heads/feature", UpdateKept, ReasonMissingLocally)
	wantUpdate(t, refs, "refs/tags/v1", UpdateKept, ReasonMissingLocally)
	_, err := tryPublish(ci, dst, Options{})
	var rej *RejectedError
	if !errors.As(err, &rej) || len(rej.Refs) != 1 || rej.Refs[0].Name != "refs/heads/main" || rej.FetchFirst() {
		t.Fatalf("publish of an older main: %v, want main rejected as a non-fast-forward", err)
	}
	if !bytes.Equal(published, readFileT(t, filepath.Join(dst, "info", "refs"))) {
		t.Fatal("a rejected publish changed info/refs")
	}

	// A new commit on the older main is not a fast-forward either.
	commit(t, ci, "ci.txt", "ci\n")
	if _, err := tryPublish(ci, dst, Options{}); !errors.Is(err, ErrRejected) {
		t.Fatalf("publish of a diverged main: %v, want ErrRejected", err)
	}

	// --force moves main back; feature and v1 stay.
	res := publish(t, ci, dst, Options{Force: true})
	if len(res.Changes) != 1 || res.Changes[0].Update != UpdateForced || len(res.Kept) != 2 {
		t.Errorf("forced publish: changes %+v, kept %+v", res.Changes, res.Kept)
	}
	info := string(readFileT(t, filepath.Join(dst, "info", "refs")))
	ciMain := git(t, ci, "rev-parse", "main")
	for _, want := range []string{ciMain + "\trefs/heads/main", newMain + "\trefs/heads/feature", oldMain + "\trefs/tags/v1"} {
		if !strings.Contains(info, want+"\n") {
			t.Errorf("info/refs lacks %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, newMain+"\trefs/heads/main") {
		t.Errorf("main was not moved:\n%s", info)
	}

	// A fast-forward needs nothing.
	commit(t, ci, "ci2.txt", "ci 2\n")
	refs = planOf(t, ci, dst, Options{})
	wantUpdate(t, refs, "refs/heads/main", UpdateFastForward, "")
	publish(t, ci, dst, Options{})

	// --prune deletes what is gone locally, within --refs only.
	refs = planOf(t, ci, dst, Options{Refs: []string{"refs/heads/*"}, Prune: true})
	wantUpdate(t, refs, "refs/heads/feature", UpdateDeleted, "")
	wantUpdate(t, refs, "refs/tags/v1", UpdateKept, ReasonNotSelected)
	publish(t, ci, dst, Options{Refs: []string{"refs/heads/*"}, Prune: true})
	info = string(readFileT(t, filepath.Join(dst, "info", "refs")))
	if strings.Contains(info, "refs/heads/feature") || !strings.Contains(info, "refs/tags/v1") {
		t.Errorf("after --prune of branches, info/refs is\n%s", info)
	}

	// A published tag does not move without --force.
	git(t, ci, "tag", "v1")
	refs = planOf(t, ci, dst, Options{})
	wantUpdate(t, refs, "refs/tags/v1", UpdateRejected, ReasonTagExists)
	if _, err := tryPublish(ci, dst, Options{}); !errors.As(err, &rej) || !rej.Tags() {
		t.Errorf("publish of a moved tag: %v, want a tag rejected", err)
	}
	refs = planOf(t, ci, dst, Options{Force: true})
	wantUpdate(t, refs, "refs/tags/v1", UpdateForced, ReasonTagExists)
}
