#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGTERM during a write workload loses no acknowledged write.  A writer
# puts a distinct 4 KiB block at each next offset of the FUSE file (one
# write, no fsync: the device's write cache holds it) and logs each block
# once the write returned.  blkd gets SIGTERM in the middle and must exit 0;
# then every logged block is read back from the image itself.  blkd starts
# again and the writer goes on; at the end every logged block is read back
# through the device (after a FLUSH) and from the image.  Round 2 holds a
# write in the disk (failfs) across the SIGTERM: blkd's stop timeout runs
# out, and the guest replays the write to the next blkd.
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

# Round 2: SIGTERM with a write surely in flight.  The image is on failfs,
# which holds one write back; blkd waits --stop-timeout-ms for it, gives
# up (the stop-timeout path), exits 0 once the disk lets the write go, and
# the next blkd gets it replayed by the guest: the writer's dd succeeds,
# the block holds its data, and the guest counts the replay.
va_start_failfs
va_start_blkd blkd3 "$VA_TMP/failfs/disk" --stop-timeout-ms 1000
va_start_fuse fuse2 "$VA_TMP/mnt2"
block 7 | dd of="$VA_TMP/mnt2/disk" bs=4096 seek=7 conv=notrunc,fsync \
	status=none || va_fail "round 2: first write"
touch "$VA_TMP/ctl/stall-write"
block 9 | dd of="$VA_TMP/mnt2/disk" bs=4096 seek=9 conv=notrunc,fsync \
	status=none &
dd_pid=$!
VA_PIDS+=("$dd_pid")
va_wait 10 test -e "$VA_TMP/ctl/stalled" ||
	va_fail "round 2: the write did not reach the disk"
kill -TERM "$VA_BLKD_PID"
va_grep "$VA_TMP/blkd3.log" 'stop timeout: 1 requests unanswered' 10 ||
	va_fail "round 2: blkd did not give up on the held write"
rm "$VA_TMP/ctl/stall-write"
va_wait_exit "$VA_BLKD_PID" 20
[ "$VA_RC" = 0 ] || va_fail "round 2: blkd exited with $VA_RC after SIGTERM"
va_alive "$dd_pid" || va_fail "round 2: the write completed without a device"
va_start_blkd blkd4 "$VA_TMP/failfs/disk"
va_wait_exit "$dd_pid" 30
[ "$VA_RC" = 0 ] || va_fail "round 2: the held write failed ($VA_RC) instead of being replayed"
va_stop_fuse
va_stop "$VA_BLKD_PID"
replayed=$(sed -n 's/.*: submitted .*, replayed \([0-9]*\),.*/\1/p' "$VA_TMP/fuse2.log")
[ "${replayed:-0}" -ge 1 ] || va_fail "round 2: the guest replayed ${replayed:-nothing}"
for i in 7 9; do
	dd if="$VA_TMP/backing.img" bs=4096 skip=$i count=1 status=none |
		cmp -s - <(block $i) || va_fail "round 2: block $i lost"
done
va_log "round 2: the write held across SIGTERM was replayed ($replayed) and landed"
va_log "PASS"
