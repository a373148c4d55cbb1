package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

// TestReportQuotesNames: an error about a file whose name holds a control
// character names it quoted, on one line, and cannot forge another.
func TestReportQuotesNames(t *testing.T) {
	name := "evil\nINFO uploaded index.html"
	err := fmt.Errorf("deploy: %w", &fs.PathError{Op: "put", Path: name, Err: errors.New("553 refused")})
	var buf bytes.Buffer
	report(&buf, err)
	out := buf.String()
	if !strings.Contains(out, `gftp: error: deploy: put "evil\nINFO uploaded index.html": 553 refused`) {
		t.Errorf("the name is not quoted:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "INFO") {
			t.Errorf("a name forged a line:\n%s", out)
		}
	}
	if got := printable("a\x1b[2Jb\tc"); got != `a\x1b[2Jb\tc` {
		t.Errorf("printable = %q", got)
	}
}
