// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: The receive path: replies and events from the device.
 */
#include "virtio-argo.h"

/* Receive path                                                        */
/* ------------------------------------------------------------------ */

/*
 * Complete one validated response: the written bytes, zeros after them.
 * virtio_blk takes the status byte (the last writable one) for the
 * outcome without looking at used.len: a response that leaves it
 * unwritten fails the request instead (and is a violation).  Under
 * vd->lock.
 */
static void vargo_complete(struct vargo_dev *vd, const struct vargo_reply *rep)
{
	struct vargo_vq *q = vd->vqs[rep->queue];
	struct vargo_req *r = q->inflight[rep->token];

	if (vargo_is_blk(vd) && rep->written < r->chain.in_len) {
		vargo_fail_req(vd, r);
		vargo_violation(vd, "response without the virtio-blk status",
				-EBADMSG);
		return;
	}
	/* vargo_reply_check() bounded written by in_len. */
	vargo_chain_scatter(&r->chain, rep->data, rep->written);
	vargo_chain_zero_from(&r->chain, rep->written);
	q->inflight[rep->token] = NULL;
	list_del(&r->node);
	vargo_used_add(vd, q, r->chain.head, rep->written);
	vd->last_heard = jiffies;
	vd->stats.responses++;
	vargo_req_put(vd, r);
}

static void vargo_on_response(struct vargo_dev *vd, const struct va_hdr *h,
			      const void *body, u32 body_len, u64 *kicked)
{
	struct vargo_reply_expect exp = {
		.src_domid = vd->domid,
		.port = vd->port,
		.session = vd->dev_session,
		.num_queues = va_le16_to_cpu(vd->info.num_queues),
	};
	struct vargo_reply rep;
	int err;

	err = vargo_reply_check(&exp, vd->domid, vd->port, h, body, body_len,
				vargo_lookup, vd, &rep);
	if (err == -ESTALE) {
		vargo_foreign_session(vd, va_le32_to_cpu(h->session));
		return;
	}
	if (err == -ENOENT && !vd->link_up) {
		/*
		 * A request we gave up on (a polled one unanswered in time,
		 * or one whose send failed) and a reset is on its way: the
		 * answer came late, not from a faulty device.
		 */
		vd->stats.stale++;
		return;
	}
	if (err) {
		vargo_violation(vd, "invalid response", err);
		return;
	}
	vargo_complete(vd, &rep);
	*kicked |= 1ull << rep.queue;
}

/*
 * An error reply to a REQUEST.  A device that lost our session, was full
 * or needs a reset is renegotiated with (which replays); a request the
 * device refuses for good is completed with an error.  Under vd->lock.
 */
static void vargo_on_request_error(struct vargo_dev *vd, const struct va_hdr *h,
				   const void *body, u32 body_len, u64 *kicked)
{
	const struct va_error *e = body;
	u32 session = va_le32_to_cpu(h->session);
	u32 token = va_le32_to_cpu(h->token);
	u16 queue = va_le16_to_cpu(h->queue);
	struct vargo_vq *q;
	u32 code;

	if (body_len != sizeof(*e)) {
		vargo_violation(vd, "bad error reply", -EBADMSG);
		return;
	}
	code = va_le32_to_cpu(e->error);
	if (session != vd->dev_session) {
		vargo_foreign_session(vd, session);
		return;
	}
	if (code == VA_ERR_STATE || code == VA_ERR_BUSY ||
	    code == VA_ERR_NEEDS_RESET) {
		/* Lost session, full, or in need of a reset: replay. */
		vargo_schedule_reneg(vd, VARGO_PROBE_BACKOFF_MIN);
		return;
	}
	q = queue < VA_MAX_QUEUES ? vd->vqs[queue] : NULL;
	if (!q || token >= q->num || !q->inflight[token]) {
		vd->stats.stale++;
		return;
	}
	/* The request cannot complete (reporting success would lose data). */
	vargo_fail_req(vd, q->inflight[token]);
	*kicked |= 1ull << queue;
	vargo_violation(vd, "device refused a request", va_err_to_errno(code));
}

/* A control response.  Under vd->lock. */
static void vargo_on_ctrl(struct vargo_dev *vd, const struct va_hdr *h,
			  const void *body, u32 body_len)
{
	u32 token = va_le32_to_cpu(h->token);

	if (!vd->ctrl_waiting || h->msg_id != vd->ctrl_msg_id ||
	    token != vd->ctrl_token) {
		/* A reply that came after its call timed out is not a
		 * violation; one to a call never made is.
		 */
		if (token && token <= vd->ctrl_token)
			vd->stats.stale++;
		else
			vargo_violation(vd, "unexpected control reply", -ENOENT);
		return;
	}
	vd->ctrl_session = va_le32_to_cpu(h->session);
	vd->last_heard = jiffies;
	if (h->flags & VA_F_ERROR) {
		vd->ctrl_err = va_error_reply_errno(body, body_len);
		if (vd->ctrl_err == -ESTALE &&
		    vd->ctrl_session != vd->dev_session &&
		    h->msg_id != VA_MSG_DEVICE_INFO)
			vargo_foreign_session(vd, vd->ctrl_session);
	} else if (body_len > sizeof(vd->ctrl_body)) {
		vd->ctrl_err = -EPROTO;
	} else {
		memcpy(vd->ctrl_body, body, body_len);
		vd->ctrl_len = body_len;
	}
	vd->ctrl_waiting = false;
	complete(&vd->ctrl_done);
}

/* A record that is not a reply.  Under vd->lock. */
static void vargo_on_event(struct vargo_dev *vd, const struct va_hdr *h,
			   const void *body, u32 body_len, bool *config_changed)
{
	u32 session = va_le32_to_cpu(h->session);

	switch (h->msg_id) {
	case VA_MSG_HELLO:
		if (body_len != sizeof(struct va_hello)) {
			vargo_violation(vd, "bad HELLO", -EBADMSG);
			return;
		}
		if (session != vd->dev_session)
			vargo_foreign_session(vd, session);
		return;
	case VA_MSG_EVENT_CONFIG: {
		const struct va_event_config *ev = body;

		if (body_len != sizeof(*ev)) {
			vargo_violation(vd, "bad EVENT_CONFIG", -EBADMSG);
			return;
		}
		if (session != vd->dev_session) {
			vargo_foreign_session(vd, session);
			return;
		}
		WRITE_ONCE(vd->generation, va_le32_to_cpu(ev->generation));
		vd->config_stale = true;
		*config_changed = true;
		return;
	}
	default:
		vargo_violation(vd, "unexpected record", -EBADMSG);
	}
}

/* State of one vargo_rx() call, passed through vargo_msg_walk(). */
struct vargo_rx_state {
	struct vargo_dev *vd;
	u64 kicked;			/* queues with new used entries */
	bool config_changed;
};

static void vargo_on_record(void *ctx, const struct va_hdr *h,
			    const void *body, u32 body_len)
{
	struct vargo_rx_state *rs = ctx;
	struct vargo_dev *vd = rs->vd;
	u64 *kicked = &rs->kicked;
	bool *config_changed = &rs->config_changed;

	/* vargo_msg_walk() let only known flags through. */
	if (!(h->flags & VA_F_RESPONSE)) {
		vargo_on_event(vd, h, body, body_len, config_changed);
		return;
	}
	if (h->msg_id == VA_MSG_RESPONSE)
		vargo_on_response(vd, h, body, body_len, kicked);
	else if (h->msg_id == VA_MSG_REQUEST && (h->flags & VA_F_ERROR))
		vargo_on_request_error(vd, h, body, body_len, kicked);
	else
		vargo_on_ctrl(vd, h, body, body_len);
}

/* vd->vqs[] entries are cleared before their queue is freed and cb_lock
 * is then taken once (vargo_del_vqs), so a pointer read here stays valid.
 */
void vargo_interrupts(struct vargo_dev *vd, u64 kicked)
{
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&vd->cb_lock, flags);
	for (i = 0; i < VA_MAX_QUEUES; i++)
		if ((kicked & (1ull << i)) && vd->vqs[i])
			vring_interrupt(0, vd->vqs[i]->vq);
	spin_unlock_irqrestore(&vd->cb_lock, flags);
}

/*
 * One Argo message for this device's ring.  Called by the argo core for
 * each message, in order, under the ring's spinlock with interrupts off:
 * from its work item, or from vargo_kick_polled() through
 * vargo_argo_ring_poll().  Nothing here calls the driver: the queues to
 * interrupt and a config change are noted for vargo_rx_flush().
 */
void vargo_rx(void *priv, u16 src_domid, u32 src_port, u32 type,
	      const void *data, u32 len)
{
	struct vargo_dev *vd = priv;
	struct vargo_rx_state rs = { .vd = vd };
	unsigned long flags;

	if (va_check_msg_type(type) ||
	    src_domid != vd->domid || src_port != vd->port) {
		spin_lock_irqsave(&vd->lock, flags);
		vd->stats.dropped++;
		spin_unlock_irqrestore(&vd->lock, flags);
		return;
	}

	spin_lock_irqsave(&vd->lock, flags);
	if (vargo_msg_walk(data, len, vargo_on_record, &rs) < 0)
		vargo_violation(vd, "malformed message", -EBADMSG);
	vd->rx_kicked |= rs.kicked;
	vd->rx_config_changed |= rs.config_changed;
	spin_unlock_irqrestore(&vd->lock, flags);
}

/*
 * What vargo_rx() left for process context: free completed requests, call
 * the callbacks of the queues it filled, tell the driver of a config
 * change.  Not under vd->lock; not in atomic context.
 */
void vargo_rx_flush(struct vargo_dev *vd)
{
	unsigned long flags;
	bool config_changed;
	u64 kicked;

	spin_lock_irqsave(&vd->lock, flags);
	kicked = vd->rx_kicked;
	config_changed = vd->rx_config_changed;
	vd->rx_kicked = 0;
	vd->rx_config_changed = false;
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	vargo_deliver(vd, kicked);
	if (config_changed && vd->registered)
		virtio_config_changed(&vd->vdev);
}

/* The argo core consumed messages of our ring (its work item). */
void vargo_rx_drained(void *priv)
{
	vargo_rx_flush(priv);
}
