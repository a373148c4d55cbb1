package ftp

import (
	"crypto/tls"
	"testing"
)

// TestVerifyResumed: a full handshake without a certificate fails verify;
// a resumed one (a data connection resuming its control connection's
// session, verified when it was made) is not verified again.
func TestVerifyResumed(t *testing.T) {
	p := &tlsPolicy{serverName: "127.0.0.1"}
	if err := p.verify(tls.ConnectionState{}); err == nil {
		t.Error("a full handshake with no certificate passed verify")
	}
	if err := p.verify(tls.ConnectionState{DidResume: true}); err != nil {
		t.Errorf("a resumed handshake was verified again: %v", err)
	}
}
