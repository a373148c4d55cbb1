package dumbhttp

import (
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// stepRemote calls after once each change a reader could see has happened:
// a rename into place, a put under a final name, a removal.
type stepRemote struct {
	remote.Remote
	after func(op, name string)
	ops   []string
}

func (s *stepRemote) step(op, name string) {
	s.ops = append(s.ops, op+" "+name)
	s.after(op, name)
}

func (s *stepRemote) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	err := s.Remote.Put(ctx, name, r, size)
	if err == nil && !remote.IsTemp(path.Base(name)) {
		s.step("put", name)
	}
	return err
}

func (s *stepRemote) Rename(ctx context.Context, from, to string) error {
	err := s.Remote.Rename(ctx, from, to)
	if err == nil {
		s.step("rename", to)
	}
	return err
}

func (s *stepRemote) Remove(ctx context.Context, name string) error {
	err := s.Remote.Remove(ctx, name)
	if err == nil {
		s.step("remove", name)
	}
	return err
}

// The ordering property, checked step by step: after every single change a
// publish makes on the target, a dumb HTTP clone and a local clone both
// succeed, are fsck-clean, and hold either all the old refs or all the new
// ones.
func TestEveryStepIsConsistent(t *testing.T) {
	requireGit(t)
	if testing.Short() {
		t.Skip("slow: two clones after every step of six publishes")
	}
	src := tagRepo(t)
	root := t.TempDir()
	dst := filepath.Join(root, "r.git")
	os.Mkdir(dst, 0o755)
	publish(t, src, dst, Options{})
	url := serve(t, root) + "/r.git"

	steps := []struct {
		name   string
		change func()
		opts   Options
	}{
		{"new commit and tag", func() {
			commit(t, src, "s1.txt", "one\n")
			git(t, src, "tag", "-a", "-m", "s1", "s1")
		}, Options{}},
		{"repack", func() { commit(t, src, "s2.txt", "two\n") }, Options{Repack: true}},
		{"after repack", func() { commit(t, src, "s3.txt", "three\n") }, Options{}},
		{"branch deleted", func() { git(t, src, "branch", "-D", "feature/x") }, Options{Prune: true}},
		{"HEAD moves to a new branch", func() {
			git(t, src, "branch", "next")
			git(t, src, "checkout", "-q", "next")
			commit(t, src, "next.txt", "next\n")
			git(t, src, "checkout", "-q", "main")
		}, Options{Head: "next"}},
		{"HEAD moves back", func() {}, Options{}},
	}
	for _, st := range steps {
		old := strings.Join(refsOf(t, src, false), "\n")
		st.change()
		new := strings.Join(refsOf(t, src, false), "\n")
		check := func(op, name string) {
			for _, from := range []string{url, dst} {
				c := filepath.Join(t.TempDir(), "c")
				if _, err := gitErr("", "clone", "-q", "--no-checkout", from, c); err != nil {
					t.Errorf("%s: clone from %s after %s %s: %v", st.name, from, op, name, err)
					continue
				}
				if _, err := gitErr(c, "fsck", "--full", "--strict", "--no-dangling"); err != nil {
					t.Errorf("%s: fsck of clone from %s after %s %s: %v", st.name, from, op, name, err)
				}
				if _, err := gitErr(c, "rev-parse", "--verify", "HEAD"); err != nil {
					t.Errorf("%s: clone from %s after %s %s has no HEAD: %v", st.name, from, op, name, err)
				}
				got := strings.Join(refsOf(t, c, true), "\n")
				if got != old && got != new {
					t.Errorf("%s: clone from %s after %s %s has refs\n%s\nneither old\n%s\nnor new\n%s", st.name, from, op, name, got, old, new)
				}
				os.RemoveAll(c)
			}
		}
		lr, err := local.New(dst)
		if err != nil {
			t.Fatal(err)
		}
		sr := &stepRemote{Remote: lr, after: check}
		res, err := Publish(context.Background(), src, sr, st.opts)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		t.Logf("%s: %s; deleted %q", st.name, strings.Join(sr.ops, ", "), res.Deleted)
		if len(sr.ops) == 0 {
			t.Errorf("%s: publish changed nothing", st.name)
		}
	}
}
