//go:build unix && !linux

package deploy

import "syscall"

// cachedHead is Linux's (loose_linux.go); elsewhere every read goes
// through the scheduler.
const cachedHead = 0

func openFile(path string, _ bool) (int, error) {
	return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
}

func readCached(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

func closeFile(fd int, _ bool) { _ = syscall.Close(fd) }
