#!/bin/bash
# SPDX-License-Identifier: MIT
# A hostile sender in the guest's own domain sends garbage to the device
# while a legitimate guest runs test-echo: the device refuses it (its
# counters, logged when it stops, show every message dropped or counted as
# a violation), stays up, and the legitimate run passes.  Then argo-poke takes the device over as a
# driver and checks each refusal (VERSION, STATE, RANGE, INVALID, duplicate
# ids); afterwards a fresh guest works again.
. "$(dirname "$0")/lib.sh"

va_need "$VA_GUEST" "$VA_TESTD" "$VA_POKE"
va_start_sim
va_start_testd testd

va_bg echo "$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_PORT" --timeout 10 \
	test-echo --count 60000 --size 1024 --qd 8 --verify --progress 1000
echo_pid=$VA_PID
va_grep "$VA_TMP/echo.log" 'progress' || va_fail "test-echo did not start"

"$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 1 --port "$VA_PORT" garbage ||
	va_fail "argo-poke garbage"
va_alive "$VA_TESTD_PID" || va_fail "testd died on garbage"

va_wait_exit "$echo_pid" 100
grep -v progress "$VA_TMP/echo.log"
[ "$VA_RC" = 0 ] || va_fail "the legitimate guest failed during the garbage"
grep -q 'PASS: 60000/60000 ok' "$VA_TMP/echo.log" || va_fail "no PASS line"

# Of the eight messages, six are dropped (stray magic, version 7, a
# truncated header, a length past the message, a record flagged as a
# response, session 0), four of those as violations; the bogus session's
# two records are answered VA_ERR_STATE.  The legitimate guest adds none.
kill -TERM "$VA_TESTD_PID"
va_wait_exit "$VA_TESTD_PID" 20
[ "$VA_RC" = 0 ] || va_fail "testd exited with $VA_RC after SIGTERM"
stats=$(grep 'stopped: ' "$VA_TMP/testd.log") || va_fail "testd logged no counters"
echo "$stats"
dropped=$(echo "$stats" | sed -n 's/.* \([0-9]*\) dropped,.*/\1/p')
violations=$(echo "$stats" | sed -n 's/.* \([0-9]*\) violations,.*/\1/p')
[ "${dropped:-0}" -ge 6 ] || va_fail "testd dropped ${dropped:-?} of the 6 garbage messages it must drop"
[ "${violations:-0}" -ge 4 ] || va_fail "testd counted ${violations:-?} violations, expected at least 4"
va_start_testd testd2

"$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 1 --port "$VA_PORT" \
	driver-errors || va_fail "argo-poke driver-errors"
va_alive "$VA_TESTD_PID" || va_fail "testd died"

va_guest test-echo --count 1000 --size 100 --qd 4 --verify ||
	va_fail "a new guest session does not work after the hostile driver"

# A slow device (requests stay in flight 300 ms) must refuse a request id
# that is already in flight.
slow_port=$((VA_PORT + 1))
va_bg slow "$VA_TESTD" --sim-socket "$VA_SOCK" --domid 1 --port "$slow_port" \
	--delay-ms 300
va_watch "$VA_PID"
"$VA_POKE" --sim-socket "$VA_SOCK" --self-domid 1 --port "$slow_port" \
	--strict-dup driver-errors || va_fail "argo-poke driver-errors (slow device)"
echo PASS
