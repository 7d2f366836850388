/* SPDX-License-Identifier: MIT */
/*
 * Internal to the device core (device*.c), not for devices.  First its
 * entry points for the unit tests: the protocol handling runs without Argo
 * when a send hook replaces va_argo_sendv.  Then what the core's files
 * share: its state and the functions one file calls in another.
 */
#ifndef VA_BACKEND_DEVICE_PRIV_H
#define VA_BACKEND_DEVICE_PRIV_H

#include <sys/uio.h>

#include "codec.h"
#include "device.h"
#include "log.h"

/*
 * Replaces the Argo transport: every message the core would send to the
 * guest goes to send() instead (return its length, or -EAGAIN/-ECONNREFUSED
 * like va_argo_sendv).  Use with va_dev_new(argo = NULL); the device is
 * then serving at once (no ring, no HELLO).
 */
typedef int (*va_dev_send_hook)(void *opaque, const struct iovec *iov,
				unsigned int niov, uint32_t message_type);
void va_dev_set_send_hook(struct va_dev *dev, va_dev_send_hook send,
			  void *opaque);

/* Feed one received Argo message as if read from the ring. */
void va_dev_input(struct va_dev *dev, uint16_t src_dom, uint32_t src_port,
		  uint32_t message_type, const void *payload, uint32_t len);

/* Retry queued sends (what the argo fd does after -EAGAIN). */
void va_dev_retry_sends(struct va_dev *dev);

/* The ring is lost, as when the guest's domain is gone. */
void va_dev_ring_lost(struct va_dev *dev);

/* The next allocation of a large RESPONSE's message fails (ENOMEM), for
 * the out-of-memory path. */
void va_dev_fail_next_alloc(struct va_dev *dev);

/* Our session id. */
uint32_t va_dev_session(const struct va_dev *dev);

/* Violations of the current driver session that set NEEDS_RESET. */
#define VA_DEV_MAX_VIOLATIONS	16u

/* ------------------------------------------------------------------ */
/* Shared by the core's files                                          */
/* ------------------------------------------------------------------ */

#define BACKOFF_MIN_MS		100u

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
	bool in_apart;			/* req.in is a block of its own */
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
	bool fail_alloc;		/* va_dev_fail_next_alloc */
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

	struct {			/* the driver session's state */
		char *path;		/* its file; NULL: memory only */
		uint8_t *data;		/* len bytes, of session on domid */
		uint32_t len;
		uint32_t session;	/* 0: none */
		uint16_t domid;
	} st;

	struct va_dev_stats stats;
	struct va_ratelimit rl_log;
	struct va_ratelimit rl_version;
	struct va_ratelimit rl_throttle;
};

/* device.c */
void dev_violation(struct va_dev *dev, const char *what);
void dev_reset(struct va_dev *dev);
void dev_drop_session(struct va_dev *dev);
void dev_stop_check(struct va_dev *dev);

/* device-send.c */
uint32_t dev_msg_limit(const struct va_dev *dev);
size_t dev_copy_max(const struct va_dev *dev);
void dev_unsent_put(struct va_dev *dev, uint16_t queue);
void dev_records_gone(struct va_dev *dev, const uint8_t *buf,
		      size_t len);
size_t dev_backlog(const struct va_dev *dev);
size_t dev_backlog_cap(const struct va_dev *dev);
void dev_sendq_drop(struct va_dev *dev);
void dev_drop_responses(struct va_dev *dev);
void dev_set_throttled(struct va_dev *dev, bool on);
void dev_unthrottle(struct va_dev *dev);
void dev_send_msg(struct va_dev *dev, struct dev_msg *m);
void dev_flush_batch(struct va_dev *dev);
int dev_add_record(struct va_dev *dev, uint8_t msg_id, uint8_t flags,
		    uint16_t queue, uint32_t token,
		    const struct iovec *body, unsigned int niov);
void dev_reply(struct va_dev *dev, const struct va_rec *rec,
	       const void *body, size_t len);
void dev_reply_err(struct va_dev *dev, uint8_t msg_id, uint16_t queue,
		   uint32_t token, uint32_t err, uint32_t detail);
void dev_send_event(struct va_dev *dev);
void dev_send_hello(struct va_dev *dev);

/* device-req.c */
struct dev_req *dev_find_req(struct dev_queue *q, uint32_t id);
void dev_link_req(struct va_dev *dev, struct dev_queue *q, struct dev_req *r);
void dev_held_put(struct va_dev *dev, struct dev_queue *q, struct dev_req *r);
struct dev_req *dev_held_take(struct va_dev *dev, struct dev_queue *q);
void dev_req_free(struct dev_req *r);
void dev_drop_held(struct va_dev *dev, int queue);
void dev_drop_reqs(struct va_dev *dev, int queue);
bool dev_fence_refused(struct va_dev *dev, const struct va_rec *rec,
		       int scope);
void dev_reply_fenced(struct va_dev *dev, const struct va_rec *rec,
		      int scope, const void *body, uint32_t len);
void dev_drop_fences(struct va_dev *dev);

/* device-rec.c */

/* device-state.c */
int dev_state_open(struct va_dev *dev, const char *dir,
		   const char *guest_name);
void dev_state_free(struct va_dev *dev);
/* A driver session was adopted: another session's state is discarded. */
void dev_state_session(struct va_dev *dev);
/* DRIVER_OK: the session's state back to the device. */
void dev_state_restore(struct va_dev *dev);

/* device-ring.c */
void dev_drain_again(struct va_loop *loop, void *opaque);
void dev_argo_ready(struct va_loop *loop, int fd, uint32_t events,
		    void *opaque);
void dev_try_register(struct va_dev *dev);

#endif /* VA_BACKEND_DEVICE_PRIV_H */
