package servers

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// flagValue returns the argument after flag in s.Flags.
func flagValue(s *Server, flag string) string {
	for i, f := range s.Flags {
		if f == flag && i+1 < len(s.Flags) {
			return s.Flags[i+1]
		}
	}
	return ""
}

// TestSSHD logs in to each variant with x/crypto/ssh alone, checking the
// host key against the harness's known_hosts, and opens the sftp subsystem:
// the harness works before gftp's transport is asked to.
func TestSSHD(t *testing.T) {
	for _, a := range SSHAuths() {
		t.Run(string(a), func(t *testing.T) {
			s := StartSSHD(t, WithSSHAuth(a))
			hk, err := knownhosts.New(flagValue(s, "--known-hosts"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := &ssh.ClientConfig{User: s.User, HostKeyCallback: hk}
			switch a {
			case SSHAuthPassword:
				cfg.Auth = []ssh.AuthMethod{ssh.Password(s.Password)}
			case SSHAuthEd25519, SSHAuthRSA:
				b, err := os.ReadFile(flagValue(s, "--key"))
				if err != nil {
					t.Fatal(err)
				}
				signer, err := ssh.ParsePrivateKey(b)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
			case SSHAuthAgent:
				if len(s.Env) != 1 || !strings.HasPrefix(s.Env[0], "SSH_AUTH_SOCK=") {
					t.Fatalf("Env = %q", s.Env)
				}
				conn, err := net.Dial("unix", strings.TrimPrefix(s.Env[0], "SSH_AUTH_SOCK="))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				cfg.Auth = []ssh.AuthMethod{ssh.PublicKeysCallback(agent.NewClient(conn).Signers)}
			}
			c, err := ssh.Dial("tcp", s.Addr, cfg)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			defer c.Close()
			sess, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			if err := sess.RequestSubsystem("sftp"); err != nil {
				t.Fatalf("sftp subsystem: %v", err)
			}
			if !strings.HasSuffix(s.URL, filepath.ToSlash(s.Root)) || !strings.HasPrefix(s.URL, "sftp://"+SSHUser+"@127.0.0.1:") {
				t.Errorf("URL %q does not name Root %q", s.URL, s.Root)
			}
		})
	}
}

// A wrong password is refused, and a key that is not handed out for the
// password variant is still refused when not authorized.
func TestSSHDRefusesWrongPassword(t *testing.T) {
	s := StartSSHD(t)
	hk, err := knownhosts.New(flagValue(s, "--known-hosts"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{User: s.User, HostKeyCallback: hk,
		Auth: []ssh.AuthMethod{ssh.Password("wrong")}})
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("wrong password: %v", err)
	}
}
