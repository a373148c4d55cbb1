package deploy

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// Loose objects are read here rather than through go-git, for a blob that
// is uploaded: go-git's path (a billy chroot, an Lstat through its
// polyfill, a fresh zlib reader and a MemoryObject copy into its object
// cache) was the largest share of gftp's CPU after the network itself for
// the 2,000 small files of an init (profiled: 16%). A loose object is a
// zlib stream of "blob SIZE\0" and the content (gitformat-loose(5)); the
// bytes returned are the same. Packed objects, alternates and anything
// that is not a plain loose blob are left to go-git.

// looseSmall is the compressed size read whole into memory; a larger loose
// object is streamed from its file.
const looseSmall = 64 << 10

// looseBufs holds the buffers that small loose objects are read into.
var looseBufs = sync.Pool{New: func() any {
	b := make([]byte, looseSmall)
	return &b
}}

// zlibReaders holds zlib readers for reuse (zlib.Resetter): a new one
// allocates its 32 KiB window each time.
var zlibReaders sync.Pool

// errNotLooseBlob sends openBlob to go-git.
var errNotLooseBlob = errors.New("not a loose blob")

// looseFile returns the path of the loose object h under objects.
func looseFile(objects string, h plumbing.Hash) string {
	hex := h.String()
	return filepath.Join(objects, hex[:2], hex[2:])
}

// openLoose opens the loose object h under objects as a blob's content.
// It returns errNotLooseBlob (or an fs.ErrNotExist error) when go-git
// should read it instead.
func openLoose(objects string, h plumbing.Hash) (io.ReadCloser, error) {
	bp := looseBufs.Get().(*[]byte)
	n, f, err := readLoose(looseFile(objects, h), *bp, true)
	if err != nil {
		looseBufs.Put(bp)
		return nil, err
	}
	var src io.Reader = bytes.NewReader((*bp)[:n])
	if f != nil {
		// Larger than looseSmall: what was read, then the rest.
		src = bufio.NewReader(io.MultiReader(src, f))
	}
	lr := &looseReader{f: f, buf: bp}
	size, err := lr.start(src)
	if err != nil {
		lr.Close()
		return nil, err
	}
	lr.left = size
	return lr, nil
}

// looseSize reads the size of the loose blob h from its header.
func looseSize(objects string, h plumbing.Hash) (int64, error) {
	// The header is in the first bytes of the stream; 2 KiB of it is
	// enough for any deflate block's code tables.
	var buf [2 << 10]byte
	n, _, err := readLoose(looseFile(objects, h), buf[:], false)
	if err != nil {
		return 0, err
	}
	lr := &looseReader{}
	defer lr.Close()
	return lr.start(bytes.NewReader(buf[:n]))
}

// start sets up the zlib reader over src and reads the object's header:
// "blob", a space, the size in decimal, a NUL.
func (l *looseReader) start(src io.Reader) (int64, error) {
	if z, ok := zlibReaders.Get().(io.ReadCloser); ok {
		l.z = z
		if err := z.(zlib.Resetter).Reset(src, nil); err != nil {
			return 0, errNotLooseBlob
		}
	} else {
		z, err := zlib.NewReader(src)
		if z != nil {
			l.z = z
		}
		if err != nil {
			return 0, errNotLooseBlob
		}
	}
	var hdr [32]byte
	i := 0
	for ; i < len(hdr); i++ {
		if _, err := io.ReadFull(l.z, hdr[i:i+1]); err != nil {
			return 0, errNotLooseBlob
		}
		if hdr[i] == 0 {
			break
		}
	}
	if i == len(hdr) || !bytes.HasPrefix(hdr[:i], []byte("blob ")) {
		return 0, errNotLooseBlob
	}
	size, err := strconv.ParseInt(string(hdr[len("blob "):i]), 10, 64)
	if err != nil || size < 0 {
		return 0, errNotLooseBlob
	}
	return size, nil
}

// looseReader is a loose blob's content: exactly the size its header
// gives, and an error if the stream ends before it.
type looseReader struct {
	f    *os.File // nil when the object was read whole
	buf  *[]byte
	z    io.ReadCloser
	left int64
}

func (l *looseReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.z.Read(p)
	l.left -= int64(n)
	if err == io.EOF {
		if l.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	if l.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

func (l *looseReader) Close() error {
	if l.z != nil {
		_ = l.z.Close()
		zlibReaders.Put(l.z)
		l.z = nil
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if l.buf != nil {
		looseBufs.Put(l.buf)
		l.buf = nil
	}
	return nil
}

// isLooseMiss reports whether openLoose found no loose blob to read.
func isLooseMiss(err error) bool {
	return errors.Is(err, errNotLooseBlob) || errors.Is(err, fs.ErrNotExist)
}
