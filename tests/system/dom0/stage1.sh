#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 1 (inside dom0, which serves itself; Argo lets a domain send to
# itself): virtio-argo-blkd --transport xen on an image in dom0's memory,
# virtio_argo loaded with that device, and the stock virtio_blk binds to
# it.  mkfs.ext4, mount, files and a tree with known checksums, umount,
# e2fsck -fn clean, mount again, every checksum right.  Then blkd is
# killed (SIGKILL) in the middle of a write and started again: the
# transport renegotiates and replays, the writer sees no error and the data
# is intact.  Clean teardown: module unload, blkd exits 0 on SIGTERM, the
# transport's counters show no dropped message and no violation.  Between
# the two, the image grows and SIGHUP tells the guest (virtio_blk sees the
# new capacity through a config change).
# The guest's ring needs its own port: dom0 cannot register
# (0, P, partner 0) twice (docs/protocol.md, section 3).
# Exit 0 when every step passed; the first failure ends the stage.
PORT=0x5641b000
DRIVER_PORT=0x5641b001
IMG=/tmp/disk.img

step() { echo "ATEST: stage1: $*"; }
die() {
	echo "ATEST: stage1: FAILED: $*"
	[ -z "${blkd:-}" ] || kill -KILL $blkd 2>/dev/null
	echo "---- blkd log (tail) ----"
	tail -n 30 /tmp/blkd.log 2>/dev/null
	echo "---- kernel log (tail) ----"
	dmesg | tail -n 30
	exit 1
}

insmod /modules/virtio_argo_core.ko || die "insmod virtio_argo_core"
for m in $(cat /modules/order); do
	insmod "/modules/$m" || die "insmod $m"
done

# start_blkd LOG: blkd in the background (pid in $blkd), ring registered.
start_blkd() {
	/bin/virtio-argo-blkd --transport xen --domid 0 --port $PORT \
		--driver-port $DRIVER_PORT --image "$IMG" --serial va-stage1 \
		--queues 2 --queue-size 100 --log-level info >"$1" 2>&1 &
	blkd=$!
	i=0
	until grep -q 'ring registered' "$1"; do
		i=$((i + 1))
		[ $i -lt 100 ] && kill -0 $blkd 2>/dev/null ||
			die "blkd did not register its ring"
		sleep 0.1
	done
	step "blkd serving (pid $blkd)"
}

truncate -s 256M "$IMG" || die "image"
start_blkd /tmp/blkd.log

# A hold time out of range is refused, with the reason in the log.
for h in 0 86401; do
	insmod /modules/virtio_argo.ko devices=0:$PORT:$DRIVER_PORT hold_s=$h 2>/dev/null &&
		die "virtio_argo loaded with hold_s=$h"
	dmesg | grep -q "virtio_argo: hold_s $h out of range" ||
		die "no 'hold_s $h out of range' in the kernel log"
done
step "virtio_argo refuses hold_s=0 and hold_s=86401"
insmod /modules/virtio_argo.ko devices=0:$PORT:$DRIVER_PORT ||
	die "insmod virtio_argo"
i=0
until [ -b /dev/vda ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || die "no /dev/vda"
	sleep 0.1
done
drv=$(basename "$(readlink /sys/block/vda/device/driver)")
path=$(readlink -f /sys/block/vda)
step "vda driver $drv path $path"
[ "$drv" = virtio_blk ] || die "vda is not driven by virtio_blk"
case $path in
*/virtio-argo.0/*) ;;
*) die "vda is not on virtio_argo" ;;
esac
[ "$(cat /sys/block/vda/size)" = 524288 ] || die "capacity $(cat /sys/block/vda/size) sectors, not 524288"
[ "$(cat /sys/block/vda/serial)" = va-stage1 ] || die "serial is not va-stage1"
# blkd offers two queues (MQ) and dom0 has two vCPUs: virtio_blk uses both.
# Their largest size is 100, not a power of two: the transport's vrings
# are 64 (docs/protocol.md 5.5), which the stock driver can use.
nq=$(ls /sys/block/vda/mq | wc -l)
[ "$nq" = 2 ] || die "virtio_blk uses $nq queues, not blkd's 2"
step "virtio_blk on 2 queues (VIRTIO_BLK_F_MQ)"

mkfs.ext4 -q -F /dev/vda || die "mkfs.ext4"
mount -t ext4 /dev/vda /mnt || die "mount"
dd if=/dev/urandom of=/mnt/big bs=1M count=48 2>/dev/null || die "write big"
for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	dd if=/dev/urandom of=/mnt/small.$n bs=$((n * 700)) count=1 2>/dev/null ||
		die "write small.$n"
done
mkdir /mnt/tree && cp -a /lib /bin /modules /mnt/tree/ || die "copy tree"
(cd /mnt && find . -type f ! -name lost+found | sort | xargs sha256sum) >/tmp/sums ||
	die "checksums"
step "$(wc -l </tmp/sums) files written"
umount /mnt || die "umount"
e2fsck -fn /dev/vda >/tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; die "e2fsck -fn"; }
step "e2fsck -fn clean"
# Drop the page cache so that the second look reads through the device.
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/vda /mnt || die "mount again"
(cd /mnt && sha256sum -c /tmp/sums >/tmp/check.log 2>&1) ||
	{ grep -v ': OK$' /tmp/check.log | head; die "checksums differ"; }
step "$(grep -c ': OK$' /tmp/check.log) checksums verified"

# blkd dies (SIGKILL) while a 64 MiB file is being written with O_DIRECT.
# It is frozen (SIGSTOP) first, so that a request is surely in flight,
# unanswered, when it dies: that request must be held and replayed, never
# failed or lost.
dd if=/dev/urandom of=/tmp/src bs=1M count=64 2>/dev/null || die "source data"
kill -STOP $blkd
dd if=/tmp/src of=/mnt/during bs=256k oflag=direct conv=fsync 2>/dev/null &
writer=$!
sleep 1
kill -0 $writer 2>/dev/null || die "the writer ended while blkd was frozen"
kill -KILL $blkd
wait $blkd
step "blkd killed with a write in flight"
start_blkd /tmp/blkd2.log
wait $writer || die "the writer failed across the blkd restart"
umount /mnt || die "umount again"
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 /dev/vda /mnt || die "mount after the restart"
cmp /tmp/src /mnt/during || die "the file written across the restart differs"
umount /mnt || die "umount after the restart"
e2fsck -fn /dev/vda >/tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; die "e2fsck -fn after the restart"; }
step "write across a blkd SIGKILL and restart intact, e2fsck -fn clean"

# The image grows; SIGHUP makes blkd announce it (EVENT_CONFIG), the
# transport calls virtio_config_changed and virtio_blk resizes the disk.
truncate -s 320M "$IMG" || die "grow the image"
kill -HUP $blkd
i=0
until [ "$(cat /sys/block/vda/size)" = 655360 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || die "capacity $(cat /sys/block/vda/size) after SIGHUP, not 655360"
	sleep 0.1
done
step "capacity change seen by virtio_blk: $(cat /sys/block/vda/size) sectors"

st=/sys/devices/platform/virtio-argo.0/stats
cat $st
for c in dropped violations broken; do
	[ "$(sed -n "s/^$c //p" $st)" = 0 ] || die "transport counter $c is not 0"
done
[ "$(sed -n 's/^requests //p' $st)" = "$(sed -n 's/^responses //p' $st)" ] ||
	die "requests and responses differ"
[ "$(sed -n 's/^renegotiations //p' $st)" -ge 1 ] || die "no renegotiation after the restart"
[ "$(sed -n 's/^replayed //p' $st)" -ge 1 ] || die "no request replayed after the restart"
rmmod virtio_argo || die "rmmod virtio_argo"
kill -TERM $blkd
wait $blkd
rc=$?
[ $rc = 0 ] || die "blkd exited with $rc after SIGTERM"
rmmod virtio_blk || die "rmmod virtio_blk"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
grep -i 'error\|warning\|protocol violation' /tmp/blkd.log /tmp/blkd2.log && die "blkd logged trouble"
rm -f "$IMG" /tmp/src
step "teardown clean"
exit 0
