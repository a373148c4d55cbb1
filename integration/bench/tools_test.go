package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/gftp/gftp/integration/servers"
	"github.com/gftp/gftp/internal/gittest"
)

// The peers of SFTP and S3. None writes git-ftp's marker; each mirrors the
// work tree (without .git and the marker) and deletes what is gone, the way
// its users would deploy a site with it. Each is told everything on its
// command line or in its environment: no configuration file is read.

// lftpSFTPTool mirrors the work tree with lftp's sftp:// and mirror -R
// --parallel=8, which runs 8 ssh processes (lftp speaks SFTP over an ssh
// child; its CPU counts with lftp's, since lftp reaps it).
var lftpSFTPTool = tool{name: "lftp sftp --parallel=8", cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
	host, port, _ := net.SplitHostPort(srv.Addr)
	ssh := fmt.Sprintf("ssh -a -x -F /dev/null -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o PubkeyAuthentication=no -o PreferredAuthentications=password",
		flagValue(srv.Flags, "--known-hosts"))
	script := strings.Join([]string{
		`set sftp:connect-program "` + ssh + `"`,
		"set net:max-retries 2", "set net:timeout 30", "set cmd:fail-exit true",
		fmt.Sprintf("open -u %s,%s -p %s sftp://%s", srv.User, srv.Password, port, host),
		fmt.Sprintf(`mirror -R --parallel=8 --delete -x '^\.git/' -x '^\.git-ftp\.log$' ./ %s/`, srv.Root),
	}, "; ")
	cmd := exec.Command("lftp", "-c", script)
	cmd.Env = os.Environ()
	return cmd
}}

// rcloneS3Tool mirrors the work tree into the bucket with rclone sync
// --transfers 8 (its S3 backend, provider Other, path-style).
var rcloneS3Tool = tool{name: "rclone --transfers 8", cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
	cmd := exec.Command("rclone", "sync", "--transfers", "8", "--exclude", "/.git/**", "--exclude", "/.git-ftp.log",
		"--s3-provider", "Other", "--s3-env-auth=false", "--s3-access-key-id", srv.User, "--s3-secret-access-key", srv.Password,
		"--s3-endpoint", flagValue(srv.Flags, "--s3-endpoint"), "--s3-force-path-style", "--s3-region", servers.S3Region,
		"--s3-no-check-bucket",
		".", ":s3:"+servers.S3Bucket+"/")
	// rclone 1.60's AWS SDK refuses AWS_CA_BUNDLE (set on some
	// machines) with its own HTTP transport.
	cmd.Env = append(withoutAWS(gittest.Env()), "RCLONE_CONFIG=/dev/null")
	return cmd
}}

// withoutAWS is env without AWS_* variables, so that nothing of this
// machine's AWS set-up (profiles, CA bundles, endpoints) reaches a peer.
func withoutAWS(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}

// awsS3Tool mirrors the work tree with `aws s3 sync --delete` at the AWS
// CLI's defaults (10 requests at once).
var awsS3Tool = tool{name: "aws s3 sync", cmd: func(f *fixture, srv *servers.Server, push, insecure bool) *exec.Cmd {
	cmd := exec.Command("aws", "s3", "sync", ".", "s3://"+servers.S3Bucket+"/", "--delete",
		"--exclude", ".git/*", "--exclude", ".git-ftp.log", "--no-progress", "--only-show-errors",
		"--endpoint-url", flagValue(srv.Flags, "--s3-endpoint"))
	cmd.Env = append(withoutAWS(os.Environ()),
		"AWS_ACCESS_KEY_ID="+srv.User, "AWS_SECRET_ACCESS_KEY="+srv.Password,
		"AWS_DEFAULT_REGION="+servers.S3Region, "AWS_REGION="+servers.S3Region,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
	return cmd
}}

// flagValue is the value after name in flags ("" when it is not there).
func flagValue(flags []string, name string) string {
	for i, a := range flags {
		if a == name && i+1 < len(flags) {
			return flags[i+1]
		}
	}
	return ""
}
