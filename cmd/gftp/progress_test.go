package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgressPlainLines: off a terminal, progress is a plain status line
// now and then, never a carriage-return redraw.
func TestProgressPlainLines(t *testing.T) {
	old := statusEvery
	statusEvery = 5 * time.Millisecond
	defer func() { statusEvery = old }()
	plan := &deploy.Plan{Uploads: []deploy.Action{{Op: deploy.OpUpload, Path: "a", Size: 2048}, {Op: deploy.OpUpload, Path: "b", Size: 2048}}}
	var out syncBuffer
	p := newProgress(&out, plan, true)
	p.Progress(plan.Uploads[0], 2048)
	p.End(plan.Uploads[0], nil)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "progress: 1/2 files, 2.0 KiB of 4.0 KiB") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.Finish()
	got := out.String()
	if !strings.Contains(got, "progress: 1/2 files, 2.0 KiB of 4.0 KiB\n") {
		t.Fatalf("no status line in %q", got)
	}
	if strings.Contains(got, "\r") {
		t.Errorf("carriage returns in non-terminal output: %q", got)
	}
	if n := strings.Count(got, "progress: 1/2"); n != 1 {
		t.Errorf("an unchanged status was printed %d times", n)
	}
}
