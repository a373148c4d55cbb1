package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"
)

// configKeys maps each setting to its flag (the git config key is the same
// name under git-ftp.) and its environment variable. git-ftp's keys come
// first; the rest are gftp's own.
var configKeys = map[string]string{
	"url":                 "GFTP_URL",
	"user":                "GFTP_USER",
	"password":            "GFTP_PASSWORD",
	"password-command":    "GFTP_PASSWORD_COMMAND",
	"syncroot":            "GFTP_SYNCROOT",
	"remote-root":         "GFTP_REMOTE_ROOT",
	"cacert":              "GFTP_CACERT",
	"insecure":            "GFTP_INSECURE",
	"disable-epsv":        "GFTP_DISABLE_EPSV",
	"active":              "GFTP_ACTIVE",
	"active-addr":         "GFTP_ACTIVE_ADDR",
	"active-ports":        "GFTP_ACTIVE_PORTS",
	"trust-pasv-ip":       "GFTP_TRUST_PASV_IP",
	"deployedsha1file":    "GFTP_DEPLOYEDSHA1FILE",
	"key":                 "GFTP_KEY",
	"known-hosts":         "GFTP_KNOWN_HOSTS",
	"jobs":                "GFTP_JOBS",
	"in-flight":           "GFTP_IN_FLIGHT",
	"timeout":             "GFTP_TIMEOUT",
	"s3-endpoint":         "GFTP_S3_ENDPOINT",
	"s3-region":           "GFTP_S3_REGION",
	"s3-profile":          "GFTP_S3_PROFILE",
	"s3-path-style":       "GFTP_S3_PATH_STYLE",
	"cache-control":       "GFTP_CACHE_CONTROL",
	"accept-new-host-key": "GFTP_ACCEPT_NEW_HOST_KEY",
	"proxy":               "GFTP_PROXY",
	"branch":              "GFTP_BRANCH",
	"keychain":            "GFTP_KEYCHAIN",
}

// source names where a setting came from, most important first.
type source int

const (
	srcNone source = iota
	srcNetrc
	srcGitConfig
	srcGitConfigScope
	srcFile
	srcFileScope
	srcEnv
	srcFlag
)

func (s source) String() string {
	return [...]string{"default", "~/.netrc", "git config", "git config (scope)", ".git-ftp-config", ".git-ftp-config (scope)", "environment", "command line"}[s]
}

// settings resolves settings for one command run.
type settings struct {
	cmd   *cli.Command
	scope string
	file  map[string]string // .git-ftp-config, git-ftp.* keys
	git   map[string]string // git config (all scopes), git-ftp.* keys
	env   func(string) string
	// dir is the repository the git config was read in, and httpProxy
	// its http.proxy ("" when unset), read in the same git config call
	// (see proxySetting).
	dir       string
	httpProxy string
}

func loadSettings(ctx context.Context, cmd *cli.Command, repoDir string) (*settings, error) {
	s := &settings{cmd: cmd, scope: cmd.String("scope"), env: os.Getenv}
	if cmd.IsSet("scope") {
		if s.scope == "" { // a bare -s: git-ftp's scope named after the branch
			b, err := currentBranch(ctx, repoDir)
			if err != nil {
				return nil, err
			}
			s.scope = b
		}
		if err := checkScopeName(s.scope); err != nil {
			return nil, err
		}
	}
	if repoDir != "" {
		var err error
		if s.file, err = gitConfigList(ctx, repoDir, filepath.Join(repoDir, ".git-ftp-config")); err != nil {
			return nil, err
		}
		if s.git, err = gitConfigList(ctx, repoDir, ""); err != nil {
			return nil, err
		}
		s.dir, s.httpProxy = repoDir, s.git["http.proxy"]
		delete(s.git, "http.proxy")
	}
	return s, nil
}

// get returns a setting and where it came from. Flags win, then GFTP_*
// variables, then .git-ftp-config (scope, then plain), then git config
// (scope, then plain): git-ftp's order, with flags and env on top.
func (s *settings) get(key string) (string, source) {
	flag := key
	if key == "password" {
		flag = "passwd" // git-ftp's flag name
	}
	if s.cmd != nil && s.cmd.IsSet(flag) {
		return flagString(s.cmd, flag), srcFlag
	}
	if env := configKeys[key]; env != "" {
		// An empty variable counts as unset: CI systems define them empty.
		if v := s.getenv(env); v != "" {
			return v, srcEnv
		}
	}
	if s.scope != "" {
		if v, ok := s.file["git-ftp."+s.scope+"."+key]; ok {
			return v, srcFileScope
		}
	}
	if v, ok := s.file["git-ftp."+key]; ok {
		return v, srcFile
	}
	if s.scope != "" {
		if v, ok := s.git["git-ftp."+s.scope+"."+key]; ok {
			return v, srcGitConfigScope
		}
	}
	if v, ok := s.git["git-ftp."+key]; ok {
		return v, srcGitConfig
	}
	if s.cmd != nil && s.cmd.Value(flag) != nil {
		return flagString(s.cmd, flag), srcNone // the flag's default
	}
	return "", srcNone
}

// getenv reads the environment given to loadSettings (tests give their own).
func (s *settings) getenv(name string) string {
	if s.env == nil {
		return os.Getenv(name)
	}
	return s.env(name)
}

func (s *settings) str(key string) string { v, _ := s.get(key); return v }

func (s *settings) bool(key string) bool {
	v, _ := s.get(key)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// hasScope reports whether any configuration names the scope. git keeps
// the case of a subsection (git-ftp.Staging.url), so the name is matched
// as written.
func (s *settings) hasScope(name string) bool {
	prefix := "git-ftp." + name + "."
	for _, m := range []map[string]string{s.file, s.git} {
		for k := range m {
			if strings.HasPrefix(k, prefix) {
				return true
			}
		}
	}
	return false
}

func flagString(cmd *cli.Command, name string) string {
	switch v := cmd.Value(name).(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	default:
		return fmt.Sprint(v)
	}
}

// gitConfigList reads every git-ftp.* key with `git config`, from file when
// given, else from every scope git knows (system, global, local). Keys come
// back lower-cased in their section and name parts, as git prints them.
func gitConfigList(ctx context.Context, dir, file string) (map[string]string, error) {
	args := []string{"config", "-z"}
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			return map[string]string{}, nil
		}
		args = append(args, "-f", file)
	}
	if file == "" {
		// git-ftp's proxy falls back to http.proxy: read it here rather
		// than with a git config of its own on the way to connecting.
		args = append(args, "--get-regexp", `^(git-ftp\.|http\.proxy$)`)
	} else {
		args = append(args, "--get-regexp", `^git-ftp\.`)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && stderr.Len() == 0 {
		return map[string]string{}, nil // no such keys
	}
	if err != nil {
		return nil, fmt.Errorf("git config: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	m := map[string]string{}
	for _, rec := range strings.Split(string(out), "\x00") {
		if rec == "" {
			continue
		}
		k, v, _ := strings.Cut(rec, "\n")
		m[k] = v // later scopes (local) override earlier (system, global)
	}
	return m, nil
}

// netrcLookup finds login and password for host in ~/.netrc (or $NETRC).
// It reads the common subset: machine, default, login, password, and skips
// macdef bodies.
func netrcLookup(host string) (login, password string, ok bool) {
	path := os.Getenv("NETRC")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", false
		}
		path = filepath.Join(home, ".netrc")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", false
	}
	return parseNetrc(data, host)
}

func parseNetrc(data []byte, host string) (login, password string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Split(bufio.ScanWords)
	var toks []string
	for sc.Scan() {
		toks = append(toks, sc.Text())
	}
	type entry struct{ login, password string }
	var def *entry
	for i := 0; i < len(toks); i++ {
		switch toks[i] {
		case "machine", "default":
			isDefault := toks[i] == "default"
			name := ""
			if !isDefault && i+1 < len(toks) {
				i++
				name = toks[i]
			}
			e := entry{}
			for i+1 < len(toks) && toks[i+1] != "machine" && toks[i+1] != "default" {
				i++
				switch toks[i] {
				case "login":
					if i+1 < len(toks) {
						i++
						e.login = toks[i]
					}
				case "password":
					if i+1 < len(toks) {
						i++
						e.password = toks[i]
					}
				case "account":
					i++
				}
			}
			if !isDefault && name == host {
				return e.login, e.password, true
			}
			if isDefault && def == nil {
				def = &e
			}
		}
	}
	if def != nil {
		return def.login, def.password, true
	}
	return "", "", false
}
