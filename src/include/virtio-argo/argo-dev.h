/* SPDX-License-Identifier: MIT */
/*
 * ioctl ABI of the argo char device /dev/argo (module virtio_argo_core,
 * src/frontend-linux/argo-dev.c), shared by the kernel and the user-space
 * `xen` back-end (src/backend/argo-xen.c).
 *
 * One open file is one Argo endpoint of this domain:
 *
 *  - VA_ARGODEV_REGISTER registers a ring (self, port, partner) of `len`
 *    data bytes (va_argo_ring_len_valid; partner is one domain, never the
 *    wildcard) and returns mmap_offset/mmap_size: mmap(NULL, mmap_size,
 *    PROT_READ | PROT_WRITE, MAP_SHARED, fd, mmap_offset) gives the ring
 *    pages, 64-byte header (struct va_argo_ring) first.  The caller reads
 *    messages in place and writes rx_ptr; Xen writes tx_ptr.  Offsets are
 *    slot * VA_ARGODEV_MMAP_STRIDE; the mapping must cover the whole ring.
 *  - VA_ARGODEV_UNREGISTER (port, partner) unregisters; existing mappings
 *    stay valid memory but are no longer written.
 *  - VA_ARGODEV_SENDV sends from src_port to (dst_domid, dst_port) only if
 *    this file registered the ring (src_port, partner dst_domid), else
 *    -EPERM.  Buffers are copied into the kernel first.  Returns the
 *    payload bytes, or -EAGAIN when the destination is full: the file then
 *    turns readable (VA_ARGODEV_EV_SPACE) after Xen's space wake-up.
 *  - VA_ARGODEV_NOTIFY: XEN_ARGO_OP_notify with nent query entries
 *    (struct va_argo_ring_data_ent; flags and max_message_size written
 *    back), nent may be 0.
 *  - poll(): POLLIN when one of this file's rings has unread data or an
 *    event is pending; VA_ARGODEV_ACK returns and clears the events.
 *  - Closing the file unregisters everything it registered.
 *
 * Every struct has explicit padding that must be zero (-EINVAL otherwise).
 */
#ifndef VIRTIO_ARGO_ARGO_DEV_H
#define VIRTIO_ARGO_ARGO_DEV_H

#include <linux/ioctl.h>

#include "argo-ring.h"

#define VA_ARGODEV_NAME		"argo"
#define VA_ARGODEV_ABI_VERSION	1u
#define VA_ARGODEV_MAX_RINGS	VA_ARGO_MAX_RINGS_PER_DOMAIN
#define VA_ARGODEV_MMAP_STRIDE	0x1000000ull	/* >= largest ring mapping */

struct va_argodev_info {
	va_u32 abi_version;		/* out: VA_ARGODEV_ABI_VERSION */
	va_u16 self_domid;		/* out: VA_ARGO_DOMID_ANY if unknown */
	va_u16 pad;
};

struct va_argodev_register {
	va_u32 port;
	va_u16 partner;
	va_u16 pad;
	va_u32 len;			/* data bytes */
	va_u32 mmap_size;		/* out: npages * 4096 */
	va_u64 mmap_offset;		/* out */
};

struct va_argodev_unregister {
	va_u32 port;
	va_u16 partner;
	va_u16 pad;
};

struct va_argodev_iov {
	va_u64 base;			/* user address */
	va_u32 len;
	va_u32 pad;
};

/*
 * Payload bytes of a SENDV with niov entries: 1 and *ret_total if the
 * lengths add up to at most VA_ARGO_MAX_MSG_SIZE, else 0.  The sum is kept
 * in a u64 and checked after every addition, so it never wraps, whatever
 * the width of size_t (on a 32-bit kernel {0xfffffff0, 0x20} would add up
 * to 16 in a size_t) and however large niov is.  The kernel's sendv uses it
 * before it sizes its buffer; pad fields are not looked at.
 */
static inline int va_argodev_iov_total(const struct va_argodev_iov *iov,
				       va_u32 niov, va_u32 *ret_total)
{
	va_u64 total = 0;
	va_u32 i;

	for (i = 0; i < niov; i++) {
		/* total <= VA_ARGO_MAX_MSG_SIZE here: no u64 overflow. */
		total += iov[i].len;
		if (total > VA_ARGO_MAX_MSG_SIZE)
			return 0;
	}
	*ret_total = (va_u32)total;
	return 1;
}

struct va_argodev_sendv {
	va_u32 src_port;		/* this file's ring (src_port, dst_domid) */
	va_u32 dst_port;
	va_u16 dst_domid;
	va_u16 pad;
	va_u32 niov;			/* <= VA_ARGO_MAX_IOV */
	va_u64 iov;			/* user address of va_argodev_iov[niov] */
	va_u32 message_type;
	va_u32 pad2;
};

struct va_argodev_notify {
	va_u32 nent;			/* <= VA_ARGO_MAX_NOTIFY_COUNT */
	va_u32 pad;
	va_u64 ents;			/* user address of va_argo_ring_data_ent[nent] */
};

/* Event bits returned by VA_ARGODEV_ACK. */
#define VA_ARGODEV_EV_VIRQ	(1u << 0)	/* VIRQ_ARGO fired */
#define VA_ARGODEV_EV_SPACE	(1u << 1)	/* a -EAGAIN of ours may retry */

#define VA_ARGODEV_IOC_MAGIC	0xa7

#define VA_ARGODEV_INFO		_IOR(VA_ARGODEV_IOC_MAGIC, 0, struct va_argodev_info)
#define VA_ARGODEV_REGISTER	_IOWR(VA_ARGODEV_IOC_MAGIC, 1, struct va_argodev_register)
#define VA_ARGODEV_UNREGISTER	_IOW(VA_ARGODEV_IOC_MAGIC, 2, struct va_argodev_unregister)
#define VA_ARGODEV_SENDV	_IOW(VA_ARGODEV_IOC_MAGIC, 3, struct va_argodev_sendv)
#define VA_ARGODEV_NOTIFY	_IOW(VA_ARGODEV_IOC_MAGIC, 4, struct va_argodev_notify)
#define VA_ARGODEV_ACK		_IOR(VA_ARGODEV_IOC_MAGIC, 5, va_u32)
/* Domain existence: 1/0, or -EOPNOTSUPP (callers retry on -ESRCH). */
#define VA_ARGODEV_DOMAIN_EXISTS _IO(VA_ARGODEV_IOC_MAGIC, 6)

#endif /* VIRTIO_ARGO_ARGO_DEV_H */
