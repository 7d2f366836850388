#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGTERM during a write workload loses no acknowledged write.  A writer
# puts a distinct 4 KiB block at each next offset of the FUSE file (one
# write, no fsync: the device's write cache holds it) and logs each block
# once the write returned.  blkd gets SIGTERM in the middle and must exit 0;
# then every logged block is read back from the image itself.  blkd starts
# again, the writer's pending write is replayed and the writer goes on;
# at the end every logged block is read back through the device (after a
# FLUSH) and from the image.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

[ "$(id -u)" = 0 ] || va_skip "needs root (FUSE for other users)"
va_start_sim

img=$VA_TMP/disk.img
acks=$VA_TMP/acks
truncate -s 64M "$img"
: >"$acks"
va_start_blkd blkd "$img"
va_start_fuse fuse "$VA_TMP/mnt"

block() {
	yes "block $1 of the SIGTERM test" | head -c 4096
}

# check FILE: every acknowledged block holds its content in FILE.
check() {
	local f=$1 i n=0
	while read -r i; do
		dd if="$f" bs=4096 skip="$i" count=1 status=none |
			cmp -s - <(block "$i") ||
			va_fail "acknowledged block $i is not in $f"
		n=$((n + 1))
	done <"$acks"
	va_log "$n acknowledged blocks intact in $(basename "$f")"
}

writer() {
	local i
	for ((i = 0; i < 1000; i++)); do
		[ -e "$VA_TMP/stop" ] && return 0
		block "$i" | dd of="$VA_TMP/mnt/disk" bs=4096 seek="$i" \
			conv=notrunc status=none || return 1
		echo "$i" >>"$acks"
	done
}
writer &
wpid=$!
VA_PIDS+=("$wpid")

va_wait 30 eval '[ "$(wc -l <"$acks")" -ge 150 ]' ||
	va_fail "the writer did not get going"
va_stop "$VA_BLKD_PID"
va_log "blkd stopped by SIGTERM after $(wc -l <"$acks") acknowledged writes"
check "$img"

n=$(wc -l <"$acks")
va_start_blkd blkd2 "$img"
va_wait 30 eval '[ "$(wc -l <"$acks")" -ge $((n + 100)) ]' ||
	va_fail "the writer did not go on after the restart"
touch "$VA_TMP/stop"
wait "$wpid" || va_fail "the writer saw an error"
sync "$VA_TMP/mnt/disk" || va_fail "FLUSH through the device"
check "$VA_TMP/mnt/disk"
va_stop_fuse
va_stop "$VA_BLKD_PID"
check "$img"
va_log "PASS"
