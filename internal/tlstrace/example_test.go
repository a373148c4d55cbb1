package tlstrace_test

import (
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/gftp/gftp/internal/tlstrace"
)

// A control connection after "234" to AUTH TLS: the handshake is logged at
// Debug, the way curl -v shows it, then a data connection says whether it
// resumed the control connection's session.
func Example() {
	log := slog.Default()
	debug := func(line string) { log.Debug(line) }
	cfg := &tls.Config{ServerName: "ftp.example.com", ClientSessionCache: tls.NewLRUClientSessionCache(4)}

	raw, err := net.Dial("tcp", "ftp.example.com:21")
	if err != nil {
		return
	}
	// ... read the banner, send AUTH TLS, read 234 ...
	ctl, _, err := tlstrace.Handshake(raw, cfg, debug, "")
	if err != nil {
		return // the log already says why, and names a certificate's fault
	}
	defer ctl.Close()

	dataRaw, err := net.Dial("tcp", "ftp.example.com:50000") // from EPSV
	if err != nil {
		return
	}
	tr := tlstrace.New(debug)
	data := tls.Client(tr.Conn(dataRaw), tr.Config(cfg))
	if err := data.Handshake(); err == nil {
		_, line := tlstrace.Resumption(data.ConnectionState())
		debug(line) // "* SSL session resumed (TLSv1.3)"
	}
}
