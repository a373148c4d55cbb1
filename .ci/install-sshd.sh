#!/usr/bin/env bash
# install-sshd.sh: puts OpenSSH's server and client tools on a Debian 12
# machine for the SFTP tests (integration/servers/sshd.go), and makes the
# system user they log in as. Runs as root with no stdin; idempotent. The
# caller has run `apt-get update`.
#
# The harness starts its own sshd (/usr/sbin/sshd -D -e -f CONFIG) on a free
# loopback port with generated host keys, so the system's sshd service is
# neither configured nor started here. It needs:
#   - openssh-server: /usr/sbin/sshd, and /run/sshd (privilege separation);
#   - openssh-client: ssh-agent and ssh-add for the agent variant, ssh-keygen;
#   - passwd: useradd and chpasswd;
#   - a real user with a password, because sshd checks passwords against
#     /etc/shadow: gftp-ssh / gftp-ssh-password, shell nologin (the harness's
#     sshd_config forces internal-sftp, so no shell ever runs), with a home
#     directory for sftp://host/~/ paths. These names must agree with
#     SSHUser/SSHPassword in integration/servers/sshd.go.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SSH_USER=gftp-ssh
SSH_PASSWORD=gftp-ssh-password

if [ "$(id -u)" -ne 0 ]; then
	echo "install-sshd: must run as root" >&2
	exit 1
fi

apt-get install -y --no-install-recommends openssh-server openssh-client passwd >/dev/null

# Debian's postinst may start the system sshd where an init system runs;
# the tests do not need it, and leaving it as the distribution set it up
# is the least surprising choice.
mkdir -p /run/sshd
chmod 0755 /run/sshd

if ! id "$SSH_USER" >/dev/null 2>&1; then
	useradd --create-home --shell /usr/sbin/nologin "$SSH_USER"
fi
home=$(getent passwd "$SSH_USER" | cut -d: -f6)
if [ ! -d "$home" ]; then
	mkdir -p "$home"
	chown "$SSH_USER:" "$home"
fi
echo "$SSH_USER:$SSH_PASSWORD" | chpasswd

test -x /usr/sbin/sshd
command -v ssh-agent >/dev/null
command -v ssh-add >/dev/null
echo "install-sshd: $(/usr/sbin/sshd -V 2>&1 | head -n1); user $SSH_USER ready"
