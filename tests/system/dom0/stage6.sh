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
# The guest has one vCPU: virtio_console and virtio_net spin for some of
# the device's answers, which the transport gives inside notify
# (docs/architecture.md, "Drivers that spin").
# Exit 0 when every step passed; the first failure ends it.
NAME=va-guest
DRV=va-driver
OTHER=va-fother
DCONSOLE=/var/log/xen/console/guest-$DRV.log
OCONSOLE=/var/log/xen/console/guest-$OTHER.log
# Stage 7 runs this with VA_FLASK=1, under Xen with FLASK enforcing our
# policy (config/flask/): the same steps with the driver domain labelled
# va_driver_t and the guest va_guest_t, and a third domain of Xen's
# domU_t that must be refused (see "FLASK" below).
flask=${VA_FLASK:-0}
if [ "$flask" = 1 ]; then
	STAGE=stage7
else
	STAGE=stage6
fi
LOGS="/tmp/xl6-*.log /tmp/va-block.log"
. /lib.sh
# The three domains' FAILED markers end a wait.
FAILED='DOMU[0-9a-z]*: FAILED\|DRV[0-9]*: FAILED\|FLASK-[a-z]*: FAILED'
FAILED_IN="$CONSOLE $DCONSOLE $OCONSOLE"
stage_cleanup() {
	[ -n "${tailer:-}" ] && kill $tailer 2>/dev/null
	xl destroy $OTHER 2>/dev/null
	xl destroy $DRV 2>/dev/null
	show_driver_console
	[ -n "${loop:-}" ] && losetup -d $loop 2>/dev/null
	[ -n "${sloop:-}" ] && losetup -d $sloop 2>/dev/null
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
# labelled NAME TYPE: under FLASK, NAME must run as TYPE (xl list -Z);
# $lab says so for a step's line.
labelled() {
	lab=
	[ "$flask" = 1 ] || return 0
	l=$(xl list -Z "$1" | awk 'NR == 2 { print $NF }')
	[ "$l" = "system_u:system_r:$2" ] || die "$1 is labelled '$l', not $2"
	lab=", labelled $2"
}
# seclabel TYPE: xl create's seclabel option for TYPE, under FLASK only.
seclabel() {
	[ "$flask" = 1 ] && echo "seclabel=\"system_u:system_r:$1\""
}
# driver_up RUN: create va-driver (va_run=RUN), domid in $drv.
driver_up() {
	xl create /etc/xen/driver.cfg "disk=['$disk','$sdisk']" \
		"extra=\"console=hvc0 va_run=$1\"" $(seclabel va_driver_t) \
		>/tmp/xl6-driver$1.log 2>&1 ||
		die "xl create $DRV"
	drv=$(domid_of $DRV)
	[ -n "$drv" ] || die "no domain $DRV after xl create"
	labelled $DRV va_driver_t
	step "xl create: $DRV is dom$drv, its xvda $loop$lab"
	wait_drv 120 "DRV$1: daemons waiting for va-guest"
	step "$DRV: /dev/argo, its disk, br0 10.99.1.1; blkd, netd, consoled wait for va-guest (XenStore unprivileged)"
}

toolstack_up
if [ "$flask" = 1 ]; then
	# (xl getenforce exits with the mode: 1 when enforcing.)
	mode=$(xl getenforce 2>&1)
	[ "$mode" = Enforcing ] || die "FLASK is '$mode', not Enforcing"
	# Ours is the only policy this Xen has (no built-in one).
	xl list -Z 0 | grep -q 'system_u:system_r:dom0_t' || die "dom0 is not dom0_t"
	step "FLASK enforcing our policy; dom0 is dom0_t"
fi
for m in $(cat /modules/order.dd); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
truncate -s 128M /tmp/dd.img || die "image"
loop=$(losetup -f) || die "no free loop device"
losetup $loop /tmp/dd.img || die "losetup $loop"
disk="format=raw,vdev=xvda,access=rw,backendtype=phy,script=va-block,target=$loop"
# The daemons' state directory (--state-dir) on a second disk, ext4, that
# outlives the driver domain like the first: what the guest's drivers set
# once (virtio_console's DEVICE_READY and open ports, virtio_net's queue
# pairs) must reach the daemons of the re-created domain.
truncate -s 16M /tmp/dd-state.img || die "state image"
mkfs.ext4 -q -F /tmp/dd-state.img >/tmp/xl6-mkfs.log 2>&1 || die "mkfs.ext4 state image"
sloop=$(losetup -f) || die "no free loop device"
losetup $sloop /tmp/dd-state.img || die "losetup $sloop"
sdisk="format=raw,vdev=xvdb,access=rw,backendtype=phy,script=va-block,target=$sloop"

# Their markers on the serial console as they come (busybox tail -F);
# nothing of an earlier stage's domains of these names (lib.sh).
: >"$DCONSOLE"
: >"$OCONSOLE"
touch "$CONSOLE"
tail -F "$CONSOLE" "$DCONSOLE" 2>/dev/null | grep -a 'DOMU[a-z0-9]*: \|DRV[0-9]*: ' &
tailer=$!
driver_up 1

xl create -p /etc/xen/guest.cfg "name=\"$NAME\"" 'vcpus=1' \
	'extra="console=hvc0 va_run=dd1"' $(seclabel va_guest_t) \
	>/tmp/xl6-guest.log 2>&1 ||
	die "xl create $NAME"
guest=$(domid_of $NAME)
[ -n "$guest" ] || die "no domain $NAME after xl create"
labelled $NAME va_guest_t
/bin/virtio-argo-xs-guest $DRV $NAME || die "virtio-argo-xs-guest $DRV $NAME"
[ "$(xenstore-read /local/domain/$drv/virtio-argo/guest/$NAME)" = "$guest" ] ||
	die "no key for $NAME in $DRV's subtree"
wait_drv 180 "DRV1: daemons registered: dom$guest"
devices_to_driver
xl unpause $NAME || die "xl unpause $NAME"
step "xl create -p: $NAME is dom$guest$lab; $DRV's daemons found it by name and registered; unpaused"

wait_text 180 'DOMUdd1: vda (virtio_blk)'
step "$NAME: vda (virtio_blk), virtio_net and a console device on virtio_argo"
wait_for 300 'DOMUdd1: fio verify clean'
wait_for 300 'DOMUdd1: ext4: e2fsck -fn clean'
step "fio verify, ext4: $(sed -n 's/.*DOMUdd1: ext4: //p' "$CONSOLE")"
wait_for 120 'DOMUdd1: ping the driver domain'
step "$(sed -n 's/.*DOMUdd1: \(ping the driver domain.*\)/\1/p' "$CONSOLE")"
wait_for 300 'DOMUdd1: d2g sha256'
wait_drv 180 'DRV1: g2d sha256'
for w in g2d d2g; do
	a=$(sum_of DRV1 $w "$DCONSOLE")
	b=$(sum_of DOMUdd1 $w "$CONSOLE")
	[ -n "$a" ] && [ "$a" = "$b" ] || die "$w: sha256 $b in the guest, $a in $DRV"
done
grep -q 'DRV1: g2d sha256 [0-9a-f]* size 16777216' "$DCONSOLE" || die "g2d: not 16 MiB"
grep -q 'DOMUdd1: d2g sha256 [0-9a-f]* size 16777216' "$CONSOLE" || die "d2g: not 16 MiB"
step "16 MiB over TCP each way between $NAME and $DRV's bridge, sha256 equal"

# FLASK: a third domain, of Xen's own domU_t, to which our policy gives
# no Argo, tries consoled's port in the driver domain while the guest's
# devices are in use: registering a ring with the driver domain as
# partner and sending to it must both fail with exactly -EACCES
# (tests/system/domU/flask.sh, va-flask-peer deny).  The daemons must not
# hear of it (their logs, below) and go on serving the guest (all that
# follows); Xen's console must have the two denials and no other (at the
# end).
if [ "$flask" = 1 ]; then
	xl create /etc/xen/flask.cfg "name=\"$OTHER\"" \
		'extra="console=hvc0 va_flask=other"' $(seclabel domU_t) \
		>/tmp/xl6-other.log 2>&1 || die "xl create $OTHER"
	oth=$(domid_of $OTHER)
	[ -n "$oth" ] || die "no domain $OTHER after xl create"
	labelled $OTHER domU_t
	xenstore-write /local/domain/$oth/data/va-peer $drv || die "xenstore-write va-peer"
	wait_text 300 'FLASK-other: PASS' $OCONSOLE
	grep -q "register towards dom$drv: -EACCES" $OCONSOLE &&
		grep -q "sendv to dom$drv: -EACCES" $OCONSOLE ||
		die "dom$oth's refusals are not both -EACCES"
	wait_gone 120 $OTHER
	step "$OTHER (dom$oth$lab): registering a ring towards $DRV and sending to it: -EACCES"
	# Xen's console: the two denials, the send's rejection, nothing else.
	xl dmesg >/tmp/xl6-dmesg.log 2>&1 || die "xl dmesg"
	ctx="scontext=system_u:system_r:domU_t tcontext=system_u:system_r:va_driver_t tclass=argo"
	avc_ok="avc:  denied  { \(register_single_source\|send\) } for source=d$oth target=d$drv $ctx"
	for p in register_single_source send; do
		grep -q "avc:  denied  { $p } for source=d$oth target=d$drv $ctx" /tmp/xl6-dmesg.log ||
			die "no AVC denial of $p from d$oth to d$drv in xl dmesg"
	done
	grep -q "d${oth}v0 argo: XSM REJECTED $oth -> $drv" /tmp/xl6-dmesg.log ||
		die "no 'argo: XSM REJECTED $oth -> $drv' in xl dmesg"
	if grep 'avc: ' /tmp/xl6-dmesg.log | grep -v "$avc_ok"; then
		die "other AVC messages in xl dmesg (above)"
	fi
	step "xl dmesg: the AVC denials of register_single_source and send, d$oth -> d$drv, and no other"
	xenstore-write /local/domain/$drv/data/va-other $oth || die "xenstore-write va-other"
fi

wait_for 120 'DOMUdd1: WRITING'
drv_cmd check
wait_drv 180 "DRV1: daemons' logs clean"
step "the transport's counters clean; $DRV's daemons logged no trouble"

# The driver domain is destroyed while the guest writes.
wait_for 120 'DOMUdd1: WROTE 3'
xl destroy $DRV >/tmp/xl6-destroy.log 2>&1 || die "xl destroy $DRV"
step "xl destroy $DRV (dom$drv) during the guest's writes"
drv1=$drv
sleep 1
w0=$(last 'DOMUdd1: WROTE' "$CONSOLE")
a0=$(last 'DOMUdd1: ALIVE' "$CONSOLE")
# The guest's transport holds the requests (hold_s=600, docs/protocol.md,
# section 11.4).
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
wait_drv 180 "DRV2: daemons registered: dom$guest"
devices_to_driver
step "keys rewritten: $NAME's devices to dom$drv, $DRV's daemons registered for dom$guest"
wait_drv 300 'DRV2: consoled: state of driver session'
step "the new $DRV's consoled restored the driver session's state from the state disk"
wait_for 300 'DOMUdd1: RESUMED'
step "$(sed -n 's/.*DOMUdd1: \(RESUMED.*\)/\1/p' "$CONSOLE" | tr -d '\r')"
wait_for 300 'DOMUdd1: fio verify clean after the move'
wait_for 120 'DOMUdd1: after the move: e2fsck'
wait_for 120 'DOMUdd1: after the move: ping'
step "after the move: fio verify, e2fsck -fn, run 1's checksums, ping"
wait_for 120 'DOMUdd1: SHELL-READY'
drv_cmd console
wait_drv 240 'DRV2: console: VA-CONS-42 va_run=dd1'
step "a command through consoled's socket in the new $DRV ran in $NAME's shell on hvc1"
wait_for 120 'DOMUdd1: PASS'
grep 'DOMUdd1: virtio-argo\.[0-9]: ' "$CONSOLE" | tr -d '\r'
step "$(sed -n 's/.*DOMUdd1: \(kernel log: .*\)/\1/p' "$CONSOLE" | tr -d '\r')"
drv_cmd check
wait_drv 180 "DRV2: daemons' logs clean"
step "the new $DRV's daemons logged no trouble"

if [ "$flask" = 1 ]; then
	xl dmesg >/tmp/xl6-dmesg2.log 2>&1 || die "xl dmesg"
	if grep 'avc: ' /tmp/xl6-dmesg2.log | grep -v "$avc_ok"; then
		die "other AVC messages in xl dmesg (above)"
	fi
	step "xl dmesg at the end: no AVC message but the two denials of $OTHER"
fi

# Teardown.
wait_gone 120
xl destroy $DRV >/tmp/xl6-destroy2.log 2>&1 || die "xl destroy $DRV"
kill $tailer
tailer=
losetup -d $loop || die "losetup -d $loop"
loop=
losetup -d $sloop || die "losetup -d $sloop"
sloop=
show_console
show_driver_console
step "teardown clean"
exit 0
