package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// TestCurlStyleTLSLog: at -vv a push shows the connection and the TLS
// handshake the way curl -v does, the certificate and its verdict, the login
// with PASS masked; and SSLKEYLOGFILE receives the session keys.
func TestCurlStyleTLSLog(t *testing.T) {
	cases := []struct {
		name    string
		kind    servers.Kind
		opts    []servers.Option
		args    []string
		version string
		verdict string
	}{
		{"tls13", servers.VsftpdFTPES13, nil, nil, "TLSv1.3", "*  SSL certificate verify ok."},
		{"tls12", servers.VsftpdFTPES12, nil, nil, "TLSv1.2", "*  SSL certificate verify ok."},
		{"self-signed-insecure", servers.VsftpdFTPES13, []servers.Option{servers.WithCert(servers.CertSelfSigned)}, []string{"--insecure"}, "TLSv1.3",
			"*  SSL certificate verify result: self-signed certificate, continuing anyway (--insecure)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := servers.Start(t, tc.kind, tc.opts...)
			g := gittest.New(t)
			g.Write("index.html", []byte("one"))
			g.Commit("one")
			keylog := filepath.Join(t.TempDir(), "keys.log")
			s := *srv
			s.Env = append(append([]string{}, srv.Env...), "SSLKEYLOGFILE="+keylog)
			r := mustGftp(t, &s, g.Dir, append(append([]string{"init", "-vv"}, tc.args...), srv.URL)...)
			for _, want := range []string{
				"* Connected to 127.0.0.1 (127.0.0.1) port ",
				"> AUTH TLS",
				// The ClientHello offers TLS 1.3, and curl names it so
				// whatever the server picks.
				"* TLSv1.3 (OUT), TLS handshake, Client hello (1):",
				"* " + tc.version + " (IN), TLS handshake, Server hello (2):",
				"* SSL connection using " + tc.version + " / ",
				"* Server certificate:",
				"*  subject: ",
				"*  issuer: ",
				tc.verdict,
				"> PASS ****",
				"resumed=true",
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("-vv output lacks %q:\n%s", want, tail(r.stderr, 3000))
				}
			}
			if strings.Contains(r.stderr, srv.Password) {
				t.Errorf("the password appears in the output")
			}
			if !strings.Contains(r.stderr, "SSLKEYLOGFILE is set") {
				t.Errorf("no warning that session keys are being written")
			}
			keys, err := os.ReadFile(keylog)
			if err != nil || !strings.Contains(string(keys), "CLIENT_") {
				t.Errorf("SSLKEYLOGFILE holds no key lines: %v %q", err, keys)
			}
		})
	}
}
