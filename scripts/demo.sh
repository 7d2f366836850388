#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The main job on the embedded default, the Argo simulator (README's first
# command): build, start virtio-argo-sim, serve a disk image with
# virtio-argo-blkd to guest domain 1, and let the user-space guest probe the
# device, write and read it back, and print what happened.
#
#   scripts/demo.sh [--keep]     --keep: leave the work directory behind
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
keep=0
[ "${1:-}" = "--keep" ] && keep=1

scripts/deps.sh build
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null

work=$(mktemp -d /tmp/virtio-argo-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$keep" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

export VIRTIO_ARGO_SIM_SOCKET="$work/sim.sock"
bin=build/src

step() { printf '\n--- %s\n' "$*"; }

step "starting the Argo simulator (domain 0 = driver domain)"
"$bin/sim/virtio-argo-sim" --domains 1 2>"$work/sim.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$VIRTIO_ARGO_SIM_SOCKET" ] && break; sleep 0.05; done
echo "simulator up on $VIRTIO_ARGO_SIM_SOCKET"

step "creating a 64 MiB disk image and serving it to guest domain 1"
truncate -s 64M "$work/disk.img"
"$bin/devices/blk/virtio-argo-blkd" --domid 1 --image "$work/disk.img" \
	--serial demo-disk 2>"$work/blkd.log" &
pids+=($!)
sleep 0.3
sed 's/^/  blkd: /' "$work/blkd.log"

step "guest domain 1 probes the device (virtio-argo-guest info)"
"$bin/guest/virtio-argo-guest" --self-domid 1 --backend-domid 0 info

step "guest domain 1 writes, then reads, 4 KiB blocks at random for 2 s each (JSON)"
for rw in randwrite randread; do
	"$bin/guest/virtio-argo-guest" --self-domid 1 blk bench --rw $rw --bs 4k \
		--iodepth 16 --runtime 2
done

step "what the backend logged"
sed 's/^/  blkd: /' "$work/blkd.log"
echo
echo "done: guest domain 1 used a virtio-blk device served by virtio-argo-blkd over (simulated) Argo"
