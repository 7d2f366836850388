# SPDX-License-Identifier: MIT
# Helpers of the virtio-argo-blkd integration tests (sourced after lib.sh).
# The guest side is virtio-argo-guest's blk modes (fuse, bench), in guest
# domain 1; blkd serves it from domain 0 at the default blk port.

VA_BLKD=${VA_BLKD:-$VA_BUILD_ROOT/src/devices/blk/virtio-argo-blkd}
VA_BLK_PORT=0x5641b000
VA_FAILFS=${VA_FAILFS:-$VA_BUILD_ROOT/tests/integration/failfs}

# va_start_blkd NAME IMAGE [BLKD OPTIONS]
va_start_blkd() {
	local name=$1 image=$2
	shift 2
	va_need "$VA_BLKD"
	va_bg "$name" "$VA_BLKD" --sim-socket "$VA_SOCK" --domid 1 \
		--image "$image" "$@"
	VA_BLKD_PID=$VA_PID
	va_watch "$VA_PID"
	va_grep "$VA_TMP/$name.log" 'serving' 2>/dev/null ||
		va_fail "blkd $name did not start"
}

# va_blk ARGS...: the guest tool's blk mode (foreground).
va_blk() {
	"$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_BLK_PORT" --timeout 20 \
		blk "$@"
}

# va_bg_fuse NAME MOUNTDIR: start the guest tool's FUSE mode (the device
# as MOUNTDIR/disk once it has probed), without waiting for it.
va_bg_fuse() {
	local name=$1 dir=$2
	[ -c /dev/fuse ] || va_skip "no /dev/fuse"
	mkdir -p "$dir"
	va_bg "$name" "$VA_GUEST" --sim-socket "$VA_SOCK" --port "$VA_BLK_PORT" \
		--timeout 20 blk fuse "$dir"
	VA_FUSE_PID=$VA_PID
	VA_FUSE_DIR=$dir
}

# va_start_fuse NAME MOUNTDIR: the device as MOUNTDIR/disk.
va_start_fuse() {
	va_bg_fuse "$1" "$2"
	va_wait 10 test -f "$2/disk" || va_fail "FUSE file did not appear"
}

# va_stop_fuse: unmount the guest's FUSE file; the guest must exit with 0.
va_stop_fuse() {
	fusermount3 -u "$VA_FUSE_DIR" 2>/dev/null || umount "$VA_FUSE_DIR"
	va_wait_exit "$VA_FUSE_PID" 30
	[ "$VA_RC" = 0 ] ||
		va_fail "the guest's FUSE mode exited with $VA_RC after the unmount"
}

# va_start_failfs: failfs (tests/integration/failfs.c) over a 64 MiB
# backing file $VA_TMP/backing.img: the disk is $VA_TMP/failfs/disk, the
# control directory $VA_TMP/ctl.  Watched: stopped at exit by unmounting
# it (a FUSE file system's clean end; on SIGTERM libfuse returns 1), once
# blkd, started later, has let go of the disk.
va_start_failfs() {
	va_need "$VA_FAILFS"
	[ -c /dev/fuse ] || va_skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || va_skip "fusermount3 missing (package fuse3)"
	truncate -s 64M "$VA_TMP/backing.img"
	mkdir -p "$VA_TMP/ctl" "$VA_TMP/failfs"
	va_bg failfs "$VA_FAILFS" "$VA_TMP/backing.img" "$VA_TMP/ctl" \
		"$VA_TMP/failfs"
	VA_FAILFS_PID=$VA_PID
	va_watch "$VA_PID" 'va_wait 10 fusermount3 -u "$VA_TMP/failfs" 2>/dev/null'
	va_wait 10 test -f "$VA_TMP/failfs/disk" || va_fail "failfs did not mount"
}
