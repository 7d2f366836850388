/* SPDX-License-Identifier: MIT */
/*
 * libva-guest, receiving: each message of the ring is walked into records;
 * control replies go to the one waiting call, responses to their
 * requests, new device sessions and violations are noted.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "guest-priv.h"

/* ---- receiving ---- */

static void scatter(struct greq *r, const uint8_t *src, uint32_t n)
{
	unsigned int i;

	for (i = 0; i < r->nin && n; i++) {
		size_t k = r->in[i].iov_len < n ? r->in[i].iov_len : n;

		memcpy(r->in[i].iov_base, src, k);
		src += k;
		n -= (uint32_t)k;
	}
}

static struct greq *find_req(struct va_guest *g, uint16_t queue, uint32_t id)
{
	struct gqueue *q;
	uint32_t slot = id & 0xffffu;
	struct greq *r;

	if (queue >= g->nq)
		return NULL;
	q = &g->q[queue];
	if (slot >= q->size)
		return NULL;
	r = q->slots[slot];
	return r && r->id == id ? r : NULL;
}

static bool req_is_sent(const struct va_guest *g, const struct greq *r)
{
	const struct greq *u;

	/* Unsent requests are the suffix starting at g->unsent. */
	for (u = g->unsent; u; u = u->next)
		if (u == r)
			return false;
	return true;
}

static void on_data(struct va_guest *g, const struct va_rec *rec)
{
	struct greq *r = find_req(g, rec->queue, rec->token);
	struct va_response resp;
	struct va_error e;
	uint32_t written;

	/* Answers of the negotiated session are real in every state: while a
	 * (repeated) negotiation with the same session runs, and after the
	 * backend went away (DOWN) with answers still in our ring. */
	if (g->state == G_BROKEN)
		return;
	if (!r || !req_is_sent(g, r)) {
		/*
		 * An error reply to a request id we do not have in flight
		 * answers some other sender in our domain (the device replies
		 * to the domain, not to a process): count, never fatal.  A
		 * RESPONSE to it is a device fault.
		 */
		if (rec->flags & VA_F_ERROR)
			g->st.unmatched++;
		else
			vg_violation(g, "response to an unknown request id");
		return;
	}
	if (rec->flags & VA_F_ERROR) {
		if (rec->msg_id != VA_MSG_REQUEST ||
		    va_rec_body(rec, &e, sizeof(e), true) < 0) {
			vg_violation(g, "malformed error reply");
			return;
		}
		va_log_ratelimited(&g->rl, VA_LOG_WARN,
				   "guest: port %#x: request %#x on queue %u failed: %s",
				   g->opts.port, rec->token, rec->queue,
				   va_err_name(va_le32_to_cpu(e.error)));
		vg_req_finish(g, r, -EIO);
		return;
	}
	if (va_rec_body(rec, &resp, sizeof(resp), false) < 0) {
		vg_violation(g, "short response");
		return;
	}
	written = va_le32_to_cpu(resp.written);
	if (written > r->in_len || rec->len - sizeof(resp) != written) {
		vg_violation(g, "response length mismatch");
		return;
	}
	scatter(r, rec->body + sizeof(resp), written);
	vg_req_finish(g, r, (int)written);
}

static void on_record(struct va_guest *g, const struct va_rec *rec)
{
	struct va_event_config ev;
	bool ctrl_match = g->ctrl_msg && !g->ctrl_got &&
			  (rec->flags & VA_F_RESPONSE) &&
			  rec->msg_id == g->ctrl_msg &&
			  rec->token == g->ctrl_token;

	/* The DEVICE_INFO reply is how a probe learns the device session. */
	if (!(ctrl_match && rec->msg_id == VA_MSG_DEVICE_INFO) &&
	    rec->session != g->dev_session) {
		if (vg_session_is_old(g, rec->session)) {
			g->st.stale++;
			return;
		}
		/* A new backend: renegotiate (process() or the probe). */
		g->seen_session = rec->session;
		if (!ctrl_match)
			return;
	}
	if (ctrl_match) {
		if (rec->len > sizeof(g->ctrl_body)) {
			vg_violation(g, "oversize control reply");
			return;
		}
		memcpy(g->ctrl_body, rec->body, rec->len);
		g->ctrl_len = rec->len;
		g->ctrl_flags = rec->flags;
		g->ctrl_session = rec->session;
		g->ctrl_got = true;
		return;
	}
	if (!(rec->flags & VA_F_RESPONSE)) {
		switch (rec->msg_id) {
		case VA_MSG_HELLO:
			if (rec->len != sizeof(struct va_hello))
				vg_violation(g, "malformed HELLO");
			return;
		case VA_MSG_EVENT_CONFIG:
			if (va_rec_body(rec, &ev, sizeof(ev), true) < 0) {
				vg_violation(g, "malformed EVENT_CONFIG");
				return;
			}
			/* The device gave up on this session (NEEDS_RESET):
			 * nothing in flight will be answered any more. */
			if (va_le32_to_cpu(ev.status) & VA_STATUS_NEEDS_RESET) {
				vg_mark_broken(g, "device needs reset");
				return;
			}
			g->config_pending = true;
			return;
		default:
			vg_violation(g, "unexpected message from the device");
			return;
		}
	}
	if (rec->msg_id == VA_MSG_RESPONSE ||
	    (rec->msg_id == VA_MSG_REQUEST && (rec->flags & VA_F_ERROR))) {
		on_data(g, rec);
		return;
	}
	/* As in on_data: an error reply to someone else's control record. */
	if (rec->flags & VA_F_ERROR)
		g->st.unmatched++;
	else
		vg_violation(g, "unexpected reply");
}

static void on_message(struct va_guest *g, const struct va_ring_msg *m)
{
	uint32_t n = m->n1 + m->n2;
	const uint8_t *p = m->p1;
	struct va_rec_iter it;
	struct va_rec rec;
	int r;

	g->st.messages_received++;
	if (m->hdr.source.domain_id != g->opts.backend_domid ||
	    m->hdr.source.aport != g->opts.port) {
		g->st.dropped_stray++;
		return;
	}
	r = va_check_msg_type(m->hdr.message_type);
	if (r == -EPROTO) {
		g->st.dropped_stray++;
		return;
	}
	if (r < 0) {
		vg_violation(g, "unsupported protocol version");
		return;
	}
	if (m->n2) {
		if (n > g->rxcap) {
			uint8_t *nb = realloc(g->rxbuf, n);

			if (!nb) {
				g->st.violations++;
				return;
			}
			g->rxbuf = nb;
			g->rxcap = n;
		}
		va_ring_msg_copy(m, 0, g->rxbuf, n);
		p = g->rxbuf;
	}
	va_rec_iter_init(&it, p, n);
	while ((r = va_rec_next(&it, &rec)) > 0 && g->state != G_BROKEN)
		on_record(g, &rec);
	if (r < 0)
		vg_violation(g, "malformed record batch");
}

/* Read everything in our ring. */
void vg_drain(struct va_guest *g)
{
	struct va_ring_msg m;
	unsigned int count = 0;
	int r;

	va_argo_ack(g->argo);
	while ((r = va_ring_peek(g->ring, &m)) > 0) {
		on_message(g, &m);
		va_ring_consume(g->ring);
		count++;
	}
	if (r < 0)
		vg_mark_broken(g, "ring corrupt");
	if (count)
		va_argo_notify(g->argo, NULL, 0);
}

int vg_wait_fd(struct va_guest *g, uint64_t deadline)
{
	struct pollfd pfd = { .fd = va_argo_fd(g->argo), .events = POLLIN };
	uint64_t now = va_now_ms();

	if (now >= deadline)
		return -ETIMEDOUT;
	if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

