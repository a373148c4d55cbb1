package ftpconn

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// connConfig returns a clone of tmpl for one control connection and its data
// connections. It has its own session cache and ServerName, even for an IP
// address and with --insecure: Go resumes a session only when both are set,
// and vsftpd (require_ssl_reuse=YES) answers 522 to a data connection that
// does not resume the control session. The cache is not shared between
// control connections, because proftpd answers 425 to a data connection that
// resumes another control connection's session.
//
// When an earlier connection to addr in this process learnt the key
// exchange group the server picks, the ClientHello offers that group's key
// share: vsftpd's OpenSSL takes P-256 only, and a ClientHello with Go's
// default shares (X25519MLKEM768, X25519) costs a HelloRetryRequest, a round
// trip and an ML-KEM key generation for nothing. crypto/tls ignores the
// order of CurvePreferences (since Go 1.24) and sends the share of the first
// group in its own order, so the groups it prefers to the learnt one are
// left out; the ones after it stay on offer, because what was learnt may be
// stale (another server on addr now: a restart, or a test that reuses a
// port). A handshake that fails forgets what was learnt.
func connConfig(tmpl *tls.Config, addr string) *tls.Config {
	c := tmpl.Clone()
	c.ClientSessionCache = keepSessions{tls.NewLRUClientSessionCache(4)}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		c.ServerName = host
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	if g, ok := groups.Load(addr); ok && c.CurvePreferences == nil {
		c.CurvePreferences = learntFirst(g.(tls.CurveID))
	}
	return c
}

// defaultGroups are the groups crypto/tls offers by default, in the fixed
// order in which it prefers them.
var defaultGroups = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}

// learntFirst is g and the default groups crypto/tls ranks below it, so that
// g comes first: crypto/tls sends the key share of the first group only (and
// X25519's with X25519MLKEM768).
func learntFirst(g tls.CurveID) []tls.CurveID {
	for i, d := range defaultGroups {
		if d == g {
			return append([]tls.CurveID(nil), defaultGroups[i:]...)
		}
	}
	return []tls.CurveID{g}
}

// forgetGroup drops what was learnt for addr after a failed handshake.
func forgetGroup(addr string) { groups.Delete(addr) }

// groups remembers, per host:port, the key exchange group the server chose
// for a TLS 1.3 control connection.
var groups sync.Map

// rememberGroup keeps the group a TLS 1.3 server chose, for the next control
// connections to addr.
func rememberGroup(addr string, cs tls.ConnectionState) {
	if cs.Version == tls.VersionTLS13 && cs.CurveID != 0 {
		groups.Store(addr, cs.CurveID)
	}
}

// dataConfig is the tls.Config of a control connection's data connections:
// the control connection's own (they resume its session, which lives in its
// cache), narrowed to what the control handshake settled.
//
//   - Over TLS 1.2 it is held to TLS 1.2. A ClientHello that offers TLS 1.3
//     carries fresh key shares, ML-KEM among them, which cost more CPU than
//     the rest of a resumed TLS 1.2 handshake (a quarter of gftp's CPU for
//     2,000 small files, profiled); a TLS 1.2 session cannot use them.
//   - Over TLS 1.3 it offers the one group the server chose for the control
//     connection, so that a server with one group (vsftpd: P-256) does not
//     answer each data connection with a HelloRetryRequest. A resumption
//     still needs a key share (psk_dhe_ke), and vsftpd refuses one whose
//     share it did not expect ("no suitable key share"), so the share stays,
//     of the right group.
//
// Records are full-sized from the start: crypto/tls otherwise starts a
// connection with records of one TCP segment and grows them, which is for
// a browser's first paint; a 4 KiB file went in three records, each sealed
// and framed on its own.
func dataConfig(ctl *tls.Config, cs tls.ConnectionState) *tls.Config {
	c := ctl.Clone()
	c.ClientSessionCache = ctl.ClientSessionCache // Clone shares it; say so
	c.DynamicRecordSizingDisabled = true
	switch {
	case cs.Version == tls.VersionTLS12:
		c.MaxVersion = tls.VersionTLS12
	case cs.Version == tls.VersionTLS13 && cs.CurveID != 0:
		c.MinVersion = tls.VersionTLS13
		c.CurvePreferences = []tls.CurveID{cs.CurveID}
	}
	return c
}

// keepResumable lets data connections resume the control session when the
// server's certificate has expired and was accepted anyway (--insecure or a
// pin). crypto/tls refuses to resume a session whose certificate has expired,
// whatever InsecureSkipVerify says, and then vsftpd (require_ssl_reuse, its
// default) answers 522 and proftpd 425 to every transfer. Config.Time is used
// only for session bookkeeping here, since verification reads the real
// clock, so this connection's TLS clock is moved back to just before the
// expiry.
func keepResumable(cfg *tls.Config, cs tls.ConnectionState) (shift time.Duration) {
	if len(cs.PeerCertificates) == 0 {
		return 0
	}
	notAfter := cs.PeerCertificates[0].NotAfter
	now := time.Now()
	if !now.After(notAfter) {
		return 0
	}
	shift = now.Sub(notAfter) + time.Hour
	if d := cs.PeerCertificates[0].NotAfter.Sub(cs.PeerCertificates[0].NotBefore); d < 2*time.Hour {
		shift = now.Sub(notAfter) + d/2
	}
	cfg.Time = func() time.Time { return time.Now().Add(-shift) }
	return shift
}

// keepSessions is a session cache that never forgets. crypto/tls drops the
// cached session when a handshake that tried to resume it fails (RFC 5077
// section 3.2); a data connection's handshake fails whenever the server
// refuses the command it was for (a RETR of a missing file, a STOR into a
// missing directory), because the handshake starts with the command.
// Forgetting the control connection's session then makes every later data
// connection on it fail to resume, which vsftpd answers with 522 and a
// dropped connection. The session stays good as long as its control
// connection lives, and each control connection has its own cache.
type keepSessions struct{ tls.ClientSessionCache }

func (k keepSessions) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		k.ClientSessionCache.Put(key, cs)
	}
}
