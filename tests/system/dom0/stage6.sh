#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 6: a driver domain that is not dom0.  dom0 is the toolstack only
# (xenstored, xenconsoled, xl); it `xl create`s va-driver, a PV domU with
# an initramfs of its own (tests/system/driver/init: Debian's kernel, the
# argo core for /dev/argo, blkd, netd, consoled, busybox; no xenstored),
# whose disk xvda is a loop device in dom0 given by xl (so that it
# outlives the domain), and then va-guest, paused (tests/system/domU/
# dd.sh).  The toolstack's two scripts in config/ tell each side about
# the other through XenStore: virtio-argo-xs-guest writes va-guest's
# domid under va-driver's own subtree (its daemons' --domain reads and
# watches it), virtio-argo-xs-devices writes va-guest's three devices
# (backend va-driver, ports) under the guest's (virtio_argo
# devices=xenstore).  The guest is unpaused once the three daemons have
# registered their rings.  dom0 follows both consoles (xenconsoled's
# logs; their markers are copied to the serial console as they come) and
# gives va-driver its commands through XenStore
# (/local/domain/<va-driver>/data/va-cmd).  Checked:
#   - the guest's stock virtio_blk, virtio_net and virtio_console are on
#     virtio_argo, served from va-driver: fio verify, ext4 with checksums
#     and e2fsck -fn; ping and 16 MiB over TCP each way with va-driver's
#     bridge address (sha256 of both ends equal); the transport's
#     counters clean; the daemons' logs clean;
#   - `xl destroy va-driver` during the guest's O_DIRECT writes: for 10 s
#     the guest's heartbeat goes on and no write completes;
#   - `xl create` va-driver again (a new domid), the scripts run again:
#     every device of the guest moves there (renegotiation, replay),
#     writes succeed again, fio verify, run 1's checksums, e2fsck -fn
#     clean, ping; a command sent through consoled's socket in the new
#     va-driver runs in the guest's shell on its virtio console and its
#     output comes back; no oops, warning or hung task in the guest.
# The guest has 2 vCPUs: virtio_console and virtio_net spin for the
# device's answers (docs/testing.md, stage 6).
# Exit 0 when every step passed; the first failure ends it.
NAME=va-guest
DRV=va-driver
DCONSOLE=/var/log/xen/console/guest-$DRV.log
STAGE=stage6
LOGS="/tmp/xl6-*.log /tmp/va-block.log"
. /lib.sh
# The guest's and the driver domain's FAILED markers both end a wait.
FAILED='DOMU[0-9a-z]*: FAILED\|DRV[0-9]*: FAILED'
FAILED_IN="$CONSOLE $DCONSOLE"
stage_cleanup() {
	[ -n "${tailer:-}" ] && kill $tailer 2>/dev/null
	xl destroy $DRV 2>/dev/null
	show_driver_console
	[ -n "${loop:-}" ] && losetup -d $loop 2>/dev/null
}
show_driver_console() {
	echo "---- driver domain console ($DCONSOLE) ----"
	cat "$DCONSOLE" 2>/dev/null
	echo "---- end of the driver domain console ----"
}
# wait_drv SECONDS PATTERN: until the driver domain's console has it.
wait_drv() {
	wait_for "$1" "$2" "$DCONSOLE"
}
# drv_cmd CMD: a command for the driver domain's init.
drv_cmd() {
	xenstore-write "/local/domain/$drv/data/va-cmd" "$1" || die "xenstore-write va-cmd $1"
}
# last PATTERN FILE: the number after PATTERN in its last line in FILE.
last() {
	sed -n "s/.*$1 \([0-9]*\).*/\1/p" "$2" | tail -n 1
}
# sum_of WHO WHAT FILE: the sha256 a console printed for WHAT.
sum_of() {
	sed -n "s/.*$1: $2 sha256 \([0-9a-f]*\).*/\1/p" "$3" | tail -n 1
}

# devices_to_driver: the guest's three devices' keys, backend va-driver.
devices_to_driver() {
	n=0
	for port in 0x5641b000 0x5641e000 0x5641f000; do
		/bin/virtio-argo-xs-devices $NAME $n $DRV $port >>/tmp/xl6-xs.log 2>&1 ||
			die "virtio-argo-xs-devices $NAME $n $DRV $port"
		[ "$(xenstore-read /local/domain/$guest/virtio-argo/$n/backend)" = "$drv" ] ||
			die "virtio-argo/$n/backend of $NAME is not dom$drv"
		n=$((n + 1))
	done
}
# driver_up RUN: create va-driver (va_run=RUN), domid in $drv.
driver_up() {
	xl create /etc/xen/driver.cfg "disk=['$disk']" \
		"extra=\"console=hvc0 va_run=$1\"" >/tmp/xl6-driver$1.log 2>&1 ||
		die "xl create $DRV"
	drv=$(domid_of $DRV)
	[ -n "$drv" ] || die "no domain $DRV after xl create"
	step "xl create: $DRV is dom$drv, its xvda $loop"
	wait_drv 120 "DRV$1: daemons waiting for va-guest"
	step "$DRV: /dev/argo, its disk, br0 10.99.1.1; blkd, netd, consoled wait for va-guest (XenStore unprivileged)"
}

toolstack_up
for m in $(cat /modules/order.dd); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
truncate -s 128M /tmp/dd.img || die "image"
loop=$(losetup -f) || die "no free loop device"
losetup $loop /tmp/dd.img || die "losetup $loop"
disk="format=raw,vdev=xvda,access=rw,backendtype=phy,script=va-block,target=$loop"

# Their markers on the serial console as they come (busybox tail -F).
touch "$CONSOLE" "$DCONSOLE"
tail -F "$CONSOLE" "$DCONSOLE" 2>/dev/null | grep -a 'DOMU[a-z0-9]*: \|DRV[0-9]*: ' &
tailer=$!
driver_up 1

xl create -p /etc/xen/guest.cfg "name=\"$NAME\"" 'vcpus=2' \
	'extra="console=hvc0 va_run=dd1"' >/tmp/xl6-guest.log 2>&1 ||
	die "xl create $NAME"
guest=$(domid_of $NAME)
[ -n "$guest" ] || die "no domain $NAME after xl create"
/bin/virtio-argo-xs-guest $DRV $NAME || die "virtio-argo-xs-guest $DRV $NAME"
[ "$(xenstore-read /local/domain/$drv/virtio-argo/guest/$NAME)" = "$guest" ] ||
	die "no key for $NAME in $DRV's subtree"
wait_drv 60 "DRV1: daemons registered: dom$guest"
devices_to_driver
xl unpause $NAME || die "xl unpause $NAME"
step "xl create -p: $NAME is dom$guest; $DRV's daemons found it by name and registered; unpaused"

wait_text 180 'DOMUdd1: vda (virtio_blk)'
step "$NAME: vda (virtio_blk), virtio_net and a console device on virtio_argo"
wait_for 300 'DOMUdd1: fio verify clean'
wait_for 300 'DOMUdd1: ext4: e2fsck -fn clean'
step "fio verify, ext4: $(sed -n 's/.*DOMUdd1: ext4: //p' "$CONSOLE")"
wait_for 120 'DOMUdd1: ping the driver domain'
step "$(sed -n 's/.*DOMUdd1: \(ping the driver domain.*\)/\1/p' "$CONSOLE")"
wait_for 300 'DOMUdd1: d2g sha256'
wait_drv 60 'DRV1: g2d sha256'
for w in g2d d2g; do
	a=$(sum_of DRV1 $w "$DCONSOLE")
	b=$(sum_of DOMUdd1 $w "$CONSOLE")
	[ -n "$a" ] && [ "$a" = "$b" ] || die "$w: sha256 $b in the guest, $a in $DRV"
done
grep -q 'DRV1: g2d sha256 [0-9a-f]* size 16777216' "$DCONSOLE" || die "g2d: not 16 MiB"
grep -q 'DOMUdd1: d2g sha256 [0-9a-f]* size 16777216' "$CONSOLE" || die "d2g: not 16 MiB"
step "16 MiB over TCP each way between $NAME and $DRV's bridge, sha256 equal"

wait_for 120 'DOMUdd1: WRITING'
drv_cmd check
wait_drv 60 "DRV1: daemons' logs clean"
step "the transport's counters clean; $DRV's daemons logged no trouble"

# The driver domain is destroyed while the guest writes.
wait_for 120 'DOMUdd1: WROTE 3'
xl destroy $DRV >/tmp/xl6-destroy.log 2>&1 || die "xl destroy $DRV"
step "xl destroy $DRV (dom$drv) during the guest's writes"
drv1=$drv
sleep 1
w0=$(last 'DOMUdd1: WROTE' "$CONSOLE")
a0=$(last 'DOMUdd1: ALIVE' "$CONSOLE")
# Within the transport's 20 s bound (docs/protocol.md, section 11.4).
sleep 10
w1=$(last 'DOMUdd1: WROTE' "$CONSOLE")
a1=$(last 'DOMUdd1: ALIVE' "$CONSOLE")
[ "$a1" -ge $((a0 + 3)) ] || die "the guest's heartbeat stopped ($a0 -> $a1 in 10 s)"
[ "$w1" = "$w0" ] || die "writes completed without a driver domain ($w0 -> $w1)"
step "$NAME lives on (heartbeat $a0 -> $a1 in 10 s), its writes stall (WROTE $w0)"

# The driver domain again: a new domid, the same disk; the toolstack
# rewrites both sides' keys and the guest follows.
driver_up 2
[ "$drv" != "$drv1" ] || die "$DRV has its old domid $drv1"
/bin/virtio-argo-xs-guest $DRV $NAME || die "virtio-argo-xs-guest $DRV $NAME"
wait_drv 60 "DRV2: daemons registered: dom$guest"
devices_to_driver
step "keys rewritten: $NAME's devices to dom$drv, $DRV's daemons registered for dom$guest"
wait_for 300 'DOMUdd1: RESUMED'
step "$(sed -n 's/.*DOMUdd1: \(RESUMED.*\)/\1/p' "$CONSOLE" | tr -d '\r')"
wait_for 300 'DOMUdd1: fio verify clean after the move'
wait_for 120 'DOMUdd1: after the move: e2fsck'
wait_for 120 'DOMUdd1: after the move: ping'
step "after the move: fio verify, e2fsck -fn, run 1's checksums, ping"
wait_for 120 'DOMUdd1: SHELL-READY'
drv_cmd console
wait_drv 120 'DRV2: console: VA-CONS-42 va_run=dd1'
step "a command through consoled's socket in the new $DRV ran in $NAME's shell on hvc1"
wait_for 120 'DOMUdd1: PASS'
grep 'DOMUdd1: virtio-argo\.[0-9]: ' "$CONSOLE" | tr -d '\r'
step "$(sed -n 's/.*DOMUdd1: \(kernel log: .*\)/\1/p' "$CONSOLE" | tr -d '\r')"
drv_cmd check
wait_drv 60 "DRV2: daemons' logs clean"
step "the new $DRV's daemons logged no trouble"

# Teardown.
wait_gone 30
xl destroy $DRV >/tmp/xl6-destroy2.log 2>&1 || die "xl destroy $DRV"
kill $tailer
tailer=
losetup -d $loop || die "losetup -d $loop"
loop=
show_console
show_driver_console
step "teardown clean"
exit 0
