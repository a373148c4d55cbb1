#!/usr/bin/env bash
# install-servers.sh: puts the real FTP servers that integration/servers
# starts (vsftpd, pure-ftpd, proftpd with mod_tls) and the reference clients
# on a Debian 12 machine. Runs as root with no stdin; idempotent. The caller
# has run `apt-get update`.
#
# vsftpd, pure-ftpd and proftpd all "Conflicts: ftp-server", so only one of
# them could be apt-installed. Instead each is fetched with `apt-get download`
# and unpacked with `dpkg-deb -x` into $GFTP_SERVERS_DIR/<package>/ (default
# /opt/gftp-servers), which runs none of their maintainer scripts: the
# libraries they link against are apt-installed here instead, and the one
# thing from /etc that a server needs (vsftpd's PAM service) is written here.
#
# vsftpd authenticates local users through PAM, so a real system user with a
# password is made for it: gftp-ftp / gftp-ftp-password, shell /bin/bash
# (pam_shells wants a shell listed in /etc/shells). pure-ftpd and proftpd use
# virtual users (puredb, AuthUserFile) mapped to the same uid, so whatever any
# of the three servers writes is owned by gftp-ftp. The harness must agree
# with these names: see ftpUser/ftpPassword in integration/servers/ftp.go.
#
# proftpd's AuthUserFile needs a crypt(3) hash; the harness carries a fixed
# SHA-512-crypt hash of the password (made once with `openssl passwd -6`), so
# nothing here has to make one at run time. openssl is installed anyway for
# people who want to look at the generated certificates.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

DIR=${GFTP_SERVERS_DIR:-/opt/gftp-servers}
FTP_USER=gftp-ftp
FTP_PASSWORD=gftp-ftp-password
PAM_SERVICE=gftp-vsftpd

# Packages unpacked, not installed.
UNPACK=(vsftpd pure-ftpd proftpd-core proftpd-mod-crypto)

# Clients and tools, and the runtime libraries of the unpacked servers
# (their Depends, which apt never sees because they are not installed).
apt-get install -y --no-install-recommends \
	ca-certificates openssl curl lftp git-ftp git-lfs passwd login \
	bash-completion zsh fish groff-base \
	libpam0g libpam-modules libpam-runtime libcap2 libssl3 libwrap0 \
	libsodium23 libcrypt1 libacl1 libidn2-0 libpcre2-8-0 libpcre2-posix3 \
	libhiredis0.14 libmemcached11 libmemcachedutil2 libncursesw6 \
	libtinfo6 zlib1g >/dev/null

mkdir -p "$DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download drops to _apt when it can; let it write here (else it
# warns and downloads unsandboxed as root).
chown _apt "$work" 2>/dev/null || true

for pkg in "${UNPACK[@]}"; do
	want=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
	if [ -z "$want" ] || [ "$want" = "(none)" ]; then
		echo "install-servers: no candidate for $pkg (did apt-get update run?)" >&2
		exit 1
	fi
	if [ -f "$DIR/$pkg/.version" ] && [ "$(cat "$DIR/$pkg/.version")" = "$want" ]; then
		continue
	fi
	(cd "$work" && apt-get download "$pkg=$want" >/dev/null)
	rm -rf "$DIR/$pkg.new"
	mkdir -p "$DIR/$pkg.new"
	dpkg-deb -x "$work/${pkg}_"*.deb "$DIR/$pkg.new"
	echo "$want" >"$DIR/$pkg.new/.version"
	rm -rf "$DIR/$pkg"
	mv "$DIR/$pkg.new" "$DIR/$pkg"
	echo "install-servers: $pkg $want -> $DIR/$pkg"
done

# Every unpacked binary must find its libraries, or the tests would fail with
# a confusing "exited before its banner".
for bin in "$DIR/vsftpd/usr/sbin/vsftpd" "$DIR/pure-ftpd/usr/sbin/pure-ftpd" \
	"$DIR/pure-ftpd/usr/bin/pure-pw" "$DIR/proftpd-core/usr/sbin/proftpd" \
	"$DIR/proftpd-mod-crypto/usr/lib/proftpd/mod_tls.so" \
	"$DIR/proftpd-core/usr/lib/proftpd/mod_digest.so"; do
	if ldd "$bin" | grep -q 'not found'; then
		echo "install-servers: $bin misses libraries:" >&2
		ldd "$bin" | grep 'not found' >&2
		exit 1
	fi
done

# The system user vsftpd logs in (and whose uid the other two map to).
# vsftpd changes into the user's home before it changes into local_root, so
# the home must exist even though nothing is written there.
FTP_HOME=/var/lib/$FTP_USER
if ! id "$FTP_USER" >/dev/null 2>&1; then
	useradd --system --user-group --home-dir "$FTP_HOME" --no-create-home \
		--shell /bin/bash "$FTP_USER"
fi
mkdir -p "$FTP_HOME"
chown "$FTP_USER:" "$FTP_HOME"
if [ "$(getent passwd "$FTP_USER" | cut -d: -f6,7)" != "$FTP_HOME:/bin/bash" ]; then
	usermod --home "$FTP_HOME" --shell /bin/bash "$FTP_USER"
fi
echo "$FTP_USER:$FTP_PASSWORD" | chpasswd
grep -qx /bin/bash /etc/shells || echo /bin/bash >>/etc/shells
# ftpusers lists users refused by the stock PAM service; our service does not
# read it, but keep the user out of it in case someone points vsftpd there.
if [ -f /etc/ftpusers ]; then
	sed -i "/^$FTP_USER\$/d" /etc/ftpusers
fi

# vsftpd's PAM service (dpkg-deb -x does not install /etc/pam.d/vsftpd, and
# the stock one pulls in common-session, which may want systemd). The harness
# sets pam_service_name=gftp-vsftpd.
cat >/etc/pam.d/$PAM_SERVICE <<PAM
# Written by gftp .ci/install-servers.sh for integration tests.
auth     required pam_unix.so
auth     required pam_shells.so
account  required pam_unix.so
session  required pam_permit.so
PAM

echo "install-servers: done ($DIR; user $FTP_USER; /etc/pam.d/$PAM_SERVICE)"
