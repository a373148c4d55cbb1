package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/gftp/gftp/deploy"
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

// TestIncludeErrorIsUsage: a bad line in a submodule's .git-ftp-include
// exits 2, as one in the superproject's does, with a hint naming the file.
func TestIncludeErrorIsUsage(t *testing.T) {
	err := &deploy.IncludeError{Err: errors.New(`submodule vendor/lib: .git-ftp-include:1: "x" is neither "!path" nor "target:source"`)}
	if got := exitCode(err); got != exitUsage {
		t.Errorf("exit %d, want %d", got, exitUsage)
	}
	var b bytes.Buffer
	report(&b, err)
	if !strings.Contains(b.String(), "gftp: hint: fix the line in the submodule's .git-ftp-include") {
		t.Errorf("report:\n%s", b.String())
	}
}
