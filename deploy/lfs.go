package deploy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/gitattributes"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Git LFS keeps a large file's content out of git: the commit holds a
// pointer (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md) and
// the content sits in the local object store, where `git lfs pull` put it.
// A site wants the content, so a path whose gitattributes say filter=lfs
// and whose blob is a pointer is deployed from that store.

// lfsPointerMax is the spec's limit: "Pointer files must be less than
// 1024 bytes in size".
const lfsPointerMax = 1024

// lfsSpec is the version line of every pointer git-lfs writes; the spec
// also accepts the pre-release URL, which git-lfs still reads.
var lfsSpecs = []string{"https://git-lfs.github.com/spec/v1", "https://hawser.github.com/spec/v1"}

// lfsObject is the content an LFS pointer names.
type lfsObject struct {
	OID  string // sha256, 64 lowercase hex digits
	Size int64
	File string // where the local store keeps it
}

// parseLFSPointer parses a pointer file: "version URL", then "key value"
// lines sorted by key, among them "oid sha256:HEX" and "size N", each line
// ending in LF. Anything else is not a pointer, and is deployed as it is,
// as git-lfs's smudge filter passes it through.
func parseLFSPointer(data []byte) (oid string, size int64, ok bool) {
	if len(data) >= lfsPointerMax || !bytes.HasSuffix(data, []byte("\n")) {
		return "", 0, false
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	version, found := strings.CutPrefix(lines[0], "version ")
	if !found || !contains(lfsSpecs, version) {
		return "", 0, false
	}
	prev := ""
	haveSize := false
	for _, l := range lines[1:] {
		k, v, found := strings.Cut(l, " ")
		if !found || k <= prev || k == "version" {
			return "", 0, false
		}
		prev = k
		switch k {
		case "oid":
			hexOID, found := strings.CutPrefix(v, "sha256:")
			if !found || len(hexOID) != 64 || strings.ToLower(hexOID) != hexOID {
				return "", 0, false
			}
			if _, err := hex.DecodeString(hexOID); err != nil {
				return "", 0, false
			}
			oid = hexOID
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return "", 0, false
			}
			size, haveSize = n, true
		}
	}
	return oid, size, oid != "" && haveSize
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lfsStore returns the directory of the repository's LFS objects:
// lfs.storage when set (relative to the git directory, as git-lfs reads it),
// else lfs/ in the git directory; a linked work tree shares its main
// repository's store (r.dotgit is the common directory).
func (r *Repo) lfsStore() string {
	gitdir := r.dotgit
	if gitdir == "" {
		return ""
	}
	storage := "lfs"
	if cfg, err := r.git.Config(); err == nil {
		if s := cfg.Raw.Section("lfs").Option("storage"); s != "" {
			storage = s
		}
	}
	if !filepath.IsAbs(storage) {
		storage = filepath.Join(gitdir, storage)
	}
	return filepath.Join(storage, "objects")
}

// lfsAttributes answers "does filter=lfs apply to this path" from the
// .gitattributes files of one commit. Only the directories that hold
// uploads are read, so a push of a few files in a big tree reads a few.
type lfsAttributes struct {
	tree  *object.Tree
	repo  *Repo
	stack []gitattributes.MatchAttribute // shallow first, so later wins
	read  map[string]bool                // directories whose file was read
	any   bool                           // some line sets a filter
}

func newLFSAttributes(repo *Repo, tree *object.Tree) *lfsAttributes {
	return &lfsAttributes{tree: tree, repo: repo, read: map[string]bool{}}
}

// load reads the .gitattributes of dir and of every directory above it.
func (l *lfsAttributes) load(dir string) {
	var chain []string
	for d := dir; ; d = dirOf(d) {
		if l.read[d] {
			break
		}
		l.read[d] = true
		chain = append(chain, d)
		if d == "" {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- { // shallow first
		d := chain[i]
		name := ".gitattributes"
		var domain []string
		if d != "" {
			name = d + "/.gitattributes"
			domain = strings.Split(d, "/")
		}
		e, err := l.tree.FindEntry(name)
		if err != nil || !e.Mode.IsFile() {
			continue
		}
		data, err := l.repo.readBlob(e.Hash)
		if err != nil {
			continue
		}
		l.parse(data, domain)
	}
}

// parse adds one file's lines. Only lines that mention a filter matter.
// Patterns ending in "/" never match a file in git (gitattributes(5)), and
// go-git's matcher panics on them (STYLE.md), so they are dropped.
func (l *lfsAttributes) parse(data []byte, domain []string) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || !strings.Contains(line, "filter") {
			continue
		}
		fields := strings.Fields(line)
		if strings.HasSuffix(fields[0], "/") || strings.HasPrefix(fields[0], "[attr]") {
			continue
		}
		m, err := gitattributes.ParseAttributesLine(line, domain, false)
		if err != nil || m.Pattern == nil {
			continue
		}
		l.stack = append(l.stack, m)
		l.any = true
	}
}

// isLFS reports whether the last line matching repoPath that says anything
// about filter sets it to lfs.
func (l *lfsAttributes) isLFS(repoPath string) (lfs bool) {
	l.load(dirOf(repoPath))
	if !l.any {
		return false
	}
	defer func() {
		if recover() != nil { // go-git's matcher on a pattern it mishandles
			lfs = false
		}
	}()
	parts := strings.Split(repoPath, "/")
	for i := len(l.stack) - 1; i >= 0; i-- {
		if !l.stack[i].Pattern.Match(parts) {
			continue
		}
		for _, a := range l.stack[i].Attributes {
			if a.Name() == "filter" {
				return a.IsValueSet() && a.Value() == "lfs"
			}
		}
	}
	return false
}

// LFSMissingError says LFS objects that the deploy needs are not in the
// local store: the clone did not fetch them (CI checkouts often skip LFS).
type LFSMissingError struct {
	Paths []string // repository paths
	Store string
}

func (e *LFSMissingError) Error() string {
	list, more := e.Paths, ""
	if len(list) > 10 {
		list, more = list[:10], fmt.Sprintf(" and %d more", len(e.Paths)-10)
	}
	return fmt.Sprintf("missing Git LFS content for %s%s (the commit holds only a pointer, and the local store %s lacks the object)",
		strings.Join(list, ", "), more, e.Store)
}

// Hint tells how to fetch the content.
func (e *LFSMissingError) Hint() string {
	return "run 'git lfs pull' to fetch it (in GitHub Actions, actions/checkout with lfs: true), or list the files in .git-ftp-ignore; nothing was uploaded"
}

// lfsResolve turns the uploads whose path has filter=lfs and whose blob is
// a pointer into uploads of the LFS object, sized as the object. It fails,
// before anything is uploaded, when an object is missing or has another
// size than its pointer says.
func (b *builder) lfsResolve(toTree *object.Tree, sizes map[plumbing.Hash]int64) error {
	attrs := newLFSAttributes(b.repo, toTree)
	store := ""
	var missing []string
	for rp, a := range b.uploads {
		if a.blob.IsZero() || a.repo != nil || sizes[a.blob] >= lfsPointerMax {
			continue
		}
		repoPath := rp
		if b.syncroot != "" {
			repoPath = b.syncroot + "/" + rp
		}
		if !attrs.isLFS(repoPath) {
			continue
		}
		data, err := b.repo.readBlob(a.blob)
		if err != nil {
			return err
		}
		oid, size, ok := parseLFSPointer(data)
		if !ok {
			continue // not a pointer: committed before LFS tracked it
		}
		if store == "" {
			if store = b.repo.lfsStore(); store == "" {
				return &LocalError{Err: fmt.Errorf("%s: cannot find the git directory to read Git LFS objects from", repoPath)}
			}
		}
		file := filepath.Join(store, oid[0:2], oid[2:4], oid)
		fi, err := os.Stat(file)
		switch {
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, repoPath)
			continue
		case err != nil:
			return &LocalError{Err: err}
		case fi.Size() != size:
			return &LocalError{Err: fmt.Errorf("%s: Git LFS object %s has %d bytes, its pointer says %d (a damaged store: remove the object and run 'git lfs pull')", repoPath, path.Base(file), fi.Size(), size)}
		}
		a.lfs = &lfsObject{OID: oid, Size: size, File: file}
		a.Reason += " (Git LFS)"
		b.uploads[rp] = a
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return &LFSMissingError{Paths: missing, Store: store}
	}
	return nil
}

// openLFS streams an LFS object and checks, at its end, that it has the
// pointer's size and sha256: a damaged store fails the upload (its
// temporary file is never renamed into place) instead of deploying junk.
func (o *lfsObject) open() (io.ReadCloser, error) {
	f, err := os.Open(o.File)
	if err != nil {
		return nil, &LocalError{Err: err}
	}
	return &lfsReader{f: f, o: o, h: sha256.New()}, nil
}

type lfsReader struct {
	f *os.File
	o *lfsObject
	h hash.Hash
	n int64

	checked bool
}

func (r *lfsReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	// Checked when the pointer's size is reached, not only at EOF: a
	// transport that knows the size may stop reading there.
	switch {
	case r.n > r.o.Size:
		return n, r.damaged(fmt.Sprintf("it has more than the %d bytes its pointer says", r.o.Size))
	case r.n == r.o.Size && !r.checked:
		r.checked = true
		if got := hex.EncodeToString(r.h.Sum(nil)); got != r.o.OID {
			return n, r.damaged("its content hashes to sha256:" + got)
		}
	case err == io.EOF && r.n < r.o.Size:
		return n, r.damaged(fmt.Sprintf("it has %d bytes, its pointer says %d", r.n, r.o.Size))
	}
	return n, err
}

func (r *lfsReader) damaged(why string) error {
	return &LocalError{Err: fmt.Errorf("the Git LFS object %s: %s (a damaged store: remove the object and run 'git lfs pull')", r.o.File, why)}
}

func (r *lfsReader) Close() error { return r.f.Close() }
