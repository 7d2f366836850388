/* SPDX-License-Identifier: MIT */
/*
 * The device core (see device.h), following the normative rules of the
 * protocol (docs/protocol.md).
 *
 * Structure:
 *   ring life      wait for the guest domain, register (B, P, partner G),
 *                  HELLO; when the ring dies (guest destroyed) reset and
 *                  start over.  Registration retries back off 100 ms..5 s.
 *   receive        the argo fd fires: ack, drain the ring, check the Argo
 *                  header, walk the records (codec.c), handle each; then
 *                  notify (wakes blocked senders) and ops->kick.
 *   records        dev_handle_record() handles one decoded record and
 *                  appends replies to dev->batch; it never touches Argo,
 *                  so the unit tests drive it through va_dev_input().
 *   send           replies of one loop iteration are batched into one
 *                  message (flushed by a deferred callback); a large
 *                  RESPONSE goes out as its own message straight from
 *                  req->in (no copy).  -EAGAIN keeps messages in an
 *                  ordered queue retried when the fd fires.
 *
 * Requests and sessions: every request the device holds is a struct
 * dev_req on dev->reqs.  A reset (status 0, new driver session, guest
 * gone, shutdown) or RESET_VQUEUE marks the affected ones stale and
 * removes them from the per-queue id tables; the device still owns them
 * and completes them later, and va_req_complete frees a stale one without
 * sending.  So at any time the in-flight count of a queue is the number of
 * live requests in its table, bounded by the queue size, and a new
 * session never sees an old session's answer.
 *
 * Held queues: a chain of a held queue waits on the queue's held list
 * (dev_queue.held_head) until the device takes it (va_dev_pop); until then
 * it is the core's alone, so whatever drops work (dev_drop_reqs: a reset,
 * RESET_VQUEUE, a new session, the guest's loss; va_dev_stop) frees it at
 * once, unanswered, instead of marking it stale: no fence waits for it.
 * Taken, it is the device's like a pushed request.
 *
 * Fences: a stale request may still be in the device's I/O engine, and a
 * write of it must not land after the driver's next writes.  So the reply
 * to what dropped it (SET_DEVICE_STATUS 0, RESET_VQUEUE, DEVICE_INFO) is
 * held as a fence until the stale requests it covers have ended; the
 * driver waits for that reply before it sends new work.  The same holds
 * for a gone guest's requests and whoever comes next: a new guest's first
 * record is DEVICE_INFO.
 *
 * Bounds (docs/protocol.md 9.1), whatever the guest does:
 *   - a request counts against its queue from its arrival until its
 *     RESPONSE has been handed to Argo (q->inflight + q->unsent <= size),
 *     so a guest that stops reading its ring cannot make the device hold
 *     more than a queue's worth of answers;
 *   - every request the device holds, live or stale, counts against one
 *     device-wide budget (req_budget, the sum of the queues' maximum
 *     sizes): resets in a loop cannot pile up stale requests;
 *   - each request's memory <= max_request + max_in + overhead;
 *   - bytes waiting to be sent (send queue and batch) above one driver
 *     ring's worth stop the reading of our ring until they drain, so
 *     control and error replies cannot grow the queue either: the guest's
 *     own sends then wait for ring space;
 *   - held replies (fences) <= DEV_MAX_FENCES: a reset that would need
 *     one more is refused (BUSY) before anything is reset.
 * Violations are counted for the guest, not for a driver session: a reset
 * or a new session does not clear them (only the ring's loss does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "device-priv.h"
#include "log.h"
#include "util.h"

#define BACKOFF_MIN_MS		100u
#define BACKOFF_MAX_MS		5000u
#define DOMAIN_POLL_MS		1000u	/* fallback while waiting for the guest */
#define DEV_MAX_FENCES		16u	/* held replies; a driver needs one */
#define DRAIN_MAX_MSGS		1024u	/* messages per drain before yielding */
#define COPY_MIN		4096u		/* responses batched (copied) up to */
#define COPY_MAX		(256u * 1024u)	/* max(COPY_MIN, min(COPY_MAX, ring/16)) */
#define COPY_RING_SHARE		16u
#define REQ_IN_ALIGN		512u

enum dev_state {
	DEV_IDLE,		/* created, not started */
	DEV_WAIT,		/* waiting for the guest domain / registration */
	DEV_RUNNING,		/* ring registered */
	DEV_STOPPING,		/* va_dev_stop: waiting for in-flight work */
	DEV_STOPPED,
};

struct dev_req {
	struct va_req req;
	bool stale;
	bool held;			/* on its queue's held list */
	struct dev_req *prev, *next;	/* dev->reqs */
	struct dev_req *hnext;		/* queue id table chain */
	struct dev_req *qnext;		/* held list */
};

struct dev_queue {
	uint32_t size;
	bool enabled;
	uint32_t inflight;		/* live requests */
	uint32_t unsent;		/* answered, RESPONSE not yet sent;
					 * inflight + unsent <= size */
	uint32_t nstale;		/* stale requests of this queue */
	bool held_mode;			/* a held queue (info.held_queues) */
	struct dev_req *held_head, *held_tail;	/* oldest first */
	uint32_t nheld;			/* of inflight, not taken yet */
	uint32_t nbuckets;		/* power of two, 0 if not allocated */
	struct dev_req **buckets;
};

/*
 * A reply held until the stale requests of `scope` (a queue, or all if
 * negative) have ended.  Bodies are the small control replies.
 */
struct dev_fence {
	struct dev_fence *next;
	int scope;
	uint8_t msg_id;
	uint16_t queue;
	uint32_t token;
	uint32_t len;
	unsigned int waited_for;	/* stale requests when it was held */
	uint8_t body[];
};

/* A message waiting for ring space.  Either owned bytes (buf) or a
 * RESPONSE header plus req->in (req, sent uncopied). */
struct dev_msg {
	struct dev_msg *next;
	uint8_t *buf;
	size_t len;
	struct dev_req *req;		/* buf = hdr + va_response, then req->in */
	uint32_t written;
};

struct va_dev {
	struct va_loop *loop;
	struct va_argo *argo;
	struct va_dev_info info;
	const struct va_dev_ops *ops;
	void *opaque;
	uint16_t guest;
	uint32_t port;			/* our ring's port, source of our sends */
	uint32_t driver_port;		/* the guest ring's port */
	char *guest_name;		/* NULL, or the guest's domain name */
	uint32_t ring_len;
	char name[32];

	enum dev_state state;
	struct va_ring *ring;
	bool fd_watched;
	struct va_timer *timer;		/* registration retry / stop timeout */
	uint32_t backoff_ms;
	bool backing_off;		/* timer is a registration back-off */

	uint32_t session;		/* ours */
	uint32_t drv_session;		/* adopted driver session, 0: none */
	uint32_t drv_ring_len;
	uint8_t status;
	uint64_t drv_features;		/* block 0 written by the driver */
	uint32_t violations;
	uint8_t config[VA_MAX_CONFIG_SIZE];
	uint32_t generation;
	struct dev_queue *queues;

	struct dev_req reqs;		/* list head of every held request */
	unsigned int nreqs;		/* <= req_budget */
	unsigned int nstale;		/* of which stale */
	unsigned int nheld;		/* of which held, not taken yet */
	uint64_t ready_mask;		/* held queues with new buffers */
	unsigned int req_budget;	/* sum of the queues' max sizes */
	struct dev_fence *fences, *fences_tail;	/* FIFO */
	unsigned int nfences;

	struct va_batch batch;		/* replies of this iteration */
	bool flush_deferred;
	struct dev_msg *sendq, *sendq_tail;
	size_t sendq_bytes;		/* bytes of the messages in sendq */
	bool waiting_space;
	bool throttled;			/* ring reading paused: backlog */

	uint8_t *scratch;		/* ring_len bytes for wrapped messages */

	va_dev_send_hook send_hook;
	void *send_hook_opaque;

	va_cb stop_done;
	void *stop_opaque;

	struct va_dev_stats stats;
	struct va_ratelimit rl_log;
	struct va_ratelimit rl_version;
	struct va_ratelimit rl_throttle;
};

static void dev_flush(struct va_loop *loop, void *opaque);
static void dev_try_register(struct va_dev *dev);
static void dev_stop_check(struct va_dev *dev);
static void dev_violation(struct va_dev *dev, const char *what);
static void dev_drain_again(struct va_loop *loop, void *opaque);
static void dev_retry_deferred(struct va_loop *loop, void *opaque);

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

static uint32_t dev_msg_limit(const struct va_dev *dev)
{
	uint32_t len = dev->drv_ring_len ? dev->drv_ring_len : VA_RING_LEN_MIN;

	return va_argo_ring_max_payload(len);
}

/*
 * Responses whose record spans at most this go into the batch (one copy,
 * one message per loop iteration); larger ones are sent uncopied as their
 * own message.  A copy is much cheaper than a send for all but the
 * largest payloads; the ring share keeps a batch from taking a small
 * driver ring for itself.
 */
static size_t dev_copy_max(const struct va_dev *dev)
{
	size_t share = dev_msg_limit(dev) / COPY_RING_SHARE;

	if (share > COPY_MAX)
		share = COPY_MAX;
	return share > COPY_MIN ? share : COPY_MIN;
}

static int dev_sendv(struct va_dev *dev, const struct iovec *iov,
		     unsigned int niov)
{
	if (dev->send_hook)
		return dev->send_hook(dev->send_hook_opaque, iov, niov,
				      VA_ARGO_MSG_TYPE);
	if (!dev->argo)
		return -ENOTCONN;
	return (int)va_argo_sendv(dev->argo, dev->port, dev->guest,
				  dev->driver_port, iov, niov, VA_ARGO_MSG_TYPE);
}

/*
 * After a send that was not refused for ring space: log a failure, except
 * the guest being gone (-ECONNREFUSED, -ESRCH), which drops the message
 * (the driver resends on its next session).
 */
static void dev_send_failed(struct va_dev *dev, int r)
{
	if (r < 0 && r != -ECONNREFUSED && r != -ESRCH)
		va_log_ratelimited(&dev->rl_log, VA_LOG_WARN,
				   "%s: dom%u: send failed: %s", dev->name,
				   dev->guest, strerror(-r));
}

static void dev_msg_free(struct dev_msg *m)
{
	if (!m)
		return;
	if (m->req)
		free(m->req);
	free(m->buf);
	free(m);
}

/* One RESPONSE of `queue` left our hands: sent, or dropped. */
static void dev_unsent_put(struct va_dev *dev, uint16_t queue)
{
	if (queue < dev->info.num_queues && dev->queues[queue].unsent)
		dev->queues[queue].unsent--;
}

/* The records in buf (of our own making) left our hands. */
static void dev_records_gone(struct va_dev *dev, const uint8_t *buf,
			     size_t len)
{
	struct va_rec_iter it;
	struct va_rec rec;

	va_rec_iter_init(&it, buf, len);
	while (va_rec_next(&it, &rec) > 0)
		if (rec.msg_id == VA_MSG_RESPONSE)
			dev_unsent_put(dev, rec.queue);
}

/* A message left our hands (sent, or dropped): free it. */
static void dev_msg_gone(struct va_dev *dev, struct dev_msg *m)
{
	if (m->req)
		dev_unsent_put(dev, m->req->req.queue);
	else
		dev_records_gone(dev, m->buf, m->len);
	dev_msg_free(m);
}

/* Bytes waiting to be sent: the send queue and this iteration's batch. */
static size_t dev_backlog(const struct va_dev *dev)
{
	return dev->sendq_bytes + dev->batch.len;
}

/* Above this backlog the ring is not read (about one driver ring). */
static size_t dev_backlog_cap(const struct va_dev *dev)
{
	return dev->drv_ring_len ? dev->drv_ring_len : VA_RING_LEN_MIN;
}

static void dev_msg_iov(struct dev_msg *m, struct iovec *iov,
			unsigned int *niov)
{
	iov[0].iov_base = m->buf;
	iov[0].iov_len = m->len;
	*niov = 1;
	if (m->req && m->written) {
		iov[1].iov_base = m->req->req.in;
		iov[1].iov_len = m->written;
		*niov = 2;
	}
}

/* Ask for a wake-up once the guest ring has room for `len` bytes. */
static void dev_wait_space(struct va_dev *dev, size_t len)
{
	struct va_argo_query q = {
		.domid = dev->guest,
		.port = dev->driver_port,
		.space_required = (uint32_t)len,
	};

	dev->waiting_space = true;
	if (!dev->argo || dev->send_hook)
		return;
	/*
	 * Space may have opened up since the send failed (then no wake-up is
	 * queued), or the ring may be gone: retry at the end of this
	 * iteration instead of waiting for an event that will not come.
	 */
	if (va_argo_notify(dev->argo, &q, 1) < 0 ||
	    (q.flags & VA_ARGO_RING_SUFFICIENT) ||
	    !(q.flags & VA_ARGO_RING_EXISTS)) {
		dev->waiting_space = false;
		va_loop_defer(dev->loop, dev_retry_deferred, dev);
	}
}

static struct dev_msg *dev_sendq_pop(struct va_dev *dev)
{
	struct dev_msg *m = dev->sendq;

	dev->sendq = m->next;
	if (!dev->sendq)
		dev->sendq_tail = NULL;
	dev->sendq_bytes -= m->len + m->written;
	return m;
}

static void dev_sendq_drop(struct va_dev *dev)
{
	while (dev->sendq)
		dev_msg_gone(dev, dev_sendq_pop(dev));
	dev->waiting_space = false;
}

/*
 * Remove the RESPONSE records from a batch of our own making (so the walk
 * cannot fail), compacting in place.  Returns the new length.  Used at a
 * reset: answers to dropped work must not reach the driver, control
 * replies must.
 */
static size_t dev_strip_responses(struct va_dev *dev, uint8_t *buf,
				  size_t len, unsigned int *ret_count)
{
	struct va_rec_iter it;
	struct va_rec rec;
	size_t out = 0, start = 0, span;
	unsigned int count = 0;

	va_rec_iter_init(&it, buf, len);
	while (va_rec_next(&it, &rec) > 0) {
		span = it.off - start;
		if (rec.msg_id != VA_MSG_RESPONSE) {
			memmove(buf + out, buf + start, span);
			out += span;
			count++;
		} else {
			dev_unsent_put(dev, rec.queue);
		}
		start = it.off;
	}
	if (ret_count)
		*ret_count = count;
	return out;
}

/* At a reset: drop queued responses, keep queued control replies. */
static void dev_drop_responses(struct va_dev *dev)
{
	struct dev_msg **pp = &dev->sendq, *m;

	dev->batch.len = dev_strip_responses(dev, dev->batch.buf,
					     dev->batch.len, &dev->batch.count);
	dev->sendq_tail = NULL;
	dev->sendq_bytes = 0;
	while ((m = *pp)) {
		if (!m->req)
			m->len = dev_strip_responses(dev, m->buf, m->len, NULL);
		if (m->req || !m->len) {
			*pp = m->next;
			dev_msg_gone(dev, m);
			continue;
		}
		dev->sendq_bytes += m->len;
		dev->sendq_tail = m;
		pp = &m->next;
	}
	if (!dev->sendq)
		dev->waiting_space = false;
}

/*
 * Pause or resume the reading of our ring.  The argo fd may be level-
 * triggered on "ring not empty" (/dev/argo): while paused it is watched
 * edge-triggered, so that the messages left in the ring do not wake the
 * loop again and again, while new messages and space wake-ups still do.
 */
static void dev_set_throttled(struct va_dev *dev, bool on)
{
	if (dev->throttled == on)
		return;
	dev->throttled = on;
	if (dev->fd_watched)
		va_loop_mod_fd(dev->loop, va_argo_fd(dev->argo),
			       on ? EPOLLIN | EPOLLET : EPOLLIN);
}

/* Reading was paused for the backlog: go on once it is below the cap. */
static void dev_unthrottle(struct va_dev *dev)
{
	if (!dev->throttled || dev_backlog(dev) > dev_backlog_cap(dev))
		return;
	dev_set_throttled(dev, false);
	va_loop_defer(dev->loop, dev_drain_again, dev);
}

/* Send queued messages in order until one does not fit. */
void va_dev_retry_sends(struct va_dev *dev)
{
	struct dev_msg *m;
	struct iovec iov[2];
	unsigned int niov;
	int r;

	dev->waiting_space = false;
	while ((m = dev->sendq)) {
		dev_msg_iov(m, iov, &niov);
		r = dev_sendv(dev, iov, niov);
		if (r == -EAGAIN) {
			dev->stats.eagain++;
			dev_wait_space(dev, m->len + m->written);
			dev_unthrottle(dev);
			return;
		}
		dev_send_failed(dev, r);
		dev_msg_gone(dev, dev_sendq_pop(dev));
	}
	dev_unthrottle(dev);
	dev_stop_check(dev);
}

static void dev_retry_deferred(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;

	if (dev->sendq && !dev->waiting_space)
		va_dev_retry_sends(dev);
}

static void dev_sendq_add(struct va_dev *dev, struct dev_msg *m)
{
	m->next = NULL;
	if (dev->sendq_tail)
		dev->sendq_tail->next = m;
	else
		dev->sendq = m;
	dev->sendq_tail = m;
	dev->sendq_bytes += m->len + m->written;
	if (dev->sendq_bytes > dev->stats.backlog_max)
		dev->stats.backlog_max = dev->sendq_bytes;
}

/*
 * Send a message now, or queue it behind earlier ones.  Takes ownership of
 * m.  The guest being gone (-ECONNREFUSED, -ESRCH) drops the message: the
 * driver resends on the next session.
 */
static void dev_send_msg(struct va_dev *dev, struct dev_msg *m)
{
	struct iovec iov[2];
	unsigned int niov;
	int r;

	if (dev->sendq) {
		dev_sendq_add(dev, m);
		return;
	}
	dev_msg_iov(m, iov, &niov);
	r = dev_sendv(dev, iov, niov);
	if (r == -EAGAIN) {
		dev->stats.eagain++;
		dev_sendq_add(dev, m);
		dev_wait_space(dev, m->len + m->written);
		return;
	}
	dev_send_failed(dev, r);
	dev_msg_gone(dev, m);
}

/*
 * Send the batch of this iteration as one message: straight from the
 * batch buffer when nothing is queued before it (the common case, no
 * allocation and no copy); only a batch that must wait (queue not empty,
 * or -EAGAIN) is copied into a message of its own.
 */
static void dev_flush_batch(struct va_dev *dev)
{
	struct iovec iov;
	struct dev_msg *m;
	bool queued;
	int r;

	if (!dev->batch.count)
		return;
	if (!dev->sendq) {
		iov.iov_base = dev->batch.buf;
		iov.iov_len = dev->batch.len;
		r = dev_sendv(dev, &iov, 1);
		if (r != -EAGAIN) {
			dev_send_failed(dev, r);
			dev_records_gone(dev, dev->batch.buf, dev->batch.len);
			va_batch_reset(&dev->batch);
			return;
		}
		dev->stats.eagain++;
	}
	m = calloc(1, sizeof(*m));
	if (m)
		m->buf = malloc(dev->batch.len);
	if (!m || !m->buf) {
		free(m);
		va_log_ratelimited(&dev->rl_log, VA_LOG_ERR,
				   "%s: out of memory, replies dropped",
				   dev->name);
		dev_records_gone(dev, dev->batch.buf, dev->batch.len);
		va_batch_reset(&dev->batch);
		return;
	}
	memcpy(m->buf, dev->batch.buf, dev->batch.len);
	m->len = dev->batch.len;
	va_batch_reset(&dev->batch);
	queued = dev->sendq != NULL;
	dev_sendq_add(dev, m);
	/* Otherwise refused with -EAGAIN above: wait, do not ask again. */
	if (!queued)
		dev_wait_space(dev, m->len);
}

static void dev_flush(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;

	dev->flush_deferred = false;
	dev_flush_batch(dev);
	dev_stop_check(dev);
}

static void dev_defer_flush(struct va_dev *dev)
{
	if (dev->flush_deferred)
		return;
	if (va_loop_defer(dev->loop, dev_flush, dev) == 0)
		dev->flush_deferred = true;
	else
		dev_flush_batch(dev);
}

/* Append one record to the batch, flushing first if it is full.
 * Returns 0, or negative errno (logged) if the reply was dropped. */
static int dev_add_record(struct va_dev *dev, uint8_t msg_id, uint8_t flags,
			   uint16_t queue, uint32_t token,
			   const struct iovec *body, unsigned int niov)
{
	int r;

	dev->batch.limit = dev_msg_limit(dev);
	r = va_batch_add(&dev->batch, msg_id, flags, queue, dev->session,
			 token, body, niov);
	if (r == -EMSGSIZE && dev->batch.count) {
		dev_flush_batch(dev);
		r = va_batch_add(&dev->batch, msg_id, flags, queue,
				 dev->session, token, body, niov);
	}
	if (r < 0) {
		va_log_ratelimited(&dev->rl_log, VA_LOG_WARN,
				   "%s: cannot queue %s reply: %s", dev->name,
				   va_msg_name(msg_id), strerror(-r));
		return r;
	}
	dev_defer_flush(dev);
	return 0;
}

static void dev_reply(struct va_dev *dev, const struct va_rec *rec,
		      const void *body, size_t len)
{
	struct iovec iov = { .iov_base = (void *)body, .iov_len = len };

	dev_add_record(dev, rec->msg_id, VA_F_RESPONSE, rec->queue, rec->token,
		       &iov, len ? 1 : 0);
}

static void dev_reply_err(struct va_dev *dev, uint8_t msg_id, uint16_t queue,
			  uint32_t token, uint32_t err, uint32_t detail)
{
	struct va_error e = {
		.error = va_cpu_to_le32(err),
		.detail = va_cpu_to_le32(detail),
	};
	struct iovec iov = { .iov_base = &e, .iov_len = sizeof(e) };

	dev_add_record(dev, msg_id, VA_F_RESPONSE | VA_F_ERROR, queue, token,
		       &iov, 1);
}

static void dev_send_event(struct va_dev *dev)
{
	struct va_event_config ev = {
		.generation = va_cpu_to_le32(dev->generation),
		.status = va_cpu_to_le32(dev->status),
	};
	struct iovec iov = { .iov_base = &ev, .iov_len = sizeof(ev) };

	if (!dev->drv_session)
		return;
	dev_add_record(dev, VA_MSG_EVENT_CONFIG, 0, 0, 0, &iov, 1);
}

static void dev_send_hello(struct va_dev *dev)
{
	struct va_hello h = {
		.device_id = va_cpu_to_le32(dev->info.device_id),
		.version_max = va_cpu_to_le32(VA_PROTOCOL_VERSION),
	};
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };

	dev_add_record(dev, VA_MSG_HELLO, 0, 0, 0, &iov, 1);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static uint32_t dev_hash(uint32_t id, uint32_t nbuckets)
{
	return (id * 2654435761u) & (nbuckets - 1);
}

static struct dev_req *dev_find_req(struct dev_queue *q, uint32_t id)
{
	struct dev_req *r;

	if (!q->nbuckets)
		return NULL;
	for (r = q->buckets[dev_hash(id, q->nbuckets)]; r; r = r->hnext)
		if (r->req.id == id)
			return r;
	return NULL;
}

static void dev_unhash_req(struct va_dev *dev, struct dev_req *r)
{
	struct dev_queue *q = &dev->queues[r->req.queue];
	struct dev_req **pp;

	for (pp = &q->buckets[dev_hash(r->req.id, q->nbuckets)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == r) {
			*pp = r->hnext;
			break;
		}
	}
	r->hnext = NULL;
	q->inflight--;
}

static void dev_unlink_req(struct va_dev *dev, struct dev_req *r)
{
	if (!r->stale) {
		dev_unhash_req(dev, r);
	} else {
		dev->queues[r->req.queue].nstale--;
		dev->nstale--;
	}
	r->prev->next = r->next;
	r->next->prev = r->prev;
	dev->nreqs--;
}

/* Take the head of a held queue's list (the device or a drop takes it). */
static struct dev_req *dev_held_take(struct va_dev *dev, struct dev_queue *q)
{
	struct dev_req *r = q->held_head;

	q->held_head = r->qnext;
	if (!q->held_head)
		q->held_tail = NULL;
	r->qnext = NULL;
	r->held = false;
	q->nheld--;
	dev->nheld--;
	return r;
}

/* Free, unanswered, the held buffers of `queue` (all if negative) that no
 * device has taken: the driver re-posts or replays them. */
static void dev_drop_held(struct va_dev *dev, int queue)
{
	struct dev_req *r;
	uint16_t i;

	for (i = 0; i < dev->info.num_queues; i++) {
		if (queue >= 0 && i != queue)
			continue;
		while (dev->queues[i].held_head) {
			r = dev_held_take(dev, &dev->queues[i]);
			dev_unlink_req(dev, r);
			free(r);
		}
	}
}

/* Drop the work of `queue` (or all if queue < 0): held buffers are freed,
 * live requests marked stale (the device still completes them). */
static void dev_drop_reqs(struct va_dev *dev, int queue)
{
	struct dev_req *r;

	dev_drop_held(dev, queue);
	for (r = dev->reqs.next; r != &dev->reqs; r = r->next) {
		if (r->stale || (queue >= 0 && r->req.queue != queue))
			continue;
		dev_unhash_req(dev, r);
		r->stale = true;
		dev->queues[r->req.queue].nstale++;
		dev->nstale++;
	}
}

static bool dev_fence_clear(const struct va_dev *dev, int scope)
{
	return scope < 0 ? dev->nstale == 0 : dev->queues[scope].nstale == 0;
}

/*
 * Before a record that drops work (SET_DEVICE_STATUS 0, RESET_VQUEUE,
 * DEVICE_INFO) changes anything: if its reply would have to be held and
 * DEV_MAX_FENCES are held already, refuse it (BUSY, a violation) with
 * nothing reset, so that a loop of resets cannot turn more requests stale.
 * Only a driver that does not wait for its replies gets here.  Returns
 * true if refused.
 */
static bool dev_fence_refused(struct va_dev *dev, const struct va_rec *rec,
			      int scope)
{
	/* Its reply is held if replies are held already or the reset turns
	 * requests stale (held buffers are just freed). */
	bool would_hold = dev->fences ||
			  (scope < 0 ? dev->nreqs - dev->nheld > 0 :
			   dev->queues[scope].inflight -
			   dev->queues[scope].nheld +
			   dev->queues[scope].nstale > 0);

	if (!would_hold || dev->nfences < DEV_MAX_FENCES)
		return false;
	dev_violation(dev, "too many resets pending");
	dev_reply_err(dev, rec->msg_id, rec->queue, rec->token, VA_ERR_BUSY, 0);
	return true;
}

/*
 * Reply to a record that dropped work (SET_DEVICE_STATUS 0, RESET_VQUEUE,
 * DEVICE_INFO), after dev_fence_refused() let it through: at once if none
 * of the stale requests of `scope` is left, else once they have ended
 * (dev_release_fences).  Held replies keep their order.
 */
static void dev_reply_fenced(struct va_dev *dev, const struct va_rec *rec,
			     int scope, const void *body, uint32_t len)
{
	struct dev_fence *f;

	if (!dev->fences && dev_fence_clear(dev, scope)) {
		dev_reply(dev, rec, body, len);
		return;
	}
	f = malloc(sizeof(*f) + len);
	if (!f) {
		va_log_ratelimited(&dev->rl_log, VA_LOG_ERR,
				   "%s: out of memory, %s refused", dev->name,
				   va_msg_name(rec->msg_id));
		dev_reply_err(dev, rec->msg_id, rec->queue, rec->token,
			      VA_ERR_BUSY, 0);
		return;
	}
	f->next = NULL;
	f->scope = scope;
	f->msg_id = rec->msg_id;
	f->queue = rec->queue;
	f->token = rec->token;
	f->len = len;
	f->waited_for = scope < 0 ? dev->nstale : dev->queues[scope].nstale;
	memcpy(f->body, body, len);
	if (dev->fences_tail)
		dev->fences_tail->next = f;
	else
		dev->fences = f;
	dev->fences_tail = f;
	dev->nfences++;
	dev->stats.fenced++;
}

/* Send the held replies whose stale requests have all ended, in order. */
static void dev_release_fences(struct va_dev *dev)
{
	struct dev_fence *f;
	struct iovec iov;

	while ((f = dev->fences) && dev_fence_clear(dev, f->scope)) {
		dev->fences = f->next;
		if (!dev->fences)
			dev->fences_tail = NULL;
		dev->nfences--;
		va_log_ratelimited(&dev->rl_log, VA_LOG_INFO,
				   "%s: dom%u: %s answered once the dropped requests had ended (%u)",
				   dev->name, dev->guest,
				   va_msg_name(f->msg_id), f->waited_for);
		iov.iov_base = f->body;
		iov.iov_len = f->len;
		dev_add_record(dev, f->msg_id, VA_F_RESPONSE, f->queue,
			       f->token, &iov, 1);
		free(f);
	}
}

/* The guest is gone: nobody waits for the held replies. */
static void dev_drop_fences(struct va_dev *dev)
{
	struct dev_fence *f;

	while ((f = dev->fences)) {
		dev->fences = f->next;
		free(f);
	}
	dev->fences_tail = NULL;
	dev->nfences = 0;
}

void va_req_complete(struct va_req *req, uint32_t written)
{
	struct dev_req *r = (struct dev_req *)req;
	struct va_dev *dev = req->dev;
	bool stale = r->stale;
	struct va_response resp;
	struct dev_msg *m;
	struct va_hdr h;
	size_t body;

	dev_unlink_req(dev, r);
	if (stale || !dev->drv_session) {
		free(r);
		if (stale)
			dev_release_fences(dev);
		dev_stop_check(dev);
		return;
	}
	if (written > req->in_len) {
		va_log_ratelimited(&dev->rl_log, VA_LOG_ERR,
				   "%s: device wrote %u > %u bytes, clamped",
				   dev->name, written, req->in_len);
		written = req->in_len;
	}
	dev->stats.responses++;
	resp.written = va_cpu_to_le32(written);
	resp.reserved = 0;
	body = sizeof(resp) + written;
	/* The request keeps its place in the queue until the RESPONSE has
	 * been handed to Argo (dev_unsent_put). */
	dev->queues[req->queue].unsent++;
	if (va_rec_span(body) <= dev_copy_max(dev)) {
		struct iovec iov[2] = {
			{ .iov_base = &resp, .iov_len = sizeof(resp) },
			{ .iov_base = req->in, .iov_len = written },
		};

		if (dev_add_record(dev, VA_MSG_RESPONSE, VA_F_RESPONSE,
				   req->queue, req->id, iov,
				   written ? 2 : 1) < 0)
			dev_unsent_put(dev, req->queue);
		free(r);
		dev_stop_check(dev);
		return;
	}
	/* Large: its own message, header copied, data sent from req->in.
	 * The batch goes first to keep the order of replies. */
	dev_flush_batch(dev);
	m = calloc(1, sizeof(*m));
	if (m)
		m->buf = malloc(sizeof(h) + sizeof(resp));
	if (!m || !m->buf) {
		free(m);
		dev_unsent_put(dev, req->queue);
		free(r);
		va_log_ratelimited(&dev->rl_log, VA_LOG_ERR,
				   "%s: out of memory, response dropped",
				   dev->name);
		return;
	}
	h.msg_id = VA_MSG_RESPONSE;
	h.flags = VA_F_RESPONSE;
	h.queue = va_cpu_to_le16(req->queue);
	h.session = va_cpu_to_le32(dev->session);
	h.token = va_cpu_to_le32(req->id);
	h.len = va_cpu_to_le32((uint32_t)body);
	memcpy(m->buf, &h, sizeof(h));
	memcpy(m->buf + sizeof(h), &resp, sizeof(resp));
	m->len = sizeof(h) + sizeof(resp);
	m->req = r;
	m->written = written;
	dev_send_msg(dev, m);
	dev_stop_check(dev);
}

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

static void dev_violation(struct va_dev *dev, const char *what)
{
	dev->stats.violations++;
	va_log_ratelimited(&dev->rl_log, VA_LOG_WARN,
			   "%s: dom%u: protocol violation: %s", dev->name,
			   dev->guest, what);
	if (++dev->violations > VA_DEV_MAX_VIOLATIONS &&
	    !(dev->status & VA_STATUS_NEEDS_RESET))
		va_dev_needs_reset(dev, "repeated protocol violations");
}

/* Complete reset: as SET_DEVICE_STATUS 0.  Queued replies are dropped
 * too: they belong to the work being dropped. */
static void dev_reset(struct va_dev *dev)
{
	uint16_t i;

	dev_drop_reqs(dev, -1);
	dev_drop_responses(dev);
	dev->status = 0;
	dev->drv_features = 0;
	for (i = 0; i < dev->info.num_queues; i++) {
		dev->queues[i].enabled = false;
		dev->queues[i].size = dev->info.max_queue_size;
	}
	if (dev->ops->reset)
		dev->ops->reset(dev);
}

static void dev_drop_session(struct va_dev *dev)
{
	dev_reset(dev);
	dev->drv_session = 0;
	dev->drv_ring_len = 0;
}

void va_dev_needs_reset(struct va_dev *dev, const char *reason)
{
	va_warn("%s: dom%u port %#x: device needs reset: %s", dev->name,
		dev->guest, dev->port, reason);
	dev->status |= VA_STATUS_NEEDS_RESET;
	dev_send_event(dev);
}

void va_dev_config_changed(struct va_dev *dev)
{
	dev->generation++;
	dev_send_event(dev);
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

static void dev_device_info(struct va_dev *dev, const struct va_rec *rec)
{
	struct va_device_info_req rq;
	struct va_device_info di;
	uint32_t rlen;

	if (va_rec_body(rec, &rq, sizeof(rq), true) < 0) {
		dev_violation(dev, "malformed DEVICE_INFO");
		dev_reply_err(dev, rec->msg_id, rec->queue, rec->token,
			      VA_ERR_INVALID, 0);
		return;
	}
	rlen = va_le32_to_cpu(rq.driver_ring_len);
	if (!va_argo_ring_len_valid(rlen) || rlen < VA_RING_LEN_MIN) {
		dev_reply_err(dev, rec->msg_id, rec->queue, rec->token,
			      VA_ERR_INVALID, 0);
		return;
	}
	if (rec->session != dev->drv_session) {
		if (dev->drv_session)
			va_info("%s: dom%u: new driver session %#x",
				dev->name, dev->guest, rec->session);
		/* The old session's held replies are nobody's now; this
		 * reply waits for all the stale requests anyway. */
		dev_drop_fences(dev);
		dev_drop_session(dev);
		dev->drv_session = rec->session;
		dev->stats.sessions++;
	} else if (dev_fence_refused(dev, rec, -1)) {
		return;
	}
	dev->drv_ring_len = rlen;

	memset(&di, 0, sizeof(di));
	di.device_id = va_cpu_to_le32(dev->info.device_id);
	di.vendor_id = va_cpu_to_le32(dev->info.vendor_id);
	di.version_min = va_cpu_to_le32(VA_PROTOCOL_VERSION);
	di.version_max = va_cpu_to_le32(VA_PROTOCOL_VERSION);
	di.num_queues = va_cpu_to_le16(dev->info.num_queues);
	di.config_size = va_cpu_to_le32(dev->info.config_size);
	di.max_queue_size = va_cpu_to_le32(dev->info.max_queue_size);
	di.device_ring_len = va_cpu_to_le32(dev->ring_len);
	di.max_request = va_cpu_to_le32(dev->info.max_request);
	dev_reply_fenced(dev, rec, -1, &di, sizeof(di));
}

static uint64_t dev_offered(const struct va_dev *dev, uint32_t block)
{
	return block == 0 ? dev->info.features | (1ull << VA_F_VERSION_1_BIT) :
			    0;
}

static uint32_t dev_features_rec(struct va_dev *dev, const struct va_rec *rec)
{
	struct va_features f;
	uint32_t block;
	uint64_t bits;

	if (va_rec_body(rec, &f, sizeof(f), true) < 0)
		return VA_ERR_INVALID;
	block = va_le32_to_cpu(f.block);
	if (block >= VA_FEATURE_BLOCKS)
		return VA_ERR_RANGE;
	if (rec->msg_id == VA_MSG_GET_DEV_FEATURES) {
		f.bits = va_cpu_to_le64(dev_offered(dev, block));
	} else {
		if (!(dev->status & VA_STATUS_DRIVER) ||
		    (dev->status & VA_STATUS_FEATURES_OK))
			return VA_ERR_STATE;
		bits = va_le64_to_cpu(f.bits);
		if (bits & ~dev_offered(dev, block))
			return VA_ERR_INVALID;
		if (block == 0)
			dev->drv_features = bits;
	}
	f.reserved = 0;
	dev_reply(dev, rec, &f, sizeof(f));
	return 0;
}

static uint32_t dev_config_rec(struct va_dev *dev, const struct va_rec *rec)
{
	uint8_t old[VA_MAX_CONFIG_XFER];
	struct va_config c;
	uint32_t off, size;
	struct iovec iov[2];

	if (va_rec_body(rec, &c, sizeof(c), rec->msg_id == VA_MSG_GET_CONFIG) < 0)
		return VA_ERR_INVALID;
	off = va_le32_to_cpu(c.offset);
	size = va_le32_to_cpu(c.size);
	if (rec->msg_id == VA_MSG_SET_CONFIG &&
	    (uint64_t)rec->len != (uint64_t)sizeof(c) + size)
		return VA_ERR_INVALID;
	if (size > VA_MAX_CONFIG_XFER ||
	    (uint64_t)off + size > dev->info.config_size)
		return VA_ERR_RANGE;
	if (rec->msg_id == VA_MSG_SET_CONFIG &&
	    va_le32_to_cpu(c.generation) != dev->generation)
		return VA_ERR_STATE;
	c.generation = va_cpu_to_le32(dev->generation);
	c.reserved = 0;
	iov[0].iov_base = &c;
	iov[0].iov_len = sizeof(c);
	if (rec->msg_id == VA_MSG_GET_CONFIG) {
		iov[1].iov_base = dev->config + off;
		iov[1].iov_len = size;
		dev_add_record(dev, rec->msg_id, VA_F_RESPONSE, rec->queue,
			       rec->token, iov, 2);
		return 0;
	}
	if (!dev->ops->write_config)
		return VA_ERR_INVALID;
	memcpy(old, dev->config + off, size);
	memcpy(dev->config + off, rec->body + sizeof(c), size);
	if (dev->ops->write_config(dev, off, size) < 0) {
		memcpy(dev->config + off, old, size);
		return VA_ERR_INVALID;
	}
	dev_add_record(dev, rec->msg_id, VA_F_RESPONSE, rec->queue, rec->token,
		       iov, 1);
	return 0;
}

static uint32_t dev_set_status(struct va_dev *dev, const struct va_rec *rec)
{
	const uint8_t known = VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER |
			      VA_STATUS_DRIVER_OK | VA_STATUS_FEATURES_OK |
			      VA_STATUS_FAILED;
	struct va_status s;
	uint32_t want;
	uint8_t add;

	if (va_rec_body(rec, &s, sizeof(s), true) < 0)
		return VA_ERR_INVALID;
	want = va_le32_to_cpu(s.status);
	if (want == 0) {
		if (dev_fence_refused(dev, rec, -1))
			return 0;
		dev_reset(dev);
	} else {
		/* NEEDS_RESET is the device's bit, never the driver's (and
		 * a device in NEEDS_RESET only gets here with 0). */
		if (want & ~(uint32_t)known)
			return VA_ERR_INVALID;
		if (dev->status & ~want)
			return VA_ERR_INVALID;
		add = (uint8_t)(want & ~dev->status);
		if ((add & VA_STATUS_FEATURES_OK) &&
		    !(want & VA_STATUS_DRIVER))
			return VA_ERR_STATE;
		if ((add & VA_STATUS_DRIVER_OK) &&
		    !(want & VA_STATUS_FEATURES_OK))
			return VA_ERR_STATE;
		if (add & VA_STATUS_FEATURES_OK) {
			bool ok = dev->drv_features &
				  (1ull << VA_F_VERSION_1_BIT);

			if (ok && dev->ops->set_features &&
			    dev->ops->set_features(dev, dev->drv_features) < 0)
				ok = false;
			if (!ok) {
				add &= (uint8_t)~(VA_STATUS_FEATURES_OK |
						  VA_STATUS_DRIVER_OK);
			}
		}
		dev->status |= add;
		if ((add & VA_STATUS_DRIVER_OK) && dev->ops->driver_ok)
			dev->ops->driver_ok(dev);
	}
	s.status = va_cpu_to_le32(dev->status);
	s.reserved = 0;
	if (want == 0)
		dev_reply_fenced(dev, rec, -1, &s, sizeof(s));
	else
		dev_reply(dev, rec, &s, sizeof(s));
	return 0;
}

static int dev_queue_alloc(struct dev_queue *q, uint32_t size)
{
	uint32_t n = 1;

	while (n < size)
		n <<= 1;
	if (n <= q->nbuckets)
		return 0;
	free(q->buckets);
	q->buckets = calloc(n, sizeof(*q->buckets));
	if (!q->buckets) {
		q->nbuckets = 0;
		return -ENOMEM;
	}
	q->nbuckets = n;
	return 0;
}

static uint32_t dev_vqueue_rec(struct va_dev *dev, const struct va_rec *rec)
{
	struct va_vqueue v;
	struct dev_queue *q;
	uint32_t index, size;

	if (va_rec_body(rec, &v, sizeof(v), true) < 0)
		return VA_ERR_INVALID;
	index = va_le32_to_cpu(v.index);
	if (index >= dev->info.num_queues)
		return VA_ERR_RANGE;
	q = &dev->queues[index];
	if (rec->msg_id == VA_MSG_SET_VQUEUE) {
		if (!(dev->status & VA_STATUS_FEATURES_OK) ||
		    (dev->status & VA_STATUS_DRIVER_OK) || q->enabled)
			return VA_ERR_STATE;
		size = va_le32_to_cpu(v.size);
		if (size < 1 || size > dev->info.max_queue_size)
			return VA_ERR_RANGE;
		if (va_le32_to_cpu(v.enabled) > 1)
			return VA_ERR_INVALID;
		if (dev_queue_alloc(q, size) < 0)
			return VA_ERR_BUSY;
		q->size = size;
		q->enabled = va_le32_to_cpu(v.enabled) == 1;
	} else if (rec->msg_id == VA_MSG_RESET_VQUEUE) {
		if (dev_fence_refused(dev, rec, (int)index))
			return 0;
		dev_drop_reqs(dev, (int)index);
		q->enabled = false;
	}
	v.index = va_cpu_to_le32(index);
	v.max_size = va_cpu_to_le32(dev->info.max_queue_size);
	v.size = va_cpu_to_le32(q->size);
	v.enabled = va_cpu_to_le32(q->enabled ? 1 : 0);
	if (rec->msg_id == VA_MSG_RESET_VQUEUE)
		dev_reply_fenced(dev, rec, (int)index, &v, sizeof(v));
	else
		dev_reply(dev, rec, &v, sizeof(v));
	return 0;
}

/* Tell the device which held queues got buffers in this iteration. */
static void dev_announce_ready(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;
	uint64_t mask = dev->ready_mask;
	uint16_t i;

	dev->ready_mask = 0;
	for (i = 0; mask && i < dev->info.num_queues; i++) {
		if (!(mask & (1ull << i)))
			continue;
		mask &= ~(1ull << i);
		if (dev->queues[i].nheld)
			dev->ops->queue_ready(dev, i);
	}
}

unsigned int va_dev_held(const struct va_dev *dev, uint16_t queue)
{
	return queue < dev->info.num_queues ? dev->queues[queue].nheld : 0;
}

struct va_req *va_dev_pop(struct va_dev *dev, uint16_t queue)
{
	if (queue >= dev->info.num_queues || !dev->queues[queue].held_head)
		return NULL;
	return &dev_held_take(dev, &dev->queues[queue])->req;
}

unsigned int va_dev_pop_space(struct va_dev *dev, uint16_t queue, size_t need,
			      struct va_req **reqs, struct iovec *iov,
			      unsigned int max)
{
	struct dev_req *r;
	unsigned int n = 0, i;
	uint64_t space = 0;

	if (queue >= dev->info.num_queues)
		return 0;
	/* Count first: all or nothing. */
	for (r = dev->queues[queue].held_head; r && n < max; r = r->qnext) {
		space += r->req.in_len;
		n++;
		if (space >= need)
			break;
	}
	if (!n || space < need)
		return 0;
	for (i = 0; i < n; i++) {
		r = dev_held_take(dev, &dev->queues[queue]);
		reqs[i] = &r->req;
		if (iov) {
			iov[i].iov_base = r->req.in;
			iov[i].iov_len = r->req.in_len;
		}
	}
	return n;
}

/* Validate a REQUEST and hand it to the device.  Returns 0 or VA_ERR_*. */
static uint32_t dev_request(struct va_dev *dev, const struct va_rec *rec)
{
	struct va_request rq;
	struct dev_queue *q;
	struct dev_req *r;
	uint32_t out_len, in_len, nr_in, i, *segs;
	uint64_t sum = 0, head, total;
	uint8_t *block;

	if (va_rec_body(rec, &rq, sizeof(rq), false) < 0)
		return VA_ERR_INVALID;
	out_len = va_le32_to_cpu(rq.out_len);
	in_len = va_le32_to_cpu(rq.in_len);
	nr_in = va_le16_to_cpu(rq.nr_in);
	if (nr_in > VA_MAX_IN_SEGS)
		return VA_ERR_INVALID;
	/* 64-bit: 16 + 4*256 + 2^32 cannot overflow. */
	if ((uint64_t)rec->len != sizeof(rq) + 4ull * nr_in + out_len)
		return VA_ERR_INVALID;
	if (rec->queue >= dev->info.num_queues)
		return VA_ERR_RANGE;
	q = &dev->queues[rec->queue];
	if (!(dev->status & VA_STATUS_DRIVER_OK) || !q->enabled)
		return VA_ERR_STATE;
	for (i = 0; i < nr_in; i++) {
		uint32_t s;

		memcpy(&s, rec->body + sizeof(rq) + 4 * i, 4);
		sum += va_le32_to_cpu(s);
	}
	if (sum != in_len)
		return VA_ERR_INVALID;
	if (rec->len > dev->info.max_request || in_len > dev->info.max_in ||
	    va_rec_span(sizeof(struct va_response) + (uint64_t)in_len) >
	    dev_msg_limit(dev))
		return VA_ERR_TOO_BIG;
	if (dev_find_req(q, rec->token))
		return VA_ERR_INVALID;
	/* A driver never has more chains out than the queue size, and a
	 * chain is out until its RESPONSE arrives. */
	if (q->inflight + q->unsent >= q->size)
		return VA_ERR_BUSY;
	/* Stale requests of earlier resets still hold memory. */
	if (dev->nreqs >= dev->req_budget)
		return VA_ERR_BUSY;

	/* One block: dev_req, segment sizes, out bytes, padding, in. */
	head = sizeof(*r) + 4ull * nr_in + out_len;
	head = (head + REQ_IN_ALIGN - 1) & ~(uint64_t)(REQ_IN_ALIGN - 1);
	total = head + in_len;
	if (posix_memalign((void **)&block, REQ_IN_ALIGN, total ? total : 1))
		return VA_ERR_BUSY;
	r = (struct dev_req *)block;
	memset(r, 0, sizeof(*r));
	segs = (uint32_t *)(block + sizeof(*r));
	for (i = 0; i < nr_in; i++) {
		uint32_t s;

		memcpy(&s, rec->body + sizeof(rq) + 4 * i, 4);
		segs[i] = va_le32_to_cpu(s);
	}
	r->req.dev = dev;
	r->req.queue = rec->queue;
	r->req.id = rec->token;
	r->req.out = block + sizeof(*r) + 4 * nr_in;
	r->req.out_len = out_len;
	memcpy(block + sizeof(*r) + 4 * nr_in,
	       rec->body + sizeof(rq) + 4 * nr_in, out_len);
	r->req.in = block + head;
	r->req.in_len = in_len;
	/* The device may answer fewer bytes than it was given: never let
	 * old heap contents reach the guest. */
	memset(r->req.in, 0, in_len);
	r->req.nr_in = (uint16_t)nr_in;
	r->req.in_seg = segs;

	r->hnext = q->buckets[dev_hash(rec->token, q->nbuckets)];
	q->buckets[dev_hash(rec->token, q->nbuckets)] = r;
	q->inflight++;
	r->next = &dev->reqs;
	r->prev = dev->reqs.prev;
	dev->reqs.prev->next = r;
	dev->reqs.prev = r;
	dev->nreqs++;
	dev->stats.requests++;
	if (q->held_mode) {
		r->held = true;
		if (q->held_tail)
			q->held_tail->qnext = r;
		else
			q->held_head = r;
		q->held_tail = r;
		q->nheld++;
		dev->nheld++;
		dev->ready_mask |= 1ull << rec->queue;
		va_loop_defer(dev->loop, dev_announce_ready, dev);
		return 0;
	}
	dev->ops->request(dev, &r->req);
	return 0;
}

static bool dev_allowed_needs_reset(const struct va_rec *rec)
{
	struct va_status s;

	switch (rec->msg_id) {
	case VA_MSG_DEVICE_INFO:
	case VA_MSG_GET_DEVICE_STATUS:
	case VA_MSG_GET_CONFIG:
		return true;
	case VA_MSG_SET_DEVICE_STATUS:
		return va_rec_body(rec, &s, sizeof(s), true) == 0 &&
		       va_le32_to_cpu(s.status) == 0;
	default:
		return false;
	}
}

/* Handle one decoded record from the driver; replies go to dev->batch. */
static void dev_handle_record(struct va_dev *dev, const struct va_rec *rec)
{
	struct va_status s;
	uint32_t err = 0;

	if (rec->flags & VA_F_RESPONSE) {
		dev->stats.dropped++;
		dev_violation(dev, "response sent to the device");
		return;
	}
	if (rec->msg_id == VA_MSG_DEVICE_INFO) {
		dev_device_info(dev, rec);
		return;
	}
	if (!dev->drv_session || rec->session != dev->drv_session) {
		dev_reply_err(dev, rec->msg_id, rec->queue, rec->token,
			      VA_ERR_STATE, 0);
		return;
	}
	if ((dev->status & VA_STATUS_NEEDS_RESET) &&
	    !dev_allowed_needs_reset(rec)) {
		dev_reply_err(dev, rec->msg_id, rec->queue, rec->token,
			      VA_ERR_NEEDS_RESET, 0);
		return;
	}
	switch (rec->msg_id) {
	case VA_MSG_GET_DEV_FEATURES:
	case VA_MSG_SET_DRV_FEATURES:
		err = dev_features_rec(dev, rec);
		break;
	case VA_MSG_GET_CONFIG:
	case VA_MSG_SET_CONFIG:
		err = dev_config_rec(dev, rec);
		break;
	case VA_MSG_GET_DEVICE_STATUS:
		if (rec->len != 0 && rec->len != sizeof(s)) {
			err = VA_ERR_INVALID;
			break;
		}
		s.status = va_cpu_to_le32(dev->status);
		s.reserved = 0;
		dev_reply(dev, rec, &s, sizeof(s));
		break;
	case VA_MSG_SET_DEVICE_STATUS:
		err = dev_set_status(dev, rec);
		break;
	case VA_MSG_GET_VQUEUE:
	case VA_MSG_SET_VQUEUE:
	case VA_MSG_RESET_VQUEUE:
		err = dev_vqueue_rec(dev, rec);
		break;
	case VA_MSG_REQUEST:
		if (dev->state == DEV_STOPPING) {
			/* Not answered: the next backend gets it replayed. */
			dev->stats.dropped++;
			return;
		}
		err = dev_request(dev, rec);
		if (err) {
			va_log_ratelimited(&dev->rl_log, VA_LOG_DEBUG,
					   "%s: request %u queue %u: %s",
					   dev->name, rec->token, rec->queue,
					   va_err_name(err));
			dev_violation(dev, "bad request");
		}
		break;
	default:
		err = VA_ERR_UNSUPPORTED;
		break;
	}
	if (err)
		dev_reply_err(dev, rec->msg_id, rec->queue, rec->token, err, 0);
}

/* Answer a message of our magic but another version (rate-limited). */
static void dev_version_reply(struct va_dev *dev, const uint8_t *p,
			      uint32_t len)
{
	struct va_hdr h;
	uint8_t msg_id = 0;
	uint32_t token = 0;

	if (!va_ratelimit_ok(&dev->rl_version))
		return;
	if (len >= sizeof(h)) {
		memcpy(&h, p, sizeof(h));
		msg_id = h.msg_id;
		token = va_le32_to_cpu(h.token);
	}
	dev_reply_err(dev, msg_id, 0, token, VA_ERR_VERSION,
		      VA_PROTOCOL_VERSION);
}

void va_dev_input(struct va_dev *dev, uint16_t src_dom, uint32_t src_port,
		  uint32_t message_type, const void *payload, uint32_t len)
{
	struct va_rec_iter it;
	struct va_rec rec;
	int r;

	if (src_dom != dev->guest || src_port != dev->driver_port) {
		dev->stats.dropped++;
		va_log_ratelimited(&dev->rl_log, VA_LOG_DEBUG,
				   "%s: message from dom%u port %#x dropped",
				   dev->name, src_dom, src_port);
		return;
	}
	r = va_check_msg_type(message_type);
	if (r == -EPROTO) {
		dev->stats.dropped++;
		return;
	}
	if (r == -EPROTONOSUPPORT) {
		dev->stats.dropped++;
		dev_version_reply(dev, payload, len);
		return;
	}
	va_rec_iter_init(&it, payload, len);
	while ((r = va_rec_next(&it, &rec)) > 0)
		dev_handle_record(dev, &rec);
	if (r < 0 || len == 0) {
		dev->stats.dropped++;
		dev_violation(dev, "malformed message");
	}
}

/* ------------------------------------------------------------------ */
/* Ring                                                                */
/* ------------------------------------------------------------------ */

static void dev_ring_lost(struct va_dev *dev)
{
	/* Nobody is left to read the replies still queued (the control
	 * replies a reset keeps), and the next guest must not get them. */
	dev_sendq_drop(dev);
	dev_records_gone(dev, dev->batch.buf, dev->batch.len);
	va_batch_reset(&dev->batch);
	dev_drop_session(dev);
	dev_drop_fences(dev);
	/* Whoever registers next is a new guest (or a new boot of it). */
	dev->violations = 0;
	dev_set_throttled(dev, false);
	va_notice("%s: dom%u port %#x: ring lost, waiting for the guest (%u of its requests still executing)",
		  dev->name, dev->guest, dev->port, dev->nstale);
	va_argo_unregister_ring(dev->ring);
	dev->ring = NULL;
	dev->backoff_ms = BACKOFF_MIN_MS;
	/* A stopping device only waits for its requests to end. */
	if (dev->state == DEV_STOPPING)
		return;
	dev->state = DEV_WAIT;
}

void va_dev_ring_lost(struct va_dev *dev)
{
	dev_ring_lost(dev);
}

static void dev_drain(struct va_dev *dev)
{
	struct va_ring_msg m;
	unsigned int n = 0;
	const uint8_t *payload;
	int r;

	if (dev->throttled && dev_backlog(dev) <= dev_backlog_cap(dev))
		dev_set_throttled(dev, false);
	while (n < DRAIN_MAX_MSGS && dev->ring) {
		if (dev_backlog(dev) > dev_backlog_cap(dev)) {
			/* The guest does not read its ring: stop reading
			 * ours, so its sends wait for space instead of our
			 * replies piling up.  dev_unthrottle goes on. */
			if (!dev->throttled) {
				dev_set_throttled(dev, true);
				dev->stats.throttled++;
				va_log_ratelimited(&dev->rl_throttle,
						   VA_LOG_NOTICE,
						   "%s: dom%u: %zu bytes of replies wait for the guest's ring: not reading until they drain",
						   dev->name, dev->guest,
						   dev_backlog(dev));
			}
			break;
		}
		r = va_ring_peek(dev->ring, &m);
		if (r == 0)
			break;
		if (r < 0) {
			va_warn("%s: dom%u: ring corrupt, re-registering",
				dev->name, dev->guest);
			dev_ring_lost(dev);
			dev_try_register(dev);
			return;
		}
		n++;
		payload = m.p1;
		if (m.n2) {
			/* Wrapped: n1 + n2 <= ring len = scratch size. */
			va_ring_msg_copy(&m, 0, dev->scratch, m.n1 + m.n2);
			payload = dev->scratch;
		}
		va_dev_input(dev, m.hdr.source.domain_id, m.hdr.source.aport,
			     m.hdr.message_type, payload, m.n1 + m.n2);
		va_ring_consume(dev->ring);
	}
	if (n && dev->argo)
		va_argo_notify(dev->argo, NULL, 0);
	if (n && dev->ops->kick)
		dev->ops->kick(dev);
	if (n == DRAIN_MAX_MSGS && !dev->throttled)
		va_loop_defer(dev->loop, dev_drain_again, dev);
}

/* The previous drain stopped at DRAIN_MAX_MSGS: go on (the fd will not
 * fire again for messages already in the ring). */
static void dev_drain_again(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;

	if (dev->ring && va_ring_alive(dev->ring) && !dev->throttled)
		dev_drain(dev);
	if (dev->sendq && !dev->waiting_space)
		va_dev_retry_sends(dev);
}

static void dev_argo_ready(struct va_loop *loop, int fd, uint32_t events,
			   void *opaque)
{
	struct va_dev *dev = opaque;

	va_argo_ack(dev->argo);
	if (dev->state == DEV_WAIT) {
		/* The set of domains may have changed; a back-off in
		 * progress runs its course. */
		if (!dev->backing_off)
			dev_try_register(dev);
		return;
	}
	if (!dev->ring)
		return;
	if (!va_ring_alive(dev->ring)) {
		dev_ring_lost(dev);
		dev_try_register(dev);
		dev_stop_check(dev);
		return;
	}
	dev_drain(dev);
	if (dev->sendq)
		va_dev_retry_sends(dev);
}

static void dev_timer_fired(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;

	dev->timer = NULL;
	dev->backing_off = false;
	if (dev->state == DEV_WAIT)
		dev_try_register(dev);
}

static void dev_arm_timer(struct va_dev *dev, uint32_t ms)
{
	va_loop_cancel_timer(dev->loop, dev->timer);
	dev->timer = NULL;
	dev->backing_off = false;
	va_loop_add_timer(dev->loop, ms, dev_timer_fired, dev, &dev->timer);
}

/*
 * --domain: which domain has the name now.  A guest that rebooted has a
 * new id under the same name; it is looked up each time it is waited for.
 */
static int dev_resolve_guest(struct va_dev *dev)
{
	uint16_t domid;
	int r;

	r = va_argo_domain_lookup(dev->argo, dev->guest_name, &domid);
	if (r < 0) {
		if (r != -ENOENT)
			va_log_ratelimited(&dev->rl_log, VA_LOG_WARN,
					   "%s: domain %s: %s", dev->name,
					   dev->guest_name, strerror(-r));
		return r;
	}
	if (domid != dev->guest) {
		va_notice("%s: domain %s is dom%u", dev->name,
			  dev->guest_name, domid);
		dev->guest = domid;
	}
	return 0;
}

static void dev_try_register(struct va_dev *dev)
{
	int r;

	if (dev->state != DEV_WAIT)
		return;
	if (dev->guest_name) {
		/* A name resolves only to a domain that exists.  The fd
		 * fires when a domain is introduced; poll too. */
		if (dev_resolve_guest(dev) < 0) {
			dev_arm_timer(dev, DOMAIN_POLL_MS);
			return;
		}
	} else if (va_argo_domain_exists(dev->argo, dev->guest) == 0) {
		/* The fd fires when the set of domains changes; poll too in
		 * case the transport cannot tell. */
		dev_arm_timer(dev, DOMAIN_POLL_MS);
		return;
	}
	r = va_argo_register_ring(dev->argo, dev->port, dev->guest,
				  dev->ring_len, &dev->ring);
	if (r < 0) {
		if (r != -ESRCH)
			va_log_ratelimited(&dev->rl_log, VA_LOG_WARN,
					   "%s: dom%u port %#x: register: %s",
					   dev->name, dev->guest, dev->port,
					   strerror(-r));
		dev->ring = NULL;
		dev_arm_timer(dev, dev->backoff_ms);
		dev->backing_off = true;
		dev->backoff_ms = dev->backoff_ms * 2 > BACKOFF_MAX_MS ?
				  BACKOFF_MAX_MS : dev->backoff_ms * 2;
		return;
	}
	va_loop_cancel_timer(dev->loop, dev->timer);
	dev->timer = NULL;
	dev->backing_off = false;
	dev->state = DEV_RUNNING;
	dev->backoff_ms = BACKOFF_MIN_MS;
	va_info("%s: dom%u port %#x: ring registered, session %#x", dev->name,
		dev->guest, dev->port, dev->session);
	dev_send_hello(dev);
	/* Messages may have arrived between registration and now. */
	dev_drain(dev);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

int va_dev_new(struct va_loop *loop, struct va_argo *argo,
	       const struct va_dev_info *info, const struct va_dev_ops *ops,
	       void *opaque, const struct va_dev_opts *opts,
	       struct va_dev **ret)
{
	struct va_dev *dev;
	uint32_t limit;
	uint64_t all;
	uint16_t i;

	if (!loop || !info || !ops || !opts)
		return -EINVAL;
	if (info->num_queues == 0 || info->num_queues > VA_MAX_QUEUES ||
	    info->max_queue_size == 0 ||
	    info->max_queue_size > VA_MAX_QUEUE_SIZE ||
	    info->config_size > VA_MAX_CONFIG_SIZE)
		return -EINVAL;
	/* Push queues need ->request, held ones ->queue_ready. */
	all = info->num_queues >= 64 ? ~0ull : (1ull << info->num_queues) - 1;
	if ((info->held_queues & ~all) ||
	    ((all & ~info->held_queues) && !ops->request) ||
	    (info->held_queues && !ops->queue_ready))
		return -EINVAL;
	if (opts->ring_len && (!va_argo_ring_len_valid(opts->ring_len) ||
			       opts->ring_len < VA_RING_LEN_MIN))
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->loop = loop;
	dev->argo = argo;
	dev->info = *info;
	dev->ops = ops;
	dev->opaque = opaque;
	dev->guest = opts->guest_name ? VA_ARGO_DOMID_ANY : opts->guest_domid;
	dev->port = opts->port;
	dev->driver_port = opts->driver_port ? opts->driver_port : opts->port;
	dev->ring_len = opts->ring_len ? opts->ring_len : VA_RING_LEN_DEFAULT;
	snprintf(dev->name, sizeof(dev->name), "%s",
		 opts->name ? opts->name : "dev");
	/* A request must fit one message of our ring. */
	limit = va_argo_ring_max_payload(dev->ring_len) -
		(uint32_t)sizeof(struct va_hdr);
	if (!dev->info.max_request || dev->info.max_request > limit)
		dev->info.max_request = limit;
	if (!dev->info.max_in || dev->info.max_in > VA_RING_LEN_MAX)
		dev->info.max_in = VA_RING_LEN_MAX;
	dev->session = va_random_session();
	dev->reqs.next = dev->reqs.prev = &dev->reqs;
	dev->req_budget = (unsigned int)info->num_queues *
			  info->max_queue_size;
	dev->backoff_ms = BACKOFF_MIN_MS;
	dev->rl_log = (struct va_ratelimit)VA_RATELIMIT_INIT(5000, 10);
	dev->rl_version = (struct va_ratelimit)VA_RATELIMIT_INIT(1000, 10);
	dev->rl_throttle = (struct va_ratelimit)VA_RATELIMIT_INIT(10000, 1);
	va_batch_init(&dev->batch, dev_msg_limit(dev));
	dev->queues = calloc(info->num_queues, sizeof(*dev->queues));
	dev->scratch = malloc(dev->ring_len);
	if (opts->guest_name)
		dev->guest_name = strdup(opts->guest_name);
	if (!dev->queues || !dev->scratch ||
	    (opts->guest_name && !dev->guest_name)) {
		va_dev_free(dev);
		return -ENOMEM;
	}
	for (i = 0; i < info->num_queues; i++)
		dev->queues[i].held_mode = info->held_queues & (1ull << i);
	dev_reset(dev);
	*ret = dev;
	return 0;
}

void va_dev_set_send_hook(struct va_dev *dev, va_dev_send_hook send,
			  void *opaque)
{
	dev->send_hook = send;
	dev->send_hook_opaque = opaque;
	dev->state = DEV_RUNNING;
}

int va_dev_start(struct va_dev *dev)
{
	int r;

	if (dev->state != DEV_IDLE)
		return -EALREADY;
	if (!dev->argo)
		return -EINVAL;
	r = va_loop_add_fd(dev->loop, va_argo_fd(dev->argo), EPOLLIN,
			   dev_argo_ready, dev);
	if (r < 0)
		return r;
	dev->fd_watched = true;
	dev->state = DEV_WAIT;
	if (dev->guest_name)
		va_info("%s: serving domain %s on port %#x", dev->name,
			dev->guest_name, dev->port);
	else
		va_info("%s: serving dom%u on port %#x", dev->name,
			dev->guest, dev->port);
	dev_try_register(dev);
	return 0;
}

static void dev_stop_finish(struct va_dev *dev)
{
	va_cb done = dev->stop_done;
	const struct va_dev_stats *st = &dev->stats;

	va_notice("%s: dom%u port %#x: stopped: %llu requests, %llu responses, %llu dropped, %llu violations, %llu sessions, %llu fenced, throttled %llu, backlog max %llu bytes",
		dev->name, dev->guest, dev->port,
		(unsigned long long)st->requests,
		(unsigned long long)st->responses,
		(unsigned long long)st->dropped,
		(unsigned long long)st->violations,
		(unsigned long long)st->sessions,
		(unsigned long long)st->fenced,
		(unsigned long long)st->throttled,
		(unsigned long long)st->backlog_max);

	va_loop_cancel_timer(dev->loop, dev->timer);
	dev->timer = NULL;
	dev_flush_batch(dev);
	dev_drop_session(dev);
	va_argo_unregister_ring(dev->ring);
	dev->ring = NULL;
	if (dev->fd_watched) {
		va_loop_del_fd(dev->loop, va_argo_fd(dev->argo));
		dev->fd_watched = false;
	}
	dev->state = DEV_STOPPED;
	dev->stop_done = NULL;
	if (done)
		done(dev->loop, dev->stop_opaque);
}

static void dev_stop_deferred(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;

	if (dev->state == DEV_STOPPING && !dev->nreqs && !dev->sendq &&
	    !dev->batch.count)
		dev_stop_finish(dev);
}

/* While stopping: finish once every request is answered and sent. */
static void dev_stop_check(struct va_dev *dev)
{
	if (dev->state != DEV_STOPPING || dev->nreqs || dev->sendq)
		return;
	va_loop_defer(dev->loop, dev_stop_deferred, dev);
}

static void dev_stop_timeout(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;

	dev->timer = NULL;
	if (dev->state != DEV_STOPPING)
		return;
	if (dev->nreqs || dev->sendq)
		va_notice("%s: stop timeout: %u requests unanswered",
			  dev->name, dev->nreqs);
	dev_stop_finish(dev);
}

void va_dev_stop(struct va_dev *dev, uint64_t timeout_ms, va_cb done,
		 void *opaque)
{
	dev->stop_done = done;
	dev->stop_opaque = opaque;
	if (dev->state == DEV_STOPPED || dev->state == DEV_IDLE ||
	    dev->state == DEV_WAIT) {
		dev->state = DEV_STOPPING;
		dev_stop_finish(dev);
		return;
	}
	if (dev->state == DEV_STOPPING)
		return;
	dev->state = DEV_STOPPING;
	/* Nobody will fill them: the next backend gets them replayed. */
	dev_drop_held(dev, -1);
	va_loop_cancel_timer(dev->loop, dev->timer);
	dev->timer = NULL;
	va_loop_add_timer(dev->loop, timeout_ms, dev_stop_timeout, dev,
			  &dev->timer);
	dev_stop_check(dev);
}

void va_dev_free(struct va_dev *dev)
{
	struct dev_req *r, *next;
	uint16_t i;

	if (!dev)
		return;
	if (dev->state != DEV_IDLE && dev->state != DEV_STOPPED) {
		dev->stop_done = NULL;
		dev->state = DEV_STOPPING;
		dev_stop_finish(dev);
	}
	va_loop_cancel_timer(dev->loop, dev->timer);
	dev_sendq_drop(dev);
	dev_drop_fences(dev);
	/* Requests the device never completed: it is gone with us. */
	for (r = dev->reqs.next; r && r != &dev->reqs; r = next) {
		next = r->next;
		free(r);
	}
	if (dev->queues)
		for (i = 0; i < dev->info.num_queues; i++)
			free(dev->queues[i].buckets);
	free(dev->queues);
	free(dev->scratch);
	free(dev->guest_name);
	va_batch_free(&dev->batch);
	free(dev);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

void *va_dev_opaque(const struct va_dev *dev)
{
	return dev->opaque;
}

struct va_loop *va_dev_loop(const struct va_dev *dev)
{
	return dev->loop;
}

const char *va_dev_name(const struct va_dev *dev)
{
	return dev->name;
}

uint16_t va_dev_guest(const struct va_dev *dev)
{
	return dev->guest;
}

uint32_t va_dev_port(const struct va_dev *dev)
{
	return dev->port;
}

uint8_t *va_dev_config(struct va_dev *dev)
{
	return dev->config;
}

uint64_t va_dev_features(const struct va_dev *dev)
{
	return (dev->status & VA_STATUS_FEATURES_OK) ? dev->drv_features : 0;
}

uint8_t va_dev_status(const struct va_dev *dev)
{
	return dev->status;
}

uint16_t va_dev_queue_size(const struct va_dev *dev, uint16_t queue)
{
	if (queue >= dev->info.num_queues)
		return 0;
	return (uint16_t)(dev->queues[queue].size > UINT16_MAX ? UINT16_MAX :
			  dev->queues[queue].size);
}

unsigned int va_dev_inflight(const struct va_dev *dev)
{
	return dev->nreqs;
}

uint32_t va_dev_session(const struct va_dev *dev)
{
	return dev->session;
}

void va_dev_get_stats(const struct va_dev *dev, struct va_dev_stats *ret)
{
	*ret = dev->stats;
}
