# SPDX-License-Identifier: MIT
# Helpers of the virtio-argo-consoled integration tests (sourced after
# lib.sh).  The guest side is virtio-argo-guest's console mode in guest
# domain 1; consoled serves it from domain 0 at the console port;
# console-io is the far end of a port (a Unix socket client or a program
# on a pty).

VA_CONSOLED=${VA_CONSOLED:-$VA_BUILD_ROOT/src/devices/console/virtio-argo-consoled}
VA_CONSOLE_IO=${VA_CONSOLE_IO:-$VA_BUILD_ROOT/tests/integration/console-io}
CPORT=0x5641c000
MIB4=$((4 * 1024 * 1024))

va_need "$VA_CONSOLED" "$VA_CONSOLE_IO" "$VA_GUEST"
command -v sha256sum >/dev/null || va_skip "no sha256sum"

# start_guest NAME STDIN STDOUT ARGS...: the console mode (ARGS are its
# own options), its console port up; its PID in guest_pid.
start_guest() {
	local name=$1 in=$2 out=$3
	shift 3
	: >"$VA_TMP/$name.log"
	"$VA_GUEST" --sim-socket "$VA_SOCK" --port "$CPORT" --timeout 10 \
		console "$@" <"$in" >"$out" 2>"$VA_TMP/$name.log" &
	guest_pid=$!
	VA_PIDS+=("$guest_pid")
	VA_NAME[$guest_pid]=$name
	va_grep "$VA_TMP/$name.log" 'console: port 0: console' ||
		va_fail "$name: the console port did not come up"
}

size_of() {
	stat -c %s "$1" 2>/dev/null || echo 0
}

# has_size FILE N: FILE holds N bytes (for va_wait).
has_size() {
	[ "$(size_of "$1")" = "$2" ]
}

# same FILE1 FILE2 WHAT: equal sha256, or fail saying WHAT.
same() {
	[ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$(sha256sum <"$2" | cut -d' ' -f1)" ] ||
		va_fail "$3: $(basename "$1") and $(basename "$2") differ"
}
