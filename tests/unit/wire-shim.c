/* SPDX-License-Identifier: MIT */
/*
 * One build of virtio-argo/wire.h behind the plain interface of
 * wire-shim.h.  Compiled twice (tests/unit/meson.build): without
 * WIRE_SHIM_KERN as user space, and with WIRE_SHIM_KERN, __KERNEL__ and
 * kstub/ first on the include path as the kernel module compiles it, so
 * that protocol.h takes its kernel branch and wire.h takes its errno
 * values from <linux/errno.h>.  Nothing from libc is included here.
 */
#include "virtio-argo/wire.h"
#include "wire-shim.h"

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

static int SHIM(walk)(const void *p, unsigned int len, struct shim_rec *recs,
		      unsigned int max, unsigned int *ret_n)
{
	struct va_rec_iter it;
	struct va_rec rec;
	unsigned int n = 0;
	int r;

	va_rec_iter_init(&it, p, len);
	while ((r = va_rec_next(&it, &rec)) > 0) {
		if (n < max) {
			recs[n].msg_id = rec.msg_id;
			recs[n].flags = rec.flags;
			recs[n].queue = rec.queue;
			recs[n].session = rec.session;
			recs[n].token = rec.token;
			recs[n].len = rec.len;
			recs[n].body_off =
				(unsigned int)(rec.body - (const va_u8 *)p);
		}
		n++;
	}
	*ret_n = n;
	return r;
}

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
	.err_to_errno = SHIM(err_to_errno),
	.error_reply_errno = SHIM(error_reply_errno),
	.msg_type = SHIM(msg_type),
	.errno_of = SHIM(errno_of),
};
