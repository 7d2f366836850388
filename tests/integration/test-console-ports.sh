#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-consoled's named ports, control messages and restart, with
# the guest's console mode, in the simulator:
#  - bytes the host side sends to a named port before the guest opens it
#    wait in consoled's socket and all reach the guest once it does;
#  - a named port (--extra-port data=socket:..., the guest's --port
#    data=...) carries 16 MiB each way, sha256 equal, while the console is
#    idle, and again while the console carries 4 MiB each way (also
#    checked);
#  - malformed control messages from the guest (an unknown event, a bad
#    port id, PORT_READY for a port never added) are refused and counted,
#    and the console works after them;
#  - consoled SIGKILLed and started again: the guest sees the restart and,
#    as Linux's virtio_console, sends nothing but the renegotiation (no
#    second DEVICE_READY); the new consoled restores the driver session's
#    state from its state file (ports added, ready, open in the guest), so
#    the console carries a line each way and the named port 16 MiB each
#    way, sha256 equal;
#  - a corrupt state file is refused with a log line, and the state of
#    another driver session (a new guest) is discarded with a log line;
#    the new guest's console works either way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console-lib.sh"

MIB16=$((16 * 1024 * 1024))

head -c $MIB16 /dev/urandom >"$VA_TMP/h16"
head -c $MIB16 /dev/urandom >"$VA_TMP/g16"
head -c $MIB4 /dev/urandom >"$VA_TMP/to-guest"
head -c $MIB4 /dev/urandom >"$VA_TMP/from-guest"
HSOCK=$VA_TMP/host-data.sock
GSOCK=$VA_TMP/guest-data.sock

va_start_sim

start_consoled() {
	va_bg "$1" "$VA_CONSOLED" --sim-socket "$VA_SOCK" --domid 1 \
		--port "$CPORT" --pty --pty-link "$VA_TMP/console.pty" \
		--extra-port data=socket:"$HSOCK"
	cons_pid=$VA_PID
	va_watch "$cons_pid"
	va_wait 10 test -S "$HSOCK" || va_fail "$1: no socket for the named port"
}

# start_data_guest NAME STDIN STDOUT ARGS...: with the named port data.
start_data_guest() {
	start_guest "$1" "$2" "$3" --port data="$GSOCK" "${@:4}"
}

# named_port ROUND GUEST_LOG: 16 MiB each way through the named port.
named_port() {
	local r=$1 glog=$2 gpid hpid
	va_grep "$glog" 'port 1: name data' || va_fail "$r: the guest did not get the port's name"
	va_wait 10 test -S "$GSOCK" || va_fail "$r: the guest does not listen for the port"
	va_bg "gside$r" "$VA_CONSOLE_IO" --connect "$GSOCK" --send "$VA_TMP/g16" \
		--recv $MIB16 --out "$VA_TMP/gside$r.out" --linger
	gpid=$VA_PID
	va_grep "$glog" 'port 1: client connected' || va_fail "$r: guest-side client not seen"
	va_bg "hside$r" "$VA_CONSOLE_IO" --connect "$HSOCK" --send "$VA_TMP/h16" \
		--recv $MIB16 --out "$VA_TMP/hside$r.out" --linger
	hpid=$VA_PID
	va_grep "$VA_TMP/hside$r.log" "received $MIB16" 120 ||
		va_fail "$r: the host side received $(size_of "$VA_TMP/hside$r.out") of $MIB16"
	va_grep "$VA_TMP/gside$r.log" "received $MIB16" 120 ||
		va_fail "$r: the guest side received $(size_of "$VA_TMP/gside$r.out") of $MIB16"
	same "$VA_TMP/g16" "$VA_TMP/hside$r.out" "$r: guest to host on the named port"
	same "$VA_TMP/h16" "$VA_TMP/gside$r.out" "$r: host to guest on the named port"
	kill -TERM "$gpid" "$hpid"
	echo "$r: 16 MiB each way on the named port, sha256 equal"
}

start_consoled consoled1
pty=$(readlink "$VA_TMP/console.pty")

# ---- 1. the named port while the console is idle ----
start_data_guest g1 /dev/null /dev/null
grep -q 'ports 2 multiport 1' "$VA_TMP/g1.log" || va_fail "two ports with MULTIPORT expected"

# First the host side sends while nothing on the guest's side holds the
# port open: a driver drops what arrives on a closed port (Linux's
# virtio_console does, so does the guest's console mode), so consoled
# must leave the bytes in the socket until the guest opens the port.
head -c 65536 /dev/urandom >"$VA_TMP/early"
va_grep "$VA_TMP/g1.log" 'port 1: name data' || va_fail "early: the guest did not get the port's name"
va_bg hearly "$VA_CONSOLE_IO" --connect "$HSOCK" --send "$VA_TMP/early" --linger
hpid=$VA_PID
va_grep "$VA_TMP/hearly.log" 'sent 65536' || va_fail "early: the host side could not send"
kill -USR1 "$cons_pid"
va_grep "$VA_TMP/consoled1.log" 'port 1 (data): rx_bytes' || va_fail "early: no counters"
grep -q 'port 1 (data): rx_bytes 0 ' "$VA_TMP/consoled1.log" ||
	va_fail "early: consoled passed on input for a port the guest has not opened"
va_wait 10 test -S "$GSOCK" || va_fail "early: the guest does not listen for the port"
va_bg gearly "$VA_CONSOLE_IO" --connect "$GSOCK" --recv 65536 --out "$VA_TMP/gearly.out"
va_grep "$VA_TMP/gearly.log" 'received 65536' 30 ||
	va_fail "early: the guest side received $(size_of "$VA_TMP/gearly.out") of 65536"
same "$VA_TMP/early" "$VA_TMP/gearly.out" "early: host to guest before the guest opened"
kill -TERM "$hpid"
va_grep "$VA_TMP/consoled1.log" 'port data: client left' || va_fail "early: the host client did not leave"
echo "early: 64 KiB sent before the guest opened the port, all delivered once it did"
named_port idle "$VA_TMP/g1.log"
va_stop "$guest_pid"

# ---- 2. the named port while the console is busy ----
start_data_guest g2 "$VA_TMP/from-guest" "$VA_TMP/g2.out"
va_bg pty-io "$VA_CONSOLE_IO" --tty "$pty" --send "$VA_TMP/to-guest" \
	--recv $MIB4 --out "$VA_TMP/pty.out"
ptyio=$VA_PID
named_port busy "$VA_TMP/g2.log"
va_wait_exit "$ptyio" 120
[ "$VA_RC" = 0 ] || va_fail "the console's pty traffic failed"
va_wait 60 has_size "$VA_TMP/g2.out" $MIB4 || va_fail "the guest's console got $(size_of "$VA_TMP/g2.out") bytes"
same "$VA_TMP/to-guest" "$VA_TMP/g2.out" "console host to guest, busy"
same "$VA_TMP/from-guest" "$VA_TMP/pty.out" "console guest to host, busy"
echo "busy: the console carried 4 MiB each way meanwhile"
va_stop "$guest_pid"

# ---- 3. malformed control messages ----
# 42: no such event; PORT_OPEN (6) for port 99; PORT_READY (3) for port 1
# before DEVICE_READY (never added).
mkfifo "$VA_TMP/g3.in"
exec {g3in}<>"$VA_TMP/g3.in"
start_data_guest g3 "$VA_TMP/g3.in" "$VA_TMP/g3.out" \
	--send-ctrl 42,0,0 --send-ctrl 6,99,1 --send-ctrl 3,1,1
for why in 'unknown event: event 42' 'no such port: event 6 (PORT_OPEN) port 99' \
	'port never added: event 3 (PORT_READY) port 1'; do
	va_grep "$VA_TMP/consoled1.log" "control message refused: $why" ||
		va_fail "not refused: $why"
done
kill -USR1 "$cons_pid"
va_grep "$VA_TMP/consoled1.log" 'control: in [0-9]* refused 3 ' ||
	va_fail "the refusals are not counted"
printf 'after the refusals\n' | "$VA_CONSOLE_IO" --tty "$pty" --send /dev/stdin
va_grep "$VA_TMP/g3.out" 'after the refusals' || va_fail "the console does not work after refused messages"

# ---- 4. consoled killed and started again ----
SFILE=$VA_STATE_DIR/console-dom1-$CPORT.state
[ -s "$SFILE" ] || va_fail "no state file $SFILE"
va_kill9 "$cons_pid"
start_consoled consoled2
pty=$(readlink "$VA_TMP/console.pty")
va_grep "$VA_TMP/g3.log" 'console: the device restarted' 30 ||
	va_fail "the guest did not see the restart"
va_grep "$VA_TMP/consoled2.log" 'restored: 2 port(s), ready 0x3, open in the guest 0x1' ||
	va_fail "consoled2 did not restore the driver session's state"
printf 'host after the restart\n' | "$VA_CONSOLE_IO" --tty "$pty" --send /dev/stdin
va_grep "$VA_TMP/g3.out" 'host after the restart' 30 ||
	va_fail "host to guest does not work after the restart"
"$VA_CONSOLE_IO" --tty "$pty" --recv 23 --out "$VA_TMP/pty-restart.out" &
reader=$!
printf 'guest after the restart\n' >&"$g3in"
wait "$reader" || va_fail "guest to host does not work after the restart"
grep -q 'guest after the restart' "$VA_TMP/pty-restart.out" ||
	va_fail "the pty did not get the guest's line after the restart"
named_port restart "$VA_TMP/g3.log"
va_stop "$guest_pid"
grep -q 'restarts 1 ' "$VA_TMP/g3.log" || va_fail "the guest's counters do not show the restart"
echo "restart: the driver session's state restored, console and named port work"

# ---- 5. a corrupt state file, another session's state file ----
va_kill9 "$cons_pid"
printf 'garbage, not a state file of any kind.............' >"$SFILE"
start_consoled consoled3
va_grep "$VA_TMP/consoled3.log" "state file $SFILE ignored: not a state file" ||
	va_fail "the corrupt state file was not refused"
start_data_guest g4 /dev/null "$VA_TMP/g4.out"
printf 'after a corrupt file\n' | "$VA_CONSOLE_IO" --tty "$(readlink "$VA_TMP/console.pty")" --send /dev/stdin
va_grep "$VA_TMP/g4.out" 'after a corrupt file' || va_fail "the console does not work after a corrupt file"
va_stop "$guest_pid"
# g4's state in the file; consoled killed; a new guest (a new session).
va_kill9 "$cons_pid"
[ -s "$SFILE" ] || va_fail "no state file of g4's session"
start_consoled consoled4
start_data_guest g5 /dev/null "$VA_TMP/g5.out"
va_grep "$VA_TMP/consoled4.log" 'state of driver session 0x[0-9a-f]* (dom1) discarded' ||
	va_fail "another session's state was not discarded"
grep -q 'restored:' "$VA_TMP/consoled4.log" && va_fail "another session's state was restored"
printf 'a new session\n' | "$VA_CONSOLE_IO" --tty "$(readlink "$VA_TMP/console.pty")" --send /dev/stdin
va_grep "$VA_TMP/g5.out" 'a new session' || va_fail "the new guest's console does not work"
va_stop "$guest_pid"
echo "state files: a corrupt one refused, another session's discarded"
va_stop "$cons_pid"
echo PASS
