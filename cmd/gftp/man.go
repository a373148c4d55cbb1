package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"
)

// manCommand prints the manual page. It is written from the same command
// tree and flag strings that --help prints, so the two cannot disagree;
// docs/gftp.1 is its output (make man), and a test keeps it so.
func (a *app) manCommand() *cli.Command {
	return &cli.Command{
		Name:        "man",
		Usage:       "print gftp's manual page (roff), made from the commands and flags --help shows",
		Description: "gftp man | man -l -",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			_, err := io.WriteString(a.stdout, manPage(cmd.Root()))
			return err
		},
	}
}

// manPage renders root as a man(7) page.
func manPage(root *cli.Command) string {
	var b strings.Builder
	synopsis := strings.TrimPrefix(root.UsageText, root.Name+" ")
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"%s\" \"User Commands\"\n", strings.ToUpper(root.Name), root.Name)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", root.Name, roffText(root.Usage))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n%s\n", root.Name, roffText(synopsis))
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString(roffText("The commands below deploy the commit checked out (or the one given) to the URL given as the argument, or to the URL of a scope that add-scope saved. Every command takes the global options. gftp help COMMAND prints the same options for one command.") + "\n")
	b.WriteString(".SH COMMANDS\n")
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			name := prefix + " " + c.Name
			title := name
			if c.ArgsUsage != "" {
				title += " " + c.ArgsUsage
			}
			fmt.Fprintf(&b, ".SS \"%s\"\n", strings.ReplaceAll(roffText(title), `"`, `\(dq`))
			if len(c.Aliases) > 0 {
				fmt.Fprintf(&b, "%s (also: %s)\n", roffText(c.Usage), roffText(strings.Join(c.Aliases, ", ")))
			} else {
				fmt.Fprintf(&b, "%s\n", roffText(c.Usage))
			}
			if c.Description != "" {
				fmt.Fprintf(&b, ".PP\n.nf\n%s\n.fi\n", roffText(c.Description))
			}
			manFlags(&b, c.Flags)
			walk(name, c.Commands)
		}
	}
	walk(root.Name, root.Commands)
	b.WriteString(".SH GLOBAL OPTIONS\n")
	manFlags(&b, root.Flags)
	b.WriteString(".SH SEE ALSO\n")
	b.WriteString(roffText("git-ftp(1), git(1). The README documents configuration (flags, GFTP_* variables, git config git-ftp.* and scopes), what gets deployed, --json output and the exit codes.") + "\n")
	return b.String()
}

// manFlags lists flags as --help prints them (cli.FlagStringer): the names
// and placeholder in bold, then the usage and default.
func manFlags(b *strings.Builder, flags []cli.Flag) {
	for _, f := range flags {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		if f.Names()[0] == "help" {
			continue
		}
		names, usage, _ := strings.Cut(cli.FlagStringer(f), "\t")
		fmt.Fprintf(b, ".TP\n\\fB%s\\fR\n%s\n", roffText(names), roffText(usage))
	}
}

// roffText escapes text for roff: backslashes, hyphens (which would
// otherwise break or turn into dashes), and a line that starts with a
// control character.
func roffText(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
