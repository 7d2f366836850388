#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 7 (inside dom0, in a boot of its own): Xen with XSM/FLASK,
# enforcing our policy (config/flask/: Argo only between va_driver_t and
# va_guest_t).  It is stage 6 (tests/system/dom0/stage6.sh) with the
# driver domain labelled va_driver_t and its guest va_guest_t: the
# guest's stock virtio_blk, virtio_net and virtio_console served by the
# real daemons in the driver domain, through its destruction and
# re-creation; and, while the guest's devices are in use, a third domain
# of Xen's domU_t (tests/system/domU/flask.sh) must get exactly -EACCES
# from registering a ring towards the driver domain and from sending to
# consoled's port there, Xen's console must show the two AVC denials and
# no other, and the driver domain's daemons must not have heard of it.
# run.sh checks the whole serial log for denials once more.
VA_FLASK=1 exec sh /stage6.sh
