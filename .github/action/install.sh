#!/usr/bin/env bash
# install.sh puts the gftp binary for this runner in place for action.yml.
#
# It downloads gftp-<os>-<arch>[.exe] and SHA256SUMS from the GitHub release
# named GFTP_VERSION (the action's ref by default) and checks the binary
# against SHA256SUMS. Only when that release does not exist, or has no binary
# for this platform, does it build gftp from the action's own source with Go.
# A failed download or a checksum mismatch stops the step, before anything
# is deployed.
#
# Environment (action.yml sets it; the tests set it by hand):
#   GFTP_VERSION        release tag to install; empty means build from source
#   GFTP_REPOSITORY     owner/name of the action's repository
#   GFTP_RELEASE_URL    base of the release downloads, default
#                       https://github.com/$GFTP_REPOSITORY/releases/download
#   GFTP_SOURCE         the action's checkout, for the build from source
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_OUTPUT   as GitHub sets them
# Writes `path=<binary>` to GITHUB_OUTPUT.
set -euo pipefail

fail() { echo "::error title=gftp action::$1" >&2; exit 1; }

: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: run this script from action.yml}"
version=${GFTP_VERSION:-}
repository=${GFTP_REPOSITORY:-gftp/gftp}
base=${GFTP_RELEASE_URL:-https://github.com/$repository/releases/download}
dest="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/gftp-action-$$"

case "${RUNNER_OS:-}" in
Linux) os=linux ;;
macOS) os=darwin ;;
Windows) os=windows ;;
*) os="" ;;
esac
case "${RUNNER_ARCH:-}" in
X64) arch=amd64 ;;
ARM64) arch=arm64 ;;
*) arch="" ;;
esac
exe=""
[ "$os" = windows ] && exe=.exe
asset="gftp-$os-$arch$exe"
mkdir -p "$dest"
bin="$dest/gftp$exe"

# fetch URL FILE downloads URL into FILE and prints the HTTP status: 000
# when the server could not be reached. (release runs as an if condition,
# where bash ignores set -e, so every failure is checked by hand.)
fetch() {
	curl -sSL --retry 3 --retry-connrefused --connect-timeout 20 -o "$2" -w '%{http_code}' "$1" || true
}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

# release installs the release binary and returns 0, or returns 1 when the
# release has no binary for this platform.
release() {
	[ -n "$version" ] && [ -n "$os" ] && [ -n "$arch" ] || return 1
	local code want got
	code=$(fetch "$base/$version/SHA256SUMS" "$dest/SHA256SUMS")
	case "$code" in
	200) ;;
	404) echo "gftp: no release $version at $base (SHA256SUMS: HTTP 404)" >&2; return 1 ;;
	*) fail "cannot download $base/$version/SHA256SUMS: HTTP $code" ;;
	esac
	want=$(awk -v a="$asset" '$2 == a || $2 == "*" a { print $1; exit }' "$dest/SHA256SUMS")
	if [ -z "$want" ]; then
		echo "gftp: release $version has no $asset" >&2
		return 1
	fi
	code=$(fetch "$base/$version/$asset" "$bin")
	[ "$code" = 200 ] || fail "cannot download $base/$version/$asset: HTTP $code"
	got=$(sha256 "$bin")
	if [ "$got" != "$want" ]; then
		rm -f "$bin"
		fail "checksum mismatch for $asset from release $version: SHA256SUMS says $want, the download is $got"
	fi
	chmod +x "$bin"
	echo "gftp: installed $asset from release $version (sha256 $got)" >&2
}

if ! release; then
	src=${GFTP_SOURCE:-}
	[ -n "$src" ] && [ -f "$src/go.mod" ] || fail "no gftp release for ${version:-this ref} on ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}, and no source to build it from"
	command -v go >/dev/null 2>&1 || fail "no gftp release for ${version:-this ref} on ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}: use a released tag, or add actions/setup-go before this step to build from source"
	echo "gftp: building from source in $src" >&2
	(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${version:-action}" -o "$bin" ./cmd/gftp) || fail "go build of gftp failed"
fi

"$bin" version >&2 || fail "the installed gftp does not run on ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}"
echo "path=$bin" >>"$GITHUB_OUTPUT"
