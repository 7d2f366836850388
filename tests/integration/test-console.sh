#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-consoled's console through the guest's console mode
# (virtio-argo-guest console, stdin/stdout), in the simulator:
#  - pty back-end: 4 MiB of random data each way at once, sha256 equal;
#    SIZE (the pty's window at start) and RESIZE (TIOCSWINSZ on the pty,
#    then SIGWINCH to consoled; or TIOCSWINSZ and a line written to the
#    pty, no signal) reach the guest;
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
. "$(dirname "$0")/console-lib.sh"

# consoled holds at most queue-size (64) transmit requests of the guest's
# 4 KiB reads plus the pty/socket buffers: its RSS must stay under this
# while a reader is stalled (measured about 11 MB here, most of it the
# Argo ring and the allocator's arenas; see the log line "rss").
RSS_BOUND_KB=${RSS_BOUND_KB:-24576}

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
	# Serving: its signals are handled from here on.
	va_grep "$VA_TMP/$name.log" 'console: serving ' ||
		va_fail "$name did not start"
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

# open_count LOG N: the guest saw PORT_OPEN 1 for the console N times.
open_count() {
	[ "$(grep -c 'port 0: host open 1' "$1")" = "$2" ]
}

# clients LOG N: consoled accepted N clients.
clients() {
	[ "$(grep -c 'port console: client connected' "$1")" = "$2" ]
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# check_rss WHAT: consoled's RSS under the bound.  Under AddressSanitizer
# freed memory stays in its quarantine, so RSS follows the bytes moved,
# not what is held: the bound is checked only without it (said so).
check_rss() {
	local rss
	rss=$(rss_kb "$cons_pid")
	if grep -q libasan "/proc/$cons_pid/maps"; then
		va_log "rss of consoled $1: $rss kB (AddressSanitizer build: bound not checked)"
		return
	fi
	va_log "rss of consoled $1: $rss kB (bound $RSS_BOUND_KB)"
	[ "$rss" -lt "$RSS_BOUND_KB" ] || va_fail "consoled's RSS $rss kB over $RSS_BOUND_KB ($1)"
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
va_wait 60 has_size "$VA_TMP/g1.out" $MIB4 ||
	va_fail "the guest received $(size_of "$VA_TMP/g1.out") of $MIB4 bytes"
same "$VA_TMP/to-guest" "$VA_TMP/g1.out" "host to guest over the pty"
same "$VA_TMP/from-guest" "$VA_TMP/pty.out" "guest to host over the pty"
echo "pty: 4 MiB each way, sha256 equal"

"$VA_CONSOLE_IO" --tty "$pty" --winsize 50x132 || va_fail "setting the pty's size"
kill -WINCH "$cons_pid"
va_grep "$VA_TMP/g1.log" 'console: size 50x132' ||
	va_fail "RESIZE: the guest did not get 50x132"
# A program on the pty sets its window and writes, no SIGWINCH: consoled
# notices at the pty's next input.
printf 'redraw\n' >"$VA_TMP/redraw"
"$VA_CONSOLE_IO" --tty "$pty" --winsize 40x100 --send "$VA_TMP/redraw" ||
	va_fail "console-io: size and a line on the pty"
va_grep "$VA_TMP/g1.log" 'console: size 40x100' ||
	va_fail "RESIZE without SIGWINCH: the guest did not get 40x100"
va_stop "$guest_pid"

# ---- 2. pty: a stalled reader on each side ----
# 2a. Nobody reads the pty: the guest's writer stalls; consoled's RSS stays
# bounded; then the reader comes and gets every byte.
start_guest g2 "$VA_TMP/from-guest" /dev/null
# Stalled: consoled holds a full queue (64) of the guest's output requests.
va_wait 30 stats_match "$VA_TMP/consoled-pty.log" 'port 0 (console): .* tx_held 64 ' ||
	va_fail "the guest's output did not stall on an unread pty"
check_rss "with a stalled pty reader"
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
check_rss "with the guest's stdout stalled"
va_alive "$writer" || va_fail "the writer finished with the guest's stdout stalled"
cat "$VA_TMP/g3.fifo" >"$VA_TMP/g3.out" &
reader=$!
exec {hold}>&-
wait "$writer" || va_fail "the pty writer failed"
va_wait 60 has_size "$VA_TMP/g3.out" $MIB4 ||
	va_fail "stalled guest stdout: $(size_of "$VA_TMP/g3.out") of $MIB4 bytes"
same "$VA_TMP/to-guest" "$VA_TMP/g3.out" "stalled guest stdout"
va_stop "$guest_pid"
kill "$reader" 2>/dev/null
va_stop "$cons_pid"
grep 'port 0 (console): rx_bytes' "$VA_TMP/consoled-pty.log" ||
	va_fail "no stats line at stop"

# ---- 3. socket: the log and its rotation ----
SOCK=$VA_TMP/console.sock
LOG=$VA_TMP/console.txt
start_consoled consoled-sock --socket "$SOCK" --log "$LOG" --log-timestamps
va_wait 10 test -S "$SOCK" || va_fail "consoled did not listen on $SOCK"
seq -f 'line %06g of the guest console' 1 40000 >"$VA_TMP/lines"
lines_size=$(size_of "$VA_TMP/lines")
# A client that does not read yet: the guest's output stalls part-way.
va_bg client1 "$VA_CONSOLE_IO" --connect "$SOCK" --recv "$lines_size" \
	--out "$VA_TMP/client1.out" --hold "$VA_TMP/go1"
client=$VA_PID
va_grep "$VA_TMP/consoled-sock.log" 'port console: client connected' ||
	va_fail "the client did not connect"
start_guest g4 "$VA_TMP/lines" /dev/null
va_wait 30 stats_match "$VA_TMP/consoled-sock.log" 'port 0 (console): .* tx_held 64 ' ||
	va_fail "the guest's output did not stall on a client not reading"
mv "$LOG" "$LOG.1"
kill -HUP "$cons_pid"
va_grep "$VA_TMP/consoled-sock.log" "log $LOG reopened" || va_fail "SIGHUP: log not reopened"
touch "$VA_TMP/go1"
va_wait_exit "$client" 60
[ "$VA_RC" = 0 ] || va_fail "the client did not receive all ($VA_RC)"
same "$VA_TMP/lines" "$VA_TMP/client1.out" "guest to the socket client"
[ -s "$LOG.1" ] && [ -s "$LOG" ] || va_fail "the rotated and the new log do not both hold output"
va_log "log: $(wc -l <"$LOG.1") lines before the rotation, $(wc -l <"$LOG") after"
cat "$LOG.1" "$LOG" | sed -E 's/^\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{3}\] //' >"$VA_TMP/log.stripped"
same "$VA_TMP/lines" "$VA_TMP/log.stripped" "the logs without their timestamps"
stamps=$(cat "$LOG.1" "$LOG" | grep -c -E '^\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\.[0-9]{3}\] ')
[ "$stamps" = 40000 ] || va_fail "$stamps timestamps for 40000 lines"
va_stop "$guest_pid"

# ---- 4. socket: 4 MiB each way, reconnect, a second client refused ----
va_bg client2 "$VA_CONSOLE_IO" --connect "$SOCK" --send "$VA_TMP/to-guest" \
	--recv $MIB4 --out "$VA_TMP/client2.out" --linger
client=$VA_PID
va_wait 10 clients "$VA_TMP/consoled-sock.log" 2 ||
	va_fail "the second session's client did not connect"
start_guest g5 "$VA_TMP/from-guest" "$VA_TMP/g5.out"
va_grep "$VA_TMP/client2.log" 'received 4194304' 60 ||
	va_fail "the socket client did not receive 4 MiB"
va_wait 60 has_size "$VA_TMP/g5.out" $MIB4 ||
	va_fail "the guest received $(size_of "$VA_TMP/g5.out") of $MIB4 bytes"
same "$VA_TMP/to-guest" "$VA_TMP/g5.out" "socket client to guest"
same "$VA_TMP/from-guest" "$VA_TMP/client2.out" "guest to socket client"
echo "socket: 4 MiB each way, sha256 equal"

"$VA_CONSOLE_IO" --connect "$SOCK" --recv 0 --out "$VA_TMP/refused.out" ||
	va_fail "the refused client saw an error"
grep -q 'another client is connected' "$VA_TMP/refused.out" ||
	va_fail "a second client was not refused with a message"
va_alive "$client" || va_fail "the first client lost its connection"

kill -TERM "$client"
va_grep "$VA_TMP/g5.log" 'port 0: host open 0' || va_fail "the guest did not see the client leave"
va_bg client3 "$VA_CONSOLE_IO" --connect "$SOCK" --recv 0 --out "$VA_TMP/client3.out"
va_wait 10 open_count "$VA_TMP/g5.log" 2 ||
	va_fail "the guest did not see the client come back"
seq_open=$(grep -o 'port 0: host open [01]' "$VA_TMP/g5.log" | sed 's/.* //' | tr -d '\n')
[ "$seq_open" = 101 ] || va_fail "PORT_OPEN seen by the guest: $seq_open, expected 1 0 1"
va_stop "$guest_pid"
va_stop "$cons_pid"
grep -E 'port 0 \(console\): .* clients 3 refused 1 ' "$VA_TMP/consoled-sock.log" ||
	va_fail "consoled's stats do not show 3 clients and 1 refused"
echo PASS
