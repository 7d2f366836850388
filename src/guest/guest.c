/* SPDX-License-Identifier: MIT */
/*
 * libva-guest: the driver side of virtio-argo (see guest.h for the model).
 *
 * State machine:
 *
 *   PROBING  a negotiation is running (control calls wait synchronously)
 *   READY    negotiated with device session dev_session; data flows
 *   DOWN     backend ring gone or not answering: requests are kept, a
 *            DEVICE_INFO probe is retried with backoff, HELLO probes at once
 *   BROKEN   the device violated the protocol persistently or the
 *            renegotiation was refused: every request fails with -EIO
 *
 * Requests: every request in flight is on one list in submission order.
 * Requests not yet sent in the current device session are a suffix of
 * that list, starting at g->unsent; sending goes in list order, a restart
 * moves g->unsent back to the head, so a replay resends everything in
 * flight in the original order and with the same ids.  A request leaves
 * the list only when a RESPONSE or an error reply for it arrives from the
 * negotiated session, when the device is broken, or at va_guest_free().
 *
 * Request ids: (seq << 16) | slot, slot < queue size <= 32768, so a
 * response's id is checked in O(1) against the slot table of its queue.
 *
 * Sessions: a record carrying a session that is neither the negotiated one
 * nor an earlier one (a short history) announces a new backend; records of
 * earlier sessions are stale and dropped.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/random.h>

#include "guest-priv.h"

/* ---- helpers ---- */

const char *va_guest_device_name(uint32_t device_id)
{
	switch (device_id) {
	case 1:
		return "net";
	case 2:
		return "blk";
	case 3:
		return "console";
	case 0x7f00:
		return "test";
	default:
		return "unknown";
	}
}

bool vg_session_is_old(const struct va_guest *g, uint32_t s)
{
	unsigned int i;

	for (i = 0; i < OLD_SESSIONS; i++)
		if (g->old[i] == s)
			return true;
	return false;
}

void vg_session_retire(struct va_guest *g, uint32_t s)
{
	if (!s || vg_session_is_old(g, s))
		return;
	g->old[g->old_next] = s;
	g->old_next = (g->old_next + 1) % OLD_SESSIONS;
}

static uint32_t new_session(uint32_t avoid)
{
	uint32_t s = 0;

	while (s == 0 || s == avoid) {
		if (getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = (uint32_t)va_now_ms() * 2654435761u;
	}
	return s;
}

bool vg_need_reneg(const struct va_guest *g)
{
	return g->seen_session && g->seen_session != g->dev_session &&
	       !vg_session_is_old(g, g->seen_session);
}

static void schedule_retry(struct va_guest *g)
{
	g->retry_at = va_now_ms() + g->backoff;
	g->backoff = g->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
						       g->backoff * 2;
}

void vg_go_down(struct va_guest *g)
{
	if (g->state == G_BROKEN)
		return;
	if (g->state != G_DOWN)
		va_notice("guest: port %#x: backend dom%u unreachable, waiting",
			  g->opts.port, g->opts.backend_domid);
	g->state = G_DOWN;
	if (!g->retry_at)
		schedule_retry(g);
}

/* ---- request bookkeeping ---- */

static void req_unlink(struct va_guest *g, struct greq *r)
{
	struct gqueue *q = &g->q[r->queue];

	if (g->unsent == r)
		g->unsent = r->next;
	if (r->prev)
		r->prev->next = r->next;
	else
		g->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		g->tail = r->prev;
	q->slots[r->slot] = NULL;
	q->inflight--;
}

void vg_req_free(struct greq *r)
{
	free(r->rec);
	free(r->in);
	free(r);
}

void vg_req_finish(struct va_guest *g, struct greq *r, int result)
{
	va_guest_done_cb cb = r->cb;
	void *opaque = r->opaque;
	uint32_t id = r->id;

	req_unlink(g, r);
	vg_req_free(r);
	if (result >= 0)
		g->st.completed++;
	else
		g->st.failed++;
	if (cb)
		cb(g, id, result, opaque);
}

static void fail_all(struct va_guest *g, int err)
{
	while (g->head)
		vg_req_finish(g, g->head, err);
}

void vg_mark_broken(struct va_guest *g, const char *why)
{
	if (g->state == G_BROKEN)
		return;
	va_err("guest: port %#x: device on dom%u broken: %s", g->opts.port,
	       g->opts.backend_domid, why);
	g->state = G_BROKEN;
	fail_all(g, -EIO);
}

void vg_violation(struct va_guest *g, const char *what)
{
	g->st.violations++;
	va_log_ratelimited(&g->rl, VA_LOG_WARN,
			   "guest: port %#x: dropped record from dom%u: %s",
			   g->opts.port, g->opts.backend_domid, what);
	if (++g->viol > VA_GUEST_MAX_VIOLATIONS)
		vg_mark_broken(g, "too many protocol violations");
}

/* ---- life cycle ---- */

int va_guest_open(const struct va_guest_opts *opts, struct va_guest **ret)
{
	uint32_t len = opts->ring_len ? opts->ring_len : VA_RING_LEN_DEFAULT;
	struct va_guest *g;
	uint64_t deadline;
	int r;

	if (!opts->argo || !va_ring_len_ok(len))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->opts = *opts;
	if (!g->opts.local_port)
		g->opts.local_port = g->opts.port;
	if (!g->opts.timeout_ms)
		g->opts.timeout_ms = VA_GUEST_TIMEOUT_DEFAULT_MS;
	g->argo = opts->argo;
	g->session = new_session(0);
	/* Control tokens start at random so that a stray reply is unlikely
	 * to match the one call waiting. */
	g->ctrl_token = new_session(0);
	g->backoff = BACKOFF_MIN_MS;
	g->rl = (struct va_ratelimit)VA_RATELIMIT_INIT(1000, 10);
	va_batch_init(&g->ctrl_tx, CTRL_BUF + 64);
	va_batch_init(&g->tx, 0);
	g->state = G_DOWN;

	r = va_argo_register_ring(g->argo, g->opts.local_port,
				  opts->backend_domid, len,
				  &g->ring);
	if (r < 0)
		goto fail;
	deadline = va_now_ms() + g->opts.timeout_ms;
	for (;;) {
		r = vg_probe_loop(g);
		if (r == 0 || !opts->wait_for_backend ||
		    (r != -ECONNREFUSED && r != -ETIMEDOUT && r != -ESTALE))
			break;
		/* Wait for HELLO or the retry timer, within the deadline. */
		while (g->state == G_DOWN && !vg_need_reneg(g) &&
		       va_now_ms() < deadline) {
			struct pollfd pfd = { .fd = va_argo_fd(g->argo),
					      .events = POLLIN };
			uint64_t left = deadline - va_now_ms();
			int t = va_guest_timeout_ms(g);

			if (t < 0 || (uint64_t)t > left)
				t = (int)left;
			poll(&pfd, 1, t);
			vg_drain(g);
			if (g->retry_at && va_now_ms() >= g->retry_at)
				break;
		}
		g->retry_at = 0;
		if (va_now_ms() >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
	}
	if (r < 0)
		goto fail;
	*ret = g;
	return 0;
fail:
	va_guest_free(g);
	return r;
}

void va_guest_free(struct va_guest *g)
{
	unsigned int i;
	uint8_t st;

	if (!g)
		return;
	if (g->loop) {
		va_loop_cancel_timer(g->loop, g->timer);
		va_loop_del_fd(g->loop, va_argo_fd(g->argo));
		g->loop = NULL;
	}
	fail_all(g, -ECANCELED);
	if (g->state == G_READY) {
		g->opts.timeout_ms = 500;
		vg_set_status(g, 0, &st);
	}
	va_argo_unregister_ring(g->ring);
	for (i = 0; i < VA_MAX_QUEUES; i++)
		free(g->q[i].slots);
	va_batch_free(&g->tx);
	va_batch_free(&g->ctrl_tx);
	free(g->rxbuf);
	free(g);
}

void va_guest_set_config_cb(struct va_guest *g, va_guest_config_cb cb,
			    void *opaque)
{
	g->config_cb = cb;
	g->config_opaque = opaque;
}

void va_guest_set_user(struct va_guest *g, void *user)
{
	g->user = user;
}

void *va_guest_user(const struct va_guest *g)
{
	return g->user;
}

const struct va_guest_devinfo *va_guest_devinfo(const struct va_guest *g)
{
	return &g->info;
}

uint64_t va_guest_offered(const struct va_guest *g)
{
	return g->offered;
}

uint64_t va_guest_features(const struct va_guest *g)
{
	return g->features;
}

uint16_t va_guest_num_queues(const struct va_guest *g)
{
	return g->nq;
}

uint32_t va_guest_queue_size(const struct va_guest *g, uint16_t queue)
{
	return queue < g->nq ? g->q[queue].size : 0;
}

uint32_t va_guest_queue_max(const struct va_guest *g, uint16_t queue)
{
	return queue < g->nq ? g->q[queue].max : 0;
}

bool va_guest_broken(const struct va_guest *g)
{
	return g->state == G_BROKEN;
}

bool va_guest_ready(const struct va_guest *g)
{
	return g->state == G_READY;
}

unsigned int va_guest_inflight(const struct va_guest *g, uint16_t queue)
{
	return queue < g->nq ? g->q[queue].inflight : 0;
}

void va_guest_get_stats(const struct va_guest *g, struct va_guest_stats *ret)
{
	*ret = g->st;
}

uint32_t va_guest_session(const struct va_guest *g)
{
	return g->session;
}

uint32_t va_guest_device_session(const struct va_guest *g)
{
	return g->dev_session;
}

