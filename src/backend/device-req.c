/* SPDX-License-Identifier: MIT */
/*
 * The device core's requests (the design is in device.c): the per-queue id
 * tables and held lists, dropping the work of a queue or of all at a reset,
 * the fences that hold a reply until the stale requests it covers have
 * ended, and va_req_complete.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "device-priv.h"
#include "log.h"
#include "util.h"

#define DEV_MAX_FENCES		16u	/* held replies; a driver needs one */

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static uint32_t dev_hash(uint32_t id, uint32_t nbuckets)
{
	return (id * 2654435761u) & (nbuckets - 1);
}

struct dev_req *dev_find_req(struct dev_queue *q, uint32_t id)
{
	struct dev_req *r;

	if (!q->nbuckets)
		return NULL;
	for (r = q->buckets[dev_hash(id, q->nbuckets)]; r; r = r->hnext)
		if (r->req.id == id)
			return r;
	return NULL;
}

/* A new request: into its queue's id table and the device's list. */
void dev_link_req(struct va_dev *dev, struct dev_queue *q, struct dev_req *r)
{
	uint32_t b = dev_hash(r->req.id, q->nbuckets);

	r->hnext = q->buckets[b];
	q->buckets[b] = r;
	q->inflight++;
	r->next = &dev->reqs;
	r->prev = dev->reqs.prev;
	dev->reqs.prev->next = r;
	dev->reqs.prev = r;
	dev->nreqs++;
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

/* Put a new request of a held queue at the end of its held list. */
void dev_held_put(struct va_dev *dev, struct dev_queue *q, struct dev_req *r)
{
	r->held = true;
	if (q->held_tail)
		q->held_tail->qnext = r;
	else
		q->held_head = r;
	q->held_tail = r;
	q->nheld++;
	dev->nheld++;
}

/* Free a request and its device-writable space. */
void dev_req_free(struct dev_req *r)
{
	if (r && r->in_apart)
		free(r->req.in);
	free(r);
}

/* Take the head of a held queue's list (the device or a drop takes it). */
struct dev_req *dev_held_take(struct va_dev *dev, struct dev_queue *q)
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
void dev_drop_held(struct va_dev *dev, int queue)
{
	struct dev_req *r;
	uint16_t i;

	for (i = 0; i < dev->info.num_queues; i++) {
		if (queue >= 0 && i != queue)
			continue;
		while (dev->queues[i].held_head) {
			r = dev_held_take(dev, &dev->queues[i]);
			dev_unlink_req(dev, r);
			dev_req_free(r);
		}
	}
}

/* Drop the work of `queue` (or all if queue < 0): held buffers are freed,
 * live requests marked stale (the device still completes them). */
void dev_drop_reqs(struct va_dev *dev, int queue)
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
bool dev_fence_refused(struct va_dev *dev, const struct va_rec *rec,
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
void dev_reply_fenced(struct va_dev *dev, const struct va_rec *rec,
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
void dev_drop_fences(struct va_dev *dev)
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
		dev_req_free(r);
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
		dev_req_free(r);
		dev_stop_check(dev);
		return;
	}
	/* Large: its own message, header copied, data sent from req->in.
	 * The batch goes first to keep the order of replies. */
	dev_flush_batch(dev);
	m = dev->fail_alloc ? NULL : calloc(1, sizeof(*m));
	dev->fail_alloc = false;
	if (m)
		m->buf = malloc(sizeof(h) + sizeof(resp));
	if (!m || !m->buf) {
		free(m);
		dev_unsent_put(dev, req->queue);
		dev_req_free(r);
		va_log_ratelimited(&dev->rl_log, VA_LOG_ERR,
				   "%s: out of memory, response dropped",
				   dev->name);
		dev_stop_check(dev);
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
