/* SPDX-License-Identifier: MIT */
/*
 * The receiver's rules of the virtio-argo protocol, written once for every
 * side that receives: the Linux transport, the user-space guest and the
 * device core.  docs/protocol.md is the specification; this header is its
 * one implementation of
 *
 *   - the message_type classification (section 2.1),
 *   - the record walk and what makes a record malformed (section 2.2),
 *   - the valid ring lengths and the DEVICE_INFO reply checks (sections 3,
 *     5.1 and 10),
 *   - the errno a driver reports for an error reply (section 8).
 *
 * tests/unit/test-wire.c compiles it twice, as user space and as the
 * kernel module sees it, and feeds both builds the same hostile input.
 *
 * Like argo-ring.h: static inline functions, plain values in, plain values
 * out, no libc functions and no kernel headers but the build's errno
 * header, which is included here so that each build gets its own values
 * (<linux/errno.h> in the kernel, <errno.h> in user space).
 */
#ifndef VIRTIO_ARGO_WIRE_H
#define VIRTIO_ARGO_WIRE_H

#include "protocol.h"

#ifdef __KERNEL__
#include <linux/errno.h>
#else
#include <errno.h>
#endif

/* ------------------------------------------------------------------ */
/* Message type (section 2.1)                                          */
/* ------------------------------------------------------------------ */

/*
 * Classify an Argo message_type: 0 for ours, -EPROTO for stray traffic
 * (other magic: drop without a reply), -EPROTONOSUPPORT for our magic at a
 * version we do not speak (a device answers VA_ERR_VERSION, section 4).
 */
static inline int va_check_msg_type(va_u32 message_type)
{
	if (VA_ARGO_TYPE_MAGIC(message_type) != VA_ARGO_MAGIC)
		return -EPROTO;
	if (VA_ARGO_TYPE_VERSION(message_type) != VA_PROTOCOL_VERSION)
		return -EPROTONOSUPPORT;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Records (section 2.2)                                               */
/* ------------------------------------------------------------------ */

/*
 * One record of a payload, its header in host byte order.  The body is
 * only 8-byte aligned relative to the payload's start.
 */
struct va_rec {
	va_u8 msg_id;
	va_u8 flags;
	va_u16 queue;
	va_u32 session;
	va_u32 token;
	va_u32 len;		/* body bytes */
	const va_u8 *body;	/* inside the payload: copy fields out */
};

/*
 * Walk over the records of one message payload, held contiguously by the
 * caller (len bytes at p).  off is the offset of the next record; after
 * va_rec_next() returned 1 it is already past the record just returned.
 */
struct va_rec_iter {
	const va_u8 *p;
	va_u32 len;
	va_u32 off;
};

static inline void va_rec_iter_init(struct va_rec_iter *it, const void *p,
				    va_u32 len)
{
	it->p = (const va_u8 *)p;
	it->len = len;
	it->off = 0;
}

/*
 * The next record: 1 with *ret filled, 0 at the clean end of the payload,
 * or -EBADMSG if what remains is malformed (section 2.2: an empty payload,
 * fewer than 16 bytes for a header, a body past the end, a non-zero
 * padding byte, session 0, a flag bit other than RESPONSE and ERROR, ERROR
 * without RESPONSE).  The records returned before -EBADMSG are valid and
 * are processed; the rest of the message is dropped (a violation).
 */
static inline int va_rec_next(struct va_rec_iter *it, struct va_rec *ret)
{
	struct va_hdr h;
	va_u32 left, span, i;

	if (it->off >= it->len)
		return it->len ? 0 : -EBADMSG;
	/* off < len: left >= 1. */
	left = it->len - it->off;
	if (left < sizeof(h))
		return -EBADMSG;
	__builtin_memcpy(&h, it->p + it->off, sizeof(h));
	ret->msg_id = h.msg_id;
	ret->flags = h.flags;
	ret->queue = va_le16_to_cpu(h.queue);
	ret->session = va_le32_to_cpu(h.session);
	ret->token = va_le32_to_cpu(h.token);
	ret->len = va_le32_to_cpu(h.len);
	if (ret->flags & ~VA_F_KNOWN)
		return -EBADMSG;
	if ((ret->flags & VA_F_ERROR) && !(ret->flags & VA_F_RESPONSE))
		return -EBADMSG;
	if (ret->session == 0)
		return -EBADMSG;
	/* left >= 16 was checked, so left - 16 does not wrap. */
	if (ret->len > left - sizeof(h))
		return -EBADMSG;
	ret->body = it->p + it->off + sizeof(h);
	/*
	 * The body ends inside the payload; the padding after it up to the
	 * next record is zero (the last record may omit it, or part of it).
	 * VA_RECORD_SPAN is computed in 64 bits: len is up to 2^32 - 1.
	 */
	span = VA_RECORD_SPAN(ret->len) > left ? left :
	       (va_u32)VA_RECORD_SPAN(ret->len);
	for (i = sizeof(h) + ret->len; i < span; i++)
		if (it->p[it->off + i])
			return -EBADMSG;
	it->off += span;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Ring lengths and DEVICE_INFO (sections 3, 5.1, 10)                  */
/* ------------------------------------------------------------------ */

/*
 * A ring length either side may announce (driver_ring_len, device_ring_len)
 * or configure: a multiple of 16 within VA_RING_LEN_MIN..VA_RING_LEN_MAX.
 * (Stricter than what Xen registers, va_argo_ring_len_valid(): at least a
 * page, so that a peer never has to fit its messages into a tiny ring.)
 */
static inline int va_ring_len_ok(va_u32 len)
{
	return len >= VA_RING_LEN_MIN && len <= VA_RING_LEN_MAX &&
	       len % 16 == 0;	/* Argo's slot */
}

/*
 * The checks a driver makes on a DEVICE_INFO response body (as received,
 * little endian).  NULL if it may be used, else which rule it breaks (for
 * the log); the driver then treats the reply as a protocol failure
 * (-EPROTO).  The device id is the caller's to check: only a driver that
 * expects one kind of device knows which.
 */
static inline const char *va_device_info_fault(const struct va_device_info *d)
{
	va_u32 qsize = va_le32_to_cpu(d->max_queue_size);
	va_u16 nq = va_le16_to_cpu(d->num_queues);

	if (va_le32_to_cpu(d->version_min) > VA_PROTOCOL_VERSION ||
	    va_le32_to_cpu(d->version_max) < VA_PROTOCOL_VERSION)
		return "DEVICE_INFO: protocol version 1 outside the device's range";
	if (nq == 0 || nq > VA_MAX_QUEUES)
		return "DEVICE_INFO: num_queues outside 1..VA_MAX_QUEUES";
	if (va_le32_to_cpu(d->config_size) > VA_MAX_CONFIG_SIZE)
		return "DEVICE_INFO: config_size above VA_MAX_CONFIG_SIZE";
	if (qsize == 0 || qsize > VA_MAX_QUEUE_SIZE)
		return "DEVICE_INFO: max_queue_size outside 1..VA_MAX_QUEUE_SIZE";
	if (!va_ring_len_ok(va_le32_to_cpu(d->device_ring_len)))
		return "DEVICE_INFO: device_ring_len not a valid ring length";
	if (va_le32_to_cpu(d->max_request) < sizeof(struct va_request))
		return "DEVICE_INFO: max_request below a REQUEST's fixed part";
	return (const char *)0;
}

/*
 * GET_VQUEUE's max_size as a driver may use it (section 10): within
 * 1..VA_MAX_QUEUE_SIZE, else the reply is a protocol failure (-EPROTO).
 * A device without the queue says so with an error reply, never with 0.
 */
static inline int va_vqueue_max_ok(va_u32 max_size)
{
	return max_size >= 1 && max_size <= VA_MAX_QUEUE_SIZE;
}

/* ------------------------------------------------------------------ */
/* Error replies (section 8)                                           */
/* ------------------------------------------------------------------ */

/*
 * The errno a driver reports for an error code (both drivers, one table;
 * docs/protocol.md section 8 lists it).  Never 0: a code the protocol does
 * not define (0 included) is a protocol failure, -EPROTO.
 */
static inline int va_err_to_errno(va_u32 code)
{
	switch (code) {
	case VA_ERR_INVALID:
		return -EINVAL;
	case VA_ERR_UNSUPPORTED:
		return -EOPNOTSUPP;
	case VA_ERR_RANGE:
		return -ERANGE;
	case VA_ERR_STATE:
		return -ESTALE;
	case VA_ERR_VERSION:
		return -EPROTONOSUPPORT;
	case VA_ERR_BUSY:
		return -EBUSY;
	case VA_ERR_NEEDS_RESET:
		return -ENOTRECOVERABLE;
	case VA_ERR_TOO_BIG:
		return -EMSGSIZE;
	default:
		return -EPROTO;
	}
}

/*
 * The errno of an error reply's body (len bytes at body, any alignment):
 * -EPROTO unless it is exactly a struct va_error, else its code's errno.
 */
static inline int va_error_reply_errno(const void *body, va_u32 len)
{
	struct va_error e;

	if (len != sizeof(e))
		return -EPROTO;
	__builtin_memcpy(&e, body, sizeof(e));
	return va_err_to_errno(va_le32_to_cpu(e.error));
}

#endif /* VIRTIO_ARGO_WIRE_H */
