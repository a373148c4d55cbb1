package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestCutConnectionHint: a connection cut mid-login or mid-transfer is
// reported in one line, with a hint to run again.
func TestCutConnectionHint(t *testing.T) {
	for _, cut := range []error{io.ErrUnexpectedEOF, io.EOF, syscall.ECONNRESET, syscall.EPIPE} {
		err := &fs.PathError{Op: "connect", Path: "ftpes://deploy@host/", Err: fmt.Errorf("read: %w", cut)}
		var b bytes.Buffer
		report(&b, err)
		out := b.String()
		if strings.Count(out, "gftp: error: ") != 1 || !strings.Contains(out, "gftp: hint: the connection was cut") {
			t.Errorf("%v:\n%s", cut, out)
		}
	}
}
