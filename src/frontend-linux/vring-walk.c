// SPDX-License-Identifier: GPL-2.0
/*
 * vring-walk: bounded split-vring walking and reply validation for the
 * virtio_argo transport (see its header).  Compiled into the module and,
 * with the stand-in headers of tests/unit/kstub/, into a Check unit test.
 *
 * The transport negotiates VERSION_1 always, so ring fields are little
 * endian; they are read with __virtio*_to_cpu(true, ...).
 */
#include <linux/types.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/compiler.h>
#include <linux/minmax.h>
#include <asm/byteorder.h>	/* virtio_byteorder.h does not include it */
#include <linux/virtio_byteorder.h>

#include "vring-walk.h"

int vargo_avail_pending(const struct vring *vr, u16 last_avail, u16 *ret_count)
{
	u16 idx = __virtio16_to_cpu(true, READ_ONCE(vr->avail->idx));
	u16 count = (u16)(idx - last_avail);

	/* Invariant: the driver never has more than num chains outstanding
	 * beyond what we consumed; more means corrupted ring state.
	 */
	if (count > vr->num)
		return -EINVAL;
	*ret_count = count;
	return 0;
}

int vargo_avail_head(const struct vring *vr, u16 slot, u16 *ret_head)
{
	u16 head;

	/* num is a power of two for split rings, but do not rely on it. */
	head = __virtio16_to_cpu(true,
				 READ_ONCE(vr->avail->ring[slot % vr->num]));
	if (head >= vr->num)
		return -EINVAL;
	*ret_head = head;
	return 0;
}

int vargo_walk_chain(const struct vring *vr, u16 head,
		     const struct vargo_walk_limits *lim, vargo_xlate_fn xlate,
		     void *ctx, struct vargo_seg *segs, unsigned int max_segs,
		     struct vargo_chain *ret)
{
	unsigned int limit, count = 0, nsegs = 0;
	bool seen_in = false, loop_limit;
	u32 out_len = 0, in_len = 0;
	u16 nr_out = 0, nr_in = 0;
	u16 i = head;

	if (head >= vr->num)
		return -EINVAL;

	/* A chain can hold at most num distinct descriptors: visiting more
	 * means a cycle.  The other limits are policy.
	 */
	limit = vr->num;
	loop_limit = true;
	if (lim->max_descs < limit || VARGO_WALK_MAX_DESCS < limit) {
		limit = min_t(unsigned int, lim->max_descs, VARGO_WALK_MAX_DESCS);
		loop_limit = false;
	}

	for (;;) {
		const struct vring_desc *d = &vr->desc[i];
		u64 addr = __virtio64_to_cpu(true, READ_ONCE(d->addr));
		u32 len = __virtio32_to_cpu(true, READ_ONCE(d->len));
		u16 flags = __virtio16_to_cpu(true, READ_ONCE(d->flags));
		u16 next = __virtio16_to_cpu(true, READ_ONCE(d->next));
		void *p;

		if (++count > limit)
			return loop_limit ? -ELOOP : -E2BIG;
		if (flags & VRING_DESC_F_INDIRECT)
			return -EOPNOTSUPP;
		if (len == 0)
			return -EINVAL;
		if (nsegs >= max_segs)
			return -E2BIG;

		if (flags & VRING_DESC_F_WRITE) {
			if (nr_in >= lim->max_in_segs ||
			    len > lim->max_in - in_len)
				return -E2BIG;
			in_len += len;
			nr_in++;
			seen_in = true;
		} else {
			if (seen_in)
				return -EPROTO;
			if (len > lim->max_out - out_len)
				return -E2BIG;
			out_len += len;
			nr_out++;
		}

		p = xlate(ctx, addr, len);
		if (!p)
			return -EFAULT;
		segs[nsegs].ptr = p;
		segs[nsegs].len = len;
		nsegs++;

		if (!(flags & VRING_DESC_F_NEXT))
			break;
		if (next >= vr->num)
			return -EINVAL;
		i = next;
	}

	ret->head = head;
	ret->nr_out = nr_out;
	ret->nr_in = nr_in;
	ret->out_len = out_len;
	ret->in_len = in_len;
	ret->segs = segs;
	return 0;
}

void vargo_chain_gather(const struct vargo_chain *c, void *dst)
{
	u8 *p = dst;
	unsigned int k;

	for (k = 0; k < c->nr_out; k++) {
		memcpy(p, c->segs[k].ptr, c->segs[k].len);
		p += c->segs[k].len;
	}
}

int vargo_chain_scatter(const struct vargo_chain *c, const void *src, u32 n)
{
	const u8 *p = src;
	unsigned int k;

	if (n > c->in_len)
		return -EMSGSIZE;
	/* Invariant: the in segments sum to in_len >= n, so the loop ends
	 * with n == 0 without leaving the segment array.
	 */
	for (k = c->nr_out; n && k < (unsigned int)c->nr_out + c->nr_in; k++) {
		u32 chunk = min_t(u32, n, c->segs[k].len);

		memcpy(c->segs[k].ptr, p, chunk);
		p += chunk;
		n -= chunk;
	}
	return 0;
}

int vargo_reply_check(const struct vargo_reply_expect *exp, u16 src_domid,
		      u32 src_port, const struct va_hdr *h, const void *body,
		      u32 body_len, vargo_inflight_fn lookup, void *ctx,
		      struct vargo_reply *ret)
{
	const struct va_response *r = body;
	u16 queue = va_le16_to_cpu(h->queue);
	u32 token = va_le32_to_cpu(h->token);
	u32 written, in_len;
	int err;

	if (src_domid != exp->src_domid || src_port != exp->port)
		return -EPERM;
	if (h->msg_id != VA_MSG_RESPONSE || h->flags != VA_F_RESPONSE ||
	    va_le32_to_cpu(h->len) != body_len ||
	    body_len < sizeof(*r))
		return -EBADMSG;
	if (va_le32_to_cpu(h->session) != exp->session)
		return -ESTALE;
	if (queue >= exp->num_queues)
		return -ERANGE;
	written = va_le32_to_cpu(r->written);
	if (body_len - sizeof(*r) != written)
		return -EBADMSG;
	err = lookup(ctx, queue, token, &in_len);
	if (err)
		return -ENOENT;
	if (written > in_len)
		return -EMSGSIZE;

	ret->queue = queue;
	ret->token = token;
	ret->written = written;
	ret->data = (const u8 *)body + sizeof(*r);
	return 0;
}

int vargo_msg_walk(const void *data, u32 len, vargo_rec_fn rec, void *ctx)
{
	struct va_rec_iter it;
	struct va_rec r;
	u32 off;
	int n = 0, err;

	/* The rules are protocol.md's, in virtio-argo/wire.h. */
	va_rec_iter_init(&it, data, len);
	for (;;) {
		off = it.off;
		err = va_rec_next(&it, &r);
		if (err <= 0)
			break;
		rec(ctx, (const struct va_hdr *)((const u8 *)data + off),
		    r.body, r.len);
		n++;
	}
	return err < 0 ? err : n;
}
