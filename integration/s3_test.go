package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/remotetest"
	_ "github.com/gftp/gftp/remote/s3"
)

func init() {
	// The credential chain must never probe the instance metadata service
	// from a test, nor read the developer's own AWS files.
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// s3Options are the options a test uses to reach srv. They always name the
// loopback endpoint, so that no request can reach AWS.
func s3Options(srv *servers.Server, log *slog.Logger) remote.Options {
	return remote.Options{
		User:        srv.User,
		Password:    srv.Password,
		S3Endpoint:  "http://" + srv.Addr,
		S3PathStyle: true,
		S3Region:    servers.S3Region,
		Jobs:        4,
		Logger:      log,
	}
}

func openS3(t *testing.T, rawURL string, opts remote.Options) (remote.Remote, error) {
	t.Helper()
	u, err := remote.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Open(context.Background(), u, opts)
}

func TestS3Conformance(t *testing.T) {
	srv := servers.StartS3(t)
	var n int
	var prefix string
	remotetest.Run(t, remotetest.Config{
		New: func(t *testing.T) remote.Remote {
			// Each subtest gets a fresh prefix in the one bucket.
			n++
			prefix = fmt.Sprintf("run%d/site", n)
			r, err := openS3(t, srv.URL+prefix, s3Options(srv, nil))
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		ReadBacking: func(t *testing.T, name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(srv.Root, filepath.FromSlash(prefix), filepath.FromSlash(name)))
		},
		NoDirs: true,
	})
}
