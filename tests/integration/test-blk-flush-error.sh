#!/bin/bash
# SPDX-License-Identifier: MIT
# A disk that fails: blkd's image lives on failfs, a FUSE file system whose
# fsync and write fail with EIO on demand.  A FLUSH whose fdatasync fails
# must reach the guest as an I/O error (never as success), a failed write
# likewise, for that request only: the daemon keeps serving, and once the
# disk heals, writes and flushes succeed again.  Both engines (aio with
# O_DIRECT, which FUSE accepts on the kernels we run).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

va_start_sim
va_start_failfs

# write_block N [fsync]: write 4 KiB at block N through the guest's FUSE file.
write_block() {
	local conv=notrunc
	[ "${2:-}" = fsync ] && conv=notrunc,fsync
	head -c 4096 /dev/urandom >"$VA_TMP/blk.$1"
	dd if="$VA_TMP/blk.$1" of="$VA_FUSE_DIR/disk" bs=4096 count=1 seek="$1" \
		conv=$conv status=none 2>>"$VA_TMP/dd.err"
}
# dd_eio: the last write_block failed with EIO (not a lost FUSE file).
dd_eio() {
	tail -n 1 "$VA_TMP/dd.err" | grep -q 'Input/output error'
}
# same_block N: the guest reads back what block N was written with.
same_block() {
	dd if="$VA_FUSE_DIR/disk" bs=4096 count=1 skip="$1" status=none |
		cmp -s - "$VA_TMP/blk.$1"
}

for engine in io_uring aio; do
	# libaio is asynchronous only with O_DIRECT (--cache none).
	opts=(--engine io_uring --cache writeback)
	[ $engine = aio ] && opts=(--engine aio --cache none)
	va_start_blkd blkd-$engine "$VA_TMP/failfs/disk" "${opts[@]}"
	va_start_fuse fuse-$engine "$VA_TMP/mnt-$engine"

	write_block 1 fsync || va_fail "$engine: healthy write+flush failed"
	same_block 1 || va_fail "$engine: block 1 reads back wrong"

	touch "$VA_TMP/ctl/fail-fsync"
	if write_block 2 fsync; then
		va_fail "$engine: a FLUSH whose fdatasync failed was reported as success"
	fi
	dd_eio || va_fail "$engine: the failed FLUSH: $(tail -n 1 "$VA_TMP/dd.err")"
	va_log "$engine: failed fdatasync reached the guest as an I/O error"
	rm "$VA_TMP/ctl/fail-fsync"

	touch "$VA_TMP/ctl/fail-write"
	if write_block 3; then
		va_fail "$engine: a write that failed was reported as success"
	fi
	dd_eio || va_fail "$engine: the failed write: $(tail -n 1 "$VA_TMP/dd.err")"
	va_log "$engine: failed write reached the guest as an I/O error"
	rm "$VA_TMP/ctl/fail-write"

	va_alive "$VA_BLKD_PID" || va_fail "$engine: blkd died"
	write_block 4 fsync || va_fail "$engine: write+flush after the disk healed"
	same_block 4 || va_fail "$engine: block 4 reads back wrong"
	same_block 1 || va_fail "$engine: block 1 changed"
	va_stop_fuse
	va_stop "$VA_BLKD_PID"
done
va_alive "$VA_FAILFS_PID" || va_fail "failfs died"
echo PASS
