/* SPDX-License-Identifier: MIT */
/*
 * libva-guest: the driver side of the virtio-argo protocol in user space.
 *
 * It is what the kernel transport (virtio_argo.ko) does, written as a
 * library: probe a device over Argo (DEVICE_INFO, reset, ACK, DRIVER,
 * features, FEATURES_OK, queues, DRIVER_OK), synchronous control helpers,
 * and an asynchronous data path in which every submitted request stays
 * owned by the library until the device really answers it.  A backend
 * restart is invisible to the user: on HELLO (or any record) with a new
 * device session the library renegotiates the same features and queue
 * sizes and replays every request still in flight, in submission order,
 * with the same ids.  While the backend ring is gone (-ECONNREFUSED) the
 * requests are kept and DEVICE_INFO is retried with backoff.
 *
 * Everything the device sends is validated (source domain and port,
 * message type, record framing, session, known request id on that queue,
 * written <= the request's in_len, exact body lengths).  Bad records are
 * dropped and counted; more than VA_GUEST_MAX_VIOLATIONS of them mark the
 * device broken, which fails every request with -EIO.
 *
 * Threading: a va_guest is single-threaded; the caller serialises all
 * calls (a multi-threaded user holds one mutex around them and wakes the
 * polling thread itself).  Completion callbacks run from va_guest_process()
 * (or the helpers that wait: control calls, va_guest_run()); a callback
 * may submit new requests but must not call the control helpers.
 *
 * Event loop integration: wait for va_guest_fd() to become readable, or
 * for va_guest_timeout_ms() to pass, then call va_guest_process().
 * va_guest_run() does exactly that with poll(2); va_guest_attach_loop()
 * does it inside a va_loop (and flushes submissions once per iteration).
 * The va_argo must serve only this guest (process() acknowledges its fd).
 * A renegotiation after a backend restart runs synchronously inside
 * process() (bounded by timeout_ms per control round trip).
 */
#ifndef VA_SIM_GUEST_H
#define VA_SIM_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "argo.h"
#include "loop.h"

#define VA_GUEST_MAX_VIOLATIONS		16u	/* then the device is broken */
#define VA_GUEST_TIMEOUT_DEFAULT_MS	5000u	/* control round trip */

struct va_guest;

struct va_guest_opts {
	struct va_argo *argo;		/* the caller's, outlives the guest */
	uint16_t backend_domid;
	uint32_t port;			/* the device's port */
	uint32_t local_port;		/* our ring's port (0: port) */
	uint32_t ring_len;		/* our ring's data bytes (0: default) */
	uint64_t features_mask;		/* device bits 0-63 the driver accepts */
	uint32_t expect_device_id;	/* 0: any */
	uint16_t num_queues;		/* queues to set up (0: all the device has) */
	uint32_t queue_size;		/* size of each (0: the device's maximum) */
	uint32_t timeout_ms;		/* control round trip (0: default) */
	/* Stay usable while the backend is not there yet: open() then waits
	 * (up to timeout_ms) for the first probe to succeed. */
	bool wait_for_backend;
};

/* What DEVICE_INFO said, in host order. */
struct va_guest_devinfo {
	uint32_t device_id;
	uint32_t vendor_id;
	uint32_t version_min;
	uint32_t version_max;
	uint16_t num_queues;
	uint32_t config_size;
	uint32_t max_queue_size;
	uint32_t device_ring_len;
	uint32_t max_request;
};

struct va_guest_stats {
	uint64_t submitted;
	uint64_t completed;		/* with a real RESPONSE */
	uint64_t failed;		/* error reply, or failed when broken */
	uint64_t messages_sent;
	uint64_t messages_received;
	uint64_t eagain;		/* sendv -EAGAIN */
	uint64_t refused;		/* sendv -ECONNREFUSED (no backend ring) */
	uint64_t replayed;		/* requests sent again after a restart */
	uint64_t renegotiations;
	uint64_t dropped_stray;		/* other magic, wrong source domain/port */
	uint64_t violations;		/* malformed or unexpected records */
	uint64_t stale;			/* records of an earlier device session */
	uint64_t unmatched;		/* error replies to records not ours */
};

/*
 * Completion: result >= 0 is the number of bytes the device wrote into
 * the request's in segments; negative errno on failure: -EIO (device
 * error reply or broken device), -ECANCELED (va_guest_free with requests
 * in flight).
 */
typedef void (*va_guest_done_cb)(struct va_guest *g, uint32_t id, int result,
				 void *opaque);
/* Config changed (EVENT_CONFIG), the device status changed, or the device
 * restarted and was renegotiated (va_guest_device_session() is then new).
 * Optional. */
typedef void (*va_guest_config_cb)(struct va_guest *g, void *opaque);

/*
 * Open and probe.  Registers ring (self, port, partner = backend), then
 * negotiates.  -ECONNREFUSED: no backend (unless wait_for_backend),
 * -ETIMEDOUT, -ENODEV (device id differs), -EPROTO (device misbehaved or
 * refused the features), or an Argo error.
 */
int va_guest_open(const struct va_guest_opts *opts, struct va_guest **ret);
/* Fails what is still in flight with -ECANCELED, resets the device (best
 * effort), unregisters the ring.  NULL is fine. */
void va_guest_free(struct va_guest *g);

void va_guest_set_config_cb(struct va_guest *g, va_guest_config_cb cb,
			    void *opaque);

/* A pointer for the user (callbacks get the guest). */
void va_guest_set_user(struct va_guest *g, void *user);
void *va_guest_user(const struct va_guest *g);

const struct va_guest_devinfo *va_guest_devinfo(const struct va_guest *g);
uint64_t va_guest_offered(const struct va_guest *g);	/* block 0 as offered */
uint64_t va_guest_features(const struct va_guest *g);	/* negotiated */
uint16_t va_guest_num_queues(const struct va_guest *g);	/* set up */
uint32_t va_guest_queue_size(const struct va_guest *g, uint16_t queue);
uint32_t va_guest_queue_max(const struct va_guest *g, uint16_t queue);
bool va_guest_broken(const struct va_guest *g);
/* True while the device is reachable and negotiated. */
bool va_guest_ready(const struct va_guest *g);
unsigned int va_guest_inflight(const struct va_guest *g, uint16_t queue);
void va_guest_get_stats(const struct va_guest *g, struct va_guest_stats *ret);
uint32_t va_guest_session(const struct va_guest *g);
uint32_t va_guest_device_session(const struct va_guest *g);
/* Largest out_len / in_len a single request may carry. */
uint32_t va_guest_max_out(const struct va_guest *g, unsigned int nr_in);
uint32_t va_guest_max_in(const struct va_guest *g);

/* ---- synchronous control (must not be called from a callback) ---- */

int va_guest_get_status(struct va_guest *g, uint8_t *ret_status);
/* Reads config [off, off+size) and its generation. */
int va_guest_get_config(struct va_guest *g, uint32_t off, void *buf,
			uint32_t size, uint32_t *ret_generation);
/* Writes with the given generation: -ESTALE if it changed meanwhile,
 * -EINVAL if the device refused. */
int va_guest_set_config(struct va_guest *g, uint32_t generation, uint32_t off,
			const void *buf, uint32_t size);
int va_guest_get_dev_features(struct va_guest *g, uint32_t block,
			      uint64_t *ret_bits);
int va_guest_get_vqueue(struct va_guest *g, uint16_t index,
			uint32_t *ret_max, uint32_t *ret_size, bool *ret_enabled);

/* ---- asynchronous data path ---- */

/*
 * Queue one request on `queue`: the out iovecs are copied now (the
 * library keeps the bytes for a replay); the in segments (nin <=
 * VA_MAX_IN_SEGS, may be 0) must stay valid until the callback, which
 * receives the bytes scattered into them.  Nothing is sent until
 * va_guest_flush() or va_guest_process(), so that a burst of submissions
 * travels in one Argo message.  Returns the request id (>= 0) on success;
 * -ENOSPC if `queue` already has queue_size requests in flight, -EMSGSIZE
 * if the request cannot fit the rings or the device's max_request, -EIO if
 * broken, -EINVAL bad arguments.
 */
int64_t va_guest_submit(struct va_guest *g, uint16_t queue,
			const struct iovec *out, unsigned int nout,
			const struct iovec *in, unsigned int nin,
			va_guest_done_cb cb, void *opaque);
/* Send what is queued (as few messages as fit).  0, or negative errno
 * other than -EAGAIN/-ECONNREFUSED (those are retried in process). */
int va_guest_flush(struct va_guest *g);

int va_guest_fd(const struct va_guest *g);
/* Milliseconds until process() has timed work (-1: none). */
int va_guest_timeout_ms(const struct va_guest *g);
/* Drain the ring, run callbacks, renegotiate after a restart, retry
 * sends and timers.  0, or -EIO once the device is broken. */
int va_guest_process(struct va_guest *g);
/* poll() on the fd for at most timeout_ms (-1: until the next timer),
 * then process.  0, -EIO broken, or -errno of poll. */
int va_guest_run(struct va_guest *g, int timeout_ms);

/*
 * Let a va_loop drive the guest: watches the fd, runs the retry timer and
 * flushes submissions at the end of each loop iteration.  Undone by
 * va_guest_free().  Then va_guest_run() must not be used.
 */
int va_guest_attach_loop(struct va_guest *g, struct va_loop *loop);

const char *va_guest_device_name(uint32_t device_id);

#endif /* VA_SIM_GUEST_H */
