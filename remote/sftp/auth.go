package sftp

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/gftp/gftp/remote"
)

// defaultKeys are the identity files OpenSSH 9 tries when no -i is given, in
// its order (ssh(1), -i). Security-key (_sk) identities need the hardware
// token and are not supported.
var defaultKeys = []string{"id_rsa", "id_ecdsa", "id_ed25519", "id_dsa"}

// authState records which credential the handshake used last, so that the
// method that succeeded can be logged. Go's client stops at the first success,
// so the last one used is the one that worked.
type authState struct {
	mu   sync.Mutex
	last string
}

func (a *authState) used(what string) {
	a.mu.Lock()
	a.last = what
	a.mu.Unlock()
}

func (a *authState) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// credentials gathers the authentication methods in the order gftp offers
// them: an explicit key file first, then the password (when one was given,
// the user meant it, and offering every agent key first would burn through
// sshd's MaxAuthTries), then the agent's keys, then the default ~/.ssh keys.
type credentials struct {
	methods []ssh.AuthMethod
	state   *authState
	closers []io.Closer // agent connections, closed after the handshake
}

func (c *credentials) Close() {
	for _, cl := range c.closers {
		cl.Close()
	}
}

// namedSigner is a key and what to call it in the log.
type namedSigner struct {
	ssh.Signer
	what string
}

// keyFiles are the private keys read from files, loaded once per Remote so
// that a reconnection does not ask for a passphrase again.
type keyFiles struct {
	explicit []namedSigner // --key
	defaults []namedSigner // ~/.ssh/id_*
}

func loadKeyFiles(opts remote.Options) (*keyFiles, error) {
	k := &keyFiles{}
	if opts.KeyFile != "" {
		s, err := loadKey(opts.KeyFile, opts.KeyPassphrase, true)
		if err != nil {
			return nil, err
		}
		k.explicit = append(k.explicit, namedSigner{s, "publickey " + opts.KeyFile})
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, name := range defaultKeys {
			file := filepath.Join(home, ".ssh", name)
			if _, err := os.Stat(file); err != nil {
				continue
			}
			s, err := loadKey(file, opts.KeyPassphrase, false)
			if err != nil {
				opts.Logger.Debug("skip default key", "file", file, "err", err)
				continue
			}
			k.defaults = append(k.defaults, namedSigner{s, "publickey " + file})
		}
	}
	return k, nil
}

// newCredentials builds the auth methods for one connection; the agent is
// asked afresh each time, since its keys may have changed.
func newCredentials(password string, opts remote.Options, files *keyFiles) (*credentials, error) {
	c := &credentials{state: &authState{}}
	log := opts.Logger

	var signers []ssh.Signer
	seen := map[string]bool{}
	add := func(s ssh.Signer, what string) {
		k := string(s.PublicKey().Marshal())
		if seen[k] {
			return
		}
		seen[k] = true
		signers = append(signers, &recordingSigner{Signer: s, what: what, state: c.state})
	}

	for _, s := range files.explicit {
		add(s.Signer, s.what)
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			log.Debug("ssh-agent unreachable", "socket", sock, "err", err)
		} else {
			c.closers = append(c.closers, conn)
			ag := agent.NewClient(conn)
			list, err := ag.Signers()
			if err != nil {
				log.Debug("ssh-agent list keys", "err", err)
			}
			for _, s := range list {
				comment := ""
				if k, ok := s.PublicKey().(*agent.Key); ok {
					comment = k.Comment
				}
				add(s, "publickey from ssh-agent "+strings.TrimSpace(comment+" "+ssh.FingerprintSHA256(s.PublicKey())))
			}
		}
	}
	for _, s := range files.defaults {
		add(s.Signer, s.what)
	}

	var pwMethods []ssh.AuthMethod
	if password != "" {
		pwMethods = append(pwMethods,
			ssh.PasswordCallback(func() (string, error) {
				c.state.used("password")
				return password, nil
			}),
			ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
				c.state.used("keyboard-interactive")
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] {
						answers[i] = password
					}
				}
				return answers, nil
			}))
	}
	keys := ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return signers, nil })
	switch {
	case opts.KeyFile != "":
		c.methods = append([]ssh.AuthMethod{keys}, pwMethods...)
	case password != "":
		c.methods = append(pwMethods, keys)
	default:
		c.methods = []ssh.AuthMethod{keys}
	}
	return c, nil
}

// recordingSigner notes its use in authState.
type recordingSigner struct {
	ssh.Signer
	what  string
	state *authState
}

func (s *recordingSigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	s.state.used(s.what)
	return s.Signer.Sign(rand, data)
}

func (s *recordingSigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s.state.used(s.what)
	if as, ok := s.Signer.(ssh.AlgorithmSigner); ok {
		return as.SignWithAlgorithm(rand, data, algorithm)
	}
	return s.Signer.Sign(rand, data)
}

// Algorithms lets RSA keys sign with rsa-sha2-256/512, which OpenSSH 8.8+
// requires; a signer that is not an AlgorithmSigner only gets ssh-rsa (SHA-1).
func (s *recordingSigner) Algorithms() []string {
	if ms, ok := s.Signer.(ssh.MultiAlgorithmSigner); ok {
		return ms.Algorithms()
	}
	if _, ok := s.Signer.(ssh.AlgorithmSigner); ok {
		if s.PublicKey().Type() == ssh.KeyAlgoRSA {
			return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
	}
	return []string{s.PublicKey().Type()}
}

// loadKey reads a private key. An encrypted key whose public half is known
// (OpenSSH's format stores it in clear, or FILE.pub exists) is decrypted only
// when the server accepts that public key, as OpenSSH does: the passphrase is
// asked for only when it is needed. explicit keys must load; default keys
// that cannot are skipped by the caller.
func loadKey(file string, passphrase func() ([]byte, error), explicit bool) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read key: %v", err) // not fs.ErrNotExist: that is about remote names
	}
	s, err := ssh.ParsePrivateKey(pem)
	if err == nil {
		return s, nil
	}
	var pm *ssh.PassphraseMissingError
	if !errors.As(err, &pm) {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	if passphrase == nil && !explicit {
		return nil, fmt.Errorf("key %s is encrypted and no passphrase source was given", file)
	}
	pub := pm.PublicKey
	if pub == nil {
		if b, err := os.ReadFile(file + ".pub"); err == nil {
			pub, _, _, _, _ = ssh.ParseAuthorizedKey(b)
		}
	}
	ls := &lazySigner{file: file, pem: pem, passphrase: passphrase}
	if pub == nil {
		// No way to know the public key without decrypting.
		if err := ls.decrypt(); err != nil {
			return nil, err
		}
		return ls.signer, nil
	}
	ls.pub = pub
	return ls, nil
}

// ErrPassphrase is wrapped (with remote.ErrAuth) when an encrypted key cannot
// be decrypted: no passphrase source, or the wrong passphrase.
var ErrPassphrase = errors.New("cannot decrypt private key")

// lazySigner decrypts an encrypted key on first use.
type lazySigner struct {
	file       string
	pem        []byte
	pub        ssh.PublicKey
	passphrase func() ([]byte, error)

	once   sync.Once
	signer ssh.Signer
	err    error
}

func (l *lazySigner) decrypt() error {
	l.once.Do(func() {
		if l.passphrase == nil {
			l.err = fmt.Errorf("key %s is encrypted and no passphrase was given: %w: %w", l.file, ErrPassphrase, remote.ErrAuth)
			return
		}
		pw, err := l.passphrase()
		if err != nil {
			l.err = fmt.Errorf("passphrase for %s: %w: %w", l.file, err, remote.ErrAuth)
			return
		}
		defer clear(pw)
		s, err := ssh.ParsePrivateKeyWithPassphrase(l.pem, pw)
		if errors.Is(err, x509.IncorrectPasswordError) {
			l.err = fmt.Errorf("key %s: wrong passphrase: %w: %w", l.file, ErrPassphrase, remote.ErrAuth)
			return
		}
		if err != nil {
			l.err = fmt.Errorf("key %s: %w", l.file, err)
			return
		}
		if l.pub != nil && !bytes.Equal(s.PublicKey().Marshal(), l.pub.Marshal()) {
			l.err = fmt.Errorf("key %s does not match its public key", l.file)
			return
		}
		l.signer = s
	})
	return l.err
}

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.pub }

func (l *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	if err := l.decrypt(); err != nil {
		return nil, err
	}
	return l.signer.Sign(rand, data)
}

func (l *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	if err := l.decrypt(); err != nil {
		return nil, err
	}
	if as, ok := l.signer.(ssh.AlgorithmSigner); ok {
		return as.SignWithAlgorithm(rand, data, algorithm)
	}
	return l.signer.Sign(rand, data)
}
