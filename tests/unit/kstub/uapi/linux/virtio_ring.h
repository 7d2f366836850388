/* SPDX-License-Identifier: MIT */
/* Stand-in for the kernel's <uapi/linux/virtio_ring.h>: the installed uapi
 * header is the same file. */
#ifndef VA_KSTUB_UAPI_LINUX_VIRTIO_RING_H
#define VA_KSTUB_UAPI_LINUX_VIRTIO_RING_H
#include <linux/virtio_ring.h>
#endif
