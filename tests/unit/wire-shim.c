/* SPDX-License-Identifier: MIT */
/*
 * One build of virtio-argo/wire.h behind the plain interface of
 * wire-shim.h.  Compiled twice (tests/unit/meson.build): without
 * WIRE_SHIM_KERN as user space, and with WIRE_SHIM_KERN, __KERNEL__ and
 * kstub/ first on the include path as the kernel module compiles it, so
 * that protocol.h takes its kernel branch and wire.h takes its errno
 * values from <linux/errno.h>; its record walk is the transport's own
 * (vring-walk.c, linked into the kernel build only).  Nothing from libc
 * is included here.
 */
#include "virtio-argo/wire.h"
#include "wire-shim.h"
#ifdef WIRE_SHIM_KERN
#include "vring-walk.h"
#endif

#ifdef WIRE_SHIM_KERN
#ifndef __KERNEL__
#error "the kernel build of the shim needs -D__KERNEL__"
#endif
#define SHIM(name) kern_##name
#define SHIM_BUILD wire_kern
#define SHIM_NAME "kernel"
#else
#ifdef __KERNEL__
#error "the user-space build of the shim must not see __KERNEL__"
#endif
#define SHIM(name) user_##name
#define SHIM_BUILD wire_user
#define SHIM_NAME "user space"
#endif

static void shim_put(struct shim_rec *r, va_u8 msg_id, va_u8 flags,
		     va_u16 queue, va_u32 session, va_u32 token, va_u32 len,
		     const void *body, const void *p)
{
	r->msg_id = msg_id;
	r->flags = flags;
	r->queue = queue;
	r->session = session;
	r->token = token;
	r->len = len;
	r->body_off = (unsigned int)((const va_u8 *)body - (const va_u8 *)p);
}

#ifdef WIRE_SHIM_KERN
/*
 * The kernel build walks through the transport's own walker
 * (vargo_msg_walk in src/frontend-linux/vring-walk.c), as vargo_rx does.
 */
struct kern_walk {
	const void *p;
	u32 len;
	int outside;
	struct shim_rec *recs;
	unsigned int max;
	unsigned int n;
};

static void kern_on_rec(void *ctx, const struct va_hdr *h, const void *body,
			u32 body_len)
{
	struct kern_walk *kw = ctx;

	/* The body follows its header, inside the payload. */
	if ((const void *)(h + 1) != body ||
	    (const u8 *)body + body_len > (const u8 *)kw->p + kw->len)
		kw->outside = 1;
	if (kw->n < kw->max)
		shim_put(&kw->recs[kw->n], h->msg_id, h->flags,
			 va_le16_to_cpu(h->queue), va_le32_to_cpu(h->session),
			 va_le32_to_cpu(h->token), body_len, body, kw->p);
	kw->n++;
}

static int kern_walk(const void *p, unsigned int len, struct shim_rec *recs,
		     unsigned int max, unsigned int *ret_n)
{
	struct kern_walk kw = { .p = p, .len = len, .recs = recs, .max = max };
	int r = vargo_msg_walk(p, len, kern_on_rec, &kw);

	*ret_n = kw.n;
	if (kw.outside)
		return -EFAULT;
	if (r >= 0 && (unsigned int)r != kw.n)
		return -ERANGE;		/* its count disagrees with its calls */
	return r < 0 ? r : 0;
}
#else
static int user_walk(const void *p, unsigned int len, struct shim_rec *recs,
		     unsigned int max, unsigned int *ret_n)
{
	struct va_rec_iter it;
	struct va_rec rec;
	unsigned int n = 0;
	int r;

	va_rec_iter_init(&it, p, len);
	while ((r = va_rec_next(&it, &rec)) > 0) {
		if (n < max)
			shim_put(&recs[n], rec.msg_id, rec.flags, rec.queue,
				 rec.session, rec.token, rec.len, rec.body, p);
		n++;
	}
	*ret_n = n;
	return r;
}
#endif

static const char *SHIM(info_fault)(const void *body)
{
	struct va_device_info d;

	__builtin_memcpy(&d, body, sizeof(d));
	return va_device_info_fault(&d);
}

static int SHIM(ring_len_ok)(unsigned int len)
{
	return va_ring_len_ok(len);
}

static int SHIM(vqueue_max_ok)(unsigned int max_size)
{
	return va_vqueue_max_ok(max_size);
}

static int SHIM(err_to_errno)(unsigned int code)
{
	return va_err_to_errno(code);
}

static int SHIM(error_reply_errno)(const void *body, unsigned int len)
{
	return va_error_reply_errno(body, len);
}

static int SHIM(msg_type)(unsigned int message_type)
{
	return va_check_msg_type(message_type);
}

static int SHIM(errno_of)(enum shim_errno e)
{
	static const int values[SHIM_NR_ERRNO] = {
		[SHIM_EBADMSG] = EBADMSG,
		[SHIM_EPROTO] = EPROTO,
		[SHIM_EPROTONOSUPPORT] = EPROTONOSUPPORT,
		[SHIM_EINVAL] = EINVAL,
		[SHIM_EOPNOTSUPP] = EOPNOTSUPP,
		[SHIM_ERANGE] = ERANGE,
		[SHIM_ESTALE] = ESTALE,
		[SHIM_EBUSY] = EBUSY,
		[SHIM_ENOTRECOVERABLE] = ENOTRECOVERABLE,
		[SHIM_EMSGSIZE] = EMSGSIZE,
	};

	return (unsigned int)e < SHIM_NR_ERRNO ? values[e] : 0;
}

const struct wire_build SHIM_BUILD = {
	.name = SHIM_NAME,
	.walk = SHIM(walk),
	.info_fault = SHIM(info_fault),
	.ring_len_ok = SHIM(ring_len_ok),
	.vqueue_max_ok = SHIM(vqueue_max_ok),
	.err_to_errno = SHIM(err_to_errno),
	.error_reply_errno = SHIM(error_reply_errno),
	.msg_type = SHIM(msg_type),
	.errno_of = SHIM(errno_of),
};
