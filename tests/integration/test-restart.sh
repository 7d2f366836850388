#!/bin/bash
# SPDX-License-Identifier: MIT
# The backend is killed with SIGKILL and restarted while test-echo runs:
# the guest renegotiates and replays, and every request completes with the
# right bytes (none lost, none failed).  The backend is frozen (SIGSTOP)
# before each kill, so requests are surely in flight, and the guest must
# count them as replayed.  Done twice at full speed, then in
# a slow run that keeps submitting while the backend is gone, so that the
# guest's sends are refused (ECONNREFUSED) and it must wait for HELLO.
. "$(dirname "$0")/lib.sh"

va_need "$VA_GUEST" "$VA_TESTD"
va_start_sim
va_start_testd testd0

count=200000
va_bg echo "$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_PORT" --timeout 20 \
	test-echo --count $count --size 2048 --qd 16 --verify --progress 2000
echo_pid=$VA_PID

# kill_frozen: freeze testd, let the guest's requests pile up in its ring,
# then kill it.
kill_frozen() {
	va_log "freezing and killing testd $VA_TESTD_PID"
	kill -STOP "$VA_TESTD_PID"
	sleep 0.2
	va_kill9 "$VA_TESTD_PID"
}

va_grep "$VA_TMP/echo.log" 'progress 4000' 60 || va_fail "test-echo did not run"
kill_frozen
va_start_testd testd1

va_grep "$VA_TMP/echo.log" 'progress 60000' 60 || va_fail "no progress after restart"
kill_frozen
sleep 0.5	# let the guest hit a missing backend ring (ECONNREFUSED)
va_start_testd testd2

va_wait_exit "$echo_pid" 110
grep -v progress "$VA_TMP/echo.log"
[ "$VA_RC" = 0 ] || va_fail "test-echo failed across restarts"
grep -q "PASS: $count/$count ok, 0 errors, 0 mismatches" "$VA_TMP/echo.log" ||
	va_fail "no PASS line"
reneg=$(sed -n 's/.*renegotiations \([0-9]*\).*/\1/p' "$VA_TMP/echo.log")
[ "${reneg:-0}" -ge 2 ] || va_fail "expected 2 renegotiations, saw ${reneg:-0} (run too short?)"
replayed=$(sed -n 's/.*replayed \([0-9]*\).*/\1/p' "$VA_TMP/echo.log")
[ "${replayed:-0}" -ge 2 ] || va_fail "requests were in flight at both kills, but ${replayed:-0} replayed"

# Slow submissions: one request every 100 ms into 8 slots, so that slots
# are free when the backend goes away and sends are refused: the
# simulator has 0.8 s to notice the dead backend before the guest's
# requests, sent into the dead ring meanwhile, would fill every slot.
# The backend comes back once the guest has seen a send refused (it logs
# the backend unreachable), not after a fixed time.
va_bg slow "$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_PORT" --timeout 20 \
	test-echo --count 60 --size 512 --qd 8 --interval-ms 100 --verify \
	--progress 10
slow_pid=$VA_PID
va_grep "$VA_TMP/slow.log" 'progress 20' 60 || va_fail "slow test-echo did not run"
va_log "killing testd $VA_TESTD_PID"
va_kill9 "$VA_TESTD_PID"
va_grep "$VA_TMP/slow.log" 'unreachable, waiting' 30 ||
	va_fail "the guest never found the backend gone"
va_start_testd testd3
va_wait_exit "$slow_pid" 60
grep -v progress "$VA_TMP/slow.log"
[ "$VA_RC" = 0 ] || va_fail "slow test-echo failed across a restart"
grep -q "PASS: 60/60 ok, 0 errors, 0 mismatches" "$VA_TMP/slow.log" ||
	va_fail "no PASS line (slow run)"
refused=$(sed -n 's/.*refused \([0-9]*\).*/\1/p' "$VA_TMP/slow.log")
[ "${refused:-0}" -ge 1 ] || va_fail "the guest never saw ECONNREFUSED"
echo PASS
