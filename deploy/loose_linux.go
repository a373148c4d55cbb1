package deploy

import (
	"syscall"
	"unsafe"
)

// On Linux the upload's open, read and close of a loose object's first
// cachedHead bytes are RawSyscalls, which the Go scheduler does not see.
// Entered through the scheduler, each call woke sysmon from the sleep it
// takes while the process waits for the server, and set it polling every
// 20 µs for the next millisecond: in a 2,000-file FTPES init, 41% of
// sysmon's wake-ups were this open (perf probe on
// runtime.entersyscallWakeSysmon). A RawSyscall that had to wait for the
// disk would hold up the process's other goroutines meanwhile; these do
// not wait: the plan read each object's head a moment before (looseSize),
// so the open's path walk and these bytes are in the kernel's caches. What
// lies beyond cachedHead, and the plan's own read, go through the
// scheduler.
const cachedHead = 16 << 10

// atFDCWD is AT_FDCWD, a variable so that it converts to uintptr.
var atFDCWD = -0x64

func openFile(path string, cached bool) (int, error) {
	if !cached {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	for {
		fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(p)), syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}

func readCached(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func closeFile(fd int, cached bool) {
	if !cached {
		_ = syscall.Close(fd)
		return
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
}
