// SPDX-License-Identifier: GPL-2.0
/*
 * argo core: the one owner of Xen's Argo hypercall (op 39) and of the
 * global VIRQ_ARGO in this domain (API in argo-core.h).
 *
 *  - Hypercall wrappers for register_ring, unregister_ring, sendv and
 *    notify.  Xen 4.17 returns some sendv errors zero-extended to 64 bits,
 *    so every result is narrowed to s32 (valid results are < 16 MiB).
 *  - Rings are vmalloc_user() memory (so the char device can map them),
 *    registered page by page as GFNs, always with one partner domain.
 *  - VIRQ_ARGO is bound once, on vCPU 0.  Its handler bumps virq_count,
 *    wakes virq_wq (senders waiting for space) and queues scan_work, which
 *    walks every ring: message-mode rings are consumed here and their
 *    owner's rx called per message; raw-mode rings get ready(); every ring
 *    gets space().  After consuming anything the scan calls notify, because
 *    Xen wakes blocked senders only when a ring owner notifies.
 *  - Load probes Argo with a notify(NULL) and refuses with -ENODEV and one
 *    log line when Xen or Argo is absent.
 *
 * Locking: rings_lock (mutex) protects the ring list and is held across a
 * scan, so a ring's callbacks never run concurrently and never after
 * vargo_argo_ring_unregister() returned.  A message-mode ring's private rx
 * and bounce buffer are under its spinlock (irqsave), taken per message by
 * the scan and by vargo_argo_ring_poll(), which a driver spinning on the
 * CPU may call with interrupts off; a raw-mode ring's rx is its owner's.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/interrupt.h>
#include <linux/workqueue.h>
#include <linux/mutex.h>
#include <linux/list.h>
#include <linux/sched/signal.h>
#include <linux/err.h>

#include <xen/xen.h>
#include <xen/events.h>
#include <xen/page.h>
#include <asm/xen/hypercall.h>

#include "compat.h"
#include "argo-core.h"
#include "argo-dev-priv.h"

/* How long a space waiter sleeps before re-asking Xen (a safety net). */
#define VARGO_SPACE_RECHECK	(HZ)

struct vargo_kring {
	struct list_head node;		/* in rings, under rings_lock */
	struct vargo_kring_ops ops;
	void *priv;
	u32 port;
	u16 partner;
	u32 len;			/* data bytes, va_argo_ring_len_valid */
	u32 npages;
	struct va_argo_ring *hdr;	/* vmalloc_user, npages pages */
	u8 *bounce;			/* message mode: max payload bytes */
	u32 rx;				/* private reader pointer, < len, 16-aligned */
	spinlock_t lock;		/* message mode: rx, bounce, ops.rx calls */
	bool dead;			/* being unregistered */
	atomic_t senders;		/* sleepers in vargo_argo_sendv/wait_space */
};

static LIST_HEAD(rings);
static DEFINE_MUTEX(rings_lock);
static DECLARE_WAIT_QUEUE_HEAD(virq_wq);
static atomic_long_t virq_count = ATOMIC_LONG_INIT(0);
static struct workqueue_struct *scan_wq;
static struct work_struct scan_work;
static int virq_irq = -1;

/* ---- hypercalls ---- */

static long vargo_argo_op(unsigned int cmd, void *a1, void *a2,
			  unsigned long a3, unsigned long a4)
{
	long ret = vargo_privcmd_call(VA_ARGO_HYPERCALL, cmd, (unsigned long)a1,
				      (unsigned long)a2, a3, a4);

	/* Xen 4.17: later sendv errors come back zero-extended. */
	return (long)(s32)ret;
}

static int vargo_hc_register(u32 port, u16 partner, u32 len, xen_pfn_t *gfns,
			     u32 npages)
{
	struct va_argo_register_ring reg = {
		.aport = port, .partner_id = partner, .len = len,
	};

	return vargo_argo_op(VA_ARGO_OP_REGISTER_RING, &reg, gfns, npages, 0);
}

static int vargo_hc_unregister(u32 port, u16 partner)
{
	struct va_argo_unregister_ring unreg = {
		.aport = port, .partner_id = partner,
	};

	return vargo_argo_op(VA_ARGO_OP_UNREGISTER_RING, &unreg, NULL, 0, 0);
}

int vargo_argo_notify(struct va_argo_ring_data_ent *ents, unsigned int n)
{
	struct va_argo_ring_data *rd;
	int ret;

	if (!n)
		return vargo_argo_op(VA_ARGO_OP_NOTIFY, NULL, NULL, 0, 0);
	if (n > VA_ARGO_MAX_NOTIFY_COUNT || !ents)
		return -EINVAL;
	rd = kzalloc(struct_size(rd, data, n), GFP_ATOMIC);
	if (!rd)
		return -ENOMEM;
	rd->nent = n;
	memcpy(rd->data, ents, n * sizeof(*ents));
	ret = vargo_argo_op(VA_ARGO_OP_NOTIFY, rd, NULL, 0, 0);
	if (!ret)
		memcpy(ents, rd->data, n * sizeof(*ents));
	kfree(rd);
	return ret;
}
EXPORT_SYMBOL_GPL(vargo_argo_notify);

/* ---- accessors ---- */

struct va_argo_ring *vargo_argo_ring_hdr(struct vargo_kring *ring)
{
	return ring->hdr;
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_hdr);

u32 vargo_argo_ring_len(const struct vargo_kring *ring)
{
	return ring->len;
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_len);

u32 vargo_argo_ring_port(const struct vargo_kring *ring)
{
	return ring->port;
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_port);

u16 vargo_argo_ring_partner(const struct vargo_kring *ring)
{
	return ring->partner;
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_partner);

void *vargo_argo_ring_vaddr(struct vargo_kring *ring)
{
	return ring->hdr;
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_vaddr);

unsigned long vargo_argo_virq_count(void)
{
	return atomic_long_read(&virq_count);
}
EXPORT_SYMBOL_GPL(vargo_argo_virq_count);

wait_queue_head_t *vargo_argo_virq_waitq(void)
{
	return &virq_wq;
}
EXPORT_SYMBOL_GPL(vargo_argo_virq_waitq);

/* ---- ring registration ---- */

struct vargo_kring *vargo_argo_ring_register(u32 port, u16 partner, u32 len,
					     const struct vargo_kring_ops *ops,
					     void *priv)
{
	struct vargo_kring *ring;
	xen_pfn_t *gfns;
	u32 i;
	int ret;

	BUILD_BUG_ON(PAGE_SIZE != VA_ARGO_PAGE_SIZE);
	if (!va_argo_ring_len_valid(len) || partner > VA_ARGO_DOMID_MAX ||
	    !ops || (!ops->rx && !ops->ready))
		return ERR_PTR(-EINVAL);

	ring = kzalloc(sizeof(*ring), GFP_KERNEL);
	if (!ring)
		return ERR_PTR(-ENOMEM);
	ring->ops = *ops;
	ring->priv = priv;
	ring->port = port;
	ring->partner = partner;
	ring->len = len;
	ring->npages = va_argo_ring_npages(len);
	atomic_set(&ring->senders, 0);
	spin_lock_init(&ring->lock);

	ret = -ENOMEM;
	ring->hdr = vmalloc_user((unsigned long)ring->npages * PAGE_SIZE);
	if (!ring->hdr)
		goto err_ring_mem;
	if (ops->rx) {
		ring->bounce = kvmalloc(va_argo_ring_max_payload(len), GFP_KERNEL);
		if (!ring->bounce)
			goto err_bounce;
	}
	gfns = kvmalloc_array(ring->npages, sizeof(*gfns), GFP_KERNEL);
	if (!gfns)
		goto err_gfns;
	for (i = 0; i < ring->npages; i++) {
		void *va = (u8 *)ring->hdr + (size_t)i * PAGE_SIZE;

		gfns[i] = xen_page_to_gfn(vmalloc_to_page(va));
	}

	mutex_lock(&rings_lock);
	ret = vargo_hc_register(port, partner, len, gfns, ring->npages);
	if (!ret)
		list_add_tail(&ring->node, &rings);
	mutex_unlock(&rings_lock);
	kvfree(gfns);
	if (ret)
		goto err_hypercall;

	/* A message may have arrived before the ring was on the list. */
	queue_work(scan_wq, &scan_work);
	return ring;

err_hypercall:
err_gfns:
	kvfree(ring->bounce);
err_bounce:
	vfree(ring->hdr);
err_ring_mem:
	kfree(ring);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_register);

void vargo_argo_ring_unregister(struct vargo_kring *ring)
{
	int ret;

	if (!ring)
		return;
	mutex_lock(&rings_lock);
	list_del(&ring->node);
	WRITE_ONCE(ring->dead, true);
	ret = vargo_hc_unregister(ring->port, ring->partner);
	mutex_unlock(&rings_lock);
	/* -ENOENT: Xen removed it already (the partner died). */
	if (ret && ret != -ENOENT)
		pr_warn("unregister ring port %u partner %u: %d\n",
			ring->port, ring->partner, ret);

	wake_up_all(&virq_wq);
	wait_event(virq_wq, !atomic_read(&ring->senders));
	kvfree(ring->bounce);
	/* A user mapping keeps its own page references. */
	vfree(ring->hdr);
	kfree(ring);
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_unregister);

/* ---- reading ---- */

int vargo_argo_ring_peek_msg(struct vargo_kring *ring, struct va_argo_msg_hdr *ret_hdr,
			     u32 *ret_rx)
{
	/* Acquire: the message bytes are read only after tx_ptr. */
	u32 tx = smp_load_acquire(&ring->hdr->tx_ptr);

	switch (va_argo_ring_peek(ring->hdr->ring, ring->len, ring->rx, tx,
				  ret_hdr)) {
	case VA_ARGO_PEEK_MSG:
		*ret_rx = ring->rx;
		return 1;
	case VA_ARGO_PEEK_EMPTY:
		return 0;
	default:
		return -EIO;
	}
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_peek_msg);

void vargo_argo_ring_consume(struct vargo_kring *ring, u32 rx,
			     const struct va_argo_msg_hdr *hdr)
{
	ring->rx = va_argo_ring_advance(rx, hdr->len, ring->len);
	/* Release: the message is read before Xen may overwrite it. */
	smp_store_release(&ring->hdr->rx_ptr, ring->rx);
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_consume);

/*
 * Message mode: hand the next message to the owner, under ring->lock.
 * Returns 1 if one was consumed, 0 if the ring is empty.
 */
static int vargo_ring_take_one(struct vargo_kring *ring)
{
	struct va_argo_msg_hdr mh;
	unsigned long flags;
	u32 rx, n, n1, n2;
	const void *p;
	int ret;

	spin_lock_irqsave(&ring->lock, flags);
	ret = vargo_argo_ring_peek_msg(ring, &mh, &rx);
	if (ret > 0) {
		u32 pos = (rx + VA_ARGO_MSG_HDR_SIZE) % ring->len;

		n = mh.len - VA_ARGO_MSG_HDR_SIZE;
		va_argo_ring_split(pos, n, ring->len, &n1, &n2);
		if (n2) {
			va_argo_ring_copy_out(ring->hdr->ring, ring->len, pos,
					      ring->bounce, n);
			p = ring->bounce;
		} else {
			p = ring->hdr->ring + pos;
		}
		ring->ops.rx(ring->priv, mh.source.domain_id, mh.source.aport,
			     mh.message_type, p, n);
		vargo_argo_ring_consume(ring, rx, &mh);
	} else if (ret < 0) {
		/* Only Xen writes the ring: this is a bug, not a peer. */
		ring->rx = va_argo_sanitize_rx(READ_ONCE(ring->hdr->tx_ptr),
					       ring->len);
		/* Release: as in vargo_argo_ring_consume(). */
		smp_store_release(&ring->hdr->rx_ptr, ring->rx);
	}
	spin_unlock_irqrestore(&ring->lock, flags);
	if (ret < 0)
		pr_err_ratelimited("ring port %u partner %u corrupt, skipping its contents\n",
				   ring->port, ring->partner);
	return ret ? 1 : 0;
}

/* Message mode: hand every message to the owner.  Returns true if any. */
static bool vargo_ring_drain(struct vargo_kring *ring)
{
	bool consumed = false;

	while (vargo_ring_take_one(ring))
		consumed = true;
	return consumed;
}

bool vargo_argo_ring_poll(struct vargo_kring *ring)
{
	if (!ring->ops.rx || READ_ONCE(ring->dead) || !vargo_ring_drain(ring))
		return false;
	/* As after a scan: Xen wakes blocked senders only on a notify. */
	vargo_argo_notify(NULL, 0);
	return true;
}
EXPORT_SYMBOL_GPL(vargo_argo_ring_poll);

static void vargo_scan(struct work_struct *work)
{
	struct vargo_kring *ring;
	bool consumed = false;

	mutex_lock(&rings_lock);
	list_for_each_entry(ring, &rings, node) {
		if (ring->ops.rx) {
			if (vargo_ring_drain(ring)) {
				consumed = true;
				if (ring->ops.drained)
					ring->ops.drained(ring->priv);
			}
		} else if (READ_ONCE(ring->hdr->rx_ptr) !=
			   READ_ONCE(ring->hdr->tx_ptr)) {
			ring->ops.ready(ring->priv);
		}
		if (ring->ops.space)
			ring->ops.space(ring->priv);
	}
	mutex_unlock(&rings_lock);
	vargo_argo_dev_virq();
	if (consumed)
		vargo_argo_notify(NULL, 0);
}

static irqreturn_t vargo_virq_handler(int irq, void *dev_id)
{
	atomic_long_inc(&virq_count);
	wake_up_all(&virq_wq);
	queue_work(scan_wq, &scan_work);
	return IRQ_HANDLED;
}

/* ---- sending ---- */

int vargo_argo_sendv_nowait(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
			    const struct kvec *iov, unsigned int niov, u32 type)
{
	struct va_argo_iov xiov[VA_ARGO_MAX_IOV];
	struct va_argo_send_addr addr = {
		.src = { .aport = ring->port, .domain_id = VA_ARGO_DOMID_ANY },
		.dst = { .aport = dst_port, .domain_id = dst_domid },
	};
	unsigned int i;

	if (niov > VA_ARGO_MAX_IOV)
		return -EINVAL;
	for (i = 0; i < niov; i++) {
		if (iov[i].iov_len > U32_MAX)
			return -EINVAL;
		xiov[i].iov_hnd = (u64)(unsigned long)iov[i].iov_base;
		xiov[i].iov_len = iov[i].iov_len;
		xiov[i].pad = 0;
	}
	return vargo_argo_op(VA_ARGO_OP_SENDV, &addr, xiov, niov, type);
}
EXPORT_SYMBOL_GPL(vargo_argo_sendv_nowait);

/*
 * One wait for space: ask Xen, and if there is none sleep until the next
 * VIRQ_ARGO, the ring's unregistration, *cancel or at most wait jiffies.
 */
static int vargo_wait_space_once(struct vargo_kring *ring, u16 dst_domid,
				 u32 dst_port, u32 space_required,
				 unsigned long wait, const bool *cancel)
{
	struct va_argo_ring_data_ent ent = {
		.ring = { .aport = dst_port, .domain_id = dst_domid },
		.space_required = space_required,
	};
	unsigned long gen = atomic_long_read(&virq_count);
	long left;
	int ret;

	if (READ_ONCE(ring->dead))
		return -ESHUTDOWN;
	if (cancel && READ_ONCE(*cancel))
		return -ECANCELED;
	ret = vargo_argo_notify(&ent, 1);
	if (ret)
		return ret;
	if (!(ent.flags & VA_ARGO_RING_EXISTS))
		return -ECONNREFUSED;
	if (ent.flags & VA_ARGO_RING_EMSGSIZE)
		return -EMSGSIZE;
	if (ent.flags & VA_ARGO_RING_SUFFICIENT)
		return 0;
	left = wait_event_killable_timeout(virq_wq,
					   atomic_long_read(&virq_count) != gen ||
					   READ_ONCE(ring->dead) ||
					   (cancel && READ_ONCE(*cancel)),
					   min_t(unsigned long, wait,
						 VARGO_SPACE_RECHECK));
	if (left < 0)
		return -EINTR;
	if (READ_ONCE(ring->dead))
		return -ESHUTDOWN;
	return cancel && READ_ONCE(*cancel) ? -ECANCELED : 0;
}

int vargo_argo_wait_space(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
			  u32 space_required)
{
	int ret;

	atomic_inc(&ring->senders);
	ret = vargo_wait_space_once(ring, dst_domid, dst_port, space_required,
				    VARGO_SPACE_RECHECK, NULL);
	if (atomic_dec_and_test(&ring->senders))
		wake_up_all(&virq_wq);
	return ret;
}
EXPORT_SYMBOL_GPL(vargo_argo_wait_space);

/* timeout == MAX_SCHEDULE_TIMEOUT: no bound. */
static int vargo_sendv_wait(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
			    const struct kvec *iov, unsigned int niov, u32 type,
			    unsigned long timeout, const bool *cancel)
{
	unsigned long deadline = jiffies + timeout;
	size_t total = 0;
	unsigned int i;
	int ret;

	might_sleep();
	for (i = 0; i < niov && i < VA_ARGO_MAX_IOV; i++)
		total += iov[i].iov_len;
	if (total > VA_ARGO_MAX_MSG_SIZE)
		return -EMSGSIZE;

	atomic_inc(&ring->senders);
	for (;;) {
		unsigned long wait = MAX_SCHEDULE_TIMEOUT;

		ret = vargo_argo_sendv_nowait(ring, dst_domid, dst_port, iov,
					      niov, type);
		if (ret != -EAGAIN)
			break;
		if (timeout != MAX_SCHEDULE_TIMEOUT) {
			if (time_after_eq(jiffies, deadline)) {
				ret = -ETIMEDOUT;
				break;
			}
			wait = deadline - jiffies;
		}
		ret = vargo_wait_space_once(ring, dst_domid, dst_port, total,
					    wait, cancel);
		if (ret)
			break;
	}
	if (atomic_dec_and_test(&ring->senders))
		wake_up_all(&virq_wq);
	return ret;
}

int vargo_argo_sendv(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
		     const struct kvec *iov, unsigned int niov, u32 type)
{
	return vargo_sendv_wait(ring, dst_domid, dst_port, iov, niov, type,
				MAX_SCHEDULE_TIMEOUT, NULL);
}
EXPORT_SYMBOL_GPL(vargo_argo_sendv);

int vargo_argo_sendv_bounded(struct vargo_kring *ring, u16 dst_domid, u32 dst_port,
			     const struct kvec *iov, unsigned int niov, u32 type,
			     unsigned long timeout, const bool *cancel)
{
	return vargo_sendv_wait(ring, dst_domid, dst_port, iov, niov, type,
				min_t(unsigned long, timeout,
				      MAX_SCHEDULE_TIMEOUT - 1), cancel);
}
EXPORT_SYMBOL_GPL(vargo_argo_sendv_bounded);

void vargo_argo_wake_senders(void)
{
	wake_up_all(&virq_wq);
}
EXPORT_SYMBOL_GPL(vargo_argo_wake_senders);

/* ---- module ---- */

static int __init vargo_argo_core_init(void)
{
	int ret;

	if (!xen_domain()) {
		pr_info("not running on Xen, Argo unavailable\n");
		return -ENODEV;
	}
	ret = vargo_argo_notify(NULL, 0);
	if (ret) {
		pr_info("Xen has no usable Argo (notify: %d; needs CONFIG_ARGO and argo=1)\n",
			ret);
		return -ENODEV;
	}

	scan_wq = alloc_ordered_workqueue("va_argo_scan", WQ_MEM_RECLAIM);
	if (!scan_wq)
		return -ENOMEM;
	INIT_WORK(&scan_work, vargo_scan);

	ret = bind_virq_to_irqhandler(VA_ARGO_VIRQ, 0, vargo_virq_handler, 0,
				      "argo", NULL);
	if (ret < 0) {
		pr_err("cannot bind VIRQ_ARGO: %d (another consumer?)\n", ret);
		goto err_virq;
	}
	virq_irq = ret;

	ret = vargo_argo_dev_init();
	if (ret)
		goto err_dev;
	pr_info("Argo ready (VIRQ_ARGO irq %d)\n", virq_irq);
	return 0;

err_dev:
	unbind_from_irqhandler(virq_irq, NULL);
err_virq:
	destroy_workqueue(scan_wq);
	return ret;
}

static void __exit vargo_argo_core_exit(void)
{
	vargo_argo_dev_exit();
	/* Users (virtio_argo) depend on us, so no ring is left but ours. */
	WARN_ON(!list_empty(&rings));
	unbind_from_irqhandler(virq_irq, NULL);
	cancel_work_sync(&scan_work);
	destroy_workqueue(scan_wq);
}

module_init(vargo_argo_core_init);
module_exit(vargo_argo_core_exit);

MODULE_DESCRIPTION("Xen Argo core: hypercalls, VIRQ_ARGO and /dev/argo");
MODULE_LICENSE("GPL");
