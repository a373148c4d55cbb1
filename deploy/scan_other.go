//go:build !unix

package deploy

import (
	"crypto/sha256"
	"io"
	"os"
)

func hashOne(f *LocalFile, buf []byte) error { return hashFile(f, buf) }

// hashFile is hashOne's portable way.
func hashFile(f *LocalFile, buf []byte) error {
	fh, err := os.Open(f.File)
	if err != nil {
		return &LocalError{Err: err}
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, struct{ io.Reader }{fh}, buf)
	if err != nil {
		return &LocalError{Err: err}
	}
	f.Size = n
	h.Sum(f.SHA256[:0])
	return nil
}
