/* SPDX-License-Identifier: MIT */
/*
 * The device core's sending (the design is in device.c): the replies of
 * one loop iteration batched into one message, a large RESPONSE sent
 * uncopied from req->in, the ordered queue of messages that wait for ring
 * space, and the backlog that pauses the reading of our ring.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "device-priv.h"
#include "log.h"
#include "util.h"

#define COPY_MIN		4096u		/* responses batched (copied) up to */
#define COPY_MAX		(256u * 1024u)	/* max(COPY_MIN, min(COPY_MAX, ring/16)) */
#define COPY_RING_SHARE		16u

static void dev_retry_deferred(struct va_loop *loop, void *opaque);

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

uint32_t dev_msg_limit(const struct va_dev *dev)
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
size_t dev_copy_max(const struct va_dev *dev)
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
	dev_req_free(m->req);
	free(m->buf);
	free(m);
}

/* One RESPONSE of `queue` left our hands: sent, or dropped. */
void dev_unsent_put(struct va_dev *dev, uint16_t queue)
{
	if (queue < dev->info.num_queues && dev->queues[queue].unsent)
		dev->queues[queue].unsent--;
}

/* The records in buf (of our own making) left our hands. */
void dev_records_gone(struct va_dev *dev, const uint8_t *buf,
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
size_t dev_backlog(const struct va_dev *dev)
{
	return dev->sendq_bytes + dev->batch.len;
}

/* Above this backlog the ring is not read (about one driver ring). */
size_t dev_backlog_cap(const struct va_dev *dev)
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

void dev_sendq_drop(struct va_dev *dev)
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
void dev_drop_responses(struct va_dev *dev)
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
void dev_set_throttled(struct va_dev *dev, bool on)
{
	if (dev->throttled == on)
		return;
	dev->throttled = on;
	if (dev->fd_watched)
		va_loop_mod_fd(dev->loop, va_argo_fd(dev->argo),
			       on ? EPOLLIN | EPOLLET : EPOLLIN);
}

/* Reading was paused for the backlog: go on once it is below the cap. */
void dev_unthrottle(struct va_dev *dev)
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
void dev_send_msg(struct va_dev *dev, struct dev_msg *m)
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
void dev_flush_batch(struct va_dev *dev)
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
int dev_add_record(struct va_dev *dev, uint8_t msg_id, uint8_t flags,
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

void dev_reply(struct va_dev *dev, const struct va_rec *rec,
	       const void *body, size_t len)
{
	struct iovec iov = { .iov_base = (void *)body, .iov_len = len };

	dev_add_record(dev, rec->msg_id, VA_F_RESPONSE, rec->queue, rec->token,
		       &iov, len ? 1 : 0);
}

void dev_reply_err(struct va_dev *dev, uint8_t msg_id, uint16_t queue,
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

void dev_send_event(struct va_dev *dev)
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

void dev_send_hello(struct va_dev *dev)
{
	struct va_hello h = {
		.device_id = va_cpu_to_le32(dev->info.device_id),
		.version_max = va_cpu_to_le32(VA_PROTOCOL_VERSION),
	};
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };

	dev_add_record(dev, VA_MSG_HELLO, 0, 0, 0, &iov, 1);
}
