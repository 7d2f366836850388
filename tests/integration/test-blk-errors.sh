#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad requests (out of range, unaligned, unknown type, short GET_ID ...)
# get exactly the right status while a valid load runs beside them;
# read-only mode refuses writes; a second daemon on the same image is
# refused; SIGHUP announces a new capacity; a full backing file system
# gives IOERR and the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

va_start_sim
img=$VA_TMP/disk.img
truncate -s 64M "$img"

va_start_blkd blkd "$img" --serial va-test
out=$(va_blk bench --rw randwrite --iodepth 16 --runtime 2 --inject-bad 5) ||
	va_fail "bench with injected bad requests: $out"
echo "$out"
echo "$out" | grep -q '"errors": 0' || va_fail "errors in the valid load"

# A second daemon on the same image: refused, exit 1 with the reason.
"$VA_BLKD" --sim-socket "$VA_SOCK" --domid 1 --image "$img" \
	--port 0x100 >"$VA_TMP/second.log" 2>&1
rc=$?
[ $rc = 1 ] || va_fail "a second daemon on the same image: rc $rc, expected 1"
grep -q "in use by another process" "$VA_TMP/second.log" ||
	va_fail "no clear message for the second daemon"

# SIGHUP: a bigger image is announced.
truncate -s 128M "$img"
kill -HUP "$VA_BLKD_PID"
va_grep "$VA_TMP/blkd.log" 'capacity 131072 -> 262144' || va_fail "no resize"
va_blk bench --rw read --runtime 0.2 >/dev/null || va_fail "read after resize"
"$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_BLK_PORT" info |
	grep -q 'capacity 262144 sectors' || va_fail "guest sees no new capacity"
va_stop "$VA_BLKD_PID"

# Read-only.
va_start_blkd blkd-ro "$img" --readonly
va_blk bench --rw randwrite --iodepth 4 --runtime 0.5 --expect-ioerr >/dev/null ||
	va_fail "read-only device accepted writes"
va_blk bench --rw randread --iodepth 4 --runtime 0.5 >/dev/null ||
	va_fail "read-only device refused reads"
va_stop "$VA_BLKD_PID"

# A full backing file system: a small tmpfs, which needs root; the last
# case, so that without root the rest has run before the skip.
[ "$(id -u)" = 0 ] ||
	va_skip "not root: no tmpfs for the full file system (ENOSPC) case; the cases before it passed"
mkdir -p "$VA_TMP/small"
mount -t tmpfs -o size=8m tmpfs "$VA_TMP/small" || va_fail "tmpfs"
# On a failure, once blkd has stopped (io_uring lets go of the image file
# shortly after the process).
small_umount() {
	! mountpoint -q "$VA_TMP/small" ||
		va_wait 10 umount "$VA_TMP/small" 2>/dev/null
}
va_at_end small_umount
truncate -s 64M "$VA_TMP/small/sparse.img"
va_start_blkd blkd-full "$VA_TMP/small/sparse.img"
# The bench fails (exit 1) because requests got IOERR (status 1).
va_blk bench --rw write --bs 64k --iodepth 4 --runtime 3 >"$VA_TMP/full.json" 2>&1
rc=$?
[ $rc = 1 ] || va_fail "writes beyond a full file system: bench rc $rc, expected 1"
grep -q 'failed (result 1, status 1)' "$VA_TMP/full.json" ||
	va_fail "writes beyond a full file system did not fail with IOERR"
va_alive "$VA_BLKD_PID" || va_fail "blkd died on ENOSPC"
va_blk bench --rw read --runtime 0.5 >/dev/null ||
	va_fail "reads fail after ENOSPC"
grep -q "No space left" "$VA_TMP/blkd-full.log" ||
	va_fail "ENOSPC not logged"
va_stop "$VA_BLKD_PID"
small_umount || va_fail "cannot unmount the small tmpfs"
echo PASS
