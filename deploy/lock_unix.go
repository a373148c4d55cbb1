//go:build unix

package deploy

import (
	"errors"
	"os"
	"syscall"
)

// holderDead reports whether the lock's holder was a process on this host
// that no longer exists (a deploy killed, or quit with a second Ctrl-C).
func holderDead(info *LockInfo) bool {
	host, err := os.Hostname()
	if err != nil || info == nil || info.Host != host || info.PID <= 0 || info.PID == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(info.PID, 0), syscall.ESRCH)
}
