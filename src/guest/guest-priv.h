/* SPDX-License-Identifier: MIT */
/*
 * Inside libva-guest: the state and the request records that its files
 * share, and the functions one file calls in another.
 *
 *   guest.c       helpers, sessions, request bookkeeping, life cycle
 *   guest-recv.c  receiving: records, replies, responses
 *   guest-ctrl.c  control calls, the negotiation (probe), public control
 *                 helpers
 *   guest-data.c  the data path (submit, flush), processing, va_loop
 *                 integration
 */
#ifndef VA_GUEST_PRIV_H
#define VA_GUEST_PRIV_H

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

/* guest.c: helpers, sessions, request bookkeeping. */
bool vg_session_is_old(const struct va_guest *g, uint32_t s);
void vg_session_retire(struct va_guest *g, uint32_t s);
/* A device session newer than the negotiated one was seen. */
bool vg_need_reneg(const struct va_guest *g);
/* The backend is unreachable: DOWN, a probe scheduled with backoff. */
void vg_go_down(struct va_guest *g);
void vg_req_free(struct greq *r);
/* Unlinks and frees r, counts it, then calls its callback with result. */
void vg_req_finish(struct va_guest *g, struct greq *r, int result);
void vg_mark_broken(struct va_guest *g, const char *why);
/* A dropped record: counted and logged, broken after too many. */
void vg_violation(struct va_guest *g, const char *what);

/* guest-recv.c: receiving. */
/* Reads every message waiting in our ring. */
void vg_drain(struct va_guest *g);
/* Polls the fd until deadline (ms, monotonic): 0, -ETIMEDOUT if it had
 * passed, or a poll error. */
int vg_wait_fd(struct va_guest *g, uint64_t deadline);

/* guest-ctrl.c: control calls and the negotiation. */
ssize_t vg_send_iov(struct va_guest *g, const struct iovec *iov,
		    unsigned int niov);
int vg_set_status(struct va_guest *g, uint8_t status, uint8_t *ret);
/* Negotiates until it succeeds, the backend is unreachable, or broken. */
int vg_probe_loop(struct va_guest *g);

#endif /* VA_GUEST_PRIV_H */
