#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 4 (inside dom0, the driver domain): a network device on real Xen,
# the reflector form.  The device is virtio-argo-netloopd
# (tests/testdev/netloopd.c), which sends every frame the guest transmits
# back to it; it proves that the kernel transport carries the stock
# virtio_net (config space, held receive buffers, mergeable buffers, the
# control queue, two queue pairs, link changes, a device restart) between
# two domains.  It does not yet carry traffic to dom0: no TAP, bridge,
# IP, ping or TCP (that is virtio-argo-netd's part).
# netloopd starts with --domain va-net before the domain exists; `xl
# create` starts a PV domU with 2 vCPUs whose init runs
# tests/system/domU/net.sh.  dom0 acts on its console markers: LINK-DOWN
# and LINK-UP (SIGHUP toggles LINK_UP), then an announcement (SIGUSR2,
# which the guest's driver must acknowledge on the control queue), KILL
# (SIGKILL and a new netloopd).  Teardown: netloopd exits 0 on SIGTERM,
# it reflected frames, saw VQ_PAIRS_SET 2, and logged no error or warning.
# Exit 0 when every step passed; the first failure ends it.
PORT=0x5641e000
MAC=02:00:00:76:61:2a
NAME=va-net
STAGE=stage4
LOGS="/tmp/netloopd*.log /tmp/xl4-*.log"
. /lib.sh

# start_netloopd LOGNAME: pid in $loop.
start_netloopd() {
	start_bg "$1" "/tmp/$1.log" /bin/virtio-argo-netloopd --transport xen \
		--domain $NAME --port $PORT --queues 2 --mtu 4000 --mac $MAC \
		--log-level info
	loop=$pid
}

toolstack_up
[ -d /sys/module/virtio_argo_core ] || insmod /modules/virtio_argo_core.ko ||
	die "insmod virtio_argo_core"
start_netloopd netloopd
step "netloopd waiting for domain $NAME"

xl create /etc/xen/guest.cfg "name=\"$NAME\"" 'vcpus=2' \
	'extra="console=hvc0 va_run=net"' >/tmp/xl4-create.log 2>&1 ||
	die "xl create"
id=$(domid_of $NAME)
[ -n "$id" ] || die "xl domid $NAME: no domain after xl create"
step "xl create: $NAME is dom$id"
wait_for 120 'DOMUnet: .* up: MAC'
grep -q "domain $NAME is dom$id" /tmp/netloopd.log || die "netloopd did not follow $NAME"
grep -q 'queue pairs set to 2' /tmp/netloopd.log ||
	die "no VQ_PAIRS_SET 2 from the guest's virtio_net"
step "virtio_net in dom$id up on netloopd, two queue pairs"

wait_for 60 'DOMUnet: LINK-DOWN'
kill -HUP $loop
wait_for 60 'DOMUnet: LINK-UP'
kill -HUP $loop
wait_for 60 'DOMUnet: carrier back'
step "LINK_UP off and on: the guest's carrier followed"
kill -USR2 $loop
wait_for 60 'announce acknowledged' /tmp/netloopd.log
step "ANNOUNCE acknowledged by the guest's virtio_net"

wait_for 120 'DOMUnet: KILL'
kill -KILL $loop
wait $loop
start_netloopd netloopd2
step "netloopd killed and started again"
wait_for 120 'DOMUnet: PASS'
step "frames reflected again after the restart; virtio_net unbound cleanly"

wait_gone 30
kill -TERM $loop
wait $loop
rc=$?
[ $rc = 0 ] || die "netloopd exited with $rc after SIGTERM"
grep 'reflected ' /tmp/netloopd2.log
grep -q 'reflected [1-9][0-9]* .* bad 0 ctrl_ok [1-9][0-9]* ctrl_err 0' \
	/tmp/netloopd2.log ||
	die "netloopd2: no frame reflected, or a bad frame or control command"
grep -i 'error\|warning\|protocol violation' /tmp/netloopd*.log &&
	die "netloopd logged trouble"
rmmod virtio_argo_core || die "rmmod virtio_argo_core"
show_console
step "teardown clean"
exit 0
