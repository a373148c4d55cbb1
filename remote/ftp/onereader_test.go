package ftp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/gftp/gftp/internal/ftpconn"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/ftp"
	"github.com/gftp/gftp/remote/ftp/ftptest"
	"github.com/gftp/gftp/remote/remotetest"
)

// TestOneReaderPerConnection drives every operation of the transport, in
// parallel over a pool of connections, in passive and active mode, with
// and without MLST, over TLS; then it asks each control connection the
// Remote made whether every line the server sent it was parsed by its one
// reader (ftpconn.Conn.CheckOneReader). A second parser of a control
// connection, such as a library's buffer beside the transport's own, takes
// lines the reader never sees, and the two then disagree about where the
// next reply starts; a second reader attached to the socket panics.
// Run it with -race.
func TestOneReaderPerConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active bool
		noMLST bool
	}{{"passive", false, false}, {"active", true, false}, {"passive-no-mlst", false, true}, {"active-no-mlst", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, ftptest.Config{User: "u", Password: "p", TLS: ftptest.RequireTLS, DisableMLST: tc.noMLST})
			u, err := remote.ParseURL(srv.URL() + "site/www")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var conns []*ftpconn.Conn
			ctx := context.Background()
			r, err := ftp.NewWatched(ctx, u, remote.Options{User: "u", Password: "p", CACert: srv.CACertFile(),
				Jobs: 4, Active: tc.active, ActiveAddr: "127.0.0.1"}, func(c *ftpconn.Conn) {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.MkdirRoot(ctx, false); err != nil {
				t.Fatal(err)
			}
			if _, err := r.MkdirRoot(ctx, true); err != nil {
				t.Fatal(err)
			}
			if derr, serr := r.MkdirNested(ctx, "lock", "holder"); derr != nil || serr != nil {
				t.Fatal(derr, serr)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- exercise(ctx, r, i)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if err := r.RemoveDir(ctx, "lock/holder", nil); err != nil {
				t.Error(err)
			}
			if err := r.RmdirNested(ctx, "lock", "gone"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Error(err)
			}
			if _, err := r.Hash(ctx, "d0/a"); err != nil && !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("hash: %v", err)
			}
			// Names that cannot go on a command line, refused in one
			// place, before anything is sent.
			if err := r.Put(ctx, "bad\r\nDELE x", strings.NewReader("x"), 1); !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("put of a name with CR LF: %v, want fs.ErrInvalid", err)
			}
			if _, err := r.Stat(ctx, "bad\nname"); !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("stat of a name with LF: %v, want fs.ErrInvalid", err)
			}
			r.Close()
			mu.Lock()
			defer mu.Unlock()
			if len(conns) < 2 {
				t.Fatalf("%d connections: the test did not run in parallel", len(conns))
			}
			for _, c := range conns {
				if err := c.CheckOneReader(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// exercise runs every operation once on its own files.
func exercise(ctx context.Context, r remote.Remote, i int) error {
	d := fmt.Sprintf("d%d", i)
	fr := r.(*ftp.Remote)
	if err := r.Mkdir(ctx, d); err != nil {
		return err
	}
	if err := r.Mkdir(ctx, d); !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir twice: %v", err)
	}
	data := remotetest.Content(int64(i), 70000)
	if err := r.Put(ctx, d+"/a", bytes.NewReader(data), int64(len(data))); err != nil {
		return err
	}
	if err := fr.PutAtomic(ctx, d+"/b", bytes.NewReader(data), int64(len(data))); err != nil {
		return err
	}
	if err := r.Put(ctx, "missing/x", strings.NewReader("x"), 1); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("put into a missing directory: %v", err)
	}
	rc, err := r.Open(ctx, d+"/b")
	if err != nil {
		return err
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		return fmt.Errorf("read back %d bytes: %v", len(got), err)
	}
	if _, err := r.Open(ctx, d+"/missing"); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open of a missing file: %v", err)
	}
	// A read closed early abandons its connection.
	if rc, err := r.Open(ctx, d+"/a"); err == nil {
		buf := make([]byte, 10)
		_, _ = rc.Read(buf)
		rc.Close()
	}
	if fi, err := r.Stat(ctx, d+"/a"); err != nil || fi.Size != int64(len(data)) {
		return fmt.Errorf("stat: %+v %v", fi, err)
	}
	if fi, err := r.Stat(ctx, d); err != nil || !fi.IsDir {
		return fmt.Errorf("stat of a directory: %+v %v", fi, err)
	}
	if _, err := r.Stat(ctx, d+"/nope"); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat of a missing file: %v", err)
	}
	if err := r.Rename(ctx, d+"/a", d+"/c"); err != nil {
		return err
	}
	if err := r.Rename(ctx, d+"/nope", d+"/c"); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rename of a missing file: %v", err)
	}
	list, err := r.List(ctx, d)
	if err != nil || len(list) != 2 {
		return fmt.Errorf("list: %v %v", list, err)
	}
	if err := r.Remove(ctx, d+"/c"); err != nil {
		return err
	}
	if err := fr.RemoveAll(ctx, []string{d + "/b", d + "/gone"}); err != nil {
		return err
	}
	return r.Rmdir(ctx, d)
}
