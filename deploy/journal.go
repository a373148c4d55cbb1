package deploy

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
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
	Run      string            `json:"run,omitempty"` // the run that wrote it (its temporary files carry it)
	Uploaded map[string]string `json:"uploaded"`      // path -> blob SHA, or sha256:<hex> of a local file

	written time.Time // the journal's time on the server, when read
}

// readJournal reads the journal an earlier run left, and says whether
// there was one: then that run failed, and may have left temporary files.
// j.written is when the server says the journal was written, zero when it
// does not say.
func readJournal(ctx context.Context, r remote.Remote) (journal, bool) {
	j := journal{Uploaded: map[string]string{}}
	rc, err := r.Open(ctx, JournalName)
	if err != nil {
		return j, false
	}
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	// Closed before the Stat below: a download holds its connection, and
	// with --jobs 1 the Stat would wait for it for ever.
	rc.Close()
	if err != nil || json.Unmarshal(data, &j) != nil || j.Uploaded == nil {
		return journal{Uploaded: map[string]string{}}, true
	}
	if fi, err := r.Stat(ctx, JournalName); err == nil {
		j.written = fi.ModTime
	}
	return j, true
}

// journalWriter writes the journal while the uploads run, at most every
// so often and one write at a time, beside them, so that a run killed
// outright (kill -9, an OOM killer, a CI runner's SIGKILL) leaves a journal
// of all but its last moments; and once more at the end of a failed run.
type journalWriter struct {
	r     remote.Remote
	every time.Duration
	mu    *sync.Mutex // guards j, shared with the executor
	j     *journal
	log   *slog.Logger

	wmu      sync.Mutex // one write at a time, in order
	last     time.Time  // when the last write started (guarded by mu)
	inflight sync.WaitGroup
	wrote    bool // a write succeeded (guarded by wmu)
}

// maybe starts a write in the background when the last one is older than
// every and none is running.
func (w *journalWriter) maybe() {
	w.mu.Lock()
	if time.Since(w.last) < w.every || !w.wmu.TryLock() {
		w.mu.Unlock()
		return
	}
	w.last = time.Now()
	data, err := json.Marshal(w.j)
	w.mu.Unlock()
	if err != nil {
		w.wmu.Unlock()
		return
	}
	w.inflight.Add(1)
	go func() {
		defer w.inflight.Done()
		defer w.wmu.Unlock()
		w.put(data)
	}()
}

// wait waits for a write in flight.
func (w *journalWriter) wait() { w.inflight.Wait() }

// written reports whether a journal was written, once no write is in
// flight.
func (w *journalWriter) written() bool {
	w.wait()
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.wrote
}

// final writes the journal as it stands, after any write in flight, on a
// fresh context, so that an interrupted run still leaves it.
func (w *journalWriter) final() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	data, err := json.Marshal(w.j)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.put(data)
}

func (w *journalWriter) put(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := remote.PutAtomic(ctx, w.r, JournalName, bytes.NewReader(data), int64(len(data)))
	if err == nil {
		w.wrote = true
		w.log.Debug("journal written", "name", JournalName, "bytes", len(data))
	}
	return err
}

// RemoveJournal removes the journal, if any: the deployed commit is in
// place, and nothing is left to resume.
func RemoveJournal(ctx context.Context, r remote.Remote) error { return removeJournal(ctx, r) }

func removeJournal(ctx context.Context, r remote.Remote) error {
	err := r.Remove(ctx, JournalName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// resumable reports whether upload a already arrived intact in an earlier
// run, and how that was checked:
//
//   - the journal (read under the caller's lock) recorded the same blob at
//     that path;
//   - the server's file has the blob's size;
//   - the server's clock says the file was not changed after the journal
//     was written (to the second: a change within the same second as the
//     failed run's end goes unseen without a digest);
//   - and where the server can digest a file (remote.Hasher), its digest
//     is the blob's.
//
// Any doubt, a failed digest included, says no: the file is uploaded again.
func resumable(ctx context.Context, r remote.Remote, repo *Repo, a Action, recorded string, written time.Time) (bool, string) {
	if key := a.journalKey(); key == "" || recorded != key {
		return false, ""
	}
	fi, err := r.Stat(ctx, a.Path)
	if err != nil || fi.IsDir || fi.Size != a.Size {
		return false, ""
	}
	if !written.IsZero() && !fi.ModTime.IsZero() &&
		fi.ModTime.Truncate(time.Second).After(written.Truncate(time.Second)) {
		return false, "changed on the server after the earlier run"
	}
	how := "size and time"
	if h, ok := remote.As[remote.Hasher](r); ok {
		d, err := h.Hash(ctx, a.Path)
		switch {
		case err == nil:
			same, err := sameDigest(repo, a, d)
			if err != nil || !same {
				return false, "its digest differs"
			}
			how = "size and " + d.Algo
		case !errors.Is(err, errors.ErrUnsupported):
			return false, ""
		}
	}
	return true, how
}

// sameDigest reports whether a's content has the digest d.
func sameDigest(repo *Repo, a Action, d remote.Digest) (bool, error) {
	h := d.NewHash()
	if h == nil {
		return false, fmt.Errorf("unknown digest %q", d.Algo)
	}
	rc, err := a.open(repo)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if _, err := io.Copy(h, rc); err != nil {
		return false, err
	}
	return bytes.Equal(h.Sum(nil), d.Sum), nil
}

func (j journal) record(a Action) {
	if key := a.journalKey(); key != "" {
		j.Uploaded[a.Path] = key
	}
}

// journalKey is what the journal records for an upload: its blob's SHA-1,
// or "sha256:" and the digest of a hashed local file; "" for a file whose
// content is not pinned (it could change between two runs).
func (a Action) journalKey() string {
	switch {
	case !a.blob.IsZero():
		return a.blob.String()
	case a.sum != nil:
		return "sha256:" + hex.EncodeToString(a.sum[:])
	}
	return ""
}

func (j journal) forget(path string) { delete(j.Uploaded, path) }

// JournalRead is the journal of an earlier run, read in the background
// while the caller does other work under the lock, such as reading the
// marker and planning: at 50 ms RTT the journal's round trip then costs a
// push nothing. Pass it to the Executor.
type JournalRead struct {
	done  chan struct{}
	j     journal
	found bool
}

// StartJournalRead starts reading the journal. The caller must hold the
// lock: the journal says what an earlier run delivered, and only the
// lock's holder may trust it until its own run begins.
func StartJournalRead(ctx context.Context, r remote.Remote) *JournalRead {
	jr := &JournalRead{done: make(chan struct{})}
	go func() {
		defer close(jr.done)
		jr.j, jr.found = readJournal(ctx, r)
	}()
	return jr
}

// wait returns what readJournal returned.
func (jr *JournalRead) wait() (journal, bool) {
	<-jr.done
	return jr.j, jr.found
}
