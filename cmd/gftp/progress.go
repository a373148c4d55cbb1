package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/gftp/gftp/deploy"
)

// progress turns executor events into a progress bar on a terminal, or a
// plain status line every few seconds elsewhere (CI logs must not fill with
// carriage-return redraws; progressbar has no TTY detection of its own).
type progress struct {
	mu         sync.Mutex
	w          io.Writer
	bar        *progressbar.ProgressBar
	files      int
	total      int
	bytes      int64
	totalBytes int64
	stop       chan struct{}
	wg         sync.WaitGroup
}

// statusEvery is how often the plain status line is printed.
var statusEvery = 5 * time.Second

func newProgress(w io.Writer, plan *deploy.Plan, enabled bool) *progress {
	p := &progress{w: w, total: len(plan.Uploads) + len(plan.Deletes), totalBytes: plan.Bytes(), stop: make(chan struct{})}
	if !enabled || p.total == 0 {
		return p
	}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.bar = progressbar.NewOptions64(p.totalBytes,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription(p.describe()),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(statusEvery)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				line := fmt.Sprintf("progress: %s, %s of %s", p.describe(), humanBytes(p.bytes), humanBytes(p.totalBytes))
				p.mu.Unlock()
				if line != last {
					fmt.Fprintln(w, line)
					last = line
				}
			}
		}
	}()
	return p
}

func (p *progress) describe() string { return fmt.Sprintf("%d/%d files", p.files, p.total) }

func (p *progress) Begin(deploy.Action) {}

func (p *progress) Progress(a deploy.Action, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += n
	if p.bar != nil {
		_ = p.bar.Add64(n)
	}
}

func (p *progress) End(a deploy.Action, err error) {
	if a.Op != deploy.OpUpload && a.Op != deploy.OpDelete {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files++
	if p.bar != nil {
		p.bar.Describe(p.describe())
	}
}

// Finish stops the ticker and clears the bar.
func (p *progress) Finish() {
	close(p.stop)
	p.wg.Wait()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
