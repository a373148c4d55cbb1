package ftp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/gftp/gftp/remote"
)

// Servers digest a file they hold in one of two ways:
//
//   - HASH (draft-bryan-ftpext-hash), whose FEAT line lists the algorithms
//     with the selected one starred ("HASH CRC32;MD5;SHA-1*;SHA-256"), is
//     switched with OPTS HASH and answers
//     "213 SHA-256 0-12 a9489... /path";
//   - the older XSHA256, XSHA1 and XMD5, which answer "250 A9489...", and
//     MD5 (draft-twine-ftpmd5), which answers "251 /path A9489...".
//
// proftpd's mod_digest has both; vsftpd and pure-ftpd have neither.

// hashWay is how a session asks for a digest: a command, and for HASH the
// algorithm to select first.
type hashWay struct {
	cmd  string // "HASH", "XSHA256", "XSHA1", "XMD5", "MD5"; "" for none
	algo string // the Digest's Algo
	opts string // for HASH: the name OPTS HASH selects, "" when selected
}

// hashWayFrom picks the strongest digest a FEAT reply offers.
func hashWayFrom(feats []string) hashWay {
	has := map[string]bool{}
	hashAlgos := map[string]bool{}
	selected := ""
	for _, f := range feats {
		name, args, _ := strings.Cut(f, " ")
		name = strings.ToUpper(name)
		has[name] = true
		if name != "HASH" {
			continue
		}
		for _, a := range strings.Split(args, ";") {
			a = strings.ToUpper(strings.TrimSpace(a))
			if strings.HasSuffix(a, "*") {
				a = strings.TrimSuffix(a, "*")
				selected = a
			}
			if a != "" {
				hashAlgos[a] = true
			}
		}
	}
	for _, c := range []struct{ hashName, x, algo string }{
		{"SHA-256", "XSHA256", "sha256"},
		{"SHA-1", "XSHA1", "sha1"},
		{"MD5", "XMD5", "md5"},
	} {
		if has["HASH"] && hashAlgos[c.hashName] {
			w := hashWay{cmd: "HASH", algo: c.algo}
			if selected != c.hashName {
				w.opts = c.hashName
			}
			return w
		}
		if has[c.x] {
			return hashWay{cmd: c.x, algo: c.algo}
		}
	}
	if has["MD5"] {
		return hashWay{cmd: "MD5", algo: "md5"}
	}
	return hashWay{}
}

// Hash implements remote.Hasher with the strongest digest the server
// offers.
func (r *Remote) Hash(ctx context.Context, name string) (remote.Digest, error) {
	if err := r.checkName("hash", name); err != nil {
		return remote.Digest{}, err
	}
	var d remote.Digest
	err := r.with(ctx, func(s *session) error {
		var err error
		d, err = s.hash(name)
		return err
	})
	return d, pathErr("hash", name, err)
}

func (s *session) hash(name string) (remote.Digest, error) {
	w := s.hashWay
	p := s.r.path(name)
	if w.cmd == "" {
		return remote.Digest{}, fmt.Errorf("the server has no HASH, XSHA256, XSHA1, XMD5 or MD5: %w", errors.ErrUnsupported)
	}
	if w.opts != "" {
		reps, err := s.c.Do("OPTS HASH " + w.opts)
		if err != nil {
			return remote.Digest{}, classify("OPTS", err)
		}
		if reps[0].Code != 200 {
			s.hashWay = hashWay{}
			return remote.Digest{}, fmt.Errorf("OPTS HASH %s: %s: %w", w.opts, reps[0], errors.ErrUnsupported)
		}
		s.hashWay.opts = ""
	}
	rep, err := s.c.Cmd(w.cmd + " " + p)
	if err != nil {
		return remote.Digest{}, classify(w.cmd, err)
	}
	sum, err := parseDigestReply(w.cmd, rep.Code, rep.Msg)
	if err != nil {
		return remote.Digest{}, err
	}
	return remote.Digest{Algo: w.algo, Sum: sum}, nil
}

// parseDigestReply reads the digest out of the final line of a HASH, X*
// or MD5 reply (msg is what follows the code).
func parseDigestReply(cmd string, code int, msg string) ([]byte, error) {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	f := strings.Fields(last)
	var hexSum string
	switch {
	case cmd == "HASH" && code == 213 && len(f) >= 3:
		// SHA-256 0-12 a9489... /path (the path may hold spaces)
		hexSum = f[2]
	case strings.HasPrefix(cmd, "X") && code == 250 && len(f) >= 1:
		hexSum = f[0]
	case cmd == "MD5" && code == 251 && len(f) >= 2:
		// /path a9489... (the path may hold spaces: the digest is last)
		hexSum = f[len(f)-1]
	default:
		return nil, fmt.Errorf("%s: unexpected reply %d %s", cmd, code, last)
	}
	sum, err := hex.DecodeString(hexSum)
	if err != nil || len(sum) < 16 {
		return nil, fmt.Errorf("%s: no digest in reply %d %s", cmd, code, last)
	}
	return sum, nil
}
