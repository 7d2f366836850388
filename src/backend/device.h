/* SPDX-License-Identifier: MIT */
/*
 * The device core: the device side of the virtio-argo protocol, shared by
 * every backend daemon.  It owns the device's Argo ring, the session with
 * the guest, feature negotiation, the status state machine (NEEDS_RESET
 * included), the config space (its only copy) with its generation count,
 * queue setup, and the request objects.  Each queue is one of two kinds:
 *
 *   push (default)  every buffer chain is handed to the device at once:
 *                   ops->request(dev, req), with its device-readable bytes
 *                   (req->out) and a buffer for the device-writable ones
 *                   (req->in); for requests that start work (blk, net TX)
 *   held            (va_dev_info.held_queues) the core keeps the chains;
 *                   ops->queue_ready(dev, queue) says some arrived, and the
 *                   device takes them when it has data for them
 *                   (va_dev_pop, va_dev_pop_space); for buffers that wait
 *                   for data (net RX, console input).  Chains no device has
 *                   taken are dropped by the core itself at a reset,
 *                   RESET_VQUEUE, a new driver session, the guest's loss
 *                   and a stop, unanswered: the driver re-posts them (or
 *                   replays them to the next backend), and nothing waits.
 *
 *   va_req_complete(req, n)     n bytes of req->in are the answer
 *
 * plus a few lifecycle callbacks.  Requests may be completed in any order
 * and later (after I/O); the core sends the RESPONSE records, batching
 * them, and waits for ring space when the guest's ring is full.
 *
 * Trust: everything from the guest is validated here before a device sees
 * it.  Requests per queue are bounded by the negotiated queue size, sizes by
 * the device's max_request, so memory per device is bounded.  Messages
 * from any domain other than the served guest never arrive (the ring's
 * partner is the guest) and are dropped if they do.
 *
 * The core does not own the event loop; it registers its fds with the
 * va_loop it is given.
 */
#ifndef VA_BACKEND_DEVICE_H
#define VA_BACKEND_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "argo.h"
#include "loop.h"

struct va_dev;

struct va_req {
	struct va_dev *dev;
	uint16_t queue;
	uint32_t id;			/* the driver's request id (hdr.token) */
	const uint8_t *out;		/* device-readable bytes */
	uint32_t out_len;
	uint8_t *in;			/* device-writable buffer of in_len bytes */
	uint32_t in_len;
	uint16_t nr_in;			/* the driver's segment layout of `in` */
	const uint32_t *in_seg;
	void *priv;			/* free for the device's use */
};

/*
 * A device's callbacks.  Each receives the device's own pointer, the
 * `opaque` given to va_dev_new (a struct blk for blkd), so a device's
 * functions go into the table as they are; a device that needs its
 * struct va_dev keeps it (va_dev_new returns it) or takes req->dev.
 */
struct va_dev_ops {
	/*
	 * A request arrived on an enabled queue of a DRIVER_OK device.  The
	 * device owns it until va_req_complete().  Called only from the loop.
	 */
	void (*request)(void *opaque, struct va_req *req);
	/*
	 * A held queue has new buffers (va_dev_held() of them in all).
	 * Called once per loop iteration in which some arrived, after the
	 * ring was drained.  Required if any queue is held.
	 */
	void (*queue_ready)(void *opaque, uint16_t queue);
	/* Every request of the current ring drain has been passed to
	 * ->request: submit batched I/O now.  Optional. */
	void (*kick)(void *opaque);
	/*
	 * FEATURES_OK was requested with these negotiated bits (device bits
	 * and VERSION_1).  Return 0 to accept, negative errno to refuse
	 * (the status then lacks FEATURES_OK).  Optional.
	 */
	int (*set_features)(void *opaque, uint64_t features);
	/*
	 * The device's config values (see "Config space" below): `cfg` holds
	 * the current config_size bytes; store the device's fields over them
	 * (a field the driver writes and the device does not hold may be
	 * left alone).  Called by va_dev_new (cfg zeroed), after ->reset and
	 * by va_dev_config_update().  Optional.
	 */
	void (*get_config)(void *opaque, uint8_t *cfg);
	/*
	 * The driver writes config bytes [off, off+size): `cfg` is the whole
	 * config space as it would be after the write.  Return 0 to accept
	 * (the core then stores the bytes; no generation change: the driver
	 * made it), negative errno to refuse (nothing has changed).
	 * Optional: without it config is read-only and writes are refused.
	 */
	int (*write_config)(void *opaque, const uint8_t *cfg, uint32_t off,
			    uint32_t size);
	/* DRIVER_OK was set.  Optional. */
	void (*driver_ok)(void *opaque);
	/*
	 * The driver session's state (va_dev_state_save) back to the device:
	 * the bytes the device saved last in this driver session, given at
	 * each DRIVER_OK of that session once some were saved (after
	 * ->driver_ok): the renegotiation after a daemon restart (the bytes
	 * then come from the state file) or after a reset in the session.
	 * Check them (size, version, ranges) before use; return 0 when
	 * applied, negative errno (logged by the device) to refuse them:
	 * the core then forgets them.  Optional.
	 */
	int (*restore_state)(void *opaque, const void *state, uint32_t len);
	/*
	 * The device is being reset (status 0, a new guest session, the guest
	 * gone, or shutdown).  Drop queued work that has not started.  Requests
	 * whose I/O is under way stay valid: complete them when it ends; their
	 * responses are discarded (an old session's answer never reaches a new
	 * one).  Optional.
	 */
	void (*reset)(void *opaque);
};

struct va_dev_info {
	uint32_t device_id;		/* virtio device id */
	uint32_t vendor_id;
	uint64_t features;		/* device feature bits 0-63 (VERSION_1 added by the core) */
	uint16_t num_queues;
	uint32_t max_queue_size;
	uint32_t config_size;		/* <= VA_MAX_CONFIG_SIZE */
	uint32_t max_request;		/* largest REQUEST body accepted (0: ring limit) */
	uint32_t max_in;		/* largest device-writable size (0: ring limit) */
	uint64_t held_queues;		/* bit q: queue q is held (see above) */
};

struct va_dev_opts {
	uint16_t guest_domid;		/* the one domain served, or */
	const char *guest_name;		/* its name (va_argo_domain_lookup),
					 * looked up again whenever it is
					 * waited for: a guest's reboot */
	uint32_t port;			/* Argo port of the device's ring */
	uint32_t driver_port;		/* port of the guest's ring (0: port) */
	uint32_t ring_len;		/* data bytes of our ring (0: default) */
	const char *name;		/* for logs, e.g. "blk" */
	const char *state_dir;		/* the state file's (NULL: none);
					 * made at va_dev_new if the device
					 * has ->restore_state */
};

int va_dev_new(struct va_loop *loop, struct va_argo *argo,
	       const struct va_dev_info *info, const struct va_dev_ops *ops,
	       void *opaque, const struct va_dev_opts *opts,
	       struct va_dev **ret);
/* Stops (if started) and frees.  NULL is fine. */
void va_dev_free(struct va_dev *dev);

/*
 * Begin serving: wait for the guest domain to exist, register the ring,
 * announce this session with HELLO.  Returns at once; progress happens in
 * the loop.
 */
int va_dev_start(struct va_dev *dev);

/*
 * Clean shutdown: stop accepting requests, wait (at most timeout_ms) for
 * the device to complete those in flight and for their responses to be
 * sent, reset the device, unregister the ring, then call done(opaque).
 */
void va_dev_stop(struct va_dev *dev, uint64_t timeout_ms, va_cb done,
		 void *opaque);

void *va_dev_opaque(const struct va_dev *dev);
struct va_loop *va_dev_loop(const struct va_dev *dev);
const char *va_dev_name(const struct va_dev *dev);
uint16_t va_dev_guest(const struct va_dev *dev);
/* The domain the device runs in (0 without Argo, as in the unit tests;
 * VA_ARGO_DOMID_ANY in a domain other than dom0 whose kernel was not told
 * its domid). */
uint16_t va_dev_self_domid(const struct va_dev *dev);
uint32_t va_dev_port(const struct va_dev *dev);

/*
 * Config space.  The core holds its bytes (config_size of them, the
 * layout of the device type's virtio struct, e.g. struct
 * virtio_blk_config of <linux/virtio_blk.h>, little-endian) and the
 * generation count; a device never keeps a copy.  It sets its values in
 * one of two ways (or both):
 *
 *   by offset     va_dev_config_set(dev, offsetof(struct virtio_blk_config,
 *                 capacity), &le64, 8)
 *   by callback   ops->get_config writes the device's fields from its own
 *                 state; after that state changed, va_dev_config_update()
 *
 * Either way, when the device's change alters any byte the generation is
 * bumped once and EVENT_CONFIG is sent once (if a driver is connected);
 * when no byte changed, nothing happens.  Several fields that change
 * together go through one va_dev_config_update() (one bump, one event).
 * The initial bytes come from ->get_config in va_dev_new (zero without
 * it).  A reset calls ->reset and then ->get_config again, without a
 * bump: the driver starts over.  A driver's accepted write changes the
 * bytes without a bump; a refused one changes nothing.
 */
/* Returns 0, or -ERANGE if [off, off+size) is outside the config space. */
int va_dev_config_set(struct va_dev *dev, uint32_t off, const void *data,
		      uint32_t size);
/* Re-read the device's values through ops->get_config. */
void va_dev_config_update(struct va_dev *dev);
/* The current bytes and generation (for tests and logs). */
const uint8_t *va_dev_config(const struct va_dev *dev);
uint32_t va_dev_config_generation(const struct va_dev *dev);
/* Set NEEDS_RESET (reason logged) and tell the driver. */
void va_dev_needs_reset(struct va_dev *dev, const char *reason);

uint64_t va_dev_features(const struct va_dev *dev);	/* negotiated */
uint8_t va_dev_status(const struct va_dev *dev);
uint16_t va_dev_queue_size(const struct va_dev *dev, uint16_t queue);
unsigned int va_dev_inflight(const struct va_dev *dev);

/*
 * Finish a request: the first `written` bytes of req->in (written <=
 * req->in_len) go back to the driver.  Frees req.  Safe after a reset
 * (the response is then dropped).  Requests completed in the same loop
 * iteration go out together, in the order they were completed (so a
 * frame spread over several held buffers arrives as one message).
 */
void va_req_complete(struct va_req *req, uint32_t written);

/* Held queues.  Buffers waiting in `queue` for the device to take them. */
unsigned int va_dev_held(const struct va_dev *dev, uint16_t queue);
/* Take the oldest held buffer of `queue`; NULL if none (or out of memory:
 * the buffer stays held).  The device owns it until va_req_complete(), as
 * a pushed request.  A held buffer's req->in is allocated (zeroed) when it
 * is taken, so waiting buffers cost only their bookkeeping. */
struct va_req *va_dev_pop(struct va_dev *dev, uint16_t queue);
/*
 * Take the oldest held buffers of `queue` whose device-writable space adds
 * up to at least `need` bytes (virtio-net's MRG_RXBUF: one frame over
 * several buffers), at most `max` of them; all or nothing.  reqs[i] gets
 * each, iov[i] (if not NULL) its writable space (req->in, req->in_len).
 * Returns how many were taken, 0 if the queue does not hold enough (or
 * need > 0 would take more than max, or out of memory), never a partial
 * set.
 */
unsigned int va_dev_pop_space(struct va_dev *dev, uint16_t queue, size_t need,
			      struct va_req **reqs, struct iovec *iov,
			      unsigned int max);

/*
 * The driver session's state (protocol.md section 11.4): what the driver
 * established through control commands that the stock drivers never send
 * again after a renegotiation (virtio-net's receive filter, virtio-console's
 * DEVICE_READY).  The device calls this with all of it (device-defined
 * bytes, at most VA_DEV_STATE_MAX) whenever it changes; the core keeps it
 * for the current driver session and writes it to the state file
 * (va_dev_opts.state_dir), and gives it back through ops->restore_state
 * when that session reaches DRIVER_OK again, in this process or the next
 * one.  Another driver session (a new guest, a reboot) discards it.
 * Returns 0, -ENOTCONN without a driver session, or -errno of the write
 * (logged; the bytes are kept in memory all the same).
 */
#define VA_DEV_STATE_MAX	4096u
int va_dev_state_save(struct va_dev *dev, const void *data, uint32_t len);

/* Counters for logs and tests. */
struct va_dev_stats {
	uint64_t requests;
	uint64_t responses;
	uint64_t dropped;		/* malformed or unexpected messages */
	uint64_t violations;		/* protocol violations */
	uint64_t eagain;		/* sends that waited for ring space */
	uint64_t sessions;		/* guest sessions seen */
	uint64_t fenced;		/* replies held until dropped I/O ended */
	uint64_t throttled;		/* times ring reading paused: backlog */
	uint64_t backlog_max;		/* most bytes ever queued for sending */
};
void va_dev_get_stats(const struct va_dev *dev, struct va_dev_stats *ret);

#endif /* VA_BACKEND_DEVICE_H */
