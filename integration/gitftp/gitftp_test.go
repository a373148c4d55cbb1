package gitftp_test

import (
	"os/exec"
	"testing"

	"github.com/gftp/gftp/integration/servers"
)

// TestDifferential runs every scenario on vsftpd with FTPES (TLS 1.2), and
// the core ones (a fresh path, a push, the hooks) on the other servers: plain
// vsftpd, pure-ftpd, proftpd and OpenSSH. One server per kind serves all of
// its scenarios.
func TestDifferential(t *testing.T) {
	for _, tool := range []string{"git", "git-ftp", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			servers.Unavailable(t, tool+" not found", "apt-get install git git-ftp curl")
		}
	}
	kinds := []struct {
		name  string
		start func(t *testing.T) *servers.Server
		full  bool
	}{
		{string(servers.VsftpdFTPES12), func(t *testing.T) *servers.Server { return servers.Start(t, servers.VsftpdFTPES12) }, true},
		{string(servers.VsftpdPlain), func(t *testing.T) *servers.Server { return servers.Start(t, servers.VsftpdPlain) }, false},
		{string(servers.PureFTPdTLS), func(t *testing.T) *servers.Server { return servers.Start(t, servers.PureFTPdTLS) }, false},
		{string(servers.ProFTPdTLS), func(t *testing.T) *servers.Server { return servers.Start(t, servers.ProFTPdTLS) }, false},
		// Password login: Debian 12's libssh2, under git-ftp's curl, cannot
		// log in to OpenSSH 9.2 with an RSA key.
		{"sshd-password", func(t *testing.T) *servers.Server {
			return servers.StartSSHD(t, servers.WithSSHAuth(servers.SSHAuthPassword))
		}, false},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t, k.name, k.start(t))
			list := coreScenarios()
			if k.full {
				list = append(list, fullScenarios()...)
			}
			for _, sc := range list {
				t.Run(sc.name, func(t *testing.T) { sc.run(t, tg) })
			}
		})
	}
}
