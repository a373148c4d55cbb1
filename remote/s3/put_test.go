package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPutSignsPayloadHash: a small Put carries one payload checksum, the
// SHA-256 of its bytes, in the signed x-amz-content-sha256 header (the
// server compares it with what it received), with the object's headers
// signed too; and an empty file is sent as an empty object.
func TestPutSignsPayloadHash(t *testing.T) {
	hermetic(t)
	type seen struct {
		path, hash, ctype, cache, auth, length string
		body                                   []byte
	}
	var mu sync.Mutex
	var got []seen
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPut {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, seen{r.URL.EscapedPath(), r.Header.Get("X-Amz-Content-Sha256"), r.Header.Get("Content-Type"),
				r.Header.Get("Cache-Control"), r.Header.Get("Authorization"), r.Header.Get("Content-Length"), b})
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	})
	opts := f.options(nil)
	opts.CacheControl = "max-age=60"
	r, err := open(t, "s3://b/site", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.direct == nil {
		t.Fatal("a Put to a plain bucket goes through the SDK's middleware")
	}
	data := bytes.Repeat([]byte("abc"), 1500)
	if err := r.Put(context.Background(), "a b/index.html", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := r.Put(context.Background(), "empty.txt", strings.NewReader(""), 0); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d PUTs, want 2", len(got))
	}
	sum := sha256.Sum256(data)
	g := got[0]
	if g.path != "/b/site/a%20b/index.html" || !bytes.Equal(g.body, data) || g.hash != hex.EncodeToString(sum[:]) ||
		g.ctype != "text/html; charset=utf-8" || g.cache != "max-age=60" {
		t.Errorf("PUT %s: %d bytes, x-amz-content-sha256 %q, Content-Type %q, Cache-Control %q", g.path, len(g.body), g.hash, g.ctype, g.cache)
	}
	for _, h := range []string{"cache-control", "content-type", "host", "x-amz-content-sha256", "x-amz-date"} {
		if !strings.Contains(g.auth, h) {
			t.Errorf("%s is not signed: %s", h, g.auth)
		}
	}
	empty := sha256.Sum256(nil)
	if g := got[1]; g.path != "/b/site/empty.txt" || len(g.body) != 0 || g.length != "0" || g.hash != hex.EncodeToString(empty[:]) {
		t.Errorf("empty file: PUT %s, %d bytes, Content-Length %q, hash %q", g.path, len(g.body), g.length, g.hash)
	}
}

// TestPutAllocations: a 4 KiB Put costs few allocations, the fake server's
// included: about 160 sent directly, about 510 through the SDK's
// PutObject, whose middleware stack is built anew for every call.
func TestPutAllocations(t *testing.T) {
	hermetic(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusTeapot)
	})
	r, err := open(t, "s3://b/", f.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data := bytes.Repeat([]byte("x"), 4096)
	n := testing.AllocsPerRun(100, func() {
		if err := r.Put(context.Background(), "d/f.html", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	})
	if n > 300 {
		t.Errorf("a 4 KiB Put allocated %.0f times, want at most 300", n)
	}
}

// TestDirectOnlyWhereSigV4Fits: S3 Express directory buckets and ARNs keep
// the SDK's signing (session auth, other signing names).
func TestDirectOnlyWhereSigV4Fits(t *testing.T) {
	hermetic(t)
	for _, b := range []string{"arn:aws:s3:us-west-2:123456789012:accesspoint/ap", "mybucket--usw2-az1--x-s3"} {
		if newDirect(nil, nil, b) != nil {
			t.Errorf("%s: sent directly", b)
		}
	}
}

// TestEndpointIgnoresKey: S3's endpoint rules give the same endpoint
// whatever the object's key, so direct resolves it once per bucket. A
// newer SDK whose rules read the key fails here.
func TestEndpointIgnoresKey(t *testing.T) {
	res := s3.NewDefaultEndpointResolverV2()
	cases := map[string]s3.EndpointParameters{
		"AWS, virtual host": {Bucket: aws.String("site-bucket"), Region: aws.String("eu-west-1")},
		"AWS, path style":   {Bucket: aws.String("site-bucket"), Region: aws.String("us-east-1"), ForcePathStyle: aws.Bool(true)},
		"FIPS, dual-stack":  {Bucket: aws.String("site-bucket"), Region: aws.String("us-west-2"), UseFIPS: aws.Bool(true), UseDualStack: aws.Bool(true)},
		"accelerate":        {Bucket: aws.String("site-bucket"), Region: aws.String("us-west-2"), Accelerate: aws.Bool(true)},
		"custom endpoint":   {Bucket: aws.String("b"), Region: aws.String("us-east-1"), Endpoint: aws.String("http://127.0.0.1:9000"), ForcePathStyle: aws.Bool(true)},
		"dotted bucket":     {Bucket: aws.String("www.example.com"), Region: aws.String("us-east-1")},
	}
	keys := []string{"k", "index.html", "a b/c#d?e%f", "-x/ünï.txt", ".git-ftp.log", strings.Repeat("long/", 200)}
	for name, p := range cases {
		var first string
		for _, k := range keys {
			p.Key = aws.String(k)
			ep, err := res.ResolveEndpoint(context.Background(), p)
			if err != nil {
				t.Fatalf("%s, key %q: %v", name, k, err)
			}
			got := fmt.Sprintf("%s %v", ep.URI.String(), ep.Headers)
			if first == "" {
				first = got
			} else if got != first {
				t.Errorf("%s: key %q resolves to %s, key %q to %s", name, keys[0], first, k, got)
			}
		}
	}
}
