/* SPDX-License-Identifier: MIT */
/*
 * The receiver's rules of virtio-argo/wire.h as two builds expose them to
 * tests/unit/test-wire.c: wire-shim.c is compiled once as user space
 * (wire_user) and once as the kernel module sees it, with __KERNEL__ and
 * the stand-in kernel headers of kstub/ (wire_kern).  Only plain C types
 * cross this interface, so that neither build's headers leak into the
 * other.
 */
#ifndef VA_TEST_WIRE_SHIM_H
#define VA_TEST_WIRE_SHIM_H

/* One record as a walk delivered it. */
struct shim_rec {
	unsigned char msg_id;
	unsigned char flags;
	unsigned short queue;
	unsigned int session;
	unsigned int token;
	unsigned int len;
	unsigned int body_off;		/* body's offset in the payload */
};

/* errno names whose values each build reports from its own header. */
enum shim_errno {
	SHIM_EBADMSG,
	SHIM_EPROTO,
	SHIM_EPROTONOSUPPORT,
	SHIM_EINVAL,
	SHIM_EOPNOTSUPP,
	SHIM_ERANGE,
	SHIM_ESTALE,
	SHIM_EBUSY,
	SHIM_ENOTRECOVERABLE,
	SHIM_EMSGSIZE,
	SHIM_NR_ERRNO,
};

struct wire_build {
	const char *name;
	/*
	 * Walk the records of a payload: fills recs (at most max), sets
	 * *ret_n to the records delivered and returns 0 for a clean end or
	 * the negative errno that stopped the walk.
	 */
	int (*walk)(const void *p, unsigned int len, struct shim_rec *recs,
		    unsigned int max, unsigned int *ret_n);
	/* NULL or the rule a DEVICE_INFO body (40 bytes, any alignment)
	 * breaks. */
	const char *(*info_fault)(const void *body);
	int (*ring_len_ok)(unsigned int len);
	int (*vqueue_max_ok)(unsigned int max_size);
	int (*err_to_errno)(unsigned int code);
	int (*error_reply_errno)(const void *body, unsigned int len);
	int (*msg_type)(unsigned int message_type);
	/* The value of an errno name in this build (positive). */
	int (*errno_of)(enum shim_errno e);
};

extern const struct wire_build wire_user;
extern const struct wire_build wire_kern;

#endif
