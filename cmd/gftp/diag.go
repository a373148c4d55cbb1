package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/diag"
	"github.com/gftp/gftp/remote"
)

// diagCommand is `gftp diag URL` and `gftp diag handshake HOST[:PORT]`.
// It needs no repository; inside one, it reads the URL and credentials
// from the same settings as push.
func (a *app) diagCommand() *cli.Command {
	flags := func(extra ...cli.Flag) []cli.Flag {
		return append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.DurationFlag{Name: "connect-timeout", Value: 5 * time.Second, Usage: "give up a TCP connect (and DNS lookup) after `DURATION`"},
		}, extra...)
	}
	return &cli.Command{
		Name:  "diag",
		Usage: "diagnose the connection to an FTP server step by step (DNS, connect, TLS, certificate, login, data connections), with advice",
		UsageText: "gftp diag [options] [URL|SCOPE]\n" +
			"gftp diag handshake [options] HOST[:PORT]",
		ArgsUsage: "[URL|SCOPE]",
		Flags: flags(&cli.BoolFlag{Name: "write-test",
			Usage: "with credentials, also store, size, rename and delete a small temporary file, to prove write permission"}),
		Action: a.diagCmd,
		Commands: []*cli.Command{{
			Name:      "handshake",
			Usage:     "check DNS, connect, banner, FEAT, TLS and the certificate of HOST[:PORT] (explicit TLS; implicit on port 990), without logging in",
			ArgsUsage: "HOST[:PORT]",
			Flags:     flags(),
			Action:    a.diagHandshakeCmd,
		}},
	}
}

func (a *app) diagHandshakeCmd(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return missingErr("usage: gftp diag handshake HOST[:PORT]", "diag handshake needs one HOST[:PORT]")
	}
	t, err := diag.ParseHostPort(cmd.Args().First())
	if err != nil {
		return usageErr("give HOST, HOST:PORT or a URL such as ftpes://HOST:PORT/", "%v", err)
	}
	s, err := a.diagSettings(ctx, cmd)
	if err != nil {
		return err
	}
	u, err := remote.ParseURL(t.String())
	if err != nil {
		return usageErr("give HOST or HOST:PORT", "%v", err)
	}
	o, err := a.diagOptions(ctx, cmd, s, u)
	if err != nil {
		return err
	}
	o.User, o.Password, o.HandshakeOnly = "", "", true
	return a.diagRun(ctx, cmd, t, o)
}

func (a *app) diagCmd(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() > 1 {
		return usageErr("give one URL or scope", "too many arguments: %q", cmd.Args().Slice())
	}
	s, err := a.diagSettings(ctx, cmd)
	if err != nil {
		return err
	}
	arg := cmd.Args().First()
	if arg != "" && !strings.Contains(arg, "://") && s.hasScope(arg) && s.scope == "" {
		s.scope, arg = arg, ""
	}
	raw := arg
	if raw == "" {
		raw = s.str("url")
	}
	if raw == "" {
		return missingErr("give the URL as an argument (gftp diag ftpes://HOST/), or set GFTP_URL or git config git-ftp.url", "no URL given")
	}
	u, err := remote.ParseURL(raw)
	if err != nil {
		return usageErr("URLs look like ftp://host/path, ftpes:// or ftps://", "%v", err)
	}
	t, err := diag.ParseURL(u.Scheme + "://" + u.Host + u.EscapedPath())
	if err != nil {
		return usageErr("diag checks FTP servers: ftp://, ftpes:// or ftps://", "%v", err)
	}
	o, err := a.diagOptions(ctx, cmd, s, u)
	if err != nil {
		return err
	}
	return a.diagRun(ctx, cmd, t, o)
}

// diagSettings reads settings from the repository when there is one, and
// from flags and the environment alone when not.
func (a *app) diagSettings(ctx context.Context, cmd *cli.Command) (*settings, error) {
	dir := ""
	if wd, err := a.getwd(); err == nil {
		if repo, err := deploy.OpenRepo(wd); err == nil {
			dir = repo.Dir
		}
	}
	return loadSettings(ctx, cmd, dir)
}

// diagOptions gathers credentials and TLS settings the way every other
// command does (remoteOptions), then turns them into diag's.
func (a *app) diagOptions(ctx context.Context, cmd *cli.Command, s *settings, u *url.URL) (diag.Options, error) {
	dir := ""
	if wd, err := a.getwd(); err == nil {
		dir = wd
	}
	ro, err := a.remoteOptions(ctx, cmd, s, dir, u)
	if err != nil {
		return diag.Options{}, err
	}
	o := diag.Options{
		User:           ro.User,
		Password:       ro.Password,
		Insecure:       ro.Insecure,
		CACert:         ro.CACert,
		PinSHA256:      ro.PinSHA256,
		KeyLog:         ro.KeyLog,
		DisableEPSV:    ro.DisableEPSV,
		ActiveAddr:     ro.ActiveAddr,
		ActivePorts:    ro.ActivePorts,
		TrustPASVIP:    ro.TrustPASVIP,
		Proxy:          ro.Proxy,
		WriteTest:      cmd.Bool("write-test"),
		ConnectTimeout: cmd.Duration("connect-timeout"),
		Log:            func(line string) { a.log.Debug(line) },
	}
	if cmd.IsSet("timeout") {
		o.Timeout = ro.Timeout
	}
	return o, nil
}

func (a *app) diagRun(ctx context.Context, cmd *cli.Command, t diag.Target, o diag.Options) error {
	a.log.Info("diagnosing", "target", t.String())
	rep := diag.Run(ctx, t, o)
	var err error
	if cmd.Bool("json") {
		err = rep.WriteJSON(a.stdout)
	} else {
		err = rep.WriteText(a.stdout)
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rep.Failed() {
		var failed []string
		for _, c := range rep.Checks {
			if c.Status == diag.Fail {
				failed = append(failed, c.ID)
			}
		}
		return &cliError{code: exitRemote, msg: fmt.Sprintf("diag: %s failed", strings.Join(failed, ", ")),
			hint: "the report above says what to do for each failed check"}
	}
	return nil
}
