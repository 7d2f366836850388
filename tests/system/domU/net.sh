# SPDX-License-Identifier: MIT
# Stage 4's guest (va_run=net), sourced by tests/system/domU/init after
# the module loads (say, die and check_stats come from there).  The
# device is virtio-argo-netloopd in dom0 (tests/testdev/netloopd.c), a
# reflector: every frame the guest transmits comes back to it.  The stock
# virtio_net binds to virtio_argo's device and:
#  - the interface has the device's MAC and MTU (config space), two queue
#    pairs (MQ, set through the control queue), and carrier once up;
#  - frames sent through a packet socket (net-frames) come back byte for
#    byte, up to the MTU (mergeable receive buffers, held by the device);
#  - LINK_UP cleared and set again by the device (dom0 sends netloopd
#    SIGHUP at LINK-DOWN and LINK-UP) is the interface's carrier;
#  - an idle interface, whose receive buffers wait in the device without
#    an answer, is not taken for a dead device: no renegotiation in 35 s;
#  - after netloopd's SIGKILL and restart (dom0, at KILL) the transport
#    renegotiates and replays, and frames come back again;
#  - the transport's counters show no dropped message or violation, and
#    unloading virtio_argo unbinds virtio_net cleanly.
MAC=02:00:00:76:61:2a
MTU=4000
NET_PORT=0x5641e000
ST=/sys/devices/platform/virtio-argo.0/stats

# counter NAME: one of the transport's counters.
counter() {
	sed -n "s/^$1 //p" $ST
}
# carrier_is SECONDS VALUE: until eth0's carrier reads VALUE.
carrier_is() {
	i=0
	until [ "$(cat /sys/class/net/$ifc/carrier 2>/dev/null)" = "$2" ]; do
		i=$((i + 1))
		[ $i -lt $(($1 * 10)) ] || die "$ifc: carrier not $2 within $1 s"
		sleep 0.1
	done
}
# frames COUNT SIZES: every frame back intact.
frames() {
	net-frames $ifc "$1" "$2" >/tmp/frames.out 2>&1 ||
		{ cat /tmp/frames.out; die "net-frames $1 $2: frames lost or changed"; }
	say "$(cat /tmp/frames.out)"
}

for m in $(cat /modules/order.net); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
# No IPv6: the only frames on the interface are the test's.
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
say "probing"
insmod /modules/virtio_argo.ko devices=0:$NET_PORT || die "insmod virtio_argo"
i=0
ifc=
while [ -z "$ifc" ]; do
	for n in /sys/class/net/*; do
		[ "$(basename "$(readlink $n/device/driver 2>/dev/null)")" = virtio_net ] &&
			ifc=$(basename $n)
	done
	i=$((i + 1))
	[ $i -lt 600 ] || die "no virtio_net interface"
	sleep 0.1
done
path=$(readlink -f /sys/class/net/$ifc)
say "$ifc: driver virtio_net, $path"
case $path in
*/virtio-argo.0/*) ;;
*) die "$ifc is not on virtio_argo" ;;
esac
[ "$(cat /sys/class/net/$ifc/address)" = $MAC ] ||
	die "$ifc: MAC $(cat /sys/class/net/$ifc/address), not the device's $MAC"
[ "$(cat /sys/class/net/$ifc/mtu)" = $MTU ] ||
	die "$ifc: MTU $(cat /sys/class/net/$ifc/mtu), not the device's $MTU"
nq=$(ls -d /sys/class/net/$ifc/queues/rx-* | wc -l)
[ "$nq" = 2 ] || die "$ifc: $nq receive queues, not 2"
ip link set $ifc up || die "ip link set $ifc up"
carrier_is 30 1
say "$ifc up: MAC $MAC, MTU $MTU, 2 queue pairs, carrier"

frames 400 60,1514,4014
tx=$(cat /sys/class/net/$ifc/statistics/tx_packets)
rx=$(cat /sys/class/net/$ifc/statistics/rx_packets)
[ "$tx" -ge 400 ] && [ "$rx" -ge 400 ] ||
	die "$ifc: tx_packets $tx rx_packets $rx, expected at least 400 each"
check_stats 0

say "LINK-DOWN"
carrier_is 60 0
say "carrier lost"
say "LINK-UP"
carrier_is 60 1
say "carrier back"

# Idle: the device holds the receive buffers and answers nothing.
r0=$(counter renegotiations)
sleep 35
r1=$(counter renegotiations)
[ "$r1" = "$r0" ] || die "idle for 35 s: renegotiations $r0 -> $r1"
say "idle 35 s: no renegotiation"
frames 100 60,1514

say "KILL"
i=0
until [ "$(counter renegotiations)" -gt "$r1" ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || die "no renegotiation after netloopd's restart"
	sleep 0.1
done
frames 200 60,1514,4014
check_stats 0
[ "$(counter replayed)" -ge 1 ] || die "no receive buffer replayed after the restart"
ip link set $ifc down || die "ip link set $ifc down"
rmmod virtio_argo || die "rmmod virtio_argo"
[ ! -e /sys/class/net/$ifc ] || die "$ifc still there after rmmod virtio_argo"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
say PASS
poweroff -f
