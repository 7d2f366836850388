#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 2 (inside dom0, the driver domain): the product's real shape.
# xenstored, xenconsoled and xl run in dom0; two virtio-argo-blkd, the
# second read-only, are started with --domain va-guest before that domain
# exists and wait for it; `xl create` starts a PV domU whose init
# (tests/system/domU/init) loads virtio_argo and lets the stock virtio_blk
# do the rest.  dom0 reads the domU's console log (xenconsoled) for its
# markers: at FIO-STARTED it SIGKILLs the first blkd and starts it again;
# at WRITING it destroys the domain (`xl destroy`) in the middle of its
# writes, checks that blkd noticed and released its ring, and creates the
# domain again under the same name (a new domid) for run 2, which checks
# the disk: journal replay, e2fsck -fn clean, run 1's checksums.
# Teardown: daemons stopped with SIGTERM (exit 0), modules unloaded.
# Exit 0 when every step passed; the first failure ends it.
PORT_A=0x5641b000
PORT_B=0x5641b002
NAME=va-guest
CONSOLE=/var/log/xen/console/guest-$NAME.log

step() { echo "ATEST: stage2: $*"; }
die() {
	echo "ATEST: stage2: FAILED: $*"
	for f in /tmp/blkd-a*.log /tmp/blkd-b.log /tmp/xl*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (tail) ----"
		tail -n 20 "$f"
	done
	show_console
	xl destroy $NAME 2>/dev/null
	exit 1
}
show_console() {
	echo "---- domU console ($CONSOLE) ----"
	cat "$CONSOLE" 2>/dev/null
	echo "---- end of the domU console ----"
}
# wait_for SECONDS PATTERN [FILE]: until FILE (the domU console) has a
# matching line; a FAILED marker from the domU ends the wait at once.
wait_for() {
	i=0
	while ! grep -q "$2" "${3:-$CONSOLE}" 2>/dev/null; do
		grep -q 'DOMU[0-9]: FAILED' "$CONSOLE" 2>/dev/null &&
			die "the domU failed"
		i=$((i + 1))
		[ $i -lt $(($1 * 5)) ] || die "no '$2' within $1 s"
		sleep 0.2
	done
}
# start_blkd NAME PORT IMAGE [OPTIONS]: pid in $pid.
start_blkd() {
	log=/tmp/blkd-$1.log
	n=$1 port=$2 img=$3
	shift 3
	/bin/virtio-argo-blkd --transport xen --domain $NAME --port $port \
		--image "$img" --log-level info "$@" >"$log" 2>&1 &
	pid=$!
	sleep 0.2
	kill -0 $pid 2>/dev/null || die "blkd $n did not start"
}
# domid_of NAME
domid_of() {
	xl domid "$1" 2>/dev/null
}

# The toolstack in dom0.
for m in $(cat /modules/order.xen); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
mkdir -p /proc/xen /dev/pts /var/run/xen /var/run/xenstored /var/lib/xen \
	/var/lib/xenstored /var/log/xen/console /var/lock /etc/xen
mount -t xenfs xenfs /proc/xen || die "mount xenfs"
mount -t devpts devpts /dev/pts || die "mount devpts"
: >/etc/xen/xl.conf
xenstored --pid-file /var/run/xenstored.pid >/tmp/xenstored.log 2>&1 || die "xenstored"
xen-init-dom0 >/tmp/xen-init-dom0.log 2>&1 || die "xen-init-dom0"
xenconsoled --log=guest --log-dir=/var/log/xen/console >/tmp/xenconsoled.log 2>&1 ||
	die "xenconsoled"
step "xenstored, xenconsoled up; dom0 is $(xenstore-read /local/domain/0/name)"

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

# The domU is destroyed in the middle of its writes.
wait_for 300 'DOMU1: WRITING'
sleep 2
xl destroy $NAME >/tmp/xl-destroy.log 2>&1 || die "xl destroy"
step "xl destroy $NAME during I/O"
wait_for 30 'ring lost' /tmp/blkd-a2.log
wait_for 30 'ring lost' /tmp/blkd-b.log
kill -0 $blkd_a 2>/dev/null && kill -0 $blkd_b 2>/dev/null ||
	die "a blkd exited when its guest died"
step "both blkd released their rings and wait again"
step "blkd a at the destroy: $(sed -n 's/.*ring lost, waiting for the guest (\(.*\))/\1/p' /tmp/blkd-a2.log | tail -n 1)"

xl create /etc/xen/guest.cfg 'extra="console=hvc0 va_run=2"' \
	>/tmp/xl-create2.log 2>&1 || die "xl create again"
id2=$(domid_of $NAME)
[ -n "$id2" ] && [ "$id2" != "$id1" ] || die "no new domid ($id1, $id2)"
step "xl create again: $NAME is dom$id2"
wait_for 120 'DOMU2: PASS'
grep -q "domain $NAME is dom$id2" /tmp/blkd-a2.log || die "blkd a did not follow $NAME to dom$id2"
step "the new $NAME (dom$id2) served again; journal replayed, e2fsck -fn clean, checksums right"
fenced=$(grep -c 'answered once' /tmp/blkd-a2.log)
step "blkd a held $fenced replies until dropped requests had ended"

# Teardown.
i=0
while xl list $NAME >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || die "$NAME did not power off"
	sleep 0.2
done
for p in $blkd_a $blkd_b; do
	kill -TERM $p
	wait $p
	rc=$?
	[ $rc = 0 ] || die "blkd $p exited with $rc after SIGTERM"
done
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
grep -il 'error\|violation' /tmp/blkd-*.log && die "a blkd logged errors"
show_console
step "teardown clean"
exit 0
