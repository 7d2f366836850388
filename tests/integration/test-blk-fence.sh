#!/bin/bash
# SPDX-License-Identifier: MIT
# A gone driver's write never lands after the next driver's.  blkd's image
# lives on failfs, which can hold one write back (a disk slow to finish
# it).  Guest 1 writes block 5 (A); then a write of B to block 5 is held
# in blkd's I/O engine and guest 1 goes away: in round "kill" its process
# is killed (a new driver session follows), in round "destroy" its whole
# domain is destroyed and created again (blkd loses its ring, waits for
# the domain and registers again).  Guest 2 then starts at once, with a
# writer that writes C to block 5 as soon as its disk appears: the hazard
# is real.  Without the fence guest 2 probes at once and C reaches the
# disk while B is still held there, which failfs records (ctl/overlap:
# two writes to the same blocks executing at once), and B, let go after
# C, leaves B in the image.  With the fence blkd holds guest 2's
# DEVICE_INFO reply until B has ended, so C can only come after B.
# blkd runs with --cache none: io_uring runs buffered writes to one file
# one after the other (io-wq hashes them by inode), which would hide the
# hazard; direct writes run side by side, as on a real disk.
# B is let go once C has been written, or, since with the fence it cannot
# be, 3 s after guest 2 started: the check itself (overlap, image) does
# not depend on that time; only a machine on which an unfenced probe and
# write took longer than 3 s would let the missing fence pass unseen.
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
va_start_blkd blkd "$VA_TMP/failfs/disk" --cache none --log-level info

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

	# Guest 2 and its writer of C, at once.
	va_bg_fuse fuse2-$how "$VA_TMP/mnt2-$how"
	( va_wait 60 test -f "$VA_TMP/mnt2-$how/disk" || exit 1
	  pattern "$how C" | dd of="$VA_TMP/mnt2-$how/disk" bs=4096 seek=5 \
		conv=notrunc,fsync status=none || exit 1
	  touch "$VA_TMP/c-done-$how" ) &
	c_pid=$!
	VA_PIDS+=("$c_pid")
	va_wait 3 test -e "$VA_TMP/c-done-$how"
	[ -e "$VA_TMP/ctl/overlap" ] &&
		va_fail "$how: guest 2's write reached the disk while guest 1's write to the same block was still executing ($(cat "$VA_TMP/ctl/overlap"))"
	[ -e "$VA_TMP/c-done-$how" ] &&
		va_fail "$how: guest 2 wrote C while guest 1's write of B was still held"
	image_has "$how A" || va_fail "$how: block 5 changed while B was held"
	va_log "$how: guest 2 waits while the dropped write executes"

	rm "$VA_TMP/ctl/stall-write"
	va_wait_exit "$c_pid" 60
	[ "$VA_RC" = 0 ] || va_fail "$how: guest 2 could not write C once B had ended"
	[ -e "$VA_TMP/ctl/overlap" ] &&
		va_fail "$how: two writes to block 5 executed at once ($(cat "$VA_TMP/ctl/overlap"))"
	image_has "$how C" || va_fail "$how: block 5 does not hold guest 2's C"
	va_wait 10 eval '[ "$(grep -c "DEVICE_INFO answered once the dropped requests had ended (1)" "$VA_TMP/blkd.log")" -ge '"$n"' ]' ||
		va_fail "$how: blkd did not report the held reply"
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
