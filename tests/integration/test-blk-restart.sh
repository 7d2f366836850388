#!/bin/bash
# SPDX-License-Identifier: MIT
# blkd is killed (-9) and restarted, then stopped with SIGTERM and
# restarted, while fio writes and verifies through the FUSE file: the
# guest replays what was in flight and no error reaches fio.  Then the
# same under an ext4 file system with a journal: after the restarts,
# mount (journal replay), unmount and e2fsck -fn is clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

command -v fio >/dev/null || va_skip "fio not installed"
[ "$(id -u)" = 0 ] || va_skip "needs root (FUSE, losetup)"
va_start_sim
img=$VA_TMP/disk.img
truncate -s 256M "$img"

va_start_blkd blkd0 "$img"
va_start_fuse fuse "$VA_TMP/mnt"
va_bg fio fio --name=r --filename="$VA_TMP/mnt/disk" --size=128M \
	--rw=randwrite --bs=4k --ioengine=libaio --direct=1 --iodepth=8 \
	--verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0
fio_pid=$VA_PID
sleep 1
va_log "kill -9 blkd"
va_kill9 "$VA_BLKD_PID"
va_start_blkd blkd1 "$img"
sleep 1
va_log "SIGTERM blkd"
va_stop "$VA_BLKD_PID"
va_start_blkd blkd2 "$img"
va_wait_exit "$fio_pid" 100
[ "$VA_RC" = 0 ] || va_fail "fio failed across restarts"
grep -q "err= 0" "$VA_TMP/fio.log" || va_fail "fio reported errors"

# ext4 with a journal across a kill -9, with writes surely in flight: a
# fresh guest (so its replay count is this part's), six copies of the
# source tree each followed by a sync; blkd is frozen in the middle (the
# guest's writes wait in its ring), then killed and started again.  Every
# copy and sync must succeed, the file system must unmount, mount again
# (journal replay) with all six trees identical to the source, and pass
# e2fsck -fn; the guest must have replayed what was in flight.
va_stop_fuse
[ "$VA_RC" = 0 ] || va_fail "the fio part's guest exited with $VA_RC"
va_start_fuse fuse-ext4 "$VA_TMP/mnt"
mkfs.ext4 -q -F "$VA_TMP/mnt/disk" || va_fail "mkfs.ext4"
loop=$(losetup -f --show "$VA_TMP/mnt/disk") || va_fail "losetup"
va_at_exit "umount '$VA_TMP/fs' 2>/dev/null; losetup -d '$loop' 2>/dev/null"
mkdir -p "$VA_TMP/fs"
mount "$loop" "$VA_TMP/fs" || va_fail "mount"
src=${VA_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/src
( for i in 1 2 3 4 5 6; do
	cp -a "$src" "$VA_TMP/fs/tree$i" || { echo "cp $i failed"; exit 1; }
	sync || { echo "sync $i failed"; exit 1; }
	echo "tree $i copied"
done ) >"$VA_TMP/cp.log" 2>&1 &
cp_pid=$!
VA_PIDS+=("$cp_pid")
va_grep "$VA_TMP/cp.log" 'tree 1 copied' 60 || va_fail "the first copy did not finish"
va_log "freezing blkd during the copies"
kill -STOP "$VA_BLKD_PID"
# A write and a flush that surely reach the frozen blkd's ring.
( echo "written while blkd was frozen" >"$VA_TMP/fs/marker" &&
  sync -f "$VA_TMP/fs/marker" ) &
marker_pid=$!
VA_PIDS+=("$marker_pid")
sleep 0.5
va_kill9 "$VA_BLKD_PID"
grep -q 'tree 6 copied' "$VA_TMP/cp.log" && va_fail "the copies were over before the kill"
va_start_blkd blkd3 "$img"
va_wait_exit "$cp_pid" 120
[ "$VA_RC" = 0 ] || va_fail "copy across a restart: $(cat "$VA_TMP/cp.log")"
va_wait_exit "$marker_pid" 60
[ "$VA_RC" = 0 ] || va_fail "the write made while blkd was frozen failed"
umount "$VA_TMP/fs" || va_fail "umount after the restart"
mount "$loop" "$VA_TMP/fs" || va_fail "mount (journal replay) after the restart"
for i in 1 2 3 4 5 6; do
	diff -r "$src" "$VA_TMP/fs/tree$i" >"$VA_TMP/diff.log" 2>&1 ||
		va_fail "tree $i differs from the source: $(head -5 "$VA_TMP/diff.log")"
done
grep -q "written while blkd was frozen" "$VA_TMP/fs/marker" ||
	va_fail "the write made while blkd was frozen is lost"
umount "$VA_TMP/fs" || va_fail "umount after the check"
losetup -d "$loop" || va_fail "losetup -d"
e2fsck -fn "$VA_TMP/mnt/disk" >"$VA_TMP/e2fsck.log" 2>&1 ||
	{ cat "$VA_TMP/e2fsck.log"; va_fail "e2fsck after restart"; }
va_stop_fuse
[ "$VA_RC" = 0 ] || va_fail "the ext4 part's guest exited with $VA_RC"
replayed=$(sed -n 's/.*: submitted .*, replayed \([0-9]*\),.*/\1/p' "$VA_TMP/fuse-ext4.log")
[ "${replayed:-0}" -ge 1 ] ||
	va_fail "blkd was killed with writes in flight, but the guest replayed ${replayed:-nothing}"
va_log "ext4: six trees intact across kill -9, $replayed requests replayed"
va_stop "$VA_BLKD_PID"
echo PASS
