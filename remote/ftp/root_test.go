package ftp_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/ftp"
	"github.com/gftp/gftp/remote/ftp/ftptest"
)

// TestMkdirRootOneRoundTrip: a missing root three levels deep is listed by
// a dry run without being made, then made, parents first, in one round
// trip (the MKDs pipelined); a second call makes nothing.
func TestMkdirRootOneRoundTrip(t *testing.T) {
	srv := start(t, ftptest.Config{User: "u", Password: "p"})
	u := strings.Replace(srv.URL(), "ftp://", "ftp://u:p@", 1)
	r, err := open(t, u+"newdir/a/b", remote.Options{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	fr, _ := remote.As[*ftp.Remote](r)
	if _, err := r.Stat(ctx, ""); err == nil { // logged in and settled
		t.Fatal("the root exists before MkdirRoot")
	}
	want := []string{"/newdir", "/newdir/a", "/newdir/a/b"}
	dry, err := remote.MkdirRoot(ctx, r, true)
	if err != nil || !reflect.DeepEqual(dry, want) {
		t.Fatalf("dry run = %q, %v; want %q", dry, err, want)
	}
	if _, err := os.Stat(filepath.Join(srv.Root(), "newdir")); !os.IsNotExist(err) {
		t.Fatalf("the dry run made newdir (%v)", err)
	}
	before := fr.Stats().RoundTrips
	made, err := remote.MkdirRoot(ctx, r, false)
	if err != nil || !reflect.DeepEqual(made, want) {
		t.Fatalf("MkdirRoot = %q, %v; want %q", made, err, want)
	}
	if n := fr.Stats().RoundTrips - before; n != 1 {
		t.Errorf("MkdirRoot took %d round trips, want 1", n)
	}
	if fi, err := os.Stat(filepath.Join(srv.Root(), "newdir", "a", "b")); err != nil || !fi.IsDir() {
		t.Fatalf("newdir/a/b not made: %v", err)
	}
	if again, err := remote.MkdirRoot(ctx, r, false); err != nil || len(again) != 0 {
		t.Errorf("second MkdirRoot = %q, %v; want nothing made", again, err)
	}
	if err := r.Mkdir(ctx, ".gftp.lock"); err != nil {
		t.Errorf("mkdir in the made root: %v", err)
	}
}
