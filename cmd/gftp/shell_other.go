//go:build !windows

package main

import (
	"context"
	"os/exec"
)

// shellCommand runs command through sh, as git-ftp runs its password
// command.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "sh", "-c", command)
}
