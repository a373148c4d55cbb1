package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/urfave/cli/v3"

	"github.com/gftp/gftp/deploy"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/retry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// app is one run of the command: its streams and what the flags decided.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	verbose        int
	log            *slog.Logger
	getwd          func() (string, error)
	// brokenLock is the holder of a dead deploy's lock that the lock taken
	// replaced: that deploy may have left temporary files and a journal.
	brokenLock *deploy.LockInfo
	// held is the lock taken, nil without one: a deploy's marker move may
	// release it in the same round trip (deploy.Executor.Lock).
	held *deploy.Lock
	// promptGate, when set, is waited for before asking on the terminal
	// (see openEarly).
	promptGate func() error
	out        *output // --json and CI-native output (report.go, ci.go)
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getwd: os.Getwd, out: newOutput()}
}

// connFlags are accepted by every command that talks to a remote.
func (a *app) connFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "login `USER` (env GFTP_USER, git config git-ftp.user, ~/.netrc)"},
		&cli.StringFlag{Name: "passwd", Aliases: []string{"p"}, Usage: "login `PASSWORD`; visible to other users in ps, so prefer GFTP_PASSWORD, --password-command, ~/.netrc or -P"},
		&cli.BoolFlag{Name: "ask-passwd", Aliases: []string{"P"}, Usage: "ask for the password on the terminal"},
		&cli.StringFlag{Name: "password-command", Usage: "run `CMD` with sh -c and use its first output line as the password (env GFTP_PASSWORD_COMMAND)"},
		&cli.StringFlag{Name: "scope", Aliases: []string{"s"}, Usage: "use the settings of scope `NAME` (git config git-ftp.NAME.*)"},
		&cli.StringFlag{Name: "syncroot", Usage: "deploy only `DIR` of the repository, as the remote root"},
		&cli.StringFlag{Name: "remote-root", Usage: "prefix `DIR` to the URL's path, as git-ftp does"},
		&cli.BoolFlag{Name: "insecure", Usage: "do not verify the server's TLS certificate or SSH host key (warns)"},
		&cli.StringFlag{Name: "cacert", Usage: "trust the CA certificates in PEM `FILE` as well as the system's"},
		&cli.StringSliceFlag{Name: "pin-sha256", Usage: "accept a server certificate whose SHA-256 fingerprint is `HEX`"},
		&cli.BoolFlag{Name: "disable-epsv", Usage: "FTP: use PASV instead of EPSV"},
		&cli.BoolFlag{Name: "active", Aliases: []string{"A"}, Usage: "FTP: active mode (PORT, or EPRT for IPv6): the server connects back to us for data (git config git-ftp.active)"},
		&cli.BoolFlag{Name: "passive", Usage: "FTP: passive mode (EPSV/PASV), the default; of --active and --passive the last one wins"},
		&cli.StringFlag{Name: "active-addr", Usage: "FTP active mode: announce `IP` to the server (the public address of a client behind NAT)"},
		&cli.StringFlag{Name: "active-ports", Usage: "FTP active mode: listen on a port in `LOW-HIGH` (for a client-side firewall)"},
		&cli.BoolFlag{Name: "trust-pasv-ip", Usage: "FTP passive mode: connect to the address in the PASV reply instead of the control connection's"},
		&cli.StringFlag{Name: "key", Usage: "SFTP: private key `FILE` (passphrase from GFTP_KEY_PASSPHRASE or a prompt)"},
		&cli.StringFlag{Name: "pubkey", Usage: "SFTP: accepted for git-ftp compatibility and ignored (the public key is derived from --key)"},
		&cli.StringFlag{Name: "known-hosts", Usage: "SFTP: known_hosts `FILE` (default ~/.ssh/known_hosts)"},
		&cli.BoolFlag{Name: "accept-new-host-key", Usage: "SFTP: add an unknown host key to known_hosts (never a changed one)"},
		&cli.StringFlag{Name: "s3-endpoint", Usage: "S3: endpoint `URL` of an S3-compatible server (env AWS_ENDPOINT_URL)"},
		&cli.StringFlag{Name: "s3-region", Usage: "S3: bucket `REGION`"},
		&cli.StringFlag{Name: "s3-profile", Usage: "S3: shared config `PROFILE`"},
		&cli.BoolFlag{Name: "s3-path-style", Usage: "S3: path-style addressing (most S3-compatible servers)"},
		&cli.StringFlag{Name: "cache-control", Usage: "S3: Cache-Control `VALUE` for uploaded objects"},
		&cli.StringFlag{Name: "proxy", Aliases: []string{"x"}, Usage: "connect through the SOCKS5 or HTTP CONNECT proxy `URL`: [socks5://|socks5h://|http://][user:password@]host[:port] (env GFTP_PROXY, git config git-ftp.proxy, then http.proxy)"},
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: 4, Usage: "parallel transfers (`N` connections; SFTP: sessions over one SSH connection, at most 8)"},
		&cli.IntFlag{Name: "in-flight", Value: 64, Usage: "SFTP, S3: `N` files in flight at once over the connection(s) (-j still counts FTP's transfers)"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "idle `DURATION` after which a stalled network read or write fails"},
		&cli.IntFlag{Name: "retries", Value: 3, Usage: "retry a transient failure (dropped connection, 421/425/426/450/451, timeout, S3 5xx) up to `N` times, with backoff"},
	}
}

func (a *app) command() *cli.Command {
	root := a.rootCommand()
	for _, c := range root.Commands {
		c.OnUsageError = root.OnUsageError
		if jsonCommands[c.Name] {
			c.Flags = append(c.Flags, jsonFlag())
		}
	}
	return root
}

func (a *app) rootCommand() *cli.Command {
	verbosity := 0
	deployFlags := func(extra ...cli.Flag) []cli.Flag {
		return append(append([]cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"D"}, Usage: "print the plan and touch nothing on the remote"},
			&cli.StringFlag{Name: "commit", Aliases: []string{"c"}, Usage: "take `SHA` as the deployed commit (the diff base) instead of reading the marker, as git-ftp does (push; init ignores it)"},
			&cli.BoolFlag{Name: "allow-dirty", Usage: "deploy although tracked files have uncommitted changes"},
		}, append(append(revFlags(), hookFlags()...), lockFlags()...)...), extra...)
	}
	return &cli.Command{
		Name:                   "gftp",
		Usage:                  "deploy git repositories to FTP, FTPS, SFTP, S3 and directories by uploading only what changed",
		UsageText:              "gftp [global options] command [options] [URL|SCOPE]",
		Version:                version,
		Writer:                 a.stdout,
		ErrWriter:              a.stderr,
		UseShortOptionHandling: true,
		EnableShellCompletion:  true, // for the scripts of gftp completion
		HideVersion:            true,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "-v lists each action, -vv adds the protocol dialogue (passwords shown as ****)", Config: cli.BoolConfig{Count: &verbosity}},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q", "silent", "n"}, Usage: "print only errors and the summary"},
		}, append(gitftpRootFlags(), a.connFlags()...)...),
		Before: func(ctx context.Context, cmd *cli.Command) (context.Context, error) {
			a.verbose = verbosity
			if cmd.Bool("quiet") {
				a.verbose = -1
			}
			a.log = slog.New(newLogHandler(a.stderr, a.verbose))
			if cmd.Bool("lock") {
				a.log.Info("-l/--lock: the remote lock is always on in gftp; --no-lock turns it off")
			}
			a.outputReady()
			return ctx, nil
		},
		ExitErrHandler: func(context.Context, *cli.Command, error) {}, // exit codes are ours
		OnUsageError: func(ctx context.Context, cmd *cli.Command, err error, _ bool) error {
			if strings.Contains(err.Error(), "flag needs an argument") {
				// git-ftp: "Too few arguments for option", exit 3.
				return missingErr("see 'gftp help "+cmd.Name+"'", "%v", err)
			}
			return usageErr("see 'gftp help "+cmd.Name+"'", "%v", err)
		},
		Commands: append([]*cli.Command{
			{
				Name:      "init",
				Usage:     "upload every file of the commit and record it as deployed (the first deploy)",
				ArgsUsage: "[URL|SCOPE]",
				Flags:     deployFlags(),
				Action:    a.run(a.initCmd),
			},
			{
				Name:      "push",
				Usage:     "upload what changed since the deployed commit, delete what was removed, then move the marker",
				ArgsUsage: "[URL|SCOPE]",
				Flags: deployFlags(
					&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "upload every file, not only the changes"},
					&cli.BoolFlag{Name: "auto-init", Usage: "run init when nothing is deployed yet"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "when the deployed commit is unknown locally, upload every file"},
					&cli.BoolFlag{Name: "repair", Usage: "also upload the files that are missing on the server or have the wrong size (see gftp check)"},
				),
				Action: a.run(a.pushCmd),
			},
			{
				Name:      "catchup",
				Usage:     "record the commit as deployed without uploading anything",
				ArgsUsage: "[URL|SCOPE]",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "dry-run", Aliases: []string{"D"}, Usage: "say what would be recorded, and record nothing"},
					&cli.StringFlag{Name: "commit", Aliases: []string{"c"}, Usage: "accepted as in git-ftp, where catchup ignores it; to record another commit than HEAD use --deploy-rev"},
				}, append(revFlags(), lockFlags()...)...),
				Action: a.run(a.catchupCmd),
			},
			{
				Name:      "show",
				Usage:     "print the deployed commit and its diff (git show DEPLOYED), as git-ftp does",
				ArgsUsage: "[URL|SCOPE]",
				Action:    a.run(a.showCmd),
			},
			{
				Name:      "log",
				Usage:     "print the history up to the deployed commit (git log DEPLOYED), as git-ftp does",
				ArgsUsage: "[URL|SCOPE]",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "pending", Usage: "list instead the commits between the deployed one and HEAD: what the next push sends"},
				},
				Action: a.run(a.logCmd),
			},
			{
				Name:      "add-scope",
				Usage:     "save URL (and any user:password in it) as scope NAME in git config git-ftp.NAME.*",
				ArgsUsage: "NAME URL",
				Action:    a.run(a.addScopeCmd),
			},
			{
				Name:      "remove-scope",
				Usage:     "delete scope NAME from git config",
				ArgsUsage: "NAME",
				Action:    a.run(a.removeScopeCmd),
			},
			a.publishDumbCommand(),
			a.syncCommand(),
			a.checkCommand(),
			a.diagCommand(),
			a.completionCommand(),
			a.manCommand(),
			{
				Name:  "version",
				Usage: "print gftp's version",
				Action: func(ctx context.Context, cmd *cli.Command) error {
					fmt.Fprintf(a.stdout, "gftp %s\n", version)
					return nil
				},
			},
		}, unsupportedCommands()...),
	}
}

// run adapts a command body to urfave/cli.
func (a *app) run(fn func(context.Context, *cli.Command) error) cli.ActionFunc {
	return fn
}

// warn prints a warning unless -q.
func (a *app) warn(format string, args ...any) {
	if a.verbose >= 0 {
		a.out.ci.warning(a.stderr, printable(fmt.Sprintf(format, args...)))
	}
}

// target is an opened repository, its settings, and the remote's URL.
type target struct {
	deployed string // the remote SHA as the hooks see it ("" when none)
	repo     *deploy.Repo
	settings *settings
	url      *url.URL
	display  string              // the URL without password, for messages
	local    string              // gftp sync: the directory deployed (repo is nil)
	journal  *deploy.JournalRead // read under the lock beside the marker (readJournalEarly)
}

// lockFlags are the flags of the commands that take the remote lock.
func lockFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "no-lock", Usage: "do not take the remote lock (" + deploy.LockName + ") that keeps two deploys apart"},
		&cli.DurationFlag{Name: "lock-ttl", Value: time.Hour, Usage: "a lock older than `DURATION` may be broken with --break-lock"},
		&cli.BoolFlag{Name: "break-lock", Usage: "break a lock older than --lock-ttl left by a deploy that died"},
	}
}

// lock takes the remote lock unless --no-lock or --dry-run, and returns
// its release, which runs however the command ends. The lock names its
// holder from the start (deploy.AcquireLock). reads are the files read
// once it is held (deploy.LockOptions.Read).
func (a *app) lock(ctx context.Context, cmd *cli.Command, r remote.Remote, commit string, reads ...string) (release func(), err error) {
	if cmd.Bool("no-lock") || cmd.Bool("dry-run") {
		return func() {}, a.rootWithoutLock(ctx, cmd, r)
	}
	l, err := deploy.AcquireLock(ctx, r, deploy.NewLockInfo(cmd.Name, commit), deploy.LockOptions{
		TTL:        cmd.Duration("lock-ttl"),
		Break:      cmd.Bool("break-lock"),
		Warn:       func(msg string) { a.warn("%s", msg) },
		CreateRoot: createsRoot(cmd),
		Read:       reads,
	})
	if err != nil {
		return nil, err
	}
	a.logCreated(l.Created)
	a.brokenLock = l.Broken
	a.held = l
	a.log.Info("lock taken", "name", deploy.LockName)
	return func() { a.release(ctx) }, nil
}

// release releases the lock taken, if any and not released yet: once the
// marker has moved, or however the command ends.
func (a *app) release(ctx context.Context) {
	if a.held == nil {
		return
	}
	if err := a.held.Release(ctx); err != nil {
		a.warn("could not remove the lock %s: %v; remove it by hand, or the next deploy needs --break-lock", deploy.LockName, err)
	}
}

// resolveTarget opens the repository and works out URL and settings. The
// positional argument is a URL, or the name of a scope.
func (a *app) resolveTarget(ctx context.Context, cmd *cli.Command) (*target, error) {
	wd, err := a.getwd()
	if err != nil {
		return nil, err
	}
	repo, err := deploy.OpenRepo(wd)
	if err != nil {
		return nil, err
	}
	s, err := loadSettings(ctx, cmd, repo.Dir)
	if err != nil {
		return nil, err
	}
	if cmd.Args().Len() > 1 {
		return nil, usageErr("give one URL or scope", "too many arguments: %q", cmd.Args().Slice())
	}
	u, err := a.targetURL(s, cmd.Args().First())
	if err != nil {
		return nil, err
	}
	t := &target{repo: repo, settings: s, url: u}
	t.display = remote.Redact(u.String())
	a.out.rep.setURL(t.display)
	return t, nil
}

// targetURL is the URL that arg (a URL, a scope's name, or "" for the
// configured URL) names, with --remote-root applied.
func (a *app) targetURL(s *settings, arg string) (*url.URL, error) {
	if arg != "" && !strings.Contains(arg, "://") && s.hasScope(arg) && s.scope == "" {
		s.scope, arg = arg, ""
	}
	raw := arg
	if raw == "" {
		raw = s.str("url")
	}
	if raw == "" {
		hint := "give the URL as an argument, or set GFTP_URL or git config git-ftp.url"
		if s.scope != "" {
			hint = fmt.Sprintf("set it with 'gftp add-scope %s URL'", s.scope)
		}
		return nil, missingErr(hint, "no URL given")
	}
	u, err := remote.ParseURL(raw)
	if err != nil {
		return nil, usageErr("URLs look like ftp://host/path, ftpes://, ftps://, sftp://user@host/path, s3://bucket/prefix or a local path", "%v", err)
	}
	if rr := s.str("remote-root"); rr != "" && u.Scheme != "file" {
		// git-ftp: REMOTE_PATH = REMOTE_ROOT + the URL's path.
		rest := strings.TrimPrefix(u.Path, "/")
		u.Path = "/" + strings.TrimSuffix(rr, "/") + "/" + rest
		u.RawPath = ""
	}
	return u, nil
}

// open connects to the target's remote.
func (a *app) open(ctx context.Context, cmd *cli.Command, t *target) (remote.Remote, error) {
	opts, err := a.remoteOptions(ctx, cmd, t.settings, t.workDir(), t.url)
	if err != nil {
		return nil, err
	}
	u := *t.url
	u.User = nil
	if opts.User != "" || opts.Password != "" {
		u.User = url.User(opts.User)
	}
	a.log.Info("connecting", "url", remote.Redact(u.String()))
	r, err := remote.Open(ctx, &u, opts)
	if err != nil {
		return nil, err
	}
	return retry.New(r, a.retryPolicy(cmd)), nil
}

func (a *app) retryPolicy(cmd *cli.Command) retry.Policy {
	p := retry.DefaultPolicy
	p.Retries = max(int(cmd.Int("retries")), 0)
	p.Logger = a.log
	return p
}

// remoteOptions turns the settings into the transport's options, doing
// what resolving them leaves to the last moment: warnings, the key log,
// and asking for the password or running what supplies it. dir is where
// --password-command runs (the repository, or for diag the working
// directory).
func (a *app) remoteOptions(ctx context.Context, cmd *cli.Command, s *settings, dir string, u *url.URL) (remote.Options, error) {
	st, err := resolveSettings(s, u, netrcLookup)
	if err != nil {
		return remote.Options{}, err
	}
	o := remote.Options{
		Prewarm:          (cmd.Name == "init" || cmd.Name == "push" || cmd.Name == "publish-dumb" || cmd.Name == "sync") && !cmd.Bool("dry-run"),
		Insecure:         st.Insecure,
		CACert:           st.CACert,
		PinSHA256:        st.PinSHA256,
		DisableEPSV:      st.DisableEPSV,
		Active:           st.Active,
		ActiveAddr:       st.ActiveAddr,
		ActivePorts:      st.ActivePorts,
		TrustPASVIP:      st.TrustPASVIP,
		KeyFile:          st.Key,
		KnownHosts:       st.KnownHosts,
		AcceptNewHostKey: st.AcceptNewHostKey,
		S3Endpoint:       st.S3Endpoint,
		S3Region:         st.S3Region,
		S3Profile:        st.S3Profile,
		S3PathStyle:      st.S3PathStyle,
		CacheControl:     st.CacheControl,
		Jobs:             st.Jobs,
		InFlight:         st.InFlight,
		Timeout:          st.Timeout,
		User:             st.User,
		Logger:           a.log,
	}
	p, err := a.proxySetting(ctx, s, dir, u.Scheme, o.Active)
	if err != nil {
		return o, err
	}
	o.Proxy = p
	if o.Insecure {
		a.warn("--insecure: the server's identity is not verified; anyone on the path can read and change this deploy")
	}
	if p := os.Getenv("SSLKEYLOGFILE"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return o, &deploy.LocalError{Err: err}
		}
		a.warn("SSLKEYLOGFILE is set: TLS session keys are written to %s", p)
		o.KeyLog = f
	}
	o.KeyPassphrase = func() ([]byte, error) {
		if v, ok := os.LookupEnv("GFTP_KEY_PASSPHRASE"); ok {
			return []byte(v), nil
		}
		return a.prompt("Passphrase for " + o.KeyFile + ": ")
	}
	if st.PasswordFrom == srcFlag {
		a.warn("a password on the command line is visible to other users (ps, shell history); use GFTP_PASSWORD, --password-command, ~/.netrc or -P instead")
	}
	pw := st.Password
	switch st.Credential {
	case credPrompt:
		p, err := a.prompt(fmt.Sprintf("Password for %s@%s: ", o.User, u.Host))
		if err != nil {
			return o, err
		}
		pw = string(p)
	case credKeychain:
		if err := a.waitLocal(); err != nil {
			return o, err
		}
		if pw, err = keychainPassword(ctx, st.Keychain, o.User, u.Hostname()); err != nil {
			return o, err
		}
	case credCommand:
		if err := a.waitLocal(); err != nil {
			return o, err
		}
		if pw, err = runPasswordCommand(ctx, st.PasswordCommand, dir); err != nil {
			return o, err
		}
	}
	o.Password = pw
	if h, ok := a.log.Handler().(*logHandler); ok {
		h.redact(pw)
	}
	return o, nil
}

func runPasswordCommand(ctx context.Context, command, dir string) (string, error) {
	c := shellCommand(ctx, command)
	c.Dir = dir
	c.Stderr = os.Stderr
	out, err := c.Output()
	if err != nil {
		return "", usageErr("check the command given with --password-command or git-ftp.password-command", "password command failed: %v", err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// prompt reads a secret from the terminal without echo.
func (a *app) prompt(msg string) ([]byte, error) {
	if err := a.waitLocal(); err != nil {
		return nil, err
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, usageErr("use GFTP_PASSWORD, --password-command or ~/.netrc when there is no terminal", "cannot ask for a password: no terminal")
	}
	defer tty.Close()
	fmt.Fprint(tty, msg)
	p, err := readPassword(tty)
	fmt.Fprintln(tty)
	return p, err
}

// checkDirty refuses to deploy from a tree with uncommitted changes.
func (a *app) checkDirty(ctx context.Context, cmd *cli.Command, repo *deploy.Repo) error {
	if cmd.Bool("allow-dirty") {
		return nil
	}
	files, err := repo.Dirty(ctx)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		return &DirtyError{Files: files}
	}
	return nil
}

// targetCommit is the commit to deploy: --deploy-rev, else the tip of
// -b/--branch (or git-ftp.branch), else HEAD. git-ftp checks the branch out
// and deploys the work tree; gftp reads the branch's commit and checks
// nothing out, which deploys the same files without touching the work tree.
func (a *app) targetCommit(cmd *cli.Command, t *target) (*object.Commit, error) {
	if rev := cmd.String("deploy-rev"); rev != "" {
		return t.repo.Resolve(rev)
	}
	if b := t.settings.str("branch"); b != "" && hasFlag(cmd, "branch") {
		c, err := t.repo.Resolve("refs/heads/" + b)
		if err != nil {
			return nil, &cliError{code: exitGit, msg: fmt.Sprintf("'%s' is not a valid branch", b),
				hint: "give a local branch with -b/--branch or git config git-ftp.branch (git branch lists them)"}
		}
		return c, nil
	}
	return t.repo.Resolve("HEAD")
}

// givenDeployed is -c/--commit: git-ftp's "SHA1 of the last deployed
// commit", used instead of reading the marker. A revision git does not know
// gives the zero hash and an UnknownCommitError, as an unknown marker does.
func (a *app) givenDeployed(cmd *cli.Command, repo *deploy.Repo) (plumbing.Hash, error) {
	rev := cmd.String("commit")
	c, err := repo.Resolve(rev)
	if err == nil {
		return c.Hash, nil
	}
	if len(rev) == 40 && strings.Trim(strings.ToLower(rev), "0123456789abcdef") == "" {
		h := plumbing.NewHash(strings.ToLower(rev))
		_, err := repo.Commit(h)
		return h, err
	}
	return plumbing.ZeroHash, &cliError{code: exitGit, msg: fmt.Sprintf("-c/--commit %q is not a commit", rev),
		hint: "-c gives the commit that is on the server (git-ftp's meaning), as a SHA; to deploy another commit than HEAD use --deploy-rev"}
}

func (a *app) planOptions(t *target, all bool) (deploy.PlanOptions, error) {
	ig, err := deploy.LoadIgnore(t.repo.Dir)
	if err != nil {
		return deploy.PlanOptions{}, &deploy.LocalError{Err: err}
	}
	if err := deploy.CheckRepoPath(t.settings.str("syncroot")); err != nil {
		return deploy.PlanOptions{}, usageErr("give --syncroot (git-ftp.syncroot) as a directory of the repository, relative to its top", "syncroot: %v", err)
	}
	syncroot := strings.Trim(path.Clean("/"+t.settings.str("syncroot")), "/")
	inc, err := deploy.LoadInclude(t.repo.Dir, syncroot)
	if err != nil {
		return deploy.PlanOptions{}, usageErr("fix the line in .git-ftp-include", "%v", err)
	}
	return deploy.PlanOptions{
		Syncroot: syncroot,
		All:      all,
		Marker:   a.markerName(t),
		Ignore:   ig,
		Include:  inc,
	}, nil
}

func (a *app) markerName(t *target) string {
	if m := t.settings.str("deployedsha1file"); m != "" {
		return m
	}
	return deploy.DefaultMarker
}

// session is what every command that writes to the remote starts from:
// the target, the commit to deploy, the connected remote and the lock.
type session struct {
	*target
	to    *object.Commit
	r     remote.Remote
	close func() // releases the lock, then the connections
}

// begin opens the repository, resolves the commit, refuses a dirty tree
// when checkDirty is set, connects, and takes the lock.
func (a *app) begin(ctx context.Context, cmd *cli.Command, checkDirty bool) (*session, error) {
	t, err := a.resolveTarget(ctx, cmd)
	if err != nil {
		return nil, err
	}
	dial := a.openEarly(ctx, cmd, t)
	to, err := a.targetCommit(cmd, t)
	if err != nil {
		dial.abandon()
		return nil, err
	}
	a.out.rep.setTarget(to)
	if checkDirty {
		if err := a.checkDirty(ctx, cmd, t.repo); err != nil {
			dial.abandon()
			return nil, err
		}
	}
	r, err := dial.wait()
	if err != nil {
		return nil, err
	}
	unlock, err := a.lock(ctx, cmd, r, to.Hash.String(), a.markerName(t), deploy.JournalName)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &session{target: t, to: to, r: r, close: func() { unlock(); r.Close() }}, nil
}

func (a *app) initCmd(ctx context.Context, cmd *cli.Command) error {
	if cmd.IsSet("commit") {
		a.warn("-c/--commit is ignored by init, as in git-ftp (init uploads every file); to deploy another commit than HEAD, use --deploy-rev")
	}
	s, err := a.begin(ctx, cmd, true)
	if err != nil {
		return err
	}
	defer s.close()
	a.readJournalEarly(ctx, cmd, s)
	return a.doInit(ctx, cmd, s.target, s.r, s.to)
}

func (a *app) doInit(ctx context.Context, cmd *cli.Command, t *target, r remote.Remote, to *object.Commit) error {
	marker := a.markerName(t)
	deployed, err := deploy.ReadMarker(ctx, r, marker)
	switch {
	case err == nil && a.finishesDeadInit(deployed, to.Hash):
		a.out.rep.setUpToDate()
		a.tidyUpToDate(ctx, r)
		fmt.Fprintf(a.stdout, "Everything up to date: %s is deployed at %s.\n", short(to.Hash), t.display)
		return nil
	case err == nil:
		a.out.rep.setDeployed(deployed)
		return usageErr("use 'gftp push' to deploy the changes since then; to start over, delete "+marker+" on the server first",
			"%s is already deployed at %s (found in %s)", deployed.String()[:7], t.display, marker)
	case !errors.Is(err, deploy.ErrNoMarker):
		return err
	}
	return a.deploy(ctx, cmd, t, r, plumbing.ZeroHash, to, true)
}

func (a *app) pushCmd(ctx context.Context, cmd *cli.Command) error {
	s, err := a.begin(ctx, cmd, true)
	if err != nil {
		return err
	}
	defer s.close()
	a.readJournalEarly(ctx, cmd, s)
	t, r, to := s.target, s.r, s.to
	all := cmd.Bool("all")
	var from plumbing.Hash
	if cmd.IsSet("commit") {
		// git-ftp's -c: the deployed commit is given, the marker not read.
		var uc *deploy.UnknownCommitError
		if from, err = a.givenDeployed(cmd, t.repo); err != nil && !errors.As(err, &uc) {
			return err
		}
		t.deployed = cmd.String("commit")
		a.log.Info("using the commit given with -c as deployed; the marker is not read", "commit", t.deployed)
	} else {
		from, err = deploy.ReadMarker(ctx, r, a.markerName(t))
		var me *deploy.MarkerError
		switch {
		case errors.Is(err, deploy.ErrNoMarker) && cmd.Bool("auto-init"):
			a.log.Info("nothing deployed yet: running init (--auto-init)")
			return a.deploy(ctx, cmd, t, r, plumbing.ZeroHash, to, true)
		case errors.As(err, &me) && (all || cmd.Bool("force")):
			// As in git-ftp, -a and -f deploy over a marker that names no
			// commit: every file goes up, and the marker is rewritten.
			a.warn("%v; uploading every file", err)
			t.deployed = me.Content
			return a.deploy(ctx, cmd, t, r, plumbing.ZeroHash, to, true)
		case err != nil:
			return err
		}
		t.deployed = from.String()
	}
	a.out.rep.setDeployed(from)
	if from == to.Hash && !all && !cmd.Bool("repair") {
		a.out.rep.setUpToDate()
		a.tidyUpToDate(ctx, r)
		fmt.Fprintf(a.stdout, "Everything up to date: %s is deployed at %s.\n", short(to.Hash), t.display)
		return nil
	}
	if _, err := a.commit(ctx, t.repo, from); err != nil {
		if !cmd.Bool("force") {
			return err
		}
		a.warn("deployed commit %s is not in the local repository; uploading every file (--force)", short(from))
		all = true
	}
	return a.deploy(ctx, cmd, t, r, from, to, all)
}

// deploy plans and, unless --dry-run, executes.
func (a *app) deploy(ctx context.Context, cmd *cli.Command, t *target, r remote.Remote, from plumbing.Hash, to *object.Commit, all bool) error {
	opts, err := a.planOptions(t, all)
	if err != nil {
		return err
	}
	opts.Remote = r // changed submodules' markers
	opts.CheckName = remote.NameCheck(r)
	plan, err := deploy.NewPlan(ctx, t.repo, from, to, opts)
	if err != nil {
		return err
	}
	if cmd.Bool("repair") {
		d, err := deploy.Check(ctx, t.repo, r, to, opts)
		if err != nil {
			return err
		}
		plan.Repair(d)
		a.log.Info("repair", "missing", len(d.Missing), "wrong_size", len(d.Mismatch), "temporary", len(d.Temps))
	}
	for _, w := range plan.Warnings {
		a.warn("%s", w)
	}
	a.out.rep.plan(plan, cmd.Bool("dry-run"))
	if err := a.preHook(ctx, cmd, t, plan, opts.Syncroot); err != nil {
		return err
	}
	if cmd.Bool("dry-run") {
		a.printPlan(plan, t)
		return nil
	}
	prog := newProgress(a.stderr, plan, a.verbose >= 0 && a.verbose < 2)
	ex := &deploy.Executor{Remote: r, Repo: t.repo, Jobs: int(cmd.Int("jobs")), Observer: observers{prog, a.out.rep}, Logger: a.log, Leftovers: a.brokenLock != nil, Journal: t.journal, Lock: a.held}
	res, err := ex.Run(ctx, plan)
	prog.Finish()
	if err != nil {
		a.printResult(plan, res, t, false)
		return err
	}
	a.printResult(plan, res, t, true)
	a.release(ctx) // the deploy is complete: the hook runs without the lock
	return a.postHook(ctx, cmd, t, to.Hash)
}

func (a *app) printPlan(p *deploy.Plan, t *target) {
	w := a.stdout
	fmt.Fprintf(w, "Plan for %s at %s", short(p.To), t.display)
	if !p.From.IsZero() {
		fmt.Fprintf(w, " (deployed: %s, %s)", short(p.From), commitsText(p.Commits))
	}
	fmt.Fprintln(w, ":")
	for _, act := range p.Actions() {
		switch act.Op {
		case deploy.OpUpload:
			fmt.Fprintf(w, "  %-7s %s (%s, %s)\n", act.Op, quoteName(act.Path), humanBytes(act.Size), act.Reason)
		case deploy.OpRmdir:
			fmt.Fprintf(w, "  %-7s %s (if empty)\n", act.Op, quoteName(act.Path))
		case deploy.OpMarker:
			fmt.Fprintf(w, "  %-7s %s <- %s\n", act.Op, quoteName(act.Path), act.Reason)
		default:
			fmt.Fprintf(w, "  %-7s %s (%s)\n", act.Op, quoteName(act.Path), act.Reason)
		}
	}
	fmt.Fprintf(w, "Dry run: would upload %d file%s (%s) and delete %d; nothing was changed on the remote.\n",
		len(p.Uploads), plural(len(p.Uploads)), humanBytes(p.Bytes()), len(p.Deletes))
}

func (a *app) printResult(p *deploy.Plan, res *deploy.Result, t *target, ok bool) {
	if res == nil {
		return
	}
	a.out.rep.executed(p, res)
	if !ok {
		what := "FAILED"
		if res.Interrupted {
			what = "INTERRUPTED"
		}
		fmt.Fprintf(a.stdout, "Deploy of %s to %s %s: %d of %d uploaded, %d of %d deleted, %s in %s; marker not moved.\n",
			short(p.To), t.display, what, res.Uploaded, len(p.Uploads), res.Deleted, len(p.Deletes), humanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
		return
	}
	resumed := ""
	if res.Resumed > 0 {
		resumed = fmt.Sprintf(" (%d more already there from an earlier run)", res.Resumed)
	}
	fmt.Fprintf(a.stdout, "Deployed %s (%s) to %s: %d uploaded%s, %d deleted, %s in %s.\n",
		short(p.To), commitsText(p.Commits), t.display, res.Uploaded, resumed, res.Deleted, humanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
}

func (a *app) catchupCmd(ctx context.Context, cmd *cli.Command) error {
	if cmd.IsSet("commit") {
		a.warn("-c/--commit is ignored by catchup, as in git-ftp (it records HEAD); to record another commit, use --deploy-rev")
	}
	s, err := a.begin(ctx, cmd, false)
	if err != nil {
		return err
	}
	defer s.close()
	t, r, to := s.target, s.r, s.to
	marker := a.markerName(t)
	if err := a.catchupSubmodules(ctx, t, r, to, marker, cmd.Bool("dry-run")); err != nil {
		return err
	}
	if cmd.Bool("dry-run") {
		a.out.rep.setDryRun()
		fmt.Fprintf(a.stdout, "Dry run: would record %s as deployed in %s at %s.\n", to.Hash, marker, t.display)
		return nil
	}
	err = deploy.WriteMarker(ctx, r, marker, to.Hash)
	a.out.rep.recorded(marker, to.Hash, err)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Recorded %s as deployed at %s (nothing uploaded).\n", short(to.Hash), t.display)
	return nil
}

func (a *app) readDeployed(ctx context.Context, cmd *cli.Command) (*target, plumbing.Hash, error) {
	t, err := a.resolveTarget(ctx, cmd)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	r, err := a.open(ctx, cmd, t)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	defer r.Close()
	h, err := deploy.ReadMarker(ctx, r, a.markerName(t))
	if err == nil {
		a.out.rep.setDeployed(h)
	}
	return t, h, err
}

func (a *app) showCmd(ctx context.Context, cmd *cli.Command) error {
	t, h, err := a.readDeployed(ctx, cmd)
	if err != nil {
		return err
	}
	c, err := a.commit(ctx, t.repo, h)
	if err != nil {
		fmt.Fprintf(a.stdout, "%s\n", h)
		return err
	}
	a.out.rep.show(c)
	// git-ftp's show is `git show DEPLOYED`: the commit and its diff.
	return a.git(ctx, t.repo.Dir, "show", c.Hash.String())
}

// git runs the git command in dir with its output on our stdout, as
// git-ftp's show and log do.
func (a *app) git(ctx context.Context, dir string, args ...string) error {
	c := exec.CommandContext(ctx, "git", args...)
	c.Dir = dir
	c.Stdout = a.stdout
	c.Stderr = a.stderr
	if err := c.Run(); err != nil {
		return &cliError{code: exitGit, msg: fmt.Sprintf("git %s: %v", strings.Join(args, " "), err), hint: "run the same git command in the repository to see why it fails"}
	}
	return nil
}

func (a *app) logCmd(ctx context.Context, cmd *cli.Command) error {
	t, h, err := a.readDeployed(ctx, cmd)
	if err != nil {
		return err
	}
	if !cmd.Bool("pending") {
		// git-ftp's log is `git log DEPLOYED`: the history up to the
		// deployed commit.
		if _, err := a.commit(ctx, t.repo, h); err != nil {
			return err
		}
		return a.git(ctx, t.repo.Dir, "log", h.String())
	}
	head, err := t.repo.Resolve("HEAD")
	if err != nil {
		return err
	}
	if _, err := a.commit(ctx, t.repo, h); err != nil {
		return err
	}
	commits, complete, err := t.repo.Log(ctx, h, head.Hash)
	if err != nil {
		return err
	}
	if len(commits) == 0 {
		fmt.Fprintf(a.stdout, "Nothing to deploy: %s is deployed at %s.\n", short(h), t.display)
		return nil
	}
	for _, c := range commits {
		subject, _, _ := strings.Cut(c.Message, "\n")
		fmt.Fprintf(a.stdout, "%s %s\n", short(c.Hash), subject)
	}
	if !complete {
		fmt.Fprintf(a.stdout, "%d commit%s shown; this shallow clone lacks the rest of the history between %s (deployed) and HEAD (git fetch --unshallow shows it).\n", len(commits), plural(len(commits)), short(h))
		return nil
	}
	fmt.Fprintf(a.stdout, "%d commit%s between %s (deployed) and HEAD.\n", len(commits), plural(len(commits)), short(h))
	return nil
}

func (a *app) addScopeCmd(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 2 {
		return missingErr("usage: gftp add-scope NAME URL", "add-scope needs a scope name and a URL")
	}
	name, raw := cmd.Args().Get(0), cmd.Args().Get(1)
	wd, err := a.getwd()
	if err != nil {
		return err
	}
	repo, err := deploy.OpenRepo(wd)
	if err != nil {
		return err
	}
	if err := checkScopeName(name); err != nil {
		return err
	}
	set := func(key, val string) error {
		c := exec.CommandContext(ctx, "git", "config", "git-ftp."+name+"."+key, val)
		c.Dir = repo.Dir
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("git config: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	// As git-ftp does: credentials in the URL go to their own keys.
	stored := raw
	if u, err := url.Parse(raw); err == nil && u.User != nil && strings.Contains(raw, "://") {
		if err := set("user", u.User.Username()); err != nil {
			return err
		}
		if p, ok := u.User.Password(); ok {
			if err := set("password", p); err != nil {
				return err
			}
			a.warn("the password is stored in clear text in .git/config; prefer --password-command or ~/.netrc")
		}
		u.User = nil
		stored = u.String()
	}
	if err := set("url", stored); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Added scope %s: %s\n", name, remote.Redact(stored))
	return nil
}

func (a *app) removeScopeCmd(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return missingErr("usage: gftp remove-scope NAME", "remove-scope needs a scope name")
	}
	name := cmd.Args().First()
	if err := checkScopeName(name); err != nil {
		return err
	}
	wd, err := a.getwd()
	if err != nil {
		return err
	}
	repo, err := deploy.OpenRepo(wd)
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, "git", "config", "--remove-section", "git-ftp."+name)
	c.Dir = repo.Dir
	if err := c.Run(); err != nil {
		return &cliError{code: exitGit, msg: fmt.Sprintf("cannot find scope %s", name), hint: "list scopes with: git config --get-regexp '^git-ftp\\.'"}
	}
	fmt.Fprintf(a.stdout, "Removed scope %s\n", name)
	return nil
}

func short(h plumbing.Hash) string { return h.String()[:7] }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
