/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vring-walk: the device side of a split virtqueue, as the virtio_argo
 * transport performs it for its local vrings, and the validation of the
 * backend's replies.
 *
 * The transport keeps ordinary split vrings in guest memory and acts as
 * the device for them: it reads the avail ring, walks each descriptor
 * chain, sends the device-readable bytes to the backend and later copies
 * the backend's reply into the device-writable buffers.  This file holds
 * the part of that work which decides whether something is acceptable:
 *
 *  - vargo_avail_pending()/vargo_avail_head(): how many new chains the avail
 *    ring holds and which descriptor heads them, with every index checked
 *    against the ring size;
 *  - vargo_walk_chain(): one bounded chain walk (no loops, no indirect
 *    tables, readable segments strictly before writable ones, no empty
 *    segments, limits on descriptors, segments and bytes);
 *  - vargo_chain_gather()/vargo_chain_scatter(): copies between a walked chain
 *    and a flat buffer, never beyond the chain's segments;
 *  - vargo_reply_check(): every check a RESPONSE record must pass before it
 *    may complete a request.
 *
 * It has no locking and no allocation and depends only on a handful of
 * kernel headers, so that the same file is compiled into the module and,
 * with the stand-in headers of tests/unit/kstub/, into a Check test.
 * The descriptors are written by the guest's own virtio driver; the
 * bounds are there so that a buggy driver (or corrupted ring memory) ends
 * in a broken device, never in a loop or an out-of-bounds access.
 * Replies come from another domain and are hostile by assumption.
 */
#ifndef VARGO_VRING_WALK_H
#define VARGO_VRING_WALK_H

#include <linux/types.h>
#include <uapi/linux/virtio_ring.h>

#include "virtio-argo/protocol.h"
#include "virtio-argo/wire.h"

/* Hard upper bound on descriptors in one chain, whatever the ring size. */
#define VARGO_WALK_MAX_DESCS	512u

/* One guest buffer segment, already translated to a kernel pointer. */
struct vargo_seg {
	void *ptr;
	u32 len;
};

/*
 * Translate a descriptor address (a handle of the transport's DMA ops) of
 * len bytes into a kernel pointer, or NULL if it is not a valid mapping.
 */
typedef void *(*vargo_xlate_fn)(void *ctx, u64 addr, u32 len);

/* Limits of one walk; all must be non-zero. */
struct vargo_walk_limits {
	u32 max_descs;		/* descriptors per chain (capped at ring size) */
	u32 max_out;		/* device-readable bytes per chain */
	u32 max_in;		/* device-writable bytes per chain */
	u32 max_in_segs;	/* device-writable segments (<= VA_MAX_IN_SEGS) */
};

/*
 * A walked chain: segs[0 .. nr_out-1] are the device-readable segments,
 * segs[nr_out .. nr_out+nr_in-1] the device-writable ones, in chain order.
 */
struct vargo_chain {
	u16 head;
	u16 nr_out;
	u16 nr_in;
	u32 out_len;
	u32 in_len;
	struct vargo_seg *segs;
};

/*
 * Number of chains made available since last_avail: avail->idx is read
 * once (the caller issues the read barrier after this call, before
 * reading the ring entries or descriptors).  -EINVAL if the driver claims
 * more than num entries.
 */
int vargo_avail_pending(const struct vring *vr, u16 last_avail, u16 *ret_count);

/* Head descriptor of avail entry slot (a free-running index).  -EINVAL if
 * the ring holds an index >= num.
 */
int vargo_avail_head(const struct vring *vr, u16 slot, u16 *ret_head);

/*
 * Walk the chain starting at head.  segs must have room for max_segs
 * entries.  Returns 0 and fills ret (ret->segs = segs), or:
 *  -EINVAL      head or a next index out of range, zero-length segment
 *  -ELOOP       more descriptors than the ring has (a cycle)
 *  -E2BIG       more descriptors, segments or bytes than the limits allow
 *  -EOPNOTSUPP  an INDIRECT descriptor (never negotiated)
 *  -EPROTO      a device-readable descriptor after a device-writable one
 *  -EFAULT      an address that does not translate
 */
int vargo_walk_chain(const struct vring *vr, u16 head,
		     const struct vargo_walk_limits *lim, vargo_xlate_fn xlate,
		     void *ctx, struct vargo_seg *segs, unsigned int max_segs,
		     struct vargo_chain *ret);

/* Copy the device-readable bytes of c into dst (room for c->out_len). */
void vargo_chain_gather(const struct vargo_chain *c, void *dst);

/* Copy n bytes (n <= c->in_len, else nothing is copied and -EMSGSIZE is
 * returned) from src into the device-writable segments of c.
 */
int vargo_chain_scatter(const struct vargo_chain *c, const void *src, u32 n);

/*
 * Reply validation.  lookup returns 0 and the request's in_len if a
 * request with this token is in flight on that queue, else -ENOENT.
 */
typedef int (*vargo_inflight_fn)(void *ctx, u16 queue, u32 token,
				 u32 *ret_in_len);

struct vargo_reply_expect {
	u16 src_domid;		/* the backend's domain */
	u32 port;		/* the device's port (source port of replies) */
	u32 session;		/* the device session we negotiated with */
	u16 num_queues;		/* queues the device has */
};

struct vargo_reply {
	u16 queue;
	u32 token;
	u32 written;
	const u8 *data;		/* written bytes, inside the record body */
};

/*
 * Check one RESPONSE record (h followed by body_len == h->len body bytes)
 * that arrived from (src_domid, src_port).  Returns 0 and fills ret, or:
 *  -EPERM    wrong source domain or port
 *  -EBADMSG  not a plain RESPONSE, body too short or of the wrong length
 *  -ESTALE   session is not the negotiated device session
 *  -ERANGE   queue index beyond the device's queues
 *  -ENOENT   no such request in flight on that queue
 *  -EMSGSIZE written exceeds the request's in_len
 */
int vargo_reply_check(const struct vargo_reply_expect *exp, u16 src_domid,
		      u32 src_port, const struct va_hdr *h, const void *body,
		      u32 body_len, vargo_inflight_fn lookup, void *ctx,
		      struct vargo_reply *ret);

/*
 * Walk the records of one Argo message payload (data, len bytes) by the
 * rules of protocol.md section 2.2 (va_rec_next() in virtio-argo/wire.h):
 * rec is called for every well-formed record, in order, with its header
 * and its body inside [data, data+len).  Returns the number of records,
 * or -EBADMSG at the first malformed one (empty payload, truncated header
 * or body, non-zero padding, session 0, unknown flags, ERROR without
 * RESPONSE); the records before it were delivered.
 */
typedef void (*vargo_rec_fn)(void *ctx, const struct va_hdr *h,
			     const void *body, u32 body_len);
int vargo_msg_walk(const void *data, u32 len, vargo_rec_fn rec, void *ctx);

#endif /* VARGO_VRING_WALK_H */
