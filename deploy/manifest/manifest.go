// Package manifest is the content manifest gftp keeps on the server for the
// files that do not come from a commit (.git-ftp-include targets, a
// gitignored syncroot, gftp sync): which files gftp uploaded there, with
// their sizes and SHA-256 digests. With it a deploy sends only the files
// whose content changed, and deletes the ones it uploaded earlier that are
// gone locally, never a file that it did not upload.
//
// # Format
//
// The manifest is a text file, Name (".gftp-manifest") at the target root,
// beside git-ftp's marker. It is written and read as a stream, one line at a
// time, every line ending in "\n":
//
//	gftp-manifest 1
//	<sha256, 64 lowercase hex> <size, decimal> <path>
//	...
//	end <number of entries> <sha256 hex of every entry line, newlines included>
//
// Entries are sorted by path (byte order) and a path appears once. A path is
// relative to the target root, slash-separated, and written as it is unless
// it needs quoting: when it starts with '"' or a space, ends with a space, is
// not valid UTF-8 or holds a character that is not printable (a newline, a
// tab, a control or format character), it is written with strconv.Quote,
// which keeps every byte (invalid UTF-8 as \x escapes). Any name a server
// can hold therefore round-trips byte for byte. Example:
//
//	gftp-manifest 1
//	9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 4 css/main.3f2a.css
//	e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 "new\nline"
//	end 2 5c1e...
//
// The trailer's count and checksum make a truncated or damaged file an
// error (ErrCorrupt) rather than a shorter list, since a shorter list would
// read as files gone locally.
//
// # Untrusted input
//
// What is on the server may have been written by anyone. Parse refuses an
// entry whose path is empty, absolute, holds a NUL or a "." or ".." element,
// or names a file gftp keeps for itself (the marker, the lock, the journal,
// the manifest, temporary files), with a Warning. A manifest with warnings,
// or one that did not parse, is not Trusted: a caller must then delete
// nothing on its account.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gftp/gftp/remote"
)

// Name is the manifest's file name, at the target root.
const Name = ".gftp-manifest"

// header is the first line; its number is the format's version.
const header = "gftp-manifest 1"

// maxLine bounds one line, so that a hostile file cannot make Parse hold
// an unbounded line: a path quoted at its worst (\x escapes) is four times
// its length, and servers refuse paths long before 64 KiB.
const maxLine = 64 + 1 + 20 + 1 + 4*64*1024 + 1

// RebuildHint tells how to get a trusted manifest back.
const RebuildHint = "run gftp sync --rebuild-manifest to rebuild it from the server; until then no file is deleted on its account"

// ErrCorrupt is wrapped by the error for a manifest that is truncated,
// damaged or of an unknown version.
var ErrCorrupt = errors.New("corrupt manifest")

// CorruptError says where a manifest stopped making sense.
type CorruptError struct {
	Line   int // 1-based; 0 when the file ended early
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: %v: line %d: %s", Name, ErrCorrupt, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %v: %s", Name, ErrCorrupt, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Hint says that nothing is deleted and how to rebuild.
func (e *CorruptError) Hint() string { return RebuildHint }

// Entry is one file gftp uploaded.
type Entry struct {
	Path   string // relative to the target root, slash-separated
	Size   int64
	SHA256 [32]byte
}

// Same reports whether e and o describe the same content.
func (e Entry) Same(o Entry) bool { return e.Size == o.Size && e.SHA256 == o.SHA256 }

// Warning is an entry Parse refused.
type Warning struct {
	Line   int
	Path   string // as read (it may not be printable: quote it)
	Reason string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: refused %s: %s", Name, w.Line, strconv.Quote(w.Path), w.Reason)
}

// Manifest is a set of entries by path. The zero value is not usable; New
// makes one.
type Manifest struct {
	entries   map[string]Entry
	untrusted bool
}

// New returns a trusted manifest holding entries (a later entry for a path
// replaces an earlier one).
func New(entries ...Entry) *Manifest {
	m := &Manifest{entries: make(map[string]Entry, len(entries))}
	for _, e := range entries {
		m.entries[e.Path] = e
	}
	return m
}

// Trusted reports whether the manifest can justify deletes: false when it
// came from a file that had refused entries or did not parse.
func (m *Manifest) Trusted() bool { return !m.untrusted }

// Len is the number of entries.
func (m *Manifest) Len() int { return len(m.entries) }

// Get returns the entry for path.
func (m *Manifest) Get(path string) (Entry, bool) {
	e, ok := m.entries[path]
	return e, ok
}

// Set adds or replaces the entry for e.Path.
func (m *Manifest) Set(e Entry) { m.entries[e.Path] = e }

// Delete removes the entry for path.
func (m *Manifest) Delete(path string) { delete(m.entries, path) }

// Entries returns the entries sorted by path.
func (m *Manifest) Entries() []Entry {
	out := make([]Entry, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Equal reports whether m and o hold the same entries.
func (m *Manifest) Equal(o *Manifest) bool {
	if m.Len() != o.Len() {
		return false
	}
	for p, e := range m.entries {
		if f, ok := o.entries[p]; !ok || f != e {
			return false
		}
	}
	return true
}

// Encode writes the manifest in the format of the package comment.
func (m *Manifest) Encode(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(header + "\n")
	sum := sha256.New()
	out := io.MultiWriter(bw, sum)
	var line []byte
	entries := m.Entries()
	for _, e := range entries {
		line = appendEntry(line[:0], e)
		if _, err := out.Write(line); err != nil {
			return err
		}
	}
	fmt.Fprintf(bw, "end %d %x\n", len(entries), sum.Sum(nil))
	return bw.Flush()
}

// Bytes returns the encoded manifest.
func (m *Manifest) Bytes() []byte {
	var b bytes.Buffer
	_ = m.Encode(&b)
	return b.Bytes()
}

func appendEntry(b []byte, e Entry) []byte {
	b = hex.AppendEncode(b, e.SHA256[:])
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.Size, 10)
	b = append(b, ' ')
	if needsQuote(e.Path) {
		b = strconv.AppendQuote(b, e.Path)
	} else {
		b = append(b, e.Path...)
	}
	return append(b, '\n')
}

// needsQuote reports whether a path cannot be written as it is: it would
// read as quoted, lose a space to a tool that trims, or break the line.
func needsQuote(p string) bool {
	if p == "" || p[0] == '"' || p[0] == ' ' || p[len(p)-1] == ' ' || !utf8.ValidString(p) {
		return true
	}
	for _, r := range p {
		if !strconv.IsPrint(r) {
			return true
		}
	}
	return false
}

// Parse reads a manifest. It always returns a manifest: on an error (which
// wraps ErrCorrupt when the content is at fault) an empty one that is not
// trusted. Refused entries are left out and reported as warnings; they make
// the manifest untrusted too.
func Parse(r io.Reader) (*Manifest, []Warning, error) {
	m := New()
	var warns []Warning
	fail := func(line int, format string, args ...any) (*Manifest, []Warning, error) {
		return &Manifest{entries: map[string]Entry{}, untrusted: true}, warns, &CorruptError{Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	br := bufio.NewReaderSize(r, 64*1024)
	sum := sha256.New()
	n, count := 0, 0
	prev := ""
	var buf []byte
	for {
		line, err := readLine(br, buf[:0])
		buf = line
		n++
		switch {
		case errors.Is(err, io.EOF) && len(line) == 0 && n == 1:
			return fail(0, "empty file")
		case errors.Is(err, io.EOF) && len(line) == 0:
			return fail(0, "truncated after line %d (no end line)", n-1)
		case errors.Is(err, io.EOF):
			return fail(n, "truncated (no newline at the end)")
		case errors.Is(err, bufio.ErrBufferFull):
			return fail(n, "line longer than %d bytes", maxLine)
		case err != nil:
			return &Manifest{entries: map[string]Entry{}, untrusted: true}, warns, fmt.Errorf("read %s: %w", Name, err)
		}
		text := line[:len(line)-1] // without the newline
		if n == 1 {
			if string(text) != header {
				if strings.HasPrefix(string(text), "gftp-manifest ") {
					return fail(1, "unknown version %q (a newer gftp wrote it?)", text)
				}
				return fail(1, "not a gftp manifest")
			}
			continue
		}
		if rest, ok := bytes.CutPrefix(text, []byte("end ")); ok {
			c, s, ok := strings.Cut(string(rest), " ")
			want := hex.EncodeToString(sum.Sum(nil))
			if !ok || c != strconv.Itoa(count) {
				return fail(n, "end line says %q entries, the file has %d", c, count)
			}
			if s != want {
				return fail(n, "checksum mismatch: the entries were changed or damaged")
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				if err != nil {
					return &Manifest{entries: map[string]Entry{}, untrusted: true}, warns, fmt.Errorf("read %s: %w", Name, err)
				}
				return fail(n+1, "data after the end line")
			}
			if len(warns) > 0 {
				m.untrusted = true
			}
			return m, warns, nil
		}
		sum.Write(line)
		count++
		e, err := parseEntry(text)
		if err != nil {
			return fail(n, "%v", err)
		}
		if e.Path <= prev && count > 1 {
			return fail(n, "entries out of order or repeated")
		}
		prev = e.Path
		if why := refuse(e.Path); why != "" {
			warns = append(warns, Warning{Line: n, Path: e.Path, Reason: why})
			continue
		}
		m.entries[e.Path] = e
	}
}

// readLine reads through the next newline, at most maxLine bytes.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxLine {
			return buf, bufio.ErrBufferFull
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return buf, err
	}
}

func parseEntry(text []byte) (Entry, error) {
	var e Entry
	hexSum, rest, ok := bytes.Cut(text, []byte(" "))
	if !ok || len(hexSum) != 64 {
		return e, errors.New("no SHA-256")
	}
	if _, err := hex.Decode(e.SHA256[:], hexSum); err != nil || !bytes.Equal(bytes.ToLower(hexSum), hexSum) {
		return e, errors.New("SHA-256 is not lowercase hex")
	}
	size, p, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return e, errors.New("no path")
	}
	n, err := strconv.ParseInt(string(size), 10, 64)
	if err != nil || n < 0 || len(size) == 0 || size[0] < '0' || size[0] > '9' {
		return e, fmt.Errorf("size %q is not a count of bytes", size)
	}
	e.Size = n
	e.Path = string(p)
	if len(p) > 0 && p[0] == '"' {
		if e.Path, err = strconv.Unquote(string(p)); err != nil {
			return e, errors.New("path is badly quoted")
		}
	}
	return e, nil
}

// reserved are gftp's own files at the target root, which no entry may
// name: deleting or replacing them would lose the deploy's state.
var reserved = map[string]bool{
	Name:            true,
	".git-ftp.log":  true, // deploy.DefaultMarker
	".gftp.journal": true, // deploy.JournalName
	".gftp.lock":    true, // deploy.LockName
}

// refuse says why a path from the server cannot be an entry ("" when it can).
func refuse(p string) string {
	if p == "" {
		return "empty path"
	}
	if err := remote.CheckName(p); err != nil {
		return err.Error()
	}
	if strings.HasSuffix(p, "/") {
		return "names a directory"
	}
	top, _, _ := strings.Cut(p, "/")
	if reserved[top] {
		return "names a file gftp keeps for itself"
	}
	if remote.IsTemp(path.Base(p)) {
		return "names a temporary file"
	}
	return ""
}

// Check returns why path cannot be an entry, or nil. A caller building a
// manifest from local files uses it to keep out what Parse would refuse.
func Check(path string) error {
	if why := refuse(path); why != "" {
		return errors.New(why)
	}
	return nil
}

// Read fetches and parses the manifest called name (Name, unless the
// caller keeps it elsewhere). A missing manifest is an empty, trusted one:
// nothing was uploaded yet. A failure to download is returned as it is;
// a corrupt file gives an empty, untrusted manifest and an error wrapping
// ErrCorrupt.
func Read(ctx context.Context, r remote.Remote, name string) (*Manifest, []Warning, error) {
	rc, err := r.Open(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	return Parse(rc)
}

// Write uploads m to name through a temporary name and a rename, so that a
// reader sees the old manifest or the new one, never a part.
func Write(ctx context.Context, r remote.Remote, name string, m *Manifest) error {
	data := m.Bytes()
	return remote.PutAtomic(ctx, r, name, bytes.NewReader(data), int64(len(data)))
}

// HashFile reads file (following symbolic links) as a stream and returns its
// size and SHA-256; the Entry's Path is left for the caller, who knows the
// remote name. ctx cancels a long read.
func HashFile(ctx context.Context, file string) (Entry, error) {
	f, err := os.Open(file)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, ctxReader{ctx, f}, make([]byte, 128*1024))
	if err != nil {
		return Entry{}, &fs.PathError{Op: "read", Path: file, Err: err}
	}
	var e Entry
	e.Size = n
	h.Sum(e.SHA256[:0])
	return e, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Diff compares what the server holds (old) with what is there locally
// (local): upload has the local entries that are new or whose size or
// digest differ, del the old entries that local lacks. del is empty when
// old is not trusted. Both are sorted by path.
func Diff(old, local *Manifest) (upload, del []Entry) {
	for _, e := range local.Entries() {
		if o, ok := old.Get(e.Path); !ok || !o.Same(e) {
			upload = append(upload, e)
		}
	}
	if !old.Trusted() {
		return upload, nil
	}
	for _, e := range old.Entries() {
		if _, ok := local.Get(e.Path); !ok {
			del = append(del, e)
		}
	}
	return upload, del
}
