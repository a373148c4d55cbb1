package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/local"
)

// TestJournalReadEarly: a journal read before the plan (beside the
// marker, under the lock) is the one the executor resumes from. The
// journal is removed from the server after the early read, so a run that
// read it again itself would resume nothing.
func TestJournalReadEarly(t *testing.T) {
	ctx := context.Background()
	g := gittest.New(t)
	g.Write("index.html", []byte("one"))
	g.Commit("one")
	dir := t.TempDir()
	r, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, g.Dir, noHash{r}); err != nil {
		t.Fatal(err)
	}
	g.Write("b.txt", []byte("b content"))
	g.Write("c.txt", []byte("c content"))
	g.Commit("two")
	if err := os.MkdirAll(filepath.Join(dir, "c.txt", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, g.Dir, noHash{r}); err == nil {
		t.Fatal("the obstructed push succeeded")
	}
	if err := os.RemoveAll(filepath.Join(dir, "c.txt")); err != nil {
		t.Fatal(err)
	}

	jr := deploy.StartJournalRead(ctx, noHash{r})
	deploy.WaitJournal(jr)
	if err := os.Remove(filepath.Join(dir, deploy.JournalName)); err != nil {
		t.Fatalf("the failed push left no journal: %v", err)
	}
	repo, err := deploy.OpenRepo(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	from, err := deploy.ReadMarker(ctx, r, deploy.DefaultMarker)
	if err != nil {
		t.Fatal(err)
	}
	to, err := repo.Resolve("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := deploy.NewPlan(ctx, repo, from, to, deploy.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ex := &deploy.Executor{Remote: noHash{r}, Repo: repo, Jobs: 4, Journal: jr}
	res, err := ex.Run(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 1 || res.Uploaded != 1 {
		t.Errorf("resumed %d, uploaded %d: want b.txt resumed from the early read, c.txt uploaded", res.Resumed, res.Uploaded)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "c.txt")); string(got) != "c content" {
		t.Errorf("c.txt = %q", got)
	}
}
