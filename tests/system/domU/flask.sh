#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of stage 7's small domUs (tests/system/dom0/stage7.sh), under Xen
# with FLASK enforcing our policy (config/flask/).  va_flask= on the kernel
# command line names the part:
#   driver  (va_driver_t) va-flask-peer serve: echoes its guest's messages
#   guest   (va_guest_t)  va-flask-peer ping: two rounds of 16 echoed
#           messages, the second once dom0 says so
#   other   (Xen's domU_t) va-flask-peer deny: -EACCES from registering a
#           ring towards the driver domain and from sending to it
# dom0 hands out the domain ids through XenStore (data/va-peer in this
# domain's own directory; data/va-round for the guest's second round).
# Markers on the console, which xenconsoled logs in dom0:
# "FLASK-<part>: ..." and "FLASK-<part>: PASS" or "FLASK-<part>: FAILED: why".
PORT=0x5641f000
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

part=none
for a in $(cat /proc/cmdline); do
	case $a in
	va_flask=*) part=${a#va_flask=} ;;
	esac
done
say() { echo "FLASK-$part: $*"; }
die() {
	say "FAILED: $*"
	dmesg | tail -n 20
	poweroff -f
}
# key NAME: data/NAME of this domain, once dom0 has written it.
key() {
	i=0
	until v=$(xenstore-read "data/$1" 2>/dev/null); do
		i=$((i + 1))
		[ $i -lt 1500 ] || die "no data/$1 in XenStore within 300 s"
		sleep 0.2
	done
	echo "$v"
}

insmod /modules/virtio_argo_core.ko || die "insmod virtio_argo_core"
say "up, waiting for data/va-peer"
peer=$(key va-peer)
[ -n "$peer" ] || die "data/va-peer empty"
case $part in
driver)
	va-flask-peer serve "$peer" $PORT || die "va-flask-peer serve"
	;;
guest)
	{ key va-round >/dev/null; echo go; } |
		va-flask-peer ping "$peer" $PORT 16 2 || die "va-flask-peer ping"
	;;
other)
	# Debian's 6.1 privcmd blocks every hypercall of a domU that is no
	# device model ("No target domain found") unless told otherwise.
	insmod /modules/xen-privcmd.ko unrestricted=1 || die "insmod xen-privcmd"
	va-flask-peer deny "$peer" $PORT || die "va-flask-peer deny"
	;;
*)
	die "va_flask=$part: no such part"
	;;
esac
say PASS
poweroff -f
