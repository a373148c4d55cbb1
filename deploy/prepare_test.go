package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
)

// preparing is a remote.RemovePreparer that records the names it was
// given, and whether any Remove came first.
type preparing struct {
	remote.Remote
	mu       sync.Mutex
	prepared []string
	removed  []string // removes before PrepareRemove
}

func (p *preparing) PrepareRemove(_ context.Context, names []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prepared = append(p.prepared, names...)
}

func (p *preparing) Remove(ctx context.Context, name string) error {
	p.mu.Lock()
	if p.prepared == nil {
		p.removed = append(p.removed, name)
	}
	p.mu.Unlock()
	return p.Remote.Remove(ctx, name)
}

// TestDeletesPrepared: the executor hands a remote.RemovePreparer the
// deletes' names before the first delete, so that SFTP checks them while
// the uploads run.
func TestDeletesPrepared(t *testing.T) {
	g := gittest.New(t)
	g.Write("keep.txt", []byte("keep"))
	g.Write("a/gone.txt", []byte("gone"))
	g.Write("b.txt", []byte("b"))
	g.Commit("one")
	dir := t.TempDir()
	if _, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	g.Remove("a/gone.txt")
	g.Remove("b.txt")
	g.Write("keep.txt", []byte("changed"))
	g.Commit("two")
	lr, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &preparing{Remote: lr}
	if _, _, err := deployOn(t, g.Dir, p, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/gone.txt", "b.txt"}; !reflect.DeepEqual(p.prepared, want) || len(p.removed) > 0 {
		t.Errorf("prepared %q (removed before: %q), want %q before any remove", p.prepared, p.removed, want)
	}
	if files := served(t, dir); !reflect.DeepEqual(files, map[string]string{"keep.txt": "changed"}) {
		t.Errorf("served %q", files)
	}
}

// preOpening is a remote.PreOpener that records the names it was given,
// and whether they came before the lock's mkdir.
type preOpening struct {
	remote.Remote
	mu     sync.Mutex
	names  []string
	mkdirs int // before PreOpen
}

func (p *preOpening) PreOpen(names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names = append(p.names, names...)
}

func (p *preOpening) Mkdir(ctx context.Context, name string) error {
	p.mu.Lock()
	if p.names == nil {
		p.mkdirs++
	}
	p.mu.Unlock()
	return p.Remote.Mkdir(ctx, name)
}

// TestLockPreOpensReads: AcquireLock hands LockOptions.Read to a
// remote.PreOpener before it makes the lock, so that SFTP opens the marker
// and the journal in the lock's round trip.
func TestLockPreOpensReads(t *testing.T) {
	lr, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &preOpening{Remote: lr}
	l, err := deploy.AcquireLock(context.Background(), p, deploy.NewLockInfo("push", ""), deploy.LockOptions{Read: []string{deploy.DefaultMarker, deploy.JournalName}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	if want := []string{deploy.DefaultMarker, deploy.JournalName}; !reflect.DeepEqual(p.names, want) || p.mkdirs > 0 {
		t.Errorf("PreOpen got %q after %d mkdirs, want %q before the lock's", p.names, p.mkdirs, want)
	}
}

// starting is a remote.DirStarter whose directories answer only once an
// upload into them has begun: a deploy that waits for the answer before
// uploading into a new directory would wait for ever (2 s, here).
type starting struct {
	remote.Remote
	mu      sync.Mutex
	begun   map[string]chan struct{}
	started []string
}

func (s *starting) dirBegun(dir string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.begun[dir] == nil {
		s.begun[dir] = make(chan struct{})
	}
	return s.begun[dir]
}

func (s *starting) MkdirStart(ctx context.Context, name string) <-chan error {
	s.mu.Lock()
	s.started = append(s.started, name)
	s.mu.Unlock()
	err := s.Remote.Mkdir(ctx, name)
	done := make(chan error, 1)
	begun := s.dirBegun(name)
	go func() {
		select {
		case <-begun:
			done <- err
		case <-time.After(2 * time.Second):
			done <- errors.New("no upload began before the directory's answer")
		}
	}()
	return done
}

func (s *starting) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	ch := s.dirBegun(path.Dir(name))
	s.mu.Lock()
	select {
	case <-ch:
	default:
		close(ch)
	}
	s.mu.Unlock()
	return s.Remote.Put(ctx, name, r, size)
}

// TestUploadsFollowMkdirStart: with a remote.DirStarter, an upload into a
// new directory starts once the directory's Mkdir has gone out, not once
// it is answered (SFTP saves a round trip).
func TestUploadsFollowMkdirStart(t *testing.T) {
	g := gittest.New(t)
	g.Write("a.txt", []byte("a"))
	g.Commit("one")
	dir := t.TempDir()
	if _, _, err := deployTo(t, g.Dir, dir, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	g.Write("new/b.txt", []byte("b"))
	g.Write("new/sub/c.txt", []byte("c"))
	g.Commit("two")
	lr, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &starting{Remote: lr, begun: map[string]chan struct{}{}}
	if _, _, err := deployOn(t, g.Dir, s, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"new", "new/sub"}; !reflect.DeepEqual(s.started, want) {
		t.Errorf("MkdirStart got %q, want %q", s.started, want)
	}
	if files := served(t, dir); files["new/b.txt"] != "b" || files["new/sub/c.txt"] != "c" {
		t.Errorf("served %q", files)
	}
}

// droppingStarter is a remote.DirStarter whose early MKDIRs are lost with
// their connection: what retries a Mkdir must retry them too.
type droppingStarter struct {
	remote.Remote
	mkdirs atomic.Int32
}

func (d *droppingStarter) MkdirStart(ctx context.Context, name string) <-chan error {
	done := make(chan error, 1)
	done <- fmt.Errorf("mkdir %s: connection lost: %w", name, remote.ErrTemporary)
	return done
}

func (d *droppingStarter) Mkdir(ctx context.Context, name string) error {
	d.mkdirs.Add(1)
	return d.Remote.Mkdir(ctx, name)
}

// TestMkdirStartDroppedFallsBack: a new directory whose early MKDIR failed
// with a temporary error is made with the Remote's Mkdir (and its
// retries), and the deploy completes with the file in it.
func TestMkdirStartDroppedFallsBack(t *testing.T) {
	g := gittest.New(t)
	g.Write("new/b.txt", []byte("b"))
	g.Commit("one")
	dir := t.TempDir()
	lr, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &droppingStarter{Remote: lr}
	if _, _, err := deployOn(t, g.Dir, d, deploy.PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	// An upload that found no directory yet may make it too.
	if n := d.mkdirs.Load(); n < 1 {
		t.Errorf("no Mkdir after the dropped MkdirStart")
	}
	if got := served(t, dir)["new/b.txt"]; got != "b" {
		t.Errorf("new/b.txt on the target: %q", got)
	}
}
