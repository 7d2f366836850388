#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The whole test suite, as CI runs it (README's test command):
#   1. install what is missing (Debian 12, root)
#   2. build everything with -Werror, run the Check unit suites and the
#      integration tests (simulator, daemons, user-space guest, FUSE)
#   3. the same unit and integration tests in an ASan+UBSan build
#   4. the kernel modules: W=1 build without warnings (also cross-built
#      for arm64 and armhf), checkpatch --strict
#   5. real Xen with Argo under QEMU (tests/system/run.sh): stage 0, the
#      argo core, /dev/argo and the daemons' xen back-end in dom0; stage 1,
#      the stock virtio_blk over virtio_argo served by virtio-argo-blkd in
#      dom0; stage 2, an xl-created domU's virtio_blk served by blkd in
#      dom0; stage 3, the transport against a hostile peer in dom0;
#      stage 4, an xl-created domU's stock virtio_net served by
#      virtio-argo-netd in dom0; stage 5, its stock virtio_console (one
#      vCPU) served by virtio-argo-consoled in dom0; stage xs, a guest
#      that finds its disk in XenStore and follows it; stage 6, a guest
#      served by the three daemons in a driver domain that is not dom0,
#      across that domain's destruction and re-creation; stage 7, stage 6
#      again in a boot of Xen with FLASK enforcing config/flask's policy,
#      with a domain the policy refuses
# and closes with one line "N passed, N failed, N skipped".
#
#   scripts/test.sh [--no-sanitize] [--no-kernel] [--no-system] [--no-skip]
# The --no-sanitize/kernel/system switches are for quick local runs; CI
# uses none of them.  Under CI (CI=true) or with --no-skip a test that
# skips (exit 77: no /dev/fuse, fio, root ...) is a failure, its reason
# printed; otherwise skips are counted and listed with their reasons.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sanitize=1 kernel=1 system=1 noskip=0
[ "${CI:-}" = true ] && noskip=1
for arg in "$@"; do
	case "$arg" in
	--no-sanitize) sanitize=0 ;;
	--no-kernel) kernel=0 ;;
	--no-system) system=0 ;;
	--no-skip) noskip=1 ;;
	-h|--help) sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "test.sh: unknown option '$arg'" >&2; exit 2 ;;
	esac
done

passed=0 failed=0 skipped=0
failures=() skips=()

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

# builddir_diff DIR KEY=VALUE...: the KEY=VALUE pairs that DIR's
# configuration does not have, one a line, with what it has instead.
builddir_diff() {
	local dir=$1
	shift
	meson introspect --buildoptions "$dir" | python3 -c '
import json, sys
have = {}
for o in json.load(sys.stdin):
    v = o["value"]
    if isinstance(v, bool):
        v = "true" if v else "false"
    elif isinstance(v, list):
        v = ",".join(v)
    have[o["name"]] = str(v)
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    if have.get(k) != v:
        print("%s (has %r)" % (kv, have.get(k, "nothing")))
' "$@"
}

# meson_results NAME DIR: count the results in DIR's meson-logs/testlog.json
# (one meson test run) into passed/failed/skipped; each failure and skip
# is listed with its reason.  A skip is a failure under --no-skip or CI.
meson_results() {
	local name=$1 dir=$2 kind test why
	while IFS=$'\t' read -r kind test why; do
		case "$kind" in
		pass) passed=$((passed + 1)) ;;
		fail) fail "$name: $test: $why" ;;
		skip)
			if [ "$noskip" = 1 ]; then
				fail "$name: $test skipped, a failure under --no-skip/CI: $why"
			else
				skipped=$((skipped + 1))
				skips+=("$name: $test: $why")
				echo "SKIP: $name: $test: $why"
			fi ;;
		esac
	done < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    name = t["name"].split(" / ")[-1]
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    r = t["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        print("pass\t%s\t" % name)
        continue
    kind, mark = ("skip", "SKIP:") if r == "SKIP" else ("fail", "FAIL:")
    why = [l[len(mark):].strip() for l in lines if l.startswith(mark)]
    why = (why or lines[-1:] or ["(no output)"])[0].replace("\t", " ")
    print("%s\t%s (%s)\t%s" % (kind, name, r, why))
' "$dir/meson-logs/testlog.json")
}

# run_meson NAME BUILDDIR KEY=VALUE...: configure BUILDDIR with exactly
# these option values (an existing one is checked and reconfigured where it
# differs), build, run the unit and integration suites and count each meson
# test.  The build itself is not a test: it counts only when it fails.
run_meson() {
	local name=$1 dir=$2 kv diff rc
	shift 2
	local opts=()
	for kv in "$@"; do opts+=("-D$kv"); done
	note "$name: configure and build ($dir)"
	if [ -f "$dir/build.ninja" ]; then
		diff=$(builddir_diff "$dir" "$@") ||
			{ fail "$name: cannot read the options of $dir"; return; }
		if [ -n "$diff" ]; then
			printf '%s: reconfiguring, it lacks:\n%s\n' "$dir" "$diff"
			meson configure "$dir" "${opts[@]}" ||
				{ fail "$name: meson configure $dir"; return; }
		fi
	elif ! meson setup "$dir" "${opts[@]}"; then
		fail "$name: meson setup"
		return
	fi
	diff=$(builddir_diff "$dir" "$@")
	if [ -n "$diff" ]; then
		fail "$name: $dir is not configured as asked: $diff"
		return
	fi
	if ! meson compile -C "$dir"; then
		fail "$name: build"
		return
	fi
	note "$name: unit and integration tests"
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes 2 \
		--suite unit --suite integration
	rc=$?
	if [ ! -s "$dir/meson-logs/testlog.json" ]; then
		fail "$name: meson test did not run (exit $rc)"
		return
	fi
	local before=$failed
	meson_results "$name" "$dir"
	[ "$rc" = 0 ] || [ "$failed" -gt "$before" ] ||
		fail "$name: meson test exited $rc, see $dir/meson-logs/testlog.txt"
}

# The integration tests fail instead of skipping (tests/integration/lib.sh).
export VA_NO_SKIP=$noskip
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1

# Every option that decides what is tested, so that a reused build
# directory is checked against all of them.
common=(werror=true warning_level=2 b_ndebug=false c_args=)
run_meson "gcc" build-test "${common[@]}" buildtype=debugoptimized \
	b_sanitize=none b_lundef=true
if [ "$sanitize" = 1 ]; then
	run_meson "asan+ubsan" build-sanitize "${common[@]}" buildtype=debug \
		b_sanitize=address,undefined b_lundef=false
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
	note "real Xen with Argo under QEMU: stages 0-3 (blk, a hostile peer), 4 (virtio_net), 5 (virtio_console), xs (XenStore discovery), 6 (a driver domain), 7 (FLASK)"
	if tests/system/run.sh build-xen; then
		pass "xen stages 0-7 and xs: argo core, /dev/argo; virtio_blk, virtio_net and virtio_console over virtio_argo served from dom0 and from a driver domain; a hostile peer; XenStore discovery; FLASK"
	else
		fail "xen stages 0-7 and xs (logs in build-xen/)"
	fi
fi

note "summary"
for f in "${failures[@]}"; do echo "  failed: $f"; done
for f in "${skips[@]}"; do echo "  skipped: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
