#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-consoled with --stdio, a named port on a pty and EMERG_WRITE,
# through the guest's console mode, in the simulator.  consoled's stdin
# and stdout are FIFOs (a writer and a reader of the test's own):
#  - EMERG_WRITE: the guest writes a line into emerg_wr byte by byte before
#    any queue is used; it is the first thing on consoled's stdout and in
#    its --log, and consoled's emerg counter counts its bytes;
#  - 4 MiB of random data each way at once through stdin/stdout, sha256
#    equal; consoled's stdout holds exactly the emergency line and the
#    guest's bytes (in particular not the line naming the named port's pty,
#    which goes to stderr with --stdio), and the --log the same;
#  - the end of stdin ends the console's input only: consoled says so, the
#    guest never sees PORT_OPEN 0 and its output still reaches stdout;
#  - --extra-port tty=pty: the pty's path is on consoled's stderr, 1 MiB
#    goes each way between a program on the pty and the guest's --port,
#    sha256 equal; the guest sees the port's host side open (PORT_OPEN 1)
#    once and never closed, also after the program on the pty has left and
#    a second one sends a line through;
#  - a driver that did not accept EMERG_WRITE writes emerg_wr anyway: the
#    device refuses each write (the guest gets EINVAL), nothing reaches
#    stdout or the log, the counter stays, and the console still works;
#  - the reader of consoled's stdout leaves: the write fails once (EPIPE),
#    the guest sees PORT_OPEN 0, what it writes next is dropped and counted
#    as discarded (and still logged), and consoled exits 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console-lib.sh"

MIB1=$((1024 * 1024))
EMERG=$'emergency: before the queues\n'
LOG=$VA_TMP/console.txt
GSOCK=$VA_TMP/guest-tty.sock

head -c $MIB4 /dev/urandom >"$VA_TMP/to-guest"
head -c $MIB4 /dev/urandom >"$VA_TMP/from-guest"
head -c $MIB1 /dev/urandom >"$VA_TMP/h1"
head -c $MIB1 /dev/urandom >"$VA_TMP/g1"

va_start_sim

# consoled's stdin and stdout: FIFOs.  It opens stdin first (waiting for
# the writer), then stdout (waiting for the reader).
mkfifo "$VA_TMP/cin" "$VA_TMP/cout"
"$VA_CONSOLED" --sim-socket "$VA_SOCK" --domid 1 --port "$CPORT" --stdio \
	--log "$LOG" --extra-port tty=pty <"$VA_TMP/cin" >"$VA_TMP/cout" \
	2>"$VA_TMP/consoled.log" {VA_STDERR}>&- &
cons_pid=$!
VA_PIDS+=("$cons_pid")
VA_NAME[$cons_pid]=consoled
va_watch "$cons_pid"
cat "$VA_TMP/cout" >"$VA_TMP/stdout.bin" &
reader=$!
VA_PIDS+=("$reader")
cat "$VA_TMP/to-guest" >"$VA_TMP/cin" &
writer=$!
VA_PIDS+=("$writer")
va_grep "$VA_TMP/consoled.log" 'console: serving stdio' || va_fail "consoled did not start"

# same_size FILE1 FILE2: both hold as many bytes (for va_wait).
same_size() {
	[ "$(size_of "$1")" = "$(size_of "$2")" ]
}

# stats_match PATTERN: consoled's counters, printed anew (SIGUSR1),
# match PATTERN (an earlier printing never answers).
stats_match() {
	local want
	want=$(($(grep -c 'control: in' "$VA_TMP/consoled.log") + 1))
	kill -USR1 "$cons_pid"
	va_wait 10 va_lines "$VA_TMP/consoled.log" 'control: in' "$want" || return 1
	grep -E 'port 0 \(console\): rx_bytes|control: in' "$VA_TMP/consoled.log" |
		tail -n 2 | tr '\n' ' ' | grep -q -E -- "$1"
}

# ---- 1. EMERG_WRITE, then 4 MiB each way on stdin/stdout ----
mkfifo "$VA_TMP/gin1"
exec {gin1}<>"$VA_TMP/gin1"
start_guest guest1 "$VA_TMP/gin1" "$VA_TMP/guest1.bin" \
	--port tty="$GSOCK" --emerg-write "$EMERG"
grep -q "console: emerg_wr: ${#EMERG} bytes written" "$VA_TMP/guest1.log" ||
	va_fail "the guest's emerg_wr writes were not all accepted"
cat "$VA_TMP/from-guest" >"$VA_TMP/gin1" &
VA_PIDS+=("$!")
printf '%s' "$EMERG" >"$VA_TMP/expect"
cat "$VA_TMP/from-guest" >>"$VA_TMP/expect"
va_wait 60 has_size "$VA_TMP/guest1.bin" $MIB4 ||
	va_fail "the guest received $(size_of "$VA_TMP/guest1.bin") of $MIB4 bytes"
same "$VA_TMP/to-guest" "$VA_TMP/guest1.bin" "stdin to the guest"
va_wait 60 same_size "$VA_TMP/stdout.bin" "$VA_TMP/expect" ||
	va_fail "consoled's stdout holds $(size_of "$VA_TMP/stdout.bin") bytes, expected $(size_of "$VA_TMP/expect")"
same "$VA_TMP/expect" "$VA_TMP/stdout.bin" "the emergency line and the guest's output on stdout"
same "$VA_TMP/expect" "$LOG" "the --log"
echo "stdio: the emergency line first, then 4 MiB each way, sha256 equal"

# ---- 2. the end of stdin ----
wait "$writer" || va_fail "the writer of consoled's stdin failed"
va_grep "$VA_TMP/consoled.log" 'port console: end of input' ||
	va_fail "consoled did not see the end of its stdin"
printf 'after the end of input\n' >&"$gin1"
printf 'after the end of input\n' >>"$VA_TMP/expect"
va_wait 30 same_size "$VA_TMP/stdout.bin" "$VA_TMP/expect" ||
	va_fail "the guest's output after the end of stdin did not reach stdout"
same "$VA_TMP/expect" "$VA_TMP/stdout.bin" "stdout after the end of stdin"
va_wait 10 stats_match "port 0 \(console\): rx_bytes $MIB4 .* emerg ${#EMERG} " ||
	va_fail "consoled's counters: not $MIB4 bytes read and ${#EMERG} emergency bytes"
! grep -q 'port 0: host open 0' "$VA_TMP/guest1.log" ||
	va_fail "the end of stdin closed the console for the guest"
echo "stdio: the end of stdin ends the input only"

# ---- 3. the named port on a pty ----
va_grep "$VA_TMP/consoled.log" 'port tty: pty /dev/' ||
	va_fail "consoled did not print the named port's pty on stderr"
pty=$(sed -n 's|^virtio-argo-consoled: port tty: pty \(/dev/[^ ]*\)$|\1|p' "$VA_TMP/consoled.log")
[ -c "$pty" ] || va_fail "the named port's pty '$pty' is not a terminal"
va_grep "$VA_TMP/guest1.log" 'port 1: name tty' || va_fail "the guest did not get the port's name"
va_grep "$VA_TMP/guest1.log" 'port 1: host open 1' || va_fail "the pty port is not open for the guest"
va_wait 10 test -S "$GSOCK" || va_fail "the guest does not listen for the port"
va_bg gside "$VA_CONSOLE_IO" --connect "$GSOCK" --send "$VA_TMP/g1" \
	--recv $MIB1 --out "$VA_TMP/gside.bin" --linger
gside=$VA_PID
va_grep "$VA_TMP/guest1.log" 'port 1: client connected' || va_fail "guest-side client not seen"
va_bg hside "$VA_CONSOLE_IO" --tty "$pty" --send "$VA_TMP/h1" --recv $MIB1 \
	--out "$VA_TMP/hside.bin"
hside=$VA_PID
va_wait_exit "$hside" 120
[ "$VA_RC" = 0 ] || va_fail "the program on the pty failed ($VA_RC)"
va_grep "$VA_TMP/gside.log" "received $MIB1" 120 ||
	va_fail "the guest side received $(size_of "$VA_TMP/gside.bin") of $MIB1"
same "$VA_TMP/g1" "$VA_TMP/hside.bin" "guest to the pty"
same "$VA_TMP/h1" "$VA_TMP/gside.bin" "the pty to the guest"
kill -TERM "$gside"
va_grep "$VA_TMP/guest1.log" 'port 1: client left' || va_fail "the guest-side client did not leave"
# The program on the pty has left; a second one's line gets through.
va_bg gside2 "$VA_CONSOLE_IO" --connect "$GSOCK" --recv 15 --out "$VA_TMP/gside2.out"
gside2=$VA_PID
printf 'second program\n' | "$VA_CONSOLE_IO" --tty "$pty" --send /dev/stdin ||
	va_fail "a second program on the pty could not send"
va_wait_exit "$gside2" 30
[ "$VA_RC" = 0 ] && grep -q '^second program$' "$VA_TMP/gside2.out" ||
	va_fail "the second program's line did not reach the guest"
[ "$(grep -c 'port 1: host open' "$VA_TMP/guest1.log")" = 1 ] ||
	va_fail "PORT_OPEN of the pty port changed: $(grep 'port 1: host open' "$VA_TMP/guest1.log" | tr '\n' ' ')"
echo "pty port: 1 MiB each way, sha256 equal, always open"
va_stop "$guest_pid"

# ---- 4. emerg_wr without EMERG_WRITE negotiated ----
mkfifo "$VA_TMP/gin2"
exec {gin2}<>"$VA_TMP/gin2"
start_guest guest2 "$VA_TMP/gin2" "$VA_TMP/guest2.out" \
	--no-emerg-write --emerg-write 'not negotiated'
feat=$(sed -n 's/.*console: ready: features \(0x[0-9a-f]*\) .*/\1/p' "$VA_TMP/guest2.log")
[ -n "$feat" ] && [ $((feat & 4)) = 0 ] ||
	va_fail "EMERG_WRITE (bit 2) negotiated anyway: features '$feat'"
grep -q 'console: emerg_wr refused after 0 bytes: Invalid argument' "$VA_TMP/guest2.log" ||
	va_fail "the device did not refuse emerg_wr without EMERG_WRITE"
printf 'after the refused write\n' >&"$gin2"
printf 'after the refused write\n' >>"$VA_TMP/expect"
va_wait 30 same_size "$VA_TMP/stdout.bin" "$VA_TMP/expect" ||
	va_fail "the console does not work after the refused write"
same "$VA_TMP/expect" "$VA_TMP/stdout.bin" "stdout after the refused write"
same "$VA_TMP/expect" "$LOG" "the --log after the refused write"
va_wait 10 stats_match "emerg ${#EMERG} " || va_fail "the refused writes were counted"
echo "emerg_wr without the feature: refused, nothing written"

# ---- 5. consoled's stdout loses its reader ----
kill -TERM "$reader"
wait "$reader" 2>/dev/null
late1=$'into a closed stdout\n'
late2=$'and one more\n'
printf '%s' "$late1" >&"$gin2"
va_grep "$VA_TMP/guest2.log" 'port 0: host open 0' ||
	va_fail "the guest did not see the console close with stdout gone"
va_grep "$VA_TMP/consoled.log" 'port console: stdout is gone' ||
	va_fail "consoled did not say that stdout is gone"
printf '%s' "$late2" >&"$gin2"
dropped=$((${#late1} + ${#late2}))
va_wait 10 stats_match "port 0 \(console\): .* discarded $dropped " ||
	va_fail "consoled did not count the $dropped bytes written after stdout went as discarded"
[ "$(grep -c 'port console: writing' "$VA_TMP/consoled.log")" = 1 ] ||
	va_fail "consoled wrote to its closed stdout more than once"
printf '%s' "$late1" "$late2" >>"$VA_TMP/expect"
same "$VA_TMP/expect" "$LOG" "the --log with the dropped lines"
va_stop "$guest_pid"
va_stop "$cons_pid"
echo PASS
