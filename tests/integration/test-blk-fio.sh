#!/bin/bash
# SPDX-License-Identifier: MIT
# fio through the FUSE file with verify=crc32c (random writes, then
# verify), psync and libaio with direct=1, on both I/O engines of blkd
# (aio through the io_uring-failure test hook, so the fallback is tested
# too); then mkfs.ext4, a tree copied in through a loop mount and read
# back, and e2fsck -fn clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

command -v fio >/dev/null || va_skip "fio not installed"
[ "$(id -u)" = 0 ] || va_skip "needs root (FUSE for other users, losetup)"
va_start_sim

img=$VA_TMP/disk.img
truncate -s 256M "$img"

run_fio() {
	local name=$1
	shift
	fio --name="$name" --filename="$VA_TMP/mnt/disk" --size=64M \
		--rw=randwrite --bs=4k --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --verify_state_save=0 \
		--output="$VA_TMP/$name.fio" "$@" ||
		{ cat "$VA_TMP/$name.fio"; va_fail "fio $name failed"; }
	grep -q "err= 0" "$VA_TMP/$name.fio" || va_fail "fio $name: errors"
	va_log "fio $name ok"
}

for engine in io_uring aio; do
	if [ $engine = aio ]; then
		VIRTIO_ARGO_BLKD_TEST_NO_IO_URING=1 va_start_blkd blkd-$engine "$img"
		va_grep "$VA_TMP/blkd-$engine.log" 'using the aio engine' ||
			va_fail "no fallback to aio"
	else
		va_start_blkd blkd-$engine "$img"
	fi
	va_start_fuse fuse-$engine "$VA_TMP/mnt"
	run_fio psync-$engine --ioengine=psync
	run_fio libaio-$engine --ioengine=libaio --direct=1 --iodepth=16 \
		--bs=16k
	va_stop_fuse
	va_stop "$VA_BLKD_PID"
done

# A file system through a loop device on the FUSE file.
va_start_blkd blkd-fs "$img"
va_start_fuse fuse-fs "$VA_TMP/mnt"
mkfs.ext4 -q -F "$VA_TMP/mnt/disk" || va_fail "mkfs.ext4"
loop=$(losetup -f --show "$VA_TMP/mnt/disk") || va_fail "losetup"
mkdir -p "$VA_TMP/fs"
src=${VA_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/src
ok=1
if mount "$loop" "$VA_TMP/fs"; then
	cp -a "$src" "$VA_TMP/fs/tree" || ok=0
	umount "$VA_TMP/fs" || ok=0
	echo 3 >/proc/sys/vm/drop_caches
	mount -o ro "$loop" "$VA_TMP/fs" || ok=0
	diff -r "$src" "$VA_TMP/fs/tree" >/dev/null || ok=0
	umount "$VA_TMP/fs"
else
	ok=0
fi
losetup -d "$loop"
[ $ok = 1 ] || va_fail "copy through the loop mount"
e2fsck -fn "$VA_TMP/mnt/disk" >"$VA_TMP/e2fsck.log" 2>&1 ||
	{ cat "$VA_TMP/e2fsck.log"; va_fail "e2fsck"; }
va_stop_fuse
va_stop "$VA_BLKD_PID"
echo PASS
