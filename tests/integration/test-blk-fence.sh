#!/bin/bash
# SPDX-License-Identifier: MIT
# A gone driver's write never lands after the next driver's.  blkd's image
# lives on failfs, which can hold one write back (a disk slow to finish
# it).  Guest 1 writes block 5 (A); then a write of B to block 5 is held
# in blkd's I/O engine and guest 1 is killed.  Guest 2 (a new driver
# session) must not finish its probe while that write is still executing:
# blkd holds its DEVICE_INFO reply until the dropped request ended.  Once
# the write is let go, guest 2 probes and writes C to block 5, and the
# image holds C.  Without the fence guest 2 would probe at once, and B,
# landing later, would overwrite C.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

[ "$(id -u)" = 0 ] || va_skip "needs root (FUSE for other users)"

# At exit, before failfs is unmounted: let a held write go, unmount the
# guests' files.
release_all() {
	rm -f "$VA_TMP/ctl/stall-write"
	fusermount3 -u -z "$VA_TMP/mnt1" 2>/dev/null
	fusermount3 -u -z "$VA_TMP/mnt2" 2>/dev/null
}
va_at_exit release_all
va_start_sim
va_start_failfs

pattern() {
	yes "$1" | head -c 4096
}
# image_has WHAT: block 5 of the backing image holds pattern WHAT.
image_has() {
	dd if="$VA_TMP/backing.img" bs=4096 skip=5 count=1 status=none |
		cmp -s - <(pattern "$1")
}

va_start_blkd blkd "$VA_TMP/failfs/disk" --cache writeback --log-level info
va_start_fuse fuse1 "$VA_TMP/mnt1"
guest1=$VA_FUSE_PID
pattern A | dd of="$VA_TMP/mnt1/disk" bs=4096 seek=5 conv=notrunc,fsync \
	status=none || va_fail "guest 1: write A"
image_has A || va_fail "block 5 does not hold A"

# B: held in blkd's engine (failfs stalls it), then guest 1 dies.
touch "$VA_TMP/ctl/stall-write"
pattern B | dd of="$VA_TMP/mnt1/disk" bs=4096 seek=5 conv=notrunc,fsync \
	status=none 2>/dev/null &
dd_pid=$!
VA_PIDS+=("$dd_pid")
va_wait 10 test -e "$VA_TMP/ctl/stalled" ||
	va_fail "the write of B did not reach the disk"
{ kill -KILL "$guest1"; wait "$guest1"; } 2>/dev/null
fusermount3 -u -z "$VA_TMP/mnt1" 2>/dev/null
va_log "guest 1 killed with its write of B executing in blkd"

# Guest 2 must wait for that write.
mkdir -p "$VA_TMP/mnt2"
va_bg fuse2 "$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_BLK_PORT" \
	--timeout 20 blk fuse "$VA_TMP/mnt2"
VA_FUSE_PID=$VA_PID
VA_FUSE_DIR=$VA_TMP/mnt2
va_grep "$VA_TMP/blkd.log" 'new driver session' ||
	va_fail "guest 2's DEVICE_INFO did not reach blkd"
# Its probe cannot end while B executes (a fence held forever by the
# stall): a file here now means the reply was not held.
sleep 1
[ -e "$VA_TMP/mnt2/disk" ] &&
	va_fail "guest 2 probed while guest 1's write was still executing"
image_has A || va_fail "block 5 changed while B was held"
va_log "guest 2 waits while the dropped write executes"

rm "$VA_TMP/ctl/stall-write"
va_wait 10 test -f "$VA_TMP/mnt2/disk" ||
	va_fail "guest 2 did not probe once the dropped write ended"
va_grep "$VA_TMP/blkd.log" 'DEVICE_INFO answered once the dropped requests had ended (1)' ||
	va_fail "blkd did not report the held reply"
image_has B || va_fail "the dropped write of B did not land"
pattern C | dd of="$VA_TMP/mnt2/disk" bs=4096 seek=5 conv=notrunc,fsync \
	status=none || va_fail "guest 2: write C"
image_has C || va_fail "block 5 does not hold guest 2's C"
va_log "guest 2's write is the last one on block 5"

va_stop_fuse
va_stop "$VA_BLKD_PID"
image_has C || va_fail "block 5 lost C at blkd's exit"
va_alive "$VA_FAILFS_PID" || va_fail "failfs died"
va_log PASS
