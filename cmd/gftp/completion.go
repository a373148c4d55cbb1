package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

// completionCommand prints a shell's completion script. Each script asks
// gftp itself for candidates (urfave/cli's --generate-shell-completion),
// so a new command or flag completes without a new script.
func (a *app) completionCommand() *cli.Command {
	shell := func(name, usage string, aliases []string, script func() (string, error)) *cli.Command {
		return &cli.Command{
			Name:    name,
			Aliases: aliases,
			Usage:   usage,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				s, err := script()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(a.stdout, s)
				return err
			},
		}
	}
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh, fish or powershell",
		ArgsUsage: "bash|zsh|fish|powershell",
		Description: "bash:       source <(gftp completion bash)        (in ~/.bashrc; needs the bash-completion package)\n" +
			"zsh:        source <(gftp completion zsh)         (in ~/.zshrc, after compinit)\n" +
			"fish:       gftp completion fish > ~/.config/fish/completions/gftp.fish\n" +
			"powershell: gftp completion powershell | Out-String | Invoke-Expression   (in $PROFILE)",
		Commands: []*cli.Command{
			shell("bash", "print the bash completion script", nil, func() (string, error) { return urfaveScript("bash") }),
			shell("zsh", "print the zsh completion script", nil, func() (string, error) { return urfaveScript("zsh") }),
			shell("fish", "print the fish completion script", nil, func() (string, error) { return urfaveScript("fish") }),
			shell("powershell", "print the PowerShell completion script", []string{"pwsh"}, func() (string, error) { return powershellScript, nil }),
		},
	}
}

// completing reports whether a completion script runs gftp for
// candidates: urfave/cli answers a command line that ends in
// --generate-shell-completion, read as it stands (git-ftp's argument order
// and the command check do not apply to a line being typed).
func completing(args []string) bool {
	return len(args) > 1 && args[len(args)-1] == "--generate-shell-completion"
}

// urfaveScript is the completion script urfave/cli ships for shell, for a
// program named gftp. The library renders it only from its own completion
// command, so a throwaway command tree runs that.
func urfaveScript(shell string) (string, error) {
	var out bytes.Buffer
	c := &cli.Command{Name: "gftp", EnableShellCompletion: true, Writer: &out, ErrWriter: &out,
		ExitErrHandler: func(context.Context, *cli.Command, error) {}}
	if err := c.Run(context.Background(), []string{"gftp", "completion", shell}); err != nil {
		return "", fmt.Errorf("render the %s completion script: %w", shell, err)
	}
	return out.String(), nil
}

// powershellScript is ours: urfave/cli's names the command after the
// script's file and passes PowerShell only the word being completed,
// not the command line before it.
const powershellScript = `# gftp completion for PowerShell. Load it in $PROFILE with:
#   gftp completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName gftp, gftp.exe -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    # The words before the cursor, without the one being completed.
    $words = @($commandAst.CommandElements |
        Where-Object { $_.Extent.EndOffset -le $cursorPosition } |
        ForEach-Object { $_.ToString() })
    if ($wordToComplete -ne '' -and $words.Count -gt 1) {
        $words = $words[0..($words.Count - 2)]
    }
    $arguments = @()
    if ($words.Count -gt 1) {
        $arguments = $words[1..($words.Count - 1)]
    }
    # A flag is completed by asking with it; anything else, without.
    if ($wordToComplete.StartsWith('-')) {
        $arguments += $wordToComplete
    }
    $arguments += '--generate-shell-completion'
    & $words[0] @arguments 2>$null | ForEach-Object {
        $parts = $_ -split ':', 2
        $name = $parts[0]
        if ($name -ne '' -and $name -like "$wordToComplete*") {
            $description = $name
            if ($parts.Count -eq 2 -and $parts[1] -ne '') {
                $description = $parts[1]
            }
            [System.Management.Automation.CompletionResult]::new($name, $name, 'ParameterValue', $description)
        }
    }
}
`
