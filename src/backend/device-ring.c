/* SPDX-License-Identifier: MIT */
/*
 * The device core's ring (the design is in device.c): registration, with
 * back-off while the guest is not there, draining the received messages,
 * and the ring's loss when the guest goes.
 */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "device-priv.h"
#include "log.h"
#include "util.h"

#define BACKOFF_MAX_MS		5000u
#define DOMAIN_POLL_MS		1000u	/* fallback while waiting for the guest */
#define DRAIN_MAX_MSGS		1024u	/* messages per drain before yielding */

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
		dev->ops->kick(dev->opaque);
	if (n == DRAIN_MAX_MSGS && !dev->throttled)
		va_loop_defer(dev->loop, dev_drain_again, dev);
}

/* The previous drain stopped at DRAIN_MAX_MSGS: go on (the fd will not
 * fire again for messages already in the ring). */
void dev_drain_again(struct va_loop *loop, void *opaque)
{
	struct va_dev *dev = opaque;

	if (dev->ring && va_ring_alive(dev->ring) && !dev->throttled)
		dev_drain(dev);
	if (dev->sendq && !dev->waiting_space)
		va_dev_retry_sends(dev);
}

void dev_argo_ready(struct va_loop *loop, int fd, uint32_t events,
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

void dev_try_register(struct va_dev *dev)
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
