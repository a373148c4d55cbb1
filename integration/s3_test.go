package integration_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gftp/gftp/dumbhttp"
	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
	"github.com/gftp/gftp/remote"
	"github.com/gftp/gftp/remote/remotetest"
	"github.com/gftp/gftp/remote/s3"
)

func init() {
	// The credential chain must never probe the instance metadata service
	// from a test.
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// s3Options are the options a test uses to reach srv. They always name the
// loopback endpoint, so that no request can reach AWS.
func s3Options(srv *servers.Server, log *slog.Logger) remote.Options {
	return remote.Options{
		User:        srv.User,
		Password:    srv.Password,
		S3Endpoint:  s3Endpoint(srv),
		S3PathStyle: true,
		S3Region:    servers.S3Region,
		CACert:      srv.CACert,
		Jobs:        4,
		Logger:      log,
	}
}

// s3Endpoint is the endpoint URL among srv's flags.
func s3Endpoint(srv *servers.Server) string {
	for i, f := range srv.Flags {
		if f == "--s3-endpoint" && i+1 < len(srv.Flags) {
			return srv.Flags[i+1]
		}
	}
	return ""
}

func openS3(t *testing.T, rawURL string, opts remote.Options) (remote.Remote, error) {
	t.Helper()
	u, err := remote.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Open(context.Background(), u, opts)
}

// TestS3Conformance runs the suite against versitygw as it keeps
// connections alive (like AWS S3) and as it closes one after every
// response (its default), where every request needs a new connection.
func TestS3Conformance(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []servers.S3Option
	}{{"KeepAlive", nil}, {"ConnectionClose", []servers.S3Option{servers.WithS3ConnectionClose()}}} {
		t.Run(mode.name, func(t *testing.T) {
			srv := servers.StartS3(t, mode.opts...)
			var n int
			var prefix string
			remotetest.Run(t, remotetest.Config{
				Hashes: true, // the ETag of a single PUT
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
		})
	}
}

// s3Log collects Debug output, to check what a log would show.
type s3Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *s3Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *s3Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *s3Log) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// checkNoSecret fails when the secret shows in err or in the log.
func checkNoSecret(t *testing.T, log *s3Log, err error) {
	t.Helper()
	for _, s := range []string{servers.S3SecretKey, "wrong-" + servers.S3SecretKey} {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error shows the secret: %v", err)
		}
		if strings.Contains(log.String(), s) {
			t.Errorf("log shows the secret:\n%s", log.String())
		}
	}
}

func TestS3Errors(t *testing.T) {
	srv := servers.StartS3(t)
	ctx := context.Background()

	t.Run("NoSuchBucket", func(t *testing.T) {
		var log s3Log
		_, err := openS3(t, "s3://no-such-bucket/site", s3Options(srv, log.logger()))
		t.Logf("error: %v", err)
		if !errors.Is(err, s3.ErrNoSuchBucket) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want s3.ErrNoSuchBucket and not fs.ErrNotExist", err)
		}
		if err == nil || !strings.Contains(err.Error(), `"no-such-bucket"`) {
			t.Errorf("error does not name the bucket: %v", err)
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			t.Errorf("error is not a *fs.PathError: %T", err)
		}
		checkNoSecret(t, &log, err)
	})

	t.Run("WrongSecret", func(t *testing.T) {
		var log s3Log
		opts := s3Options(srv, log.logger())
		opts.Password = "wrong-" + servers.S3SecretKey
		_, err := openS3(t, srv.URL, opts)
		t.Logf("error: %v", err)
		if !errors.Is(err, remote.ErrAuth) {
			t.Errorf("got %v, want remote.ErrAuth", err)
		}
		checkNoSecret(t, &log, err)
	})

	t.Run("WrongAccessKey", func(t *testing.T) {
		var log s3Log
		opts := s3Options(srv, log.logger())
		opts.User = "nobody"
		_, err := openS3(t, srv.URL, opts)
		t.Logf("error: %v", err)
		if !errors.Is(err, remote.ErrAuth) {
			t.Errorf("got %v, want remote.ErrAuth", err)
		}
		checkNoSecret(t, &log, err)
	})

	t.Run("InvalidEndpoint", func(t *testing.T) {
		for _, ep := range []string{"127.0.0.1:9", "ftp://127.0.0.1/", "http://"} {
			opts := s3Options(srv, nil)
			opts.S3Endpoint = ep
			_, err := openS3(t, srv.URL, opts)
			t.Logf("%s: %v", ep, err)
			if err == nil || !strings.Contains(err.Error(), "invalid S3 endpoint") {
				t.Errorf("endpoint %q: got %v, want an invalid endpoint error", ep, err)
			}
		}
	})

	t.Run("EndpointDown", func(t *testing.T) {
		opts := s3Options(srv, nil)
		opts.S3Endpoint = fmt.Sprintf("http://127.0.0.1:%d", servers.FreePort(t))
		_, err := openS3(t, srv.URL, opts)
		t.Logf("error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "cannot connect") || !strings.Contains(err.Error(), opts.S3Endpoint) {
			t.Errorf("got %v, want a connection error naming the endpoint", err)
		}
	})

	t.Run("EndpointNotTLS", func(t *testing.T) {
		opts := s3Options(srv, nil)
		opts.S3Endpoint = "https://" + srv.Addr
		_, err := openS3(t, srv.URL, opts)
		t.Logf("error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "TLS") {
			t.Errorf("got %v, want an error saying the endpoint does not speak TLS", err)
		}
	})

	t.Run("WrongRegion", func(t *testing.T) {
		var log s3Log
		opts := s3Options(srv, log.logger())
		opts.S3Region = "eu-west-3"
		_, err := openS3(t, srv.URL, opts)
		t.Logf("error: %v", err)
		var re *s3.RegionError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "us-east-1") {
			t.Errorf("got %v, want a *s3.RegionError that names us-east-1", err)
		}
		checkNoSecret(t, &log, err)
	})

	t.Run("DebugLog", func(t *testing.T) {
		var log s3Log
		r, err := openS3(t, srv.URL+"logged", s3Options(srv, log.logger()))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Put(ctx, "a.html", strings.NewReader("<p>hi"), 5); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Stat(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("stat missing: %v", err)
		}
		out := log.String()
		t.Logf("log:\n%s", out)
		for _, want := range []string{"method=PUT", "/logged/a.html", "status=200", "op=PutObject", "status=404"} {
			if !strings.Contains(out, want) {
				t.Errorf("debug log lacks %q", want)
			}
		}
		for _, bad := range []string{"Authorization", "Signature=", servers.S3SecretKey} {
			if strings.Contains(out, bad) {
				t.Errorf("debug log shows %q", bad)
			}
		}
	})
}

func TestS3Semantics(t *testing.T) {
	srv := servers.StartS3(t)
	ctx := context.Background()
	r, err := openS3(t, srv.URL+"sem", s3Options(srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	put := func(name, data string) {
		t.Helper()
		if err := r.Put(ctx, name, strings.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	list := func(name string) string {
		t.Helper()
		l, err := r.List(ctx, name)
		if err != nil {
			return "error: " + err.Error()
		}
		var s []string
		for _, fi := range l {
			if fi.IsDir {
				s = append(s, fi.Name+"/")
			} else {
				s = append(s, fmt.Sprintf("%s:%d", fi.Name, fi.Size))
			}
		}
		return strings.Join(s, " ")
	}

	t.Run("Dirs", func(t *testing.T) {
		if err := r.Mkdir(ctx, "a"); err != nil {
			t.Fatalf("mkdir: %v", err)
		}
		if err := r.Mkdir(ctx, "a"); err != nil {
			t.Fatalf("mkdir again: %v (S3 Mkdir always succeeds)", err)
		}
		put("a/b/c.txt", "ccc")
		put("a/d.txt", "dd")
		if got, want := list("a"), "b/ d.txt:2"; got != want {
			t.Errorf("list a = %q, want %q", got, want)
		}
		if fi, err := r.Stat(ctx, "a/b"); err != nil || !fi.IsDir {
			t.Errorf("stat a/b = %+v, %v; want a directory", fi, err)
		}
		if _, err := r.List(ctx, "nothing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("list of an empty prefix: %v, want fs.ErrNotExist", err)
		}
		if err := r.Remove(ctx, "a/b/c.txt"); err != nil {
			t.Fatal(err)
		}
		if err := r.Rmdir(ctx, "a/b"); err != nil {
			t.Errorf("rmdir: %v", err)
		}
		if got, want := list("a"), "d.txt:2"; got != want {
			t.Errorf("after removing its last file, list a = %q, want %q", got, want)
		}
		if _, err := r.Stat(ctx, "a/b"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat of an emptied prefix: %v, want fs.ErrNotExist", err)
		}
		if _, err := os.Stat(filepath.Join(srv.Root, "sem", "a", "b")); err == nil {
			t.Logf("versitygw keeps the emptied directory a/b on disk")
		}
	})

	t.Run("RemoveAll", func(t *testing.T) {
		ra, ok := r.(interface {
			RemoveAll(ctx context.Context, names []string) error
		})
		if !ok {
			t.Fatal("the S3 remote has no RemoveAll")
		}
		var names []string
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := 0; i < s3.MaxDeleteBatch+7; i++ {
			name := fmt.Sprintf("many/f%04d", i)
			names = append(names, name)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := r.Put(ctx, name, strings.NewReader("x"), 1); err != nil {
					t.Errorf("put: %v", err)
				}
			}()
		}
		wg.Wait()
		put("many/keep", "k")
		if err := ra.RemoveAll(ctx, append(names, "many/never-was")); err != nil {
			t.Fatalf("remove all: %v", err)
		}
		if got, want := list("many"), "keep:1"; got != want {
			t.Errorf("after RemoveAll, list many = %q, want %q", got, want)
		}
	})

	t.Run("Headers", func(t *testing.T) {
		opts := s3Options(srv, nil)
		opts.CacheControl = "max-age=60"
		rc, err := openS3(t, srv.URL+"sem", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		for name, want := range map[string]string{"index.html": "text/html; charset=utf-8", "style.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"} {
			if err := rc.Put(ctx, name, strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
			h := headObject(t, srv, "sem/"+name)
			if h.Get("Content-Type") != want || h.Get("Cache-Control") != "max-age=60" {
				t.Errorf("%s: Content-Type %q Cache-Control %q, want %q and max-age=60", name, h.Get("Content-Type"), h.Get("Cache-Control"), want)
			}
		}
	})

	t.Run("StreamUnknownSize", func(t *testing.T) {
		data := remotetest.Content(42, 11<<20+5)
		// A reader that is neither seekable nor sized, as a git blob is.
		src := io.MultiReader(bytes.NewReader(data[:1000]), bytes.NewReader(data[1000:]))
		if err := r.Put(ctx, "stream.bin", src, -1); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(srv.Root, "sem", "stream.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("server copy: %d bytes, %v; want %d bytes", len(got), err, len(data))
		}
	})

	t.Run("RenameHardNames", func(t *testing.T) {
		for i, n := range remotetest.HardNames {
			data := remotetest.Content(int64(i), 50)
			if err := r.Put(ctx, "ren/"+n, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			if err := r.Rename(ctx, "ren/"+n, "ren/moved-"+n); err != nil {
				t.Fatalf("rename %q: %v", n, err)
			}
			got, err := os.ReadFile(filepath.Join(srv.Root, "sem", "ren", "moved-"+n))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("renamed %q: %v", n, err)
			}
		}
		if err := r.Rename(ctx, "ren/missing", "ren/x"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("rename of a missing file: %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("PutIfAbsent", func(t *testing.T) {
		pa, ok := r.(interface {
			PutIfAbsent(ctx context.Context, name string, r io.Reader) error
		})
		if !ok {
			t.Fatal("no PutIfAbsent")
		}
		if err := pa.PutIfAbsent(ctx, "lock", strings.NewReader("one")); err != nil {
			t.Fatalf("first: %v", err)
		}
		if err := pa.PutIfAbsent(ctx, "lock", strings.NewReader("two")); !errors.Is(err, fs.ErrExist) {
			t.Errorf("second: %v, want fs.ErrExist", err)
		}
		if got, _ := os.ReadFile(filepath.Join(srv.Root, "sem", "lock")); string(got) != "one" {
			t.Errorf("lock holds %q, want %q", got, "one")
		}
	})

	t.Run("RemoveVersion", func(t *testing.T) {
		v, ok := remote.As[remote.VersionRemover](r)
		if !ok {
			t.Fatal("no VersionRemover")
		}
		if err := r.Put(ctx, "ver", strings.NewReader("old"), 3); err != nil {
			t.Fatal(err)
		}
		data, old, err := v.ReadVersion(ctx, "ver", 1<<10)
		if err != nil || string(data) != "old" || old == "" {
			t.Fatalf("ReadVersion: %q, %q, %v", data, old, err)
		}
		if err := r.Put(ctx, "ver", strings.NewReader("new"), 3); err != nil {
			t.Fatal(err)
		}
		if err := v.RemoveVersion(ctx, "ver", old); !errors.Is(err, remote.ErrChanged) {
			t.Errorf("removing a version since replaced: %v, want remote.ErrChanged", err)
		}
		if got, _ := os.ReadFile(filepath.Join(srv.Root, "sem", "ver")); string(got) != "new" {
			t.Fatalf("the conditional delete of an old version left %q, want %q", got, "new")
		}
		_, cur, err := v.ReadVersion(ctx, "ver", 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.RemoveVersion(ctx, "ver", cur); err != nil {
			t.Fatalf("removing the current version: %v", err)
		}
		if _, err := os.Stat(filepath.Join(srv.Root, "sem", "ver")); !os.IsNotExist(err) {
			t.Errorf("the current version was not removed: %v", err)
		}
		// AWS answers 404; versitygw deletes nothing and answers 204.
		if err := v.RemoveVersion(ctx, "ver", cur); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("removing a gone file: %v, want nil or fs.ErrNotExist", err)
		}
	})

	t.Run("EnvCredentials", func(t *testing.T) {
		for _, kv := range srv.Env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_ENDPOINT_URL", "http://"+srv.Addr)
		u, err := remote.ParseURL(srv.URL + "sem")
		if err != nil {
			t.Fatal(err)
		}
		re, err := remote.Open(ctx, u, remote.Options{S3PathStyle: true})
		if err != nil {
			t.Fatalf("open with credentials and endpoint from the environment: %v", err)
		}
		defer re.Close()
		if _, err := re.Stat(ctx, "a/d.txt"); err != nil {
			t.Errorf("stat: %v", err)
		}
	})
}

// headObject asks versitygw for an object's headers with a client of the
// test's own, so that the test does not trust the code under test.
func headObject(t *testing.T, srv *servers.Server, key string) http.Header {
	t.Helper()
	client := awss3.New(awss3.Options{
		Region:                     servers.S3Region,
		BaseEndpoint:               aws.String("http://" + srv.Addr),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(servers.S3AccessKey, servers.S3SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	h := http.Header{}
	_, err := client.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String(servers.S3Bucket), Key: aws.String(key)},
		func(o *awss3.Options) {
			o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
				return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("grab", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
						h = resp.Header.Clone()
					}
					return out, md, err
				}), middleware.After)
			})
		})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return h
}

// TestS3PublishDumbClone publishes a repository's dumb-HTTP layout into the
// bucket, serves the bucket's directory over HTTP, and clones it with git:
// the "publish-dumb to S3 works the same as to any other target".
func TestS3PublishDumbClone(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	srv := servers.StartS3(t)
	ctx := context.Background()
	src := gittest.New(t)
	src.Write("README", []byte("hello\n"))
	src.Write("site/index.html", []byte("<p>one</p>\n"))
	src.Commit("one")
	src.Git("tag", "-a", "-m", "first", "v1")

	r, err := openS3(t, srv.URL+"project.git", s3Options(srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := dumbhttp.Publish(ctx, src.Dir, r, dumbhttp.Options{Jobs: 4}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	web := httptest.NewServer(http.FileServer(http.Dir(srv.Root)))
	defer web.Close()

	clone := func(want string) {
		t.Helper()
		dst := filepath.Join(t.TempDir(), "clone")
		cmd := exec.Command("git", "clone", "-q", web.URL+"/project.git", dst)
		cmd.Env = gittest.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		cmd = exec.Command("git", "rev-parse", "HEAD")
		cmd.Dir = dst
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Fatalf("clone HEAD = %q, %v; want %s", out, err, want)
		}
		cmd = exec.Command("git", "fsck", "--full", "--strict")
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git fsck: %v\n%s", err, out)
		}
	}
	clone(src.Git("rev-parse", "HEAD"))

	// An incremental publish: one more commit, cloned again.
	src.Write("site/index.html", []byte("<p>two</p>\n"))
	src.Commit("two")
	res, err := dumbhttp.Publish(ctx, src.Dir, r, dumbhttp.Options{Jobs: 4})
	if err != nil {
		t.Fatalf("second publish: %v", err)
	}
	if res.UpToDate || res.NewObjects == 0 {
		t.Errorf("second publish uploaded nothing: %+v", res)
	}
	clone(src.Git("rev-parse", "HEAD"))
}

// TestS3CLI runs the gftp binary against versitygw with -vv, and with the
// mistakes users make, and checks what a person sees: the protocol dialogue
// without the secret, and errors that say what is wrong.
func TestS3CLI(t *testing.T) {
	srv := servers.StartS3(t)
	g := gittest.New(t)
	g.Write("index.html", []byte("<h1>hi</h1>"))
	g.Write("css/site.css", []byte("body{}"))
	// More than one part: a multipart upload, which reads the size of a
	// seekable body by seeking (the executor's content can seek, so that
	// the retry decorator can replay it).
	big := remotetest.Content(7, 6<<20+3)
	g.Write("big.bin", big)
	g.Commit("one")

	r := mustGftp(t, srv, g.Dir, "init", "-vv", srv.URL+"cli")
	if got, err := os.ReadFile(filepath.Join(srv.Root, "cli", "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Errorf("big.bin on the server: %d bytes, %v; want %d bytes", len(got), err, len(big))
	}
	for _, want := range []string{"s3 request", "PutObject", "/cli/css/site.css", "status=200"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-vv output lacks %q:\n%s", want, r.stderr)
		}
	}
	if got, err := os.ReadFile(filepath.Join(srv.Root, "cli", "index.html")); err != nil || string(got) != "<h1>hi</h1>" {
		t.Errorf("index.html on the server: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(srv.Root, "cli", ".git-ftp.log")); err != nil {
		t.Errorf("no marker object: %v", err)
	}

	bad := *srv
	bad.Password = "wrong-" + srv.Password
	bad.Env = nil
	for _, kv := range srv.Env {
		if strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			kv = "AWS_SECRET_ACCESS_KEY=" + bad.Password
		}
		bad.Env = append(bad.Env, kv)
	}
	for _, tc := range []struct {
		name string
		srv  *servers.Server
		url  string
		want string
	}{
		{"WrongSecret", &bad, srv.URL + "cli", "rejected the credentials"},
		{"NoSuchBucket", srv, "s3://no-such-bucket/", `bucket "no-such-bucket" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gftp(t, tc.srv, g.Dir, "push", "-vv", tc.url)
			if r.code == 0 {
				t.Fatalf("push succeeded:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, r.stderr)
			}
			for _, secret := range []string{srv.Password, bad.Password} {
				if strings.Contains(r.stderr+r.stdout, secret) {
					t.Errorf("the secret shows in the output:\n%s", r.stderr)
				}
			}
		})
	}
}

func TestS3TLS(t *testing.T) {
	srv := servers.StartS3(t, servers.WithS3TLS())
	ctx := context.Background()
	if !strings.HasPrefix(s3Endpoint(srv), "https://") {
		t.Fatalf("endpoint %q is not https", s3Endpoint(srv))
	}
	use := func(t *testing.T, opts remote.Options) error {
		t.Helper()
		r, err := openS3(t, srv.URL+"tls", opts)
		if err != nil {
			return err
		}
		defer r.Close()
		return r.Put(ctx, "f.txt", strings.NewReader("x"), 1)
	}

	t.Run("CACert", func(t *testing.T) {
		if err := use(t, s3Options(srv, nil)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Untrusted", func(t *testing.T) {
		opts := s3Options(srv, nil)
		opts.CACert = ""
		err := use(t, opts)
		t.Logf("error: %v", err)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) || !strings.Contains(err.Error(), "not trusted") {
			t.Errorf("got %v, want a certificate error found by errors.As", err)
		}
	})
	t.Run("Insecure", func(t *testing.T) {
		opts := s3Options(srv, nil)
		opts.CACert, opts.Insecure = "", true
		if err := use(t, opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Pin", func(t *testing.T) {
		conn, err := tls.Dial("tcp", srv.Addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
		conn.Close()
		opts := s3Options(srv, nil)
		opts.CACert = ""
		opts.PinSHA256 = []string{hex.EncodeToString(sum[:])}
		if err := use(t, opts); err != nil {
			t.Fatalf("pinned: %v", err)
		}
		// Another pin adds no trust: the certificate is verified as
		// usual, and no CA vouches for it here.
		opts.PinSHA256 = []string{strings.Repeat("00", 32)}
		err = use(t, opts)
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) || !strings.Contains(err.Error(), "not trusted") {
			t.Errorf("wrong pin: %v, want the certificate untrusted (unknown authority)", err)
		}
	})
}
