package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/gftp/gftp/remote"
)

// JournalName is the file, in the remote root, where a failed or
// interrupted deploy records the files it did upload, so that the next run
// can skip them; its presence also tells the next run to sweep temporary
// files the failed one may have left. A successful deploy removes it.
const JournalName = ".gftp.journal"

// journal maps remote paths to the blob each one received. An entry is
// written only after the server acknowledged the upload and the rename, so
// the file arrived intact; the next run still checks its size, in case
// someone changed it since.
type journal struct {
	Target   string            `json:"target"`
	Uploaded map[string]string `json:"uploaded"` // path -> blob SHA
}

// readJournal reads the journal an earlier run left, and says whether
// there was one: then that run failed, and may have left temporary files.
func readJournal(ctx context.Context, r remote.Remote) (journal, bool) {
	j := journal{Uploaded: map[string]string{}}
	rc, err := r.Open(ctx, JournalName)
	if err != nil {
		return j, false
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil || json.Unmarshal(data, &j) != nil || j.Uploaded == nil {
		return journal{Uploaded: map[string]string{}}, true
	}
	return j, true
}

// writeJournal records j on a fresh context, so that an interrupted run
// still leaves it.
func writeJournal(r remote.Remote, j journal) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return remote.PutAtomic(ctx, r, JournalName, bytes.NewReader(data), int64(len(data)))
}

func removeJournal(ctx context.Context, r remote.Remote) error {
	err := r.Remove(ctx, JournalName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// resumable reports whether upload a already arrived intact in an earlier
// run: the journal recorded the same blob at that path (recorded, read
// under the caller's lock), and the server's file has its size.
func resumable(ctx context.Context, r remote.Remote, a Action, recorded string) bool {
	if a.blob.IsZero() || recorded != a.blob.String() {
		return false
	}
	fi, err := r.Stat(ctx, a.Path)
	return err == nil && !fi.IsDir && fi.Size == a.Size
}

func (j journal) record(a Action) {
	if !a.blob.IsZero() {
		j.Uploaded[a.Path] = a.blob.String()
	}
}

func (j journal) forget(path string) { delete(j.Uploaded, path) }
