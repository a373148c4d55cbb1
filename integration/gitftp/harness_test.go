package gitftp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// target is one running server that every scenario of a kind shares: each
// scenario works below its own directory, each lane below its own one.
type target struct {
	kind string
	srv  *servers.Server
	sftp bool
	home string // HOME of both tools: curl's .curlrc, ~/.ssh/known_hosts
}

// newTarget prepares the HOME both tools run with. git-ftp passes curl no
// options of its own, but curl reads ~/.curlrc: over TLS 1.3, Debian 12's
// curl meets vsftpd's upload quirk and proftpd's session-reuse refusal (see
// integration/servers/ftp.go), so curl is held to TLS 1.2. gftp reads no
// .curlrc. For SFTP both tools read the server's host keys from
// ~/.ssh/known_hosts (curl's and gftp's default), so neither needs a flag.
func newTarget(t *testing.T, kind string, srv *servers.Server) *target {
	t.Helper()
	tg := &target{kind: kind, srv: srv, sftp: strings.HasPrefix(srv.URL, "sftp://"), home: t.TempDir()}
	if srv.CACert != "" {
		write(t, filepath.Join(tg.home, ".curlrc"), "tls-max = 1.2\n")
	}
	for i := 0; i+1 < len(srv.Flags); i++ {
		if srv.Flags[i] == "--known-hosts" {
			known, err := os.ReadFile(srv.Flags[i+1])
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(tg.home, ".ssh", "known_hosts"), string(known))
		}
	}
	return tg
}

// url is the target URL of path (relative to the server's root), in the
// form git-ftp parses: no user in it (git-ftp would take "user@host" for
// the host), and for SFTP the absolute path of the server's directory.
func (tg *target) url(path string) string {
	if tg.sftp {
		return "sftp://" + tg.srv.Addr + filepath.ToSlash(tg.srv.Root) + "/" + path
	}
	scheme, _, _ := strings.Cut(tg.srv.URL, "://")
	return scheme + "://" + tg.srv.Addr + "/" + path
}

// auth is what both tools get on the command line to log in: git-ftp's
// -u/--passwd and, over TLS, --cacert (gftp verifies the certificate by
// default, git-ftp's curl too when given --cacert).
func (tg *target) auth() []string {
	a := []string{"--user", tg.srv.User, "--passwd", tg.srv.Password}
	if tg.srv.CACert != "" {
		a = append(a, "--cacert", tg.srv.CACert)
	}
	return a
}

// lane is one way of running a scenario: with one tool throughout, or with
// one tool before the scenario's switch step and the other from it. Each
// lane has its own repository (the same commits: gittest fixes the dates)
// and its own directory on the server.
type lane struct {
	name   string
	before tool // the tool of the steps before the switch
	after  tool // the tool from the switch step on
	repo   *gittest.Repo
	path   string // remote path below the server's root, as in the URL
	dir    string // where that path is on disk
	hooks  string // the directory the hooks log into
}

func (l *lane) tool(step, switchAt int) tool {
	if step < switchAt {
		return l.before
	}
	return l.after
}

// laneSpecs are the four lanes; the first, git-ftp alone, is the reference.
var laneSpecs = []struct {
	name          string
	before, after tool
}{
	{"lane-gitftp", gitFTP, gitFTP},
	{"lane-gftp", gftp, gftp},
	{"lane-gitftp-then-gftp", gitFTP, gftp},
	{"lane-gftp-then-gitftp", gftp, gitFTP},
}

// laneRE finds a lane's name in a URL or path, so that hook arguments of two
// lanes compare equal.
var laneRE = regexp.MustCompile(`lane-[a-z-]+`)

// step is one command of a scenario, run in every lane.
type step struct {
	name string
	// change runs on each lane's repository before the command (edits,
	// commits, config, hooks).
	change func(t *testing.T, g *gittest.Repo)
	// server runs on each lane's directory on the server before the
	// command (what a person did there by hand).
	server func(t *testing.T, dir string)
	// args are the command line of both tools. {url} is the lane's URL,
	// {auth} the login options, {path} the lane's remote path.
	args []string
	// code is git-ftp's exit code, and gftp's unless gftpCode is set: a
	// difference the README documents.
	code     int
	gftpCode *int
	stdin    string
	// unlike names files that may differ between the lanes after this step
	// (a documented difference that check asserts); the rest must not.
	unlike []string
	// hooksUnlike: the lanes' hooks may run differently in this step (a
	// documented difference that check asserts).
	hooksUnlike bool
	// check makes assertions of its own after every lane ran the step.
	check func(t *testing.T, r *stepRun)
}

// differs is gftp's exit code where the README documents a difference.
func differs(code int) *int { return &code }

// scenario is a sequence of steps run in four lanes, compared after each step.
type scenario struct {
	name string
	// fresh: the lanes' directories do not exist on the server, as for a
	// new user. Otherwise they are made first (empty, owned by the
	// server's account), so that the scenario tests its own feature only.
	fresh bool
	// switchAt is the first step that the switching lanes run with their
	// second tool (default 1: one tool deploys, the other pushes next).
	switchAt int
	// hooks installs pre-ftp-push and post-ftp-push in every lane's
	// repository; they log their arguments and input, and fail while
	// .git/fail-pre or .git/fail-post exists.
	hooks bool
	// setup runs on each lane's new repository, before the first step.
	setup func(t *testing.T, g *gittest.Repo)
	steps []step
	// notOverSFTP says why git-ftp cannot serve as the reference over SFTP;
	// the scenario is skipped there with that reason.
	notOverSFTP string
	// waiting names a gftp feature that is not on main yet: the scenario
	// is skipped with that name unless GFTP_DIFF_NO_SKIP=1.
	waiting string
}

// stepRun is what check sees: the lanes and their results.
type stepRun struct {
	tg      *target
	lanes   []*lane
	results []result
	tools   []tool
}

func (sc scenario) run(t *testing.T, tg *target) {
	if sc.waiting != "" && os.Getenv("GFTP_DIFF_NO_SKIP") != "1" {
		t.Skip("waiting for: " + sc.waiting)
	}
	if tg.sftp && sc.notOverSFTP != "" {
		t.Skip("git-ftp is no reference here: " + sc.notOverSFTP)
	}
	switchAt := sc.switchAt
	if switchAt == 0 {
		switchAt = 1
	}
	var lanes []*lane
	for _, spec := range laneSpecs {
		l := &lane{name: spec.name, before: spec.before, after: spec.after, repo: gittest.New(t)}
		l.path = sc.name + "/" + spec.name
		l.dir = filepath.Join(tg.srv.Root, sc.name, spec.name)
		if !sc.fresh {
			mkdirOwned(t, tg.srv.Root, filepath.Join(tg.srv.Root, sc.name))
			mkdirOwned(t, tg.srv.Root, l.dir)
		}
		if sc.hooks {
			installHooks(t, l)
		}
		if sc.setup != nil {
			sc.setup(t, l.repo)
		}
		lanes = append(lanes, l)
	}
	for i, st := range sc.steps {
		ok := t.Run(fmt.Sprintf("%d-%s", i, st.name), func(t *testing.T) {
			r := &stepRun{tg: tg, lanes: lanes}
			for _, l := range lanes {
				if st.change != nil {
					st.change(t, l.repo)
				}
				if st.server != nil {
					st.server(t, l.dir)
				}
			}
			heads := map[string]bool{}
			for _, l := range lanes {
				heads[head(l.repo)] = true
			}
			if len(heads) != 1 {
				t.Fatalf("the lanes' repositories differ: HEADs %v", heads)
			}
			// The lanes are independent: run them at once.
			r.results = make([]result, len(lanes))
			r.tools = make([]tool, len(lanes))
			argv := make([][]string, len(lanes))
			took := make([]time.Duration, len(lanes))
			var wg sync.WaitGroup
			for n, l := range lanes {
				r.tools[n] = l.tool(i, switchAt)
				argv[n] = expand(st.args, tg, l)
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					r.results[n] = runTool(r.tools[n], l.repo.Dir, env(tg, l), st.stdin, argv[n])
					took[n] = time.Since(start)
				}()
			}
			wg.Wait()
			for n, l := range lanes {
				tl, res, cmdline := r.tools[n], r.results[n], strings.Join(redact(argv[n], tg), " ")
				if testing.Verbose() {
					t.Logf("%s: %s %s -> %d in %v\nstdout:\n%s\nstderr:\n%s", l.name, tl, cmdline, res.code, took[n].Round(time.Millisecond), res.stdout, res.stderr)
				}
				want := st.code
				if tl == gftp && st.gftpCode != nil {
					want = *st.gftpCode
				}
				if res.code != want {
					t.Errorf("%s: %s %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", l.name, tl, cmdline, res.code, want, res.stdout, res.stderr)
				}
			}
			compareLanes(t, lanes, st.unlike)
			if sc.hooks && !st.hooksUnlike {
				compareHooks(t, lanes)
			}
			if st.check != nil {
				st.check(t, r)
			}
		})
		if !ok {
			t.FailNow() // the next steps start from this one's state
		}
	}
}

// expand replaces the placeholders in args: {auth} (the login options),
// {cacert} (--cacert FILE over TLS), {url} (the lane's URL), {credurl} (the
// same with user:password in it), {root} (the URL of the server's root),
// {path} (the lane's remote path) and {rev:REV} (REV's SHA in the lane's
// repository).
func expand(args []string, tg *target, l *lane) []string {
	var out []string
	for _, a := range args {
		switch {
		case a == "{auth}":
			out = append(out, tg.auth()...)
		case a == "{cacert}":
			if tg.srv.CACert != "" {
				out = append(out, "--cacert", tg.srv.CACert)
			}
		case strings.HasPrefix(a, "{rev:"):
			out = append(out, l.repo.Git("rev-parse", strings.TrimSuffix(strings.TrimPrefix(a, "{rev:"), "}")))
		default:
			scheme, rest, _ := strings.Cut(tg.url(l.path), "://")
			cred := scheme + "://" + tg.srv.User + ":" + tg.srv.Password + "@" + rest
			a = strings.ReplaceAll(a, "{credurl}", cred)
			a = strings.ReplaceAll(a, "{url}", tg.url(l.path))
			a = strings.ReplaceAll(a, "{root}", tg.url(""))
			a = strings.ReplaceAll(a, "{path}", l.path)
			out = append(out, a)
		}
	}
	return out
}

// redact hides the password in a logged command line.
func redact(args []string, tg *target) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if tg.srv.Password != "" {
			out[i] = strings.ReplaceAll(out[i], tg.srv.Password, "****")
		}
	}
	return out
}

func env(tg *target, l *lane) []string {
	return append(gittest.Env(), "HOME="+tg.home, "GFTP_DIFF_LANE="+l.name)
}

func head(g *gittest.Repo) string { return g.Git("rev-parse", "HEAD") }

// tree is what a lane's directory holds: every file with its content, and
// every empty directory (with a trailing slash), "" for none of it.
type tree struct {
	files map[string]string
	empty []string
}

func readTree(t *testing.T, dir string) tree {
	t.Helper()
	tr := tree{files: map[string]string{}}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return tr
	}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tr.files[rel] = string(b)
		case fi.IsDir() && p != dir:
			ents, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			if len(ents) == 0 {
				tr.empty = append(tr.empty, rel+"/")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(tr.empty)
	return tr
}

// compareLanes requires every lane's files to equal the git-ftp lane's, byte
// for byte, marker included (unless the step names it unlike; gftp's
// .gftp-manifest always is). Empty directories may differ one way only:
// git-ftp leaves a directory whose files a push deleted, and creates the
// target directory before a dry run or a failing pre-ftp-push hook; gftp
// does neither (README: "Coming from git-ftp"). gftp never leaves an empty
// directory that git-ftp does not.
func compareLanes(t *testing.T, lanes []*lane, unlike []string) {
	t.Helper()
	// gftp's content manifest is its own state, which git-ftp does not keep.
	unlike = append(append([]string{}, unlike...), ".gftp-manifest")
	ref := readTree(t, lanes[0].dir)
	for _, n := range unlike {
		delete(ref.files, n)
	}
	for _, l := range lanes[1:] {
		got := readTree(t, l.dir)
		for _, n := range unlike {
			delete(got.files, n)
		}
		if !reflect.DeepEqual(got.files, ref.files) {
			t.Errorf("%s holds other files than %s:\n%s", l.name, lanes[0].name, diffFiles(got.files, ref.files))
		}
		for _, e := range got.empty {
			if !contains(ref.empty, e) {
				t.Errorf("%s has the empty directory %s, which %s does not have", l.name, e, lanes[0].name)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func diffFiles(got, want map[string]string) string {
	var b strings.Builder
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g, gok := got[n]
		w, wok := want[n]
		switch {
		case !gok:
			fmt.Fprintf(&b, "  missing %s (%q)\n", n, clip(w))
		case !wok:
			fmt.Fprintf(&b, "  extra   %s (%q)\n", n, clip(g))
		case g != w:
			fmt.Fprintf(&b, "  differs %s: %q, want %q\n", n, clip(g), clip(w))
		}
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// marker is the content of .git-ftp.log in the lane's directory or its
// subdirectory sub, "" when there is none.
func marker(t *testing.T, l *lane, sub string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, filepath.FromSlash(sub), ".git-ftp.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mkdirOwned makes dir (if missing) owned by root's owner: the server's
// account, which must be able to write and remove there.
func mkdirOwned(t *testing.T, root, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		if os.IsExist(err) {
			return
		}
		t.Fatal(err)
	}
	chownLike(t, root, dir)
}

func chownLike(t *testing.T, like, p string) {
	t.Helper()
	fi, err := os.Stat(like)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Chown(p, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

// editServer writes a file in a lane's directory on the server, as a person
// with shell access would, keeping it the server account's.
func editServer(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	write(t, p, content)
	chownLike(t, dir, p)
}
