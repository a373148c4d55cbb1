package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gftp/gftp/remote"
)

// wrap turns an SDK error into the contract's *fs.PathError about name.
// ctx tells a cancelled or expired call from a network timeout, which look
// alike: net/http's timeouts match context.DeadlineExceeded.
func (r *Remote) wrap(ctx context.Context, op, name string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return &fs.PathError{Op: op, Path: name, Err: ctx.Err()}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: r.classify(err)}
}

// s3Error keeps the SDK's error for errors.As, but says it in one line, and
// adds the contract's sentinel for errors.Is.
type s3Error struct {
	msg   string
	kind  error // a sentinel of the contract, or nil
	cause error
}

func (e *s3Error) Error() string { return e.msg }
func (e *s3Error) Unwrap() []error {
	if e.kind == nil {
		return []error{e.cause}
	}
	return []error{e.kind, e.cause}
}

// expectingRegion finds the bucket's region in AuthorizationHeaderMalformed
// (AWS quotes it with ', versitygw with ").
var expectingRegion = regexp.MustCompile(`expecting ['"]([a-z0-9-]+)['"]`)

func (r *Remote) where() string {
	if r.endpoint != "" {
		return r.endpoint
	}
	return "AWS S3 in " + r.region
}

// classify reads an SDK error: the S3 error code where the server sent one,
// else the HTTP status, else the network error underneath.
func (r *Remote) classify(err error) error {
	var re *RegionError
	if errors.As(err, &re) {
		return re
	}
	var ne *notExistError
	if errors.As(err, &ne) {
		return ne
	}
	status, header := 0, http.Header(nil)
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.Response != nil {
		status = respErr.Response.StatusCode
		header = respErr.Response.Header
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg := ae.ErrorCode(), ae.ErrorMessage()
		if msg == "" {
			msg = http.StatusText(status)
		}
		say := func(kind error, format string, args ...any) error {
			return &s3Error{msg: fmt.Sprintf(format, args...), kind: kind, cause: err}
		}
		detail := code
		if msg != "" && msg != code {
			detail += ": " + msg
		}
		if status != 0 {
			detail += fmt.Sprintf(" (HTTP %d)", status)
		}
		switch {
		case code == "NoSuchBucket":
			return say(ErrNoSuchBucket, "bucket %q does not exist at %s", r.bucket, r.where())
		case code == "PermanentRedirect" || code == "MovedPermanently" || code == "TemporaryRedirect" ||
			status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect ||
			code == "IllegalLocationConstraintException" ||
			code == "AuthorizationHeaderMalformed" && expectingRegion.MatchString(msg):
			want := header.Get("X-Amz-Bucket-Region")
			if m := expectingRegion.FindStringSubmatch(msg); want == "" && m != nil {
				want = m[1]
			}
			return &RegionError{Bucket: r.bucket, Region: r.region, Want: want}
		case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" ||
			code == "InvalidToken" || code == "TokenRefreshRequired" || code == "RequestTimeTooSkewed" ||
			code == "XAdminUserNotFound": // versitygw, with 404, for an unknown access key
			return say(remote.ErrAuth, "%s rejected the credentials: %s", r.where(), detail)
		case code == "AccessDenied" || code == "AllAccessDisabled" || code == "AccountProblem" ||
			code == "Forbidden" || status == http.StatusForbidden:
			return say(fs.ErrPermission, "access denied to bucket %q: %s", r.bucket, detail)
		case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound && code == "":
			return say(fs.ErrNotExist, "no such key")
		case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
			return say(fs.ErrExist, "key exists")
		case code == "QuotaExceeded" || code == "XMinioStorageFull" || code == "InsufficientStorage" ||
			status == http.StatusInsufficientStorage:
			return say(remote.ErrStorageFull, "%s", detail)
		case code == "SlowDown" || code == "Throttling" || code == "ThrottlingException" ||
			code == "RequestLimitExceeded" || code == "RequestTimeout" || code == "InternalError" ||
			code == "ServiceUnavailable" || code == "ConditionalRequestConflict" ||
			status == http.StatusTooManyRequests || status >= 500:
			return say(remote.ErrTemporary, "%s", detail)
		}
		return say(nil, "%s", detail)
	}
	return r.classifyNet(err)
}

// classifyNet explains failures below HTTP: the endpoint is wrong, down, or
// the connection broke.
func (r *Remote) classifyNet(err error) error {
	say := func(kind error, format string, args ...any) error {
		return &s3Error{msg: fmt.Sprintf(format, args...), kind: kind, cause: err}
	}
	var dns *net.DNSError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return say(nil, "invalid S3 endpoint %s: host %q not found", r.where(), dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return say(remote.ErrTemporary, "cannot connect to S3 endpoint %s: connection refused", r.where())
	case errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci):
		return say(nil, "S3 endpoint %s: TLS certificate not trusted: %v", r.where(), rootCause(err))
	case errors.As(err, &rh):
		return say(nil, "S3 endpoint %s does not speak TLS (try http://)", r.where())
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return say(nil, "S3 endpoint %s does not speak TLS (try http://)", r.where())
	case strings.Contains(err.Error(), "credentials"):
		return say(remote.ErrAuth, "no usable S3 credentials: %v", rootCause(err))
	}
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return say(remote.ErrTemporary, "S3 endpoint %s: %v", r.where(), rootCause(err))
	}
	return err
}

// rootCause is the innermost error of a single-wrap chain, to keep messages
// short ("connection reset by peer", not the SDK's whole story).
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// logger logs every HTTP attempt at Debug (operation, method, path, status,
// duration; never a header, so never a signature or token) and holds one of
// Options.Jobs slots while the attempt is in flight.
type logger struct {
	log *slog.Logger
	sem chan struct{}
}

func addLogger(log *slog.Logger, sem chan struct{}) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Deserialize.Add(&logger{log: log, sem: sem}, middleware.After)
	}
}

func (*logger) ID() string { return "GftpLogger" }

func (l *logger) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return middleware.DeserializeOutput{}, middleware.Metadata{}, ctx.Err()
	}
	defer func() { <-l.sem }()
	start := time.Now()
	out, md, err := next.HandleDeserialize(ctx, in)
	if !l.log.Enabled(ctx, slog.LevelDebug) {
		return out, md, err
	}
	method, path, query, status, reqID := "", "", "", 0, ""
	if req, ok := in.Request.(*smithyhttp.Request); ok {
		method, path, query = req.Method, req.URL.Path, safeQuery(req)
	}
	if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil {
		status, reqID = resp.StatusCode, resp.Header.Get("X-Amz-Request-Id")
	}
	logRequest(ctx, l.log, middleware.GetOperationName(ctx), method, path, query, status, reqID, time.Since(start), err)
	return out, md, err
}

// logRequest logs one HTTP attempt at Debug; status 0 is a request that
// got no answer.
func logRequest(ctx context.Context, log *slog.Logger, op, method, path, query string, status int, reqID string, took time.Duration, err error) {
	if !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("op", op)}
	if method != "" {
		attrs = append(attrs, slog.String("method", method), slog.String("path", path))
		if query != "" {
			attrs = append(attrs, slog.String("query", query))
		}
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
		if reqID != "" {
			attrs = append(attrs, slog.String("request_id", reqID))
		}
	}
	attrs = append(attrs, slog.Duration("took", took.Round(time.Millisecond)))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "s3 request", attrs...)
}

// safeQuery is the query string without X-Amz-* parameters, which would
// carry a credential in a presigned URL.
func safeQuery(req *smithyhttp.Request) string {
	q := req.URL.Query()
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			q.Del(k)
		}
	}
	return q.Encode()
}
