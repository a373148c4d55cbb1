package deploy

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gftp/gftp/remote"
)

// dirMaker makes a plan's new directories beside its uploads: one depth at
// a time, parents first, the directories of a depth in parallel. An upload
// waits only for its own directory, so that uploads into directories that
// exist start at once.
type dirMaker struct {
	made  map[string]chan struct{} // closed once the directory was tried
	count atomic.Int64             // made (or there already)
	done  chan struct{}            // closed when every directory was tried
}

// startDirs starts making dirs (parents first) with at most jobs at once;
// each outcome goes to obs, and a failure to fail.
func startDirs(ctx context.Context, r remote.Remote, dirs []Action, jobs int, obs Observer, fail func(Action, error)) *dirMaker {
	m := &dirMaker{made: make(map[string]chan struct{}, len(dirs)), done: make(chan struct{})}
	var levels [][]Action
	for _, a := range dirs {
		m.made[a.Path] = make(chan struct{})
		d := strings.Count(a.Path, "/")
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], a)
	}
	ds, _ := remote.As[remote.DirStarter](r)
	go func() {
		defer close(m.done)
		for _, level := range levels {
			parallel(ctx, jobs, level, func(a Action) {
				made := sync.OnceFunc(func() { close(m.made[a.Path]) })
				defer made()
				obs.Begin(a)
				var err error
				if ds != nil {
					// What goes into it may go once the MKDIR has.
					done := ds.MkdirStart(ctx, a.Path)
					made()
					// The transport itself does not retry: a dropped
					// connection gets r's retries, as a Mkdir would.
					if err = <-done; errors.Is(err, remote.ErrTemporary) && ctx.Err() == nil {
						err = r.Mkdir(ctx, a.Path)
					}
				} else {
					err = r.Mkdir(ctx, a.Path)
				}
				if errors.Is(err, fs.ErrExist) {
					err = nil
				}
				obs.End(a, err)
				if err != nil {
					fail(a, err)
					return
				}
				m.count.Add(1)
			})
		}
		// Any not tried (cancelled): nobody waits for them any more.
		for _, level := range levels {
			for _, a := range level {
				select {
				case <-m.made[a.Path]:
				default:
					close(m.made[a.Path])
				}
			}
		}
	}()
	return m
}

// wait waits until the directory that holds name was tried, when it is
// one of the new ones (with a remote.DirStarter, until its Mkdir has gone
// out). The upload then goes ahead whatever came of it: a
// directory that could not be made fails the upload on its own.
func (m *dirMaker) wait(ctx context.Context, name string) error {
	ch, ok := m.made[remote.Dir(name)]
	if !ok {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
