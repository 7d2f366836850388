#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Network benchmark (not a test): iperf3 between two network namespaces,
# once through virtio-argo (guest TAP <-> virtio-argo-guest net tap <->
# simulator <-> virtio-argo-netd <-> driver TAP) and once over a veth pair
# (what this machine's kernel does between two namespaces), side by side
# in one run: TCP with 1 and 4 streams each way, and the packet rate of
# 64-byte UDP datagrams each way.  Also netd's RSS after start-up (alone,
# and with a guest attached, idle; with its parts by mapping from smaps)
# and its peak after the load, and the CPU time netd, the guest tool and
# the simulator spend per GB moved.
#
#   bench/net.sh [--runtime SECONDS] [--queues N] [--out FILE] [--build DIR]
# Results: printed, and saved to bench/results/net-<date>.txt (or --out).
# --queues: netd's and the guest's queue pairs (default 1).
# --build: a release build directory to use (default: build-bench here,
# set up with --buildtype=release if absent).  Needs root and iperf3.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
runtime=10 queues=1 out="" build=build-bench
while [ $# -gt 0 ]; do
	case "$1" in
	--runtime) runtime=$2; shift 2 ;;
	--queues) queues=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	-h|--help) sed -n '4,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "net.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "net.sh: needs root (namespaces, TAP)" >&2; exit 1; }
if ! command -v iperf3 >/dev/null; then
	echo "net.sh: iperf3 is missing (Debian: apt-get install iperf3)" >&2
	exit 1
fi
scripts/deps.sh build test
mkdir -p bench/results
[ -n "$out" ] || out="bench/results/net-$(date -u +%Y%m%dT%H%M%SZ).txt"
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
meson compile -C "$build" >/dev/null
bin=$build/src

work=$(mktemp -d /var/tmp/virtio-argo-netbench.XXXXXX)
tag=$$-$RANDOM
gns=vanb-g-$tag dns=vanb-d-$tag	# through virtio-argo
ans=vanb-a-$tag bns=vanb-b-$tag	# over veth
nss=()
pids=()
cleanup() {
	local p n
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for n in "${nss[@]}"; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export VIRTIO_ARGO_SIM_SOCKET="$work/sim.sock"
port=0x5641e000

wait_for() {	# wait_for SECONDS COMMAND...: poll until it succeeds
	local n=$(($1 * 20))
	shift
	while ! "$@" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.05
	done
}
status_kb() {	# status_kb PID FIELD
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
rss() {	# rss PID: VmRSS and its parts, as printed
	local pss priv
	pss=$(awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup")
	priv=$(awk '$1 ~ /^Private_(Clean|Dirty):$/ { s += $2 } END { print s }' \
		"/proc/$1/smaps_rollup")
	printf '%6d KiB (anon %d, file %d, Argo ring pages %d; PSS %d, private %d)' \
		"$(status_kb "$1" VmRSS)" "$(status_kb "$1" RssAnon)" \
		"$(status_kb "$1" RssFile)" "$(status_kb "$1" RssShmem)" "$pss" "$priv"
}
# rss_parts PID: VmRSS by what is mapped (from smaps, KiB, largest first):
# each file by name, [heap], [stack], the Argo ring, other anonymous.
rss_parts() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / {
		n = $6
		if (n == "") n = "anon"
		sub(/.*\//, "", n)
		sub(/\.so.*/, ".so", n)
		next
	}
	$1 == "Rss:" && $2 > 0 { kb[n] += $2 }
	END { for (n in kb) printf "%d %s\n", kb[n], n }' "/proc/$1/smaps" |
		sort -rn | awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }'
}
ticks() {	# ticks PID: user + system CPU time in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# gcount: the guest tool's "rx_frames rx_bytes tx_frames tx_bytes" now
# (SIGUSR1, then its new total line).
gcount() {
	local before n=100
	before=$(grep -c 'net vag0: total:' "$work/guest.log" || true)
	kill -USR1 "$guest_pid"
	while [ "$(grep -c 'net vag0: total:' "$work/guest.log" || true)" -le "$before" ]; do
		n=$((n - 1))
		[ $n -gt 0 ] || { echo "net.sh: no counters from the guest tool" >&2; exit 1; }
		sleep 0.05
	done
	grep 'net vag0: total:' "$work/guest.log" | tail -n 1 |
		sed 's/.* rx_frames \([0-9]*\) rx_bytes \([0-9]*\) .* tx_frames \([0-9]*\) tx_bytes \([0-9]*\) .*/\1 \2 \3 \4/'
}
newns() {
	ip netns add "$1"
	nss+=("$1")
	ip netns exec "$1" ip link set lo up
}

# ---- through virtio-argo ----
newns "$gns"
newns "$dns"
ip netns exec "$dns" ip tuntap add dev vad0 mode tap multi_queue vnet_hdr
ip netns exec "$dns" ip addr add 10.78.0.1/24 dev vad0
"$bin/sim/virtio-argo-sim" 2>"$work/sim.log" &
sim_pid=$!
pids+=("$sim_pid")
wait_for 10 test -S "$VIRTIO_ARGO_SIM_SOCKET"
ip netns exec "$dns" "$bin/devices/net/virtio-argo-netd" --domid 1 \
	--port $port --tap vad0 --queues "$queues" 2>"$work/netd.log" &
netd_pid=$!
pids+=("$netd_pid")
wait_for 10 grep -q serving "$work/netd.log" ||
	{ echo "net.sh: netd did not start:" >&2; cat "$work/netd.log" >&2; exit 1; }
# netd's footprint after start-up, before a guest comes.
sleep 1
rss_alone=$(rss "$netd_pid")
parts_alone=$(rss_parts "$netd_pid")
ip netns exec "$gns" "$bin/guest/virtio-argo-guest" --port $port --timeout 10 \
	net tap vag0 --queues "$queues" 2>"$work/guest.log" &
guest_pid=$!
pids+=("$guest_pid")
wait_for 20 grep -q 'net vag0: ready:' "$work/guest.log" ||
	{ echo "net.sh: the guest tool is not ready:" >&2; cat "$work/guest.log" >&2; exit 1; }
ip netns exec "$gns" ip addr add 10.78.0.2/24 dev vag0
ip netns exec "$dns" ip link set vad0 up
# And once the guest has attached and netd holds its receive buffers, no
# traffic yet.
sleep 1
rss_guest=$(rss "$netd_pid")
parts_guest=$(rss_parts "$netd_pid")
wait_for 20 ip netns exec "$gns" ping -q -c 1 -W 1 10.78.0.1 >/dev/null ||
	{ echo "net.sh: no ping through virtio-argo" >&2; exit 1; }

# ---- over veth ----
newns "$ans"
newns "$bns"
ip link add vnb0 netns "$ans" type veth peer name vnb1 netns "$bns"
ip netns exec "$ans" ip addr add 10.79.0.2/24 dev vnb0
ip netns exec "$bns" ip addr add 10.79.0.1/24 dev vnb1
ip netns exec "$ans" ip link set vnb0 up
ip netns exec "$bns" ip link set vnb1 up
wait_for 20 ip netns exec "$ans" ping -q -c 1 -W 1 10.79.0.1 >/dev/null ||
	{ echo "net.sh: no ping over veth" >&2; exit 1; }

# iperf3 servers, one per namespace, on a port of their own.
iport=$((30000 + RANDOM % 20000))
declare -A addr=([$gns]=10.78.0.2 [$dns]=10.78.0.1 [$ans]=10.79.0.2 [$bns]=10.79.0.1)
for n in "$gns" "$dns" "$ans" "$bns"; do
	ip netns exec "$n" iperf3 -s -B "${addr[$n]}" -p $iport >/dev/null 2>&1 &
	pids+=($!)
done
for n in "$gns" "$dns" "$ans" "$bns"; do
	wait_for 10 ip netns exec "$n" bash -c "exec 3<>/dev/tcp/${addr[$n]}/$iport"
done
sleep 1	# the probe connections above are over

# iperf_json SRC DST ARGS...: one iperf3 run from SRC to DST's server.
iperf_json() {
	local src=$1 dst=$2
	shift 2
	for _ in 1 2 3; do	# a server still closing the last test: retry
		if ip netns exec "$src" iperf3 -c "${addr[$dst]}" -p $iport \
			-t "$runtime" --json "$@" >"$work/iperf.json" 2>&1; then
			return 0
		fi
		sleep 1
	done
	echo "net.sh: iperf3 $src -> $dst $* failed:" >&2
	cat "$work/iperf.json" >&2
	exit 1
}
# tcp SRC DST STREAMS: received Gbit/s and bytes.
tcp() {
	iperf_json "$1" "$2" -P "$3"
	python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print("%.3f %d" % (s["bits_per_second"] / 1e9, s["bytes"]))' "$work/iperf.json"
}
# udp SRC DST: 64-byte datagrams sent as fast as iperf3 can; datagrams
# per second received, and the loss in percent.
udp() {
	iperf_json "$1" "$2" -u -l 64 -b 0
	python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum"]
got = s["packets"] - s["lost_packets"]
print("%d %.1f" % (got / s["seconds"], 100.0 * s["lost_packets"] / max(s["packets"], 1)))' \
		"$work/iperf.json"
}
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.2f' % (a / b if b else 0))" "$1" "$2"; }
# per_gb TICKS BYTES: CPU seconds per GB moved
per_gb() { python3 -c "import os,sys; t, b = map(float, sys.argv[1:]); print('%.2f' % (t / os.sysconf('SC_CLK_TCK') / (b / 1e9) if b else 0))" "$1" "$2"; }

{
	echo "virtio-argo network benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print $2/1024/1024 " GiB"}' /proc/meminfo), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "runtime ${runtime}s per run, $queues queue pair(s), MTU $(ip netns exec "$gns" cat /sys/class/net/vag0/mtu), transport: simulator; $(iperf3 --version | head -n 1)"
	printf '\n[TCP: received Gbit/s; CPU seconds per GB of netd, the guest tool, the simulator]\n'
	printf '%-22s %9s %9s %6s %6s %6s %6s %7s\n' run veth va ratio netd guest sim "frame B"
} | tee "$out"

tot_bytes=0
declare -A tot_ticks=([netd]=0 [guest]=0 [sim]=0)
for streams in 1 4; do
	for dir in g2d d2g; do
		if [ $dir = g2d ]; then
			vs=$gns vd=$dns ws=$ans wd=$bns
		else
			vs=$dns vd=$gns ws=$bns wd=$ans
		fi
		res=$(tcp "$ws" "$wd" $streams)
		read -r wv _ <<<"$res"
		read -ra c0 <<<"$(gcount)"
		read -ra t0 <<<"$(ticks "$netd_pid") $(ticks "$guest_pid") $(ticks "$sim_pid")"
		res=$(tcp "$vs" "$vd" $streams)
		read -r vv vb <<<"$res"
		read -ra t1 <<<"$(ticks "$netd_pid") $(ticks "$guest_pid") $(ticks "$sim_pid")"
		read -ra c1 <<<"$(gcount)"
		# the mean frame of the data direction (guest tx or rx)
		if [ $dir = g2d ]; then k=2; else k=0; fi
		fb=$(( (c1[k + 1] - c0[k + 1]) / (c1[k] - c0[k] > 0 ? c1[k] - c0[k] : 1) ))
		tn=$((t1[0] - t0[0])) tg=$((t1[1] - t0[1])) tsim=$((t1[2] - t0[2]))
		tot_bytes=$((tot_bytes + vb))
		tot_ticks[netd]=$((tot_ticks[netd] + tn))
		tot_ticks[guest]=$((tot_ticks[guest] + tg))
		tot_ticks[sim]=$((tot_ticks[sim] + tsim))
		printf '%-22s %9s %9s %6s %6s %6s %6s %7s\n' "tcp $dir P$streams" "$wv" "$vv" \
			"$(ratio "$vv" "$wv")" "$(per_gb $tn "$vb")" "$(per_gb $tg "$vb")" \
			"$(per_gb $tsim "$vb")" "$fb" | tee -a "$out"
	done
done

{
	printf '\n[UDP 64-byte datagrams, iperf3 -u -l 64 -b 0: received per second (loss %%)]\n'
	printf '%-22s %18s %18s %6s\n' run veth va ratio
} | tee -a "$out"
for dir in g2d d2g; do
	if [ $dir = g2d ]; then vs=$gns vd=$dns ws=$ans wd=$bns; else vs=$dns vd=$gns ws=$bns wd=$ans; fi
	res=$(udp "$ws" "$wd")
	read -r wp wl <<<"$res"
	res=$(udp "$vs" "$vd")
	read -r vp vl <<<"$res"
	printf '%-22s %18s %18s %6s\n' "udp64 $dir" "$wp ($wl%)" "$vp ($vl%)" \
		"$(ratio "$vp" "$wp")" | tee -a "$out"
done

netd_hwm=$(status_kb "$netd_pid" VmHWM)
rss_end=$(rss "$netd_pid")
kill -USR1 "$netd_pid" "$guest_pid"
sleep 1
{
	printf '\n[memory and CPU]\n'
	printf 'netd RSS after start-up, no guest:  %s\n' "$rss_alone"
	printf 'netd RSS, guest attached, idle:     %s\n' "$rss_guest"
	printf 'netd RSS at the end:                %s\n' "$rss_end"
	printf 'netd RSS by mapping, no guest (KiB): %s\n' "$parts_alone"
	printf 'netd RSS by mapping, guest attached: %s\n' "$parts_guest"
	printf 'netd peak RSS (VmHWM) after load:   %6d KiB\n' "$netd_hwm"
	printf 'CPU seconds per GB over all TCP runs: netd %s, guest tool %s, simulator %s (%d MB moved)\n' \
		"$(per_gb "${tot_ticks[netd]}" $tot_bytes)" "$(per_gb "${tot_ticks[guest]}" $tot_bytes)" \
		"$(per_gb "${tot_ticks[sim]}" $tot_bytes)" $((tot_bytes / 1000000))
	printf '\n[counters at the end]\n'
	grep 'net: total:' "$work/netd.log" | tail -n 1 | sed 's/^/netd: /'
	grep 'net vag0: total:' "$work/guest.log" | tail -n 1 | sed 's/^/guest: /'
} | tee -a "$out"
echo "saved to $out"
