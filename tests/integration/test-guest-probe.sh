#!/bin/bash
# SPDX-License-Identifier: MIT
# The guest negotiates with the test device and moves requests both ways:
# `info` shows the negotiated device, test-echo checks every byte of
# thousands of requests of several sizes and queue depths.
. "$(dirname "$0")/lib.sh"

va_need "$VA_GUEST" "$VA_TESTD"
va_start_sim
va_start_testd testd

va_guest info >"$VA_TMP/info.out" 2>&1 || { cat "$VA_TMP/info.out"; va_fail "info"; }
cat "$VA_TMP/info.out"
grep -q '^device_id .* (test)' "$VA_TMP/info.out" || va_fail "info: not the test device"
grep -q 'VERSION_1' "$VA_TMP/info.out" || va_fail "info: VERSION_1 not negotiated"
grep -q '^status .*DRIVER_OK' "$VA_TMP/info.out" || va_fail "info: not DRIVER_OK"

for spec in "2000 1 1" "5000 512 32" "2000 4096 16" "200 131072 4"; do
	set -- $spec
	va_guest test-echo --count "$1" --size "$2" --qd "$3" --verify \
		>"$VA_TMP/echo.out" 2>&1
	rc=$?
	cat "$VA_TMP/echo.out"
	[ $rc = 0 ] || va_fail "test-echo $spec: rc $rc"
	grep -q "PASS: $1/$1 ok, 0 errors, 0 mismatches" "$VA_TMP/echo.out" ||
		va_fail "test-echo $spec: no PASS line"
done

# Queue 1 transforms (XOR 0xa5); the va_loop-driven path does the same.
for extra in "--queue 1" "--loop" "--queue 1 --loop"; do
	va_guest test-echo --count 3000 --size 700 --qd 32 --verify $extra \
		>"$VA_TMP/echo.out" 2>&1
	rc=$?
	cat "$VA_TMP/echo.out"
	[ $rc = 0 ] || va_fail "test-echo $extra: rc $rc"
	grep -q "PASS: 3000/3000 ok" "$VA_TMP/echo.out" || va_fail "test-echo $extra"
done

# A request larger than the device accepts (max_request, from info) is
# refused locally, not sent: exit 1 with the message, nothing else.
max=$(sed -n 's/^max_request *\([0-9]*\)$/\1/p' "$VA_TMP/info.out")
[ -n "$max" ] || va_fail "info: no max_request"
va_guest test-echo --count 1 --size $((max + 1)) --qd 1 >"$VA_TMP/big.out" 2>&1
rc=$?
cat "$VA_TMP/big.out"
[ $rc = 1 ] || va_fail "oversize request: rc $rc, expected 1"
grep -q "test-echo: --size $((max + 1)) exceeds the device's limit" "$VA_TMP/big.out" ||
	va_fail "oversize request: not refused for its size"

# A config change (testd bumps a counter on SIGHUP, with EVENT_CONFIG)
# while requests flow: no violation, and GET_CONFIG shows the new value.
va_bg hup "$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_PORT" --timeout 10 \
	test-echo --count 20000 --size 256 --qd 8 --verify --progress 1000
hup_pid=$VA_PID
va_grep "$VA_TMP/hup.log" 'progress 1000' || va_fail "test-echo did not start"
kill -HUP "$VA_TESTD_PID"
va_grep "$VA_TMP/testd.log" 'config event 1' || va_fail "testd saw no SIGHUP"
va_wait_exit "$hup_pid" 60
grep -v progress "$VA_TMP/hup.log"
[ "$VA_RC" = 0 ] || va_fail "test-echo failed across a config event"
grep -q 'violations 0,' "$VA_TMP/hup.log" || va_fail "EVENT_CONFIG counted as a violation"
va_guest info >"$VA_TMP/info2.out" 2>&1 || va_fail "info after the config event"
grep -q '^  0000: 74 65 73 74 00 00 00 00 01 00 00 00' "$VA_TMP/info2.out" ||
	{ cat "$VA_TMP/info2.out"; va_fail "config does not show the event counter"; }
grep -q '^config .*generation [1-9]' "$VA_TMP/info2.out" ||
	va_fail "config generation did not change"

va_alive "$VA_TESTD_PID" || va_fail "testd died"
echo PASS
