/* SPDX-License-Identifier: MIT */
/*
 * Inside libvirtio-argo's Argo access layer: what argo.c (the common part
 * and the ring reader) shares with the back-ends argo-sim.c and argo-xen.c.
 *
 * A back-end allocates its own connection object whose first member is a
 * struct va_argo, and its own ring object whose first member is a struct
 * va_ring, and fills in the common fields.  argo.c dispatches every
 * operation through the ops table and reads rings itself: `hdr` is the
 * mapped 64-byte header followed by `len` data bytes.  argo-xen.c reaches
 * XenStore, when the program has it, through va_xenstore_ops.
 */
#ifndef VA_BACKEND_ARGO_PRIV_H
#define VA_BACKEND_ARGO_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "argo.h"

struct va_argo_ops {
	/* Frees the back-end connection; rings are already unregistered. */
	void (*close)(struct va_argo *a);
	int (*ack)(struct va_argo *a);
	/* Allocates the back-end ring (first member struct va_ring) with
	 * hdr mapped, rx == 0, and the common fields set. */
	int (*register_ring)(struct va_argo *a, uint32_t port, uint16_t partner,
			     uint32_t len, struct va_ring **ret);
	/* Unregisters (if still alive), unmaps and frees. */
	void (*unregister_ring)(struct va_ring *r);
	ssize_t (*sendv)(struct va_argo *a, uint32_t src_port, uint16_t dst_dom,
			 uint32_t dst_port, const struct iovec *iov,
			 unsigned int niov, uint32_t message_type);
	int (*notify)(struct va_argo *a, struct va_argo_query *ents,
		      unsigned int n);
	int (*domain_exists)(struct va_argo *a, uint16_t domid);
	/* NULL: names cannot be resolved (-EOPNOTSUPP). */
	int (*domain_lookup)(struct va_argo *a, const char *name,
			     uint16_t *ret_domid);
	bool (*ring_alive)(const struct va_ring *r);
};

struct va_argo {
	const struct va_argo_ops *ops;
	enum va_transport transport;
	uint16_t self_domid;
	int fd;				/* the "virq" fd */
	struct va_ring *rings;		/* registered rings, via ring->next */
};

struct va_ring {
	struct va_argo *argo;
	struct va_ring *next;
	uint32_t port;
	uint16_t partner;
	uint32_t len;
	struct va_argo_ring *hdr;	/* header, data follows (hdr->ring) */
	/*
	 * The reader's private rx pointer: always 16-aligned and < len.  The
	 * shared rx_ptr is only ever written from it, never read back, so a
	 * scribbled shared header cannot move the reader.
	 */
	uint32_t rx;
	uint32_t next_rx;		/* valid while peeked */
	bool peeked;
};

/* The sim back-end (argo-sim.c). */
int va_argo_sim_open(const struct va_argo_opts *opts, struct va_argo **ret);

/* The xen back-end (argo-xen.c, over the argo char device). */
int va_argo_xen_open(const struct va_argo_opts *opts, struct va_argo **ret);

/*
 * XenStore for the xen back-end (argo-xenstore.c), in library va-xenstore,
 * the only one that links libxenstore.  A program that links it whole (the
 * daemons) defines va_xenstore_ops; in any other (the simulator, the
 * user-space guest) the weak reference is NULL and the xen back-end runs
 * on the char device alone, as it does where XenStore is unreachable.
 */
struct va_xenstore;

struct va_xenstore_ops {
	/* Watches on domain introduction and release; NULL (logged) when
	 * XenStore is unreachable. */
	struct va_xenstore *(*open)(bool dom0, uint16_t self_domid);
	void (*close)(struct va_xenstore *s);
	/* Readable when a watch fired. */
	int (*fd)(struct va_xenstore *s);
	/* Drains the watch events; true if there were any. */
	bool (*changed)(struct va_xenstore *s);
	/* Introduced to XenStore (self_domid always). */
	bool (*alive)(struct va_xenstore *s, uint16_t domid);
	/* The live domain named `name`: 0, -ENOENT or an error. */
	int (*lookup)(struct va_xenstore *s, const char *name,
		      uint16_t *ret_domid);
};

extern const struct va_xenstore_ops va_xenstore_ops __attribute__((weak));

#endif /* VA_BACKEND_ARGO_PRIV_H */
