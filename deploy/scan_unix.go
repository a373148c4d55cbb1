//go:build unix

package deploy

import (
	"crypto/sha256"
	"io/fs"
	"syscall"
)

// hashOne reads a file with bare system calls: open, reads, close. An
// *os.File would also register the descriptor with the poller (one more
// system call, refused for a regular file), which on 100,000 small files
// is a fifth of the work.
func hashOne(f *LocalFile, buf []byte) error {
	fd, err := openRetry(f.File)
	if err != nil {
		return &LocalError{Err: &fs.PathError{Op: "open", Path: f.File, Err: err}}
	}
	defer syscall.Close(fd)
	h := sha256.New()
	var n int64
	for {
		k, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &LocalError{Err: &fs.PathError{Op: "read", Path: f.File, Err: err}}
		}
		if k <= 0 {
			break
		}
		h.Write(buf[:k])
		n += int64(k)
	}
	f.Size = n
	h.Sum(f.SHA256[:0])
	return nil
}

func openRetry(name string) (int, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}
