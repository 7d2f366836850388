#!/bin/bash
# SPDX-License-Identifier: MIT
# A gone driver's write never lands after the next driver's.  blkd's image
# lives on failfs, which can hold one write back (a disk slow to finish
# it).  Guest 1 writes block 5 (A); then a write of B to block 5 is held
# in blkd's I/O engine and guest 1 goes away: in round "kill" its process
# is killed (a new driver session follows), in round "destroy" its whole
# domain is destroyed and created again (blkd loses its ring, waits for
# the domain and registers again).  Guest 2 must not finish its probe
# while B is still executing: blkd holds its DEVICE_INFO reply until the
# dropped request ended.  Once the write is let go, guest 2 probes and
# writes C to block 5, and the image holds C.  Without the fence guest 2
# would probe at once, and B, landing later, would overwrite C.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

[ "$(id -u)" = 0 ] || va_skip "needs root (FUSE for other users)"

# At exit, before failfs is unmounted: let a held write go, unmount the
# guests' files.
release_all() {
	rm -f "$VA_TMP/ctl/stall-write"
	local d
	for d in "$VA_TMP"/mnt*; do
		fusermount3 -u -z "$d" 2>/dev/null
	done
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

va_need "$VA_SIMCTL"
va_start_blkd blkd "$VA_TMP/failfs/disk" --cache writeback --log-level info

# round HOW N: guest 1 goes away by HOW (kill, destroy); N counts rounds.
round() {
	local how=$1 n=$2 guest1 dd_pid
	va_start_fuse fuse1-$how "$VA_TMP/mnt1-$how"
	guest1=$VA_FUSE_PID
	pattern "$how A" | dd of="$VA_TMP/mnt1-$how/disk" bs=4096 seek=5 \
		conv=notrunc,fsync status=none || va_fail "$how: guest 1: write A"
	image_has "$how A" || va_fail "$how: block 5 does not hold A"

	# B: held in blkd's engine (failfs stalls it), then guest 1 goes.
	touch "$VA_TMP/ctl/stall-write"
	pattern "$how B" | dd of="$VA_TMP/mnt1-$how/disk" bs=4096 seek=5 \
		conv=notrunc,fsync status=none 2>/dev/null &
	dd_pid=$!
	VA_PIDS+=("$dd_pid")
	va_wait 10 test -e "$VA_TMP/ctl/stalled" ||
		va_fail "$how: the write of B did not reach the disk"
	if [ "$how" = destroy ]; then
		"$VA_SIMCTL" --sim-socket "$VA_SOCK" destroy 1 ||
			va_fail "simctl destroy 1"
		va_grep "$VA_TMP/blkd.log" 'ring lost.*(1 of its requests still executing)' ||
			va_fail "blkd did not notice the domain's end with B executing"
	fi
	va_kill9 "$guest1"
	fusermount3 -u -z "$VA_TMP/mnt1-$how" 2>/dev/null
	if [ "$how" = destroy ]; then
		"$VA_SIMCTL" --sim-socket "$VA_SOCK" create 1 ||
			va_fail "simctl create 1"
		va_wait 10 eval '[ "$(grep -c "ring registered" "$VA_TMP/blkd.log")" -ge 2 ]' ||
			va_fail "blkd did not register its ring for the new domain"
	fi
	va_log "$how: guest 1 gone with its write of B executing in blkd"

	# Guest 2 must wait for that write.
	va_bg_fuse fuse2-$how "$VA_TMP/mnt2-$how"
	if [ "$how" = kill ]; then
		va_grep "$VA_TMP/blkd.log" 'new driver session' ||
			va_fail "$how: guest 2's DEVICE_INFO did not reach blkd"
	fi
	# Its probe cannot end while B executes (a fence held as long as
	# the stall): a file here now means the reply was not held.
	sleep 1
	[ -e "$VA_FUSE_DIR/disk" ] &&
		va_fail "$how: guest 2 probed while guest 1's write was still executing"
	image_has "$how A" || va_fail "$how: block 5 changed while B was held"
	va_log "$how: guest 2 waits while the dropped write executes"

	rm "$VA_TMP/ctl/stall-write"
	va_wait 10 test -f "$VA_FUSE_DIR/disk" ||
		va_fail "$how: guest 2 did not probe once the dropped write ended"
	va_wait 10 eval '[ "$(grep -c "DEVICE_INFO answered once the dropped requests had ended (1)" "$VA_TMP/blkd.log")" -ge '"$n"' ]' ||
		va_fail "$how: blkd did not report the held reply"
	image_has "$how B" || va_fail "$how: the dropped write of B did not land"
	pattern "$how C" | dd of="$VA_FUSE_DIR/disk" bs=4096 seek=5 \
		conv=notrunc,fsync status=none || va_fail "$how: guest 2: write C"
	image_has "$how C" || va_fail "$how: block 5 does not hold guest 2's C"
	va_log "$how: guest 2's write is the last one on block 5"
	va_stop_fuse
}

round kill 1
round destroy 2
va_alive "$VA_BLKD_PID" || va_fail "blkd died"
va_stop "$VA_BLKD_PID"
image_has "destroy C" || va_fail "block 5 lost C at blkd's exit"
va_alive "$VA_FAILFS_PID" || va_fail "failfs died"
va_log PASS
