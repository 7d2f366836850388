#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage xs (inside dom0, the driver domain): the guest finds its disk in
# XenStore and follows it to another backend address.  blkd a serves an
# image on PORT_A for va-guest; `xl create` starts the domU, whose
# transport loads with devices=xenstore before any key exists; then
# config/virtio-argo-xs-devices (installed as /bin/virtio-argo-xs-devices)
# writes virtio-argo/0 = dom0:PORT_A, and the disk appears.  While the
# guest's fio writes and verifies: malformed values (a port that is no
# number, a domid out of range, a reserved domid) and the keys' removal
# each give their log line in the guest and change nothing (fio goes on
# against blkd a).  Then blkd a is frozen with requests in flight and
# killed, blkd b serves the same image on PORT_B for the guest's ring
# port RING_B (--driver-port), and the script points virtio-argo/0 there:
# the guest moves (a new ring, renegotiation, replay).  Then a new
# backend domid and back: blkd b is killed with requests in flight, the
# keys name the guest itself (a domain with no device on that port: the
# ring towards it registers, the device does not answer, I/O waits),
# then dom0:PORT_B again, served by blkd c: a ring towards dom0 anew,
# replay.  The guest's fio rounds verify clean throughout
# (tests/system/domU/xs.sh).
# Exit 0 when every step passed; the first failure ends it.
PORT_A=0x5641b010
PORT_B=0x5641b020
RING_B=0x5641b021
PORT_X=0x5641b030
RING_X=0x5641b031
NAME=va-guest
STAGE=stagexs
LOGS="/tmp/xs-blkd-*.log /tmp/xl*.log"
. /lib.sh
stage_cleanup() {
	kill_hard ${blkd_a:-} ${blkd_b:-} ${blkd_c:-}
}
# start_blkd NAME PORT [OPTIONS]: pid in $pid.
start_blkd() {
	b=$1 port=$2
	shift 2
	start_bg "blkd $b" /tmp/xs-blkd-$b.log /bin/virtio-argo-blkd --transport xen \
		--domain $NAME --port $port --image /tmp/xs.img --serial va-xs \
		--log-level info "$@"
}
# guest_logs TEXT: the guest's kernel printed it (its console).
guest_logs() {
	wait_text 30 "$1"
	step "guest: $(grep -F -m 1 -e "$1" "$CONSOLE" | tr -d '\r')"
}
toolstack_up
[ -d /sys/module/virtio_argo_core ] || insmod /modules/virtio_argo_core.ko ||
	die "insmod virtio_argo_core"
truncate -s 64M /tmp/xs.img || die "image"
start_blkd a $PORT_A
blkd_a=$pid

# The script's own checks, before any domain of the name exists.
virtio-argo-xs-devices --help | grep -q '^Usage:' || die "--help"
if virtio-argo-xs-devices $NAME 0 Domain-0 $PORT_A 2>/tmp/xs-err.log; then
	die "the script wrote keys for a domain that does not exist"
fi
grep -q "no domain named '$NAME'" /tmp/xs-err.log || die "unclear error: $(cat /tmp/xs-err.log)"
virtio-argo-xs-devices Domain-0 16 Domain-0 $PORT_A 2>/dev/null
[ $? = 2 ] || die "device index 16 was not refused as bad usage"
step "virtio-argo-xs-devices: --help, an unknown domain and index 16 refused"

xl create /etc/xen/guest.cfg 'extra="console=hvc0 va_run=xs"' \
	>/tmp/xl-create-xs.log 2>&1 || die "xl create"
id=$(domid_of $NAME)
[ -n "$id" ] || die "xl domid $NAME: no domain after xl create"
step "xl create: $NAME is dom$id"
wait_for 120 'DOMUxs: waiting for XenStore'
virtio-argo-xs-devices $NAME 0 Domain-0 $PORT_A >/tmp/xs-script.log 2>&1 ||
	die "virtio-argo-xs-devices: $(cat /tmp/xs-script.log)"
d=/local/domain/$id/virtio-argo/0
[ "$(xenstore-read $d/backend)" = 0 ] && [ "$(xenstore-read $d/port)" = $PORT_A ] &&
	[ "$(xenstore-read $d/local-port)" = $PORT_A ] &&
	[ "$(xenstore-read $d/backend-name)" = Domain-0 ] || die "keys not as written"
step "keys written: $(cat /tmp/xs-script.log)"
wait_for 120 'DOMUxs: vda from XenStore'
grep -q "domain $NAME is dom$id" /tmp/xs-blkd-a.log || die "blkd a did not serve $NAME"
step "the guest found its disk in XenStore (blkd a, port $PORT_A)"

# While fio runs: values the transport must refuse, then no keys at all.
wait_for 120 'DOMUxs: FIO-STARTED'
xenstore-write $d/port junk || die "xenstore-write"
guest_logs 'virtio-argo/0/port: "junk" is not a port; ignored'
xenstore-write $d/port $PORT_A $d/backend 70000 || die "xenstore-write"
guest_logs 'virtio-argo/0/backend: "70000" is not a domid; ignored'
xenstore-write $d/backend 32752 || die "xenstore-write"
guest_logs 'virtio-argo/0: backend 32752 (ring 0x5641b010): reserved domid'
virtio-argo-xs-devices --remove $NAME >/dev/null || die "--remove"
guest_logs 'virtio-argo/0 removed: virtio-argo.0 stays with its backend'
grep -q 'DOMUxs: FAILED' "$CONSOLE" && die "the guest failed"
kill -0 $blkd_a || die "blkd a is gone"
step "malformed values and the keys' removal: logged, the disk stays on blkd a"

# The move: blkd a frozen with requests in flight, killed; blkd b on
# another port and ring port; the keys say so.
kill -STOP $blkd_a
sleep 1
kill -KILL $blkd_a
wait $blkd_a
blkd_a=
start_blkd b $PORT_B --driver-port $RING_B
blkd_b=$pid
virtio-argo-xs-devices $NAME 0 Domain-0 $PORT_B $RING_B >/tmp/xs-script.log 2>&1 ||
	die "virtio-argo-xs-devices: $(cat /tmp/xs-script.log)"
step "blkd a killed with requests in flight; keys now: $(cat /tmp/xs-script.log)"
guest_logs "backend moves from 0:$PORT_A to 0:$PORT_B (ring $RING_B)"
guest_logs "now at backend 0:$PORT_B (ring $RING_B)"

# Another partner domain and back (the path of a driver domain created
# anew): the guest itself, where nothing serves PORT_X.  As for a driver
# domain destroyed, blkd b ends first, with requests in flight: a key may
# name a new address only once the old backend has stopped
# (docs/protocol.md, section 11.8); an answer the guest had from blkd b
# after it moved away would be dropped (the transport's counter, which
# must stay 0).  blkd c serves PORT_B for the way back.
kill -STOP $blkd_b
sleep 1
kill -KILL $blkd_b
wait $blkd_b
blkd_b=
virtio-argo-xs-devices $NAME 0 $NAME $PORT_X $RING_X >/tmp/xs-script.log 2>&1 ||
	die "virtio-argo-xs-devices: $(cat /tmp/xs-script.log)"
guest_logs "now at backend $id:$PORT_X (ring $RING_X)"
start_blkd c $PORT_B --driver-port $RING_B
blkd_c=$pid
virtio-argo-xs-devices $NAME 0 Domain-0 $PORT_B $RING_B >/tmp/xs-script.log 2>&1 ||
	die "virtio-argo-xs-devices: $(cat /tmp/xs-script.log)"
guest_logs "backend moves from $id:$PORT_X to 0:$PORT_B (ring $RING_B)"
wait_for 300 'DOMUxs: PASS'
for b in b c; do
	grep -q "domain $NAME is dom$id" /tmp/xs-blkd-$b.log || die "blkd $b did not serve $NAME"
done
step "the guest moved to blkd b (port $PORT_B, ring $RING_B), to dom$id (blkd b killed) and back to blkd c: fio verified clean, requests replayed"

# Teardown.
wait_gone 20
stop_clean "blkd c" $blkd_c
blkd_c=
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
grep -i 'error\|warning\|protocol violation' /tmp/xs-blkd-*.log && die "a blkd logged trouble"
show_console
step "teardown clean"
exit 0
