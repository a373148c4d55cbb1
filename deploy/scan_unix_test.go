//go:build unix

package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/deploy/manifest"
)

// BenchmarkSyncPlan100k is a sync's local work on 100,000 files (issue
// 17: under 2 s on the 2-core machine): walk and hash the directory, then
// diff against a manifest of the same tree in which 1% of the files differ
// and 1% are gone, and plan. The tree is written once, outside the timer.
func BenchmarkSyncPlan100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	old := manifest.New()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("d%03d/e%02d/f%05d.html", i/1000, i/100%10, i)
		content := fmt.Sprintf("<p>page %d of the site, a few hundred bytes %s</p>\n", i, strings.Repeat("lorem ipsum ", 20))
		p := filepath.Join(dir, filepath.FromSlash(name))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
		if i%100 == 1 {
			content += "changed"
		}
		old.Set(manifest.Entry{Path: name, Size: int64(len(content)), SHA256: sha256.Sum256([]byte(content))})
		if i%100 == 2 {
			old.Set(manifest.Entry{Path: fmt.Sprintf("gone/f%05d.html", i), Size: 1})
		}
	}
	data := old.Bytes() // as the server holds it: parsed in each iteration
	ctx := context.Background()
	b.ResetTimer()
	var scanTime, planTime time.Duration
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		s, err := ScanDir(ctx, dir, ScanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		m, warns, err := manifest.Parse(bytes.NewReader(data))
		if err != nil || len(warns) > 0 {
			b.Fatal(err, warns)
		}
		p, err := NewSyncPlan(s, SyncPlanOptions{Old: m})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Files) != n || len(p.Uploads) != n/100 || len(p.Deletes) != n/100 || p.Manifest.Len() != n {
			b.Fatalf("%d files, %d uploads, %d deletes, %d entries", len(s.Files), len(p.Uploads), len(p.Deletes), p.Manifest.Len())
		}
		if len(p.Manifest.Bytes()) == 0 {
			b.Fatal("no manifest")
		}
		scanTime += t1.Sub(t0)
		planTime += time.Since(t1)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	// CPU time (user and system) tells the work apart from the machine's
	// load, which on the shared 2 cores moves the wall time a lot.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(scanTime.Seconds()/float64(b.N), "scan-s/op")
	b.ReportMetric(planTime.Seconds()/float64(b.N), "plan-s/op")
}
