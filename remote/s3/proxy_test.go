package s3

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gftp/gftp/internal/proxy/proxytest"
)

// s3Host is the endpoint's name: only the test proxy resolves it (Go never
// looks up .onion names, RFC 7686), so a request that bypassed the proxy
// would fail instead of reaching the fake.
const s3Host = "s3.gftp-test.onion"

// proxiedFake is a fake S3 endpoint under s3Host and a proxy of kind that
// knows the name.
func proxiedFake(t *testing.T, kind proxytest.Kind) (*fake, *proxytest.Server, string) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusTeapot) // the probe's empty listing
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "http://"))
	p := proxytest.Start(t, kind, "u", "proxy-secret")
	p.Hosts[s3Host] = "127.0.0.1"
	return f, p, "http://" + net.JoinHostPort(s3Host, port)
}

// TestProxyOption: Options.Proxy carries every request, through either
// kind of proxy, and wins over HTTP_PROXY (as curl's -x does).
func TestProxyOption(t *testing.T) {
	hermetic(t)
	for _, tc := range []struct {
		kind   proxytest.Kind
		scheme string
	}{{proxytest.SOCKS5, "socks5h"}, {proxytest.HTTP, "http"}} {
		t.Run(tc.scheme, func(t *testing.T) {
			f, p, endpoint := proxiedFake(t, tc.kind)
			t.Setenv("HTTP_PROXY", "http://127.0.0.1:1") // nothing listens: must not be used
			opts := f.options(nil)
			opts.S3Endpoint = endpoint
			opts.Proxy = p.URL(tc.scheme)
			r, err := open(t, "s3://b/", opts)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer r.Close()
			if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
				t.Fatalf("put: %v", err)
			}
			got := p.Targets()
			if len(got) == 0 {
				t.Fatal("nothing went through the proxy")
			}
			for _, tgt := range got {
				if !strings.HasPrefix(tgt, s3Host+":") {
					t.Errorf("the proxy connected to %s", tgt)
				}
			}
		})
	}
}

// TestProxyFromEnvironment: without Options.Proxy, HTTP_PROXY applies (the
// SDK's transport reads it). net/http reads the environment once per
// process, so the check runs in a child process.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("GFTP_S3_PROXY_CHILD") == "1" {
		hermetic(t)
		opts := (&fake{srv: &httptest.Server{URL: os.Getenv("GFTP_S3_CHILD_ENDPOINT")}}).options(nil)
		r, err := open(t, "s3://b/", opts)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if err := r.Put(context.Background(), "f", strings.NewReader("x"), 1); err != nil {
			t.Fatalf("put: %v", err)
		}
		r.Close()
		return
	}
	_, p, endpoint := proxiedFake(t, proxytest.SOCKS5)
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GFTP_S3_PROXY_CHILD=1", "GFTP_S3_CHILD_ENDPOINT="+endpoint,
		"HTTP_PROXY="+p.URL("socks5h"), "NO_PROXY=", "no_proxy=", "http_proxy=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if len(p.Targets()) == 0 {
		t.Fatalf("HTTP_PROXY was not used\n%s", out)
	}
}
