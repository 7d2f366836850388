#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Block benchmark (not a test): each workload on the same image file, once
# directly with fio (ioengine=io_uring) and once through virtio-argo
# (virtio-argo-guest blk bench -> simulator -> virtio-argo-blkd -> io_uring),
# side by side in one run; first with the page cache on both sides (blkd
# --cache writeback, fio buffered), then with O_DIRECT on both (--cache none,
# fio direct=1).  Also blkd's RSS after start-up beside qemu-storage-daemon's
# exporting the same image, and blkd's peak RSS under the QD32 load with the
# Argo ring memory (shared memfd pages) counted apart.
#
#   bench/blk.sh [--runtime SECONDS] [--size SIZE] [--out FILE] [--build DIR]
# Results: printed, and saved to bench/results/blk-<date>.txt (or --out).
# --build: a release build directory to use (default: build-bench here,
# set up with --buildtype=release if absent).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
runtime=10 size=1G out="" build=build-bench
while [ $# -gt 0 ]; do
	case "$1" in
	--runtime) runtime=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	-h|--help) sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "blk.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
mkdir -p bench/results
[ -n "$out" ] || out="bench/results/blk-$(date -u +%Y%m%dT%H%M%SZ).txt"

scripts/deps.sh build test
command -v qemu-storage-daemon >/dev/null || scripts/deps.sh system
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=release >/dev/null
meson compile -C "$build" >/dev/null
bin=$build/src

work=$(mktemp -d /var/tmp/virtio-argo-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
export VIRTIO_ARGO_SIM_SOCKET="$work/sim.sock"
img="$work/disk.img"

# The image is filled with data so reads are served from real blocks.
echo "preparing a $size image"
fio --name=fill --filename="$img" --size="$size" --rw=write --bs=1M \
	--ioengine=psync --end_fsync=1 --output=/dev/null

"$bin/sim/virtio-argo-sim" --domains 1 2>"$work/sim.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$VIRTIO_ARGO_SIM_SOCKET" ] && break; sleep 0.05; done

blkd_pid=""
start_blkd() {	# start_blkd CACHE
	"$bin/devices/blk/virtio-argo-blkd" --domid 1 --image "$img" --cache "$1" \
		--log-level warning 2>>"$work/blkd.log" &
	blkd_pid=$!
	pids+=("$blkd_pid")
	"$bin/guest/virtio-argo-guest" --self-domid 1 --timeout 10 info >/dev/null
}
stop_blkd() {
	kill "$blkd_pid"; wait "$blkd_pid" 2>/dev/null || true
}
status_kb() {	# status_kb PID FIELD
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# fio_iops RW BS QD DIRECT
fio_iops() {
	fio --name=direct --filename="$img" --ioengine=io_uring --rw="$1" --bs="$2" \
		--iodepth="$3" --direct="$4" --runtime="$runtime" --time_based \
		--size="$size" --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(int(j["read"]["iops"]+j["write"]["iops"]))'
}
# va_iops RW BS QD
va_iops() {
	"$bin/guest/virtio-argo-guest" --self-domid 1 blk bench --rw "$1" --bs "$2" \
		--iodepth "$3" --runtime "$runtime" |
		python3 -c 'import json,sys; print(int(json.load(sys.stdin)["iops"]))'
}

workloads=("randread 4k 1" "randread 4k 32" "randwrite 4k 32" "read 128k 8" "write 128k 8")
{
	echo "virtio-argo block benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print $2/1024/1024 " GiB"}' /proc/meminfo), kernel $(uname -r)"
	echo "image: $size, runtime ${runtime}s per workload, transport: simulator"
} | tee "$out"

for mode in pagecache direct; do
	if [ $mode = pagecache ]; then cache=writeback; direct=0; else cache=none; direct=1; fi
	start_blkd $cache
	printf '\n[%s: blkd --cache %s, fio direct=%s]\n' "$mode" "$cache" "$direct" | tee -a "$out"
	printf '%-18s %12s %12s %8s\n' workload "fio iops" "va iops" ratio | tee -a "$out"
	for w in "${workloads[@]}"; do
		set -- $w
		d=$(fio_iops "$1" "$2" "$3" "$direct")
		v=$(va_iops "$1" "$2" "$3")
		printf '%-18s %12s %12s %8.2f\n' "$1 $2 QD$3" "$d" "$v" \
			"$(python3 -c "print($v/$d if $d else 0)")" | tee -a "$out"
		if [ "$mode $1 $3" = "pagecache randread 32" ]; then
			peak_hwm=$(status_kb "$blkd_pid" VmHWM)
			peak_shm=$(status_kb "$blkd_pid" RssShmem)
		fi
	done
	stop_blkd
done

# Memory footprint after start-up.
start_blkd writeback
sleep 1
blkd_rss=$(status_kb "$blkd_pid" VmRSS)
blkd_shm=$(status_kb "$blkd_pid" RssShmem)
stop_blkd
qemu-storage-daemon --blockdev "driver=file,node-name=disk,filename=$img" \
	--export "type=vhost-user-blk,id=exp,node-name=disk,addr.type=unix,addr.path=$work/vhost.sock,writable=on" &
qsd=$!
pids+=("$qsd")
sleep 2
qsd_rss=$(status_kb "$qsd" VmRSS)
kill "$qsd"; wait "$qsd" 2>/dev/null || true
{
	printf '\n[memory]\n'
	printf 'blkd RSS after start-up:          %6d KiB (of which Argo ring pages %d KiB)\n' "$blkd_rss" "$blkd_shm"
	printf 'qemu-storage-daemon RSS at start: %6d KiB (vhost-user-blk export of the same image)\n' "$qsd_rss"
	printf 'ratio blkd/qsd:                   %6.2f\n' "$(python3 -c "print($blkd_rss/$qsd_rss)")"
	printf 'blkd peak RSS under 4k QD32 load: %6d KiB (Argo ring pages %d KiB of it)\n' "${peak_hwm:-0}" "${peak_shm:-0}"
} | tee -a "$out"
echo "saved to $out"
