// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: Requests in flight, completions, and the data path: avail ring ->
 * REQUEST.
 */
#include "virtio-argo.h"

/* In-flight requests                                                  */
/* ------------------------------------------------------------------ */

/* Drop a reference (the request is already off vd->inflight); the last
 * one moves it to vd->dead, freed by vargo_reap() outside the spinlock
 * (vfree must not run under it).  Under vd->lock.
 */
void vargo_req_put(struct vargo_dev *vd, struct vargo_req *r)
{
	if (--r->refs == 0)
		list_add_tail(&r->node, &vd->dead);
}

void vargo_reap(struct vargo_dev *vd)
{
	struct vargo_req *r, *tmp;
	unsigned long flags;
	LIST_HEAD(dead);

	spin_lock_irqsave(&vd->lock, flags);
	list_splice_init(&vd->dead, &dead);
	spin_unlock_irqrestore(&vd->lock, flags);
	list_for_each_entry_safe(r, tmp, &dead, node)
		kvfree(r);
}

/* Forget every request of q (or of all queues if q is NULL) without
 * completing it: used after a device reset, when the driver no longer
 * expects completions.  Under vd->lock.
 */
void vargo_drop_inflight(struct vargo_dev *vd, struct vargo_vq *q)
{
	struct vargo_req *r, *tmp;

	list_for_each_entry_safe(r, tmp, &vd->inflight, node) {
		if (q && r->q != q)
			continue;
		r->q->inflight[r->chain.head] = NULL;
		list_del(&r->node);
		vargo_req_put(vd, r);
	}
}

int vargo_lookup(void *ctx, u16 queue, u32 token, u32 *ret_in_len)
{
	struct vargo_dev *vd = ctx;
	struct vargo_vq *q = vd->vqs[queue];
	struct vargo_req *r;

	if (!q || token >= q->num)
		return -ENOENT;
	r = q->inflight[token];
	if (!r)
		return -ENOENT;
	*ret_in_len = r->chain.in_len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Completions                                                         */
/* ------------------------------------------------------------------ */

bool vargo_is_blk(const struct vargo_dev *vd)
{
	return vd->vdev.id.device == VIRTIO_ID_BLOCK;
}

/*
 * Zero the device-writable bytes of c from byte from on: whatever the
 * device did not write must not reach the driver as data (it would see
 * the buffers' stale contents, and might write them back out).
 */
void vargo_chain_zero_from(const struct vargo_chain *c, u32 from)
{
	unsigned int k;

	for (k = c->nr_out; k < c->nr_out + c->nr_in; k++) {
		const struct vargo_seg *sg = &c->segs[k];

		if (from >= sg->len) {
			from -= sg->len;
			continue;
		}
		memset((u8 *)sg->ptr + from, 0, sg->len - from);
		from = 0;
	}
}

/* Put head into q's used ring with length len.  Under vd->lock. */
void vargo_used_add(struct vargo_dev *vd, struct vargo_vq *q, u16 head, u32 len)
{
	struct vring_used *used = q->vr->used;
	u16 slot = q->used_idx % q->num;

	used->ring[slot].id = cpu_to_virtio32(&vd->vdev, head);
	used->ring[slot].len = cpu_to_virtio32(&vd->vdev, len);
	q->used_idx++;
	/* The entry must be visible before the index that publishes it. */
	virt_wmb();
	WRITE_ONCE(used->idx, cpu_to_virtio16(&vd->vdev, q->used_idx));
}

/*
 * Complete chain c without an answer of the device: its writable bytes
 * are zeroed and used.len is 0, except for virtio-blk, whose status byte
 * (the last writable one) then says VIRTIO_BLK_S_IOERR.  Under vd->lock.
 */
static void vargo_fail_chain(struct vargo_dev *vd, struct vargo_vq *q,
			     const struct vargo_chain *c)
{
	u32 len = 0;

	vargo_chain_zero_from(c, 0);
	if (vargo_is_blk(vd) && c->nr_in) {
		const struct vargo_seg *st = &c->segs[c->nr_out + c->nr_in - 1];

		((u8 *)st->ptr)[st->len - 1] = VIRTIO_BLK_S_IOERR;
		len = c->in_len;
	}
	vargo_used_add(vd, q, c->head, len);
	vd->stats.failed++;
}

/* Fail r, which is in flight.  Under vd->lock. */
void vargo_fail_req(struct vargo_dev *vd, struct vargo_req *r)
{
	vargo_fail_chain(vd, r->q, &r->chain);
	r->q->inflight[r->chain.head] = NULL;
	list_del(&r->node);
	vargo_req_put(vd, r);
}

/*
 * A chain of device-writable buffers only (a receive buffer) is never
 * failed by the transport: it asks nothing of the device, which fills it
 * when it has data, and no driver waits for it.  Completing it without
 * data would hand the driver an empty frame or read, and one it posts
 * again at once would come straight back.  It waits for the device, or
 * for the driver's reset, which takes it back unused.
 */
bool vargo_chain_failable(const struct vargo_chain *c)
{
	return c->nr_out != 0;
}

/* Fail every request in flight that may be failed; returns the queues to
 * interrupt.  Under vd->lock.
 */
static u64 vargo_fail_inflight(struct vargo_dev *vd)
{
	struct vargo_req *r, *tmp;
	u64 kicked = 0;

	list_for_each_entry_safe(r, tmp, &vd->inflight, node) {
		if (!vargo_chain_failable(&r->chain))
			continue;
		kicked |= 1ull << r->q->index;
		vargo_fail_req(vd, r);
	}
	return kicked;
}

/* Call the callbacks of the queues in kicked.  Not under vd->lock. */
void vargo_deliver(struct vargo_dev *vd, u64 kicked)
{
	if (!kicked)
		return;
	if (in_hardirq()) {
		vargo_interrupts(vd, kicked);
	} else {
		local_bh_disable();
		vargo_interrupts(vd, kicked);
		local_bh_enable();
	}
}

/* ------------------------------------------------------------------ */
/* Data path: avail ring -> REQUEST                                    */
/* ------------------------------------------------------------------ */

/*
 * The REQUEST of chain c.  gfp: GFP_KERNEL from kick_work (then without
 * I/O from reclaim), GFP_ATOMIC from notify.
 */
static struct vargo_req *vargo_build_request(struct vargo_dev *vd, struct vargo_vq *q,
					     const struct vargo_chain *c, gfp_t gfp)
{
	u32 body = sizeof(struct va_request) + 4u * c->nr_in + c->out_len;
	u32 msg_len = sizeof(struct va_hdr) + body;
	unsigned int nsegs = c->nr_out + c->nr_in;
	unsigned int noio;
	struct va_request *rq;
	struct va_hdr *h;
	struct vargo_req *r;
	va_le32 *sizes;
	unsigned int k;

	/*
	 * No I/O from reclaim: it could wait for this very queue.  kvmalloc
	 * falls back to vmalloc only for GFP_KERNEL, hence the scope.
	 */
	noio = memalloc_noio_save();
	r = kvmalloc(sizeof(*r) + nsegs * sizeof(struct vargo_seg) + msg_len,
		     gfp);
	memalloc_noio_restore(noio);
	if (!r)
		return NULL;
	r->q = q;
	r->refs = 1;
	r->replay_seq = vd->replay_seq;
	r->chain = *c;
	r->chain.segs = (struct vargo_seg *)(r + 1);
	memcpy(r->chain.segs, c->segs, nsegs * sizeof(struct vargo_seg));
	r->msg = (u8 *)(r->chain.segs + nsegs);
	r->msg_len = msg_len;

	h = (struct va_hdr *)r->msg;
	vargo_fill_hdr(vd, h, VA_MSG_REQUEST, q->index, c->head, body);
	rq = (struct va_request *)(h + 1);
	rq->out_len = va_cpu_to_le32(c->out_len);
	rq->in_len = va_cpu_to_le32(c->in_len);
	rq->nr_in = va_cpu_to_le16(c->nr_in);
	rq->reserved0 = 0;
	rq->reserved1 = 0;
	sizes = (va_le32 *)(rq + 1);
	for (k = 0; k < c->nr_in; k++)
		sizes[k] = va_cpu_to_le32(c->segs[c->nr_out + k].len);
	vargo_chain_gather(c, sizes + c->nr_in);
	return r;
}

static int vargo_send_req(struct vargo_dev *vd, struct vargo_req *r)
{
	struct kvec iov = { .iov_base = r->msg, .iov_len = r->msg_len };

	return vargo_send(vd, &iov, 1);
}

/* Send failed: keep the request (it is replayed after renegotiation) and
 * look for the device again.
 */
static void vargo_send_failed(struct vargo_dev *vd, int err)
{
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	vargo_schedule_reneg(vd, VARGO_PROBE_BACKOFF_MIN);
	spin_unlock_irqrestore(&vd->lock, flags);
	dev_warn_ratelimited(&vd->pdev->dev,
			     "send failed (%d), will renegotiate\n", err);
}

/*
 * Walk the chain at q's next avail entry into *c (its head in *head) and
 * check that its REQUEST fits what the device accepts and, with Argo's
 * 16-byte header, its ring.
 */
static int vargo_take_chain(struct vargo_dev *vd, struct vargo_vq *q,
			    const struct vargo_walk_limits *lim, u16 *head,
			    struct vargo_chain *c)
{
	u64 body;
	int err;

	err = vargo_avail_head(q->vr, q->last_avail, head);
	if (!err)
		err = vargo_walk_chain(q->vr, *head, lim, vargo_xlate, vd,
				       q->scratch, q->num, c);
	if (err)
		return err;
	body = sizeof(struct va_request) + 4ull * c->nr_in + c->out_len;
	if (body > va_le32_to_cpu(vd->info.max_request) ||
	    body + 2 * sizeof(struct va_hdr) + 32 >
	    va_le32_to_cpu(vd->info.device_ring_len))
		return -E2BIG;
	if (q->inflight[*head])
		return -EBUSY;
	return 0;
}

/*
 * Put r, the request of q's chain at head, in flight and send it if the
 * link is up (else it waits for the replay).  kick_work only.
 */
static void vargo_submit(struct vargo_dev *vd, struct vargo_vq *q, u16 head,
			 struct vargo_req *r)
{
	unsigned long flags;
	bool up;
	int err;

	spin_lock_irqsave(&vd->lock, flags);
	q->inflight[head] = r;
	list_add_tail(&r->node, &vd->inflight);
	vd->stats.requests++;
	up = vd->link_up;
	if (up)
		r->refs++;	/* pinned while its message is sent */
	spin_unlock_irqrestore(&vd->lock, flags);
	if (!up)
		return;

	err = vargo_send_req(vd, r);
	spin_lock_irqsave(&vd->lock, flags);
	vargo_req_put(vd, r);
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	if (err < 0)
		vargo_send_failed(vd, err);
}

/* What a chain of q may hold: the device's limits and our ring's. */
static void vargo_walk_limits(const struct vargo_dev *vd, const struct vargo_vq *q,
			      struct vargo_walk_limits *lim)
{
	lim->max_descs = q->num;
	lim->max_out = va_le32_to_cpu(vd->info.max_request);
	lim->max_in = vargo_ring_len - 32 - sizeof(struct va_hdr) -
		      sizeof(struct va_response);
	lim->max_in_segs = VA_MAX_IN_SEGS;
}

/* How many chains wait on q's avail ring, in *n; false if it is broken. */
static bool vargo_pending(struct vargo_dev *vd, struct vargo_vq *q, u16 *n)
{
	unsigned long flags;

	if (vargo_avail_pending(q->vr, q->last_avail, n)) {
		spin_lock_irqsave(&vd->lock, flags);
		vargo_mark_broken(vd, "avail index out of range");
		spin_unlock_irqrestore(&vd->lock, flags);
		return false;
	}
	/* Read the ring entries and descriptors only after avail->idx. */
	virt_rmb();
	return true;
}

static void vargo_bad_chain(struct vargo_dev *vd, struct vargo_vq *q, int err)
{
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	dev_err_ratelimited(&vd->pdev->dev, "queue %u: bad chain (%d)\n",
			    q->index, err);
	vargo_mark_broken(vd, "unusable descriptor chain");
	spin_unlock_irqrestore(&vd->lock, flags);
}

/*
 * Walk everything new on q's avail ring; while failing, complete each
 * chain with an error at once.  Returns the queues to interrupt.
 * kick_work only.
 */
static u64 vargo_kick_queue(struct vargo_dev *vd, struct vargo_vq *q)
{
	struct vargo_walk_limits lim;
	unsigned long flags;
	u64 kicked = 0;
	u16 n, i;
	int err;

	vargo_walk_limits(vd, q, &lim);
	if (!vargo_pending(vd, q, &n))
		return 0;

	for (i = 0; i < n; i++) {
		struct vargo_chain c;
		struct vargo_req *r;
		bool failing;
		u16 head;

		err = vargo_take_chain(vd, q, &lim, &head, &c);
		if (err) {
			vargo_bad_chain(vd, q, err);
			return kicked;
		}
		spin_lock_irqsave(&vd->lock, flags);
		failing = vd->failing && vargo_chain_failable(&c);
		if (failing) {
			vargo_fail_chain(vd, q, &c);
			kicked = 1ull << q->index;
		}
		spin_unlock_irqrestore(&vd->lock, flags);
		if (failing) {
			q->last_avail++;
			continue;
		}
		r = vargo_build_request(vd, q, &c, GFP_KERNEL);
		if (!r) {
			/* Retry later; the chain stays on the avail ring. */
			queue_work(vd->wq, &vd->kick_work);
			return kicked;
		}
		q->last_avail++;
		vargo_submit(vd, q, head, r);
	}
	return kicked;
}

/*
 * Send what the driver queued.  While failing, first complete everything
 * in flight with an error; a broken device is broken (virtio) only after
 * that, since a broken virtqueue delivers no completion.
 */
void vargo_kick_work(struct work_struct *work)
{
	struct vargo_dev *vd = container_of(work, struct vargo_dev, kick_work);
	unsigned long flags;
	bool brk = false;
	u64 kicked = 0;
	unsigned int i;

	/* What vargo_kick_polled() consumed and left for process context. */
	vargo_rx_flush(vd);
	spin_lock_irqsave(&vd->lock, flags);
	if (vd->failing)
		kicked = vargo_fail_inflight(vd);
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	for (i = 0; i < VA_MAX_QUEUES; i++) {
		if (READ_ONCE(vd->break_done))
			break;
		if (vd->vqs[i] && !vd->vqs[i]->polled)
			kicked |= vargo_kick_queue(vd, vd->vqs[i]);
	}
	vargo_deliver(vd, kicked);

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->broken && !vd->break_done) {
		WRITE_ONCE(vd->break_done, true);
		brk = true;
	}
	spin_unlock_irqrestore(&vd->lock, flags);
	if (brk && vd->registered)
		virtio_break_device(&vd->vdev);
}

/* ------------------------------------------------------------------ */
/* Queues whose driver spins on the CPU for its used buffers           */
/* ------------------------------------------------------------------ */

/*
 * Between two looks at the ring: give the physical CPU to whoever Xen
 * wants to run (the backend's domain may be waiting for it), then a short
 * pause.  Both are fine with interrupts off.
 */
static void vargo_poll_pause(void)
{
	HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
	udelay(VARGO_POLL_DELAY_US);
}

/* One polled notify: the device's address, taken while the link was up. */
struct vargo_polled {
	struct vargo_kring *ring;
	u16 domid;
	u32 port;
	ktime_t deadline;
};

/*
 * Take the device's address for a polled notify (and count it in
 * polled_users, vargo_polled_put()); false, taking nothing, while the link
 * is down or the device failing: then its chains fail at once.
 */
static bool vargo_polled_get(struct vargo_dev *vd, struct vargo_polled *p)
{
	unsigned long flags;
	bool up;

	spin_lock_irqsave(&vd->lock, flags);
	up = vd->link_up && !vd->failing && vd->ring;
	if (up) {
		p->ring = vd->ring;
		p->domid = vd->domid;
		p->port = vd->port;
		vd->polled_users++;
	}
	spin_unlock_irqrestore(&vd->lock, flags);
	return up;
}

static void vargo_polled_put(struct vargo_dev *vd)
{
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	if (!--vd->polled_users)
		wake_up_all(&vd->polled_wq);
	spin_unlock_irqrestore(&vd->lock, flags);
}

/*
 * Send r (in flight, pinned by the caller) without sleeping: a full device
 * ring is retried until the deadline.  0 or a negative errno.
 */
static int vargo_send_polled(const struct vargo_polled *p, struct vargo_req *r)
{
	struct kvec iov = { .iov_base = r->msg, .iov_len = r->msg_len };
	int ret;

	for (;;) {
		ret = vargo_argo_sendv_nowait(p->ring, p->domid, p->port,
					      &iov, 1, VA_ARGO_MSG_TYPE);
		if (ret != -EAGAIN)
			return ret < 0 ? ret : 0;
		if (ktime_after(ktime_get(), p->deadline))
			return -ETIMEDOUT;
		/* Our own ring may be what the device waits on to send. */
		vargo_argo_ring_poll(p->ring);
		vargo_poll_pause();
	}
}

/*
 * Take q's next chain and send it: *ret_head is its head, false if there
 * was nothing to wait for (the chain failed at once, or the queue broke:
 * then *stop).  Notify only.
 */
static bool vargo_submit_polled(struct vargo_dev *vd, struct vargo_vq *q,
				const struct vargo_walk_limits *lim,
				const struct vargo_polled *p, u16 *ret_head,
				bool *stop)
{
	struct vargo_chain c;
	struct vargo_req *r;
	unsigned long flags;
	u16 head;
	int err;

	err = vargo_take_chain(vd, q, lim, &head, &c);
	if (err) {
		vargo_bad_chain(vd, q, err);
		*stop = true;
		return false;
	}
	q->last_avail++;
	r = p ? vargo_build_request(vd, q, &c, GFP_ATOMIC) : NULL;
	spin_lock_irqsave(&vd->lock, flags);
	/*
	 * The driver cannot wait for a replay (it spins until this chain is
	 * used): with the link down, or no memory now, the chain fails.
	 */
	if (!r || !vd->link_up || vd->failing) {
		vargo_fail_chain(vd, q, &c);
		vd->rx_kicked |= 1ull << q->index;
		spin_unlock_irqrestore(&vd->lock, flags);
		if (r)
			kvfree(r);
		return false;
	}
	q->inflight[head] = r;
	list_add_tail(&r->node, &vd->inflight);
	vd->stats.requests++;
	vd->stats.polled++;
	r->refs++;	/* pinned while its message is sent */
	spin_unlock_irqrestore(&vd->lock, flags);

	err = vargo_send_polled(p, r);
	spin_lock_irqsave(&vd->lock, flags);
	vargo_req_put(vd, r);
	if (err && q->inflight[head] == r) {
		vargo_fail_req(vd, r);
		vd->rx_kicked |= 1ull << q->index;
		vargo_schedule_reneg(vd, VARGO_PROBE_BACKOFF_MIN);
	}
	spin_unlock_irqrestore(&vd->lock, flags);
	if (err)
		dev_warn_ratelimited(&vd->pdev->dev,
				     "queue %u: send failed (%d), will renegotiate\n",
				     q->index, err);
	*ret_head = head;
	return !err;
}

/*
 * Poll our ring until the requests of q at heads[0..n) are answered, or
 * deadline: then they fail and the device is renegotiated (a reset: it
 * drops what it held; an answer that comes anyway is stale).
 */
static void vargo_wait_polled(struct vargo_dev *vd, struct vargo_vq *q,
			      const u16 *heads, unsigned int n,
			      const struct vargo_polled *p)
{
	unsigned int i, left = n, failed = 0;
	unsigned long flags;
	bool late = false;

	while (left) {
		vargo_argo_ring_poll(p->ring);
		late = ktime_after(ktime_get(), p->deadline);
		spin_lock_irqsave(&vd->lock, flags);
		for (i = 0, left = 0; i < n; i++) {
			struct vargo_req *r = q->inflight[heads[i]];

			if (!r)
				continue;
			if (late) {
				vargo_fail_req(vd, r);
				failed++;
				continue;
			}
			left++;
		}
		if (failed) {
			vd->rx_kicked |= 1ull << q->index;
			vd->stats.poll_timeouts++;
			vargo_schedule_reneg(vd, 0);
		}
		spin_unlock_irqrestore(&vd->lock, flags);
		if (late)
			break;
		if (left)
			vargo_poll_pause();
	}
	if (failed)
		dev_warn_ratelimited(&vd->pdev->dev,
				     "queue %u: no answer within %u ms while the driver spins; renegotiating\n",
				     q->index, VARGO_POLL_TIMEOUT_MS);
}

/*
 * notify() of a polled queue: send what the driver queued and wait here,
 * on this CPU, for the answers, so that the driver finds them used when it
 * looks.  It may have interrupts off (hvc's put_chars) or only preemption
 * (a spinlock): either way neither VIRQ_ARGO's work item nor kick_work can
 * run on this CPU until it stops spinning, and on a guest with one vCPU
 * nowhere else either.  Callbacks and frees are left to kick_work.
 */
static void vargo_kick_polled(struct vargo_dev *vd, struct vargo_vq *q)
{
	u16 heads[VARGO_POLL_BATCH];
	struct vargo_walk_limits lim;
	struct vargo_polled p;
	bool up, stop = false;
	unsigned int nh;
	u16 n, i;

	vargo_walk_limits(vd, q, &lim);
	if (!vargo_pending(vd, q, &n))
		return;
	up = vargo_polled_get(vd, &p);
	p.deadline = ktime_add_ms(ktime_get(), VARGO_POLL_TIMEOUT_MS);
	while (n && !stop) {
		for (i = 0, nh = 0; i < n && nh < VARGO_POLL_BATCH && !stop; i++)
			if (vargo_submit_polled(vd, q, &lim, up ? &p : NULL,
						&heads[nh], &stop))
				nh++;
		n -= i;
		if (nh)
			vargo_wait_polled(vd, q, heads, nh, &p);
	}
	if (up)
		vargo_polled_put(vd);
}

/* virtqueue notify: may run in atomic context; never sleeps. */
bool vargo_notify(struct virtqueue *vq)
{
	struct vargo_vq *q = vq->priv;
	struct vargo_dev *vd = to_vargo(vq->vdev);

	if (READ_ONCE(vd->break_done))
		return false;
	if (q && q->polled)
		vargo_kick_polled(vd, q);
	queue_work(vd->wq, &vd->kick_work);
	return true;
}

/* ------------------------------------------------------------------ */
