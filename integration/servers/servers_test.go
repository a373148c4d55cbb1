package servers

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// curlURL is the URL curl wants for path on s: curl spells explicit TLS as
// ftp:// with --ssl-reqd.
func curlURL(s *Server, kind Kind, path string) (string, []string) {
	args := []string{"-sS", "--user", s.User + ":" + s.Password, "--max-time", "30"}
	if s.CACert != "" {
		args = append(args, "--cacert", s.CACert)
	}
	if strings.HasPrefix(string(kind), "vsftpd") && kind.TLS() {
		// vsftpd over TLS 1.3 sends session tickets on the data connection;
		// curl never reads them, so its close after an upload is a TCP RST
		// and vsftpd answers 426 (the quirk STYLE.md describes). The Go
		// client test covers TLS 1.3; curl checks the rest.
		args = append(args, "--tls-max", "1.2")
	}
	switch kind.Scheme() {
	case "ftpes":
		args = append(args, "--ssl-reqd")
		return "ftp://" + s.Addr + path, args
	case "ftps":
		return "ftps://" + s.Addr + path, args
	}
	return "ftp://" + s.Addr + path, args
}

// TestCurl uploads and downloads a file with curl, a client nobody here
// wrote, through every kind of server.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		Unavailable(t, "curl not found", "apt-get install curl")
	}
	for _, kind := range FTPKinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, kind)
			data := make([]byte, 300<<10)
			rand.Read(data)
			src := filepath.Join(t.TempDir(), "src")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			u, args := curlURL(s, kind, "/dir/up load.bin")
			up := exec.Command("curl", append(args, "--ftp-create-dirs", "-T", src, strings.ReplaceAll(u, " ", "%20"))...)
			if out, err := up.CombinedOutput(); err != nil {
				t.Fatalf("curl upload: %v\n%s", err, out)
			}
			got, err := os.ReadFile(filepath.Join(s.Root, "dir", "up load.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("uploaded file in Root: %d bytes, err %v; want %d bytes", len(got), err, len(data))
			}
			down := exec.Command("curl", append(args, strings.ReplaceAll(u, " ", "%20"))...)
			var stderr bytes.Buffer
			down.Stderr = &stderr
			got, err = down.Output()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("curl download: %d bytes, err %v\n%s", len(got), err, stderr.Bytes())
			}
		})
	}
}
