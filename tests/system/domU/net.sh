# SPDX-License-Identifier: MIT
# Stage 4's guest (va_run=net), sourced by tests/system/domU/init after
# the module loads (say, die and check_stats come from there).  The
# device is virtio-argo-netd in dom0, its TAP in bridge br0 (10.99.0.1).
# The stock virtio_net binds to virtio_argo's device and:
#  - the interface has the device's MAC (config space), two queue pairs
#    (MQ, set through the control queue), and carrier once up;
#  - idle for 35 s (the device holds the receive buffers and answers
#    nothing), the transport must not renegotiate;
#  - ping dom0 (dom0 pings back at PINGED);
#  - dom0's TAP down and up (at LINK) is the interface's carrier;
#  - two TCP transfers of 64 MiB, both with dom0 as the client: dom0 ->
#    guest into port 5001, guest -> dom0 from port 5002; dom0 SIGKILLs
#    and restarts netd in the middle of each.  The guest prints the
#    sha256 of what it received and of what it sent; dom0 compares;
#  - the transport's counters show no dropped message or violation, and
#    unloading virtio_argo unbinds virtio_net cleanly.
MAC=02:00:00:76:61:2a
NET_PORT=0x5641e000
ST=/sys/devices/platform/virtio-argo.0/stats

# counter NAME: one of the transport's counters.
counter() {
	sed -n "s/^$1 //p" $ST
}
# carrier_is SECONDS VALUE: until the interface's carrier reads VALUE.
carrier_is() {
	i=0
	until [ "$(cat /sys/class/net/$ifc/carrier 2>/dev/null)" = "$2" ]; do
		i=$((i + 1))
		[ $i -lt $(($1 * 10)) ] || die "$ifc: carrier not $2 within $1 s"
		sleep 0.1
	done
}

for m in $(cat /modules/order.net); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
# No IPv6: nothing but the test's traffic (the idle check needs silence).
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
# The data to send, made while the interface comes up and idles.
(dd if=/dev/urandom of=/tmp/g2d bs=1048576 count=64 2>/dev/null &&
 sha256sum </tmp/g2d | cut -d' ' -f1 >/tmp/g2d.sum) &
mkdata=$!
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
nq=$(ls -d /sys/class/net/$ifc/queues/rx-* | wc -l)
[ "$nq" = 2 ] || die "$ifc: $nq receive queues, not 2"
ip addr add 10.99.0.2/24 dev $ifc || die "ip addr add"
ip link set $ifc up || die "ip link set $ifc up"
carrier_is 30 1
say "$ifc up: MAC $MAC, 2 queue pairs, carrier, 10.99.0.2/24"

# Idle: the device holds the receive buffers and answers nothing.
r0=$(counter renegotiations)
sleep 35
r1=$(counter renegotiations)
[ "$r1" = "$r0" ] || die "idle for 35 s: renegotiations $r0 -> $r1"
say "idle 35 s: no renegotiation"

ping -c 3 -W 10 10.99.0.1 >/tmp/ping.out 2>&1 ||
	{ cat /tmp/ping.out; die "ping 10.99.0.1"; }
say "ping dom0: $(grep -o '[0-9]* packets received' /tmp/ping.out)"
say "PINGED"
carrier_is 60 0
say "carrier lost"
carrier_is 60 1
say "carrier back"

wait $mkdata || die "no room for the data"
[ "$(wc -c </tmp/g2d)" = 67108864 ] || die "/tmp/g2d is not 64 MiB"
say "g2d sha256 $(cat /tmp/g2d.sum)"
# The receiving nc's stdin must never end (busybox nc stops at its
# stdin's end): a FIFO it holds open for writing itself.
mkfifo /tmp/hold || die "mkfifo"
nc -l -p 5001 >/tmp/d2g <>/tmp/hold &
recv=$!
nc -l -p 5002 </tmp/g2d &
send=$!
say "LISTENING"
wait $recv || die "nc (receiving from dom0) failed"
say "d2g sha256 $(sha256sum </tmp/d2g | cut -d' ' -f1) size $(wc -c </tmp/d2g)"
wait $send || die "nc (sending to dom0) failed"
say "g2d sent"
check_stats 0
# The control queue (VQ_PAIRS_SET, the receive filter, ANNOUNCE_ACK) is
# answered inside notify: virtio_net spins for it.
[ "$(counter polled)" -gt 0 ] || die "no control request answered inside notify"
[ "$(counter renegotiations)" -ge 2 ] || die "fewer than 2 renegotiations after 2 netd restarts"
say "$ifc: $(cat /sys/class/net/$ifc/statistics/rx_packets) packets received, $(cat /sys/class/net/$ifc/statistics/tx_packets) sent"
ip link set $ifc down || die "ip link set $ifc down"
rmmod virtio_argo || die "rmmod virtio_argo"
[ ! -e /sys/class/net/$ifc ] || die "$ifc still there after rmmod virtio_argo"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
say PASS
poweroff -f
