#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 3 (inside dom0, which serves itself as in stage 1): the transport
# against a hostile backend (tests/system/va-hostile.c).
#   config   blkd frozen (SIGSTOP): a config read (virtio_blk's cache_type)
#            still gives the device's value, from the transport's copy.
#   garbage  four O_DIRECT writers run while malformed messages arrive
#            from blkd's port (a raw sendv through privcmd): each one counts
#            as a violation (session 0 and non-zero padding included), the
#            transport renegotiates instead of breaking; the writers end
#            without an error and every byte reads back right.
#   fake     blkd is replaced by a fake device: DEVICE_INFO answers with
#            ring_len % 16 != 0, max_queue_size 0 and num_queues 0 are
#            refused (va-hostile checks that the transport asks again),
#            then a read answered with written = 0 (no status byte) fails
#            with an I/O error; blkd comes back and the disk reads right.
#   silent   a device that answers until DRIVER_OK and never reads again:
#            four writers fill its ring; unbinding virtio_blk ends (the
#            writers get I/O errors) and so does rmmod virtio_argo.
# The block layer's I/O error lines are expected here, so the console
# shows only emergencies during the stage; the stage scans its own kernel
# log for oopses, BUGs, warnings and call traces instead.
# Exit 0 when every step passed; the first failure ends the stage.
PORT=0x5641b010
DRIVER_PORT=0x5641b011
IMG=/tmp/disk3.img
blkd=
hostile=
ST=/sys/devices/platform/virtio-argo.0/stats
MARK=va-stage3-begin
# va_parts=config+garbage (kernel command line): the parts to run, in
# order (default all; "short" is fake without the DEVICE_INFO checks).
# With va_stages=3+3, va_parts=config/silent runs config in the first
# stage 3 and silent in the second (a failed run unloads what it can).
parts=config+garbage+fake+silent
for a in $(cat /proc/cmdline); do
	case $a in
	va_parts=*) parts=${a#va_parts=} ;;
	esac
done
run=$(cat /tmp/stage3.run 2>/dev/null || echo 0)
echo $((run + 1)) >/tmp/stage3.run
parts=$(echo "$parts" | cut -d/ -f$((run + 1)))

step() { echo "ATEST: stage3: [$(cut -d' ' -f1 /proc/uptime) s] $*"; }
die() {
	echo "ATEST: stage3: FAILED: $*"
	[ -z "${blkd:-}" ] || kill -KILL $blkd 2>/dev/null
	[ -z "${hostile:-}" ] || kill -KILL $hostile 2>/dev/null
	for f in /tmp/blkd3*.log /tmp/hostile*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (tail) ----"
		tail -n 20 "$f"
	done
	[ ! -f $ST ] || cat $ST
	echo "---- kernel log (tail) ----"
	dmesg | tail -n 40
	echo 7 >/proc/sys/kernel/printk
	# Unload for a further stage 3 in this boot, never waiting long.
	(rmmod virtio_argo; rmmod virtio_blk) 2>/dev/null &
	ended $! 60
	exit 1
}
stat_of() { sed -n "s/^$1 //p" $ST; }
# alive PID: running (a zombie, ended but not yet waited for, is not).
alive() {
	_st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
	[ -n "$_st" ] && [ "$_st" != Z ]
}
# ended PID SECONDS: true once PID has ended, false after SECONDS.
ended() {
	i=0
	while alive "$1"; do
		i=$((i + 1))
		[ $i -lt $(($2 * 10)) ] || return 1
		sleep 0.1
	done
}
# wait_log FILE PATTERN SECONDS PID: until FILE has PATTERN, PID alive.
wait_log() {
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		alive "$4" || die "'$2' never came ($1)"
		[ $i -lt $(($3 * 10)) ] || die "no '$2' within $3 s ($1)"
		sleep 0.1
	done
}
# hostile MODE MARKER: blkd (SIGKILL) gives way to va-hostile MODE, which
# has the transport's renegotiation behind it once it prints MARKER.
hostile() {
	kill -KILL $blkd
	wait $blkd
	blkd=
	/bin/va-hostile "$1" 0 $PORT $DRIVER_PORT >/tmp/hostile-$1.log 2>&1 &
	hostile=$!
	wait_log /tmp/hostile-$1.log "VA-HOSTILE: $2" 120 $hostile
}
# unload: rmmod virtio_argo (within 60 s), then stop va-hostile.
unload() {
	rmmod virtio_argo &
	u=$!
	ended $u 60 || die "rmmod virtio_argo did not end within 60 s"
	wait $u || die "rmmod virtio_argo failed"
	[ -z "$hostile" ] || { kill -KILL $hostile; wait $hostile; }
	[ -z "$blkd" ] || { kill -TERM $blkd; wait $blkd; }
	hostile=
	blkd=
}
start_blkd() {
	/bin/virtio-argo-blkd --transport xen --domid 0 --port $PORT \
		--driver-port $DRIVER_PORT --image "$IMG" --serial va-stage3 \
		--log-level info >"$1" 2>&1 &
	blkd=$!
	wait_log "$1" 'ring registered' 10 $blkd
}

for m in $(cat /modules/order.xen) virtio_argo_core.ko $(cat /modules/order); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
echo "$MARK" >/dev/kmsg
echo 1 >/proc/sys/kernel/printk

truncate -s 64M "$IMG" || die "image"
start_blkd /tmp/blkd3.log
insmod /modules/virtio_argo.ko devices=0:$PORT:$DRIVER_PORT ||
	die "insmod virtio_argo"
i=0
until d=$(ls /sys/devices/platform/virtio-argo.0/virtio*/block 2>/dev/null) &&
      [ -n "$d" ] && [ -b "/dev/$d" ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || die "no disk on virtio-argo.0"
	sleep 0.1
done
vdev=$(basename "$(ls -d /sys/devices/platform/virtio-argo.0/virtio*)")
size=$(cat /sys/block/$d/size)
step "disk $d ($vdev, $size sectors)"
dd if=/dev/urandom of=/tmp/pat bs=1M count=4 2>/dev/null || die "pattern"
dd if=/tmp/pat of=/dev/$d bs=64k oflag=direct 2>/dev/null || die "write the pattern"

# config: served from the transport's copy while blkd cannot answer.
part_config() {
	[ "$(cat /sys/block/$d/cache_type)" = "write back" ] || die "cache_type is not write back"
	kill -STOP $blkd
	ct=$(cat /sys/block/$d/cache_type)
	kill -CONT $blkd
	[ "$ct" = "write back" ] || die "cache_type '$ct' while blkd was frozen"
	step "config read while blkd was frozen: $ct"
}

# garbage: writers and a peer that sends malformed messages from blkd's port.
part_garbage() {
	w=
	v0=$(stat_of violations)
	for n in 0 1 2 3; do
		(for r in 1 2 3; do
			dd if=/tmp/pat of=/dev/$d bs=64k seek=$((n * 64)) oflag=direct \
				2>/tmp/w$n.err || exit 1
		done) &
		w="$w $!"
	done
	for b in 1 2 3; do
		/bin/va-hostile garbage 0 $PORT $DRIVER_PORT 200 >>/tmp/hostile-garbage.log 2>&1 ||
			die "the garbage sender failed"
		sleep 0.5
	done
	for p in $w; do
		ended $p 180 || die "a writer did not end within 180 s of the garbage"
		wait $p || die "a writer failed across the garbage"
	done
	for n in 0 1 2 3; do
		dd if=/dev/$d bs=64k skip=$((n * 64)) count=64 iflag=direct 2>/dev/null |
			cmp - /tmp/pat >/dev/null || die "region $n reads back wrong after the garbage"
	done
	[ "$(stat_of broken)" = 0 ] || die "the garbage broke the device"
	[ "$(stat_of violations)" -gt 16 ] || die "fewer violations than the garbage holds"
	# Each delivered message is malformed (protocol.md 2.2) or a request
	# sent to the driver: one violation each, none merely stale.
	sent=0
	for n in $(sed -n 's/^VA-HOSTILE: \([0-9]*\) garbage messages sent.*/\1/p' \
			/tmp/hostile-garbage.log); do
		sent=$((sent + n))
	done
	[ "$sent" -gt 0 ] || die "no garbage message counted as sent"
	[ $(($(stat_of violations) - v0)) -ge "$sent" ] ||
		die "$sent garbage messages, only $(($(stat_of violations) - v0)) violations"
	[ "$(stat_of recoveries)" -ge 1 ] || die "no recovery from the violations"
	[ "$(cat /sys/block/$d/size)" = "$size" ] || die "capacity changed to $(cat /sys/block/$d/size)"
	step "garbage: $(stat_of violations) violations, $(stat_of recoveries) recoveries; writers clean, data right"
}

# fake MODE: va-hostile fake (DEVICE_INFO checks, then a response without
# the status byte) or short (only the latter).
part_fake() {
	hostile $1 serving
	if [ "$1" = fake ]; then
		[ "$(grep -c 'refused$' /tmp/hostile-fake.log)" = 3 ] || die "not all three bad DEVICE_INFO refused"
		step "DEVICE_INFO with ring_len % 16, max_queue_size 0, num_queues 0 refused"
	fi
	v=$(stat_of violations)
	f=$(stat_of failed)
	if dd if=/dev/$d of=/tmp/short bs=4k count=1 skip=3 iflag=direct 2>/tmp/short.err; then
		die "a read answered with written = 0 succeeded"
	fi
	grep -q 'Input/output error' /tmp/short.err || die "the short read failed otherwise: $(cat /tmp/short.err)"
	[ "$(stat_of violations)" -gt "$v" ] || die "no violation for the short response"
	[ "$(stat_of failed)" -gt "$f" ] || die "no failed request for the short response"
	kill -KILL $hostile
	wait $hostile
	hostile=
	step "a response without the status byte fails the read (EIO)"
	start_blkd /tmp/blkd3b.log
	i=0
	until dd if=/dev/$d bs=64k count=64 iflag=direct 2>/dev/null | cmp - /tmp/pat >/dev/null; do
		i=$((i + 1))
		[ $i -lt 60 ] || die "the disk does not read right with blkd back"
		sleep 1
	done
	step "blkd back: the disk reads right again"
}

# silent: a full ring that is never read; unbind and rmmod end anyway.
part_silent() {
	hostile silent silent
	w=
	for n in 0 1 2 3; do
		dd if=/dev/zero of=/dev/$d bs=1M count=4 seek=$((n * 4)) oflag=direct \
			2>/dev/null &
		w="$w $!"
	done
	sleep 2
	echo "$vdev" >/sys/bus/virtio/drivers/virtio_blk/unbind &
	u=$!
	# The transport ends the writers' requests once the device has been
	# unreachable for 20 s (after a first renegotiation attempt that may
	# wait 30 s for a fenced reply); then nothing waits for fences: about
	# 80 s under TCG (3.4 min while the later attempts and the driver's
	# reset still waited 30 s each).
	ended $u 240 || die "unbind of virtio_blk did not end within 240 s"
	wait $u || die "unbind failed"
	bad=0
	for p in $w; do
		ended $p 10 || die "a writer still runs after the unbind"
		wait $p || bad=$((bad + 1))
	done
	[ $bad -ge 1 ] || die "every write to the silent device succeeded"
	step "unbind ended with a full, silent ring; $bad writers failed (EIO)"
	unload
	step "rmmod virtio_argo ended"
}

for part in $(echo "$parts" | tr + ' '); do
	case $part in
	config | garbage | silent) part_$part ;;
	fake | short) part_fake $part ;;
	*) die "no part $part" ;;
	esac
done
[ ! -d /sys/module/virtio_argo ] || unload
rmmod virtio_blk || die "rmmod virtio_blk"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
rm -f "$IMG" /tmp/pat
echo 7 >/proc/sys/kernel/printk
dmesg | sed -n "/$MARK/,\$p" >/tmp/dmesg3.log
if grep -i -E 'oops|bug:|warning:|call trace|panic|hung task' /tmp/dmesg3.log; then
	die "kernel trouble during the stage"
fi
step "kernel log clean (see the scan above)"
exit 0
