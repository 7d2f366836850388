/* SPDX-License-Identifier: MIT */
/*
 * argo-poke: a hostile or clumsy peer for the integration tests.  It talks
 * to a device (B, P) from domain G and checks that the device and the
 * simulator refuse what they must:
 *
 *   forge-src       speaks the simulator's socket protocol directly and
 *                   sends with another source domain: must be -EPERM
 *   garbage         sends stray magic, a wrong version, truncated records,
 *                   oversize lengths, a bogus session, an out-of-range queue
 *                   from (G, P) without a ring of its own (a legitimate
 *                   guest in G may be running: the replies go to its ring)
 *   driver-errors   registers (G, P) and acts as a driver: checks the
 *                   VERSION error reply, STATE for a bogus session, RANGE
 *                   for a bad queue, errors for malformed and oversize
 *                   requests, duplicate ids, and that an echo still works
 *   evil-device     plays a device in domain B (--self-domid) for guest
 *                   --backend-domid: negotiates correctly and echoes on
 *                   queue 0, but precedes each of the first --bad answers
 *                   with a bad record (unknown id, wrong queue, oversize
 *                   written, length mismatch, wrong source port, unasked
 *                   control reply); the first --stale SET_VQUEUE replies
 *                   come from a new device session (a restart), so that the
 *                   guest's first negotiation fails after it has set
 *                   its queues up and is retried; --info-ring-len N
 *                   announces N as its ring length in DEVICE_INFO; runs
 *                   until killed
 *   stalled-reader  registers (G, P), negotiates a virtio-blk device with
 *                   queue 0 of --queue-size, then sends --count READs of
 *                   1 MiB (+ the status byte), 32 a message 50 ms apart,
 *                   and never reads its ring; then up to 32 MiB of
 *                   GET_DEVICE_STATUS records, until the device's ring
 *                   stays full for 3 s.  The device must stop reading its
 *                   ring rather than hold every answer and reply (the test
 *                   measures its memory).  It prints what went out, then
 *                   waits --hold seconds before it exits
 *
 * Exit 0 when everything was refused as expected, 1 otherwise, 2 usage.
 * Tokens it uses end in 0xffff, which is never a valid libva-guest request
 * id (slot < 32768), so its replies cannot complete a guest's request.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/virtio_blk.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "va-config.h"
#include "argo.h"
#include "codec.h"
#include "log.h"
#include "sim-proto.h"

#define PROG "argo-poke"
#define TOKEN(n) (((uint32_t)(n) << 16) | 0xffffu)
#define POKE_SESSION 0x504f4b45u	/* "POKE" */

struct poke {
	struct va_argo_opts aopts;
	uint16_t backend;
	uint32_t port;
	unsigned int timeout_ms;
	bool strict_dup;		/* the device is slow: a duplicate must fail */
	unsigned int bad;		/* evil-device: bad answers to send */
	uint32_t info_ring_len;		/* evil-device: announced ring, 0 real */
	unsigned int stale;		/* evil-device: stale SET_VQUEUE replies */
	unsigned int count;		/* stalled-reader: READs to send */
	unsigned int queue_size;	/* stalled-reader */
	unsigned int hold_s;		/* stalled-reader */
	struct va_argo *argo;
	struct va_ring *ring;
	int failures;
};

static void check(struct poke *p, bool ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	if (!ok)
		p->failures++;
}

/* ---- forge-src: the raw simulator protocol ---- */

static int raw_rpc(int fd, uint16_t op, const void *body, uint32_t len,
		   int pass_fd)
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct va_sim_hdr h = { .len = len, .op = op, .seq = 1 }, rh;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	char drain[256];
	ssize_t n;

	if (pass_fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cm.c.cmsg_level = SOL_SOCKET;
		cm.c.cmsg_type = SCM_RIGHTS;
		cm.c.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.c), &pass_fd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)(sizeof(h) + len))
		return -EIO;
	if (recv(fd, &rh, sizeof(rh), MSG_WAITALL) != sizeof(rh))
		return -EIO;
	if (rh.len > sizeof(drain) ||
	    (rh.len && recv(fd, drain, rh.len, MSG_WAITALL) != (ssize_t)rh.len))
		return -EIO;
	n = rh.status;
	return (int)n;
}

static int do_forge_src(struct poke *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = va_sim_socket_path(p->aopts.sim_socket);
	struct va_sim_attach at = {
		.magic = VA_SIM_MAGIC, .version = VA_SIM_VERSION,
		.domid = p->aopts.self_domid, .flags = VA_SIM_ATTACH_CREATE,
	};
	struct {
		struct va_sim_sendv s;
		uint8_t payload[32];
	} sv = { .s = {
		.src_port = p->port,
		.src_dom = p->backend,		/* not ours */
		.dst_dom = p->aopts.self_domid,
		.dst_port = p->port,
		.message_type = VA_ARGO_MSG_TYPE,
	} };
	int fd, efd, r;

	if (p->backend == p->aopts.self_domid) {
		fprintf(stderr, PROG ": forge-src needs two different domains\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0 || efd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror(PROG ": connect");
		return 1;
	}
	r = raw_rpc(fd, VA_SIM_OP_ATTACH, &at, sizeof(at), efd);
	if (r < 0) {
		fprintf(stderr, PROG ": attach: %s\n", strerror(-r));
		return 1;
	}
	r = raw_rpc(fd, VA_SIM_OP_SENDV, &sv, sizeof(sv), -1);
	printf("sendv with source dom%u from dom%u: %s\n", p->backend,
	       at.domid, r < 0 ? strerror(-r) : "accepted");
	check(p, r == -EPERM, "foreign source domid refused with EPERM");
	close(fd);
	close(efd);
	return p->failures ? 1 : 0;
}

/* ---- sending records ---- */

struct rec_spec {
	uint8_t msg_id;
	uint16_t queue;
	uint32_t session;
	uint32_t token;
	const void *body;
	size_t len;
	uint8_t flags;
};

static ssize_t send_raw(struct poke *p, const void *buf, size_t len,
			uint32_t type)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	ssize_t r;
	int tries;

	/* -EAGAIN: the ring is full; -ECONNREFUSED: the device has not
	 * registered its ring yet.  Both are retried for a while. */
	for (tries = 0; tries < 500; tries++) {
		r = va_argo_sendv(p->argo, p->port, p->backend, p->port, &iov,
				  1, type);
		if (r != -EAGAIN && r != -ECONNREFUSED)
			return r;
		usleep(10000);
	}
	return r;
}

static ssize_t send_recs(struct poke *p, const struct rec_spec *s,
			 unsigned int n, uint32_t type)
{
	struct va_batch b;
	struct iovec iov;
	unsigned int i;
	ssize_t r;

	va_batch_init(&b, VA_ARGO_MAX_MSG_SIZE);
	for (i = 0; i < n; i++) {
		iov.iov_base = (void *)s[i].body;
		iov.iov_len = s[i].len;
		r = va_batch_add(&b, s[i].msg_id, s[i].flags, s[i].queue,
				 s[i].session, s[i].token, &iov,
				 s[i].len ? 1 : 0);
		if (r < 0) {
			va_batch_free(&b);
			return r;
		}
	}
	r = send_raw(p, b.buf, b.len, type);
	va_batch_free(&b);
	return r;
}

static ssize_t send_one(struct poke *p, uint8_t msg_id, uint16_t queue,
			uint32_t session, uint32_t token, const void *body,
			size_t len)
{
	struct rec_spec s = { msg_id, queue, session, token, body, len };

	return send_recs(p, &s, 1, VA_ARGO_MSG_TYPE);
}

/* ---- garbage ---- */

static int do_garbage(struct poke *p)
{
	uint8_t buf[256];
	struct va_hdr h;
	struct va_request rq;
	unsigned int sent = 0;

	/* 1: stray magic */
	memset(buf, 0xa5, sizeof(buf));
	sent += send_raw(p, buf, 64, 0x12345678u) >= 0;
	/* 2: our magic, version 7 */
	sent += send_recs(p, &(struct rec_spec){ VA_MSG_DEVICE_INFO, 0,
			  POKE_SESSION, TOKEN(1), buf, 8 }, 1,
			  VA_ARGO_MSG_TYPE_V(7)) >= 0;
	/* 3: a truncated header */
	sent += send_raw(p, buf, 7, VA_ARGO_MSG_TYPE) >= 0;
	/* 4: a header whose len runs past the message */
	memset(&h, 0, sizeof(h));
	h.msg_id = VA_MSG_REQUEST;
	h.session = va_cpu_to_le32(POKE_SESSION);
	h.token = va_cpu_to_le32(TOKEN(4));
	h.len = va_cpu_to_le32(0xfffffff0u);
	memcpy(buf, &h, sizeof(h));
	sent += send_raw(p, buf, sizeof(h) + 16, VA_ARGO_MSG_TYPE) >= 0;
	/* 5: a bogus session on a control request */
	sent += send_one(p, VA_MSG_GET_DEVICE_STATUS, 0, POKE_SESSION,
			 TOKEN(5), NULL, 0) >= 0;
	/* 6: a request with oversize lengths, out-of-range queue */
	memset(&rq, 0, sizeof(rq));
	rq.out_len = va_cpu_to_le32(0xffffff00u);
	rq.in_len = va_cpu_to_le32(0xffffff00u);
	rq.nr_in = va_cpu_to_le16(0xffff);
	sent += send_one(p, VA_MSG_REQUEST, 999, POKE_SESSION, TOKEN(6), &rq,
			 sizeof(rq)) >= 0;
	/* 7: a record claiming to be a response, sent to the device */
	sent += send_recs(p, &(struct rec_spec){ VA_MSG_RESPONSE, 0,
			  POKE_SESSION, TOKEN(7), buf, 8, VA_F_RESPONSE }, 1,
			  VA_ARGO_MSG_TYPE) >= 0;
	/* 8: a zero session */
	memset(&h, 0, sizeof(h));
	h.msg_id = VA_MSG_DEVICE_INFO;
	sent += send_raw(p, &h, sizeof(h), VA_ARGO_MSG_TYPE) >= 0;
	printf("garbage: %u of 8 messages sent\n", sent);
	check(p, sent == 8, "every garbage message reached the device ring");
	return p->failures ? 1 : 0;
}

/* ---- driver-errors ---- */

struct reply {
	uint8_t msg_id, flags;
	uint16_t queue;
	uint32_t session, token, len;
	uint8_t body[512];
};

/* Replies read but not yet asked for (two may share one message). */
#define BACKLOG 32
static struct reply backlog[BACKLOG];
static unsigned int nbacklog;

static bool take(uint32_t token, struct reply *ret)
{
	unsigned int i;

	for (i = 0; i < nbacklog; i++) {
		if (backlog[i].token != token)
			continue;
		*ret = backlog[i];
		memmove(&backlog[i], &backlog[i + 1],
			(nbacklog - i - 1) * sizeof(backlog[0]));
		nbacklog--;
		return true;
	}
	return false;
}

static void keep(const struct va_rec *rec)
{
	struct reply *r;

	if (nbacklog == BACKLOG) {
		memmove(&backlog[0], &backlog[1],
			(BACKLOG - 1) * sizeof(backlog[0]));
		nbacklog--;
	}
	r = &backlog[nbacklog++];
	r->msg_id = rec->msg_id;
	r->flags = rec->flags;
	r->queue = rec->queue;
	r->session = rec->session;
	r->token = rec->token;
	r->len = rec->len;
	memcpy(r->body, rec->body,
	       rec->len < sizeof(r->body) ? rec->len : sizeof(r->body));
}

/* Wait for the reply record with `token`; ret_type: the message_type of
 * the last message read. */
static int wait_reply(struct poke *p, uint32_t token, struct reply *ret,
		      uint32_t *ret_type)
{
	uint64_t deadline = va_now_ms() + p->timeout_ms;
	static uint8_t buf[VA_ARGO_MAX_MSG_SIZE];
	struct va_ring_msg m;
	struct va_rec_iter it;
	struct va_rec rec;

	while (!take(token, ret)) {
		struct pollfd pfd = { .fd = va_argo_fd(p->argo), .events = POLLIN };
		bool any = false;

		va_argo_ack(p->argo);
		while (va_ring_peek(p->ring, &m) > 0) {
			uint32_t n = m.n1 + m.n2;

			va_ring_msg_copy(&m, 0, buf, n);
			if (ret_type)
				*ret_type = m.hdr.message_type;
			va_ring_consume(p->ring);
			any = true;
			va_rec_iter_init(&it, buf, n);
			while (va_rec_next(&it, &rec) > 0)
				if (rec.flags & VA_F_RESPONSE)
					keep(&rec);
		}
		if (any) {
			va_argo_notify(p->argo, NULL, 0);
			continue;
		}
		if (va_now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(&pfd, 1, 100);
	}
	return 0;
}

static uint32_t reply_error(const struct reply *r)
{
	struct va_error e;

	if (!(r->flags & VA_F_ERROR) || r->len != sizeof(e))
		return 0;
	memcpy(&e, r->body, sizeof(e));
	return va_le32_to_cpu(e.error);
}

static int call(struct poke *p, uint8_t msg_id, uint16_t queue, uint32_t session,
		uint32_t token, const void *body, size_t len, struct reply *ret)
{
	if (send_one(p, msg_id, queue, session, token, body, len) < 0)
		return -EIO;
	return wait_reply(p, token, ret, NULL);
}

static int set_status(struct poke *p, uint32_t session, uint32_t *tok,
		      uint32_t status)
{
	struct va_status st = { .status = va_cpu_to_le32(status) };
	struct reply r;

	if (call(p, VA_MSG_SET_DEVICE_STATUS, 0, session, TOKEN((*tok)++), &st,
		 sizeof(st), &r) < 0 || (r.flags & VA_F_ERROR))
		return -EIO;
	memcpy(&st, r.body, sizeof(st));
	return (va_le32_to_cpu(st.status) & status) == status ? 0 : -EIO;
}

/* A REQUEST body: va_request, one in segment of in_len, out bytes. */
static size_t make_req(uint8_t *buf, const void *out, uint32_t out_len,
		       uint32_t in_len)
{
	struct va_request rq = {
		.out_len = va_cpu_to_le32(out_len),
		.in_len = va_cpu_to_le32(in_len),
		.nr_in = va_cpu_to_le16(1),
	};
	va_le32 seg = va_cpu_to_le32(in_len);

	memcpy(buf, &rq, sizeof(rq));
	memcpy(buf + sizeof(rq), &seg, sizeof(seg));
	memcpy(buf + sizeof(rq) + 4, out, out_len);
	return sizeof(rq) + 4 + out_len;
}

static int do_driver_errors(struct poke *p)
{
	struct va_device_info_req ireq = {
		.driver_ring_len = va_cpu_to_le32(va_ring_len(p->ring)),
	};
	struct va_features f = { 0 };
	struct va_vqueue vq = { 0 };
	struct reply r, r2;
	uint32_t tok = 1, type = 0, session = 0x5a5a0001u;
	uint8_t body[256], msg[64];
	struct rec_spec dup[2];
	size_t n;
	int ret;

	/* A v7 DEVICE_INFO: VERSION error, sent back as v1. */
	ret = send_recs(p, &(struct rec_spec){ VA_MSG_DEVICE_INFO, 0, session,
			TOKEN(tok), &ireq, sizeof(ireq) }, 1,
			VA_ARGO_MSG_TYPE_V(7));
	ret = ret < 0 ? ret : wait_reply(p, TOKEN(tok), &r, &type);
	check(p, ret == 0 && reply_error(&r) == VA_ERR_VERSION &&
		 type == VA_ARGO_MSG_TYPE && r.msg_id == VA_MSG_DEVICE_INFO,
	      "wrong version answered with VA_ERR_VERSION as v1");
	tok++;

	ret = call(p, VA_MSG_DEVICE_INFO, 0, session, TOKEN(tok++), &ireq,
		   sizeof(ireq), &r);
	check(p, ret == 0 && !(r.flags & VA_F_ERROR) &&
		 r.len == sizeof(struct va_device_info), "DEVICE_INFO answered");
	if (ret < 0)
		return 1;

	ret = call(p, VA_MSG_GET_DEVICE_STATUS, 0, session + 1, TOKEN(tok++),
		   NULL, 0, &r);
	check(p, ret == 0 && reply_error(&r) == VA_ERR_STATE,
	      "bogus session answered with VA_ERR_STATE");

	ret = call(p, 0x3f, 0, session, TOKEN(tok++), NULL, 0, &r);
	check(p, ret == 0 && reply_error(&r) == VA_ERR_UNSUPPORTED,
	      "unknown message id answered with VA_ERR_UNSUPPORTED");

	/* Negotiate: VERSION_1 only, queue 0 of size 4. */
	ret = set_status(p, session, &tok, 0) ?:
	      set_status(p, session, &tok, VA_STATUS_ACKNOWLEDGE) ?:
	      set_status(p, session, &tok, VA_STATUS_ACKNOWLEDGE |
			 VA_STATUS_DRIVER);
	f.bits = va_cpu_to_le64(1ull << VA_F_VERSION_1_BIT);
	if (!ret)
		ret = call(p, VA_MSG_SET_DRV_FEATURES, 0, session, TOKEN(tok++),
			   &f, sizeof(f), &r) ?: (r.flags & VA_F_ERROR ? -EIO : 0);
	ret = ret ?: set_status(p, session, &tok, VA_STATUS_ACKNOWLEDGE |
				VA_STATUS_DRIVER | VA_STATUS_FEATURES_OK);
	vq.size = va_cpu_to_le32(4);
	vq.enabled = va_cpu_to_le32(1);
	if (!ret)
		ret = call(p, VA_MSG_SET_VQUEUE, 0, session, TOKEN(tok++), &vq,
			   sizeof(vq), &r) ?: (r.flags & VA_F_ERROR ? -EIO : 0);
	vq.index = va_cpu_to_le32(63);
	if (!ret) {
		ret = call(p, VA_MSG_SET_VQUEUE, 63, session, TOKEN(tok++), &vq,
			   sizeof(vq), &r);
		check(p, ret == 0 && reply_error(&r) == VA_ERR_RANGE,
		      "SET_VQUEUE of a queue that does not exist: VA_ERR_RANGE");
	}
	ret = ret ?: set_status(p, session, &tok, VA_STATUS_ACKNOWLEDGE |
				VA_STATUS_DRIVER | VA_STATUS_FEATURES_OK |
				VA_STATUS_DRIVER_OK);
	check(p, ret == 0, "negotiated as a driver");
	if (ret < 0)
		return 1;

	memset(msg, 0x42, sizeof(msg));
	n = make_req(body, msg, 32, 32);
	ret = call(p, VA_MSG_REQUEST, 63, session, TOKEN(tok++), body, n, &r);
	check(p, ret == 0 && reply_error(&r) == VA_ERR_RANGE,
	      "request on an out-of-range queue: VA_ERR_RANGE");

	/* out_len says 32, only 16 bytes follow. */
	ret = call(p, VA_MSG_REQUEST, 0, session, TOKEN(tok++), body, n - 16, &r);
	check(p, ret == 0 && reply_error(&r) == VA_ERR_INVALID,
	      "request body shorter than its out_len: VA_ERR_INVALID");

	/* in_len beyond anything the ring could carry back. */
	n = make_req(body, msg, 8, 0x7fffffffu);
	ret = call(p, VA_MSG_REQUEST, 0, session, TOKEN(tok++), body, n, &r);
	check(p, ret == 0 && (r.flags & VA_F_ERROR) && reply_error(&r) != 0,
	      "request with an oversize in_len refused");

	/* The same id twice in one message: never two successes with the
	 * second one arriving while the first is in flight, and both get an
	 * answer; a slow device must refuse the second. */
	n = make_req(body, msg, 32, 32);
	dup[0] = (struct rec_spec){ VA_MSG_REQUEST, 0, session, TOKEN(tok),
				    body, n };
	dup[1] = dup[0];
	ret = (int)send_recs(p, dup, 2, VA_ARGO_MSG_TYPE);
	ret = ret < 0 ? ret : wait_reply(p, TOKEN(tok), &r, NULL);
	ret = ret < 0 ? ret : wait_reply(p, TOKEN(tok), &r2, NULL);
	check(p, ret == 0 && (!(r.flags & VA_F_ERROR) || !(r2.flags & VA_F_ERROR)),
	      "duplicate request id: both answered, at least one served");
	if (p->strict_dup)
		check(p, ret == 0 && ((r.flags ^ r2.flags) & VA_F_ERROR),
		      "duplicate id while the first is in flight: refused");
	printf("  duplicate id: first %s, second %s\n",
	       r.flags & VA_F_ERROR ? va_err_name(reply_error(&r)) : "response",
	       r2.flags & VA_F_ERROR ? va_err_name(reply_error(&r2)) : "response");
	tok++;

	/* The device still serves correct requests. */
	n = make_req(body, msg, 32, 32);
	ret = call(p, VA_MSG_REQUEST, 0, session, TOKEN(tok++), body, n, &r);
	check(p, ret == 0 && r.msg_id == VA_MSG_RESPONSE && !(r.flags & VA_F_ERROR) &&
		 r.len == sizeof(struct va_response) + 32 &&
		 !memcmp(r.body + sizeof(struct va_response), msg, 32),
	      "a correct request is still echoed");
	return p->failures ? 1 : 0;
}

/* ---- evil-device ---- */

#define EVIL_QUEUE_MAX	8u

struct evil {
	struct poke *p;
	uint32_t session;
	unsigned int bad_sent;
	unsigned int stale_sent;
	struct va_batch out;
};

static void evil_add(struct evil *e, uint8_t msg_id, uint8_t flags,
		     uint16_t queue, uint32_t token, const void *a, size_t alen,
		     const void *b, size_t blen)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };

	va_batch_add(&e->out, msg_id, flags, queue, e->session, token, iov,
		     blen ? 2 : (alen ? 1 : 0));
}

static void evil_flush(struct evil *e, uint32_t src_port)
{
	struct iovec iov = { e->out.buf, e->out.len };

	if (e->out.count)
		va_argo_sendv(e->p->argo, src_port, e->p->backend, e->p->port,
			      &iov, 1, VA_ARGO_MSG_TYPE);
	va_batch_reset(&e->out);
}

/* A bad record about request `token` (which carries `out`), sent on its
 * own message before the good answer. */
static void evil_bad(struct evil *e, uint32_t token, const uint8_t *out,
		     uint32_t n, uint32_t in_len)
{
	struct va_response resp = { .written = va_cpu_to_le32(n) };
	struct va_response big = { .written = va_cpu_to_le32(in_len + 1) };
	uint8_t pad[8] = { 0 };
	uint32_t src_port = e->p->port;
	struct va_status st = { 0 };

	switch (e->bad_sent++ % 6) {
	case 0:		/* an id the guest never used */
		evil_add(e, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, token ^ 0x4000u,
			 &resp, sizeof(resp), out, n);
		break;
	case 1:		/* the right id on the wrong queue */
		evil_add(e, VA_MSG_RESPONSE, VA_F_RESPONSE, 1, token, &resp,
			 sizeof(resp), out, n);
		break;
	case 2:		/* more than the request's in_len */
		evil_add(e, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, token, &big,
			 sizeof(big), out, n);
		break;
	case 3:		/* written disagrees with the body */
		evil_add(e, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, token, &resp,
			 sizeof(resp), pad, n ? 0 : sizeof(pad));
		break;
	case 4:		/* a correct answer from the wrong source port */
		evil_add(e, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, token, &resp,
			 sizeof(resp), out, n);
		src_port = e->p->port + 1;
		break;
	default:	/* a control reply nobody asked for */
		evil_add(e, VA_MSG_SET_DEVICE_STATUS, VA_F_RESPONSE, 0, token,
			 &st, sizeof(st), NULL, 0);
		break;
	}
	evil_flush(e, src_port);
}

static void evil_record(struct evil *e, const struct va_rec *rec)
{
	struct poke *p = e->p;
	uint8_t zero[VA_MAX_CONFIG_SIZE] = { 0 };
	struct va_device_info di = { 0 };
	struct va_features f;
	struct va_vqueue vq;
	struct va_config c;
	struct va_request rq;
	struct va_response resp;
	uint32_t out_len, in_len, n;
	const uint8_t *out;

	switch (rec->msg_id) {
	case VA_MSG_DEVICE_INFO:
		di.device_id = va_cpu_to_le32(0x7f00);
		di.version_min = va_cpu_to_le32(1);
		di.version_max = va_cpu_to_le32(1);
		di.num_queues = va_cpu_to_le16(2);
		di.config_size = va_cpu_to_le32(16);
		di.max_queue_size = va_cpu_to_le32(EVIL_QUEUE_MAX);
		di.device_ring_len = va_cpu_to_le32(p->info_ring_len ?
						    p->info_ring_len :
						    va_ring_len(p->ring));
		di.max_request = va_cpu_to_le32(65536);
		evil_add(e, rec->msg_id, VA_F_RESPONSE, 0, rec->token, &di,
			 sizeof(di), NULL, 0);
		break;
	case VA_MSG_GET_DEV_FEATURES:
		memset(&f, 0, sizeof(f));
		f.bits = va_cpu_to_le64(1ull << VA_F_VERSION_1_BIT);
		evil_add(e, rec->msg_id, VA_F_RESPONSE, 0, rec->token, &f,
			 sizeof(f), NULL, 0);
		break;
	case VA_MSG_SET_DRV_FEATURES:
	case VA_MSG_SET_DEVICE_STATUS:
		evil_add(e, rec->msg_id, VA_F_RESPONSE, 0, rec->token, rec->body,
			 rec->len, NULL, 0);
		break;
	case VA_MSG_GET_VQUEUE:
	case VA_MSG_SET_VQUEUE:
		if (va_rec_body(rec, &vq, sizeof(vq), true) < 0)
			return;
		vq.max_size = va_cpu_to_le32(EVIL_QUEUE_MAX);
		if (rec->msg_id == VA_MSG_GET_VQUEUE)
			vq.size = vq.enabled = 0;
		if (rec->msg_id == VA_MSG_SET_VQUEUE &&
		    e->stale_sent < p->stale) {
			/* As if the device had restarted in between: the
			 * reply comes from its next session. */
			e->stale_sent++;
			e->session++;
			evil_add(e, rec->msg_id, VA_F_RESPONSE, rec->queue,
				 rec->token, &vq, sizeof(vq), NULL, 0);
			break;
		}
		evil_add(e, rec->msg_id, VA_F_RESPONSE, rec->queue, rec->token,
			 &vq, sizeof(vq), NULL, 0);
		break;
	case VA_MSG_GET_CONFIG:
		if (va_rec_body(rec, &c, sizeof(c), true) < 0 ||
		    va_le32_to_cpu(c.size) > 16)
			return;
		evil_add(e, rec->msg_id, VA_F_RESPONSE, 0, rec->token, &c,
			 sizeof(c), zero, va_le32_to_cpu(c.size));
		break;
	case VA_MSG_REQUEST:
		if (va_rec_body(rec, &rq, sizeof(rq), false) < 0)
			return;
		out_len = va_le32_to_cpu(rq.out_len);
		in_len = va_le32_to_cpu(rq.in_len);
		n = sizeof(rq) + 4u * va_le16_to_cpu(rq.nr_in);
		if (n > rec->len || rec->len - n != out_len)
			return;
		out = rec->body + n;
		n = out_len < in_len ? out_len : in_len;
		if (e->bad_sent < p->bad) {
			evil_flush(e, p->port);
			evil_bad(e, rec->token, out, n, in_len);
		}
		resp.written = va_cpu_to_le32(n);
		resp.reserved = 0;
		evil_add(e, VA_MSG_RESPONSE, VA_F_RESPONSE, rec->queue,
			 rec->token, &resp, sizeof(resp), out, n);
		break;
	default:
		break;
	}
}

static int do_evil_device(struct poke *p)
{
	static uint8_t buf[VA_ARGO_MAX_MSG_SIZE];
	struct evil e = { .p = p, .session = 0x45564c31u };
	struct va_ring_msg m;
	struct va_rec_iter it;
	struct va_rec rec;

	va_batch_init(&e.out, va_argo_ring_max_payload(VA_RING_LEN_DEFAULT));
	printf("evil-device: serving dom%u port %#x\n", p->backend, p->port);
	fflush(stdout);
	for (;;) {
		struct pollfd pfd = { .fd = va_argo_fd(p->argo), .events = POLLIN };

		poll(&pfd, 1, 1000);
		va_argo_ack(p->argo);
		while (va_ring_peek(p->ring, &m) > 0) {
			uint32_t n = m.n1 + m.n2;

			va_ring_msg_copy(&m, 0, buf, n);
			va_ring_consume(p->ring);
			if (m.hdr.source.domain_id != p->backend ||
			    m.hdr.message_type != VA_ARGO_MSG_TYPE)
				continue;
			va_rec_iter_init(&it, buf, n);
			while (va_rec_next(&it, &rec) > 0)
				if (!(rec.flags & VA_F_RESPONSE))
					evil_record(&e, &rec);
			evil_flush(&e, p->port);
		}
		va_argo_notify(p->argo, NULL, 0);
	}
	return 0;
}

/* ---- stalled-reader ---- */

#define STALL_READ_LEN	(1024u * 1024)	/* data bytes of each READ */
#define STALL_PER_MSG	32u		/* READs per message */
#define STALL_WAIT_MS	3000u		/* a full device ring: stop */
#define STALL_GAP_US	50000u		/* between READ messages */
#define STALL_PAD_RECS	1024u		/* status records per message */
#define STALL_PAD_MAX	(32u << 20)	/* bytes of them at most */

/* Send one message, waiting while the device's ring is full; -EAGAIN
 * once it has stayed full for STALL_WAIT_MS. */
static int stall_send(struct poke *p, const struct va_batch *b)
{
	struct iovec iov = { .iov_base = b->buf, .iov_len = b->len };
	uint64_t until = va_now_ms() + STALL_WAIT_MS;
	int r;

	while ((r = (int)va_argo_sendv(p->argo, p->port, p->backend, p->port,
				       &iov, 1, VA_ARGO_MSG_TYPE)) == -EAGAIN &&
	       va_now_ms() < until)
		usleep(10000);
	return r < 0 ? r : 0;
}

/* Negotiate VERSION_1 and queue 0 of `size` up to DRIVER_OK. */
static int drv_negotiate(struct poke *p, uint32_t session, uint32_t *tok,
			 uint32_t size)
{
	struct va_device_info_req ireq = {
		.driver_ring_len = va_cpu_to_le32(va_ring_len(p->ring)),
	};
	struct va_features f = {
		.bits = va_cpu_to_le64(1ull << VA_F_VERSION_1_BIT),
	};
	struct va_vqueue vq = {
		.size = va_cpu_to_le32(size),
		.enabled = va_cpu_to_le32(1),
	};
	const uint32_t drv = VA_STATUS_ACKNOWLEDGE | VA_STATUS_DRIVER;
	struct reply r;

	if (call(p, VA_MSG_DEVICE_INFO, 0, session, TOKEN((*tok)++), &ireq,
		 sizeof(ireq), &r) < 0 || (r.flags & VA_F_ERROR))
		return -EIO;
	if (set_status(p, session, tok, VA_STATUS_ACKNOWLEDGE) ||
	    set_status(p, session, tok, drv))
		return -EIO;
	if (call(p, VA_MSG_SET_DRV_FEATURES, 0, session, TOKEN((*tok)++), &f,
		 sizeof(f), &r) < 0 || (r.flags & VA_F_ERROR))
		return -EIO;
	if (set_status(p, session, tok, drv | VA_STATUS_FEATURES_OK))
		return -EIO;
	if (call(p, VA_MSG_SET_VQUEUE, 0, session, TOKEN((*tok)++), &vq,
		 sizeof(vq), &r) < 0 || (r.flags & VA_F_ERROR))
		return -EIO;
	return set_status(p, session, tok, drv | VA_STATUS_FEATURES_OK |
			  VA_STATUS_DRIVER_OK);
}

static int do_stalled_reader(struct poke *p)
{
	struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN };	/* sector 0 */
	uint8_t body[64];
	uint32_t tok = 1, session = 0x53544c31u, sent = 0;
	struct va_batch b;
	struct iovec iov;
	unsigned int i, n;
	size_t len, pad = 0;
	int r = 0;

	if (drv_negotiate(p, session, &tok, p->queue_size) < 0) {
		fprintf(stderr, PROG ": could not negotiate\n");
		return 1;
	}
	printf("stalled-reader: negotiated, queue size %u\n", p->queue_size);
	len = make_req(body, &hdr, sizeof(hdr), STALL_READ_LEN + 1);
	va_batch_init(&b, VA_ARGO_MAX_MSG_SIZE);
	while (sent < p->count) {
		n = p->count - sent < STALL_PER_MSG ? p->count - sent :
						      STALL_PER_MSG;
		va_batch_reset(&b);
		for (i = 0; i < n; i++) {
			iov.iov_base = body;
			iov.iov_len = len;
			va_batch_add(&b, VA_MSG_REQUEST, 0, 0, session,
				     TOKEN(tok++), &iov, 1);
		}
		r = stall_send(p, &b);
		if (r < 0)
			break;
		sent += n;
		usleep(STALL_GAP_US);
	}
	printf("stalled-reader: sent %u of %u READs\n", sent, p->count);
	while (r == 0 && pad < STALL_PAD_MAX) {
		va_batch_reset(&b);
		for (i = 0; i < STALL_PAD_RECS; i++)
			va_batch_add(&b, VA_MSG_GET_DEVICE_STATUS, 0, 0,
				     session, TOKEN(tok++), NULL, 0);
		r = stall_send(p, &b);
		if (r == 0)
			pad += b.len;
	}
	va_batch_free(&b);
	printf("stalled-reader: then %zu KiB of status requests: %s\n",
	       pad / 1024, r == -EAGAIN ? "the device stopped reading" :
	       r < 0 ? strerror(-r) : "all read");
	printf("stalled-reader: holding\n");
	fflush(stdout);
	sleep(p->hold_s);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: " PROG " [--sim-socket S] [--self-domid G] "
		   "[--backend-domid B] [--port P] [--timeout S] [--strict-dup] "
		   "[--bad N] [--stale N] [--info-ring-len N] [--count N] "
		   "[--queue-size N] [--hold S] "
		   "forge-src|garbage|driver-errors|evil-device|stalled-reader\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sim-socket", required_argument, NULL, 's' },
		{ "self-domid", required_argument, NULL, 'g' },
		{ "backend-domid", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "strict-dup", no_argument, NULL, 'D' },
		{ "bad", required_argument, NULL, 'B' },
		{ "stale", required_argument, NULL, 'S' },
		{ "info-ring-len", required_argument, NULL, 'R' },
		{ "count", required_argument, NULL, 'n' },
		{ "queue-size", required_argument, NULL, 'q' },
		{ "hold", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct poke p = {
		.aopts = { .transport = VA_TRANSPORT_SIM, .self_domid = 1,
			   .create_domain = true },
		.port = VA_PORT_BLK_DEFAULT,
		.timeout_ms = 5000,
		.count = 256,
		.queue_size = 16,
		.hold_s = 30,
	};
	const char *mode;
	int c, r;

	while ((c = getopt_long(argc, argv, "s:g:b:p:T:DB:n:q:H:R:hV", opts,
				NULL)) != -1) {
		switch (c) {
		case 's':
			p.aopts.sim_socket = optarg;
			break;
		case 'g':
			p.aopts.self_domid = (uint16_t)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			p.backend = (uint16_t)strtoul(optarg, NULL, 0);
			break;
		case 'p':
			p.port = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'T':
			p.timeout_ms = (unsigned int)strtoul(optarg, NULL, 0) * 1000;
			break;
		case 'D':
			p.strict_dup = true;
			break;
		case 'B':
			p.bad = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			p.stale = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			p.count = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			p.queue_size = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'H':
			p.hold_s = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'R':
			p.info_ring_len = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " %s\n", VA_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	mode = argv[optind];
	va_log_init(PROG, VA_LOG_NOTICE, false);
	if (!strcmp(mode, "forge-src"))
		return do_forge_src(&p);
	if (strcmp(mode, "garbage") && strcmp(mode, "driver-errors") &&
	    strcmp(mode, "evil-device") && strcmp(mode, "stalled-reader")) {
		usage(stderr);
		return 2;
	}
	r = va_argo_open(&p.aopts, &p.argo);
	if (r < 0) {
		fprintf(stderr, PROG ": attach: %s\n", strerror(-r));
		return 1;
	}
	if (!strcmp(mode, "garbage")) {
		r = do_garbage(&p);
	} else if (!strcmp(mode, "evil-device")) {
		/* We are domain B serving guest G = --backend-domid. */
		r = va_argo_register_ring(p.argo, p.port, p.backend,
					  VA_RING_LEN_DEFAULT, &p.ring);
		if (r < 0) {
			fprintf(stderr, PROG ": register: %s\n", strerror(-r));
			r = 1;
		} else {
			r = do_evil_device(&p);
		}
		va_argo_unregister_ring(p.ring);
	} else {
		r = va_argo_register_ring(p.argo, p.port, p.backend,
					  VA_RING_LEN_DEFAULT, &p.ring);
		if (r < 0) {
			fprintf(stderr, PROG ": register: %s\n", strerror(-r));
			r = 1;
		} else if (!strcmp(mode, "stalled-reader")) {
			r = do_stalled_reader(&p);
		} else {
			r = do_driver_errors(&p);
		}
		va_argo_unregister_ring(p.ring);
	}
	va_argo_close(p.argo);
	return r;
}
