// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: Renegotiation after a backend restart, replay of what is in flight,
 * moving to another backend address, and the watch on a device that
 * stopped answering.
 */
#include "virtio-argo.h"

/* Renegotiation after a backend restart, replay                       */
/* ------------------------------------------------------------------ */

static int vargo_renegotiate(struct vargo_dev *vd)
{
	struct va_device_info info;
	u8 want = vd->status, st;
	unsigned long flags;
	unsigned int i;
	int err;

	err = vargo_device_info(vd, &info);
	if (err)
		return err;
	if (info.device_id != vd->info.device_id ||
	    va_le16_to_cpu(info.num_queues) < va_le16_to_cpu(vd->info.num_queues))
		return -ENODEV;
	/*
	 * The new backend's limits apply from now on (kick_work does not run
	 * meanwhile: same ordered workqueue).
	 */
	spin_lock_irqsave(&vd->lock, flags);
	info.num_queues = vd->info.num_queues;
	vd->info = info;
	spin_unlock_irqrestore(&vd->lock, flags);
	err = vargo_set_status_raw(vd, 0, NULL);
	if (err)
		return err;
	if (!want)
		return 0;
	err = vargo_set_status_raw(vd, want & (VA_STATUS_ACKNOWLEDGE |
					       VA_STATUS_DRIVER), NULL);
	if (err)
		return err;
	if (!(want & VA_STATUS_FEATURES_OK))
		return 0;
	err = vargo_set_features_raw(vd, vd->features);
	if (err)
		return err;
	err = vargo_set_status_raw(vd, want & ~(VA_STATUS_DRIVER_OK |
						VA_STATUS_NEEDS_RESET), &st);
	if (err)
		return err;
	if (!(st & VA_STATUS_FEATURES_OK))
		return -ENODEV;
	for (i = 0; i < VA_MAX_QUEUES; i++) {
		if (!vd->vqs[i])
			continue;
		err = vargo_set_vqueue(vd, i, vd->vqs[i]->num, true);
		if (err)
			return err == -ERANGE ? -ENODEV : err;
	}
	if (want & VA_STATUS_DRIVER_OK)
		err = vargo_set_status_raw(vd, want & ~VA_STATUS_NEEDS_RESET,
					   NULL);
	return err;
}

/*
 * Send every in-flight request again, in submission order.  reneg_work
 * only (ordered with kick_work).  Replies may complete requests while we
 * send, so each one is pinned (refs) while its message is being sent, and
 * the list is searched from its head for the next request not yet sent in
 * this round (replay_seq).  A request already replayed VARGO_MAX_REPLAYS
 * times is completed with an error instead (*kicked: queues to interrupt),
 * unless it is a receive buffer (vargo_chain_failable()).
 */
static int vargo_replay(struct vargo_dev *vd, u64 *kicked)
{
	unsigned long flags;
	struct vargo_req *r;
	u32 seq;
	int err = 0;

	spin_lock_irqsave(&vd->lock, flags);
	seq = ++vd->replay_seq;
	for (;;) {
		struct kvec iov;
		bool found = false;

		list_for_each_entry(r, &vd->inflight, node) {
			if (r->replay_seq != seq) {
				found = true;
				break;
			}
		}
		if (!found)
			break;
		r->replay_seq = seq;
		if (r->replays >= VARGO_MAX_REPLAYS &&
		    vargo_chain_failable(&r->chain)) {
			*kicked |= 1ull << r->q->index;
			vargo_fail_req(vd, r);
			continue;
		}
		r->replays++;
		r->refs++;
		vd->stats.replayed++;
		spin_unlock_irqrestore(&vd->lock, flags);

		iov.iov_base = r->msg;
		iov.iov_len = r->msg_len;
		err = vargo_send(vd, &iov, 1);

		spin_lock_irqsave(&vd->lock, flags);
		vargo_req_put(vd, r);
		if (err < 0)
			break;
	}
	if (err >= 0)
		vd->link_up = true;
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	return err < 0 ? err : 0;
}

/* ------------------------------------------------------------------ */
/* Moving to another backend address                                   */
/* ------------------------------------------------------------------ */

static bool vargo_addr_eq(const struct vargo_addr *a, const struct vargo_addr *b)
{
	return a->domid == b->domid && a->port == b->port &&
	       a->local_port == b->local_port;
}

/*
 * Go where vd->want says, if a move is pending: a new ring when the
 * partner or our port differ (registered before the old one goes, so a
 * failure, e.g. -ESRCH while the new domain does not exist yet, leaves
 * the device as it was and is retried by the caller), then the new
 * address.  Only from reneg_work under op_lock, or from probe_work while
 * the device is not active: no sender runs meanwhile (see virtio-argo.h).
 */
int vargo_follow(struct vargo_dev *vd)
{
	struct vargo_kring *ring = NULL, *old = NULL;
	struct vargo_addr to, from;
	unsigned long flags;
	bool moved;

	spin_lock_irqsave(&vd->lock, flags);
	if (!vd->moving) {
		spin_unlock_irqrestore(&vd->lock, flags);
		return 0;
	}
	to = vd->want;
	from.domid = vd->domid;
	from.port = vd->port;
	from.local_port = vd->local_port;
	spin_unlock_irqrestore(&vd->lock, flags);
	/* A first address (probe_work, no ring yet) is no move. */
	moved = vd->ring && !vargo_addr_eq(&to, &from);

	if (!vd->ring || to.domid != from.domid ||
	    to.local_port != from.local_port) {
		ring = vargo_argo_ring_register_msg(to.local_port, to.domid,
						    vargo_ring_len, vargo_rx,
						    vargo_rx_drained, vd);
		if (IS_ERR(ring)) {
			dev_info_ratelimited(&vd->pdev->dev,
					     "ring %#x towards domain %u: %d, retrying\n",
					     to.local_port, to.domid,
					     (int)PTR_ERR(ring));
			/* -ENODEV means "refused" to reneg_work: not this. */
			return PTR_ERR(ring) == -ENODEV ? -ENXIO : PTR_ERR(ring);
		}
	}

	spin_lock_irqsave(&vd->lock, flags);
	if (ring) {
		old = vd->ring;
		vd->ring = ring;
	}
	if (moved)
		vd->stats.moves++;
	vd->domid = to.domid;
	vd->port = to.port;
	vd->local_port = to.local_port;
	/* Moved again meanwhile: the next round follows. */
	if (vargo_addr_eq(&vd->want, &to))
		vd->moving = false;
	spin_unlock_irqrestore(&vd->lock, flags);

	/*
	 * A polled notify that took the old address before the link went
	 * down may still be polling the old ring (for at most
	 * VARGO_POLL_TIMEOUT_MS); later ones find the link down.
	 */
	wait_event(vd->polled_wq, !READ_ONCE(vd->polled_users));
	/* No callback of the old ring runs after this. */
	vargo_argo_ring_unregister(old);
	if (moved)
		dev_info(&vd->pdev->dev, "now at backend %u:%#x (ring %#x)\n",
			 to.domid, to.port, to.local_port);
	return 0;
}

/*
 * The configuration names a new address (virtio-argo-xs.c): remember it
 * and, unless the device already is or goes there, move at once: an
 * active device by renegotiation, one still probing by its next probe.
 * Returns whether anything changed.  Process context, not under vd->lock.
 */
bool vargo_move(struct vargo_dev *vd, const struct vargo_addr *to)
{
	struct vargo_addr cur;
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->moving) {
		cur = vd->want;
	} else {
		cur.domid = vd->domid;
		cur.port = vd->port;
		cur.local_port = vd->local_port;
	}
	if (vargo_addr_eq(&cur, to) || vd->stopping) {
		spin_unlock_irqrestore(&vd->lock, flags);
		return false;
	}
	vd->want = *to;
	vd->moving = true;
	vd->backoff = VARGO_PROBE_BACKOFF_MIN;
	if (vd->active)
		vargo_schedule_reneg(vd, 0);
	else
		mod_delayed_work(system_long_wq, &vd->probe_work, 0);
	spin_unlock_irqrestore(&vd->lock, flags);
	dev_info(&vd->pdev->dev, "backend moves from %u:%#x to %u:%#x (ring %#x)\n",
		 cur.domid, cur.port, to->domid, to->port, to->local_port);
	return true;
}

/*
 * Renegotiate and replay; on failure retry with back-off.  A device that
 * has not been reachable for hold_s seconds makes the transport fail what is
 * in flight and what comes, until a renegotiation succeeds.
 */
void vargo_reneg_work(struct work_struct *work)
{
	struct vargo_dev *vd = container_of(to_delayed_work(work), struct vargo_dev,
					    reneg_work);
	unsigned long flags;
	bool kick = false;
	u64 kicked = 0;
	int err;

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->broken || !vd->active || vd->stopping) {
		spin_unlock_irqrestore(&vd->lock, flags);
		return;
	}
	vargo_link_down(vd);
	spin_unlock_irqrestore(&vd->lock, flags);

	mutex_lock(&vd->op_lock);
	err = vargo_follow(vd);
	if (!err)
		err = vargo_renegotiate(vd);
	if (!err)
		err = vargo_replay(vd, &kicked);
	mutex_unlock(&vd->op_lock);
	vargo_reap(vd);
	vargo_deliver(vd, kicked);

	spin_lock_irqsave(&vd->lock, flags);
	if (err == -ENODEV) {
		vargo_mark_broken(vd, "renegotiation refused");
	} else if (err) {
		vd->backoff = min(vd->backoff * 2, (unsigned long)VARGO_PROBE_BACKOFF_MAX);
		if (!vd->failing &&
		    time_after(jiffies, vd->down_since + (unsigned long)vargo_hold_s * HZ)) {
			vd->failing = true;
			kick = true;
			dev_info_ratelimited(&vd->pdev->dev,
					     "device unreachable for %u s (%d): failing requests until it answers\n",
					     vargo_hold_s, err);
		}
		if (!vd->stopping)
			queue_delayed_work(vd->wq, &vd->reneg_work, vd->backoff);
	} else {
		vd->backoff = VARGO_PROBE_BACKOFF_MIN;
		vd->failing = false;
		vd->config_stale = true;
		vd->stats.renegotiations++;
		dev_info_ratelimited(&vd->pdev->dev,
				     "device session %#x: renegotiated\n",
				     vd->dev_session);
	}
	spin_unlock_irqrestore(&vd->lock, flags);
	if (!err || kick)
		queue_work(vd->wq, &vd->kick_work);
}

/*
 * Whether a request in flight waits for an answer the device owes: one
 * that carries device-readable bytes (a command, a write, a frame to send).
 * A chain of device-writable buffers only (virtio-net's receive buffers)
 * is filled when the device has something for it, which may be never on
 * an idle link.  Under vd->lock.
 */
static bool vargo_answer_owed(struct vargo_dev *vd)
{
	struct vargo_req *r;

	list_for_each_entry(r, &vd->inflight, node)
		if (r->chain.nr_out)
			return true;
	return false;
}

/*
 * A device that keeps requests without answering anything (its ring
 * registered and not full) is probed by a renegotiation; if it does not
 * answer that either, the hold bound of reneg_work applies.  Receive
 * buffers alone do not count (vargo_answer_owed()).
 */
void vargo_watch_work(struct work_struct *work)
{
	struct vargo_dev *vd = container_of(to_delayed_work(work), struct vargo_dev,
					    watch_work);
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->link_up && !vd->broken &&
	    time_after(jiffies, vd->last_heard + VARGO_SILENT_MAX) &&
	    vargo_answer_owed(vd)) {
		dev_info_ratelimited(&vd->pdev->dev,
				     "no answer for %u s: renegotiating\n",
				     jiffies_to_msecs(VARGO_SILENT_MAX) / 1000);
		vd->last_heard = jiffies;
		vargo_schedule_reneg(vd, 0);
	}
	if (!vd->stopping)
		queue_delayed_work(system_long_wq, &vd->watch_work,
				   VARGO_SILENT_MAX / 4);
	spin_unlock_irqrestore(&vd->lock, flags);
}
