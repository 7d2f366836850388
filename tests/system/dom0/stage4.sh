#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 4 (inside dom0, the driver domain): the network device on real
# Xen.  dom0 has bridge br0 with 10.99.0.1/24 (IPv6 off, STP off) and
# starts virtio-argo-netd --domain va-net --tap vatap0 --bridge br0
# --queues 2 before the domain exists; `xl create` starts a PV domU with
# 2 vCPUs whose init runs tests/system/domU/net.sh: the stock virtio_net
# binds to virtio_argo, 10.99.0.2/24.  dom0 acts on its console markers:
#   PINGED     ping the guest; then vatap0 down, and up again once the
#              guest saw its carrier go (netd's LINK_UP follows the TAP);
#   LISTENING  64 MiB of random data to the guest over TCP (busybox nc),
#              then 64 MiB back from it; in the middle of each, once
#              16 MiB have passed through vatap0, netd is SIGKILLed and
#              started again (a new TAP in br0) and the transfer must go
#              on; the sha256 of both sides must match (the guest prints
#              its sums on its console).
# After each restart the guest's driver must acknowledge netd's
# ANNOUNCE, and the new netd must have restored the guest's two queue
# pairs from its state file (the stock virtio_net never sends
# VQ_PAIRS_SET again): after the first restart, while the guest waits
# for the second transfer, vatap0 has both queues attached, so the
# second pair receives again.  Teardown: netd exits 0 on SIGTERM and logged no error or
# warning.  Exit 0 when every step passed; the first failure ends it.
PORT=0x5641e000
MAC=02:00:00:76:61:2a
NAME=va-net
STAGE=stage4
LOGS="/tmp/netd*.log /tmp/xl4-*.log /tmp/nc-*.log"
. /lib.sh
stage_cleanup() {
	[ -n "${netd:-}" ] && kill -KILL $netd 2>/dev/null
}

# start_netd LOGNAME: pid in $netd.
start_netd() {
	start_bg "$1" "/tmp/$1.log" /bin/virtio-argo-netd --transport xen \
		--domain $NAME --port $PORT --tap vatap0 --bridge br0 --queues 2 \
		--mac $MAC --log-level info
	netd=$pid
}
# restart_netd_at SECONDS STATISTIC NCPID LOGNAME: once vatap0's
# STATISTIC passes 16 MiB, with the transfer NCPID still running,
# SIGKILL netd and start it again as LOGNAME.
restart_netd_at() {
	i=0
	while [ "$(cat /sys/class/net/vatap0/statistics/$2 2>/dev/null || echo 0)" -lt 16777216 ]; do
		kill -0 $3 2>/dev/null || die "the transfer ended before 16 MiB passed vatap0"
		i=$((i + 1))
		[ $i -lt $(($1 * 5)) ] || die "vatap0 $2 short of 16 MiB after $1 s"
		sleep 0.2
	done
	kill -0 $3 2>/dev/null || die "the transfer ended before netd's SIGKILL"
	kill -KILL $netd
	wait $netd
	start_netd "$4"
	step "netd SIGKILLed mid-transfer (vatap0 $2 past 16 MiB) and started again"
}
# pairs_restored LOGNAME [queues]: the netd of LOGNAME restored two queue
# pairs; with "queues" also vatap0 has both queues attached (tun's real
# receive queues, in sysfs, are the attached ones), which holds only
# while the guest's driver is bound: after the last transfer the domU
# unbinds it (a reset: one pair), so netd3 is checked by its log alone.
pairs_restored() {
	wait_for 60 'net: restored: 2 queue pair' "/tmp/$1.log"
	if [ "${2:-}" = queues ]; then
		n=$(ls /sys/class/net/vatap0/queues | grep -c '^rx-')
		[ "$n" = 2 ] || die "$1: vatap0 has $n receive queue(s) attached, not 2"
		step "$1 restored two queue pairs without VQ_PAIRS_SET: vatap0 has 2 queues"
	else
		step "$1 restored two queue pairs without VQ_PAIRS_SET"
	fi
}
# wait_pid SECONDS PID WHAT: until PID has exited with status 0.
wait_pid() {
	i=0
	while kill -0 $2 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt $(($1 * 5)) ] || die "$3 not done within $1 s"
		sleep 0.2
	done
	wait $2 || die "$3 failed"
}

toolstack_up
for m in $(cat /modules/order.net); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
[ -d /sys/module/virtio_argo_core ] || insmod /modules/virtio_argo_core.ko ||
	die "insmod virtio_argo_core"
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
brctl addbr br0 || die "brctl addbr br0"
[ "$(cat /sys/class/net/br0/bridge/stp_state)" = 0 ] || die "br0 has STP on"
ip addr add 10.99.0.1/24 dev br0 || die "ip addr add"
ip link set br0 up || die "ip link set br0 up"
start_netd netd
step "netd waiting for domain $NAME, vatap0 in br0 (10.99.0.1/24)"
# The data to send, made while the guest boots.
(dd if=/dev/urandom of=/tmp/d2g bs=1048576 count=64 2>/dev/null &&
 sha256sum </tmp/d2g | cut -d' ' -f1 >/tmp/d2g.sum) &
mkdata=$!

xl create /etc/xen/guest.cfg "name=\"$NAME\"" 'vcpus=2' \
	'extra="console=hvc0 va_run=net"' >/tmp/xl4-create.log 2>&1 ||
	die "xl create"
id=$(domid_of $NAME)
[ -n "$id" ] || die "xl domid $NAME: no domain after xl create"
step "xl create: $NAME is dom$id"
wait_for 180 'DOMUnet: .* up: MAC'
grep -q "domain $NAME is dom$id" /tmp/netd.log || die "netd did not follow $NAME"
grep -q 'queue pairs set to 2' /tmp/netd.log ||
	die "no VQ_PAIRS_SET 2 from the guest's virtio_net"
n=$(ls /sys/class/net/vatap0/queues | grep -c '^rx-')
[ "$n" = 2 ] || die "vatap0 has $n receive queue(s) attached, not 2"
step "virtio_net in dom$id up on netd, two queue pairs"

wait_for 120 'DOMUnet: PINGED'
ping -c 3 -W 10 10.99.0.2 >/tmp/ping.out 2>&1 ||
	{ cat /tmp/ping.out; die "ping 10.99.0.2"; }
step "ping both ways: $(grep -o '[0-9]* packets received' /tmp/ping.out)"
ip link set vatap0 down || die "ip link set vatap0 down"
wait_for 60 'DOMUnet: carrier lost'
ip link set vatap0 up || die "ip link set vatap0 up"
wait_for 60 'DOMUnet: carrier back'
step "vatap0 down and up: the guest's carrier followed"

wait $mkdata || die "no room for the data"
[ "$(wc -c </tmp/d2g)" = 67108864 ] || die "/tmp/d2g is not 64 MiB"
d2g_sum=$(cat /tmp/d2g.sum)
wait_for 120 'DOMUnet: LISTENING'
nc 10.99.0.2 5001 </tmp/d2g >/tmp/nc-d2g.log 2>&1 &
nc=$!
restart_netd_at 120 tx_bytes $nc netd2
wait_pid 300 $nc "the transfer to the guest"
wait_for 300 'DOMUnet: d2g sha256'
got=$(sed -n 's/.*DOMUnet: d2g sha256 \([0-9a-f]*\) .*/\1/p' "$CONSOLE")
[ "$got" = "$d2g_sum" ] || die "64 MiB to the guest: sha256 $got, sent $d2g_sum"
step "64 MiB to the guest across a netd restart, sha256 equal"
wait_for 60 'announce acknowledged' /tmp/netd2.log
step "the guest announced itself to the new netd"
pairs_restored netd2 queues

# Its stdin must never end (busybox nc stops at its stdin's end): a
# FIFO it holds open for writing itself.
mkfifo /tmp/hold || die "mkfifo"
nc 10.99.0.2 5002 >/tmp/g2d 2>/tmp/nc-g2d.log <>/tmp/hold &
nc=$!
restart_netd_at 120 rx_bytes $nc netd3
wait_pid 300 $nc "the transfer from the guest"
sum=$(sha256sum </tmp/g2d | cut -d' ' -f1)
want=$(sed -n 's/.*DOMUnet: g2d sha256 \([0-9a-f]*\).*/\1/p' "$CONSOLE")
[ "$sum" = "$want" ] ||
	die "64 MiB from the guest: sha256 $sum ($(wc -c </tmp/g2d) bytes), sent $want"
step "64 MiB from the guest across a netd restart, sha256 equal"
wait_for 60 'announce acknowledged' /tmp/netd3.log
pairs_restored netd3
wait_for 120 'DOMUnet: PASS'
step "counters clean, virtio_net unbound cleanly"

wait_gone 30
stop_clean netd $netd
grep 'net: total' /tmp/netd3.log
grep -i 'error\|warning\|protocol violation' /tmp/netd*.log &&
	die "netd logged trouble"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
show_console
step "teardown clean"
exit 0
