# SPDX-License-Identifier: MIT
# Shared set-up of the netd tests (sourced after lib.sh): two network
# namespaces joined only through virtio-argo,
#   guest ns: vag0 (virtio-argo-guest net tap) <-> simulator <->
#   driver ns: virtio-argo-netd <-> vad0 (a persistent multi-queue TAP)
# with 10.77.0.2/fd77::2 in the guest, 10.77.0.1/fd77::1 in the driver.

VA_NETD=${VA_NETD:-$VA_BUILD_ROOT/src/devices/net/virtio-argo-netd}
NET_XFER=${NET_XFER:-$VA_SOURCE_ROOT/tests/integration/net-xfer.py}
NET_PORT=0x5641e000
NET_MAC=02:00:00:76:61:3c
G4=10.77.0.2 D4=10.77.0.1 G6=fd77::2 D6=fd77::1

[ "$(id -u)" = 0 ] || va_skip "needs root (network namespaces, TAP)"
[ -c /dev/net/tun ] || va_skip "no /dev/net/tun"
command -v ip >/dev/null || va_skip "no ip command (iproute2)"
command -v python3 >/dev/null || va_skip "no python3"
va_need "$VA_NETD" "$VA_GUEST"

gns=va-ng-$$-$RANDOM
dns=va-nd-$$-$RANDOM
G() { ip netns exec "$gns" "$@"; }
D() { ip netns exec "$dns" "$@"; }

net_setup() {
	ip netns add "$gns" || va_fail "cannot create namespace $gns"
	va_at_end "ip netns del $gns"
	ip netns add "$dns" || va_fail "cannot create namespace $dns"
	va_at_end "ip netns del $dns"
	G ip link set lo up && D ip link set lo up || va_fail "lo up"
	D ip tuntap add dev vad0 mode tap multi_queue vnet_hdr ||
		va_fail "cannot create the driver's TAP"
	D sysctl -q -w net.ipv6.conf.vad0.keep_addr_on_down=1
	D ip addr add $D4/24 dev vad0 &&
		D ip addr add $D6/64 dev vad0 nodad || va_fail "driver addresses"
	va_start_sim
}

# netd_start NAME [OPTIONS]: netd in the driver namespace on vad0.
netd_start() {
	local name=$1
	shift
	va_bg "$name" ip netns exec "$dns" "$VA_NETD" --sim-socket "$VA_SOCK" \
		--domid 1 --port "$NET_PORT" --tap vad0 --mac "$NET_MAC" "$@"
	NETD_PID=$VA_PID
	NETD_LOG=$VA_TMP/$name.log
	va_watch "$NETD_PID"
	va_grep "$NETD_LOG" 'serving' || va_fail "$name did not start"
}

# guest_start NAME [OPTIONS]: the guest tool in the guest namespace, with
# the guest's addresses on vag0.
guest_start() {
	local name=$1
	shift
	va_bg "$name" ip netns exec "$gns" "$VA_GUEST" --sim-socket "$VA_SOCK" \
		--port "$NET_PORT" --timeout 10 net tap vag0 "$@"
	GUEST_PID=$VA_PID
	GUEST_LOG=$VA_TMP/$name.log
	va_grep "$GUEST_LOG" 'net vag0: ready:' || va_fail "$name not ready"
	G ip addr add $G4/24 dev vag0 &&
		G ip addr add $G6/64 dev vag0 nodad || va_fail "guest addresses"
}

# pings NS ADDR [PING OPTIONS]: replies come (bounded wait, not timed).
pings() {
	local ns=$1 addr=$2
	shift 2
	ip netns exec "$ns" ping -q -c 3 -w 30 "$@" "$addr" ||
		va_fail "ping $* $addr from $ns failed"
}

# stats PID LOG: SIGUSR1 and wait for a new total line (netd: "net:
# total:", the guest: "net vag0: total:").
stats() {
	local pid=$1 log=$2 pat=${3:-net: total:} before
	before=$(grep -c -- "$pat" "$log")
	kill -USR1 "$pid"
	va_wait 30 test "$(grep -c -- "$pat" "$log")" -gt "$before" ||
		va_fail "no counters from $log"
}

# counter LOG WHAT KEY: KEY's value in the last "WHAT:" line of LOG.
counter() {
	grep -- "$2: " "$1" | tail -n 1 | sed -n "s/.* $3 \([0-9]*\).*/\1/p"
}

# xfer SRC_NS DST_NS DST_ADDR FILE TAG: one TCP transfer of FILE, sha256
# compared at both ends.
xfer() {
	local src=$1 dst=$2 addr=$3 file=$4 tag=$5 port=$((20000 + RANDOM % 20000))
	rm -f "$VA_TMP/$tag.ready"
	va_bg "recv-$tag" ip netns exec "$dst" python3 "$NET_XFER" recv "$addr" \
		"$port" "$VA_TMP/$tag.out" "$VA_TMP/$tag.ready"
	local rpid=$VA_PID
	va_wait 10 test -e "$VA_TMP/$tag.ready" || va_fail "$tag: receiver not ready"
	ip netns exec "$src" python3 "$NET_XFER" send "$addr" "$port" "$file" ||
		va_fail "$tag: send failed"
	va_wait_exit "$rpid" 120
	[ "$VA_RC" = 0 ] || va_fail "$tag: receiver failed"
	[ "$(sha256sum <"$file")" = "$(sha256sum <"$VA_TMP/$tag.out")" ] ||
		va_fail "$tag: sha256 differs"
	echo "$tag: $(stat -c %s "$VA_TMP/$tag.out") bytes, sha256 equal"
	rm -f "$VA_TMP/$tag.out"
}
