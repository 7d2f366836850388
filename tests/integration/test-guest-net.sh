#!/bin/bash
# SPDX-License-Identifier: MIT
# virtio-argo-guest net tap: the guest side of virtio-net as a real Linux
# interface in a network namespace of its own, against the reflector
# (virtio-argo-netloopd, which sends every transmitted frame back).
#  - the TAP exists with the device's MAC, the device's MTU, and is up;
#  - frames sent out of it through a packet socket (net-frames) come back
#    in byte for byte: jumbo frames over mergeable receive buffers with
#    offloads, then 1500-byte frames without MRG_RXBUF and offloads;
#  - two queue pairs are negotiated (VQ_PAIRS_SET) and counted per pair;
#  - the counters line (SIGUSR1 and at exit) shows the frames each way;
#  - LINK_UP toggled by the device is the TAP's carrier, and back;
#  - an ANNOUNCE from the device is acknowledged on the control queue;
#  - after the device is SIGKILLed and started again, frames flow again;
#  - SIGTERM stops the tool with status 0 and the TAP goes away.
. "$(dirname "$0")/lib.sh"

VA_NETLOOPD=${VA_NETLOOPD:-$VA_BUILD_ROOT/tests/testdev/virtio-argo-netloopd}
VA_NET_FRAMES=${VA_NET_FRAMES:-$VA_BUILD_ROOT/tests/integration/net-frames}
NET_PORT=0x5641e000
MAC=02:00:00:76:61:2a

[ "$(id -u)" = 0 ] || va_skip "needs root (network namespace, TAP)"
[ -c /dev/net/tun ] || va_skip "no /dev/net/tun"
command -v ip >/dev/null || va_skip "no ip command (iproute2)"
va_need "$VA_NETLOOPD" "$VA_NET_FRAMES" "$VA_GUEST"

ns=va-gnet-$$-$RANDOM
ip netns add "$ns" || va_fail "cannot create network namespace $ns"
va_at_end "ip netns del $ns"
nsx() {
	ip netns exec "$ns" "$@"
}
# No IPv6 in the namespace: the counters then hold only the test's frames.
nsx sysctl -q -w net.ipv6.conf.default.disable_ipv6=1 \
	net.ipv6.conf.all.disable_ipv6=1 || va_fail "sysctl in $ns"

va_start_sim
va_bg netloopd "$VA_NETLOOPD" --sim-socket "$VA_SOCK" --domid 1 \
	--port "$NET_PORT" --queues 2 --mtu 9000 --mac "$MAC"
loop_pid=$VA_PID
va_watch "$loop_pid"

# start_guest NAME ARGS...: the tool in the namespace, up and ready.
start_guest() {
	local name=$1
	shift
	va_bg "$name" ip netns exec "$ns" "$VA_GUEST" --sim-socket "$VA_SOCK" \
		--port "$NET_PORT" --timeout 10 net tap vanet0 "$@"
	guest_pid=$VA_PID
	va_grep "$VA_TMP/$name.log" 'net vanet0: ready:' ||
		va_fail "$name: the tool did not become ready"
}

# stop_guest NAME: SIGTERM, status 0, the TAP gone.
stop_guest() {
	va_stop "$guest_pid"
	grep -E 'net vanet0: (pair|total)' "$VA_TMP/$1.log"
	nsx test ! -e /sys/class/net/vanet0 ||
		va_fail "$1: vanet0 still exists after the tool stopped"
}

# counter LOG WHAT KEY: KEY's value in the last "WHAT:" counters line.
counter() {
	grep "net vanet0: $2: " "$1" | tail -n 1 |
		sed -n "s/.* $3 \([0-9]*\).*/\1/p"
}

# check_counters LOG N: the last total line shows N frames each way
# (and their bytes), none dropped.
check_counters() {
	local log=$1 n=$2 bytes=$3 k
	for k in tx_frames rx_frames; do
		[ "$(counter "$log" total "$k")" = "$n" ] ||
			va_fail "$(basename "$log"): total $k $(counter "$log" total "$k"), expected $n"
	done
	# Bytes without the vnet header, as net-frames counted them.
	for k in tx_bytes rx_bytes; do
		[ "$(counter "$log" total "$k")" = "$bytes" ] ||
			va_fail "$(basename "$log"): total $k $(counter "$log" total "$k"), expected $bytes"
	done
	for k in rx_dropped tx_dropped violations ctrl_errors; do
		[ "$(counter "$log" total "$k")" = 0 ] ||
			va_fail "$(basename "$log"): $k is not 0"
	done
}

# frames COUNT SIZES: net-frames in the namespace; sets SENT_BYTES.
frames() {
	nsx "$VA_NET_FRAMES" vanet0 "$1" "$2" >"$VA_TMP/frames.out" 2>&1
	local rc=$?
	cat "$VA_TMP/frames.out"
	[ $rc = 0 ] || va_fail "net-frames $1 $2: frames did not all come back"
	SENT_BYTES=$(sed -n 's/.* bytes \([0-9]*\)$/\1/p' "$VA_TMP/frames.out")
}

# ---- 1. defaults: offloads, mergeable buffers, two pairs, MTU 9000 ----
start_guest g1 --queues 2
grep 'ready:' "$VA_TMP/g1.log"
link=$(nsx ip -o link show vanet0) || va_fail "no vanet0 in $ns"
echo "$link"
echo "$link" | grep -q "link/ether $MAC " || va_fail "vanet0 does not have the device's MAC"
echo "$link" | grep -q "mtu 9000 " || va_fail "vanet0 does not have the device's MTU"
echo "$link" | grep -q "<.*UP.*>" || va_fail "vanet0 is not up"
[ "$(nsx cat /sys/class/net/vanet0/carrier)" = 1 ] || va_fail "vanet0 has no carrier"
grep -q 'pairs 2/2' "$VA_TMP/g1.log" || va_fail "two queue pairs not in use"
# CSUM (0), GUEST_CSUM (1), HOST_TSO4 (11), MRG_RXBUF (15) negotiated.
f=$(sed -n 's/.* features \(0x[0-9a-f]*\)$/\1/p' "$VA_TMP/g1.log")
[ $((f & 0x8803)) = $((0x8803)) ] || va_fail "offloads or MRG_RXBUF not negotiated ($f)"
va_grep "$VA_TMP/netloopd.log" 'queue pairs set to 2' ||
	va_fail "no VQ_PAIRS_SET 2 reached the device"

# Jumbo frames span three 4 KiB receive buffers.
frames 600 60,1514,4000,9014
n1=600 b1=$SENT_BYTES
kill -USR1 "$guest_pid"
va_grep "$VA_TMP/g1.log" "total: rx_frames $n1 " ||
	va_fail "SIGUSR1: no counters line with $n1 frames received"
grep -q 'net vanet0: pair 1: ' "$VA_TMP/g1.log" || va_fail "no counters of pair 1"

# Link down and up again, as the device says.
kill -HUP "$loop_pid"
va_wait 10 eval '[ "$(nsx cat /sys/class/net/vanet0/carrier 2>/dev/null)" = 0 ]' ||
	va_fail "link down on the device: vanet0 kept its carrier"
kill -HUP "$loop_pid"
va_wait 10 eval '[ "$(nsx cat /sys/class/net/vanet0/carrier 2>/dev/null)" = 1 ]' ||
	va_fail "link up on the device: vanet0 has no carrier"

# An announcement request is acknowledged on the control queue.
kill -USR2 "$loop_pid"
va_grep "$VA_TMP/netloopd.log" 'announce acknowledged' ||
	va_fail "ANNOUNCE was not acknowledged"

# Frames still flow after all that.
frames 100 100,1514
n1=$((n1 + 100)) b1=$((b1 + SENT_BYTES))
stop_guest g1
check_counters "$VA_TMP/g1.log" "$n1" "$b1"
[ "$(counter "$VA_TMP/g1.log" total link_changes)" = 2 ] ||
	va_fail "link changes not counted"
[ "$(counter "$VA_TMP/g1.log" total announces)" = 1 ] ||
	va_fail "announce not counted"

# ---- 2. no mergeable buffers, no offloads, one pair, MTU 1500 ----
start_guest g2 --no-mrg-rxbuf --no-offloads --mtu 1500 --queues 1
grep 'ready:' "$VA_TMP/g2.log"
nsx ip -o link show vanet0 | grep -q "mtu 1500 " || va_fail "--mtu 1500 not applied"
grep -q 'pairs 1/2' "$VA_TMP/g2.log" || va_fail "--queues 1 not applied"
f=$(sed -n 's/.* features \(0x[0-9a-f]*\)$/\1/p' "$VA_TMP/g2.log")
[ $((f & 0x8803)) = 0 ] || va_fail "--no-offloads --no-mrg-rxbuf: still negotiated ($f)"
va_grep "$VA_TMP/netloopd.log" 'queue pairs set to 1' ||
	va_fail "no VQ_PAIRS_SET 1 reached the device"
frames 500 60,700,1514
n2=500 b2=$SENT_BYTES

# The device killed and started again: the library renegotiates and
# replays the posted receive buffers, and frames flow again.
va_kill9 "$loop_pid"
va_bg netloopd2 "$VA_NETLOOPD" --sim-socket "$VA_SOCK" --domid 1 \
	--port "$NET_PORT" --queues 2 --mtu 9000 --mac "$MAC"
loop_pid=$VA_PID
va_watch "$loop_pid"
frames 200 60,1514
n2=$((n2 + 200)) b2=$((b2 + SENT_BYTES))
stop_guest g2
check_counters "$VA_TMP/g2.log" "$n2" "$b2"
[ "$(counter "$VA_TMP/g2.log" total renegotiations)" -ge 1 ] ||
	va_fail "the device restart was not noticed"

va_alive "$loop_pid" || va_fail "netloopd died"
echo PASS
