package gitftp_test

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// hookScript logs one run of a hook: its four arguments (one per line) and,
// for pre-ftp-push, the bytes on its stdin, as NNN-NAME.args and
// NNN-NAME.stdin in LOG, numbered in the order of the runs. It fails while
// GITDIR/fail-pre (or fail-post) exists.
const hookScript = `#!/bin/sh
log='LOG'
n=$(cat "$log/seq" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$log/seq"
n=$(printf %03d "$n")
printf '%s\n' "$1" "$2" "$3" "$4" > "$log/$n-NAME.args"
if [ NAME = pre-ftp-push ]; then
	cat > "$log/$n-NAME.stdin"
fi
if [ -e 'GITDIR/fail-KIND' ]; then
	exit 1
fi
exit 0
`

// installHooks writes pre-ftp-push and post-ftp-push into the lane's
// .git/hooks, where git-ftp looks when core.hooksPath is unset.
func installHooks(t *testing.T, l *lane) {
	t.Helper()
	gitDir := filepath.Join(l.repo.Dir, ".git")
	l.hooks = filepath.Join(gitDir, "hooklog")
	if err := os.MkdirAll(l.hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, kind := range map[string]string{"pre-ftp-push": "pre", "post-ftp-push": "post"} {
		s := strings.NewReplacer("LOG", l.hooks, "NAME", name, "GITDIR", gitDir, "KIND", kind).Replace(hookScript)
		if err := os.WriteFile(filepath.Join(gitDir, "hooks", name), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// hookRun is one logged run of a hook.
type hookRun struct {
	name  string   // "pre-ftp-push" or "post-ftp-push"
	args  []string // the four arguments, lane names replaced by LANE
	stdin string   // pre-ftp-push only
}

func hookRuns(t *testing.T, l *lane) []hookRun {
	t.Helper()
	ents, err := os.ReadDir(l.hooks)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".args") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var runs []hookRun
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(l.hooks, n))
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Split(strings.TrimSuffix(laneRE.ReplaceAllString(string(b), "LANE"), "\n"), "\n")
		r := hookRun{name: strings.TrimSuffix(n[4:], ".args"), args: args}
		if in, err := os.ReadFile(filepath.Join(l.hooks, strings.TrimSuffix(n, ".args")+".stdin")); err == nil {
			r.stdin = string(in)
		}
		runs = append(runs, r)
	}
	return runs
}

// compareHooks requires every lane's hooks to have run as the git-ftp
// lane's did: the same hooks, in the same order, with the same arguments
// (scope or host, URL, local SHA, remote SHA) and the same bytes on the
// pre-ftp-push hook's stdin.
func compareHooks(t *testing.T, lanes []*lane) {
	t.Helper()
	ref := hookRuns(t, lanes[0])
	for _, l := range lanes[1:] {
		got := hookRuns(t, l)
		if !reflect.DeepEqual(got, ref) {
			t.Errorf("%s's hooks ran otherwise than %s's:\n got %q\nwant %q", l.name, lanes[0].name, got, ref)
		}
	}
}
