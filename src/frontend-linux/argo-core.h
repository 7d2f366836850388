/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel API of the argo core (module virtio_argo_core, argo-core.c):
 * the one owner of Xen's Argo hypercall (op 39) and of VIRQ_ARGO in this
 * domain.  Its users are the virtio_argo transport and the /dev/argo char
 * device (argo-dev.c, same module).
 *
 * A ring is registered with exactly one partner domain (never the
 * wildcard).  Its owner chooses how messages are consumed:
 *
 *  - message mode (vargo_argo_ring_register): the core peeks every message in
 *    order, hands the payload to ops->rx as one contiguous buffer (a
 *    message that wraps the end of the ring is copied into a per-ring
 *    bounce buffer), consumes it and calls notify once per scan;
 *  - raw mode (ops->rx == NULL, ops->ready set): the core only calls
 *    ops->ready when rx_ptr != tx_ptr; the owner consumes with
 *    vargo_argo_ring_peek_msg()/vargo_argo_ring_consume() or in user space.
 *
 * Context: ops->ready, ops->space and ops->drained run from the core's
 * work item (process context, never concurrently with each other for one
 * ring).  They must not call vargo_argo_ring_unregister() on their own ring
 * and should not sleep for long.  ops->space is called for every ring
 * after any VIRQ_ARGO (the interrupt names no ring): a hint that a blocked
 * send may retry.  ops->rx runs under the ring's spinlock with interrupts
 * off, from that work item or from vargo_argo_ring_poll() in whatever
 * context its caller is in (messages are still handed over one at a time
 * and in order): it must not sleep, and what it cannot do there (call a
 * driver back, free vmalloc memory) it leaves to ops->drained, which the
 * work item calls after a scan that consumed anything.
 *
 * NOTE: struct va_argo_ring is the ring *layout* from argo-ring.h; the
 * kernel handle is struct vargo_kring.
 */
#ifndef VARGO_ARGO_CORE_H
#define VARGO_ARGO_CORE_H

#include <linux/types.h>
#include <linux/uio.h>
#include <linux/wait.h>

#include "virtio-argo/argo-ring.h"

struct vargo_kring;

struct vargo_kring_ops {
	/* Message mode: one call per message, payload data[0..len). */
	void (*rx)(void *priv, u16 src_domid, u32 src_port, u32 type,
		   const void *data, u32 len);
	/* Raw mode: the ring has unconsumed data. */
	void (*ready)(void *priv);
	/* Optional: a VIRQ arrived, senders blocked on -EAGAIN may retry. */
	void (*space)(void *priv);
	/* Optional, message mode: the work item consumed messages. */
	void (*drained)(void *priv);
};

/*
 * Register (self, port, partner) with len data bytes (va_argo_ring_len_valid,
 * e.g. va_argo_ring_len_for_pages(n)).  The ring memory is zeroed kernel
 * memory, page aligned, va_argo_ring_npages(len) pages (vmalloc'd).
 * Returns the handle or ERR_PTR: -EINVAL (len, partner), -ENODEV (no Argo),
 * or the hypercall's error (-ESRCH partner does not exist yet, -EEXIST,
 * -ENOSPC, -ECONNREFUSED...).  May sleep.
 */
struct vargo_kring *vargo_argo_ring_register(u32 port, u16 partner, u32 len,
					     const struct vargo_kring_ops *ops,
					     void *priv);

/* Message-mode shorthand (what virtio_argo uses). */
static inline struct vargo_kring *
vargo_argo_ring_register_msg(u32 port, u16 partner, u32 len,
			     void (*rx)(void *priv, u16 src_domid, u32 src_port,
					u32 type, const void *data, u32 len),
			     void (*drained)(void *priv), void *priv)
{
	/* The ops table must outlive the ring: the core copies it. */
	struct vargo_kring_ops ops = { .rx = rx, .drained = drained };

	return vargo_argo_ring_register(port, partner, len, &ops, priv);
}

/*
 * Message mode: hand every message waiting in ring to ops->rx now, in the
 * caller's context, which may be atomic (interrupts off included): for a
 * driver that waits for its device by spinning on the CPU.  Xen writes the
 * ring without this domain's help, so the messages are there even while
 * VIRQ_ARGO cannot be taken.  ops->drained is not called: the caller
 * arranges for what it defers.  Returns true if anything was consumed.
 */
bool vargo_argo_ring_poll(struct vargo_kring *ring);

/*
 * Unregister and free.  After it returns no callback runs for this ring
 * and every sender sleeping on it has returned (-ESHUTDOWN).  NULL is
 * accepted.  May sleep.
 */
void vargo_argo_ring_unregister(struct vargo_kring *ring);

/* The mapping of the ring: header (64 B) then len data bytes. */
struct va_argo_ring *vargo_argo_ring_hdr(struct vargo_kring *ring);
u32 vargo_argo_ring_len(const struct vargo_kring *ring);
u32 vargo_argo_ring_port(const struct vargo_kring *ring);
u16 vargo_argo_ring_partner(const struct vargo_kring *ring);
/* The vmalloc'd area (for remap_vmalloc_range()), npages pages. */
void *vargo_argo_ring_vaddr(struct vargo_kring *ring);

/*
 * Raw mode: look at the next message without consuming it.  Returns 1 and
 * fills *ret_hdr (payload at (rx + 16) % len, ret_hdr->len - 16 bytes, may
 * wrap; *ret_rx is that rx), 0 when empty, -EIO when the ring is corrupt.
 */
int vargo_argo_ring_peek_msg(struct vargo_kring *ring, struct va_argo_msg_hdr *ret_hdr,
			     u32 *ret_rx);
/* Raw mode: consume the message peeked at rx (publishes rx_ptr). */
void vargo_argo_ring_consume(struct vargo_kring *ring, u32 rx,
			     const struct va_argo_msg_hdr *hdr);

/*
 * Send one message from (self, ring's port) to (dst_domid, dst_port):
 * niov <= VA_ARGO_MAX_IOV kernel buffers.  Returns the payload bytes sent
 * or a negative errno (-EMSGSIZE, -ECONNREFUSED, -ESRCH, ...).
 *
 * vargo_argo_sendv_nowait: never sleeps (callable in atomic context), returns
 * -EAGAIN when the destination ring is full; Xen then queues a space
 * notification, see vargo_argo_wait_space().
 * vargo_argo_sendv: may sleep; on -EAGAIN waits for space (never spins) and
 * retries; returns -EINTR on a fatal signal, -ESHUTDOWN when the ring is
 * unregistered meanwhile.
 */
int vargo_argo_sendv_nowait(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
			    const struct kvec *iov, unsigned int niov, u32 type);
int vargo_argo_sendv(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
		     const struct kvec *iov, unsigned int niov, u32 type);

/*
 * vargo_argo_sendv_bounded: as vargo_argo_sendv, but a full destination is
 * waited for at most timeout jiffies (then -ETIMEDOUT), and not at all
 * once *cancel is true (-ECANCELED; whoever sets it calls
 * vargo_argo_wake_senders() so that a sleeping sender sees it).  A peer that
 * keeps its ring full then cannot hold the caller for longer than that.
 */
int vargo_argo_sendv_bounded(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
			     const struct kvec *iov, unsigned int niov, u32 type,
			     unsigned long timeout, const bool *cancel);

/* Wake every sender sleeping for ring space, so that it re-checks. */
void vargo_argo_wake_senders(void);

/*
 * Sleep until (dst_domid, dst_port) has room for space_required payload
 * bytes (notify with space_required; Xen raises VIRQ_ARGO later when it
 * does not yet).  0 when there is room (or the state is unknown: just
 * retry), -EMSGSIZE if it can never fit, -ECONNREFUSED if the ring is
 * gone, -EINTR on a fatal signal, -ESHUTDOWN on unregister.  May sleep.
 */
int vargo_argo_wait_space(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
			  u32 space_required);

/*
 * XEN_ARGO_OP_notify: ents (n <= VA_ARGO_MAX_NOTIFY_COUNT, may be 0) get
 * flags/max_message_size filled in.  Also re-evaluates Xen's pending space
 * waiters on all our rings.  Never sleeps.
 */
int vargo_argo_notify(struct va_argo_ring_data_ent *ents, unsigned int n);

/* Counter bumped on every VIRQ_ARGO, and the queue woken with it. */
unsigned long vargo_argo_virq_count(void);
wait_queue_head_t *vargo_argo_virq_waitq(void);

#endif /* VARGO_ARGO_CORE_H */
