package main

import (
	"strings"

	"github.com/urfave/cli/v3"
)

// argvSpec is what normaliseArgs needs to know about the command line:
// the action words, the flags that take a value, the flags whose value is
// optional (git-ftp's bare -s and -k), and the one-letter flags that take
// none (which may be bundled, as in -vA).
type argvSpec struct {
	actions  map[string]bool
	value    map[string]bool // names without dashes
	optional map[string]string
	bools    map[string]bool // one-letter boolean flags
	// localUser is what a bare -u means: git-ftp takes $USER when -u is
	// last on the line or followed by another option.
	localUser string
}

// specOf reads the spec from the command tree, so that a new flag needs no
// second list here.
func specOf(root *cli.Command) argvSpec {
	s := argvSpec{actions: map[string]bool{}, value: map[string]bool{}, bools: map[string]bool{},
		// git-ftp: -s alone is the scope named after the branch; -k alone
		// reads the keychain for the URL's user and host.
		optional: map[string]string{"s": "scope", "scope": "scope", "k": "keychain", "keychain": "keychain"}}
	add := func(flags []cli.Flag) {
		for _, f := range flags {
			_, isBool := f.(*cli.BoolFlag)
			for _, n := range f.Names() {
				switch {
				case !isBool:
					s.value[n] = true
				case len(n) == 1:
					s.bools[n] = true
				}
			}
		}
	}
	add(root.Flags)
	for _, c := range root.Commands {
		s.actions[c.Name] = true
		add(c.Flags)
	}
	s.actions["help"] = true
	return s
}

// normaliseArgs turns a git-ftp command line into one urfave/cli parses:
// git-ftp takes the action anywhere (`git ftp -u deploy ftp://host/x init`),
// so the first action word moves to the front. It also
//   - splits bundled one-letter flags (-vA into -v -A);
//   - writes a bare -s or -k as --scope= or --keychain= (an empty value
//     that the settings resolve: the current branch, the URL's account);
//   - writes a bare -u (last, or before another option) as --user=$USER;
//   - keeps only the last of --active and --passive, so that the last one
//     on the line wins without a second parse;
//   - turns --version anywhere into the version command, as git-ftp does.
//
// Everything after "--" is left alone.
func normaliseArgs(args []string, s argvSpec) []string {
	if len(args) == 0 {
		return args
	}
	var toks []string
	action := -1
	rest := args[1:]
	lastMode := -1            // index in toks of the --active/--passive that stays
	dropped := map[int]bool{} // superseded mode flags
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			toks = append(toks, rest[i:]...)
			break
		}
		if a == "--version" {
			return []string{args[0], "version"}
		}
		if len(a) < 2 || a[0] != '-' {
			if action < 0 && s.actions[a] {
				action = len(toks)
			}
			toks = append(toks, a)
			continue
		}
		start := len(toks)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case hasValue:
			toks = append(toks, a)
		case s.optional[name] != "":
			if i+1 < len(rest) && s.isOptionalValue(rest[i+1]) {
				toks = append(toks, a, rest[i+1])
				i++
			} else {
				toks = append(toks, "--"+s.optional[name]+"=")
			}
		case (name == "u" || name == "user") && s.localUser != "" && (i+1 == len(rest) || strings.HasPrefix(rest[i+1], "-")):
			toks = append(toks, "--user="+s.localUser)
		case s.value[name]:
			toks = append(toks, a)
			if i+1 < len(rest) {
				toks = append(toks, rest[i+1])
				i++
			}
		case a[1] != '-' && len(a) > 2 && s.allBools(a[1:]):
			for _, c := range a[1:] {
				toks = append(toks, "-"+string(c))
			}
		default:
			toks = append(toks, a)
		}
		// Of the mode flags just added, only the last counts.
		for j := start; j < len(toks); j++ {
			switch toks[j] {
			case "-A", "--active", "--active=true", "--passive", "--passive=true", "--active=false":
				if lastMode >= 0 {
					dropped[lastMode] = true
				}
				lastMode = j
			}
		}
	}
	out := []string{args[0]}
	if action >= 0 {
		out = append(out, toks[action])
	}
	for i, t := range toks {
		if i == action || dropped[i] {
			continue
		}
		out = append(out, t)
	}
	return out
}

// isOptionalValue reports whether the word after a bare -s or -k is its
// value: not a flag, not an action, not a URL.
func (s argvSpec) isOptionalValue(next string) bool {
	return next != "" && next[0] != '-' && !s.actions[next] && !strings.Contains(next, "://")
}

func (s argvSpec) allBools(letters string) bool {
	for _, c := range letters {
		if !s.bools[string(c)] {
			return false
		}
	}
	return true
}
