package servers

import (
	"crypto/tls"
	"testing"
	"time"
)

// TestVsftpdTLS13CarelessClose shows that VsftpdFTPES13 reproduces the
// quirk STYLE.md describes, so that a client's fix for it is tested against
// the real thing: a client that ends a TLS 1.3 upload of 1 MiB or more with
// close_notify and an immediate close, without draining the session tickets
// vsftpd sent on the data connection, resets the TCP connection, and vsftpd
// answers 426 and drops the file's tail. (TestFTP shows the careful close.)
// The race is the kernel's, so the test skips rather than fails when it does
// not reproduce.
func TestVsftpdTLS13CarelessClose(t *testing.T) {
	ca := NewCA(t)
	s := Start(t, VsftpdFTPES13, WithCA(ca))
	f, err := dialFTP(t, s, VsftpdFTPES13, clientTLS(s, ca))
	if err != nil {
		t.Fatal(err)
	}
	f.login(s)
	for i := 0; i < 3; i++ {
		open := passiveData(f)
		if code, msg := f.cmd("STOR x"); code != 150 {
			t.Fatalf("STOR: %q", msg)
		}
		c := tls.Client(open(), f.tls)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, werr := c.Write(make([]byte, 2<<20))
		c.Close() // close_notify, then close: no half-close, no drain
		code, msg := f.reply()
		if code == 426 {
			t.Logf("careless close: %d %q (write error %v)", code, msg, werr)
			return
		}
	}
	t.Skip("vsftpd accepted three carelessly closed TLS 1.3 uploads; the quirk did not reproduce here")
}
