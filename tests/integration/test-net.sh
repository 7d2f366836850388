#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-netd end to end: a guest namespace and a driver namespace
# joined only through vag0 <-> virtio-argo-guest <-> simulator <-> netd
# <-> vad0 (net-lib.sh), two queue pairs, MTU 9000:
#  - ping both ways, IPv4 and IPv6, and 8972-byte pings with DF;
#  - a 256 MiB random file each way over TCP, sha256 equal, offloads on;
#    then the same with offloads off on vag0 (ethtool -K);
#  - 16 TCP flows each way: both queue pairs carry frames both ways, in
#    netd's and the guest's per-pair counters;
#  - netd SIGKILLed and started again: the guest renegotiates but, as
#    Linux's virtio_net, does not send VQ_PAIRS_SET again; the new netd
#    restores 2 pairs from its state file, and 16 flows towards the guest
#    reach it over both pairs;
#  - vad0 down and up: vag0's carrier follows, and traffic comes back.
# Filters, hostile input and a restart are test-net-ctrl.sh's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/net-lib.sh"
command -v ethtool >/dev/null || va_skip "no ethtool (scripts/deps.sh test)"

net_setup
netd_start netd --queues 2 --mtu 9000
guest_start guest --queues 2
grep -q 'pairs 2/2' "$GUEST_LOG" || va_fail "two queue pairs not negotiated"
va_grep "$NETD_LOG" 'queue pairs set to 2' || va_fail "no VQ_PAIRS_SET 2 at netd"
G ip -o link show vag0 | grep -q "mtu 9000 " || va_fail "vag0 lacks MTU 9000"
G ip -o link show vag0 | grep -q "link/ether $NET_MAC " || va_fail "vag0 lacks the MAC"

# ---- ping ----
pings "$gns" $D4
pings "$dns" $G4
pings "$gns" $D6
pings "$dns" $G6
pings "$gns" $D4 -M do -s 8972
pings "$dns" $G4 -M do -s 8972
pings "$gns" $D6 -M do -s 8952
echo "ping: IPv4, IPv6 and jumbo with DF, both ways"

# ---- TCP, offloads on then off ----
head -c 256M /dev/urandom >"$VA_TMP/data" || va_fail "no room for the data file"
xfer "$gns" "$dns" $D4 "$VA_TMP/data" g2d-offload
xfer "$dns" "$gns" $G4 "$VA_TMP/data" d2g-offload
G ethtool -K vag0 tx off sg off tso off gso off gro off ||
	va_fail "ethtool -K vag0 ... off"
G ethtool -k vag0 | grep -q '^tcp-segmentation-offload: off' ||
	va_fail "TSO still on on vag0"
xfer "$gns" "$dns" $D6 "$VA_TMP/data" g2d-nooffload
xfer "$dns" "$gns" $G6 "$VA_TMP/data" d2g-nooffload
G ethtool -K vag0 tx on sg on tso on gso on gro on || va_fail "ethtool -K on"
rm -f "$VA_TMP/data"

# ---- two queue pairs: 16 flows each way ----
head -c 4M /dev/urandom >"$VA_TMP/small"
# mq_flows DIR: 16 TCP flows of 4 MiB, g2d or d2g, each compared.
mq_flows() {
	local dir=$1 src dst addr port rpid spids p i
	if [ $dir = g2d ]; then src=$gns dst=$dns addr=$D4; else src=$dns dst=$gns addr=$G4; fi
	port=$((20000 + RANDOM % 20000))
	rm -f "$VA_TMP/mq.ready"
	va_bg "recv-mq-$dir" ip netns exec "$dst" python3 "$NET_XFER" recv $addr \
		$port "$VA_TMP/mq-$dir" "$VA_TMP/mq.ready" 16
	rpid=$VA_PID
	va_wait 10 test -e "$VA_TMP/mq.ready" || va_fail "mq receiver not ready"
	spids=()
	for i in $(seq 16); do
		ip netns exec "$src" python3 "$NET_XFER" send $addr $port "$VA_TMP/small" &
		spids+=($!)
	done
	for p in "${spids[@]}"; do
		wait "$p" || va_fail "mq $dir: a sender failed"
	done
	va_wait_exit "$rpid" 120
	[ "$VA_RC" = 0 ] || va_fail "mq $dir: receiver failed"
	for i in $(seq 0 15); do
		cmp -s "$VA_TMP/small" "$VA_TMP/mq-$dir.$i" || va_fail "mq $dir: flow $i differs"
	done
	rm -f "$VA_TMP/mq-$dir".*
}
for dir in g2d d2g; do
	mq_flows $dir
done
stats "$NETD_PID" "$NETD_LOG"
stats "$GUEST_PID" "$GUEST_LOG" 'net vag0: total:'
for k in 0 1; do
	for key in rx_frames tx_frames; do
		v=$(counter "$NETD_LOG" "net: pair $k" $key)
		[ "${v:-0}" -gt 100 ] || va_fail "netd pair $k: $key ${v:-none}"
		v=$(counter "$GUEST_LOG" "net vag0: pair $k" $key)
		[ "${v:-0}" -gt 100 ] || va_fail "guest pair $k: $key ${v:-none}"
	done
done
grep 'net: pair' "$NETD_LOG" | tail -n 2
echo "mq: both pairs carried frames both ways"

# ---- netd SIGKILLed and started again: 2 pairs without VQ_PAIRS_SET ----
[ -s "$VA_STATE_DIR/net-dom1-$NET_PORT.state" ] || va_fail "netd wrote no state file"
va_kill9 "$NETD_PID"
netd_start netd2 --queues 2 --mtu 9000
va_grep "$NETD_LOG" 'net: restored: 2 queue pair(s)' ||
	va_fail "netd2 did not restore the queue pairs"
pings "$gns" $D4
mq_flows d2g
stats "$NETD_PID" "$NETD_LOG"
for k in 0 1; do
	v=$(counter "$NETD_LOG" "net: pair $k" rx_frames)
	[ "${v:-0}" -gt 100 ] || va_fail "netd2 pair $k: rx_frames ${v:-none}"
done
grep -q 'queue pairs set' "$NETD_LOG" && va_fail "the guest sent VQ_PAIRS_SET again"
grep 'net: pair' "$NETD_LOG" | tail -n 2
echo "restart: both pairs carry frames to the guest, restored by netd2"

# ---- link ----
D ip link set vad0 down
va_wait 10 eval '[ "$(G cat /sys/class/net/vag0/carrier)" = 0 ]' ||
	va_fail "vad0 down: vag0 kept its carrier"
D ip link set vad0 up
va_wait 10 eval '[ "$(G cat /sys/class/net/vag0/carrier)" = 1 ]' ||
	va_fail "vad0 up: vag0 has no carrier"
pings "$gns" $D4
pings "$gns" $D6
echo "link: down and up seen by the guest"

stats "$NETD_PID" "$NETD_LOG"
for key in tx_bad ctrl_err; do
	[ "$(counter "$NETD_LOG" "net: total" $key)" = 0 ] || va_fail "netd $key not 0"
done
[ "$(counter "$NETD_LOG" "net: total" link_changes)" = 2 ] ||
	va_fail "netd link_changes not 2"
va_stop "$GUEST_PID"
for k in violations ctrl_errors; do
	[ "$(counter "$GUEST_LOG" 'net vag0: total' $k)" = 0 ] || va_fail "guest $k not 0"
done
echo PASS
