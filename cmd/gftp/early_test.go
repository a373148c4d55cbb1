package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
)

// TestEarlyOpenAsksOnlyAfterLocalChecks: the connection starts before the
// local checks end, but whatever may ask a person (waitLocal) goes on only
// once they passed, and never when they failed.
func TestEarlyOpenAsksOnlyAfterLocalChecks(t *testing.T) {
	for _, pass := range []bool{true, false} {
		a := newApp(nil, nil, nil)
		var asked atomic.Bool
		started := make(chan struct{})
		e := a.startEarly(context.Background(), func(ctx context.Context) (remote.Remote, error) {
			close(started)
			if err := a.waitLocal(); err != nil {
				return nil, err
			}
			asked.Store(true)
			return nil, errors.New("no server")
		})
		<-started
		time.Sleep(20 * time.Millisecond)
		if asked.Load() {
			t.Fatalf("asked before the local checks ended")
		}
		if pass {
			if _, err := e.wait(); err == nil || err.Error() != "no server" {
				t.Errorf("wait: %v", err)
			}
			if !asked.Load() {
				t.Errorf("not asked once the local checks passed")
			}
		} else {
			e.abandon()
			if asked.Load() {
				t.Errorf("asked although the local checks failed")
			}
		}
	}
}
