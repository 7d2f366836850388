/* SPDX-License-Identifier: MIT */
/*
 * libva-guest, the data path: submitting and sending requests (replayed
 * in order after a restart), processing, and va_loop integration.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "guest-priv.h"

/* ---- data path ---- */

static void loop_flush(struct va_loop *loop, void *opaque);

uint32_t va_guest_max_in(const struct va_guest *g)
{
	uint32_t cap = va_argo_ring_max_payload(va_ring_len(g->ring));
	uint32_t over = sizeof(struct va_hdr) + sizeof(struct va_response);

	return cap > over ? cap - over : 0;
}

uint32_t va_guest_max_out(const struct va_guest *g, unsigned int nr_in)
{
	uint64_t fixed = sizeof(struct va_request) + 4ull * nr_in;
	uint64_t body = g->info.max_request;
	uint64_t span = g->tx_limit > sizeof(struct va_hdr) + 8 ?
			g->tx_limit - sizeof(struct va_hdr) - 8 : 0;

	if (span < body)
		body = span;
	return body > fixed ? (uint32_t)(body - fixed) : 0;
}

/*
 * A request record for out and in: the body (va_request, the in sizes,
 * the out bytes) is written now, the header at each send (the session may
 * change).  NULL: no memory.
 */
static struct greq *req_build(const struct iovec *out, unsigned int nout,
			      uint64_t out_len, const struct iovec *in,
			      unsigned int nin, uint64_t in_len)
{
	struct va_request rq = { 0 };
	struct greq *r;
	uint8_t *p;
	unsigned int i;

	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->body_len = (uint32_t)(sizeof(rq) + 4u * nin + out_len);
	r->rec = malloc(va_rec_span(r->body_len));
	r->in = nin ? malloc(nin * sizeof(*in)) : NULL;
	if (!r->rec || (nin && !r->in)) {
		vg_req_free(r);
		return NULL;
	}
	r->body = r->rec + sizeof(struct va_hdr);
	memset(r->body + r->body_len, 0,
	       va_rec_span(r->body_len) - sizeof(struct va_hdr) - r->body_len);
	rq.out_len = va_cpu_to_le32((uint32_t)out_len);
	rq.in_len = va_cpu_to_le32((uint32_t)in_len);
	rq.nr_in = va_cpu_to_le16((uint16_t)nin);
	p = r->body;
	memcpy(p, &rq, sizeof(rq));
	p += sizeof(rq);
	for (i = 0; i < nin; i++) {
		va_le32 s = va_cpu_to_le32((uint32_t)in[i].iov_len);

		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
	}
	for (i = 0; i < nout; i++) {
		if (out[i].iov_len)
			memcpy(p, out[i].iov_base, out[i].iov_len);
		p += out[i].iov_len;
	}
	if (nin)
		memcpy(r->in, in, nin * sizeof(*in));
	r->nin = nin;
	r->in_len = (uint32_t)in_len;
	return r;
}

/* Gives r a free slot of q and an id, and appends it to the list. */
static void req_enqueue(struct va_guest *g, struct gqueue *q, uint16_t queue,
			struct greq *r)
{
	uint32_t slot;

	/* A free slot exists: inflight < size. */
	for (slot = 0; q->slots[slot]; slot++)
		;
	q->seq++;
	r->slot = (uint16_t)slot;
	r->id = ((uint32_t)q->seq << 16) | slot;
	r->queue = queue;
	q->slots[slot] = r;
	q->inflight++;
	r->prev = g->tail;
	if (g->tail)
		g->tail->next = r;
	else
		g->head = r;
	g->tail = r;
	if (!g->unsent)
		g->unsent = r;
}

int64_t va_guest_submit(struct va_guest *g, uint16_t queue,
			const struct iovec *out, unsigned int nout,
			const struct iovec *in, unsigned int nin,
			va_guest_done_cb cb, void *opaque)
{
	uint64_t out_len = 0, in_len = 0;
	struct gqueue *q;
	struct greq *r;
	unsigned int i;

	if (g->state == G_BROKEN)
		return -EIO;
	if (queue >= g->nq || nin > VA_MAX_IN_SEGS || (nout && !out) ||
	    (nin && !in))
		return -EINVAL;
	q = &g->q[queue];
	if (q->inflight >= q->size)
		return -ENOSPC;
	for (i = 0; i < nout; i++)
		out_len += out[i].iov_len;
	for (i = 0; i < nin; i++)
		in_len += in[i].iov_len;
	if (out_len > va_guest_max_out(g, nin) || in_len > va_guest_max_in(g))
		return -EMSGSIZE;

	r = req_build(out, nout, out_len, in, nin, in_len);
	if (!r)
		return -ENOMEM;
	r->cb = cb;
	r->opaque = opaque;
	req_enqueue(g, q, queue, r);
	g->st.submitted++;
	if (g->loop)
		va_loop_defer(g->loop, loop_flush, g);
	return r->id;
}

/* Writes the header of r's record for the current session. */
static void req_frame(const struct va_guest *g, struct greq *r)
{
	struct va_hdr h = {
		.msg_id = VA_MSG_REQUEST,
		.queue = va_cpu_to_le16(r->queue),
		.session = va_cpu_to_le32(g->session),
		.token = va_cpu_to_le32(r->id),
		.len = va_cpu_to_le32(r->body_len),
	};

	memcpy(r->rec, &h, sizeof(h));
}

/*
 * Sends the unsent requests in order, as many per message as fit the
 * device's ring (tx_limit) and VA_ARGO_MAX_IOV iovecs: each large record
 * is one iovec of its own, each run of small ones one iovec into g->tx.
 */
int va_guest_flush(struct va_guest *g)
{
	struct iovec iov[VA_ARGO_MAX_IOV], body;
	size_t off[VA_ARGO_MAX_IOV];	/* run's offset in g->tx, or SIZE_MAX */
	unsigned int niov, i;
	struct greq *r, *stop;
	size_t total, span;
	bool in_run;
	ssize_t s;
	int ret;

	while (g->state == G_READY && !g->tx_blocked && g->unsent) {
		va_batch_reset(&g->tx);
		niov = 0;
		total = 0;
		in_run = false;
		for (r = g->unsent; r; r = r->next) {
			span = va_rec_span(r->body_len);
			if (total + span > g->tx_limit) {
				if (total)
					break;
				return -EMSGSIZE;
			}
			if (span >= GATHER_MIN) {
				if (niov == VA_ARGO_MAX_IOV)
					break;
				req_frame(g, r);
				off[niov] = SIZE_MAX;
				iov[niov].iov_base = r->rec;
				iov[niov].iov_len = span;
				niov++;
				in_run = false;
			} else {
				if (!in_run) {
					if (niov == VA_ARGO_MAX_IOV)
						break;
					off[niov] = g->tx.len;
					iov[niov].iov_len = 0;
					niov++;
					in_run = true;
				}
				body.iov_base = r->body;
				body.iov_len = r->body_len;
				ret = va_batch_add(&g->tx, VA_MSG_REQUEST, 0, r->queue,
						   g->session, r->id, &body, 1);
				if (ret < 0)
					return ret;
				iov[niov - 1].iov_len += span;
			}
			total += span;
		}
		/* g->tx may have moved while it grew: offsets to pointers. */
		for (i = 0; i < niov; i++)
			if (off[i] != SIZE_MAX)
				iov[i].iov_base = g->tx.buf + off[i];
		stop = r;
		s = vg_send_iov(g, iov, niov);
		if (s == -EAGAIN) {
			g->tx_blocked = true;
			return 0;
		}
		if (s == -ECONNREFUSED) {
			vg_go_down(g);
			return 0;
		}
		if (s < 0)
			return va_log_errno(VA_LOG_WARN, (int)s,
					    "guest: port %#x: sendv", g->opts.port);
		g->unsent = stop;
	}
	return 0;
}

/* ---- processing ---- */

int va_guest_fd(const struct va_guest *g)
{
	return va_argo_fd(g->argo);
}

int va_guest_timeout_ms(const struct va_guest *g)
{
	uint64_t now;

	if (g->state != G_DOWN || !g->retry_at)
		return -1;
	now = va_now_ms();
	return g->retry_at <= now ? 0 : (int)(g->retry_at - now);
}

int va_guest_process(struct va_guest *g)
{
	vg_drain(g);
	if (g->state == G_DOWN && g->retry_at && va_now_ms() >= g->retry_at) {
		g->retry_at = 0;
		vg_probe_loop(g);
	}
	if (g->state != G_BROKEN && vg_need_reneg(g)) {
		g->retry_at = 0;
		g->backoff = BACKOFF_MIN_MS;
		vg_probe_loop(g);
	}
	if (g->state == G_BROKEN)
		return -EIO;
	g->tx_blocked = false;
	va_guest_flush(g);
	if (g->config_pending) {
		g->config_pending = false;
		if (g->config_cb)
			g->config_cb(g, g->config_opaque);
	}
	return g->state == G_BROKEN ? -EIO : 0;
}

int va_guest_run(struct va_guest *g, int timeout_ms)
{
	struct pollfd pfd = { .fd = va_argo_fd(g->argo), .events = POLLIN };
	int t = va_guest_timeout_ms(g);

	if (t < 0 || (timeout_ms >= 0 && timeout_ms < t))
		t = timeout_ms;
	va_guest_flush(g);
	if (poll(&pfd, 1, t) < 0 && errno != EINTR)
		return -errno;
	return va_guest_process(g);
}

/* ---- va_loop integration ---- */

static void loop_rearm(struct va_guest *g);

static void loop_timer(struct va_loop *loop, void *opaque)
{
	struct va_guest *g = opaque;

	g->timer = NULL;
	va_guest_process(g);
	loop_rearm(g);
}

static void loop_rearm(struct va_guest *g)
{
	int t = va_guest_timeout_ms(g);

	if (t < 0 || g->timer)
		return;
	if (va_loop_add_timer(g->loop, (uint64_t)t, loop_timer, g,
			      &g->timer) < 0)
		g->timer = NULL;
}

static void loop_fd(struct va_loop *loop, int fd, uint32_t events,
		    void *opaque)
{
	struct va_guest *g = opaque;

	va_guest_process(g);
	loop_rearm(g);
}

static void loop_flush(struct va_loop *loop, void *opaque)
{
	struct va_guest *g = opaque;

	va_guest_flush(g);
	loop_rearm(g);
}

int va_guest_attach_loop(struct va_guest *g, struct va_loop *loop)
{
	int r;

	if (g->loop)
		return -EBUSY;
	r = va_loop_add_fd(loop, va_argo_fd(g->argo), EPOLLIN, loop_fd, g);
	if (r < 0)
		return r;
	g->loop = loop;
	loop_rearm(g);
	return 0;
}

