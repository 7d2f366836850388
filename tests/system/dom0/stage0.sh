#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 0 (inside dom0): the argo core alone.  /dev/argo and its ioctls
# (argo-selftest), the daemons' xen back-end over it (argo-xen-selftest),
# the in-kernel API (argo_core_test.ko), and a reload with group=.
# Exit 0 when every step passed.
fail=0
r() {
	"$@"
	rc=$?
	echo "ATEST: $* rc=$rc"
	[ $rc = 0 ] || fail=1
}
r insmod /modules/virtio_argo_core.ko
[ "$(stat -c %a /dev/argo)" = 600 ] || { echo "ATEST: /dev/argo not mode 600"; fail=1; }
r /bin/argo-selftest
r /bin/argo-xen-selftest
# Its init runs the tests and fails on purpose, so it never stays loaded.
insmod /modules/argo_core_test.ko
dmesg | grep -q 'argo_core_test: PASS' || { echo "ATEST: argo_core_test did not pass"; fail=1; }
r rmmod virtio_argo_core
r insmod /modules/virtio_argo_core.ko group=1000
# open() checks the group; the node itself lets everyone reach open().
[ "$(stat -c %a /dev/argo)" = 666 ] || { echo "ATEST: /dev/argo not mode 666 with group="; fail=1; }
r /bin/argo-selftest
r rmmod virtio_argo_core
exit $fail
