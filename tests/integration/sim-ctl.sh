#!/bin/sh
# SPDX-License-Identifier: MIT
# virtio-argo-sim and virtio-argo-simctl from the command line: start-up
# rules, domain create/destroy/list, policy errors, exit codes.
# Usage: sim-ctl.sh SIM_BINARY SIMCTL_BINARY
set -u

SIM=$1
CTL=$2
DIR=$(mktemp -d /tmp/va-sim-ctl.XXXXXX)
SOCK=$DIR/run/sim.sock
SIM_PID=

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

cleanup() {
	if [ -n "$SIM_PID" ]; then
		kill "$SIM_PID" 2>/dev/null
		wait "$SIM_PID" 2>/dev/null
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT

wait_socket() {
	i=0
	while [ ! -S "$SOCK" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && fail "simulator did not create $SOCK"
		sleep 0.01
	done
}

expect_rc() {
	want=$1
	shift
	"$@" >"$DIR/out" 2>"$DIR/err"
	rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$DIR/err")"
}

expect_rc 0 "$SIM" --help
grep -q -- "--policy" "$DIR/out" || fail "sim --help lacks --policy"
expect_rc 0 "$SIM" --version
expect_rc 2 "$SIM" --bogus
expect_rc 2 "$SIM" --domains 1,x
expect_rc 0 "$CTL" --help
expect_rc 0 "$CTL" --version
expect_rc 2 "$CTL"
expect_rc 2 "$CTL" create
expect_rc 2 "$CTL" create 40000
expect_rc 2 "$CTL" frobnicate 1

# A bad policy file: exit 2 naming the line.
printf '# ok\nallow-send 0 1\nattach 0 uid\n' >"$DIR/bad.pol"
expect_rc 2 "$SIM" --sim-socket "$SOCK" --policy "$DIR/bad.pol"
grep -q "bad.pol:3" "$DIR/err" || fail "policy error lacks the line number: $(cat "$DIR/err")"
expect_rc 2 "$SIM" --sim-socket "$SOCK" --policy "$DIR/missing.pol"

# No simulator: the control tool fails with 1.
expect_rc 1 "$CTL" --sim-socket "$SOCK" list

"$SIM" --sim-socket "$SOCK" --domains 3,7-8 2>"$DIR/sim.log" &
SIM_PID=$!
wait_socket

expect_rc 1 "$SIM" --sim-socket "$SOCK"
grep -q "another simulator" "$DIR/err" || fail "second simulator: $(cat "$DIR/err")"

expect_rc 0 "$CTL" --sim-socket "$SOCK" list
[ "$(sort -n "$DIR/out" | tr '\n' ' ')" = "0 3 7 8 " ] || fail "list: $(cat "$DIR/out")"
expect_rc 0 "$CTL" --sim-socket "$SOCK" create 5
expect_rc 1 "$CTL" --sim-socket "$SOCK" create 5
expect_rc 0 "$CTL" --sim-socket "$SOCK" destroy 7
expect_rc 1 "$CTL" --sim-socket "$SOCK" destroy 7
expect_rc 1 "$CTL" --sim-socket "$SOCK" destroy 0
VIRTIO_ARGO_SIM_SOCKET=$SOCK expect_rc 0 "$CTL" list
[ "$(sort -n "$DIR/out" | tr '\n' ' ')" = "0 3 5 8 " ] || fail "list after: $(cat "$DIR/out")"

kill -TERM "$SIM_PID"
wait "$SIM_PID"
rc=$?
SIM_PID=
[ "$rc" -eq 0 ] || fail "simulator exited $rc on SIGTERM"
[ ! -e "$SOCK" ] || fail "socket left behind after a clean exit"
echo "ok"
