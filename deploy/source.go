package deploy

import (
	"errors"
	"io"
	"sync/atomic"
)

// source is an upload's content as an io.ReadSeeker, so that the retry
// decorator (the one layer that retries, remote/retry) can replay it: a
// seek back reopens the content (a blob, an LFS object or a file) and skips
// to the offset. Seeking only moves the offset; nothing is read or reopened
// until the next Read. It counts the bytes that reached the transport, and
// takes back from the total those of an attempt that a seek discarded.
type source struct {
	open  func() (io.ReadCloser, error)
	size  int64
	a     Action
	obs   Observer
	total *atomic.Int64

	rc  io.ReadCloser
	at  int64 // offset of rc
	pos int64 // offset the next Read starts from
	n   int64 // bytes counted into total so far
}

var errSeek = errors.New("source: seek out of range")

func (s *source) Read(p []byte) (int, error) {
	if s.rc != nil && s.pos < s.at {
		s.closeReader()
	}
	if s.rc == nil {
		rc, err := s.open()
		if err != nil {
			return 0, err
		}
		s.rc, s.at = rc, 0
	}
	if s.at < s.pos {
		n, err := io.CopyN(io.Discard, s.rc, s.pos-s.at)
		s.at += n
		if err != nil {
			return 0, err
		}
	}
	n, err := s.rc.Read(p)
	s.at += int64(n)
	s.pos = s.at
	if s.pos > s.n {
		// Bytes past what an earlier attempt sent count once.
		d := s.pos - s.n
		s.n = s.pos
		s.total.Add(d)
		s.obs.Progress(s.a, d)
	}
	return n, err
}

// Seek implements io.Seeker. A seek back takes the bytes after the new
// offset out of the total, since they will be sent again.
func (s *source) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.size
	}
	if offset < 0 || (s.size >= 0 && offset > s.size) {
		return s.pos, errSeek
	}
	if offset < s.n {
		s.total.Add(offset - s.n)
		s.n = offset
	}
	s.pos = offset
	return offset, nil
}

// Close closes the content, if it is open.
func (s *source) Close() error {
	s.closeReader()
	return nil
}

func (s *source) closeReader() {
	if s.rc != nil {
		s.rc.Close()
		s.rc, s.at = nil, 0
	}
}
