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
#include <string.h>
#include <sys/random.h>

#include "codec.h"
#include "guest.h"
#include "log.h"

#define OLD_SESSIONS		8u
#define BACKOFF_MIN_MS		50u
#define BACKOFF_MAX_MS		2000u
#define MAX_PROBE_ROUNDS	8u
#define CTRL_BUF		(sizeof(struct va_config) + VA_MAX_CONFIG_XFER)
/*
 * Requests whose record spans at least this are sent from their own block
 * (an iovec of the sendv) instead of being copied into the batch: a large
 * write's bytes are copied once (at submit), not twice.  Smaller records
 * are copied, so that a burst of them still fits one message of at most
 * VA_ARGO_MAX_IOV iovecs.
 */
#define GATHER_MIN		(32u * 1024u)

enum gstate {
	G_PROBING,
	G_READY,
	G_DOWN,
	G_BROKEN,
};

struct greq {
	struct greq *prev, *next;	/* submission order */
	uint32_t id;
	uint16_t queue;
	uint16_t slot;
	uint32_t in_len;
	unsigned int nin;
	struct iovec *in;		/* caller's segments (copied array) */
	uint32_t body_len;
	uint8_t *rec;			/* the framed record: va_hdr, body, padding */
	uint8_t *body;			/* rec + header: va_request + sizes + out */
	va_guest_done_cb cb;
	void *opaque;
};

struct gqueue {
	uint32_t max;
	uint32_t size;			/* negotiated, <= max */
	unsigned int inflight;
	uint16_t seq;
	struct greq **slots;		/* size entries */
};

struct va_guest {
	struct va_guest_opts opts;
	struct va_argo *argo;
	struct va_ring *ring;
	enum gstate state;
	uint32_t session;		/* ours */
	uint32_t dev_session;		/* negotiated with (0: none yet) */
	uint32_t seen_session;		/* newest device session seen */
	uint32_t old[OLD_SESSIONS];
	unsigned int old_next;
	bool negotiated_once;

	struct va_guest_devinfo info;
	uint64_t offered;
	uint64_t features;
	uint16_t nq;
	struct gqueue q[VA_MAX_QUEUES];

	struct greq *head, *tail, *unsent;
	struct va_batch tx;
	size_t tx_limit;
	bool tx_blocked;

	uint64_t retry_at;		/* DOWN: next probe (ms, monotonic) */
	uint32_t backoff;

	/* The one control call that may be waiting. */
	uint32_t ctrl_token;
	uint8_t ctrl_msg;		/* 0: none waiting */
	bool ctrl_got;
	uint8_t ctrl_flags;
	uint32_t ctrl_session;
	uint32_t ctrl_len;
	uint8_t ctrl_body[CTRL_BUF];
	struct va_batch ctrl_tx;

	uint8_t *rxbuf;			/* wrapped messages are copied here */
	size_t rxcap;

	unsigned int viol;
	bool config_pending;
	void *user;
	struct va_loop *loop;		/* attached loop, or NULL */
	struct va_timer *timer;
	va_guest_config_cb config_cb;
	void *config_opaque;
	struct va_guest_stats st;
	struct va_ratelimit rl;
};

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

static int err_to_errno(uint32_t e)
{
	switch (e) {
	case VA_ERR_INVALID:
		return -EINVAL;
	case VA_ERR_UNSUPPORTED:
		return -EOPNOTSUPP;
	case VA_ERR_RANGE:
		return -ERANGE;
	case VA_ERR_STATE:
		return -ESTALE;
	case VA_ERR_VERSION:
		return -EPROTONOSUPPORT;
	case VA_ERR_BUSY:
		return -EBUSY;
	case VA_ERR_NEEDS_RESET:
		return -ENOTRECOVERABLE;
	case VA_ERR_TOO_BIG:
		return -EMSGSIZE;
	default:
		return -EPROTO;
	}
}

static bool session_is_old(const struct va_guest *g, uint32_t s)
{
	unsigned int i;

	for (i = 0; i < OLD_SESSIONS; i++)
		if (g->old[i] == s)
			return true;
	return false;
}

static void session_retire(struct va_guest *g, uint32_t s)
{
	if (!s || session_is_old(g, s))
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

static bool need_reneg(const struct va_guest *g)
{
	return g->seen_session && g->seen_session != g->dev_session &&
	       !session_is_old(g, g->seen_session);
}

static void schedule_retry(struct va_guest *g)
{
	g->retry_at = va_now_ms() + g->backoff;
	g->backoff = g->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
						       g->backoff * 2;
}

static void go_down(struct va_guest *g)
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

static void req_free(struct greq *r)
{
	free(r->rec);
	free(r->in);
	free(r);
}

static void req_finish(struct va_guest *g, struct greq *r, int result)
{
	va_guest_done_cb cb = r->cb;
	void *opaque = r->opaque;
	uint32_t id = r->id;

	req_unlink(g, r);
	req_free(r);
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
		req_finish(g, g->head, err);
}

static void mark_broken(struct va_guest *g, const char *why)
{
	if (g->state == G_BROKEN)
		return;
	va_err("guest: port %#x: device on dom%u broken: %s", g->opts.port,
	       g->opts.backend_domid, why);
	g->state = G_BROKEN;
	fail_all(g, -EIO);
}

static void violation(struct va_guest *g, const char *what)
{
	g->st.violations++;
	va_log_ratelimited(&g->rl, VA_LOG_WARN,
			   "guest: port %#x: dropped record from dom%u: %s",
			   g->opts.port, g->opts.backend_domid, what);
	if (++g->viol > VA_GUEST_MAX_VIOLATIONS)
		mark_broken(g, "too many protocol violations");
}

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
			violation(g, "response to an unknown request id");
		return;
	}
	if (rec->flags & VA_F_ERROR) {
		if (rec->msg_id != VA_MSG_REQUEST ||
		    va_rec_body(rec, &e, sizeof(e), true) < 0) {
			violation(g, "malformed error reply");
			return;
		}
		va_log_ratelimited(&g->rl, VA_LOG_WARN,
				   "guest: port %#x: request %#x on queue %u failed: %s",
				   g->opts.port, rec->token, rec->queue,
				   va_err_name(va_le32_to_cpu(e.error)));
		req_finish(g, r, -EIO);
		return;
	}
	if (va_rec_body(rec, &resp, sizeof(resp), false) < 0) {
		violation(g, "short response");
		return;
	}
	written = va_le32_to_cpu(resp.written);
	if (written > r->in_len || rec->len - sizeof(resp) != written) {
		violation(g, "response length mismatch");
		return;
	}
	scatter(r, rec->body + sizeof(resp), written);
	req_finish(g, r, (int)written);
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
		if (session_is_old(g, rec->session)) {
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
			violation(g, "oversize control reply");
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
				violation(g, "malformed HELLO");
			return;
		case VA_MSG_EVENT_CONFIG:
			if (va_rec_body(rec, &ev, sizeof(ev), true) < 0) {
				violation(g, "malformed EVENT_CONFIG");
				return;
			}
			/* The device gave up on this session (NEEDS_RESET):
			 * nothing in flight will be answered any more. */
			if (va_le32_to_cpu(ev.status) & VA_STATUS_NEEDS_RESET) {
				mark_broken(g, "device needs reset");
				return;
			}
			g->config_pending = true;
			return;
		default:
			violation(g, "unexpected message from the device");
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
		violation(g, "unexpected reply");
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
		violation(g, "unsupported protocol version");
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
		violation(g, "malformed record batch");
}

/* Read everything in our ring. */
static void drain(struct va_guest *g)
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
		mark_broken(g, "ring corrupt");
	if (count)
		va_argo_notify(g->argo, NULL, 0);
}

static int wait_fd(struct va_guest *g, uint64_t deadline)
{
	struct pollfd pfd = { .fd = va_argo_fd(g->argo), .events = POLLIN };
	uint64_t now = va_now_ms();

	if (now >= deadline)
		return -ETIMEDOUT;
	if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

/* ---- control calls ---- */

static ssize_t send_iov(struct va_guest *g, const struct iovec *iov,
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

	return send_iov(g, &iov, 1);
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
	struct va_error e;
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
		r = wait_fd(g, deadline);
		if (r < 0) {
			g->ctrl_msg = 0;
			return r;
		}
		drain(g);
	}
	for (;;) {
		drain(g);
		if (g->ctrl_got || g->state == G_BROKEN)
			break;
		r = wait_fd(g, deadline);
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
		if (g->ctrl_len != sizeof(e)) {
			violation(g, "malformed control error reply");
			return -EPROTO;
		}
		memcpy(&e, g->ctrl_body, sizeof(e));
		return err_to_errno(va_le32_to_cpu(e.error));
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
		violation(g, "control reply of the wrong size");
		return -EPROTO;
	}
	memcpy(ret_body, g->ctrl_body, ret_len);
	return 0;
}

static int set_status(struct va_guest *g, uint8_t status, uint8_t *ret)
{
	struct va_status s = { .status = va_cpu_to_le32(status) };
	int r;

	r = ctrl_simple(g, VA_MSG_SET_DEVICE_STATUS, 0, &s, sizeof(s), &s,
			sizeof(s));
	if (r < 0)
		return r;
	if (va_le32_to_cpu(s.status) > 0xff) {
		violation(g, "status out of range");
		return -EPROTO;
	}
	*ret = (uint8_t)va_le32_to_cpu(s.status);
	return 0;
}

static int check_info(struct va_guest *g, const struct va_device_info *d,
		      struct va_guest_devinfo *ret)
{
	ret->device_id = va_le32_to_cpu(d->device_id);
	ret->vendor_id = va_le32_to_cpu(d->vendor_id);
	ret->version_min = va_le32_to_cpu(d->version_min);
	ret->version_max = va_le32_to_cpu(d->version_max);
	ret->num_queues = va_le16_to_cpu(d->num_queues);
	ret->config_size = va_le32_to_cpu(d->config_size);
	ret->max_queue_size = va_le32_to_cpu(d->max_queue_size);
	ret->device_ring_len = va_le32_to_cpu(d->device_ring_len);
	ret->max_request = va_le32_to_cpu(d->max_request);

	if (ret->version_min > VA_PROTOCOL_VERSION ||
	    ret->version_max < VA_PROTOCOL_VERSION ||
	    ret->num_queues == 0 || ret->num_queues > VA_MAX_QUEUES ||
	    ret->config_size > VA_MAX_CONFIG_SIZE ||
	    ret->max_queue_size == 0 || ret->max_queue_size > VA_MAX_QUEUE_SIZE ||
	    !va_argo_ring_len_valid(ret->device_ring_len) ||
	    ret->max_request < sizeof(struct va_request)) {
		violation(g, "DEVICE_INFO out of range");
		return -EPROTO;
	}
	return 0;
}

/* Make room for `size` slots on queue i (first negotiation only). */
static int queue_alloc(struct gqueue *q, uint32_t size)
{
	q->slots = calloc(size, sizeof(*q->slots));
	if (!q->slots)
		return -ENOMEM;
	q->size = size;
	return 0;
}

/*
 * One full negotiation.  On the first, it decides features and queue
 * sizes; on later ones (a restart) it insists on the same.  Then every
 * request in flight is marked unsent, so the next flush replays them.
 */
static int probe(struct va_guest *g)
{
	struct va_device_info_req ireq = {
		.driver_ring_len = va_cpu_to_le32(va_ring_len(g->ring)),
	};
	struct va_device_info dinfo;
	struct va_guest_devinfo info;
	struct va_features f = { 0 };
	struct va_vqueue vq;
	uint64_t want;
	uint8_t st;
	unsigned int i;
	int r;

	g->state = G_PROBING;
	r = ctrl_simple(g, VA_MSG_DEVICE_INFO, 0, &ireq, sizeof(ireq), &dinfo,
			sizeof(dinfo));
	if (r < 0)
		return r;
	if (g->ctrl_session != g->dev_session) {
		session_retire(g, g->dev_session);
		if (g->seen_session != g->ctrl_session)
			session_retire(g, g->seen_session);
		g->dev_session = g->ctrl_session;
		g->seen_session = g->ctrl_session;
	}
	r = check_info(g, &dinfo, &info);
	if (r < 0)
		return r;
	if (g->negotiated_once) {
		if (info.device_id != g->info.device_id ||
		    info.num_queues < g->nq) {
			mark_broken(g, "a different device after restart");
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

	r = set_status(g, 0, &st);
	if (r < 0)
		return r;
	r = set_status(g, VA_STATUS_ACKNOWLEDGE, &st);
	if (r < 0)
		return r;
	r = set_status(g, VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER, &st);
	if (r < 0)
		return r;

	r = ctrl_simple(g, VA_MSG_GET_DEV_FEATURES, 0, &f, sizeof(f), &f,
			sizeof(f));
	if (r < 0)
		return r;
	g->offered = va_le64_to_cpu(f.bits);
	if (!(g->offered & (1ull << VA_F_VERSION_1_BIT))) {
		mark_broken(g, "device does not offer VERSION_1");
		return -EIO;
	}
	if (g->negotiated_once) {
		if ((g->features & g->offered) != g->features) {
			mark_broken(g, "features no longer offered after restart");
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
	r = set_status(g, VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER |
			  VA_STATUS_FEATURES_OK, &st);
	if (r < 0)
		return r;
	if (!(st & VA_STATUS_FEATURES_OK)) {
		if (g->negotiated_once)
			mark_broken(g, "features refused after restart");
		return -EPROTO;
	}
	g->features = want;

	if (!g->negotiated_once) {
		g->nq = g->opts.num_queues && g->opts.num_queues < info.num_queues ?
			g->opts.num_queues : info.num_queues;
	}
	for (i = 0; i < g->nq; i++) {
		uint32_t max, size;

		memset(&vq, 0, sizeof(vq));
		vq.index = va_cpu_to_le32(i);
		r = ctrl_simple(g, VA_MSG_GET_VQUEUE, (uint16_t)i, &vq,
				sizeof(vq), &vq, sizeof(vq));
		if (r < 0)
			return r;
		max = va_le32_to_cpu(vq.max_size);
		if (max == 0 || max > VA_MAX_QUEUE_SIZE) {
			violation(g, "queue max_size out of range");
			return -EPROTO;
		}
		if (g->negotiated_once) {
			if (g->q[i].size > max) {
				mark_broken(g, "queue smaller after restart");
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
			violation(g, "queue not set up as asked");
			return -EPROTO;
		}
	}
	r = set_status(g, VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER |
			  VA_STATUS_FEATURES_OK | VA_STATUS_DRIVER_OK, &st);
	if (r < 0)
		return r;
	if (!(st & VA_STATUS_DRIVER_OK))
		return -EPROTO;

	if (g->negotiated_once) {
		struct greq *rq;

		g->st.renegotiations++;
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

/* Probe until it succeeds, the backend is unreachable, or broken. */
static int probe_loop(struct va_guest *g)
{
	unsigned int round;
	int r = -ESTALE;

	for (round = 0; round < MAX_PROBE_ROUNDS; round++) {
		r = probe(g);
		if (g->state == G_BROKEN)
			return -EIO;
		if (r == 0 && !need_reneg(g))
			return 0;
		if (r == 0 || r == -ESTALE)
			continue;
		break;
	}
	if (r == 0)
		r = -ESTALE;
	if (r == -ECONNREFUSED || r == -ETIMEDOUT || r == -ESTALE ||
	    r == -ENOTRECOVERABLE) {
		go_down(g);
		return r;
	}
	if (g->negotiated_once)
		mark_broken(g, "renegotiation failed");
	else
		g->state = G_DOWN;
	return r;
}

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

int64_t va_guest_submit(struct va_guest *g, uint16_t queue,
			const struct iovec *out, unsigned int nout,
			const struct iovec *in, unsigned int nin,
			va_guest_done_cb cb, void *opaque)
{
	struct va_request rq = { 0 };
	uint64_t out_len = 0, in_len = 0;
	struct gqueue *q;
	struct greq *r;
	uint8_t *p;
	unsigned int i;
	uint32_t slot;

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

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->body_len = (uint32_t)(sizeof(rq) + 4u * nin + out_len);
	r->rec = malloc(va_rec_span(r->body_len));
	r->in = nin ? malloc(nin * sizeof(*in)) : NULL;
	if (!r->rec || (nin && !r->in)) {
		req_free(r);
		return -ENOMEM;
	}
	r->body = r->rec + sizeof(struct va_hdr);
	/* The header is written at each send (the session may change). */
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

	/* A free slot exists: inflight < size. */
	for (slot = 0; q->slots[slot]; slot++)
		;
	q->seq++;
	r->slot = (uint16_t)slot;
	r->id = ((uint32_t)q->seq << 16) | slot;
	r->queue = queue;
	r->cb = cb;
	r->opaque = opaque;
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
		s = send_iov(g, iov, niov);
		if (s == -EAGAIN) {
			g->tx_blocked = true;
			return 0;
		}
		if (s == -ECONNREFUSED) {
			go_down(g);
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
	drain(g);
	if (g->state == G_DOWN && g->retry_at && va_now_ms() >= g->retry_at) {
		g->retry_at = 0;
		probe_loop(g);
	}
	if (g->state != G_BROKEN && need_reneg(g)) {
		g->retry_at = 0;
		g->backoff = BACKOFF_MIN_MS;
		probe_loop(g);
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
		violation(g, "GET_CONFIG reply of the wrong size");
		return -EPROTO;
	}
	memcpy(&c, g->ctrl_body, sizeof(c));
	if (va_le32_to_cpu(c.offset) != off || va_le32_to_cpu(c.size) != size) {
		violation(g, "GET_CONFIG reply for another range");
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
		violation(g, "SET_CONFIG reply of the wrong size");
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

/* ---- life cycle ---- */

int va_guest_open(const struct va_guest_opts *opts, struct va_guest **ret)
{
	uint32_t len = opts->ring_len ? opts->ring_len : VA_RING_LEN_DEFAULT;
	struct va_guest *g;
	uint64_t deadline;
	int r;

	if (!opts->argo || !va_argo_ring_len_valid(len))
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
		r = probe_loop(g);
		if (r == 0 || !opts->wait_for_backend ||
		    (r != -ECONNREFUSED && r != -ETIMEDOUT && r != -ESTALE))
			break;
		/* Wait for HELLO or the retry timer, within the deadline. */
		while (g->state == G_DOWN && !need_reneg(g) &&
		       va_now_ms() < deadline) {
			struct pollfd pfd = { .fd = va_argo_fd(g->argo),
					      .events = POLLIN };
			uint64_t left = deadline - va_now_ms();
			int t = va_guest_timeout_ms(g);

			if (t < 0 || (uint64_t)t > left)
				t = (int)left;
			poll(&pfd, 1, t);
			drain(g);
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
		set_status(g, 0, &st);
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
