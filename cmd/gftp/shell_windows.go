package main

import (
	"context"
	"os/exec"
	"syscall"
)

// shellCommand runs command through cmd.exe, the shell every Windows
// machine has; see windowsShellLine for the quoting.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	c := exec.CommandContext(ctx, "cmd.exe")
	c.SysProcAttr = &syscall.SysProcAttr{CmdLine: windowsShellLine(command)}
	return c
}
