//go:build !unix

package deploy

import (
	"io"
	"os"
)

// readLoose reads the file at path into buf. When the file is larger than
// buf, the rest is left to read from f if rest is set.
func readLoose(path string, buf []byte, rest bool) (n int, f *os.File, err error) {
	f, err = os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	n, err = io.ReadFull(f, buf)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		f.Close()
		return n, nil, nil
	case nil:
		if !rest {
			f.Close()
			return n, nil, nil
		}
		return n, f, nil
	}
	f.Close()
	return 0, nil, err
}
