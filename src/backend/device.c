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
 *
 * Files: this one holds the device's state (resets), its life cycle and
 * accessors; device-send.c the sending, device-req.c the requests, held
 * lists and fences, device-rec.c the records a driver sends, device-ring.c
 * the ring, device-state.c the driver session's state and its file
 * (va_dev_state_save); device-priv.h what they share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "device-priv.h"
#include "log.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

void dev_violation(struct va_dev *dev, const char *what)
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
void dev_reset(struct va_dev *dev)
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
		dev->ops->reset(dev->opaque);
	/* The device's values again (a driver's writes are undone), with
	 * no bump: the driver starts over. */
	if (dev->ops->get_config)
		dev->ops->get_config(dev->opaque, dev->config);
}

void dev_drop_session(struct va_dev *dev)
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

/* ------------------------------------------------------------------ */
/* Config space (see device.h)                                         */
/* ------------------------------------------------------------------ */

/* The device changed bytes [off, off+size) to `data`: one bump and one
 * event if any of them differs. */
static void dev_config_commit(struct va_dev *dev, uint32_t off,
			      const uint8_t *data, uint32_t size)
{
	if (!size || !memcmp(dev->config + off, data, size))
		return;
	memcpy(dev->config + off, data, size);
	dev->generation++;
	dev_send_event(dev);
}

int va_dev_config_set(struct va_dev *dev, uint32_t off, const void *data,
		      uint32_t size)
{
	if ((uint64_t)off + size > dev->info.config_size)
		return -ERANGE;
	dev_config_commit(dev, off, data, size);
	return 0;
}

void va_dev_config_update(struct va_dev *dev)
{
	uint8_t buf[VA_MAX_CONFIG_SIZE];

	if (!dev->ops->get_config)
		return;
	memcpy(buf, dev->config, dev->info.config_size);
	dev->ops->get_config(dev->opaque, buf);
	dev_config_commit(dev, 0, buf, dev->info.config_size);
}

const uint8_t *va_dev_config(const struct va_dev *dev)
{
	return dev->config;
}

uint32_t va_dev_config_generation(const struct va_dev *dev)
{
	return dev->generation;
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
	int r;

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
	if (opts->ring_len && !va_ring_len_ok(opts->ring_len))
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
	r = dev_state_open(dev, opts->state_dir, opts->guest_name);
	if (r < 0) {
		va_dev_free(dev);
		return r;
	}
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
void dev_stop_check(struct va_dev *dev)
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
		dev_req_free(r);
	}
	if (dev->queues)
		for (i = 0; i < dev->info.num_queues; i++)
			free(dev->queues[i].buckets);
	free(dev->queues);
	free(dev->scratch);
	free(dev->guest_name);
	dev_state_free(dev);
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

uint16_t va_dev_self_domid(const struct va_dev *dev)
{
	return dev->argo ? va_argo_self_domid(dev->argo) : 0;
}

uint32_t va_dev_port(const struct va_dev *dev)
{
	return dev->port;
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

void va_dev_fail_next_alloc(struct va_dev *dev)
{
	dev->fail_alloc = true;
}

uint32_t va_dev_session(const struct va_dev *dev)
{
	return dev->session;
}

void va_dev_get_stats(const struct va_dev *dev, struct va_dev_stats *ret)
{
	*ret = dev->stats;
}
