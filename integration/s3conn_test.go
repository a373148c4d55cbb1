package integration_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// countingForward accepts on a loopback port and forwards every connection
// to addr, counting the connections it accepted: how many TCP connections
// a client opened.
func countingForward(t *testing.T, addr string) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				s, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{})
				go func() {
					_, _ = io.Copy(s, c)
					_ = s.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				_, _ = io.Copy(c, s)
				_ = c.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// TestS3ConnectionsReused: an init of many files opens about as many
// connections as it keeps requests in flight, not one per file, when the
// server keeps connections alive (as AWS S3 and versitygw --keep-alive
// do). Against a server that closes every connection it opens one per
// request, and the deploy is still whole.
func TestS3ConnectionsReused(t *testing.T) {
	const files, inFlight = 300, 16
	g := gittest.New(t)
	for i := 0; i < files; i++ {
		g.Write(fmt.Sprintf("d%d/f%03d.txt", i%5, i), []byte(fmt.Sprintf("file %d\n", i)))
	}
	g.Commit("many")
	for _, tc := range []struct {
		name     string
		opts     []servers.S3Option
		min, max int64
	}{
		// The probe, the lock, the journal and marker reads, the uploads
		// and the marker share the in-flight count's connections, and a
		// few more: net/http dials for a request that finds none idle,
		// and may then hand it one that came free meanwhile.
		{"KeepAlive", nil, 1, inFlight * 3 / 2},
		{"ConnectionClose", []servers.S3Option{servers.WithS3ConnectionClose()}, files, files + 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := servers.StartS3(t, tc.opts...)
			addr, accepted := countingForward(t, srv.Addr)
			via := *srv
			via.Flags = []string{"--s3-endpoint", "http://" + addr, "--s3-path-style"}
			mustGftp(t, &via, g.Dir, "init", "--in-flight", fmt.Sprint(inFlight), srv.URL+"site")
			for _, i := range []int{0, files / 2, files - 1} {
				name := fmt.Sprintf("d%d/f%03d.txt", i%5, i)
				if got, err := os.ReadFile(filepath.Join(srv.Root, "site", filepath.FromSlash(name))); err != nil || string(got) != fmt.Sprintf("file %d\n", i) {
					t.Errorf("%s on the server: %q, %v", name, got, err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(srv.Root, "site", ".git-ftp.log")); err != nil || !strings.Contains(string(b), g.Git("rev-parse", "HEAD")) {
				t.Errorf("marker: %q, %v", b, err)
			}
			n := accepted.Load()
			t.Logf("%d files, %d in flight: %d TCP connections", files, inFlight, n)
			if n < tc.min || n > tc.max {
				t.Errorf("the init opened %d TCP connections, want %d to %d", n, tc.min, tc.max)
			}
		})
	}
}
