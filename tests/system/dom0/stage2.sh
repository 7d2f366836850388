#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 2 (inside dom0, the driver domain): the product's real shape.
# xenstored, xenconsoled and xl run in dom0; two virtio-argo-blkd, the
# second read-only, are started with --domain va-guest before that domain
# exists and wait for it; `xl create` starts a PV domU whose init
# (tests/system/domU/init) loads virtio_argo and lets the stock virtio_blk
# do the rest.  dom0 reads the domU's console log (xenconsoled) for its
# markers: at FIO-STARTED it freezes and SIGKILLs the first blkd and
# starts it again; at WRITING it moves that blkd (SIGTERM, the guest
# replays) onto failfs over the same image, lets failfs hold one of the
# domain's writes, and destroys the domain (`xl destroy`) with that write
# executing: blkd must notice, release its ring and count the write.  The
# domain is created again under the same name (a new domid); its probe
# must wait (blkd holds its DEVICE_INFO reply, the transport waits for it)
# until the held write is let go, then run 2 checks the disk: journal
# replay, e2fsck -fn clean, run 1's checksums.
# Teardown: daemons stopped with SIGTERM (exit 0), failfs unmounted,
# modules unloaded, no warning or error in any blkd log.
# Exit 0 when every step passed; the first failure ends it.
PORT_A=0x5641b000
PORT_B=0x5641b002
NAME=va-guest
STAGE=stage2
LOGS="/tmp/blkd-a*.log /tmp/blkd-b.log /tmp/xl*.log"
. /lib.sh
stage_cleanup() {
	kill_hard ${blkd_a:-} ${blkd_b:-}
	umount /tmp/ffs 2>/dev/null
}

# start_blkd NAME PORT IMAGE [OPTIONS]: pid in $pid.
start_blkd() {
	b=$1 port=$2 img=$3
	shift 3
	start_bg "blkd $b" /tmp/blkd-$b.log /bin/virtio-argo-blkd --transport xen \
		--domain $NAME --port $port --image "$img" --log-level info "$@"
}
toolstack_up

[ -d /sys/module/virtio_argo_core ] || insmod /modules/virtio_argo_core.ko ||
	die "insmod virtio_argo_core"
truncate -s 128M /tmp/a.img /tmp/b.img || die "images"
start_blkd a $PORT_A /tmp/a.img --serial va-rw
blkd_a=$pid
start_blkd b $PORT_B /tmp/b.img --readonly --serial va-ro
blkd_b=$pid
step "two blkd waiting for domain $NAME"

xl create /etc/xen/guest.cfg >/tmp/xl-create1.log 2>&1 || die "xl create"
id1=$(domid_of $NAME)
[ -n "$id1" ] || die "xl domid $NAME: no domain after xl create"
step "xl create: $NAME is dom$id1"
wait_for 60 'DOMU1: read-write disk'
grep -q "domain $NAME is dom$id1" /tmp/blkd-a.log || die "blkd a did not follow $NAME"

# blkd dies (SIGKILL) during fio's run and comes back.  Frozen first
# (SIGSTOP), so that fio's requests are surely in flight when it dies.
wait_for 120 'DOMU1: FIO-STARTED'
kill -STOP $blkd_a
sleep 1
kill -KILL $blkd_a
wait $blkd_a
step "blkd a killed with fio's requests in flight"
start_blkd a2 $PORT_A /tmp/a.img --serial va-rw
blkd_a=$pid
wait_for 300 'DOMU1: fio verify clean'
step "fio in the domU verified clean across the blkd restart"

# While the domU writes on: blkd a moves onto failfs over the same image
# (SIGTERM, exit 0; the transport replays what it had sent), so that one
# write can be held in blkd's I/O engine (--cache none: direct writes).
wait_for 300 'DOMU1: WRITING'
[ -d /sys/module/fuse ] || insmod /modules/fuse.ko || die "insmod fuse"
mkdir -p /tmp/ctl /tmp/ffs
/bin/failfs /tmp/a.img /tmp/ctl /tmp/ffs >/tmp/failfs.log 2>&1 &
ffs=$!
wait_file 10 /tmp/ffs/disk
kill -TERM $blkd_a
wait $blkd_a
rc=$?
[ $rc = 0 ] || die "blkd a exited with $rc after SIGTERM"
start_blkd a3 $PORT_A /tmp/ffs/disk --serial va-rw --cache none
blkd_a=$pid
touch /tmp/ctl/stall-write
wait_file 60 /tmp/ctl/stalled
grep -q 'DOMU1: DD-FAILED' "$CONSOLE" && die "a write failed in the domU"
step "blkd a on failfs, one of the domU's writes held in it"

# The domU is destroyed with that write executing.
xl destroy $NAME >/tmp/xl-destroy.log 2>&1 || die "xl destroy"
step "xl destroy $NAME during I/O"
wait_for 30 'ring lost' /tmp/blkd-a3.log
wait_for 30 'ring lost' /tmp/blkd-b.log
kill -0 $blkd_a 2>/dev/null && kill -0 $blkd_b 2>/dev/null ||
	die "a blkd exited when its guest died"
step "both blkd released their rings and wait again"
executing=$(sed -n 's/.*ring lost, waiting for the guest (\([0-9]*\) of its requests still executing)/\1/p' \
	/tmp/blkd-a3.log | tail -n 1)
[ "${executing:-0}" -ge 1 ] ||
	die "blkd a counted ${executing:-no} requests executing at the destroy, with one held"
step "blkd a at the destroy: $executing of its requests still executing"

# The new domain's probe waits for that write: blkd holds its
# DEVICE_INFO reply, and the transport waits for it (up to 30 s).
xl create /etc/xen/guest.cfg 'extra="console=hvc0 va_run=2"' \
	>/tmp/xl-create2.log 2>&1 || die "xl create again"
id2=$(domid_of $NAME)
[ -n "$id2" ] && [ "$id2" != "$id1" ] || die "no new domid ($id1, $id2)"
step "xl create again: $NAME is dom$id2"
wait_for 120 'DOMU2: probing'
sleep 3
grep -q 'DOMU2: read-write disk' "$CONSOLE" &&
	die "the new domain probed while the dead one's write was still executing"
[ -e /tmp/ctl/stalled ] || die "the held write ended by itself"
rm /tmp/ctl/stall-write
step "dom$id2's probe waited 3 s for the dead domain's write; write let go"
wait_for 120 'DOMU2: PASS'
grep -q "domain $NAME is dom$id2" /tmp/blkd-a3.log || die "blkd a did not follow $NAME to dom$id2"
step "the new $NAME (dom$id2) served again; journal replayed, e2fsck -fn clean, checksums right"
grep -q 'DEVICE_INFO answered once the dropped requests had ended (1)' /tmp/blkd-a3.log ||
	die "blkd a did not hold the new domain's DEVICE_INFO"
step "blkd a held the new domain's DEVICE_INFO until the dropped write had ended"

# Teardown.
wait_gone 20
for p in $blkd_a $blkd_b; do
	stop_clean "blkd $p" $p
done
# io_uring lets go of the image shortly after blkd has exited.
i=0
until umount /tmp/ffs 2>/tmp/umount.log; do
	i=$((i + 1))
	[ $i -lt 50 ] || die "umount failfs: $(cat /tmp/umount.log)"
	sleep 0.2
done
wait $ffs || die "failfs exited with an error"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
grep -i 'error\|warning\|protocol violation' /tmp/blkd-*.log && die "a blkd logged trouble"
show_console
step "teardown clean"
exit 0
