package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gftp/gftp/remote"
)

const (
	testKey    = "AKIDTEST"
	testSecret = "test-secret-must-never-show-9f8e7d"
)

// hermetic keeps the SDK's credential and region chains away from the
// developer's files, the environment and the instance metadata service.
func hermetic(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_PROFILE":                            "",
		"AWS_REGION":                             "",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_ENDPOINT_URL_S3":                    "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
	} {
		t.Setenv(k, v)
	}
}

var scopeRegion = regexp.MustCompile(`Credential=[^/]+/\d+/([^/]+)/s3/`)

// fake is a loopback S3 endpoint whose answers a test scripts.
type fake struct {
	t        *testing.T
	srv      *httptest.Server
	handle   func(w http.ResponseWriter, r *http.Request, region string)
	inflight atomic.Int32
	peak     atomic.Int32
	mu       sync.Mutex
	seen     []string
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, region string)) *fake {
	f := &fake{t: t, handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for {
			p := f.peak.Load()
			if n <= p || f.peak.CompareAndSwap(p, n) {
				break
			}
		}
		f.mu.Lock()
		f.seen = append(f.seen, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		region := ""
		if m := scopeRegion.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			region = m[1]
		}
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" && r.URL.Query().Get("max-keys") == "1" && f.handleProbe(w, r, region) {
			return
		}
		f.handle(w, r, region)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// handleProbe answers Open's probe with an empty listing unless the test's
// handler wants to; it reports whether it answered.
func (f *fake) handleProbe(w http.ResponseWriter, r *http.Request, region string) bool {
	rec := httptest.NewRecorder()
	f.handle(rec, r, region)
	if rec.Code == http.StatusTeapot {
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
		return true
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	return true
}

func s3err(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>R1</RequestId></Error>`, code, msg)
}

func (f *fake) options(log *slog.Logger) remote.Options {
	return remote.Options{
		User:        testKey,
		Password:    testSecret,
		S3Endpoint:  f.srv.URL,
		S3PathStyle: true,
		S3Region:    "us-east-1",
		Jobs:        4,
		Timeout:     5 * time.Second,
		Logger:      log,
	}
}

func open(t *testing.T, raw string, opts remote.Options) (*Remote, error) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return Open(context.Background(), u, opts)
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// noRetries makes transient errors fail at once, for speed.
func noRetries(t *testing.T) {
	old := maxAttempts
	maxAttempts = 1
	t.Cleanup(func() { maxAttempts = old })
}

func TestErrorMapping(t *testing.T) {
	hermetic(t)
	noRetries(t)
	cases := []struct {
		status     int
		code       string
		want       error
		wantInText string
	}{
		{403, "AccessDenied", fs.ErrPermission, "access denied"},
		{404, "NoSuchKey", fs.ErrNotExist, "no such key"},
		{404, "NoSuchBucket", ErrNoSuchBucket, `bucket "b"`},
		{403, "SignatureDoesNotMatch", remote.ErrAuth, "rejected the credentials"},
		{403, "InvalidAccessKeyId", remote.ErrAuth, "rejected the credentials"},
		{503, "SlowDown", remote.ErrTemporary, "SlowDown"},
		{500, "InternalError", remote.ErrTemporary, "InternalError"},
		{507, "InsufficientStorage", remote.ErrStorageFull, "InsufficientStorage"},
		{412, "PreconditionFailed", fs.ErrExist, "exists"},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
				if r.URL.Query().Get("max-keys") == "1" {
					w.WriteHeader(http.StatusTeapot) // the probe passes
					return
				}
				s3err(w, c.status, c.code, "scripted "+c.code)
			})
			var log logBuf
			opts := f.options(log.logger())
			r, err := open(t, "s3://b/site", opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			_, err = r.Open(context.Background(), "dir/f.txt")
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Op != "open" || pe.Path != "dir/f.txt" {
				t.Fatalf("got %#v, want a *fs.PathError about open dir/f.txt", err)
			}
			if !errors.Is(err, c.want) {
				t.Errorf("got %v, want it to wrap %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.wantInText) {
				t.Errorf("error %q does not say %q", err, c.wantInText)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(log.String(), testSecret) {
				t.Errorf("the secret shows in the error or the log")
			}
			// A PUT sent directly (put.go) fails as one sent through
			// the SDK does, word for word.
			err = r.Put(context.Background(), "dir/f.txt", strings.NewReader("x"), 1)
			if !errors.As(err, &pe) || pe.Op != "put" || pe.Path != "dir/f.txt" || !errors.Is(err, c.want) {
				t.Errorf("put: got %v, want a *fs.PathError about put dir/f.txt wrapping %v", err, c.want)
			}
			d := r.direct
			r.direct = nil
			sdkErr := r.Put(context.Background(), "dir/f.txt", strings.NewReader("x"), 1)
			r.direct = d
			if d == nil || sdkErr == nil || err.Error() != sdkErr.Error() {
				t.Errorf("put directly: %v\nthrough the SDK: %v", err, sdkErr)
			}
		})
	}
}

func TestHeadErrors(t *testing.T) {
	hermetic(t)
	noRetries(t)
	// HEAD responses carry no body, so the code is only the status.
	for status, want := range map[int]error{404: fs.ErrNotExist, 403: fs.ErrPermission, 503: remote.ErrTemporary} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
			switch {
			case r.URL.Query().Get("max-keys") == "1" && r.URL.Query().Get("prefix") == "site/":
				w.WriteHeader(http.StatusTeapot)
			case r.Method == http.MethodHead:
				w.WriteHeader(status)
			default:
				w.WriteHeader(http.StatusTeapot) // an empty listing
			}
		})
		r, err := open(t, "s3://b/site/", f.options(nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Stat(context.Background(), "x"); !errors.Is(err, want) {
			t.Errorf("HEAD %d: stat gives %v, want %v", status, err, want)
		}
		if err := r.Remove(context.Background(), "x"); !errors.Is(err, want) {
			t.Errorf("HEAD %d: remove gives %v, want %v", status, err, want)
		}
		r.Close()
	}
}

// redirect answers like AWS for a bucket in eu-west-1 when a request is
// signed for another region.
func redirect(w http.ResponseWriter, r *http.Request, region string) {
	if region == "eu-west-1" {
		w.WriteHeader(http.StatusTeapot)
		return
	}
	w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	s3err(w, http.StatusMovedPermanently, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint.")
}

func TestWrongRegion(t *testing.T) {
	hermetic(t)
	f := newFake(t, redirect)
	opts := f.options(nil)
	opts.S3Region = "us-west-2"
	_, err := open(t, "s3://b/", opts)
	var re *RegionError
	if !errors.As(err, &re) || re.Want != "eu-west-1" || re.Region != "us-west-2" {
		t.Fatalf("got %v, want a RegionError from us-west-2 to eu-west-1", err)
	}
	if !strings.Contains(err.Error(), "--s3-region eu-west-1") {
		t.Errorf("error %q lacks the hint", err)
	}
}

func TestRegionFollowedWhenUnset(t *testing.T) {
	hermetic(t)
	f := newFake(t, redirect)
	opts := f.options(nil)
	opts.S3Region = ""
	r, err := open(t, "s3://b/", opts)
	if err != nil {
		t.Fatalf("open with no region named: %v", err)
	}
	defer r.Close()
	if r.region != "eu-west-1" {
		t.Errorf("region %q, want eu-west-1", r.region)
	}
}

func TestNoCredentials(t *testing.T) {
	hermetic(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) { w.WriteHeader(http.StatusTeapot) })
	opts := f.options(nil)
	opts.User, opts.Password = "", ""
	_, err := open(t, "s3://b/", opts)
	if !errors.Is(err, remote.ErrAuth) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("got %v, want remote.ErrAuth with a hint", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 0 {
		t.Errorf("requests were sent without credentials: %v", f.seen)
	}
}

func TestProbeToleratesListDenied(t *testing.T) {
	hermetic(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" {
			s3err(w, 403, "AccessDenied", "no ListBucket for you")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	r, err := open(t, "s3://b/", f.options(nil))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
		t.Errorf("put: %v", err)
	}
}

// TestInFlightBoundsRequests: Options.InFlight, not Jobs, bounds the HTTP
// requests in flight, and the Remote says so to the deploy.
func TestInFlightBoundsRequests(t *testing.T) {
	hermetic(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPut {
			_, _ = io.Copy(io.Discard, r.Body)
			time.Sleep(20 * time.Millisecond)
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	})
	opts := f.options(nil)
	opts.Jobs = 1
	opts.InFlight = 3
	r, err := open(t, "s3://b/", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := r.Put(context.Background(), fmt.Sprintf("f%d", i), strings.NewReader("x"), 1); err != nil {
				t.Errorf("put: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if p := f.peak.Load(); p != 3 {
		t.Errorf("%d requests in flight at most, want InFlight=3", p)
	}
	if n := remote.InFlight(r, 1); n != 3 {
		t.Errorf("remote.InFlight: %d, want 3", n)
	}
}

func TestRemoveAllBatchesAndReportsKeys(t *testing.T) {
	hermetic(t)
	var batches []int
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			batches = append(batches, strings.Count(string(body), "<Key>"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult>`)
			if strings.Contains(string(body), "<Key>p/f0042</Key>") {
				fmt.Fprint(w, `<Error><Key>p/f0042</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			}
			fmt.Fprint(w, `</DeleteResult>`)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	})
	r, err := open(t, "s3://b/p", f.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var names []string
	for i := 0; i < 2500; i++ {
		names = append(names, fmt.Sprintf("f%04d", i))
	}
	err = r.RemoveAll(context.Background(), names)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != "f0042" || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("got %v, want a permission error about f0042", err)
	}
	if fmt.Sprint(batches) != "[1000 1000 500]" {
		t.Errorf("batches %v, want [1000 1000 500]", batches)
	}
}

func TestDebugLogHasNoSecrets(t *testing.T) {
	hermetic(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusOK)
			return
		}
		s3err(w, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
	})
	var log logBuf
	opts := f.options(log.logger())
	_, err := open(t, "s3://b/", opts)
	if !errors.Is(err, remote.ErrAuth) {
		t.Errorf("got %v, want remote.ErrAuth", err)
	}
	out := log.String()
	if !strings.Contains(out, "method=GET") || !strings.Contains(out, "status=403") {
		t.Errorf("debug log lacks the request:\n%s", out)
	}
	for _, bad := range []string{testSecret, "Signature=", "Authorization"} {
		if strings.Contains(out, bad) || strings.Contains(err.Error(), bad) {
			t.Errorf("%q shows in the log or the error:\n%s\n%v", bad, out, err)
		}
	}
}

func TestEndpointURL(t *testing.T) {
	hermetic(t)
	for ep, ok := range map[string]bool{
		"http://127.0.0.1:9000":       true,
		"https://s3.example.com/":     true,
		"127.0.0.1:9000":              false,
		"s3.example.com":              false,
		"ftp://x":                     false,
		"http://":                     false,
		"http://user:pw@example.com/": false,
	} {
		_, err := endpointURL(ep)
		if (err == nil) != ok {
			t.Errorf("endpointURL(%q) = %v, want ok=%v", ep, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error shows a password: %v", err)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	if ep, err := endpointURL(""); ep != "http://127.0.0.1:1" || err != nil {
		t.Errorf("from the environment: %q %v", ep, err)
	}
}

func TestEscapeKeyAndContentType(t *testing.T) {
	if got, want := escapeKey("a b/c#?%+é.txt"), "a%20b/c%23%3F%25%2B%C3%A9.txt"; got != want {
		t.Errorf("escapeKey = %q, want %q", got, want)
	}
	for name, want := range map[string]string{
		"index.html":          "text/html; charset=utf-8",
		"a/b.css":             "text/css; charset=utf-8",
		"img.png":             "image/png",
		"LICENSE":             "",
		"objects/ab/cdef0123": "",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestURLs(t *testing.T) {
	hermetic(t)
	var prefixes []string
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		mu.Lock()
		prefixes = append(prefixes, r.URL.Path+"?prefix="+r.URL.Query().Get("prefix"))
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	})
	for _, raw := range []string{"s3://b", "s3://b/", "s3://b/site", "s3://b//site/sub/"} {
		r, err := open(t, raw, f.options(nil))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		r.Close()
	}
	if got, want := fmt.Sprint(prefixes), "[/b?prefix= /b?prefix= /b?prefix=site/ /b?prefix=site/sub/]"; got != want {
		t.Errorf("probes %s, want %s", got, want)
	}
	if _, err := open(t, "s3:///x", f.options(nil)); err == nil || !strings.Contains(err.Error(), "no bucket") {
		t.Errorf("no bucket: %v", err)
	}
}

func TestStallIsTemporary(t *testing.T) {
	hermetic(t)
	noRetries(t)
	release := make(chan struct{})
	defer close(release)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		switch r.URL.Path {
		case "/b/headers":
			<-release
		case "/b/body":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			<-release
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	})
	opts := f.options(nil)
	opts.Timeout = 300 * time.Millisecond
	r, err := open(t, "s3://b/", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	if _, err := r.Open(context.Background(), "headers"); !errors.Is(err, remote.ErrTemporary) {
		t.Errorf("stalled before headers: %v, want remote.ErrTemporary", err)
	}
	rc, err := r.Open(context.Background(), "body")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	var pe *fs.PathError
	if !errors.Is(err, remote.ErrTemporary) || !errors.As(err, &pe) || pe.Path != "body" {
		t.Errorf("stalled in the body: %v, want remote.ErrTemporary about body", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stalls took %v to detect with a 300ms timeout", d)
	}
}

func TestCancel(t *testing.T) {
	hermetic(t)
	release := make(chan struct{})
	defer close(release)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodHead {
			<-release
		}
		w.WriteHeader(http.StatusTeapot)
	})
	r, err := open(t, "s3://b/", f.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := r.Stat(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled stat: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// TestNoSDKRetries: a transient failure reaches the caller after one
// request, marked remote.ErrTemporary, for gftp's retry decorator to retry;
// the SDK's own retries would multiply with --retries.
func TestNoSDKRetries(t *testing.T) {
	hermetic(t)
	var puts atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPut {
			_, _ = io.Copy(io.Discard, r.Body)
			puts.Add(1)
			s3err(w, http.StatusServiceUnavailable, "SlowDown", "scripted")
			return
		}
		w.WriteHeader(http.StatusTeapot)
	})
	r, err := open(t, "s3://b/", f.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.Put(context.Background(), "f", strings.NewReader("x"), 1)
	if !errors.Is(err, remote.ErrTemporary) {
		t.Errorf("put: %v, want a remote.ErrTemporary", err)
	}
	if n := puts.Load(); n != 1 {
		t.Errorf("%d PUT requests, want 1 (no SDK retries)", n)
	}
}
