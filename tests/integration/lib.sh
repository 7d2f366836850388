# SPDX-License-Identifier: MIT
# Shared helpers of the integration tests (sourced, bash).
#
# Every test gets a private temporary directory with its own simulator
# socket, starts its processes through va_bg (which records their PIDs) and
# leaves cleaning up to the EXIT trap: it stops exactly the processes it
# started, by PID, then removes the directory (kept with VA_KEEP_TMP=1).
# Readiness is waited for by polling a condition (va_wait), never by a
# fixed sleep.  Exit codes: 0 pass, 1 fail, 77 skip.

set -u

VA_BUILD_ROOT=${VA_BUILD_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
VA_SIM=${VA_SIM:-$VA_BUILD_ROOT/src/sim/virtio-argo-sim}
VA_SIMCTL=${VA_SIMCTL:-$VA_BUILD_ROOT/src/sim/virtio-argo-simctl}
VA_GUEST=${VA_GUEST:-$VA_BUILD_ROOT/src/sim/virtio-argo-guest}
VA_TESTD=${VA_TESTD:-$VA_BUILD_ROOT/tests/testdev/virtio-argo-testd}
VA_POKE=${VA_POKE:-$VA_BUILD_ROOT/tests/integration/argo-poke}
VA_PORT=${VA_PORT:-0x5641f000}

VA_TMP=$(mktemp -d "${TMPDIR:-/tmp}/va-it.XXXXXX")
VA_SOCK=$VA_TMP/sim.sock
VA_PIDS=()
export VIRTIO_ARGO_SIM_SOCKET=$VA_SOCK

va_log() {
	echo "[$(date +%T.%N | cut -c1-12)] $*"
}

# Print the logs of everything we started (on failure).
va_dump_logs() {
	local f
	for f in "$VA_TMP"/*.log; do
		[ -e "$f" ] || continue
		echo "----- $(basename "$f") -----"
		tail -n 40 "$f"
	done
}

# va_at_exit CMD: run CMD (eval'd) at exit, before the processes are
# stopped (e.g. unmounting a FUSE file system); the exit status stays.
VA_EXIT_HOOKS=()
va_at_exit() {
	VA_EXIT_HOOKS+=("$1")
}

va_cleanup() {
	local rc=$? pid i hook
	for hook in "${VA_EXIT_HOOKS[@]}"; do
		eval "$hook"
	done
	for pid in "${VA_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${VA_PIDS[@]}"; do
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		va_dump_logs
	fi
	if [ "${VA_KEEP_TMP:-0}" = 1 ]; then
		echo "kept $VA_TMP"
	else
		rm -rf "$VA_TMP"
	fi
	exit "$rc"
}
trap va_cleanup EXIT
trap 'exit 1' INT TERM

va_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

va_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

va_need() {
	local f
	for f in "$@"; do
		[ -x "$f" ] || va_fail "$f is not built"
	done
}

# va_wait TIMEOUT_S CMD...: poll CMD until it succeeds; 1 on timeout.
va_wait() {
	local t=$1 end
	shift
	end=$(( $(date +%s%N) / 1000000 + t * 1000 ))
	until "$@"; do
		[ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || return 1
		sleep 0.02
	done
	return 0
}

# va_bg NAME CMD...: run CMD in the background, output to $VA_TMP/NAME.log;
# its PID ends up in VA_PID and in the cleanup list.
va_bg() {
	local name=$1
	shift
	"$@" >"$VA_TMP/$name.log" 2>&1 &
	VA_PID=$!
	VA_PIDS+=("$VA_PID")
}

va_alive() {
	kill -0 "$1" 2>/dev/null
}

# va_wait_exit PID TIMEOUT_S: wait for PID to exit; its status in VA_RC.
va_wait_exit() {
	local pid=$1 t=$2
	if ! va_wait "$t" eval '! kill -0 '"$pid"' 2>/dev/null'; then
		va_fail "process $pid did not exit within $t s"
	fi
	wait "$pid"
	VA_RC=$?
}

# va_start_sim [SIM OPTIONS]: start the simulator on the private socket.
va_start_sim() {
	va_need "$VA_SIM"
	va_bg sim "$VA_SIM" --socket "$VA_SOCK" "$@"
	VA_SIM_PID=$VA_PID
	va_wait 10 test -S "$VA_SOCK" || va_fail "simulator did not start"
}

# va_start_testd NAME [TESTD OPTIONS]: the test device for guest domain 1
# at $VA_PORT, served from domain 0.
va_start_testd() {
	local name=$1
	shift
	va_need "$VA_TESTD"
	va_bg "$name" "$VA_TESTD" --sim-socket "$VA_SOCK" --domid 1 \
		--port "$VA_PORT" "$@"
	VA_TESTD_PID=$VA_PID
}

# va_guest ARGS...: the guest tool against the test device (foreground).
va_guest() {
	"$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_PORT" --timeout 10 "$@"
}

# va_grep FILE PATTERN [TIMEOUT_S]: wait (default 10 s) until FILE has a
# line matching PATTERN.
va_grep() {
	va_wait "${3:-10}" grep -q -- "$2" "$1"
}
