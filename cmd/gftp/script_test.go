package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gftp/gftp/remote/ftp/ftptest"
)

// TestMain lets the test binary act as gftp inside scripts: `exec gftp`
// runs the real command in a child process with the script's environment
// and directory. The exit code is also written where `exitcode` reads it.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"gftp": func() {
			ctx, stop := signalContext(os.Stderr) // as main does: Ctrl-C is tested
			code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
			stop()
			if f := os.Getenv("GFTP_TEST_EXITCODE_FILE"); f != "" {
				_ = os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644)
			}
			os.Exit(code)
		},
	})
}

// TestScripts runs the end-to-end command-line scripts in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("..", "..", "testdata", "script"),
		Setup: func(env *testscript.Env) error {
			// Outside $WORK, which scripts turn into the repository.
			dir, err := os.MkdirTemp("", "gftp-exitcode")
			if err != nil {
				return err
			}
			env.Defer(func() { os.RemoveAll(dir) })
			env.Setenv("GFTP_TEST_EXITCODE_FILE", filepath.Join(dir, "code"))
			env.Setenv("GIT_AUTHOR_NAME", "gftp test")
			env.Setenv("GIT_AUTHOR_EMAIL", "test@example.com")
			env.Setenv("GIT_COMMITTER_NAME", "gftp test")
			env.Setenv("GIT_COMMITTER_EMAIL", "test@example.com")
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
			env.Setenv("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// ftpserve USER PASSWORD DIR: serve DIR over FTPES (TLS required)
			// from the test process, for the rest of the script. It sets
			// $FTPURL, $FTPHOST, $FTPPORT and $FTPCA.
			"ftpserve": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: ftpserve USER PASSWORD DIR")
				}
				dir := ts.MkAbs(args[2])
				if err := os.MkdirAll(dir, 0o755); err != nil {
					ts.Fatalf("%v", err)
				}
				srv, err := ftptest.Start(dir, ftptest.Config{User: args[0], Password: args[1], TLS: ftptest.RequireTLS})
				if err != nil {
					ts.Fatalf("start FTP server: %v", err)
				}
				ts.Defer(func() { srv.Close() })
				host, port, _ := strings.Cut(srv.Addr(), ":")
				ts.Setenv("FTPURL", srv.URL())
				ts.Setenv("FTPHOST", host)
				ts.Setenv("FTPPORT", port)
				ts.Setenv("FTPCA", srv.CACertFile())
			},
			// exitcode N: the last gftp run exited with N.
			"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: exitcode N")
				}
				got := strings.TrimSpace(ts.ReadFile(ts.Getenv("GFTP_TEST_EXITCODE_FILE")))
				if (got == args[0]) == neg {
					ts.Fatalf("gftp exited with %s, want %s%s", got, map[bool]string{true: "not "}[neg], args[0])
				}
			},
		},
	})
}
