package ftp

import (
	"context"
	"net/url"
	"time"

	"github.com/gftp/gftp/internal/ftpconn"
	"github.com/gftp/gftp/remote"
)

// SetIdleCheck changes how long a pooled connection may idle before it is
// checked with NOOP, and returns a function that restores it.
func SetIdleCheck(d time.Duration) func() {
	old := idleCheck
	idleCheck = d
	return func() { idleCheck = old }
}

// NewWatched is New, with onConn called for every control connection the
// Remote makes (TestOneReaderPerConnection).
func NewWatched(ctx context.Context, u *url.URL, opts remote.Options, onConn func(*ftpconn.Conn)) (*Remote, error) {
	return newRemote(ctx, u, opts, onConn)
}
