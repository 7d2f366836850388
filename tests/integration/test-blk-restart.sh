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

# ext4 with a journal across a kill -9.
mkfs.ext4 -q -F "$VA_TMP/mnt/disk" || va_fail "mkfs.ext4"
loop=$(losetup -f --show "$VA_TMP/mnt/disk") || va_fail "losetup"
mkdir -p "$VA_TMP/fs"
mount "$loop" "$VA_TMP/fs" || { losetup -d "$loop"; va_fail "mount"; }
src=${VA_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/src
( for i in 1 2 3 4 5 6; do cp -a "$src" "$VA_TMP/fs/tree$i"; sync; done ) &
cp_pid=$!
sleep 1
va_kill9 "$VA_BLKD_PID"
va_start_blkd blkd3 "$img"
wait $cp_pid
cp_rc=$?
umount "$VA_TMP/fs"
mount "$loop" "$VA_TMP/fs" && umount "$VA_TMP/fs"
losetup -d "$loop"
[ $cp_rc = 0 ] || va_fail "copy failed across a restart"
e2fsck -fn "$VA_TMP/mnt/disk" >"$VA_TMP/e2fsck.log" 2>&1 ||
	{ cat "$VA_TMP/e2fsck.log"; va_fail "e2fsck after restart"; }
va_stop_fuse
va_stop "$VA_BLKD_PID"
echo PASS
