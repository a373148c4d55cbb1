package integration_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
)

// jsonResult holds the --json result fields these tests read.
type jsonResult struct {
	Type     string `json:"type"`
	OK       bool   `json:"ok"`
	ExitCode int    `json:"exit_code"`
	Error    *struct {
		Message, Hint string
	} `json:"error"`
	Previous string `json:"previous"`
	Deployed string `json:"deployed"`
	Uploaded int    `json:"uploaded"`
	Deleted  int    `json:"deleted"`
	Bytes    int64  `json:"bytes"`
	Failures []struct {
		Op, Path, Reason string
	} `json:"failures"`
}

// lastJSON parses stdout as JSON lines and returns the result, the last.
func lastJSON(t *testing.T, stdout string) jsonResult {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("stdout is not JSON lines: %q", stdout)
		}
	}
	var r jsonResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.Type != "result" {
		t.Fatalf("no result object last: %v %q", err, stdout)
	}
	return r
}

// TestJSONRealServers: --json against real servers: the counts match what
// landed, and a refused login still gives one result object with the exit
// code, the error and its hint.
func TestJSONRealServers(t *testing.T) {
	for _, k := range []servers.Kind{servers.VsftpdFTPES13, servers.ProFTPdTLS} {
		t.Run(string(k), func(t *testing.T) {
			srv := servers.Start(t, k)
			g, c1 := initedRepo(t, srv)
			g.Write("index.html", []byte("two!"))
			g.Write("new/page.html", []byte("page"))
			c2 := g.Commit("two")

			r := gftp(t, srv, g.Dir, "push", "-v", "--json", srv.URL)
			res := lastJSON(t, r.stdout)
			if r.code != 0 || !res.OK || res.Previous != c1 || res.Deployed != c2 || res.Uploaded != 2 || res.Bytes != 8 {
				t.Errorf("push: exit %d %+v\n%s", r.code, res, r.stderr)
			}
			if n := strings.Count(r.stdout, `"type":"action"`); n != 4 { // mkdir new, 2 uploads, the marker
				t.Errorf("%d action lines, want 4:\n%s", n, r.stdout)
			}
			checkServed(t, srv, g, c2)

			bad := *srv
			bad.Password = "Wrong-Passw0rd-xyzzy"
			g.Write("index.html", []byte("three"))
			g.Commit("three")
			r = gftp(t, &bad, g.Dir, "push", "--json", srv.URL)
			res = lastJSON(t, r.stdout)
			if r.code != 5 || res.ExitCode != 5 || res.OK || res.Error == nil ||
				!strings.Contains(res.Error.Message, "authentication failed") || !strings.Contains(res.Error.Hint, "check the user and password") {
				t.Errorf("refused login: exit %d %+v %+v", r.code, res, res.Error)
			}
			if strings.Contains(r.stdout+r.stderr, bad.Password) {
				t.Errorf("the password appears in the output")
			}
		})
	}
}
