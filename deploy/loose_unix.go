//go:build unix

package deploy

import (
	"os"
	"syscall"
)

// readLoose reads the file at path into buf, through the system calls
// themselves: os.Open tries to register a regular file with the network
// poller, which costs four fcntl calls and a failed epoll_ctl per file
// (strace of an init: 10 of its 30 system calls per file). When the file
// is larger than buf, the rest is left to read from f if rest is set.
func readLoose(path string, buf []byte, rest bool) (n int, f *os.File, err error) {
	// The upload's read (rest) follows the plan's read of the same
	// object's head (looseSize): its first bytes are in the page cache.
	fd, err := openFile(path, rest)
	if err != nil {
		return 0, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	for n < len(buf) {
		var m int
		if rest && n < cachedHead {
			m, err = readCached(fd, buf[n:min(len(buf), cachedHead)])
		} else {
			m, err = syscall.Read(fd, buf[n:])
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			closeFile(fd, rest)
			return 0, nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			closeFile(fd, rest)
			return n, nil, nil
		}
		n += m
	}
	if !rest {
		closeFile(fd, rest)
		return n, nil, nil
	}
	return n, os.NewFile(uintptr(fd), path), nil
}
