package main

import "strings"

// windowsShellLine is the command line that runs command through cmd.exe.
// cmd.exe parses its own command line rather than an argv, so the command
// goes in verbatim: /s strips exactly the outer quotes added here and keeps
// the ones inside (`"C:\Program Files\vault.exe" read pw`), and /d skips the
// AutoRun commands of the registry. Node's child_process runs `cmd.exe /d /s
// /c "…"` for the same reasons.
func windowsShellLine(command string) string {
	return `cmd.exe /d /s /c "` + strings.TrimSpace(command) + `"`
}
