// Package remote defines the one interface every deploy target speaks, its
// error contract, and Open, which picks a transport by URL scheme.
//
// Transports live in sub-packages (remote/ftp, remote/sftp, remote/s3,
// remote/local) and register themselves with Register from an init function,
// the way database/sql drivers do; the command imports them for effect.
package remote

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// Remote is a tree of files on a server, rooted at the directory the URL
// names. It is safe for concurrent use: transports that need one connection
// per transfer keep a pool.
//
// Names are slash-separated and relative to the root: "a/b.txt", never
// "/a/b.txt", and never with "." or ".." elements. "" names the root itself.
// Names may hold any byte but NUL and "/"; spaces, unicode, '#', '%', '?',
// '*', '[' and a leading '-' must round-trip byte for byte.
//
// Error contract: every error a method returns is a *fs.PathError whose Op is
// the operation ("put", "rename", ...) and whose Path is the name, wrapping
// one of these where it applies, so that callers can use errors.Is:
//
//   - fs.ErrNotExist: the name (or, for Put, its parent) does not exist.
//   - fs.ErrExist: Mkdir of a name that exists.
//   - fs.ErrPermission: the server refused for lack of permission.
//   - ErrStorageFull: the server is out of space or over quota.
//   - ErrAuth: the server rejected the credentials (from Open, usually).
//   - ErrTemporary: the failure is transient (dropped connection, 421, 426,
//     450, 451, timeouts); the same call may succeed if retried.
//
// TLS and host-key verification failures are returned wrapped, so that
// errors.As finds *tls.CertificateVerificationError or x509 error types.
// Cancelling ctx aborts the operation and any network I/O it is blocked in.
type Remote interface {
	// Stat describes name. A missing name gives fs.ErrNotExist.
	Stat(ctx context.Context, name string) (FileInfo, error)
	// Open streams the content of file name.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Put writes size bytes read from r to file name, replacing its content.
	// It is not atomic: a reader may see a partial file. Use PutAtomic.
	// The parent directory must exist. size is -1 when unknown.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Rename moves file from to to, replacing to when it exists. Transports
	// whose server cannot rename over a file remove to first.
	Rename(ctx context.Context, from, to string) error
	// Remove deletes file name.
	Remove(ctx context.Context, name string) error
	// Mkdir creates directory name, whose parent must exist. It fails with
	// fs.ErrExist when name exists, even where the protocol cannot say so
	// in its reply (the transport then checks with a Stat).
	Mkdir(ctx context.Context, name string) error
	// Rmdir removes directory name, which must be empty.
	Rmdir(ctx context.Context, name string) error
	// List returns the entries of directory name, without "." and "..",
	// sorted by name.
	List(ctx context.Context, name string) ([]FileInfo, error)
	// Close releases every connection. The Remote is unusable afterwards.
	Close() error
}

// FileInfo describes one entry of a remote tree.
type FileInfo struct {
	Name    string // base name (List) or the name asked for (Stat)
	Size    int64
	IsDir   bool
	ModTime time.Time // zero when the server does not say
}

// AtomicPutter is implemented by transports that replace a file in one
// step in a way of their own, cheaper than PutViaTemp's Put and Rename: an
// S3 PUT is atomic by itself, and FTP pipelines the upload of a temporary
// name with its rename.
type AtomicPutter interface {
	PutAtomic(ctx context.Context, name string, r io.Reader, size int64) error
	// PutIsAtomic reports whether a plain Put already replaces the file in
	// one step (S3): there PutAtomic is Put, and writing a temporary name
	// now to rename it later would only cost a copy.
	PutIsAtomic() bool
}

// Sentinel errors of the contract above, beside fs.ErrNotExist, fs.ErrExist
// and fs.ErrPermission.
var (
	ErrAuth        = errors.New("authentication failed")
	ErrStorageFull = errors.New("storage full")
	ErrTemporary   = errors.New("temporary failure")
	// ErrChanged: a conditional operation found the file changed since
	// it was read (VersionRemover).
	ErrChanged = errors.New("changed since it was read")
)

// TempPrefix starts the name of every temporary file gftp writes, so that a
// later run can find and remove what an interrupted one left behind.
const TempPrefix = ".gftp-tmp-"

// runID names this process's run. Its temporary files carry it, and so do
// its lock and its journal, so that the next run can tell which temporary
// files a dead run left.
var runID = func() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// RunID returns this process's run id (8 hex digits).
func RunID() string { return runID }

// IsTemp reports whether base is the name of a temporary file gftp wrote.
func IsTemp(base string) bool { return strings.HasPrefix(base, TempPrefix) }

// TempRun returns the run id in the name of a temporary file
// (.gftp-tmp-RUN-XXXXXXXX); "" for a name older versions wrote.
func TempRun(base string) string {
	rest, ok := strings.CutPrefix(base, TempPrefix)
	if !ok {
		return ""
	}
	run, _, ok := strings.Cut(rest, "-")
	if !ok || len(run) != len(runID) {
		return ""
	}
	return run
}

// TempName returns a fresh temporary name in the directory of name, which
// carries the run id. The name is short, so that it fits where the final
// name barely does.
func TempName(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return Join(path.Dir(name), TempPrefix+runID+"-"+hex.EncodeToString(b[:]))
}

// PutAtomic writes r to name so that a visitor sees either the old content
// or the new one, never a partial file: it writes a temporary name in the
// same directory and renames it over name. The temporary file is removed
// when anything fails.
func PutAtomic(ctx context.Context, r Remote, name string, src io.Reader, size int64) error {
	if a, ok := r.(AtomicPutter); ok {
		return a.PutAtomic(ctx, name, src, size)
	}
	return PutViaTemp(ctx, r, name, src, size)
}

// PutViaTemp is PutAtomic's way for transports that are not atomic by
// themselves: Put to a temporary name, then Rename over name. Decorators
// that implement AtomicPutter to pass the capability through call it.
func PutViaTemp(ctx context.Context, r Remote, name string, src io.Reader, size int64) error {
	tmp := TempName(name)
	if err := r.Put(ctx, tmp, src, size); err != nil {
		removeQuietly(r, tmp)
		return retarget(err, "put", name)
	}
	if err := r.Rename(ctx, tmp, name); err != nil {
		removeQuietly(r, tmp)
		return retarget(err, "rename", name)
	}
	return nil
}

// removeQuietly removes a temporary file on a fresh context, so that a
// cancelled deploy still cleans up; its error is of no use to anyone.
func removeQuietly(r Remote, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.Remove(ctx, name)
}

// retarget makes an error about a temporary file speak of the file the user
// asked for.
func retarget(err error, op, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Join joins remote names, treating "" as the root.
func Join(elem ...string) string {
	var parts []string
	for _, e := range elem {
		if e != "" && e != "." {
			parts = append(parts, e)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	p := path.Join(parts...)
	if p == "." {
		return ""
	}
	return p
}

// Dir is path.Dir with "" for the root.
func Dir(name string) string {
	d := path.Dir(name)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

// MkdirAll creates name and any missing parents. It asks for the leaf first
// and walks up only on failure, so an existing tree costs one round trip.
func MkdirAll(ctx context.Context, r Remote, name string) error {
	if name == "" {
		return nil
	}
	err := r.Mkdir(ctx, name)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		// Some servers say 550 for a missing parent: check before giving up.
		if fi, serr := r.Stat(ctx, name); serr == nil && fi.IsDir {
			return nil
		}
		if _, serr := r.Stat(ctx, Dir(name)); serr == nil || Dir(name) == "" {
			return err
		}
	}
	if err := MkdirAll(ctx, r, Dir(name)); err != nil {
		return err
	}
	if err := r.Mkdir(ctx, name); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// Options carries what a transport may need to connect. Each transport reads
// the fields that concern it and ignores the rest.
type Options struct {
	User     string
	Password string // never logged

	// Proxy is a SOCKS5 or HTTP CONNECT proxy URL that every connection
	// goes through (internal/proxy: curl's -x syntax); "" connects
	// directly. FTP refuses it with Active: the server could not connect
	// back through it.
	Proxy string // its password is never logged

	// TLS (ftpes, ftps; also the S3 endpoint).
	Insecure  bool     // skip certificate verification
	CACert    string   // PEM file of extra trusted CAs
	PinSHA256 []string // accepted leaf certificate fingerprints (hex)
	KeyLog    io.Writer

	// FTP.
	DisableEPSV bool
	Active      bool
	ActiveAddr  string
	ActivePorts string
	TrustPASVIP bool

	// SFTP.
	KeyFile          string
	KeyPassphrase    func() ([]byte, error)
	KnownHosts       string
	AcceptNewHostKey bool

	// S3.
	S3Endpoint   string
	S3Region     string
	S3Profile    string
	S3PathStyle  bool
	CacheControl string

	// Jobs caps the connections a transport opens at once (at least 1).
	// For SFTP it is the SFTP sessions (server processes) over the one
	// SSH connection, at most 8.
	Jobs int
	// InFlight is how many requests a transport that multiplexes them
	// (SFTP, S3) keeps in flight at once; 0 means its default
	// (DefaultInFlight). FTP ignores it: there one connection carries
	// one transfer, and Jobs counts both.
	InFlight int
	// Prewarm tells a transport with a connection pool (FTP) that the
	// caller will write in parallel soon: the other Jobs-1 connections
	// are opened while the first logs in, instead of on the first write.
	// They send no credentials before the first login has succeeded.
	Prewarm bool
	// Timeout is the idle deadline for every network read and write.
	Timeout time.Duration
	// Logger receives Info lines (-v) and the protocol dialogue at Debug
	// (-vv). Transports redact secrets before logging. Never nil after Open.
	Logger *slog.Logger
}

// DefaultInFlight is the default of Options.InFlight. 64 requests cover
// about 3 round trips per file (open, write and close, rename) at 50 ms for
// 2,000 small files in a few seconds, while each in-flight file holds only
// a transfer buffer (see BENCHMARKS.md for the measurements).
const DefaultInFlight = 64

// OpenFunc opens a transport for a parsed URL.
type OpenFunc func(ctx context.Context, u *url.URL, opts Options) (Remote, error)

var (
	mu         sync.RWMutex
	transports = map[string]OpenFunc{}
)

// Register makes a transport available for the given URL schemes.
func Register(fn OpenFunc, schemes ...string) {
	mu.Lock()
	defer mu.Unlock()
	for _, s := range schemes {
		transports[s] = fn
	}
}

// Schemes lists the registered URL schemes, sorted.
func Schemes() []string {
	mu.RLock()
	defer mu.RUnlock()
	var s []string
	for k := range transports {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// ErrScheme is returned by Open for a URL scheme no transport handles.
var ErrScheme = errors.New("unsupported URL scheme")

// Open connects to the target u names. u must already be parsed by ParseURL.
func Open(ctx context.Context, u *url.URL, opts Options) (Remote, error) {
	mu.RLock()
	fn := transports[u.Scheme]
	mu.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("%w %q (supported: %s)", ErrScheme, u.Scheme, strings.Join(Schemes(), ", "))
	}
	if opts.Jobs < 1 {
		opts.Jobs = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if host := invalidHost(u, opts); host != "" {
		return nil, &fs.PathError{Op: "connect", Path: host,
			Err: &net.DNSError{Err: "no such host (RFC 6761: .invalid names never resolve)", Name: host, IsNotFound: true}}
	}
	r, err := fn(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	return &checked{r}, nil
}

// invalidHost returns the host Open would dial when it is a name in the
// ".invalid" domain, which RFC 6761 (6.4) reserves to never resolve and
// asks resolvers to refuse at once: so no query leaves for it.
func invalidHost(u *url.URL, opts Options) string {
	hosts := []string{u.Hostname()}
	if u.Scheme == "s3" {
		hosts = nil // the URL's host is the bucket
		if e, err := url.Parse(opts.S3Endpoint); err == nil && opts.S3Endpoint != "" {
			hosts = append(hosts, e.Hostname())
		}
	}
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		if h == "invalid" || strings.HasSuffix(h, ".invalid") {
			return h
		}
	}
	return ""
}

// Wrapper is implemented by decorators (retry, ...) to expose the Remote
// they wrap, so that optional capabilities of the transport can be found
// through them, as errors.Unwrap does for errors.
type Wrapper interface {
	Unwrap() Remote
}

// As finds the first Remote in r's decorator chain that implements T. The
// name check that Open puts around every transport carries each optional
// capability, but As finds it there only when the transport has it.
func As[T any](r Remote) (T, bool) {
	for r != nil {
		if t, ok := r.(T); ok {
			if c, isChecked := r.(*checked); isChecked {
				if _, has := As[T](c.Remote); !has {
					break
				}
			}
			return t, true
		}
		w, ok := r.(Wrapper)
		if !ok {
			break
		}
		r = w.Unwrap()
	}
	var zero T
	return zero, false
}

// RootMaker is implemented by transports whose root is a directory that
// may not exist yet (a first deploy to a new site). Open never creates it,
// so that reading from a missing root says so and costs nothing: the
// commands that start a deploy call MkdirRoot when their first write in
// the root (the lock's mkdir) finds it missing. S3 has nothing to create.
type RootMaker interface {
	// MkdirRoot creates the root directory and its missing parents,
	// parents first, and returns the server paths of those it created.
	// With dryRun it creates nothing and returns those it would create.
	MkdirRoot(ctx context.Context, dryRun bool) ([]string, error)
}

// MkdirRoot creates r's root directory and its missing parents where r's
// transport has directories (RootMaker), and returns the server paths of
// those it created or, with dryRun, would create.
func MkdirRoot(ctx context.Context, r Remote, dryRun bool) ([]string, error) {
	if m, ok := As[RootMaker](r); ok {
		return m.MkdirRoot(ctx, dryRun)
	}
	return nil, nil
}

// MissingDirs returns dir and those of its parents that do not exist,
// parents first, asking exists about each from dir upwards until one
// exists. dir is a slash-separated server path, absolute or relative; the
// walk ends at "/" and ".", which exist.
func MissingDirs(dir string, exists func(dir string) (bool, error)) ([]string, error) {
	var missing []string
	for d := path.Clean(dir); d != "/" && d != "." && d != ""; d = path.Dir(d) {
		ok, err := exists(d)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		missing = append(missing, d)
	}
	for i, j := 0, len(missing)-1; i < j; i, j = i+1, j-1 {
		missing[i], missing[j] = missing[j], missing[i]
	}
	return missing, nil
}

// NameRefuser is implemented by transports that cannot carry every name:
// FTP, whose commands end at CR LF, cannot name a file with CR or LF in it.
// A deploy asks before it touches anything (deploy.PlanOptions.CheckName).
// The error wraps fs.ErrInvalid.
type NameRefuser interface {
	RefuseName(name string) error
}

// NameCheck returns r's transport's RefuseName, or nil when it carries
// every name.
func NameCheck(r Remote) func(name string) error {
	if n, ok := As[NameRefuser](r); ok {
		return n.RefuseName
	}
	return nil
}

// PutIfAbsenter is implemented by transports with a conditional create
// (an S3 PUT with If-None-Match: *): it fails with fs.ErrExist when name
// exists, atomically. Locks use it where directories do not exist.
type PutIfAbsenter interface {
	PutIfAbsent(ctx context.Context, name string, r io.Reader) error
}

// VersionRemover is implemented by transports that tell one version of a
// file from the next and can delete a file only while it is the version
// that was read (S3: the ETag, and DeleteObject with If-Match). Breaking a
// dead lock then removes that lock and never the new one a rival took
// meanwhile, which a plain Remove would delete.
type VersionRemover interface {
	// ReadVersion returns the content of name, at most max bytes of it,
	// and the version it is.
	ReadVersion(ctx context.Context, name string, max int64) ([]byte, string, error)
	// RemoveVersion removes name only while it is still version. It fails
	// with ErrChanged when name has changed since, and with
	// errors.ErrUnsupported when the server cannot delete conditionally.
	// A name already gone gives fs.ErrNotExist or nil: servers differ.
	RemoveVersion(ctx context.Context, name, version string) error
}

// BatchRemover is implemented by transports that delete many files in one
// request (S3 DeleteObjects). A name that does not exist is not an error;
// the error joins one *fs.PathError per name that could not be removed.
type BatchRemover interface {
	RemoveAll(ctx context.Context, names []string) error
}

// RemovePreparer is implemented by transports whose Remove checks the name
// before removing it (SFTP refuses a directory with an LSTAT ahead of its
// REMOVE). Given the names early, while the uploads run, they check them
// then, and Remove costs one round trip instead of two. A name this Remote
// writes in between (Put, Mkdir, Rename) is checked again by its Remove;
// Remove works the same without PrepareRemove.
type RemovePreparer interface {
	PrepareRemove(ctx context.Context, names []string)
}

// DirRemover is implemented by transports that remove a directory and the
// files in it that the caller names in one exchange (FTP pipelines the
// DELEs and the RMD). A named file that is not there is not an error; a
// missing directory gives an error wrapping fs.ErrNotExist, as Rmdir does.
type DirRemover interface {
	RemoveDir(ctx context.Context, dir string, files []string) error
}

// NestedDirMaker is implemented by transports that make a directory and a
// directory inside it in one exchange (FTP pipelines the two MKDs), so that
// a lock names its holder from the instant it exists, at no extra round
// trip. Each error is what Mkdir would return for that name; when dir
// exists, sub may still have been made inside it. RmdirNested removes both
// the same way (a missing sub is not an error).
type NestedDirMaker interface {
	MkdirNested(ctx context.Context, dir, sub string) (dirErr, subErr error)
	RmdirNested(ctx context.Context, dir, sub string) error
}

// RenameRmdirer is implemented by transports that can send a rename and,
// certainly behind it yet without waiting for its answer, the removal of a
// directory and a directory inside it, as RmdirNested (SFTP sends them on
// one session, whose requests OpenSSH handles in order). A deploy moves its
// marker and releases its lock so, in one round trip instead of two. The
// removal goes out whatever becomes of the rename. sent is false when
// nothing was sent because the server cannot rename over a file in one
// request here: the caller renames and removes apart.
type RenameRmdirer interface {
	RenameRmdirNested(ctx context.Context, from, to, dir, sub string) (sent bool, renameErr, rmdirErr error)
}

// PreOpener is implemented by transports that can open files in the same
// exchange as the lock's MkdirNested, yet certainly after the lock is made
// (SFTP sends the OPENs behind the MKDIR on one session, whose requests
// OpenSSH handles in order): the names given are opened by the next
// MkdirNested, and Open of one of them then only reads. When MkdirNested
// does not make the directory, they are closed unread, and Open opens
// afresh.
type PreOpener interface {
	PreOpen(names ...string)
}

// DirStarter is implemented by transports that can send a request inside
// a directory whose Mkdir is still under way so that the server handles it
// after that Mkdir (SFTP sends both on one session, whose requests OpenSSH
// handles in order): an upload into a new directory then needs not wait
// for the directory's answer. MkdirStart returns once the Mkdir has gone
// out; the channel then gets what Mkdir would have returned.
type DirStarter interface {
	MkdirStart(ctx context.Context, name string) <-chan error
}

// Hasher is implemented by transports whose server can digest a file it
// holds (FTP HASH, XSHA256, XSHA1, XMD5 or MD5; an S3 object's ETag; a
// local file), so that a resumed deploy can tell a file that arrived intact
// from one of the same size. Hash returns an error wrapping
// errors.ErrUnsupported when the server cannot digest this file (an FTP
// server without the commands, a multipart S3 object).
type Hasher interface {
	Hash(ctx context.Context, name string) (Digest, error)
}

// Digest is a file's digest as a server computed it.
type Digest struct {
	Algo string // "sha256", "sha1" or "md5"
	Sum  []byte
}

func (d Digest) String() string { return fmt.Sprintf("%s:%x", d.Algo, d.Sum) }

// NewHash returns a hash.Hash for d's algorithm, or nil for one it does
// not know.
func (d Digest) NewHash() hash.Hash {
	switch d.Algo {
	case "sha256":
		return sha256.New()
	case "sha1":
		return sha1.New()
	case "md5":
		return md5.New()
	}
	return nil
}

// Concurrency is implemented by transports that multiplex many requests
// over few connections (SFTP over one SSH connection, S3 over one HTTP
// pool): the deploy then keeps InFlight files in flight at once instead of
// one per connection (Options.Jobs), so that round trips overlap. A
// transport that needs one connection per transfer (FTP) does not have it.
type Concurrency interface {
	// InFlight is how many operations to keep in flight (at least 1).
	InFlight() int
}

// ProcsLimiter is implemented by transports whose transfers are bound by
// round trips and system calls, not by the client's computing: running Go
// code on more CPUs than MaxProcs only adds the scheduler's work. The
// executor lowers GOMAXPROCS to it while the transfers run (unless the
// GOMAXPROCS environment variable is set).
type ProcsLimiter interface {
	// MaxProcs is the most CPUs worth running Go code on (at least 1).
	MaxProcs() int
}

// MaxProcs returns r's transport's ProcsLimiter figure, or 0 when it has none.
func MaxProcs(r Remote) int {
	if l, ok := As[ProcsLimiter](r); ok {
		return max(l.MaxProcs(), 1)
	}
	return 0
}

// InFlight returns how many operations to run at once against r: its
// transport's Concurrency where it has one, else jobs (one per connection).
func InFlight(r Remote, jobs int) int {
	if c, ok := As[Concurrency](r); ok {
		if n := c.InFlight(); n > 0 {
			return n
		}
	}
	return max(jobs, 1)
}
