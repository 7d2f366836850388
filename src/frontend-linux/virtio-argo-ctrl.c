// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: Sending, protocol violations and device sessions, control round trips.
 */
#include "virtio-argo.h"

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

void vargo_fill_hdr(struct vargo_dev *vd, struct va_hdr *h, u8 msg_id,
		    u16 queue, u32 token, u32 len)
{
	h->msg_id = msg_id;
	h->flags = 0;
	h->queue = va_cpu_to_le16(queue);
	h->session = va_cpu_to_le32(vd->session);
	h->token = va_cpu_to_le32(token);
	h->len = va_cpu_to_le32(len);
}

/*
 * Send one message to the device; may sleep: waits for ring space at most
 * VARGO_SEND_TIMEOUT, and not at all once cancel_sends is set.
 */
int vargo_send(struct vargo_dev *vd, const struct kvec *iov,
	       unsigned int niov)
{
	return vargo_argo_sendv_bounded(vd->ring, vd->domid, vd->port, iov, niov,
					VA_ARGO_MSG_TYPE, VARGO_SEND_TIMEOUT,
					&vd->cancel_sends);
}

/*
 * Make the waits of kick_work, reneg_work and probe_work give up: ring
 * space (cancel_sends) and the control reply now awaited.  Under vd->lock;
 * the caller then calls vargo_argo_wake_senders().
 */
void vargo_cancel_waits(struct vargo_dev *vd)
{
	vd->cancel_sends = true;
	if (vd->ctrl_waiting) {
		vd->ctrl_err = -ECANCELED;
		vd->ctrl_waiting = false;
		complete(&vd->ctrl_done);
	}
}

/* ------------------------------------------------------------------ */
/* Violations, sessions                                                */
/* ------------------------------------------------------------------ */

/*
 * Give up on the device for good.  A broken virtqueue delivers no more
 * completions, so kick_work first completes every chain in flight or
 * waiting with an error (failing), then breaks the device.  Under vd->lock.
 */
void vargo_mark_broken(struct vargo_dev *vd, const char *why)
{
	if (vd->broken)
		return;
	vd->broken = true;
	vd->failing = true;
	dev_err_ratelimited(&vd->pdev->dev, "device broken: %s\n", why);
	queue_work(vd->wq, &vd->kick_work);
}

/* The link to the device is down (requests wait).  Under vd->lock. */
void vargo_link_down(struct vargo_dev *vd)
{
	if (vd->link_up)
		vd->down_since = jiffies;
	vd->link_up = false;
}

/*
 * A burst of violations is handled as a backend fault, like a restart:
 * renegotiate (which resets the device) and replay.  At most one pending
 * at a time, and each burst waits twice as long as the one before (from
 * 0 up to VARGO_PROBE_BACKOFF_MAX; after VARGO_RECOVER_QUIET without a burst
 * from 0 again), so that a peer sending garbage cannot keep the device
 * resetting.  Under vd->lock.
 */
static void vargo_recover(struct vargo_dev *vd)
{
	vd->violations = 0;
	if (!vd->active || vd->stopping || vd->broken ||
	    delayed_work_pending(&vd->reneg_work))
		return;
	if (time_after(jiffies, vd->last_recover + VARGO_RECOVER_QUIET))
		vd->recover_delay = 0;
	vd->last_recover = jiffies;
	vd->stats.recoveries++;
	dev_info_ratelimited(&vd->pdev->dev,
			     "too many protocol violations: renegotiating in %u ms\n",
			     jiffies_to_msecs(vd->recover_delay));
	queue_delayed_work(vd->wq, &vd->reneg_work, vd->recover_delay);
	vd->recover_delay = clamp(vd->recover_delay * 2,
				  (unsigned long)VARGO_PROBE_BACKOFF_MIN,
				  (unsigned long)VARGO_PROBE_BACKOFF_MAX);
}

/* Called with vd->lock held. */
void vargo_violation(struct vargo_dev *vd, const char *what, int err)
{
	vd->stats.violations++;
	dev_warn_ratelimited(&vd->pdev->dev, "dropped reply: %s (%d)\n",
			     what, err);
	if (++vd->violations > VARGO_MAX_VIOLATIONS)
		vargo_recover(vd);
}

static bool vargo_session_is_old(const struct vargo_dev *vd, u32 s)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vd->old_sessions); i++)
		if (vd->old_sessions[i] == s)
			return true;
	return false;
}

/*
 * Stop sending and renegotiate after delay.  Under vd->lock; nothing is
 * queued once the device is being torn down (vargo_dev_destroy).
 */
void vargo_schedule_reneg(struct vargo_dev *vd, unsigned long delay)
{
	vargo_link_down(vd);
	if (!vd->stopping)
		mod_delayed_work(vd->wq, &vd->reneg_work, delay);
}

/* A record carried a device session we did not negotiate with: either an
 * old one (drop) or a restarted backend (renegotiate).  Under vd->lock.
 */
void vargo_foreign_session(struct vargo_dev *vd, u32 s)
{
	if (s == 0 || vargo_session_is_old(vd, s)) {
		vd->stats.stale++;
		return;
	}
	if (vd->active)
		vargo_schedule_reneg(vd, 0);
	else if (!vd->stopping)
		mod_delayed_work(system_long_wq, &vd->probe_work, 0);
}

/* ------------------------------------------------------------------ */
/* Control round trips                                                 */
/* ------------------------------------------------------------------ */

/* Replies the device may hold as a fence wait longer (docs/protocol.md 11.1). */
static unsigned long vargo_ctrl_timeout(u8 msg_id, const void *req,
					u32 req_len)
{
	if (msg_id == VA_MSG_DEVICE_INFO || msg_id == VA_MSG_RESET_VQUEUE ||
	    (msg_id == VA_MSG_SET_DEVICE_STATUS &&
	     req_len >= sizeof(struct va_status) &&
	     !va_le32_to_cpu(((const struct va_status *)req)->status)))
		return VARGO_FENCE_TIMEOUT;
	return VARGO_CTRL_TIMEOUT;
}

/*
 * Take the control slot for msg_id (ctrl_lock held): *token is the
 * request's token, *stopping whether the device is being torn down.
 * False if a stopping device already failed to answer.
 */
static bool vargo_ctrl_claim(struct vargo_dev *vd, u8 msg_id, bool *stopping,
			     unsigned long *timeout, u32 *token)
{
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	/*
	 * Tearing down, or a device unreachable for hold_s seconds (failing: its
	 * requests are being completed with errors): nothing waits for the
	 * device's fences any more, and once a stopping device has not
	 * answered, the rest is not even asked.
	 */
	*stopping = vd->stopping;
	if (*stopping || vd->failing)
		*timeout = VARGO_CTRL_TIMEOUT;
	if (*stopping && vd->ctrl_gone) {
		spin_unlock_irqrestore(&vd->lock, flags);
		return false;
	}
	*token = ++vd->ctrl_token;
	vd->ctrl_msg_id = msg_id;
	vd->ctrl_waiting = true;
	vd->ctrl_err = 0;
	vd->ctrl_len = 0;
	reinit_completion(&vd->ctrl_done);
	spin_unlock_irqrestore(&vd->lock, flags);
	return true;
}

/*
 * Give the control slot back after a round trip that ended with err (a
 * send or wait failure, else the reply's): returns the round trip's
 * result; on success the reply's body (at most resp_max bytes) is in resp
 * and its length in *ret_len.  Checks the reply's session.
 */
static int vargo_ctrl_release(struct vargo_dev *vd, u8 msg_id, bool stopping,
			      int err, void *resp, u32 resp_max, u32 *ret_len)
{
	unsigned long flags;
	u32 session, len;

	spin_lock_irqsave(&vd->lock, flags);
	vd->ctrl_waiting = false;
	session = vd->ctrl_session;
	len = vd->ctrl_len;
	if (err >= 0)
		err = vd->ctrl_err;
	if (stopping && (err == -ETIMEDOUT || err == -ECANCELED))
		vd->ctrl_gone = true;
	if (!err && session != vd->dev_session) {
		if (msg_id != VA_MSG_DEVICE_INFO) {
			err = -ESTALE;
		} else {
			/* DEVICE_INFO (re)binds us to the device's session. */
			if (vd->dev_session)
				vd->old_sessions[vd->nr_old++ %
						 ARRAY_SIZE(vd->old_sessions)] =
					vd->dev_session;
			vd->dev_session = session;
		}
	}
	if (!err && resp)
		memcpy(resp, vd->ctrl_body, min(len, resp_max));
	spin_unlock_irqrestore(&vd->lock, flags);
	*ret_len = len;
	return err;
}

/*
 * One control request and its response.  resp receives at most resp_max
 * body bytes; *ret_len (if not NULL) the body length.  The response's
 * session is checked against the device session except for DEVICE_INFO,
 * which (re)learns it.  Replies the device may hold as a fence get
 * VARGO_FENCE_TIMEOUT, others VARGO_CTRL_TIMEOUT.
 */
int vargo_ctrl(struct vargo_dev *vd, u8 msg_id, u16 queue, const void *req,
	       u32 req_len, const void *data, u32 data_len, void *resp,
	       u32 resp_max, u32 *ret_len)
{
	unsigned long timeout = vargo_ctrl_timeout(msg_id, req, req_len);
	struct va_hdr h;
	struct kvec iov[3];
	unsigned int niov;
	u32 token, len;
	bool stopping;
	int err;

	mutex_lock(&vd->ctrl_lock);
	if (!vargo_ctrl_claim(vd, msg_id, &stopping, &timeout, &token)) {
		mutex_unlock(&vd->ctrl_lock);
		return -ETIMEDOUT;
	}

	vargo_fill_hdr(vd, &h, msg_id, queue, token, req_len + data_len);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	niov = 1;
	if (req_len) {
		iov[niov].iov_base = (void *)req;
		iov[niov++].iov_len = req_len;
	}
	if (data_len) {
		iov[niov].iov_base = (void *)data;
		iov[niov++].iov_len = data_len;
	}
	err = vargo_send(vd, iov, niov);
	if (err >= 0 &&
	    !wait_for_completion_timeout(&vd->ctrl_done, timeout))
		err = -ETIMEDOUT;

	err = vargo_ctrl_release(vd, msg_id, stopping, err, resp, resp_max,
				 &len);
	mutex_unlock(&vd->ctrl_lock);

	if (!err && ret_len)
		*ret_len = len;
	return err < 0 ? err : 0;
}

/* Control request with a fixed-size response body. */
int vargo_ctrl_fixed(struct vargo_dev *vd, u8 msg_id, u16 queue,
		     const void *req, u32 req_len, void *resp,
		     u32 resp_len)
{
	u32 len;
	int err;

	err = vargo_ctrl(vd, msg_id, queue, req, req_len, NULL, 0, resp,
			 resp_len, &len);
	if (!err && len != resp_len)
		err = -EPROTO;
	return err;
}

int vargo_device_info(struct vargo_dev *vd, struct va_device_info *ret)
{
	struct va_device_info_req req = {
		.driver_ring_len = va_cpu_to_le32(vargo_ring_len),
	};
	const char *why;
	int err;

	err = vargo_ctrl_fixed(vd, VA_MSG_DEVICE_INFO, 0, &req, sizeof(req),
			       ret, sizeof(*ret));
	if (err)
		return err;
	why = va_device_info_fault(ret);
	if (why) {
		dev_info_ratelimited(&vd->pdev->dev, "refused: %s\n", why);
		return -EPROTO;
	}
	return 0;
}

int vargo_set_status_raw(struct vargo_dev *vd, u8 status, u8 *ret_status)
{
	struct va_status req = { .status = va_cpu_to_le32(status) };
	struct va_status resp;
	int err;

	err = vargo_ctrl_fixed(vd, VA_MSG_SET_DEVICE_STATUS, 0, &req, sizeof(req),
			       &resp, sizeof(resp));
	if (!err && ret_status)
		*ret_status = (u8)va_le32_to_cpu(resp.status);
	return err;
}

int vargo_set_features_raw(struct vargo_dev *vd, u64 features)
{
	struct va_features req = {
		.block = 0,
		.bits = va_cpu_to_le64(features),
	};
	struct va_features resp;

	return vargo_ctrl_fixed(vd, VA_MSG_SET_DRV_FEATURES, 0, &req, sizeof(req),
				&resp, sizeof(resp));
}

int vargo_set_vqueue(struct vargo_dev *vd, u16 index, u32 size, bool enable)
{
	struct va_vqueue req = {
		.index = va_cpu_to_le32(index),
		.size = va_cpu_to_le32(size),
		.enabled = va_cpu_to_le32(enable),
	};
	struct va_vqueue resp;

	return vargo_ctrl_fixed(vd, VA_MSG_SET_VQUEUE, index, &req, sizeof(req),
				&resp, sizeof(resp));
}

/* ------------------------------------------------------------------ */
