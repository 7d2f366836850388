#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-consoled's own option checks: each bad combination exits 2
# with its message before anything is created (no socket, no --pty-link
# symlink, no log file), and a 16th named port is one too many.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console-lib.sh"

# refused MESSAGE OPTIONS...: consoled exits 2 saying MESSAGE.
refused() {
	local want=$1 rc
	shift
	"$VA_CONSOLED" --sim-socket "$VA_SOCK" --domid 1 "$@" \
		>"$VA_TMP/out.txt" 2>"$VA_TMP/err.txt"
	rc=$?
	[ "$rc" = 2 ] || va_fail "consoled $*: exit $rc, expected 2"
	grep -qF -- "$want" "$VA_TMP/err.txt" ||
		va_fail "consoled $*: no '$want' in: $(cat "$VA_TMP/err.txt")"
}

S=$VA_TMP/c.sock
refused '--pty, --socket and --stdio exclude each other' --pty --socket "$S"
refused '--pty, --socket and --stdio exclude each other' --socket "$S" --stdio
refused '--pty-link needs --pty' --socket "$S" --pty-link "$VA_TMP/link"
refused '--log-timestamps needs --log' --log-timestamps
refused 'NAME of [A-Za-z0-9._-]' --extra-port 'bad/name=pty'
refused 'NAME of [A-Za-z0-9._-]' --extra-port '=pty'
refused 'NAME=socket:PATH or NAME=pty' --extra-port 'a=serial:/x'
refused 'NAME=socket:PATH or NAME=pty' --extra-port 'a=socket:'
refused 'a port of that name exists' --extra-port a=pty --extra-port a=socket:"$S"
long=$(printf 'n%.0s' $(seq 65))
refused 'NAME of [A-Za-z0-9._-]' --extra-port "$long=pty"
many=()
for i in $(seq 16); do
	many+=(--extra-port "p$i=socket:$VA_TMP/p$i.sock")
done
refused 'too many ports' "${many[@]}" --log "$VA_TMP/log.txt"
[ -z "$(ls "$VA_TMP" | grep -v -E '^(out|err|stderr)\.txt$')" ] ||
	va_fail "a refused consoled left files: $(ls "$VA_TMP")"
echo PASS
