#!/bin/sh
# SPDX-License-Identifier: MIT
# The stage-5 guest (va_run=console; tests/system/domU/init runs this):
# the stock virtio_console on virtio_argo, served by virtio-argo-consoled
# in dom0 (tests/system/dom0/stage5.sh).  Markers go to Xen's PV console
# (hvc0), which xenconsoled logs in dom0: "DOMUconsole: ..." lines,
# "DOMUconsole: PASS" or "DOMUconsole: FAILED: why".
# Once the named port "data" is there, a shell runs on the virtio
# console's hvc (the first hvc after Xen's hvc0 that opens) and dom0
# drives it through consoled's socket.  When that shell exits, the
# transport's counters must show no dropped message, no violation and no
# broken device, and everything unloads.
say() { echo "DOMUconsole: $*"; }
die() {
	say "FAILED: $*"
	dmesg | tail -n 20
	poweroff -f
}

for m in $(cat /modules/order.console); do
	[ -d "/sys/module/$(echo "${m%.ko}" | tr - _)" ] ||
		insmod "/modules/$m" || die "insmod $m"
done
insmod /modules/virtio_argo_core.ko || die "insmod virtio_argo_core"
insmod /modules/virtio_argo.ko devices=0:0x5641c000 || die "insmod virtio_argo"
# The named port: /dev/vportNpM from devtmpfs; the link
# /dev/virtio-ports/NAME is udev's work elsewhere (its rule for vport*),
# made here from the port's name in sysfs.
i=0
until grep -qx data /sys/class/virtio-ports/vport*/name 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 600 ] || die "no virtio port named data within 60 s"
	sleep 0.1
done
vport=$(basename "$(dirname "$(grep -lx data /sys/class/virtio-ports/vport*/name)")")
mkdir -p /dev/virtio-ports
ln -sf ../$vport /dev/virtio-ports/data
[ -c /dev/virtio-ports/data ] || die "no device /dev/$vport"
say "port data is /dev/$vport"
drv=$(basename "$(readlink /sys/devices/platform/virtio-argo.0/virtio*/driver)")
[ "$drv" = virtio_console ] || die "virtio-argo.0 is driven by '$drv'"
# An hvc index without a console behind it refuses to open (ENODEV).
hvc=
i=0
while [ -z "$hvc" ]; do
	for n in 1 2 3 4 5 6 7; do
		if (: <>/dev/hvc$n) 2>/dev/null; then
			hvc=hvc$n
			break
		fi
	done
	i=$((i + 1))
	[ $i -lt 100 ] || die "no hvc of virtio_console's within 10 s"
	[ -n "$hvc" ] || sleep 0.1
done
# A session of its own with the hvc as its controlling terminal; the
# marker only once the tty is open.
setsid sh -c "exec <>/dev/$hvc >&0 2>&0; echo 'DOMUconsole: shell on $hvc' >/dev/console; exec sh" ||
	die "the shell on $hvc failed"
say "the shell on $hvc exited"
# The ports' counters as virtio_console keeps them (debugfs), for the log.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
for f in /sys/kernel/debug/virtio-ports/vport*; do
	[ -f "$f" ] && say "$(basename "$f"): $(grep -E 'bytes_|connected' "$f" | tr '\n\t' '  ')"
done

st=/sys/devices/platform/virtio-argo.0/stats
say "virtio-argo.0: $(tr '\n' ' ' <$st)"
for c in dropped violations poll_timeouts broken; do
	[ "$(sed -n "s/^$c //p" $st)" = 0 ] ||
		die "virtio-argo.0: transport counter $c is not 0"
done
# virtio_console spins for its control messages and for the console's
# output: on this one vCPU only answers inside notify let it go on.
[ "$(sed -n 's/^polled //p' $st)" -gt 0 ] ||
	die "virtio-argo.0: no request answered inside notify"
rmmod virtio_argo || die "rmmod virtio_argo"
rmmod virtio_console || die "rmmod virtio_console"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
say PASS
poweroff -f
