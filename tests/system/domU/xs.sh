# SPDX-License-Identifier: MIT
# Stage xs's guest (va_run=xs), sourced by tests/system/domU/init after
# the module loads: virtio_argo with devices=xenstore finds its one disk
# in XenStore, which dom0 (tests/system/dom0/stagexs.sh) writes only once
# the transport is loaded ("waiting for XenStore"), and follows it when
# dom0 moves it to another blkd, port and ring while fio writes.
#   - virtio-argo.0 appears once the keys do; the stock virtio_blk binds,
#     its serial is blkd's (va-xs);
#   - fio rounds with crc32c verify, one after the other, until the
#     transport's counters show three moves (dom0 first writes malformed
#     values and removes the keys: the rounds go on against the first
#     blkd; then blkd b, this domain itself, blkd c on b's port), then
#     one more round: no I/O error, every verify clean;
#   - counters: three moves, renegotiations, requests replayed, nothing
#     dropped, no violation, not broken; rmmod with the watch in place.
say "insmod virtio_argo devices=xenstore"
insmod /modules/virtio_argo.ko devices=xenstore ||
	die "insmod virtio_argo devices=xenstore"
st=/sys/devices/platform/virtio-argo.0/stats
[ ! -e $st ] || die "virtio-argo.0 exists before its keys do"
say "waiting for XenStore"
i=0
until [ -b /dev/vda ]; do
	i=$((i + 1))
	[ $i -lt 1200 ] || die "no /dev/vda within 120 s of the module load"
	sleep 0.1
done
case $(readlink -f /sys/block/vda) in
*/virtio-argo.0/*) ;;
*) die "vda is not virtio-argo.0" ;;
esac
[ "$(basename "$(readlink /sys/block/vda/device/driver)")" = virtio_blk ] ||
	die "vda is not driven by virtio_blk"
[ "$(cat /sys/block/vda/serial)" = va-xs ] || die "vda: serial is not va-xs"
say "vda from XenStore, serial va-xs"

# counter NAME: virtio-argo.0's transport counter.
counter() {
	sed -n "s/^$1 //p" $st
}
# fio_round N: writes with verify; every error is fatal.
fio_round() {
	fio --name=xs$1 --filename=/dev/vda --size=8M --rw=randwrite \
		--bs=4k --ioengine=libaio --direct=1 --iodepth=16 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 \
		--verify_state_save=0 --eta=never --output=/tmp/fio.out &
	fio=$!
	if [ "$1" = 1 ]; then
		i=0
		until [ "$(inflight_writes vda)" -gt 0 ]; do
			kill -0 $fio 2>/dev/null ||
				{ cat /tmp/fio.out; die "fio ended too soon"; }
			i=$((i + 1))
			[ $i -lt 600 ] || die "no write of fio's in flight within 60 s"
			sleep 0.1
		done
		say "FIO-STARTED"
	fi
	wait $fio || { cat /tmp/fio.out; die "fio round $1 failed"; }
	grep -q 'err= 0' /tmp/fio.out || { cat /tmp/fio.out; die "fio round $1: errors"; }
}
n=0
while [ "$(counter moves)" -lt 3 ]; do
	n=$((n + 1))
	[ $n -le 200 ] || die "not three moves after 200 fio rounds"
	fio_round $n
done
say "moved three times by fio round $n (verified clean)"
n=$((n + 1))
fio_round $n
say "fio round $n verified clean after the move"
say "virtio-argo.0: $(tr '\n' ' ' <$st)"
[ "$(counter moves)" = 3 ] || die "moves is not 3"
[ "$(counter renegotiations)" -ge 1 ] || die "no renegotiation after the move"
[ "$(counter replayed)" -ge 1 ] || die "no request replayed after the move"
check_stats 0
rmmod virtio_argo || die "rmmod virtio_argo"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
say PASS
poweroff -f
