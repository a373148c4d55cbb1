// Command gftp deploys git repositories to plain file hosts (FTP, FTPES,
// FTPS, SFTP, S3 and local directories), uploading only what changed since
// the last deploy. It is a drop-in for git-ftp.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	// The transports register their URL schemes.
	_ "github.com/gftp/gftp/remote/ftp"
	_ "github.com/gftp/gftp/remote/local"
	_ "github.com/gftp/gftp/remote/s3"
	_ "github.com/gftp/gftp/remote/sftp"
)

func main() {
	ctx, stop := signalContext(os.Stderr)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program, testable: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	a.args = args
	err := a.command().Run(ctx, args)
	if err == nil {
		return exitOK
	}
	return report(stderr, err)
}

// signalContext is cancelled by the first SIGINT or SIGTERM, so that work in
// flight can stop cleanly and the marker stays where it was; a second one
// exits at once.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		fmt.Fprintln(stderr, "gftp: interrupted: stopping; press Ctrl-C again to quit at once")
		cancel()
		<-ch
		os.Exit(exitInterrupted)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
