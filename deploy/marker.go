package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gftp/gftp/remote"
)

// DefaultMarker is the file, in the remote root, that holds the deployed
// commit. git-ftp's name, so that either tool can continue the other's work.
const DefaultMarker = ".git-ftp.log"

// MarkerError says the marker holds something that is not a commit SHA.
type MarkerError struct {
	Name    string
	Content string
}

func (e *MarkerError) Error() string {
	c := e.Content
	if len(c) > 60 {
		c = c[:60] + "..."
	}
	return fmt.Sprintf("marker %s holds %q, not a commit SHA", e.Name, c)
}

// Hint gives the ways out, git-ftp's among them.
func (e *MarkerError) Hint() string {
	return "if you know which commit the server holds, push -c SHA diffs from it; push -a (or -f) uploads every file and rewrites " + e.Name + "; catchup records HEAD without uploading"
}

// ParseMarker reads the marker's content: a 40-hex SHA
// with surrounding whitespace trimmed.
func ParseMarker(name string, data []byte) (plumbing.Hash, error) {
	s := strings.TrimSpace(string(data))
	if len(s) != 40 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
		return plumbing.ZeroHash, &MarkerError{Name: name, Content: s}
	}
	return plumbing.NewHash(strings.ToLower(s)), nil
}

// ErrNoMarker means the remote has no marker: nothing was deployed there.
var ErrNoMarker = errors.New("no deployed commit on the remote")

// ReadMarker returns the deployed commit. A missing marker gives an error
// wrapping ErrNoMarker.
func ReadMarker(ctx context.Context, r remote.Remote, name string) (plumbing.Hash, error) {
	rc, err := r.Open(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, fmt.Errorf("read marker %s: %w", name, ErrNoMarker)
	}
	if err != nil {
		return plumbing.ZeroHash, &DownloadError{Err: err}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return plumbing.ZeroHash, &DownloadError{Err: fmt.Errorf("read marker %s: %w", name, err)}
	}
	return ParseMarker(name, data)
}

// WriteMarker records h as deployed, through a temporary name and a rename,
// in the format git-ftp writes: the SHA and a newline.
func WriteMarker(ctx context.Context, r remote.Remote, name string, h plumbing.Hash) error {
	data := []byte(h.String() + "\n")
	return remote.PutAtomic(ctx, r, name, bytes.NewReader(data), int64(len(data)))
}

// stagedMarker is the new marker's content, uploaded to a temporary name
// while the deploy runs, so that moving the marker at the end is one rename
// instead of a whole upload. Until that rename it is only a temporary file,
// which a failed run removes (or the next run sweeps).
type stagedMarker struct {
	r    remote.Remote
	name string
	tmp  string
	done chan struct{}
	err  error
}

// stageMarker starts uploading h's marker to a temporary name, on
// transports where the final write would otherwise be one (not S3).
func stageMarker(ctx context.Context, r remote.Remote, name string, h plumbing.Hash) *stagedMarker {
	if a, ok := remote.As[remote.AtomicPutter](r); ok && a.PutIsAtomic() {
		return nil
	}
	m := &stagedMarker{r: r, name: name, tmp: remote.TempName(name), done: make(chan struct{})}
	data := []byte(h.String() + "\n")
	go func() {
		defer close(m.done)
		m.err = r.Put(ctx, m.tmp, bytes.NewReader(data), int64(len(data)))
		if m.err == nil {
			// A cut upload can pass for whole on some servers; this
			// check costs nothing, the deploy is still running.
			fi, err := r.Stat(ctx, m.tmp)
			if err == nil && fi.Size != int64(len(data)) {
				err = fmt.Errorf("staged marker %s has %d bytes, not %d", m.tmp, fi.Size, len(data))
			}
			m.err = err
		}
	}()
	return m
}

// commit renames the staged marker over the old one and, with l, releases
// the lock in the same round trip where the transport can (see
// Lock.moveAndRelease). tried is false when the staging had failed: the
// caller is to write the marker the usual way. Whatever happens, no
// temporary file is left.
func (m *stagedMarker) commit(ctx context.Context, l *Lock) (tried bool, err error) {
	<-m.done
	if m.err != nil {
		m.discard()
		return false, nil
	}
	handled := false
	if l != nil {
		handled, err = l.moveAndRelease(ctx, m.tmp, m.name)
		if handled && err != nil && !l.isReleased() {
			// The lock is still held (the connection was lost, say):
			// once more, as usual, with the transport's retries.
			handled = false
		}
	}
	if !handled {
		err = m.r.Rename(ctx, m.tmp, m.name)
	}
	if err != nil {
		m.discard()
		return true, err
	}
	return true, nil
}

// discard removes the staged marker, on a fresh context: the deploy did
// not reach the point of moving the marker.
func (m *stagedMarker) discard() {
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.r.Remove(ctx, m.tmp)
}

// DownloadError is a failure to read from the remote (exit code 5).
type DownloadError struct{ Err error }

func (e *DownloadError) Error() string { return e.Err.Error() }
func (e *DownloadError) Unwrap() error { return e.Err }
