/* SPDX-License-Identifier: MIT */
/*
 * libva-guest, control calls: one synchronous call at a time, the
 * negotiation (probe), and the public control helpers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest-priv.h"

/* ---- control calls ---- */

ssize_t vg_send_iov(struct va_guest *g, const struct iovec *iov,
		    unsigned int niov)
{
	ssize_t r;

	r = va_argo_sendv(g->argo, g->opts.local_port, g->opts.backend_domid,
			  g->opts.port, iov, niov, VA_ARGO_MSG_TYPE);
	if (r >= 0)
		g->st.messages_sent++;
	else if (r == -EAGAIN)
		g->st.eagain++;
	else if (r == -ECONNREFUSED)
		g->st.refused++;
	return r;
}

static ssize_t send_batch(struct va_guest *g, const struct va_batch *b)
{
	struct iovec iov = { .iov_base = b->buf, .iov_len = b->len };

	return vg_send_iov(g, &iov, 1);
}

/*
 * Send one control record and wait for its reply.  The reply body is left
 * in g->ctrl_body/ctrl_len.  Returns 0, the errno of an error reply,
 * -ESTALE when the reply came from another device session, -ETIMEDOUT,
 * -ECONNREFUSED, -EIO (broken).
 */
static int ctrl_call(struct va_guest *g, uint8_t msg_id, uint16_t queue,
		     const struct iovec *body, unsigned int niov)
{
	uint64_t deadline = va_now_ms() + g->opts.timeout_ms;
	ssize_t s;
	int r;

	if (g->state == G_BROKEN)
		return -EIO;
	va_batch_reset(&g->ctrl_tx);
	g->ctrl_token++;
	r = va_batch_add(&g->ctrl_tx, msg_id, 0, queue, g->session,
			 g->ctrl_token, body, niov);
	if (r < 0)
		return r;
	g->ctrl_msg = msg_id;
	g->ctrl_got = false;
	for (;;) {
		s = send_batch(g, &g->ctrl_tx);
		if (s >= 0)
			break;
		if (s != -EAGAIN) {
			g->ctrl_msg = 0;
			return (int)s;
		}
		r = vg_wait_fd(g, deadline);
		if (r < 0) {
			g->ctrl_msg = 0;
			return r;
		}
		vg_drain(g);
	}
	for (;;) {
		vg_drain(g);
		if (g->ctrl_got || g->state == G_BROKEN)
			break;
		r = vg_wait_fd(g, deadline);
		if (r < 0) {
			g->ctrl_msg = 0;
			return r;
		}
	}
	g->ctrl_msg = 0;
	if (g->state == G_BROKEN)
		return -EIO;
	if (msg_id != VA_MSG_DEVICE_INFO && g->ctrl_session != g->dev_session)
		return -ESTALE;
	if (g->ctrl_flags & VA_F_ERROR) {
		if (g->ctrl_len != sizeof(struct va_error))
			vg_violation(g, "malformed control error reply");
		return va_error_reply_errno(g->ctrl_body, g->ctrl_len);
	}
	return 0;
}

static int ctrl_simple(struct va_guest *g, uint8_t msg_id, uint16_t queue,
		       const void *body, size_t len, void *ret_body,
		       size_t ret_len)
{
	struct iovec iov = { .iov_base = (void *)body, .iov_len = len };
	int r;

	r = ctrl_call(g, msg_id, queue, &iov, len ? 1 : 0);
	if (r < 0)
		return r;
	if (g->ctrl_len != ret_len) {
		vg_violation(g, "control reply of the wrong size");
		return -EPROTO;
	}
	memcpy(ret_body, g->ctrl_body, ret_len);
	return 0;
}

int vg_set_status(struct va_guest *g, uint8_t status, uint8_t *ret)
{
	struct va_status s = { .status = va_cpu_to_le32(status) };
	int r;

	r = ctrl_simple(g, VA_MSG_SET_DEVICE_STATUS, 0, &s, sizeof(s), &s,
			sizeof(s));
	if (r < 0)
		return r;
	if (va_le32_to_cpu(s.status) > 0xff) {
		vg_violation(g, "status out of range");
		return -EPROTO;
	}
	*ret = (uint8_t)va_le32_to_cpu(s.status);
	return 0;
}

static int check_info(struct va_guest *g, const struct va_device_info *d,
		      struct va_guest_devinfo *ret)
{
	const char *why;

	ret->device_id = va_le32_to_cpu(d->device_id);
	ret->vendor_id = va_le32_to_cpu(d->vendor_id);
	ret->version_min = va_le32_to_cpu(d->version_min);
	ret->version_max = va_le32_to_cpu(d->version_max);
	ret->num_queues = va_le16_to_cpu(d->num_queues);
	ret->config_size = va_le32_to_cpu(d->config_size);
	ret->max_queue_size = va_le32_to_cpu(d->max_queue_size);
	ret->device_ring_len = va_le32_to_cpu(d->device_ring_len);
	ret->max_request = va_le32_to_cpu(d->max_request);
	/* The reply is refused whole: protocol.md section 10. */
	why = va_device_info_fault(d);
	if (why) {
		vg_violation(g, why);
		return -EPROTO;
	}
	return 0;
}

/* Make room for `size` slots on queue i (first negotiation only).  A
 * first negotiation that failed after this (-ESTALE, -ETIMEDOUT) is tried
 * again: its empty slot array is replaced, the device's maximum may have
 * changed.  No request has a slot before a negotiation succeeds. */
static int queue_alloc(struct gqueue *q, uint32_t size)
{
	free(q->slots);
	q->size = 0;
	q->slots = calloc(size, sizeof(*q->slots));
	if (!q->slots)
		return -ENOMEM;
	q->size = size;
	return 0;
}

/* DEVICE_INFO: the device's session, identity and ring. */
static int probe_info(struct va_guest *g)
{
	struct va_device_info_req ireq = {
		.driver_ring_len = va_cpu_to_le32(va_ring_len(g->ring)),
	};
	struct va_device_info dinfo;
	struct va_guest_devinfo info;
	int r;

	r = ctrl_simple(g, VA_MSG_DEVICE_INFO, 0, &ireq, sizeof(ireq), &dinfo,
			sizeof(dinfo));
	if (r < 0)
		return r;
	if (g->ctrl_session != g->dev_session) {
		vg_session_retire(g, g->dev_session);
		if (g->seen_session != g->ctrl_session)
			vg_session_retire(g, g->seen_session);
		g->dev_session = g->ctrl_session;
		g->seen_session = g->ctrl_session;
	}
	r = check_info(g, &dinfo, &info);
	if (r < 0)
		return r;
	if (g->negotiated_once) {
		if (info.device_id != g->info.device_id ||
		    info.num_queues < g->nq) {
			vg_mark_broken(g, "a different device after restart");
			return -EIO;
		}
	} else if (g->opts.expect_device_id &&
		   info.device_id != g->opts.expect_device_id) {
		return -ENODEV;
	}
	g->info = info;
	g->tx_limit = va_argo_ring_max_payload(info.device_ring_len);
	va_batch_free(&g->tx);
	va_batch_init(&g->tx, g->tx_limit);
	return 0;
}

/* Reset, ACKNOWLEDGE, DRIVER, then the features up to FEATURES_OK. */
static int probe_features(struct va_guest *g)
{
	struct va_features f = { 0 };
	uint64_t want;
	uint8_t st;
	int r;

	r = vg_set_status(g, 0, &st);
	if (r < 0)
		return r;
	r = vg_set_status(g, VA_STATUS_ACKNOWLEDGE, &st);
	if (r < 0)
		return r;
	r = vg_set_status(g, VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER, &st);
	if (r < 0)
		return r;

	r = ctrl_simple(g, VA_MSG_GET_DEV_FEATURES, 0, &f, sizeof(f), &f,
			sizeof(f));
	if (r < 0)
		return r;
	g->offered = va_le64_to_cpu(f.bits);
	if (!(g->offered & (1ull << VA_F_VERSION_1_BIT))) {
		vg_mark_broken(g, "device does not offer VERSION_1");
		return -EIO;
	}
	if (g->negotiated_once) {
		if ((g->features & g->offered) != g->features) {
			vg_mark_broken(g, "features no longer offered after restart");
			return -EIO;
		}
		want = g->features;
	} else {
		want = (g->offered & g->opts.features_mask) |
		       (1ull << VA_F_VERSION_1_BIT);
	}
	f.block = 0;
	f.bits = va_cpu_to_le64(want);
	r = ctrl_simple(g, VA_MSG_SET_DRV_FEATURES, 0, &f, sizeof(f), &f,
			sizeof(f));
	if (r < 0)
		return r;
	r = vg_set_status(g, VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER |
			  VA_STATUS_FEATURES_OK, &st);
	if (r < 0)
		return r;
	if (!(st & VA_STATUS_FEATURES_OK)) {
		if (g->negotiated_once)
			vg_mark_broken(g, "features refused after restart");
		return -EPROTO;
	}
	g->features = want;
	return 0;
}

/* Queue i: its maximum, then its size (allocated on the first
 * negotiation, the same after a restart), enabled. */
static int probe_queue(struct va_guest *g, unsigned int i)
{
	struct va_vqueue vq;
	uint32_t max, size;
	int r;

	memset(&vq, 0, sizeof(vq));
	vq.index = va_cpu_to_le32(i);
	r = ctrl_simple(g, VA_MSG_GET_VQUEUE, (uint16_t)i, &vq,
			sizeof(vq), &vq, sizeof(vq));
	if (r < 0)
		return r;
	max = va_le32_to_cpu(vq.max_size);
	if (!va_vqueue_max_ok(max)) {
		vg_violation(g, "queue max_size out of range");
		return -EPROTO;
	}
	if (g->negotiated_once) {
		if (g->q[i].size > max) {
			vg_mark_broken(g, "queue smaller after restart");
			return -EIO;
		}
		size = g->q[i].size;
	} else {
		size = g->opts.queue_size && g->opts.queue_size < max ?
		       g->opts.queue_size : max;
		r = queue_alloc(&g->q[i], size);
		if (r < 0)
			return r;
	}
	g->q[i].max = max;
	vq.index = va_cpu_to_le32(i);
	vq.max_size = 0;
	vq.size = va_cpu_to_le32(size);
	vq.enabled = va_cpu_to_le32(1);
	r = ctrl_simple(g, VA_MSG_SET_VQUEUE, (uint16_t)i, &vq,
			sizeof(vq), &vq, sizeof(vq));
	if (r < 0)
		return r;
	if (va_le32_to_cpu(vq.size) != size ||
	    va_le32_to_cpu(vq.enabled) != 1) {
		vg_violation(g, "queue not set up as asked");
		return -EPROTO;
	}
	return 0;
}

/* DRIVER_OK; then every request in flight is marked unsent. */
static int probe_finish(struct va_guest *g)
{
	uint8_t st;
	int r;

	r = vg_set_status(g, VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER |
			  VA_STATUS_FEATURES_OK | VA_STATUS_DRIVER_OK, &st);
	if (r < 0)
		return r;
	if (!(st & VA_STATUS_DRIVER_OK))
		return -EPROTO;

	if (g->negotiated_once) {
		struct greq *rq;

		g->st.renegotiations++;
		/* The config callback tells the user of the new device
		 * (whose state, beyond the replayed requests, is new). */
		g->config_pending = true;
		for (rq = g->head; rq; rq = rq->next)
			g->st.replayed++;
		va_info("guest: port %#x: device on dom%u restarted, "
			"renegotiated, replaying requests", g->opts.port,
			g->opts.backend_domid);
	}
	g->negotiated_once = true;
	g->unsent = g->head;
	g->tx_blocked = false;
	g->state = G_READY;
	g->retry_at = 0;
	g->backoff = BACKOFF_MIN_MS;
	return 0;
}

/*
 * One full negotiation.  On the first, it decides features and queue
 * sizes; on later ones (a restart) it insists on the same.  Then every
 * request in flight is marked unsent, so the next flush replays them.
 */
static int probe(struct va_guest *g)
{
	unsigned int i;
	int r;

	g->state = G_PROBING;
	r = probe_info(g);
	if (r < 0)
		return r;
	r = probe_features(g);
	if (r < 0)
		return r;
	if (!g->negotiated_once) {
		g->nq = g->opts.num_queues &&
			g->opts.num_queues < g->info.num_queues ?
			g->opts.num_queues : g->info.num_queues;
	}
	for (i = 0; i < g->nq; i++) {
		r = probe_queue(g, i);
		if (r < 0)
			return r;
	}
	return probe_finish(g);
}

/* Probe until it succeeds, the backend is unreachable, or broken. */
int vg_probe_loop(struct va_guest *g)
{
	unsigned int round;
	int r = -ESTALE;

	for (round = 0; round < MAX_PROBE_ROUNDS; round++) {
		r = probe(g);
		if (g->state == G_BROKEN)
			return -EIO;
		if (r == 0 && !vg_need_reneg(g))
			return 0;
		if (r == 0 || r == -ESTALE)
			continue;
		break;
	}
	if (r == 0)
		r = -ESTALE;
	if (r == -ECONNREFUSED || r == -ETIMEDOUT || r == -ESTALE ||
	    r == -ENOTRECOVERABLE) {
		vg_go_down(g);
		return r;
	}
	if (g->negotiated_once)
		vg_mark_broken(g, "renegotiation failed");
	else
		g->state = G_DOWN;
	return r;
}

/* ---- public control helpers ---- */

static int ctrl_ready(struct va_guest *g)
{
	if (g->state == G_BROKEN)
		return -EIO;
	if (g->state != G_READY)
		return -ENOTCONN;
	return 0;
}

int va_guest_get_status(struct va_guest *g, uint8_t *ret_status)
{
	struct va_status s;
	int r = ctrl_ready(g);

	if (!r)
		r = ctrl_simple(g, VA_MSG_GET_DEVICE_STATUS, 0, NULL, 0, &s,
				sizeof(s));
	if (r < 0)
		return r;
	*ret_status = (uint8_t)va_le32_to_cpu(s.status);
	return 0;
}

int va_guest_get_config(struct va_guest *g, uint32_t off, void *buf,
			uint32_t size, uint32_t *ret_generation)
{
	struct va_config c = {
		.offset = va_cpu_to_le32(off),
		.size = va_cpu_to_le32(size),
	};
	struct iovec iov = { .iov_base = &c, .iov_len = sizeof(c) };
	int r = ctrl_ready(g);

	if (r < 0)
		return r;
	if (size > VA_MAX_CONFIG_XFER)
		return -EINVAL;
	r = ctrl_call(g, VA_MSG_GET_CONFIG, 0, &iov, 1);
	if (r < 0)
		return r;
	if (g->ctrl_len != sizeof(c) + size) {
		vg_violation(g, "GET_CONFIG reply of the wrong size");
		return -EPROTO;
	}
	memcpy(&c, g->ctrl_body, sizeof(c));
	if (va_le32_to_cpu(c.offset) != off || va_le32_to_cpu(c.size) != size) {
		vg_violation(g, "GET_CONFIG reply for another range");
		return -EPROTO;
	}
	memcpy(buf, g->ctrl_body + sizeof(c), size);
	if (ret_generation)
		*ret_generation = va_le32_to_cpu(c.generation);
	return 0;
}

int va_guest_set_config(struct va_guest *g, uint32_t generation, uint32_t off,
			const void *buf, uint32_t size)
{
	struct va_config c = {
		.generation = va_cpu_to_le32(generation),
		.offset = va_cpu_to_le32(off),
		.size = va_cpu_to_le32(size),
	};
	struct iovec iov[2] = {
		{ .iov_base = &c, .iov_len = sizeof(c) },
		{ .iov_base = (void *)buf, .iov_len = size },
	};
	int r = ctrl_ready(g);

	if (r < 0)
		return r;
	if (size > VA_MAX_CONFIG_XFER)
		return -EINVAL;
	r = ctrl_call(g, VA_MSG_SET_CONFIG, 0, iov, 2);
	if (r < 0)
		return r;
	if (g->ctrl_len != sizeof(c)) {
		vg_violation(g, "SET_CONFIG reply of the wrong size");
		return -EPROTO;
	}
	return 0;
}

int va_guest_get_dev_features(struct va_guest *g, uint32_t block,
			      uint64_t *ret_bits)
{
	struct va_features f = { .block = va_cpu_to_le32(block) };
	int r = ctrl_ready(g);

	if (!r)
		r = ctrl_simple(g, VA_MSG_GET_DEV_FEATURES, 0, &f, sizeof(f),
				&f, sizeof(f));
	if (r < 0)
		return r;
	*ret_bits = va_le64_to_cpu(f.bits);
	return 0;
}

int va_guest_get_vqueue(struct va_guest *g, uint16_t index,
			uint32_t *ret_max, uint32_t *ret_size, bool *ret_enabled)
{
	struct va_vqueue vq = { .index = va_cpu_to_le32(index) };
	int r = ctrl_ready(g);

	if (!r)
		r = ctrl_simple(g, VA_MSG_GET_VQUEUE, index, &vq, sizeof(vq),
				&vq, sizeof(vq));
	if (r < 0)
		return r;
	*ret_max = va_le32_to_cpu(vq.max_size);
	*ret_size = va_le32_to_cpu(vq.size);
	*ret_enabled = va_le32_to_cpu(vq.enabled) != 0;
	return 0;
}

