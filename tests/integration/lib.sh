# SPDX-License-Identifier: MIT
# Shared helpers of the integration tests (sourced, bash).
#
# Every test gets a private temporary directory with its own simulator
# socket, starts its processes through va_bg (which records their PIDs) and
# leaves cleaning up to the EXIT trap: it stops exactly the processes it
# started, by PID, then removes the directory (kept with VA_KEEP_TMP=1).
# Readiness is waited for by polling a condition (va_wait), never by a
# fixed sleep.  Exit codes: 0 pass, 1 fail, 77 skip (1 instead with
# VA_NO_SKIP=1 or CI=true, as scripts/test.sh --no-skip and CI run them).
#
# The daemons (simulator, testd, blkd, failfs) are watched: one still
# running at exit is stopped the way it is meant to be (SIGTERM, or an
# unmount for a FUSE file system) and must exit with status 0; one that
# ended by itself must have ended with 0.  A test that kills one on
# purpose says so (va_kill9).  At exit every log in the directory and the
# test's own stderr are scanned for sanitizer reports (AddressSanitizer,
# LeakSanitizer, UBSan's "runtime error:"): a bad exit status or a report
# fails the test, and the logs are printed.

set -u

VA_BUILD_ROOT=${VA_BUILD_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
VA_SIM=${VA_SIM:-$VA_BUILD_ROOT/src/sim/virtio-argo-sim}
VA_SIMCTL=${VA_SIMCTL:-$VA_BUILD_ROOT/src/sim/virtio-argo-simctl}
VA_GUEST=${VA_GUEST:-$VA_BUILD_ROOT/src/guest/virtio-argo-guest}
VA_TESTD=${VA_TESTD:-$VA_BUILD_ROOT/tests/testdev/virtio-argo-testd}
VA_POKE=${VA_POKE:-$VA_BUILD_ROOT/tests/integration/argo-poke}
VA_PORT=${VA_PORT:-0x5641f000}

VA_TMP=$(mktemp -d "${TMPDIR:-/tmp}/va-it.XXXXXX")
VA_SOCK=$VA_TMP/sim.sock
VA_PIDS=()		# every process started, in order
declare -A VA_NAME=()	# PID -> the name of its log
declare -A VA_WATCH=()	# PID -> how to stop it, for the watched ones
export VIRTIO_ARGO_SIM_SOCKET=$VA_SOCK
# The daemons' state files (--state-dir's default): the test's own, so
# that tests running side by side never share one.
VA_STATE_DIR=$VA_TMP/state
export VIRTIO_ARGO_STATE_DIR=$VA_STATE_DIR

# A copy of the test's own stderr, where the foreground commands' reports
# go, for the scan at exit.
exec {VA_STDERR}>&2
exec 2> >(tee "$VA_TMP/stderr.txt" >&"$VA_STDERR")
VA_TEE_PID=$!

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

# va_at_end CMD: run CMD (eval'd) at exit once every process has been
# stopped (e.g. unmounting what a daemon had open).
VA_END_HOOKS=()
va_at_end() {
	VA_END_HOOKS+=("$1")
}

# va_watch PID [STOP_CMD]: PID must exit with status 0; at exit, if it
# still runs, STOP_CMD (eval'd; default SIGTERM) stops it.
va_watch() {
	VA_WATCH[$1]=${2:-kill -TERM $1}
}

va_unwatch() {
	unset "VA_WATCH[$1]"
}

# va_kill9 PID: kill PID with SIGKILL on purpose and reap it.
va_kill9() {
	va_unwatch "$1"
	{ kill -KILL "$1"; wait "$1"; } 2>/dev/null
}

# va_gone PID: PID has exited (and the shell has reaped it).
va_gone() {
	! kill -0 "$1" 2>/dev/null
}

# va_end_watched PID: stop a watched process if it still runs and check
# its exit status; 1, saying why, unless it exited with 0.
va_end_watched() {
	local pid=$1 name=${VA_NAME[$1]:-process $1} st
	if ! va_gone "$pid"; then
		eval "${VA_WATCH[$pid]}"
		if ! va_wait 30 va_gone "$pid"; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			echo "FAIL: $name (pid $pid) did not exit within 30 s of: ${VA_WATCH[$pid]}" >&2
			return 1
		fi
	fi
	wait "$pid" 2>/dev/null
	st=$?
	[ "$st" = 0 ] && return 0
	if [ "$st" -gt 128 ]; then
		echo "FAIL: $name (pid $pid) was killed by signal $((st - 128))" >&2
	else
		echo "FAIL: $name (pid $pid) exited with status $st" >&2
	fi
	return 1
}

# va_scan_logs: 1 if a log or the test's stderr holds a sanitizer report
# (the lines are printed).
va_scan_logs() {
	local f hits bad=0
	for f in "$VA_TMP"/*.log "$VA_TMP"/*.out "$VA_TMP"/*.err \
		"$VA_TMP"/*.json "$VA_TMP"/*.fio "$VA_TMP/stderr.txt"; do
		[ -f "$f" ] || continue
		hits=$(grep -a -n -A 8 -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$f") ||
			continue
		echo "FAIL: sanitizer report in $(basename "$f"):" >&2
		printf '%s\n' "$hits" >&2
		bad=1
	done
	return $bad
}

va_cleanup() {
	local rc=$? pid i hook bad=0
	for hook in "${VA_EXIT_HOOKS[@]}"; do
		eval "$hook"
	done
	# The unwatched (guests, loads): SIGTERM, whatever their status.
	for pid in "${VA_PIDS[@]}"; do
		[ -n "${VA_WATCH[$pid]+set}" ] || kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${VA_PIDS[@]}"; do
		[ -n "${VA_WATCH[$pid]+set}" ] && continue
		va_wait 5 va_gone "$pid" || kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# The watched daemons, the last started first (the simulator last).
	for ((i = ${#VA_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${VA_PIDS[i]}
		[ -n "${VA_WATCH[$pid]+set}" ] || continue
		va_end_watched "$pid" || bad=1
	done
	for hook in "${VA_END_HOOKS[@]}"; do
		eval "$hook"
	done
	# All our output is in: stop copying stderr, then scan.
	exec 2>&"$VA_STDERR"
	va_wait 5 va_gone "$VA_TEE_PID" || kill "$VA_TEE_PID" 2>/dev/null
	va_scan_logs || bad=1
	[ "$bad" = 0 ] || rc=1
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

# va_skip REASON: the test cannot run here (exit 77); with VA_NO_SKIP=1 or
# under CI (CI=true) that is a failure, with the reason.
va_skip() {
	if [ "${VA_NO_SKIP:-0}" = 1 ] || [ "${CI:-}" = true ]; then
		echo "FAIL: would skip, and skips fail here (VA_NO_SKIP=1 or CI=true): $*" >&2
		exit 1
	fi
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
# CMD's arguments are expanded once, by the caller: a condition that
# reads something must read it inside CMD (a function such as va_lines,
# or eval '...' in single quotes), never as "$(...)" in the arguments,
# which would poll a value frozen before the wait began
# (tests/unit/test-wait-conditions.sh checks the scripts for that).
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
	"$@" >"$VA_TMP/$name.log" 2>&1 {VA_STDERR}>&- &
	VA_PID=$!
	VA_PIDS+=("$VA_PID")
	VA_NAME[$VA_PID]=$name
}

va_alive() {
	kill -0 "$1" 2>/dev/null
}

# va_wait_exit PID TIMEOUT_S: wait for PID to exit; its status in VA_RC
# (for the caller to check: PID is no longer watched).
va_wait_exit() {
	local pid=$1 t=$2
	if ! va_wait "$t" va_gone "$pid"; then
		va_fail "process $pid did not exit within $t s"
	fi
	va_unwatch "$pid"
	wait "$pid"
	VA_RC=$?
}

# va_stop PID: SIGTERM and wait for a clean exit (status 0).
va_stop() {
	kill -TERM "$1"
	va_wait_exit "$1" 20
	[ "$VA_RC" = 0 ] ||
		va_fail "${VA_NAME[$1]:-process $1} exited with $VA_RC after SIGTERM"
}

# va_start_sim [SIM OPTIONS]: start the simulator on the private socket.
va_start_sim() {
	va_need "$VA_SIM"
	va_bg sim "$VA_SIM" --sim-socket "$VA_SOCK" "$@"
	VA_SIM_PID=$VA_PID
	va_watch "$VA_PID"
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
	va_watch "$VA_PID"
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

# va_lines FILE PATTERN MIN: at least MIN lines of FILE match PATTERN (a
# condition for va_wait: FILE is read at each poll).
va_lines() {
	local n
	n=$(grep -c -- "$2" "$1" 2>/dev/null)
	[ "${n:-0}" -ge "$3" ]
}
