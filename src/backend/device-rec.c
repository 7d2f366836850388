/* SPDX-License-Identifier: MIT */
/*
 * The device core's records (the design is in device.c): every record a
 * driver sends (DEVICE_INFO, features, configuration, status, queues,
 * REQUEST) is checked and answered here; also the held queues' va_dev_pop
 * and va_dev_input, the way in from the ring and from the unit tests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "device-priv.h"
#include "log.h"
#include "util.h"

#define REQ_IN_ALIGN		512u

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
	if (!va_ring_len_ok(rlen)) {
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
		dev_state_session(dev);
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
	uint8_t cfg[VA_MAX_CONFIG_SIZE];
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
	/* The device judges the space as it would be; only an accepted
	 * write reaches the bytes, so a refused one needs no undoing. */
	memcpy(cfg, dev->config, dev->info.config_size);
	memcpy(cfg + off, rec->body + sizeof(c), size);
	if (dev->ops->write_config(dev->opaque, cfg, off, size) < 0)
		return VA_ERR_INVALID;
	memcpy(dev->config + off, cfg + off, size);
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
			    dev->ops->set_features(dev->opaque, dev->drv_features) < 0)
				ok = false;
			if (!ok) {
				add &= (uint8_t)~(VA_STATUS_FEATURES_OK |
						  VA_STATUS_DRIVER_OK);
			}
		}
		dev->status |= add;
		if ((add & VA_STATUS_DRIVER_OK) && dev->ops->driver_ok)
			dev->ops->driver_ok(dev->opaque);
		if (add & VA_STATUS_DRIVER_OK)
			dev_state_restore(dev);
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
			dev->ops->queue_ready(dev->opaque, i);
	}
}

unsigned int va_dev_held(const struct va_dev *dev, uint16_t queue)
{
	return queue < dev->info.num_queues ? dev->queues[queue].nheld : 0;
}

/*
 * A held buffer gets its device-writable space, zeroed, when the device
 * takes it, not when it arrives: a driver posts a whole queue of receive
 * buffers at once and most of them wait, so they cost only their
 * bookkeeping until a frame comes.  false if out of memory (the buffer
 * stays held).
 */
static bool dev_held_give_in(struct va_dev *dev, struct dev_req *r)
{
	void *in;

	if (r->req.in || !r->req.in_len)
		return true;
	if (dev->fail_alloc ||
	    posix_memalign(&in, REQ_IN_ALIGN, r->req.in_len)) {
		dev->fail_alloc = false;
		va_log_ratelimited(&dev->rl_log, VA_LOG_ERR,
				   "%s: out of memory for a buffer of queue %u",
				   dev->name, r->req.queue);
		return false;
	}
	/* The device may answer fewer bytes than it was given: never let
	 * old heap contents reach the guest. */
	memset(in, 0, r->req.in_len);
	r->req.in = in;
	r->in_apart = true;
	return true;
}

struct va_req *va_dev_pop(struct va_dev *dev, uint16_t queue)
{
	if (queue >= dev->info.num_queues || !dev->queues[queue].held_head ||
	    !dev_held_give_in(dev, dev->queues[queue].held_head))
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
	/* The space first, so that out of memory takes none. */
	for (i = 0, r = dev->queues[queue].held_head; i < n; i++, r = r->qnext)
		if (!dev_held_give_in(dev, r))
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

/* The shape of a REQUEST, from its fixed part. */
struct dev_req_shape {
	uint32_t out_len, in_len, nr_in;
};

/* Size of the request's in segment i (i < nr_in). */
static uint32_t dev_rec_in_seg(const struct va_rec *rec, uint32_t i)
{
	uint32_t s;

	memcpy(&s, rec->body + sizeof(struct va_request) + 4 * i, 4);
	return va_le32_to_cpu(s);
}

/* Check a REQUEST against the protocol, the device's limits and state,
 * and the queue's bounds.  Returns 0 (and its shape) or VA_ERR_*. */
static uint32_t dev_request_check(struct va_dev *dev,
				  const struct va_rec *rec,
				  struct dev_req_shape *sh)
{
	struct va_request rq;
	struct dev_queue *q;
	uint64_t sum = 0;
	uint32_t i;

	if (va_rec_body(rec, &rq, sizeof(rq), false) < 0)
		return VA_ERR_INVALID;
	sh->out_len = va_le32_to_cpu(rq.out_len);
	sh->in_len = va_le32_to_cpu(rq.in_len);
	sh->nr_in = va_le16_to_cpu(rq.nr_in);
	if (sh->nr_in > VA_MAX_IN_SEGS)
		return VA_ERR_INVALID;
	/* 64-bit: 16 + 4*256 + 2^32 cannot overflow. */
	if ((uint64_t)rec->len != sizeof(rq) + 4ull * sh->nr_in + sh->out_len)
		return VA_ERR_INVALID;
	if (rec->queue >= dev->info.num_queues)
		return VA_ERR_RANGE;
	q = &dev->queues[rec->queue];
	if (!(dev->status & VA_STATUS_DRIVER_OK) || !q->enabled)
		return VA_ERR_STATE;
	for (i = 0; i < sh->nr_in; i++)
		sum += dev_rec_in_seg(rec, i);
	if (sum != sh->in_len)
		return VA_ERR_INVALID;
	if (rec->len > dev->info.max_request || sh->in_len > dev->info.max_in ||
	    va_rec_span(sizeof(struct va_response) + (uint64_t)sh->in_len) >
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
	return 0;
}

/*
 * The request of a checked REQUEST, in one block: dev_req, segment sizes,
 * out bytes, padding, in (aligned, zeroed).  A held queue's request has no
 * in yet (req.in NULL until the device takes it, dev_held_give_in).  NULL
 * if out of memory.
 */
static struct dev_req *dev_req_new(struct va_dev *dev,
				   const struct va_rec *rec,
				   const struct dev_req_shape *sh, bool held)
{
	const uint8_t *out = rec->body + sizeof(struct va_request) +
			     4 * sh->nr_in;
	struct dev_req *r;
	uint64_t head, total;
	uint32_t i, *segs;
	uint8_t *block;

	head = sizeof(*r) + 4ull * sh->nr_in + sh->out_len;
	if (held) {
		/* No in here: a small block, no alignment to pad for. */
		block = malloc(head);
		if (!block)
			return NULL;
	} else {
		head = (head + REQ_IN_ALIGN - 1) &
		       ~(uint64_t)(REQ_IN_ALIGN - 1);
		total = head + sh->in_len;
		if (posix_memalign((void **)&block, REQ_IN_ALIGN, total))
			return NULL;
	}
	r = (struct dev_req *)block;
	memset(r, 0, sizeof(*r));
	segs = (uint32_t *)(block + sizeof(*r));
	for (i = 0; i < sh->nr_in; i++)
		segs[i] = dev_rec_in_seg(rec, i);
	r->req.dev = dev;
	r->req.queue = rec->queue;
	r->req.id = rec->token;
	r->req.out = block + sizeof(*r) + 4 * sh->nr_in;
	r->req.out_len = sh->out_len;
	memcpy(block + sizeof(*r) + 4 * sh->nr_in, out, sh->out_len);
	r->req.in_len = sh->in_len;
	if (!held) {
		r->req.in = block + head;
		/* The device may answer fewer bytes than it was given:
		 * never let old heap contents reach the guest. */
		memset(r->req.in, 0, sh->in_len);
	}
	r->req.nr_in = (uint16_t)sh->nr_in;
	r->req.in_seg = segs;
	return r;
}

/* Validate a REQUEST and hand it to the device.  Returns 0 or VA_ERR_*. */
static uint32_t dev_request(struct va_dev *dev, const struct va_rec *rec)
{
	struct dev_req_shape sh;
	struct dev_queue *q;
	struct dev_req *r;
	uint32_t err;

	err = dev_request_check(dev, rec, &sh);
	if (err)
		return err;
	q = &dev->queues[rec->queue];
	r = dev_req_new(dev, rec, &sh, q->held_mode);
	if (!r)
		return VA_ERR_BUSY;
	dev_link_req(dev, q, r);
	dev->stats.requests++;
	if (q->held_mode) {
		dev_held_put(dev, q, r);
		dev->ready_mask |= 1ull << rec->queue;
		va_loop_defer(dev->loop, dev_announce_ready, dev);
		return 0;
	}
	dev->ops->request(dev->opaque, &r->req);
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
