// Package s3 is the transport for S3-compatible buckets (AWS S3, MinIO, R2,
// Ceph, versitygw): s3://bucket/prefix.
//
// A bucket has no directories, only keys that contain slashes, so this
// transport differs from a file system in ways the remote contract allows:
//
//   - Mkdir always succeeds and creates nothing, even when objects below the
//     name exist (where the contract asks for fs.ErrExist). Reporting
//     fs.ErrExist would cost a LIST per directory for no gain: MkdirAll and
//     the executor treat fs.ErrExist as success anyway.
//   - Rmdir always succeeds and deletes nothing: a "directory" disappears
//     with the last object below it.
//   - Put needs no parent directory.
//   - Stat of a name with no object but with objects below it reports a
//     directory; List of a non-root name with nothing below it gives
//     fs.ErrNotExist, and List of the root gives an empty list.
//   - Remove of a missing object costs a HEAD first, because DELETE of a
//     missing key succeeds in S3. RemoveAll deletes in batches of 1000 and
//     does not report missing keys.
//   - Every PUT replaces the object in one step, so PutAtomic is Put
//     (remote.AtomicPutter) and no temporary name is ever written.
//   - Rename is a server-side copy and a delete (not atomic), limited to
//     5 GiB by CopyObject.
//
// Credentials come from Options.User and Options.Password when both are set
// (access key ID and secret access key, as git-ftp's --user and --passwd),
// and otherwise from the SDK's standard chain: AWS_* environment, the shared
// config and credentials files (profile Options.S3Profile), SSO, and
// container or instance roles. The region is Options.S3Region, else the
// chain's (AWS_REGION, the profile); when none is named and the bucket
// answers that it lives elsewhere, Open follows it there. A region that was
// named and is wrong gives a *RegionError with the right one. The endpoint
// is Options.S3Endpoint, else AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else
// AWS. Checksums are computed and validated only where S3 requires them,
// which S3-compatible servers need. A file below one part goes up in one
// PUT that is signed and sent without the SDK's middleware (put.go: half
// the client CPU per small file), with the SHA-256 of its bytes signed in
// x-amz-content-sha256 for the server to check.
//
// Objects get a Content-Type from their extension and Options.CacheControl.
// Files above 5 MiB go up as multipart uploads, a part at a time.
// Options.InFlight (remote.DefaultInFlight when 0) bounds the HTTP requests
// in flight across the Remote, and the deploy keeps that many files in
// flight (remote.Concurrency); the one connection pool keeps as many
// connections idle between requests, so that none is dialled twice.
// Options.Timeout is the idle deadline of every connection. The SDK does
// not retry: a failed request's error, marked remote.ErrTemporary when it
// is transient, reaches the caller, whose retry decorator (--retries) tries
// the whole operation again, so that attempts never multiply. Only Open's
// probe, which no decorator wraps yet, retries in the SDK.
//
// Debug logging shows each HTTP attempt (operation, method, path, status,
// request ID, duration) and never a header, so never a credential or a
// signature.
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/semaphore"

	"github.com/gftp/gftp/internal/proxy"
	"github.com/gftp/gftp/internal/trust"
	"github.com/gftp/gftp/remote"
)

func init() {
	remote.Register(func(ctx context.Context, u *url.URL, opts remote.Options) (remote.Remote, error) {
		r, err := Open(ctx, u, opts)
		if err != nil {
			return nil, err // not a typed nil in an interface
		}
		return r, nil
	}, "s3")
}

// maxAttempts is how often the SDK tries Open's probe, with backoff, before
// an error reaches the caller. Every other request is tried once: gftp's
// retry decorator retries above the transport (see the package comment).
var maxAttempts = 3

// MaxDeleteBatch is how many keys one DeleteObjects request may name.
const MaxDeleteBatch = 1000

// ErrNoSuchBucket is wrapped by errors about a bucket that does not exist.
// It is not fs.ErrNotExist, so that a missing bucket can never pass for a
// missing marker file (which means "first deploy").
var ErrNoSuchBucket = errors.New("no such bucket")

// RegionError says that the bucket lives in another region than the one the
// client signed for. Want is empty when the server did not say.
type RegionError struct {
	Bucket string
	Region string // the region the request was signed for
	Want   string // the bucket's region
}

func (e *RegionError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("bucket %q is not in region %q (set the right one with --s3-region)", e.Bucket, e.Region)
	}
	return fmt.Sprintf("bucket %q is in region %q, not %q (use --s3-region %s)", e.Bucket, e.Want, e.Region, e.Want)
}

var (
	_ remote.Remote = (*Remote)(nil)
	_ remote.Hasher = (*Remote)(nil)
)

// Remote is a key prefix in a bucket.
type Remote struct {
	client    *s3.Client
	uploader  *manager.Uploader //lint:ignore SA1019 transfermanager is v0 and not in go.mod; manager is maintained and does what we need
	transport *http.Transport
	bucket    string
	prefix    string // "" or ending in "/"
	region    string
	endpoint  string // "" for AWS
	opts      remote.Options
	log       *slog.Logger
	// mem bounds the bytes that the Puts in flight hold: a file below
	// one part is read whole (see Put), a multipart upload holds its
	// parts, and with many files in flight those add up.
	mem *semaphore.Weighted
	// sem holds a slot for every HTTP request in flight (InFlight).
	sem chan struct{}
	// direct sends single PUTs without the SDK's middleware (put.go);
	// nil where the SDK must sign.
	direct *direct

	regionFromProfile bool
}

// memBudget is what Puts in flight may hold in memory at once, whatever
// Options.InFlight: 64 files of 4 KiB need 256 KiB of it, a multipart
// upload at most 6 parts of 5 MiB.
const memBudget = 64 << 20

var (
	_ remote.Remote       = (*Remote)(nil)
	_ remote.AtomicPutter = (*Remote)(nil)
)

// Open connects to the bucket and key prefix that u (s3://bucket/prefix)
// names. It lists at most one key to check that the bucket exists, that the
// credentials work and that the region is right, so that those mistakes are
// reported before a deploy starts. A refusal to list (a policy that grants
// only object access) is not fatal.
func Open(ctx context.Context, u *url.URL, opts remote.Options) (*Remote, error) {
	target := "s3://" + u.Host + u.Path
	bucket := u.Host
	if bucket == "" {
		return nil, &fs.PathError{Op: "open", Path: target, Err: errors.New("no bucket in URL (want s3://bucket/prefix)")}
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix = path.Clean(prefix) + "/"
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
	r, err := newRemote(ctx, bucket, prefix, opts, "")
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: target, Err: err}
	}
	err = r.probe(ctx)
	var re *RegionError
	if errors.As(err, &re) && re.Want != "" && !r.regionChosen() {
		// Nobody named a region, so follow the bucket to its own.
		r.opts.Logger.Info("s3: following bucket to its region", "bucket", bucket, "region", re.Want)
		r.Close()
		if r, err = newRemote(ctx, bucket, prefix, opts, re.Want); err != nil {
			return nil, &fs.PathError{Op: "open", Path: target, Err: err}
		}
		err = r.probe(ctx)
	}
	if err != nil {
		r.Close()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &fs.PathError{Op: "open", Path: target, Err: err}
	}
	return r, nil
}

var (
	_ remote.Concurrency  = (*Remote)(nil)
	_ remote.ProcsLimiter = (*Remote)(nil)
)

// InFlight implements remote.Concurrency: Options.InFlight, or
// remote.DefaultInFlight.
func (r *Remote) InFlight() int { return inFlight(r.opts) }

func inFlight(opts remote.Options) int {
	if opts.InFlight > 0 {
		return opts.InFlight
	}
	return remote.DefaultInFlight
}

// MaxProcs implements remote.ProcsLimiter: one CPU, as for FTP. Small
// objects are one PUT each: a few system calls, and waking the goroutines
// of net/http that write the request and read the answer; with a second
// CPU the Go scheduler spins it up for each wake-up and back to sleep. On
// the 2,000-file init against versitygw on loopback, in runs alternating
// with two CPUs, one CPU took gftp's CPU from 0.51 s to 0.42 s and its
// wall time from 0.575 s to 0.560 s, and a 256 MiB multipart upload took
// as long with one as with two. One CPU hashes (SHA-256, for the
// signature) and encrypts (TLS) hundreds of megabytes a second, more than
// a deploy's link carries.
func (r *Remote) MaxProcs() int { return 1 }

// regionChosen reports whether the user named a region (flag, environment
// or profile) rather than leaving us the default.
func (r *Remote) regionChosen() bool {
	return r.opts.S3Region != "" || os.Getenv("AWS_REGION") != "" || os.Getenv("AWS_DEFAULT_REGION") != "" || r.regionFromProfile
}

func newRemote(ctx context.Context, bucket, prefix string, opts remote.Options, forceRegion string) (*Remote, error) {
	endpoint, err := endpointURL(opts.S3Endpoint)
	if err != nil {
		return nil, err
	}
	setup, err := transport(opts)
	if err != nil {
		return nil, err
	}
	// The SDK adds AWS_CA_BUNDLE only to its own buildable client, so
	// start from one and take its transport back afterwards.
	lo := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(setup)),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if opts.S3Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(opts.S3Profile))
	}
	if opts.User != "" && opts.Password != "" {
		lo = append(lo, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(opts.User, opts.Password, "")))
	}
	switch {
	case forceRegion != "":
		lo = append(lo, config.WithRegion(forceRegion))
	case opts.S3Region != "":
		lo = append(lo, config.WithRegion(opts.S3Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	var tr *http.Transport
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = b.GetTransport()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
		setup(tr)
	}
	hc := &http.Client{
		Transport: tr,
		// S3 answers a wrong region with 301 or 307; the SDK must see
		// that answer (to report it), not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cfg.HTTPClient = hc
	fromProfile := cfg.Region != "" && opts.S3Region == "" && forceRegion == "" &&
		os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == ""
	if cfg.Region == "" {
		// S3-compatible servers mostly ignore the region, and for AWS
		// us-east-1 is where a wrong guess is reported with the answer.
		cfg.Region = "us-east-1"
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%w: no usable S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or choose a profile with --s3-profile): %v", remote.ErrAuth, err)
	}
	r := &Remote{
		transport:         tr,
		bucket:            bucket,
		prefix:            prefix,
		region:            cfg.Region,
		endpoint:          endpoint,
		opts:              opts,
		log:               opts.Logger,
		regionFromProfile: fromProfile,
		mem:               semaphore.NewWeighted(memBudget),
	}
	r.sem = make(chan struct{}, inFlight(opts))
	r.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = opts.S3PathStyle
		o.APIOptions = append(o.APIOptions, addLogger(opts.Logger, r.sem))
	})
	r.direct = newDirect(r.client, hc, bucket)
	//lint:ignore SA1019 see the uploader field
	r.uploader = manager.NewUploader(r.client, func(u *manager.Uploader) {
		u.Concurrency = min(opts.Jobs, manager.DefaultUploadConcurrency)
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	return r, nil
}

// endpointURL picks the endpoint (the option, else AWS_ENDPOINT_URL_S3,
// else AWS_ENDPOINT_URL) and checks it, so that a typo is reported as such
// rather than as a DNS failure deep inside the SDK.
func endpointURL(opt string) (string, error) {
	ep, from := opt, "--s3-endpoint"
	for _, env := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if ep == "" {
			ep, from = os.Getenv(env), env
		}
	}
	if ep == "" {
		return "", nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", fmt.Errorf("invalid S3 endpoint %q (from %s): %v", remote.Redact(ep), from, unwrapURL(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("invalid S3 endpoint %q (from %s): want http://host[:port] or https://host[:port]", remote.Redact(ep), from)
	}
	return strings.TrimRight(ep, "/"), nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// transport returns what to set on the HTTP transport: the endpoint's TLS
// settings, and Options.Timeout as the deadline for connecting, for each
// response to begin, and for every read and write to make progress.
func transport(opts remote.Options) (func(*http.Transport), error) {
	// With Options.Proxy every connection is a tunnel through it (CONNECT
	// for an http:// proxy, also to an http:// endpoint), and the
	// environment's HTTP_PROXY and the like are ignored, as curl's -x
	// overrides them. Without it the SDK's transport reads them
	// (http.ProxyFromEnvironment).
	dialer, err := proxy.Dialer(opts.Proxy, &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: opts.Timeout}, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.Insecure, KeyLogWriter: opts.KeyLog}
	roots, err := trust.RootCAs(opts.CACert)
	if err != nil {
		return nil, err
	}
	tc.RootCAs = roots
	pins, err := trust.ParsePins(opts.PinSHA256)
	if err != nil {
		return nil, err
	}
	if len(pins) > 0 && !opts.Insecure {
		// A pinned certificate is trusted for itself, whoever signed it;
		// any other is verified as usual. The name to check is the
		// endpoint's (the SNI is empty for an IP address).
		name := ""
		if u, err := url.Parse(opts.S3Endpoint); err == nil {
			name = u.Hostname()
		}
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			host := name
			if host == "" {
				host = cs.ServerName
			}
			return trust.Verify(cs, host, roots, pins)
		}
	}
	return func(tr *http.Transport) {
		tr.DialContext = dial
		if opts.Proxy != "" {
			tr.Proxy = nil
		}
		tr.TLSHandshakeTimeout = opts.Timeout
		tr.ResponseHeaderTimeout = opts.Timeout
		// Every request in flight has its own connection (HTTP/1.1;
		// S3 speaks no HTTP/2): keep them all for the next request.
		tr.MaxIdleConnsPerHost = max(inFlight(opts), 4)
		tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
		tr.TLSClientConfig = tc.Clone()
		// A small object's request, headers and body, in one write
		// rather than two (net/http's default buffer is 4 KiB): on the
		// 2,000-file init against versitygw on loopback, one system
		// call and one segment fewer per PUT took the wall time from
		// 0.640 s to 0.610 s and versitygw's CPU by 6%. 64 connections
		// hold 2 MiB of it.
		tr.WriteBufferSize = 32 << 10
	}, nil
}

// idleConn fails a connection that makes no progress for idle, in either
// direction, so that a stalled server cannot hang a deploy
// (Options.Timeout). Progress in one direction extends both deadlines: the
// transport reads for the response while the request body is still going
// up, and a slow upload of a large part must not time that read out.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(p)
}

// probe lists at most one key under the prefix.
func (r *Remote) probe(ctx context.Context) error {
	_, err := r.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  &r.bucket,
		Prefix:  aws.String(r.prefix),
		MaxKeys: aws.Int32(1),
	}, func(o *s3.Options) {
		o.Retryer = openRetryer{retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = maxAttempts })}
	})
	if err == nil {
		return nil
	}
	err = r.wrap(ctx, "open", "", err)
	if errors.Is(err, fs.ErrPermission) {
		r.log.Info("s3: may not list the bucket; continuing with object access only", "bucket", r.bucket)
		return nil
	}
	return err
}

// openRetryer does not retry what is almost surely a wrong endpoint (no
// such host, connection refused, not TLS, an untrusted certificate), so
// that a typo in a URL is reported at once rather than after seconds of
// backoff.
type openRetryer struct{ aws.Retryer }

func (o openRetryer) IsErrorRetryable(err error) bool {
	var dns *net.DNSError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns) && dns.IsNotFound || errors.As(err, &rh) ||
		errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return false
	}
	return o.Retryer.IsErrorRetryable(err)
}

func (r *Remote) key(name string) string { return r.prefix + name }

// Stat implements remote.Remote. A name with no object but with keys below
// it is a directory; the root always is.
func (r *Remote) Stat(ctx context.Context, name string) (remote.FileInfo, error) {
	if name == "" {
		return remote.FileInfo{Name: name, IsDir: true}, nil
	}
	out, err := r.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(name))})
	if err == nil {
		return remote.FileInfo{Name: name, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
	}
	err = r.wrap(ctx, "stat", name, err)
	if !errors.Is(err, fs.ErrNotExist) {
		return remote.FileInfo{}, err
	}
	l, lerr := r.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  &r.bucket,
		Prefix:  aws.String(r.key(name) + "/"),
		MaxKeys: aws.Int32(1),
	})
	if lerr != nil {
		return remote.FileInfo{}, r.wrap(ctx, "stat", name, lerr)
	}
	if len(l.Contents) > 0 || len(l.CommonPrefixes) > 0 {
		return remote.FileInfo{Name: name, IsDir: true}, nil
	}
	return remote.FileInfo{}, err
}

// Hash implements remote.Hasher with the object's ETag, which is the MD5
// of the content for an object stored by one PUT. A multipart object's
// ETag ("...-3") is a digest of digests, which nothing here can compare.
// An ETag that is not the MD5 (encryption with KMS or a customer key) only
// ever fails to match, which costs an upload, not a wrong skip.
func (r *Remote) Hash(ctx context.Context, name string) (remote.Digest, error) {
	out, err := r.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(name))})
	if err != nil {
		return remote.Digest{}, r.wrap(ctx, "hash", name, err)
	}
	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	sum, err := hex.DecodeString(etag)
	if err != nil || len(sum) != md5.Size {
		return remote.Digest{}, &fs.PathError{Op: "hash", Path: name,
			Err: fmt.Errorf("ETag %q is not an MD5 (a multipart upload): %w", etag, errors.ErrUnsupported)}
	}
	return remote.Digest{Algo: "md5", Sum: sum}, nil
}

// Open implements remote.Remote.
func (r *Remote) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	out, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(name))})
	if err != nil {
		return nil, r.wrap(ctx, "open", name, err)
	}
	return &body{ReadCloser: out.Body, ctx: ctx, r: r, name: name}, nil
}

// body reports a failure while streaming an object under the contract, so
// that a stall or a dropped connection reads as remote.ErrTemporary.
type body struct {
	io.ReadCloser
	ctx  context.Context
	r    *Remote
	name string
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.r.wrap(b.ctx, "read", b.name, err)
	}
	return n, err
}

// Put implements remote.Remote. Files larger than one part (5 MiB) go up as
// a multipart upload, streamed a part at a time; an upload that fails is
// aborted, so no parts are left to pay for.
func (r *Remote) Put(ctx context.Context, name string, src io.Reader, size int64) error {
	in := &s3.PutObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(name)), Body: src}
	if ct := ContentType(name); ct != "" {
		in.ContentType = aws.String(ct)
	}
	if r.opts.CacheControl != "" {
		in.CacheControl = aws.String(r.opts.CacheControl)
	}
	if size >= 0 && size < manager.DefaultUploadPartSize {
		// One part: read it here, so that the SDK can sign a seekable
		// body even over plain HTTP.
		if err := r.mem.Acquire(ctx, max(size, 1)); err != nil {
			return &fs.PathError{Op: "put", Path: name, Err: err}
		}
		defer r.mem.Release(max(size, 1))
		buf := make([]byte, size)
		if _, err := io.ReadFull(src, buf); err != nil {
			return &fs.PathError{Op: "put", Path: name, Err: fmt.Errorf("read source: %w", err)}
		}
		return r.wrap(ctx, "put", name, r.putWhole(ctx, in, buf))
	}
	// The uploader holds up to Concurrency+1 parts.
	partSize := int64(manager.DefaultUploadPartSize)
	if size > 0 && size/int64(manager.MaxUploadParts) >= partSize {
		// S3 allows 10,000 parts: grow them for a file too large for
		// the default, when we know its size.
		partSize = size/int64(manager.MaxUploadParts) + 1
	}
	hold := min(partSize*int64(r.uploader.Concurrency+1), memBudget)
	if err := r.mem.Acquire(ctx, hold); err != nil {
		return &fs.PathError{Op: "put", Path: name, Err: err}
	}
	defer r.mem.Release(hold)
	//lint:ignore SA1019 see the uploader field
	_, err := r.uploader.Upload(ctx, in, func(u *manager.Uploader) {
		u.PartSize = partSize
	})
	return r.wrap(ctx, "put", name, err)
}

// putWhole writes b as the object that in names, with in's Content-Type,
// Cache-Control and If-None-Match: directly where it can (put.go), else
// through the SDK.
func (r *Remote) putWhole(ctx context.Context, in *s3.PutObjectInput, b []byte) error {
	if r.direct == nil {
		in.Body = bytes.NewReader(b)
		in.ContentLength = aws.Int64(int64(len(b)))
		_, err := r.client.PutObject(ctx, in)
		return err
	}
	h := http.Header{}
	if in.ContentType != nil {
		h.Set("Content-Type", *in.ContentType)
	}
	if in.CacheControl != nil {
		h.Set("Cache-Control", *in.CacheControl)
	}
	if in.IfNoneMatch != nil {
		h.Set("If-None-Match", *in.IfNoneMatch)
	}
	return r.putObject(ctx, *in.Key, b, h)
}

// PutIsAtomic implements remote.AtomicPutter: an S3 PUT is atomic.
func (r *Remote) PutIsAtomic() bool { return true }

// PutAtomic implements remote.AtomicPutter: an S3 PUT replaces the object
// in one step, and readers never see a partial object.
func (r *Remote) PutAtomic(ctx context.Context, name string, src io.Reader, size int64) error {
	return r.Put(ctx, name, src, size)
}

// maxPutIfAbsent bounds what PutIfAbsent reads into memory.
const maxPutIfAbsent = 5 << 20

// PutIfAbsent writes name only if no object has that key, with a
// conditional PUT (If-None-Match: *), which AWS S3 and versitygw honour.
// It fails with fs.ErrExist when the key exists. It is meant for small
// files such as a lock, and reads src into memory (at most 5 MiB).
func (r *Remote) PutIfAbsent(ctx context.Context, name string, src io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(src, maxPutIfAbsent+1))
	if err != nil {
		return &fs.PathError{Op: "put", Path: name, Err: fmt.Errorf("read source: %w", err)}
	}
	if len(b) > maxPutIfAbsent {
		return &fs.PathError{Op: "put", Path: name, Err: errors.New("too large for a conditional put")}
	}
	in := &s3.PutObjectInput{
		Bucket:      &r.bucket,
		Key:         aws.String(r.key(name)),
		IfNoneMatch: aws.String("*"),
	}
	if ct := ContentType(name); ct != "" {
		in.ContentType = aws.String(ct)
	}
	return r.wrap(ctx, "put", name, r.putWhole(ctx, in, b))
}

// Rename implements remote.Remote with a server-side copy followed by a
// delete. The copy takes the content type of the new name.
func (r *Remote) Rename(ctx context.Context, from, to string) error {
	in := &s3.CopyObjectInput{
		Bucket:            &r.bucket,
		Key:               aws.String(r.key(to)),
		CopySource:        aws.String(r.bucket + "/" + escapeKey(r.key(from))),
		MetadataDirective: types.MetadataDirectiveReplace,
	}
	if ct := ContentType(to); ct != "" {
		in.ContentType = aws.String(ct)
	}
	if r.opts.CacheControl != "" {
		in.CacheControl = aws.String(r.opts.CacheControl)
	}
	if _, err := r.client.CopyObject(ctx, in); err != nil {
		err = r.wrap(ctx, "rename", to, err)
		if errors.Is(err, fs.ErrNotExist) {
			// The source is what is missing; say so.
			err = r.wrap(ctx, "rename", from, &notExistError{})
		}
		return err
	}
	_, err := r.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(from))})
	return r.wrap(ctx, "rename", from, err)
}

type notExistError struct{}

func (*notExistError) Error() string { return "no such key" }
func (*notExistError) Unwrap() error { return fs.ErrNotExist }

// Remove implements remote.Remote. S3 deletes a missing key without
// complaint, so a HEAD comes first to honour the contract.
func (r *Remote) Remove(ctx context.Context, name string) error {
	if _, err := r.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(name))}); err != nil {
		return r.wrap(ctx, "remove", name, err)
	}
	_, err := r.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &r.bucket, Key: aws.String(r.key(name))})
	return r.wrap(ctx, "remove", name, err)
}

// RemoveAll deletes the files names with DeleteObjects, up to 1000 per
// request, so that a deploy that deletes many files costs few round trips.
// A name that does not exist is not an error. The error, if any, joins one
// *fs.PathError (Op "remove") per name that could not be deleted.
func (r *Remote) RemoveAll(ctx context.Context, names []string) error {
	var errs []error
	for len(names) > 0 {
		n := min(len(names), MaxDeleteBatch)
		batch := names[:n]
		names = names[n:]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, name := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(r.key(name))}
		}
		out, err := r.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &r.bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return errors.Join(append(errs, r.wrap(ctx, "remove", batch[0], err))...)
		}
		for _, e := range out.Errors {
			name := strings.TrimPrefix(aws.ToString(e.Key), r.prefix)
			errs = append(errs, r.wrap(ctx, "remove", name, &codeError{code: aws.ToString(e.Code), msg: aws.ToString(e.Message)}))
		}
	}
	return errors.Join(errs...)
}

// codeError is a per-key error from DeleteObjects, which has a code like an
// API error but is not one.
type codeError struct{ code, msg string }

func (e *codeError) Error() string                 { return e.code + ": " + e.msg }
func (e *codeError) ErrorCode() string             { return e.code }
func (e *codeError) ErrorMessage() string          { return e.msg }
func (e *codeError) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }

// Mkdir implements remote.Remote. Buckets have no directories, so it does
// nothing and succeeds (see the package comment).
func (r *Remote) Mkdir(ctx context.Context, name string) error { return ctx.Err() }

// Rmdir implements remote.Remote. It does nothing: a prefix disappears with
// its last object.
func (r *Remote) Rmdir(ctx context.Context, name string) error { return ctx.Err() }

// List implements remote.Remote: the objects and common prefixes one "/"
// below name.
func (r *Remote) List(ctx context.Context, name string) ([]remote.FileInfo, error) {
	p := r.prefix
	if name != "" {
		p = r.key(name) + "/"
	}
	var out []remote.FileInfo
	pages := s3.NewListObjectsV2Paginator(r.client, &s3.ListObjectsV2Input{
		Bucket:    &r.bucket,
		Prefix:    aws.String(p),
		Delimiter: aws.String("/"),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, r.wrap(ctx, "list", name, err)
		}
		for _, cp := range page.CommonPrefixes {
			base := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), p), "/")
			if base != "" {
				out = append(out, remote.FileInfo{Name: base, IsDir: true})
			}
		}
		for _, o := range page.Contents {
			base := strings.TrimPrefix(aws.ToString(o.Key), p)
			if base == "" {
				continue // a "folder" marker object, as consoles create
			}
			out = append(out, remote.FileInfo{Name: base, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	if len(out) == 0 && name != "" {
		return nil, &fs.PathError{Op: "list", Path: name, Err: fs.ErrNotExist}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close implements remote.Remote.
func (r *Remote) Close() error {
	r.transport.CloseIdleConnections()
	return nil
}

// ContentType is the Content-Type stored with a file, from its extension;
// "" leaves the server's default (binary/octet-stream on AWS).
func ContentType(name string) string {
	ext := path.Ext(name)
	if ext == "" {
		return ""
	}
	return mime.TypeByExtension(ext)
}

// escapeKey percent-encodes a key for x-amz-copy-source: everything but the
// unreserved characters and "/".
func escapeKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
