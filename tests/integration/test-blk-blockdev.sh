#!/bin/bash
# SPDX-License-Identifier: MIT
# blkd serving a real block device: a loop device with 4 KiB logical
# sectors over a sparse file.  The guest must see the size blkd got from
# BLKGETSIZE64 and the block size from BLKSSZGET; data written through
# the device must be in the backing file; a discard (fallocate punch-hole
# on the guest's FUSE file) must reach the loop device as BLKDISCARD and
# free the backing file's blocks; a write-zeroes (fallocate zero-range)
# must read back as zeroes; and the partial-block case is refused.  In a
# domain other than dom0 the default cache mode opens it with O_DIRECT.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

[ "$(id -u)" = 0 ] || va_skip "needs root (loop devices, FUSE)"
command -v losetup >/dev/null || va_skip "losetup missing (util-linux)"
command -v fallocate >/dev/null || va_skip "fallocate missing (util-linux)"

va_start_sim --domains 3,5
backing=$VA_TMP/backing.img
truncate -s 48M "$backing"
loop=$(losetup -f --show -b 4096 "$backing") ||
	va_skip "no loop device available (losetup: $loop)"
va_at_exit "losetup -d '$loop' 2>/dev/null"

# Outside dom0 (a driver domain, which can end while its guests live on)
# the default cache for a block device is none: the image open with
# O_DIRECT, so that what blkd acknowledged is below it and not in a page
# cache that ends with the domain (docs/deployment.md, 10.8).
va_bg dom3 "$VA_BLKD" --sim-socket "$VA_SOCK" --self-domid 3 --domid 5 \
	--port $((VA_BLK_PORT + 8)) --image "$loop"
pid=$VA_PID
va_watch "$pid"
va_grep "$VA_TMP/dom3.log" 'serving' || va_fail "blkd in dom3 did not start"
grep -q 'blk: cache none (auto: dom3 can end while its guests live on; the image is a block device)' \
	"$VA_TMP/dom3.log" || { cat "$VA_TMP/dom3.log"; va_fail "the default in dom3 is not none"; }
direct=
for f in /proc/$pid/fd/*; do
	[ "$(readlink "$f")" = "$loop" ] || continue
	flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$pid/fdinfo/${f##*/}")
	(( flags & 040000 )) && direct=1
done
va_stop "$pid"
[ -n "$direct" ] || va_fail "blkd in dom3 has $loop open without O_DIRECT"
va_start_blkd blkd "$loop"

"$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_BLK_PORT" info \
	>"$VA_TMP/info.txt" || va_fail "guest info: $(cat "$VA_TMP/info.txt")"
grep -q 'capacity 98304 sectors' "$VA_TMP/info.txt" ||
	va_fail "capacity is not BLKGETSIZE64's 48 MiB: $(cat "$VA_TMP/info.txt")"
grep -q 'blk_size 4096' "$VA_TMP/info.txt" ||
	va_fail "block size is not BLKSSZGET's 4096: $(cat "$VA_TMP/info.txt")"
grep -q 'max_discard_sectors [1-9]' "$VA_TMP/info.txt" ||
	va_fail "no discard offered for a loop device: $(cat "$VA_TMP/info.txt")"

va_start_fuse fuse "$VA_TMP/mnt"
disk=$VA_TMP/mnt/disk
yes "block device data" | head -c $((8 << 20)) >"$VA_TMP/data"
dd if="$VA_TMP/data" of="$disk" bs=1M seek=4 conv=notrunc,fsync status=none ||
	va_fail "write through the device"
cmp -s "$VA_TMP/data" <(dd if="$backing" bs=1M skip=4 count=8 status=none) ||
	va_fail "the backing file does not hold what was written"
used=$(du -k "$backing" | cut -f1)
[ "$used" -ge 8192 ] || va_fail "the backing file holds only $used KiB after 8 MiB"

# Discard 6 MiB of it: the loop device punches the backing file's blocks.
fallocate --punch-hole --keep-size -o $((4 << 20)) -l $((6 << 20)) "$disk" ||
	va_fail "discard through the device"
after=$(du -k "$backing" | cut -f1)
[ "$after" -le $((used - 6144)) ] ||
	va_fail "BLKDISCARD did not reach the backing file ($used -> $after KiB)"
cmp -s <(head -c $((6 << 20)) /dev/zero) \
	<(dd if="$disk" bs=1M skip=4 count=6 status=none) ||
	va_fail "discarded blocks do not read back as zeroes"

# Write-zeroes over the last 2 MiB still holding data.
fallocate --zero-range --keep-size -o $((10 << 20)) -l $((2 << 20)) "$disk" ||
	va_fail "write-zeroes through the device"
cmp -s <(head -c $((2 << 20)) /dev/zero) \
	<(dd if="$backing" bs=1M skip=10 count=2 status=none) ||
	va_fail "write-zeroes did not zero the backing file"

# Not whole 4 KiB blocks: refused, nothing changed.
dd if="$VA_TMP/data" of="$disk" bs=1M seek=20 count=1 conv=notrunc,fsync status=none
if fallocate --punch-hole --keep-size -o $((20 << 20)) -l 512 "$disk" 2>/dev/null; then
	va_fail "a discard of half a block was accepted"
fi
cmp -s <(head -c $((1 << 20)) "$VA_TMP/data") \
	<(dd if="$backing" bs=1M skip=20 count=1 status=none) ||
	va_fail "a refused discard changed data"

va_stop_fuse
[ "$VA_RC" = 0 ] || va_fail "the guest exited with $VA_RC"
va_stop "$VA_BLKD_PID"
grep -qi 'warning\|error' "$VA_TMP/blkd.log" && va_fail "blkd logged trouble: $(cat "$VA_TMP/blkd.log")"
echo PASS
