#!/bin/sh
# SPDX-License-Identifier: MIT
# Booted without argo=1 (Xen's default): the argo core refuses to load
# with -ENODEV (insmod's status 19) and one log line, and nothing is left.
insmod /modules/virtio_argo_core.ko
rc=$?
echo "ATEST: insmod /modules/virtio_argo_core.ko rc=$rc"
[ $rc = 19 ] || exit 1
[ ! -e /dev/argo ] || { echo "ATEST: /dev/argo exists"; exit 1; }
exit 0
