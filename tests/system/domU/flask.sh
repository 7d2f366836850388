#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of stage 7's refused domain va-fother (tests/system/dom0/stage6.sh
# with VA_FLASK=1), under Xen with FLASK enforcing our policy
# (config/flask/) and labelled with Xen's domU_t, to which the policy gives
# no Argo: va-flask-peer deny must get exactly -EACCES from registering a
# ring towards the driver domain and from sending to consoled's port
# there.  dom0 hands out the driver domain's id through XenStore
# (data/va-peer in this domain's own directory).  va_flask=other on the
# kernel command line names the part (the only one).  Markers on the
# console, which xenconsoled logs in dom0: "FLASK-other: ..." and
# "FLASK-other: PASS" or "FLASK-other: FAILED: why".
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
[ "$part" = other ] || die "va_flask=$part: no such part"
# Debian's 6.1 privcmd blocks every hypercall of a domU that is no device
# model ("No target domain found") unless told otherwise.
insmod /modules/xen-privcmd.ko unrestricted=1 || die "insmod xen-privcmd"
va-flask-peer deny "$peer" $PORT || die "va-flask-peer deny"
say PASS
poweroff -f
