package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

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

// DownloadError is a failure to read from the remote (exit code 5).
type DownloadError struct{ Err error }

func (e *DownloadError) Error() string { return e.Err.Error() }
func (e *DownloadError) Unwrap() error { return e.Err }
