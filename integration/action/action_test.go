// Package action tests the GitHub Action (action.yml and the scripts in
// .github/action) on this machine: a small stand-in for the runner executes
// the composite action's steps the way GitHub does, with GITHUB_OUTPUT,
// GITHUB_STEP_SUMMARY, RUNNER_OS and RUNNER_ARCH as files and variables, a
// release served over loopback HTTP, and the embedded FTP server as target.
package action

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote/ftp/ftptest"
)

const (
	tag      = "v9.9.9"
	password = "s3cret-Pa55word"
)

var gftpBin string

func TestMain(m *testing.M) {
	os.Exit(gittest.MainWithGFTP(m, &gftpBin))
}

// repoRoot is the checkout that holds action.yml: the action's path.
func repoRoot(t *testing.T) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runnerPlatform is RUNNER_OS, RUNNER_ARCH and the release asset for this
// machine.
func runnerPlatform(t *testing.T) (osName, arch, asset string) {
	switch runtime.GOOS {
	case "linux":
		osName = "Linux"
	case "darwin":
		osName = "macOS"
	default:
		t.Skipf("the action's scripts are tested on Linux and macOS, not %s", runtime.GOOS)
	}
	switch runtime.GOARCH {
	case "amd64":
		arch = "X64"
	case "arm64":
		arch = "ARM64"
	default:
		t.Skipf("no release binary for %s", runtime.GOARCH)
	}
	return osName, arch, "gftp-" + runtime.GOOS + "-" + runtime.GOARCH
}

// release is a directory served like a GitHub release download: GET
// /<tag>/<asset>. It records the paths asked for.
type release struct {
	dir  string
	url  string
	mu   sync.Mutex
	hits []string
}

func newRelease(t *testing.T) *release {
	r := &release{dir: t.TempDir()}
	files := http.FileServer(http.Dir(r.dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits = append(r.hits, req.URL.Path)
		r.mu.Unlock()
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// publish puts the gftp binary into the release as asset with a SHA256SUMS
// line; sum overrides the checksum when not empty.
func (r *release) publish(t *testing.T, asset, sum string) {
	data, err := os.ReadFile(gftpBin)
	if err != nil {
		t.Fatal(err)
	}
	if sum == "" {
		h := sha256.Sum256(data)
		sum = hex.EncodeToString(h[:])
	}
	d := filepath.Join(r.dir, tag)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	other := strings.Repeat("0", 64) + "  gftp-windows-amd64.exe\n"
	if err := os.WriteFile(filepath.Join(d, "SHA256SUMS"), []byte(other+sum+"  "+asset+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, asset), data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func (r *release) requested() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.hits...)
}

// runner stands in for the GitHub runner executing the composite action.
type runner struct {
	t       *testing.T
	dir     string
	env     map[string]string // the job's environment (RUNNER_*, PATH, ...)
	github  map[string]string // the github context
	summary string            // the job's step summary so far
	log     strings.Builder   // everything the steps printed
}

func newRunner(t *testing.T, rel *release) *runner {
	osName, arch, _ := runnerPlatform(t)
	dir := t.TempDir()
	env := map[string]string{
		"RUNNER_OS":        osName,
		"RUNNER_ARCH":      arch,
		"RUNNER_TEMP":      filepath.Join(dir, "temp"),
		"GITHUB_ACTIONS":   "true",
		"CI":               "true",
		"HOME":             filepath.Join(dir, "home"),
		"GFTP_RELEASE_URL": rel.url,
	}
	// The Go and git settings pass through; nothing of gftp's or GitHub's.
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "TMPDIR", strings.HasPrefix(k, "GO"):
			env[k] = v
		}
	}
	if _, ok := env["GOCACHE"]; !ok {
		out, err := exec.Command("go", "env", "GOCACHE", "GOPATH").Output()
		if err == nil {
			f := strings.Fields(string(out))
			env["GOCACHE"], env["GOPATH"] = f[0], f[1]
		}
	}
	for _, d := range []string{env["RUNNER_TEMP"], env["HOME"]} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &runner{t: t, dir: dir, env: env, github: map[string]string{
		"action_path":       repoRoot(t),
		"action_ref":        tag,
		"action_repository": "gftp/gftp",
	}}
}

// actionFile is the part of action.yml that the runner reads.
type actionFile struct {
	Inputs map[string]struct {
		Required bool   `yaml:"required"`
		Default  string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID    string            `yaml:"id"`
			Shell string            `yaml:"shell"`
			Run   string            `yaml:"run"`
			Env   map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

// result is what one use of the action produced.
type result struct {
	failed  bool              // a step exited non-zero
	outputs map[string]string // the action's outputs
	steps   map[string]map[string]string
	log     string
	summary string
}

var expr = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// use runs the action with the given inputs (the `with:` of a workflow) in
// workdir, step by step, stopping at the first step that fails, as the
// runner does.
func (r *runner) use(workdir string, with map[string]string) result {
	t := r.t
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionFile
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("action.yml runs.using = %q, want composite", a.Runs.Using)
	}
	inputs := map[string]string{}
	for name, in := range a.Inputs {
		inputs[name] = in.Default
	}
	for name, v := range with {
		if _, ok := a.Inputs[name]; !ok {
			t.Fatalf("action.yml has no input %q", name)
		}
		inputs[name] = v
	}
	steps := map[string]map[string]string{}
	// eval evaluates the expressions action.yml uses: contexts joined by ||.
	eval := func(s string) string {
		return expr.ReplaceAllStringFunc(s, func(m string) string {
			for _, alt := range strings.Split(expr.FindStringSubmatch(m)[1], "||") {
				var v string
				f := strings.Split(strings.TrimSpace(alt), ".")
				switch {
				case len(f) == 2 && f[0] == "inputs":
					v = inputs[f[1]]
				case len(f) == 2 && f[0] == "github":
					v = r.github[f[1]]
				case len(f) == 4 && f[0] == "steps" && f[2] == "outputs":
					v = steps[f[1]][f[3]]
				default:
					t.Fatalf("action.yml: expression %s is not understood by the test runner", m)
				}
				if v != "" {
					return v
				}
			}
			return ""
		})
	}
	res := result{steps: steps}
	for i, st := range a.Runs.Steps {
		if st.Shell != "bash" {
			t.Fatalf("step %d: shell %q, want bash (the one shell every runner has)", i, st.Shell)
		}
		out := filepath.Join(r.dir, fmt.Sprintf("output-%d", i))
		sum := filepath.Join(r.dir, fmt.Sprintf("summary-%d", i))
		for _, f := range []string{out, sum} {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		env := map[string]string{}
		for k, v := range r.env {
			env[k] = v
		}
		for k, v := range st.Env {
			env[k] = eval(v)
		}
		env["GITHUB_ACTION_PATH"] = r.github["action_path"]
		env["GITHUB_OUTPUT"] = out
		env["GITHUB_STEP_SUMMARY"] = sum
		var list []string
		for k, v := range env {
			list = append(list, k+"="+v)
		}
		cmd := exec.Command("bash", "-e", "-c", eval(st.Run))
		cmd.Dir = workdir
		cmd.Env = list
		b, err := cmd.CombinedOutput()
		r.log.Write(b)
		s, _ := os.ReadFile(sum)
		r.summary += string(s)
		if st.ID != "" {
			steps[st.ID] = readOutputs(t, out)
		}
		if err != nil {
			res.failed = true
			break
		}
	}
	res.outputs = map[string]string{}
	for name, o := range a.Outputs {
		res.outputs[name] = eval(o.Value)
	}
	res.log, res.summary = r.log.String(), r.summary
	return res
}

// readOutputs parses a GITHUB_OUTPUT file: name=value lines, and
// name<<DELIM ... DELIM blocks.
func readOutputs(t *testing.T, file string) map[string]string {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q is neither name=value nor name<<DELIM", line)
		}
		out[name] = val
	}
	return out
}

// errorLines returns the ::error:: annotations in a log.
func errorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "::error") {
			out = append(out, l)
		}
	}
	return out
}

// site makes a repository with a few files, as a workflow's checkout has.
func site(t *testing.T) *gittest.Repo {
	repo := gittest.New(t)
	repo.Write("index.html", []byte("<h1>hello</h1>\n"))
	repo.Write("css/site.css", []byte("body{}\n"))
	repo.Write("old.html", []byte("to be removed\n"))
	repo.Commit("first")
	return repo
}

func ftpServer(t *testing.T) (*ftptest.Server, string) {
	root := t.TempDir()
	srv, err := ftptest.Start(root, ftptest.Config{User: "deploy", Password: password, TLS: ftptest.RequireTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, root
}

// TestActionDeploys uses the action twice against an FTPES server with
// nothing on it: a first deploy (push with --auto-init), then a push of one
// change, checking the outputs, the step summary, the files on the server,
// and that the password is printed nowhere.
func TestActionDeploys(t *testing.T) {
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t)
	rel.publish(t, asset, "")
	srv, root := ftpServer(t)
	repo := site(t)
	first := repo.Git("rev-parse", "HEAD")
	url := "ftpes://" + srv.Addr() + "/www"
	with := map[string]string{
		"url":      url,
		"user":     "deploy",
		"password": password,
		"args":     "--cacert '" + srv.CACertFile() + "'",
	}

	r := newRunner(t, rel)
	res := r.use(repo.Dir, with)
	if res.failed {
		t.Fatalf("first deploy failed:\n%s", res.log)
	}
	if got := rel.requested(); strings.Join(got, " ") != "/"+tag+"/SHA256SUMS /"+tag+"/"+asset {
		t.Errorf("release requests = %v, want SHA256SUMS then %s", got, asset)
	}
	want := map[string]string{"commit": first, "previous-commit": "", "uploaded": "3", "deleted": "0", "bytes": "36", "exit-code": "0"}
	for k, v := range want {
		if res.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	files := gittest.Files(t, filepath.Join(root, "www"))
	if files["index.html"] != "<h1>hello</h1>\n" || files["css/site.css"] != "body{}\n" || !strings.HasPrefix(files[".git-ftp.log"], first) {
		t.Errorf("server after the first deploy: %v", files)
	}
	for _, s := range []string{"### gftp push to `ftpes://", "| Deployed commit | `" + first + "` |", "| Files uploaded | 3 |", "| Bytes | 36 |", "✅"} {
		if !strings.Contains(res.summary, s) {
			t.Errorf("step summary lacks %q:\n%s", s, res.summary)
		}
	}

	repo.Write("index.html", []byte("<h1>hello again</h1>\n"))
	repo.Remove("old.html")
	second := repo.Commit("second")
	res = r.use(repo.Dir, with)
	if res.failed {
		t.Fatalf("second deploy failed:\n%s", res.log)
	}
	want = map[string]string{"commit": second, "previous-commit": first, "uploaded": "1", "deleted": "1", "bytes": "21", "exit-code": "0"}
	for k, v := range want {
		if res.outputs[k] != v {
			t.Errorf("second deploy: output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	files = gittest.Files(t, filepath.Join(root, "www"))
	if _, ok := files["old.html"]; ok || files["index.html"] != "<h1>hello again</h1>\n" {
		t.Errorf("server after the second deploy: %v", files)
	}
	if !strings.Contains(res.summary, "| Previous commit | `"+first+"` |") {
		t.Errorf("step summary lacks the previous commit:\n%s", res.summary)
	}

	// The runner hides ::add-mask:: lines; everything else must not hold
	// the password.
	for _, l := range strings.Split(res.log+res.summary, "\n") {
		if strings.Contains(l, password) && l != "::add-mask::"+password {
			t.Errorf("the password is printed: %q", l)
		}
	}
	if !strings.Contains(res.log, "::add-mask::"+password+"\n") {
		t.Errorf("the password is not masked:\n%s", res.log)
	}
	for _, o := range res.steps {
		for k, v := range o {
			if strings.Contains(v, password) {
				t.Errorf("step output %s holds the password", k)
			}
		}
	}
}

// TestActionFailedDeploy: a refused login fails the step with gftp's exit
// code, and the summary and outputs say so.
func TestActionFailedDeploy(t *testing.T) {
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t)
	rel.publish(t, asset, "")
	srv, root := ftpServer(t)
	repo := site(t)
	res := newRunner(t, rel).use(repo.Dir, map[string]string{
		"url": "ftpes://" + srv.Addr() + "/www", "user": "deploy", "password": "wrong-" + password,
		"args": "--cacert " + srv.CACertFile(),
	})
	if !res.failed {
		t.Fatalf("a refused login did not fail the step:\n%s", res.log)
	}
	if res.outputs["exit-code"] == "0" || res.outputs["exit-code"] == "" || res.outputs["commit"] != "" {
		t.Errorf("outputs after a refused login: %v", res.outputs)
	}
	if !strings.Contains(res.summary, "❌ failed (exit code "+res.outputs["exit-code"]+")") || !strings.Contains(res.summary, "**Error:**") {
		t.Errorf("step summary after a refused login:\n%s", res.summary)
	}
	if strings.Contains(strings.ReplaceAll(res.log, "::add-mask::wrong-"+password, ""), password) {
		t.Errorf("the password is printed:\n%s", res.log)
	}
	if files := gittest.Files(t, root); len(files) != 0 {
		t.Errorf("files on the server after a refused login: %v", files)
	}
}

// TestActionChecksumMismatch: a binary whose SHA-256 is not the release's
// stops the action in its install step: gftp is never run, nothing is
// deployed, and the binary is not left behind.
func TestActionChecksumMismatch(t *testing.T) {
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t)
	rel.publish(t, asset, strings.Repeat("ab", 32))
	srv, root := ftpServer(t)
	repo := site(t)
	r := newRunner(t, rel)
	res := r.use(repo.Dir, map[string]string{
		"url": "ftpes://" + srv.Addr() + "/www", "user": "deploy", "password": password,
		"args": "--cacert " + srv.CACertFile(),
	})
	if !res.failed || res.steps["run"] != nil {
		t.Fatalf("a checksum mismatch did not stop the action before the deploy step:\n%s", res.log)
	}
	errs := errorLines(res.log)
	if len(errs) != 1 || !strings.Contains(errs[0], "checksum mismatch for "+asset) {
		t.Errorf("errors = %q, want one checksum mismatch", errs)
	}
	if files := gittest.Files(t, root); len(files) != 0 {
		t.Errorf("files on the server after a checksum mismatch: %v", files)
	}
	left, _ := filepath.Glob(filepath.Join(r.env["RUNNER_TEMP"], "*", "gftp*"))
	if len(left) != 0 {
		t.Errorf("the mismatched binary is left behind: %v", left)
	}
}

// TestActionDownloadFails: a release that lists the binary but cannot
// serve it, and a release server that is down, both stop the install step.
func TestActionDownloadFails(t *testing.T) {
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t)
	rel.publish(t, asset, "")
	if err := os.Remove(filepath.Join(rel.dir, tag, asset)); err != nil {
		t.Fatal(err)
	}
	repo := site(t)
	with := map[string]string{"url": "ftpes://127.0.0.1:1/www", "user": "deploy", "password": password}
	res := newRunner(t, rel).use(repo.Dir, with)
	if errs := errorLines(res.log); !res.failed || res.steps["run"] != nil || len(errs) != 1 || !strings.Contains(errs[0], "/"+tag+"/"+asset+": HTTP 404") {
		t.Errorf("a missing binary: failed=%v errors=%q\n%s", res.failed, errs, res.log)
	}

	down := newRunner(t, rel)
	down.env["GFTP_RELEASE_URL"] = "http://127.0.0.1:1"
	res = down.use(repo.Dir, with)
	if errs := errorLines(res.log); !res.failed || res.steps["run"] != nil || len(errs) != 1 || !strings.Contains(errs[0], "cannot download http://127.0.0.1:1/"+tag+"/SHA256SUMS") {
		t.Errorf("a release server that is down: failed=%v errors=%q\n%s", res.failed, errs, res.log)
	}
}

// TestActionBuildsFromSource: with no release for the ref (a branch or a
// commit), the action builds gftp from its own source with Go, and without
// Go it says what to do.
func TestActionBuildsFromSource(t *testing.T) {
	rel := newRelease(t) // empty: every download is a 404
	repo := site(t)
	with := map[string]string{"url": "ftpes://127.0.0.1:1/www", "user": "deploy", "password": password}

	r := newRunner(t, rel)
	r.github["action_ref"] = "main"
	res := r.use(repo.Dir, with)
	if res.steps["install"]["path"] == "" || res.steps["run"] == nil {
		t.Fatalf("build from source failed:\n%s", res.log)
	}
	if !strings.Contains(res.log, "no release main at "+rel.url) || !strings.Contains(res.log, "gftp main") {
		t.Errorf("build from source log:\n%s", res.log)
	}

	// Without Go on PATH (bash, curl and the coreutils stay).
	nogo := newRunner(t, rel)
	nogo.github["action_ref"] = "main"
	bin := filepath.Join(nogo.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "curl", "awk", "cut", "mkdir", "rm", "chmod", "sha256sum", "cat", "mktemp"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	nogo.env["PATH"] = bin
	res = nogo.use(repo.Dir, with)
	errs := errorLines(res.log)
	if !res.failed || len(errs) != 1 || !strings.Contains(errs[0], "no gftp release for main on ") || !strings.Contains(errs[0], "actions/setup-go") {
		t.Errorf("no release and no Go: failed=%v errors=%q\n%s", res.failed, errs, res.log)
	}
}

// TestActionMissingInput: each required input, when missing, gets one
// error line that names it, and nothing is run.
func TestActionMissingInput(t *testing.T) {
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t)
	rel.publish(t, asset, "")
	repo := site(t)
	full := map[string]string{"url": "ftpes://127.0.0.1:1/www", "user": "deploy", "password": password}
	for _, missing := range []string{"url", "user", "password"} {
		with := map[string]string{}
		for k, v := range full {
			if k != missing {
				with[k] = v
			}
		}
		res := newRunner(t, rel).use(repo.Dir, with)
		errs := errorLines(res.log)
		if !res.failed || len(errs) != 1 || !strings.Contains(errs[0], `the input "`+missing+`" is required`) {
			t.Errorf("without %s: failed=%v errors=%q\n%s", missing, res.failed, errs, res.log)
		}
		if strings.Contains(res.log, "gftp push") {
			t.Errorf("without %s, gftp ran:\n%s", missing, res.log)
		}
	}
	// The user may be in the URL instead.
	res := newRunner(t, rel).use(repo.Dir, map[string]string{"url": "ftpes://deploy@127.0.0.1:1/www", "password": password, "args": "--timeout 1s"})
	if strings.Contains(res.log, "is required") || !strings.Contains(res.log, "gftp push") {
		t.Errorf("a user in the URL:\n%s", res.log)
	}
}
