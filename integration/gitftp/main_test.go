// Package gitftp_test runs the same deploy scenarios with git-ftp (Debian's
// /usr/bin/git-ftp, the tool gftp replaces) and with gftp against the same
// real server, each in its own directory on it, and compares what lands
// there byte for byte, the markers, the hooks' arguments and input, and the
// exit codes. Where gftp differs on purpose, the README says so, and the
// scenario asserts that difference instead.
package gitftp_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gftp/gftp/internal/gittest"
)

// gftpBin is the gftp binary the scenarios run, built once from this tree.
var gftpBin string

func TestMain(m *testing.M) {
	os.Exit(gittest.MainWithGFTP(m, &gftpBin))
}

// tool is one of the two deploy tools compared.
type tool int

const (
	gitFTP tool = iota // git-ftp 1.6, run as `git ftp`
	gftp               // the gftp built from this tree
)

func (tl tool) String() string {
	if tl == gitFTP {
		return "git-ftp"
	}
	return "gftp"
}

// result is one run of a tool.
type result struct {
	stdout, stderr string
	code           int
}

// runTool runs tl with args in dir: git-ftp as `git ftp ARGS`, as its users
// run it, and gftp as `gftp ARGS`, the same arguments. It runs in several
// goroutines at once, so a failure to start becomes exit code -1.
func runTool(tl tool, dir string, env []string, stdin string, args []string) result {
	var cmd *exec.Cmd
	if tl == gitFTP {
		cmd = exec.Command("git", append([]string{"ftp"}, args...)...)
	} else {
		cmd = exec.Command(gftpBin, args...)
	}
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin) // git-ftp's question about an unknown SHA reads EOF
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code, r.stderr = -1, fmt.Sprintf("run %s: %v", tl, err)
	}
	return r
}
