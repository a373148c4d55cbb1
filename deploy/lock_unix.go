//go:build unix

package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// holderDead reports whether the lock's holder was a process on this host
// that no longer exists (a deploy killed, or quit with a second signal):
// the same host name, the same pid namespace on the same boot where the
// holder said which (Linux), and no process of that pid, or one that
// started at another time (the pid was reused).
func holderDead(info *LockInfo) bool {
	host, err := os.Hostname()
	if err != nil || info == nil || info.Host != clip(host) || info.PID <= 0 {
		return false
	}
	space, start := processIdentity()
	if info.Space != "" && info.Space != space {
		return false // another container, or the host rebooted: cannot tell
	}
	if info.PID == os.Getpid() {
		return info.Start != 0 && start != 0 && info.Start != start
	}
	if errors.Is(syscall.Kill(info.PID, 0), syscall.ESRCH) {
		return true
	}
	if info.Start != 0 {
		if s, ok := startTime(strconv.Itoa(info.PID)); ok && s != info.Start {
			return true
		}
	}
	return false
}

// processIdentity returns this process's pid namespace on this boot, as 8
// hex digits, and its start time in clock ticks since boot; "" and 0 where
// /proc does not say (other systems than Linux).
func processIdentity() (space string, start uint64) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", 0
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", 0
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(string(boot)) + "\x00" + ns))
	start, _ = startTime("self")
	return hex.EncodeToString(sum[:4]), start
}

// startTime reads field 22 of /proc/PID/stat: when the process started, in
// clock ticks since boot.
func startTime(pid string) (uint64, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[19], 10, 64)
	return n, err == nil
}
