package sftp

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// Sentinels for host-key verification failures, so that the command can map
// them to an exit code and a hint (--accept-new-host-key, --known-hosts).
// Open returns a *HostKeyError that wraps one of them.
var (
	ErrHostKeyUnknown = errors.New("host key is not known")
	ErrHostKeyChanged = errors.New("host key has changed")
)

// HostKeyError reports a server whose host key could not be verified. It
// carries what a user needs to decide: the fingerprint to compare out of band,
// and the exact known_hosts line that would trust the key.
type HostKeyError struct {
	Host        string   // host[:port] as known_hosts names it, e.g. "[127.0.0.1]:2222"
	KeyType     string   // e.g. "ssh-ed25519"
	Fingerprint string   // "SHA256:..." as ssh-keygen -l prints it
	Line        string   // the known_hosts line for the key the server presented
	File        string   // the known_hosts file that was consulted (and would be written)
	Changed     bool     // a different key is on record: possibly an attack
	Known       []string // for a changed key, "file:line" of each entry on record
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@ "+
			"the %s host key of %s is now %s, which does not match %s. "+
			"Someone could be eavesdropping on you right now (man-in-the-middle attack), "+
			"or the host key has just been replaced. Refusing to connect. "+
			"If the change is expected, remove the old entry and add: %s",
			e.KeyType, e.Host, e.Fingerprint, strings.Join(e.Known, ", "), e.Line)
	}
	return fmt.Sprintf("host key of %s is not known: %s key fingerprint is %s; "+
		"if that is the server's key, add this line to %s: %s",
		e.Host, e.KeyType, e.Fingerprint, e.File, e.Line)
}

// Unwrap returns ErrHostKeyChanged or ErrHostKeyUnknown.
func (e *HostKeyError) Unwrap() error {
	if e.Changed {
		return ErrHostKeyChanged
	}
	return ErrHostKeyUnknown
}

// hostKeys checks the server's key against known_hosts files, the way
// OpenSSH's StrictHostKeyChecking=yes (or accept-new) does.
type hostKeys struct {
	files     []string // files consulted; the first is the one accept-new writes
	db        *knownhosts.HostKeyDB
	acceptNew bool
	insecure  bool
	onWarn    func(msg string, args ...any)

	mu   sync.Mutex
	err  *HostKeyError // what the last callback refused, for Open to return unwrapped
	seen ssh.PublicKey // the key the server presented
}

// defaultKnownHosts returns the files OpenSSH reads when none is given.
func defaultKnownHosts() []string {
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
	}
	return append(files, "/etc/ssh/ssh_known_hosts")
}

// newHostKeys loads the known_hosts files. file "" means OpenSSH's defaults
// (~/.ssh/known_hosts, then /etc/ssh/ssh_known_hosts). Missing files are
// treated as empty, as OpenSSH does.
func newHostKeys(file string, acceptNew, insecure bool) (*hostKeys, error) {
	hk := &hostKeys{acceptNew: acceptNew, insecure: insecure}
	if file != "" {
		hk.files = []string{file}
	} else {
		hk.files = defaultKnownHosts()
	}
	if err := hk.load(); err != nil {
		return nil, err
	}
	return hk, nil
}

func (hk *hostKeys) load() error {
	var present []string
	for _, f := range hk.files {
		if _, err := os.Stat(f); err == nil {
			present = append(present, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("known hosts %s: %w", f, err)
		}
	}
	hk.db = nil
	if len(present) == 0 {
		return nil
	}
	db, err := knownhosts.NewDB(present...)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	hk.db = db
	return nil
}

// algorithms returns the host key algorithms to offer so that the server
// presents a key of a type on record (skeema/knownhosts); nil means the
// library's default preference.
func (hk *hostKeys) algorithms(hostport string) []string {
	if hk.db == nil {
		return nil
	}
	return hk.db.HostKeyAlgorithms(hostport)
}

// callback implements ssh.HostKeyCallback.
func (hk *hostKeys) callback(hostname string, remoteAddr net.Addr, key ssh.PublicKey) error {
	hk.mu.Lock()
	defer hk.mu.Unlock()
	hk.seen = key
	hk.err = nil

	var err error
	if hk.db != nil {
		err = hk.db.HostKeyCallback()(hostname, remoteAddr, key)
	} else {
		err = &xknownhosts.KeyError{}
	}
	if err == nil {
		return nil
	}
	host := knownhosts.Normalize(hostname)
	herr := &HostKeyError{
		Host:        host,
		KeyType:     key.Type(),
		Fingerprint: ssh.FingerprintSHA256(key),
		Line:        knownhosts.Line([]string{hostname}, key),
		File:        hk.files[0],
	}
	var ke *xknownhosts.KeyError
	switch {
	case knownhosts.IsHostKeyChanged(err) && errors.As(err, &ke):
		herr.Changed = true
		for _, k := range ke.Want {
			herr.Known = append(herr.Known, fmt.Sprintf("%s:%d", k.Filename, k.Line))
		}
	case knownhosts.IsHostUnknown(err):
	default:
		// A revoked key, or a file that cannot be read: never accept.
		return fmt.Errorf("host key of %s: %w", host, err)
	}

	if hk.insecure {
		if hk.onWarn != nil {
			hk.onWarn("host key NOT verified (insecure)", "host", host, "type", herr.KeyType,
				"fingerprint", herr.Fingerprint, "changed", herr.Changed)
		}
		return nil
	}
	if !herr.Changed && hk.acceptNew {
		if werr := appendKnownHost(herr.File, herr.Line); werr != nil {
			return fmt.Errorf("add host key of %s to %s: %w", host, herr.File, werr)
		}
		if hk.onWarn != nil {
			hk.onWarn("permanently added host key", "host", host, "type", herr.KeyType,
				"fingerprint", herr.Fingerprint, "file", herr.File)
		}
		// Reload, so that a reconnection finds the key on record.
		_ = hk.load()
		return nil
	}
	hk.err = herr
	return herr
}

// reset forgets the last handshake, before a new one.
func (hk *hostKeys) reset() {
	hk.mu.Lock()
	hk.err, hk.seen = nil, nil
	hk.mu.Unlock()
}

// lastKey returns the key the server presented last.
func (hk *hostKeys) lastKey() ssh.PublicKey {
	hk.mu.Lock()
	defer hk.mu.Unlock()
	return hk.seen
}

// refused returns the error the last callback refused with, if any.
func (hk *hostKeys) refused() *HostKeyError {
	hk.mu.Lock()
	defer hk.mu.Unlock()
	return hk.err
}

// appendKnownHost adds line to file, creating the file (and its directory,
// mode 0700 like ~/.ssh) when needed.
func appendKnownHost(file, line string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// Start on a fresh line when the file does not end with one.
	prefix := ""
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		if b, err := readLastByte(file); err == nil && b != '\n' {
			prefix = "\n"
		}
	}
	_, err = f.WriteString(prefix + line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readLastByte(file string) (byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], fi.Size()-1); err != nil {
		return 0, err
	}
	return b[0], nil
}
