#!/usr/bin/env bash
# run.sh runs one gftp command for action.yml with --json, then turns the
# JSON result into step outputs (GITHUB_OUTPUT) and a Markdown summary
# (GITHUB_STEP_SUMMARY). It exits with gftp's exit code.
#
# The password arrives only in GFTP_PASSWORD, which gftp reads itself, so it
# is never on a command line; it is masked before anything else is printed.
#
# Environment (action.yml sets it; the tests set it by hand):
#   GFTP_BIN             the gftp binary (install.sh's output)
#   INPUT_URL            required: the target URL
#   INPUT_USER           the login (or in the URL); required for FTP URLs
#   GFTP_PASSWORD        the password; required for FTP URLs
#   INPUT_COMMAND        push (default), init, catchup, check, ...
#   INPUT_DIR            when set, runs "gftp sync INPUT_DIR" instead (command
#                        must be left at push, its default, or be sync)
#   INPUT_AUTO_INIT      "true" (default) adds --auto-init to push
#   INPUT_ARGS           more arguments, split like a shell does (quotes
#                        group, nothing is expanded or run)
#   GITHUB_OUTPUT, GITHUB_STEP_SUMMARY   as GitHub sets them
set -uo pipefail

fail() { echo "::error title=gftp action::$1" >&2; exit 1; }

# Mask first: the password, each of its lines, and a password written into
# the URL. The runner hides these lines and every later occurrence.
mask() {
	local line
	while IFS= read -r line; do
		[ -n "$line" ] && echo "::add-mask::$line"
	done <<<"$1"
}
[ -n "${GFTP_PASSWORD:-}" ] && mask "$GFTP_PASSWORD"
url=${INPUT_URL:-}
userinfo=""
case "$url" in
*://*@*) userinfo=${url#*://} userinfo=${userinfo%%@*} ;;
esac
case "$userinfo" in
*:*) mask "${userinfo#*:}" ;;
esac

: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: run this script from action.yml}"
: "${GITHUB_STEP_SUMMARY:?GITHUB_STEP_SUMMARY is not set: run this script from action.yml}"
[ -n "${GFTP_BIN:-}" ] || fail "no gftp binary: the install step did not run"
[ -n "$url" ] || fail 'the input "url" is required (for example ftpes://ftp.example.com/www)'
case "$url" in
ftp://* | ftps://* | ftpes://*)
	[ -n "${INPUT_USER:-}" ] || [ -n "$userinfo" ] || fail 'the input "user" is required for an FTP URL (is its secret set?)'
	[ -n "${GFTP_PASSWORD:-}" ] || fail 'the input "password" is required for an FTP URL (is its secret set?)'
	;;
esac
command=${INPUT_COMMAND:-push}
dir=${INPUT_DIR:-}
if [ -n "$dir" ]; then
	case "$command" in
	push | sync) command=sync ;;
	*) fail "the input \"dir\" runs gftp sync; it does not go with command \"$command\"" ;;
	esac
	[ -d "$dir" ] || fail "the input \"dir\" is not a directory: $dir (did the build step run?)"
elif [ "$command" = sync ]; then
	fail 'the command "sync" needs the input "dir" (the directory to deploy)'
fi

args=("$command" --json)
if [ "$command" = push ] && [ "${INPUT_AUTO_INIT:-true}" = true ]; then
	args+=(--auto-init)
fi
out=$(mktemp)
split=$(mktemp)
trap 'rm -f "$out" "$split"' EXIT
if [ -n "${INPUT_ARGS:-}" ]; then
	# xargs splits like a shell (quotes and backslashes) but runs nothing.
	printf '%s' "$INPUT_ARGS" | xargs printf '%s\0' >"$split" || fail 'the input "args" does not parse (an unmatched quote?)'
	while IFS= read -r -d '' a; do
		[ -n "$a" ] && args+=("$a")
	done <"$split"
fi

# sync's directory comes last, after any options in args.
[ -n "$dir" ] && args+=("$dir")

# The URL and user go by environment, so that a flag in args still wins.
export GFTP_URL="$url"
[ -n "${INPUT_USER:-}" ] && export GFTP_USER="$INPUT_USER"

echo "gftp ${args[*]}" >&2
"$GFTP_BIN" "${args[@]}" >"$out"
code=$?

# The result is the last line whose type is "result" (-v adds one line per
# action before it).
result=""
if command -v jq >/dev/null 2>&1; then
	result=$(jq -c 'select(type == "object" and .type == "result")' "$out" 2>/dev/null | tail -n 1)
else
	echo "::warning title=gftp action::jq is not installed: the step has no outputs but exit-code" >&2
fi
field() { [ -n "$result" ] && jq -r "$1 // empty" <<<"$result"; }

commit=$(field .deployed)
previous=$(field .previous)
uploaded=$(field .uploaded)
deleted=$(field .deleted)
bytes=$(field .bytes)
{
	echo "exit-code=$code"
	echo "commit=$commit"
	echo "previous-commit=$previous"
	echo "uploaded=${uploaded:-0}"
	echo "deleted=${deleted:-0}"
	echo "bytes=${bytes:-0}"
} >>"$GITHUB_OUTPUT"

{
	target=$(field .url)
	echo "### gftp $command${target:+ to \`$target\`}"
	echo
	if [ -z "$result" ]; then
		echo "gftp exited with code $code and printed no JSON result."
	else
		if [ "$code" = 0 ]; then
			state="✅ done"
			[ "$(field .dry_run)" = true ] && state="✅ dry run, nothing changed"
			[ "$(field .up_to_date)" = true ] && state="✅ already up to date"
		else
			state="❌ failed (exit code $code)"
		fi
		echo "| | |"
		echo "|---|---|"
		echo "| Result | $state |"
		[ -n "$commit" ] && echo "| Deployed commit | \`$commit\` |"
		[ -n "$previous" ] && echo "| Previous commit | \`$previous\` |"
		echo "| Files uploaded | ${uploaded:-0} |"
		echo "| Files deleted | ${deleted:-0} |"
		echo "| Bytes | ${bytes:-0} |"
		ms=$(field .elapsed_ms)
		[ -n "$ms" ] && echo "| Time | $(awk -v ms="$ms" 'BEGIN { printf "%.1f s", ms / 1000 }') |"
		msg=$(field .error.message)
		if [ -n "$msg" ]; then
			echo
			echo "**Error:** $msg"
			hint=$(field .error.hint)
			[ -n "$hint" ] && echo "**Hint:** $hint"
		fi
		failures=$(jq -r '(.failures // [])[:20][] | "- \(.op) `\(.path)`: \(.reason)"' <<<"$result" 2>/dev/null)
		if [ -n "$failures" ]; then
			echo
			echo "Failed files:"
			echo
			echo "$failures"
		fi
	fi
	echo
} >>"$GITHUB_STEP_SUMMARY"

# stdout carries the JSON on, for a step that reads the log.
cat "$out"
exit "$code"
