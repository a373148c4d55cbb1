package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/local"
	"github.com/gftp/gftp/remote/remotetest"
)

func TestConformance(t *testing.T) {
	var root string
	remotetest.Run(t, remotetest.Config{
		Hashes: true,
		New: func(t *testing.T) remote.Remote {
			root = t.TempDir()
			r, err := local.New(root)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		ReadBacking: func(t *testing.T, name string) ([]byte, error) {
			return os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		},
	})
}
