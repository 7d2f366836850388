#!/bin/bash
# SPDX-License-Identifier: MIT
# A domain serving itself, as dom0 does in the real-Xen stage 1: blkd and
# the guest both in domain 0, the guest's ring on its own port
# (--driver-port in both) because two rings (0, P, partner 0)
# cannot coexist. Without a distinct driver port blkd refuses to start
# with a message that says why. Data written through the FUSE file is read
# back from the image itself.  Also: --domain (a XenStore name) is refused
# on the simulator with a message, and together with --domid.  And the
# cache mode outside dom0: its default, and the warning for write-back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk-lib.sh"

[ "$(id -u)" = 0 ] || va_skip "needs root (FUSE for other users)"
[ -c /dev/fuse ] || va_skip "no /dev/fuse"
va_need "$VA_BLKD"
va_start_sim --domains 3,5

img=$VA_TMP/disk.img
truncate -s 64M "$img"
drv=$((VA_BLK_PORT + 1))

"$VA_BLKD" --sim-socket "$VA_SOCK" --transport sim --domid 0 \
	--image "$img" >"$VA_TMP/refused.log" 2>&1
rc=$?
cat "$VA_TMP/refused.log"
[ $rc = 1 ] || va_fail "blkd serving its own domain on one port: rc $rc, not 1"
grep -q 'needs a --driver-port different from --port' "$VA_TMP/refused.log" ||
	va_fail "no message naming --driver-port"

# --domain names a guest through XenStore, which the simulator has not:
# refused with a message; with --domid too it is a usage error.
"$VA_BLKD" --sim-socket "$VA_SOCK" --transport sim --domain guest1 \
	--image "$img" >"$VA_TMP/name.log" 2>&1
rc=$?
cat "$VA_TMP/name.log"
[ $rc = 1 ] || va_fail "--domain on the simulator: rc $rc, not 1"
grep -q -- '--domain needs XenStore' "$VA_TMP/name.log" ||
	va_fail "no message saying why --domain cannot work here"
"$VA_BLKD" --sim-socket "$VA_SOCK" --domid 1 --domain guest1 \
	--image "$img" >"$VA_TMP/both.log" 2>&1
rc=$?
[ $rc = 2 ] || va_fail "--domid with --domain: rc $rc, not 2"
grep -q 'exclude each other' "$VA_TMP/both.log" || va_fail "no message for --domid with --domain"

# A write-back cache in a domain other than dom0 (a driver domain, which
# can end while its guests live on) would lose acknowledged writes with
# it, and a guest's flush after that would reach the next backend.  The
# default (auto) there is writethrough for a file (none for a block
# device: test-blk-blockdev.sh); an explicit --cache writeback gets a
# warning with what to use instead; none, writethrough and read-only get
# none.  In dom0 the default is writeback (below).
for c in auto writeback none writethrough ro; do
	opt="--cache $c"
	[ $c != auto ] || opt=
	[ $c != ro ] || opt=--readonly
	va_bg cache-$c "$VA_BLKD" --sim-socket "$VA_SOCK" --transport sim \
		--self-domid 3 --domid 5 --port $((VA_BLK_PORT + 8)) --image "$img" $opt
	va_watch "$VA_PID"
	va_grep "$VA_TMP/cache-$c.log" 'serving' || va_fail "blkd in dom3 ($c) did not start"
	va_stop "$VA_PID"
	if [ $c = writeback ]; then
		grep -q 'warning: blk: --cache writeback in dom3, which can end while its guests live on.*use --cache none (a block device) or writethrough' \
			"$VA_TMP/cache-$c.log" || { cat "$VA_TMP/cache-$c.log"; va_fail "no warning for writeback in dom3"; }
	elif grep 'warning' "$VA_TMP/cache-$c.log"; then
		va_fail "a warning with $c in dom3"
	fi
done
grep -q 'blk: cache writethrough (auto: dom3 can end while its guests live on; the image is a file)' \
	"$VA_TMP/cache-auto.log" || { cat "$VA_TMP/cache-auto.log"; va_fail "the default in dom3 is not writethrough"; }

va_bg blkd "$VA_BLKD" --sim-socket "$VA_SOCK" --transport sim --domid 0 \
	--driver-port "$drv" --image "$img"
VA_BLKD_PID=$VA_PID
va_watch "$VA_PID"
va_grep "$VA_TMP/blkd.log" 'serving' || va_fail "blkd did not start"

mkdir -p "$VA_TMP/mnt"
va_bg fuse "$VA_GUEST" --sim-socket "$VA_SOCK" --self-domid 0 \
	--port "$VA_BLK_PORT" --driver-port "$drv" --timeout 20 blk fuse "$VA_TMP/mnt"
VA_FUSE_PID=$VA_PID
VA_FUSE_DIR=$VA_TMP/mnt
va_wait 10 test -f "$VA_TMP/mnt/disk" || va_fail "FUSE file did not appear"

head -c 8M /dev/urandom >"$VA_TMP/data"
dd if="$VA_TMP/data" of="$VA_TMP/mnt/disk" bs=1M seek=3 conv=notrunc,fsync \
	status=none || va_fail "write through the device"
cmp -n 8388608 "$VA_TMP/data" "$VA_TMP/mnt/disk" --ignore-initial=0:3145728 ||
	va_fail "read back through the device differs"
va_stop_fuse
va_stop "$VA_BLKD_PID"
cmp -n 8388608 "$VA_TMP/data" "$img" --ignore-initial=0:3145728 ||
	va_fail "the image does not hold what was written"
grep 'warning' "$VA_TMP/blkd.log" && va_fail "a warning from blkd in dom0"
grep -q 'blk: cache writeback (auto: dom0' "$VA_TMP/blkd.log" ||
	va_fail "the default in dom0 is not writeback"
va_log "PASS: dom0 served itself (device port $VA_BLK_PORT, driver port $(printf %#x "$drv"))"
