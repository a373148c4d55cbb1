#!/usr/bin/env bash
# Installs versitygw, the S3 server that the S3 integration tests run
# (integration/servers/versitygw.go), as /usr/local/bin/versitygw.
# Idempotent: does nothing when the pinned version is already there.
# Needs Go and network access to the Go module proxy; runs as root.
set -euo pipefail

VERSION=v1.8.0
DEST=/usr/local/bin/versitygw

# versitygw --version says "git" when built by go install, so ask the
# binary's build information instead.
if [ -x "$DEST" ] && go version -m "$DEST" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]]*github.com/versity/versitygw[[:space:]]*$VERSION[[:space:]]"; then
	echo "versitygw $VERSION already installed at $DEST"
	exit 0
fi

gobin=$(mktemp -d)
trap 'rm -rf "$gobin"' EXIT
echo "installing versitygw $VERSION (takes about a minute)"
cd "$gobin" && GOBIN=$gobin go install "github.com/versity/versitygw/cmd/versitygw@$VERSION" </dev/null
install -m 0755 "$gobin/versitygw" "$DEST"
go version -m "$DEST" | grep -m1 "mod[[:space:]]*github.com/versity/versitygw"
