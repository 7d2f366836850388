#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The whole test suite, as CI runs it (README's test command):
#   1. install what is missing (Debian 12, root)
#   2. build everything with -Werror, run the Check unit suites and the
#      integration tests (simulator, daemons, user-space guest, FUSE)
#   3. the same unit and integration tests in an ASan+UBSan build
#   4. the kernel modules: W=1 build without warnings, checkpatch --strict
#   5. real Xen with Argo under QEMU (tests/system/run.sh): stage 0, the
#      argo core, /dev/argo and the daemons' xen back-end in dom0; stage 1,
#      the stock virtio_blk over virtio_argo served by virtio-argo-blkd in
#      dom0; stage 2, an xl-created domU's virtio_blk served by blkd in
#      dom0
# and closes with one line "N passed, N failed".
#
#   scripts/test.sh [--no-sanitize] [--no-kernel] [--no-system]
# The --no-* switches are for quick local runs; CI uses none of them.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sanitize=1 kernel=1 system=1
for arg in "$@"; do
	case "$arg" in
	--no-sanitize) sanitize=0 ;;
	--no-kernel) kernel=0 ;;
	--no-system) system=0 ;;
	-h|--help) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "test.sh: unknown option '$arg'" >&2; exit 2 ;;
	esac
done

passed=0 failed=0 skipped=0
failures=()

note() { printf '\n=== %s\n' "$*"; }
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL: $1"; }

sets=(test)
[ "$kernel" = 1 ] || [ "$system" = 1 ] && sets+=(system)
note "dependencies"
if ! scripts/deps.sh "${sets[@]}"; then
	echo "test.sh: could not install dependencies" >&2
	exit 1
fi

# run_meson NAME BUILDDIR [meson setup args...]: build and run the unit and
# integration suites, counting each meson test.
run_meson() {
	local name=$1 dir=$2
	shift 2
	note "$name: configure and build ($dir)"
	if [ ! -f "$dir/build.ninja" ]; then
		if ! meson setup "$dir" -Dwerror=true "$@"; then
			fail "$name: meson setup"
			return
		fi
	fi
	if ! meson compile -C "$dir"; then
		fail "$name: build"
		return
	fi
	pass "$name: build"
	note "$name: unit and integration tests"
	meson test -C "$dir" --print-errorlogs --num-processes 2 \
		--suite unit --suite integration 2>&1 | tee "$dir/test-summary.txt"
	local ok nok skip
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$dir/test-summary.txt" | tail -1)
	nok=0
	for k in Fail 'Unexpected Pass' Timeout; do
		local v
		v=$(sed -n "s/^$k: *\([0-9]*\).*/\1/p" "$dir/test-summary.txt" | tail -1)
		nok=$((nok + ${v:-0}))
	done
	skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$dir/test-summary.txt" | tail -1)
	if [ -z "$ok" ]; then
		fail "$name: meson test did not run"
		return
	fi
	passed=$((passed + ok))
	failed=$((failed + nok))
	skipped=$((skipped + ${skip:-0}))
	[ "$nok" -eq 0 ] || failures+=("$name: $nok meson test(s), see $dir/meson-logs/testlog.txt")
}

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1

run_meson "gcc" build-test
if [ "$sanitize" = 1 ]; then
	run_meson "asan+ubsan" build-sanitize -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug
fi

if [ "$kernel" = 1 ]; then
	note "kernel modules"
	if tests/kernel/build.sh; then pass "kernel: W=1 build, no warnings"; else fail "kernel: W=1 build"; fi
	for a in arm64 armhf; do
		if tests/kernel/build.sh --arch "$a"; then pass "kernel: $a cross-build, W=1, no warnings"; else fail "kernel: $a cross-build"; fi
	done
	if tests/kernel/checkpatch.sh; then pass "kernel: checkpatch --strict"; else fail "kernel: checkpatch --strict"; fi
fi

if [ "$system" = 1 ]; then
	note "real Xen with Argo under QEMU: stages 0, 1 (dom0) and 2 (an xl-created domU)"
	if tests/system/run.sh build-xen; then
		pass "xen stages 0-2: argo core, /dev/argo; virtio_blk over virtio_argo in dom0 and in a domU, blkd --transport xen"
	else
		fail "xen stages 0-2 (logs in build-xen/)"
	fi
fi

note "summary"
for f in "${failures[@]}"; do echo "  failed: $f"; done
[ "$skipped" -eq 0 ] || echo "  ($skipped skipped: see the test logs for why)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
