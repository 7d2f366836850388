/* SPDX-License-Identifier: MIT */
/*
 * The device core's protocol handling (device.c) without Argo: records go
 * in through va_dev_input(), everything the core sends is captured by a
 * send hook, and a fake device holds the requests it is given.  Covers
 * negotiation, each error path of the rules, malformed input, sessions,
 * NEEDS_RESET, in-flight bounds, batching, -EAGAIN queueing, the
 * fences that hold a reset's reply until the work it dropped has ended,
 * held queues (a second fixture: queue 1 held), and the driver session's
 * state kept across a restart in a state file (a third fixture), which
 * must be durable before it counts (the build links this test with
 * --wrap for fdatasync, fsync and rename, which note what they were
 * called on, in order).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "device-priv.h"
#include "log.h"
#include "loop.h"

#define GUEST		7
#define PORT		0x1234u
#define SESS		0x1111u
#define QSIZE		4u
#define MAX_MSGS	64
#define MAX_HELD	64
#define CFG_SIZE	16u
#define DRV_RING_LEN	65472u	/* 16 pages - 64 */

struct msg {
	uint8_t *buf;
	size_t len;
};

static struct va_loop *loop;
static struct va_dev *dev;
static struct msg msgs[MAX_MSGS];
static unsigned int nmsgs;
static int send_result;		/* 0: accept, else returned */
static struct va_req *held[MAX_HELD];
static unsigned int nheld;
static unsigned int resets;
static int refuse_features;

/*
 * The file operations that make a state file durable, in the order they
 * came: "sync PATH" (fdatasync or fsync of the file or directory open as
 * fd) and "rename FROM TO", one per line.
 */
static char fileops[4096];

static void note_op(const char *op, const char *a, const char *b)
{
	size_t n = strlen(fileops);
	int r = snprintf(fileops + n, sizeof(fileops) - n, "%s %s%s%s\n", op, a,
			 b ? " " : "", b ? b : "");

	ck_assert(r > 0 && (size_t)r < sizeof(fileops) - n);
}

static void note_sync(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = 0;
	note_op("sync", path, NULL);
}

int __real_fdatasync(int fd);
int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);
int __wrap_fdatasync(int fd);
int __wrap_fsync(int fd);
int __wrap_rename(const char *from, const char *to);

/* fdatasync (the core's: of the new state file) and fsync (of its
 * directory) fail with these errnos when set. */
static int fail_fdatasync, fail_fsync;

int __wrap_fdatasync(int fd)
{
	note_sync(fd);
	if (fail_fdatasync) {
		errno = fail_fdatasync;
		return -1;
	}
	return __real_fdatasync(fd);
}

int __wrap_fsync(int fd)
{
	note_sync(fd);
	if (fail_fsync) {
		errno = fail_fsync;
		return -1;
	}
	return __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
	note_op("rename", from, to);
	return __real_rename(from, to);
}

static int hook(void *opaque, const struct iovec *iov, unsigned int niov,
		uint32_t type)
{
	size_t len = 0, pos = 0;
	unsigned int i;

	ck_assert_uint_eq(type, VA_ARGO_MSG_TYPE);
	if (send_result)
		return send_result;
	ck_assert_uint_lt(nmsgs, MAX_MSGS);
	for (i = 0; i < niov; i++)
		len += iov[i].iov_len;
	msgs[nmsgs].buf = malloc(len ? len : 1);
	for (i = 0; i < niov; i++) {
		memcpy(msgs[nmsgs].buf + pos, iov[i].iov_base, iov[i].iov_len);
		pos += iov[i].iov_len;
	}
	msgs[nmsgs].len = len;
	nmsgs++;
	return (int)len;
}

static void fake_request(void *opaque, struct va_req *req)
{
	ck_assert_uint_lt(nheld, MAX_HELD);
	held[nheld++] = req;
}

/*
 * The fake device's config: byte 0 a mode the driver may write (reset to
 * 'M', as blk's wce), bytes [8, 16) the device's read-only fields; the
 * rest belongs to the driver.
 */
static uint8_t fake_mode;
static uint8_t fake_fields[8];
static unsigned int config_writes;
static uint8_t seen_cfg[CFG_SIZE];	/* what the last write_config saw */

static void fake_reset(void *opaque)
{
	resets++;
	fake_mode = 'M';
}

static void fake_get_config(void *opaque, uint8_t *cfg)
{
	cfg[0] = fake_mode;
	memcpy(cfg + 8, fake_fields, sizeof(fake_fields));
}

static unsigned int ready_calls[2];

static void fake_queue_ready(void *opaque, uint16_t q)
{
	ck_assert_uint_lt(q, 2);
	ready_calls[q]++;
}

static int fake_set_features(void *opaque, uint64_t f)
{
	return refuse_features ? -ENOTSUP : 0;
}

static int fake_write_config(void *opaque, const uint8_t *cfg, uint32_t off,
			     uint32_t size)
{
	config_writes++;
	memcpy(seen_cfg, cfg, CFG_SIZE);
	if (off >= 8)
		return -EPERM;
	if (off == 0)
		fake_mode = cfg[0];
	return 0;
}

/* What ->restore_state was given (the driver session's state). */
static char restored[32];
static unsigned int restores;
static int refuse_restore;

static int fake_restore(void *opaque, const void *state, uint32_t len)
{
	restores++;
	ck_assert_uint_lt(len, sizeof(restored));
	memcpy(restored, state, len);
	restored[len] = 0;
	return refuse_restore ? -EINVAL : 0;
}

static const char *state_dir;	/* the state fixture's */

static const struct va_dev_ops ops = {
	.restore_state = fake_restore,
	.request = fake_request,
	.queue_ready = fake_queue_ready,
	.reset = fake_reset,
	.set_features = fake_set_features,
	.get_config = fake_get_config,
	.write_config = fake_write_config,
};

static void clear_msgs(void)
{
	unsigned int i;

	for (i = 0; i < nmsgs; i++)
		free(msgs[i].buf);
	nmsgs = 0;
}

static void setup_info(uint64_t held_queues)
{
	struct va_dev_info info = {
		.held_queues = held_queues,
		.device_id = 0x7f00,
		.features = 0x5,
		.num_queues = 2,
		.max_queue_size = QSIZE,
		.config_size = CFG_SIZE,
		.max_request = 8192,
		.max_in = 65536,
	};
	struct va_dev_opts opts = {
		.guest_domid = GUEST,
		.port = PORT,
		.ring_len = VA_RING_LEN_MIN,
		.name = "t",
		.state_dir = state_dir,
	};

	va_log_init("test-device", VA_LOG_ERR, false);
	memcpy(fake_fields, "89abcdef", sizeof(fake_fields));
	config_writes = 0;
	ck_assert_int_eq(va_loop_new(&loop), 0);
	ck_assert_int_eq(va_dev_new(loop, NULL, &info, &ops, NULL, &opts,
				    &dev), 0);
	va_dev_set_send_hook(dev, hook, NULL);
	nmsgs = 0;
	nheld = 0;
	resets = 0;
	send_result = 0;
	refuse_features = 0;
	ready_calls[0] = ready_calls[1] = 0;
	restores = 0;
	refuse_restore = 0;
	restored[0] = 0;
}

static void setup(void)
{
	setup_info(0);
}

/* Queue 0 pushes, queue 1 (size 2 after negotiate()) is held. */
static void setup_held(void)
{
	setup_info(2);
}

static void teardown(void)
{
	va_dev_free(dev);
	va_loop_free(loop);
	clear_msgs();
}

/* Send one message of raw bytes and run the loop once (flushes). */
static void input_raw(const void *p, size_t len)
{
	va_dev_input(dev, GUEST, PORT, VA_ARGO_MSG_TYPE, p, (uint32_t)len);
	va_loop_run_once(loop, 0);
}

static void input(uint8_t id, uint8_t flags, uint16_t q, uint32_t sess,
		  uint32_t token, const void *body, size_t len)
{
	struct va_batch b;
	struct iovec iov = { .iov_base = (void *)body, .iov_len = len };

	va_batch_init(&b, 1 << 20);
	ck_assert_int_eq(va_batch_add(&b, id, flags, q, sess, token, &iov,
				      len ? 1 : 0), 0);
	input_raw(b.buf, b.len);
	va_batch_free(&b);
}

/* Record `n` of the last captured message. */
static struct va_rec last_rec(unsigned int n)
{
	struct va_rec_iter it;
	struct va_rec rec;
	unsigned int i;

	ck_assert_uint_gt(nmsgs, 0);
	va_rec_iter_init(&it, msgs[nmsgs - 1].buf, msgs[nmsgs - 1].len);
	for (i = 0; i <= n; i++)
		ck_assert_int_eq(va_rec_next(&it, &rec), 1);
	return rec;
}

static unsigned int last_count(void)
{
	struct va_rec_iter it;
	struct va_rec rec;
	unsigned int n = 0;

	va_rec_iter_init(&it, msgs[nmsgs - 1].buf, msgs[nmsgs - 1].len);
	while (va_rec_next(&it, &rec) == 1)
		n++;
	return n;
}

static uint32_t err_of(const struct va_rec *r)
{
	struct va_error e;

	ck_assert_uint_eq(r->flags, VA_F_RESPONSE | VA_F_ERROR);
	ck_assert_int_eq(va_rec_body(r, &e, sizeof(e), true), 0);
	return va_le32_to_cpu(e.error);
}

/* Expect exactly one new message holding one error record. */
static void expect_err(uint8_t id, uint32_t token, uint32_t err)
{
	struct va_rec r;

	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_count(), 1);
	r = last_rec(0);
	ck_assert_uint_eq(r.msg_id, id);
	ck_assert_uint_eq(r.token, token);
	ck_assert_uint_eq(r.session, va_dev_session(dev));
	ck_assert_uint_eq(err_of(&r), err);
	clear_msgs();
}

static void expect_ok(uint8_t id, uint32_t token)
{
	struct va_rec r;

	ck_assert_uint_eq(nmsgs, 1);
	r = last_rec(0);
	ck_assert_uint_eq(r.msg_id, id);
	ck_assert_uint_eq(r.flags, VA_F_RESPONSE);
	ck_assert_uint_eq(r.token, token);
}

static void device_info(uint32_t sess)
{
	struct va_device_info_req rq = {
		.driver_ring_len = va_cpu_to_le32(DRV_RING_LEN),
	};
	struct va_device_info di;
	struct va_rec r;

	input(VA_MSG_DEVICE_INFO, 0, 0, sess, 1, &rq, sizeof(rq));
	expect_ok(VA_MSG_DEVICE_INFO, 1);
	r = last_rec(0);
	ck_assert_int_eq(va_rec_body(&r, &di, sizeof(di), true), 0);
	ck_assert_uint_eq(va_le32_to_cpu(di.device_id), 0x7f00);
	ck_assert_uint_eq(va_le16_to_cpu(di.num_queues), 2);
	ck_assert_uint_eq(va_le32_to_cpu(di.max_queue_size), QSIZE);
	ck_assert_uint_eq(va_le32_to_cpu(di.config_size), CFG_SIZE);
	ck_assert_uint_eq(va_le32_to_cpu(di.device_ring_len), VA_RING_LEN_MIN);
	clear_msgs();
}

static uint8_t set_status(uint32_t sess, uint32_t st)
{
	struct va_status s = { .status = va_cpu_to_le32(st) };
	struct va_rec r;

	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, sess, 2, &s, sizeof(s));
	r = last_rec(0);
	ck_assert_uint_eq(r.msg_id, VA_MSG_SET_DEVICE_STATUS);
	if (r.flags & VA_F_ERROR)
		return 0xff;
	ck_assert_int_eq(va_rec_body(&r, &s, sizeof(s), true), 0);
	clear_msgs();
	return (uint8_t)va_le32_to_cpu(s.status);
}

static void set_features(uint32_t sess, uint64_t bits)
{
	struct va_features f = { .bits = va_cpu_to_le64(bits) };

	input(VA_MSG_SET_DRV_FEATURES, 0, 0, sess, 3, &f, sizeof(f));
	expect_ok(VA_MSG_SET_DRV_FEATURES, 3);
	clear_msgs();
}

static void set_vqueue(uint32_t sess, uint32_t q, uint32_t size)
{
	struct va_vqueue v = {
		.index = va_cpu_to_le32(q),
		.size = va_cpu_to_le32(size),
		.enabled = va_cpu_to_le32(1),
	};

	input(VA_MSG_SET_VQUEUE, 0, (uint16_t)q, sess, 4, &v, sizeof(v));
	expect_ok(VA_MSG_SET_VQUEUE, 4);
	clear_msgs();
}

/* Full negotiation to DRIVER_OK with both queues enabled. */
static void negotiate(uint32_t sess)
{
	device_info(sess);
	ck_assert_uint_eq(set_status(sess, VA_STATUS_ACKNOWLEDGE),
			  VA_STATUS_ACKNOWLEDGE);
	ck_assert_uint_eq(set_status(sess, VA_STATUS_ACKNOWLEDGE |
				     VA_STATUS_DRIVER), 3);
	set_features(sess, 1ull << 32 | 1);
	ck_assert_uint_eq(set_status(sess, 3 | VA_STATUS_FEATURES_OK), 0xb);
	set_vqueue(sess, 0, QSIZE);
	set_vqueue(sess, 1, 2);
	ck_assert_uint_eq(set_status(sess, 0xf), 0xf);
	ck_assert_uint_eq(va_dev_features(dev), 1ull << 32 | 1);
}

/* A well-formed REQUEST with the given segments and out bytes. */
static void request_s(uint32_t sess, uint16_t q, uint32_t id,
		      const uint32_t *segs, unsigned int nseg, const void *out,
		      uint32_t out_len)
{
	uint8_t body[4096];
	struct va_request rq = { 0 };
	uint32_t in_len = 0, s;
	unsigned int i;

	for (i = 0; i < nseg; i++)
		in_len += segs[i];
	rq.out_len = va_cpu_to_le32(out_len);
	rq.in_len = va_cpu_to_le32(in_len);
	rq.nr_in = va_cpu_to_le16((uint16_t)nseg);
	memcpy(body, &rq, sizeof(rq));
	for (i = 0; i < nseg; i++) {
		s = va_cpu_to_le32(segs[i]);
		memcpy(body + sizeof(rq) + 4 * i, &s, 4);
	}
	memcpy(body + sizeof(rq) + 4 * nseg, out, out_len);
	input(VA_MSG_REQUEST, 0, q, sess, id, body,
	      sizeof(rq) + 4 * nseg + out_len);
}

static void request(uint16_t q, uint32_t id, const uint32_t *segs,
		    unsigned int nseg, const void *out, uint32_t out_len)
{
	request_s(SESS, q, id, segs, nseg, out, out_len);
}

START_TEST(test_happy_path)
{
	uint32_t seg[2] = { 3, 5 };
	struct va_response resp;
	struct va_rec r;

	negotiate(SESS);
	request(0, 42, seg, 2, "hello", 5);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_uint_eq(nheld, 1);
	ck_assert_uint_eq(held[0]->id, 42);
	ck_assert_uint_eq(held[0]->queue, 0);
	ck_assert_uint_eq(held[0]->out_len, 5);
	ck_assert_mem_eq(held[0]->out, "hello", 5);
	ck_assert_uint_eq(held[0]->in_len, 8);
	ck_assert_uint_eq(held[0]->nr_in, 2);
	ck_assert_uint_eq(held[0]->in_seg[1], 5);
	ck_assert_uint_eq(va_dev_inflight(dev), 1);
	memcpy(held[0]->in, "abcdefgh", 8);
	va_req_complete(held[0], 6);
	va_loop_run_once(loop, 0);
	expect_ok(VA_MSG_RESPONSE, 42);
	r = last_rec(0);
	ck_assert_uint_eq(r.len, 8 + 6);
	memcpy(&resp, r.body, sizeof(resp));
	ck_assert_uint_eq(va_le32_to_cpu(resp.written), 6);
	ck_assert_mem_eq(r.body + 8, "abcdef", 6);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
}
END_TEST

START_TEST(test_batching_and_large)
{
	uint32_t seg = 16, big = 8000;
	struct va_rec r;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	request(0, 2, &seg, 1, "", 0);
	request(1, 3, &big, 1, "", 0);
	ck_assert_uint_eq(nheld, 3);
	va_req_complete(held[0], 16);
	va_req_complete(held[1], 4);
	va_req_complete(held[2], 8000);
	va_loop_run_once(loop, 0);
	/* The two small ones batched (first), the large one alone. */
	ck_assert_uint_eq(nmsgs, 2);
	ck_assert_uint_eq(last_count(), 1);
	r = last_rec(0);
	ck_assert_uint_eq(r.token, 3);
	ck_assert_uint_eq(r.len, 8008);
	nmsgs--;
	ck_assert_uint_eq(last_count(), 2);
	ck_assert_uint_eq(last_rec(0).token, 1);
	ck_assert_uint_eq(last_rec(1).token, 2);
	nmsgs++;
}
END_TEST

START_TEST(test_eagain_queue)
{
	uint32_t seg = 16, big = 8000;
	struct va_dev_stats st;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	request(1, 2, &big, 1, "", 0);
	request(0, 3, &seg, 1, "", 0);
	send_result = -EAGAIN;
	va_req_complete(held[0], 1);
	va_loop_run_once(loop, 0);
	va_req_complete(held[1], 8000);
	va_req_complete(held[2], 2);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 0);
	va_dev_get_stats(dev, &st);
	ck_assert_uint_ge(st.eagain, 1);
	send_result = 0;
	va_dev_retry_sends(dev);
	ck_assert_uint_eq(nmsgs, 3);
	ck_assert_uint_eq(last_rec(0).token, 3);
	nmsgs--;
	ck_assert_uint_eq(last_rec(0).token, 2);
	nmsgs--;
	ck_assert_uint_eq(last_rec(0).token, 1);
	nmsgs += 2;
	/* The guest gone: dropped, nothing queued. */
	request(0, 4, &seg, 1, "", 0);
	send_result = -ECONNREFUSED;
	va_req_complete(held[3], 1);
	va_loop_run_once(loop, 0);
	send_result = 0;
	clear_msgs();
	va_dev_retry_sends(dev);
	ck_assert_uint_eq(nmsgs, 0);
}
END_TEST

START_TEST(test_no_session)
{
	struct va_status s = { 0 };

	input(VA_MSG_GET_DEVICE_STATUS, 0, 0, SESS, 9, NULL, 0);
	expect_err(VA_MSG_GET_DEVICE_STATUS, 9, VA_ERR_STATE);
	device_info(SESS);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS + 1, 10, &s, sizeof(s));
	expect_err(VA_MSG_SET_DEVICE_STATUS, 10, VA_ERR_STATE);
	input(0x77, 0, 0, SESS, 11, NULL, 0);
	expect_err(0x77, 11, VA_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_device_info_bad)
{
	struct va_device_info_req rq = { .driver_ring_len = va_cpu_to_le32(100) };
	uint8_t shortb[4] = { 0 };

	input(VA_MSG_DEVICE_INFO, 0, 0, SESS, 1, &rq, sizeof(rq));
	expect_err(VA_MSG_DEVICE_INFO, 1, VA_ERR_INVALID);
	input(VA_MSG_DEVICE_INFO, 0, 0, SESS, 2, shortb, sizeof(shortb));
	expect_err(VA_MSG_DEVICE_INFO, 2, VA_ERR_INVALID);
}
END_TEST

START_TEST(test_features)
{
	struct va_features f = { .block = va_cpu_to_le32(0) };
	struct va_rec r;

	device_info(SESS);
	input(VA_MSG_GET_DEV_FEATURES, 0, 0, SESS, 5, &f, sizeof(f));
	expect_ok(VA_MSG_GET_DEV_FEATURES, 5);
	r = last_rec(0);
	ck_assert_int_eq(va_rec_body(&r, &f, sizeof(f), true), 0);
	ck_assert_uint_eq(va_le64_to_cpu(f.bits), 1ull << 32 | 5);
	clear_msgs();
	f.block = va_cpu_to_le32(1);
	input(VA_MSG_GET_DEV_FEATURES, 0, 0, SESS, 6, &f, sizeof(f));
	r = last_rec(0);
	ck_assert_int_eq(va_rec_body(&r, &f, sizeof(f), true), 0);
	ck_assert_uint_eq(f.bits, 0);
	clear_msgs();
	f.block = va_cpu_to_le32(2);
	input(VA_MSG_GET_DEV_FEATURES, 0, 0, SESS, 7, &f, sizeof(f));
	expect_err(VA_MSG_GET_DEV_FEATURES, 7, VA_ERR_RANGE);
	input(VA_MSG_GET_DEV_FEATURES, 0, 0, SESS, 7, &f, 8);
	expect_err(VA_MSG_GET_DEV_FEATURES, 7, VA_ERR_INVALID);
	/* SET before DRIVER: STATE. */
	f.block = 0;
	f.bits = va_cpu_to_le64(1);
	input(VA_MSG_SET_DRV_FEATURES, 0, 0, SESS, 8, &f, sizeof(f));
	expect_err(VA_MSG_SET_DRV_FEATURES, 8, VA_ERR_STATE);
	set_status(SESS, 3);
	f.bits = va_cpu_to_le64(2);
	input(VA_MSG_SET_DRV_FEATURES, 0, 0, SESS, 9, &f, sizeof(f));
	expect_err(VA_MSG_SET_DRV_FEATURES, 9, VA_ERR_INVALID);
	/* Without VERSION_1, FEATURES_OK is not granted. */
	set_features(SESS, 1);
	ck_assert_uint_eq(set_status(SESS, 0xb), 3);
	/* Refused by the device: not granted either. */
	refuse_features = 1;
	set_features(SESS, 1ull << 32);
	ck_assert_uint_eq(set_status(SESS, 0xb), 3);
	refuse_features = 0;
	ck_assert_uint_eq(set_status(SESS, 0xb), 0xb);
	/* After FEATURES_OK: SET is STATE. */
	input(VA_MSG_SET_DRV_FEATURES, 0, 0, SESS, 10, &f, sizeof(f));
	expect_err(VA_MSG_SET_DRV_FEATURES, 10, VA_ERR_STATE);
}
END_TEST

START_TEST(test_status_rules)
{
	struct va_status s = { .status = va_cpu_to_le32(1) };

	device_info(SESS);
	ck_assert_uint_eq(set_status(SESS, 3), 3);
	/* Clearing a bit without reset. */
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 2, &s, sizeof(s));
	expect_err(VA_MSG_SET_DEVICE_STATUS, 2, VA_ERR_INVALID);
	/* DRIVER_OK without FEATURES_OK. */
	s.status = va_cpu_to_le32(7);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 2, &s, sizeof(s));
	expect_err(VA_MSG_SET_DEVICE_STATUS, 2, VA_ERR_STATE);
	/* Unknown bit. */
	s.status = va_cpu_to_le32(0x13);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 2, &s, sizeof(s));
	expect_err(VA_MSG_SET_DEVICE_STATUS, 2, VA_ERR_INVALID);
	/* NEEDS_RESET is the device's. */
	s.status = va_cpu_to_le32(0x43);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 2, &s, sizeof(s));
	expect_err(VA_MSG_SET_DEVICE_STATUS, 2, VA_ERR_INVALID);
	/* Malformed body. */
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 2, &s, 4);
	expect_err(VA_MSG_SET_DEVICE_STATUS, 2, VA_ERR_INVALID);
	resets = 0;
	ck_assert_uint_eq(set_status(SESS, 0), 0);
	ck_assert_uint_eq(resets, 1);
	ck_assert_uint_eq(va_dev_status(dev), 0);
}
END_TEST

/* A driver's SET_CONFIG of [off, off+size) at generation gen; len is the
 * body's length (16 + size when well formed). */
static void set_config(uint32_t token, uint32_t gen, uint32_t off,
		       const void *data, uint32_t size, uint32_t len)
{
	struct {
		struct va_config c;
		uint8_t data[8];
	} w;

	ck_assert_uint_le(size, sizeof(w.data));
	memset(&w, 0, sizeof(w));
	w.c.generation = va_cpu_to_le32(gen);
	w.c.offset = va_cpu_to_le32(off);
	w.c.size = va_cpu_to_le32(size);
	memcpy(w.data, data, size);
	input(VA_MSG_SET_CONFIG, 0, 0, SESS, token, &w, len);
}

START_TEST(test_config)
{
	struct va_config c = { .offset = 0, .size = va_cpu_to_le32(CFG_SIZE) };
	struct va_rec r;

	/* The first bytes are the device's (get_config in va_dev_new). */
	ck_assert_uint_eq(va_dev_config_generation(dev), 0);
	ck_assert_mem_eq(va_dev_config(dev), "M\0\0\0\0\0\0\0" "89abcdef",
			 CFG_SIZE);
	ck_assert_int_eq(va_dev_config_set(dev, 1, "1234567", 7), 0);
	ck_assert_uint_eq(va_dev_config_generation(dev), 1);
	device_info(SESS);
	input(VA_MSG_GET_CONFIG, 0, 0, SESS, 5, &c, sizeof(c));
	expect_ok(VA_MSG_GET_CONFIG, 5);
	r = last_rec(0);
	ck_assert_uint_eq(r.len, 16 + CFG_SIZE);
	ck_assert_mem_eq(r.body + 16, "M123456789abcdef", CFG_SIZE);
	memcpy(&c, r.body, sizeof(c));
	ck_assert_uint_eq(va_le32_to_cpu(c.generation), 1);
	clear_msgs();
	c.size = va_cpu_to_le32(CFG_SIZE);
	c.offset = va_cpu_to_le32(1);
	input(VA_MSG_GET_CONFIG, 0, 0, SESS, 6, &c, sizeof(c));
	expect_err(VA_MSG_GET_CONFIG, 6, VA_ERR_RANGE);
	c.offset = va_cpu_to_le32(0xffffffffu);
	c.size = va_cpu_to_le32(2);
	input(VA_MSG_GET_CONFIG, 0, 0, SESS, 6, &c, sizeof(c));
	expect_err(VA_MSG_GET_CONFIG, 6, VA_ERR_RANGE);

	/* Writes: ok (no bump: the driver made it), wrong generation,
	 * refused, bad length. */
	set_config(7, 1, 2, "WXYZ", 4, 16 + 4);
	expect_ok(VA_MSG_SET_CONFIG, 7);
	clear_msgs();
	ck_assert_mem_eq(va_dev_config(dev), "M1WXYZ6789", 10);
	ck_assert_uint_eq(va_dev_config_generation(dev), 1);
	set_config(8, 0, 2, "WXYZ", 4, 16 + 4);
	expect_err(VA_MSG_SET_CONFIG, 8, VA_ERR_STATE);
	set_config(9, 1, 8, "WXYZ", 4, 16 + 4);
	expect_err(VA_MSG_SET_CONFIG, 9, VA_ERR_INVALID);
	ck_assert_mem_eq(va_dev_config(dev) + 8, "89ab", 4);
	set_config(10, 1, 2, "WXYZ", 4, 16 + 3);
	expect_err(VA_MSG_SET_CONFIG, 10, VA_ERR_INVALID);
}
END_TEST

/* The EVENT_CONFIG of the last message, its only record: the generation. */
static uint32_t expect_event(void)
{
	struct va_event_config ev;
	struct va_rec r;

	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_count(), 1);
	r = last_rec(0);
	ck_assert_uint_eq(r.msg_id, VA_MSG_EVENT_CONFIG);
	ck_assert_int_eq(va_rec_body(&r, &ev, sizeof(ev), true), 0);
	clear_msgs();
	return va_le32_to_cpu(ev.generation);
}

/* A device's changes: one bump and one event per change that alters a
 * byte, several fields in one update included; none otherwise. */
START_TEST(test_config_device_changes)
{
	uint32_t gen;

	device_info(SESS);
	clear_msgs();
	gen = va_dev_config_generation(dev);
	/* Nothing changes: no bump, no event. */
	va_dev_config_update(dev);
	ck_assert_int_eq(va_dev_config_set(dev, 8, "89ab", 4), 0);
	ck_assert_int_eq(va_dev_config_set(dev, 3, "", 0), 0);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_uint_eq(va_dev_config_generation(dev), gen);

	/* Two fields in one update: one bump, one event. */
	memcpy(fake_fields, "XY", 2);
	fake_fields[4] = 'Z';
	va_dev_config_update(dev);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(va_dev_config_generation(dev), gen + 1);
	ck_assert_uint_eq(expect_event(), gen + 1);
	ck_assert_mem_eq(va_dev_config(dev) + 8, "XYabZdef", 8);

	/* By offset: the same rule; outside the space nothing changes. */
	ck_assert_int_eq(va_dev_config_set(dev, 14, "!!", 2), 0);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(expect_event(), gen + 2);
	ck_assert_int_eq(va_dev_config_set(dev, 15, "??", 2), -ERANGE);
	ck_assert_int_eq(va_dev_config_set(dev, 0xffffffffu, "??", 2),
			 -ERANGE);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_uint_eq(va_dev_config_generation(dev), gen + 2);
	ck_assert_mem_eq(va_dev_config(dev) + 8, "XYabZd!!", 8);
}
END_TEST

/* A refused driver write leaves bytes and generation alone; an accepted
 * one bumps nothing; a reset gives the device's values back, no bump. */
START_TEST(test_config_driver_writes)
{
	uint8_t before[CFG_SIZE];
	uint32_t gen;

	device_info(SESS);
	clear_msgs();
	memcpy(before, va_dev_config(dev), CFG_SIZE);
	gen = va_dev_config_generation(dev);
	set_config(7, gen, 8, "PQRS", 4, 16 + 4);
	expect_err(VA_MSG_SET_CONFIG, 7, VA_ERR_INVALID);
	/* The device judged the space as the write would leave it... */
	ck_assert_uint_eq(config_writes, 1);
	ck_assert_mem_eq(seen_cfg + 8, "PQRS", 4);
	/* ...and, refused, nothing changed. */
	ck_assert_mem_eq(va_dev_config(dev), before, CFG_SIZE);
	ck_assert_uint_eq(va_dev_config_generation(dev), gen);

	set_config(8, gen, 0, "m", 1, 16 + 1);
	expect_ok(VA_MSG_SET_CONFIG, 8);
	clear_msgs();
	ck_assert_uint_eq(fake_mode, 'm');
	ck_assert_uint_eq(va_dev_config(dev)[0], 'm');
	ck_assert_uint_eq(va_dev_config_generation(dev), gen);

	ck_assert_uint_eq(set_status(SESS, 0), 0);
	ck_assert_uint_eq(va_dev_config(dev)[0], 'M');
	ck_assert_mem_eq(va_dev_config(dev), before, CFG_SIZE);
	ck_assert_uint_eq(va_dev_config_generation(dev), gen);
	ck_assert_uint_eq(nmsgs, 0);
}
END_TEST

START_TEST(test_vqueue)
{
	struct va_vqueue v = { .index = va_cpu_to_le32(2) };
	struct va_rec r;

	device_info(SESS);
	input(VA_MSG_GET_VQUEUE, 0, 0, SESS, 5, &v, sizeof(v));
	expect_err(VA_MSG_GET_VQUEUE, 5, VA_ERR_RANGE);
	v.index = va_cpu_to_le32(1);
	input(VA_MSG_GET_VQUEUE, 0, 1, SESS, 5, &v, sizeof(v));
	expect_ok(VA_MSG_GET_VQUEUE, 5);
	r = last_rec(0);
	ck_assert_int_eq(va_rec_body(&r, &v, sizeof(v), true), 0);
	ck_assert_uint_eq(va_le32_to_cpu(v.max_size), QSIZE);
	ck_assert_uint_eq(v.enabled, 0);
	clear_msgs();
	/* SET before FEATURES_OK. */
	v.size = va_cpu_to_le32(2);
	input(VA_MSG_SET_VQUEUE, 0, 1, SESS, 6, &v, sizeof(v));
	expect_err(VA_MSG_SET_VQUEUE, 6, VA_ERR_STATE);
	set_status(SESS, 3);
	set_features(SESS, 1ull << 32);
	set_status(SESS, 0xb);
	v.size = 0;
	input(VA_MSG_SET_VQUEUE, 0, 1, SESS, 7, &v, sizeof(v));
	expect_err(VA_MSG_SET_VQUEUE, 7, VA_ERR_RANGE);
	v.size = va_cpu_to_le32(QSIZE + 1);
	input(VA_MSG_SET_VQUEUE, 0, 1, SESS, 7, &v, sizeof(v));
	expect_err(VA_MSG_SET_VQUEUE, 7, VA_ERR_RANGE);
	set_vqueue(SESS, 1, 3);
	ck_assert_uint_eq(va_dev_queue_size(dev, 1), 3);
	/* Enabled queue: STATE. */
	v.size = va_cpu_to_le32(2);
	input(VA_MSG_SET_VQUEUE, 0, 1, SESS, 8, &v, sizeof(v));
	expect_err(VA_MSG_SET_VQUEUE, 8, VA_ERR_STATE);
}
END_TEST

START_TEST(test_request_errors)
{
	uint32_t seg = 8, huge = 70000;
	uint8_t body[64];
	struct va_request rq = { 0 };
	unsigned int i;

	device_info(SESS);
	/* Before DRIVER_OK. */
	request(0, 1, &seg, 1, "x", 1);
	expect_err(VA_MSG_REQUEST, 1, VA_ERR_STATE);
	negotiate(SESS);
	/* Body length disagrees with out_len. */
	rq.out_len = va_cpu_to_le32(4);
	memcpy(body, &rq, sizeof(rq));
	input(VA_MSG_REQUEST, 0, 0, SESS, 2, body, sizeof(rq) + 3);
	expect_err(VA_MSG_REQUEST, 2, VA_ERR_INVALID);
	/* Short body. */
	input(VA_MSG_REQUEST, 0, 0, SESS, 3, body, 8);
	expect_err(VA_MSG_REQUEST, 3, VA_ERR_INVALID);
	/* in_len disagrees with the segments. */
	rq.out_len = 0;
	rq.in_len = va_cpu_to_le32(9);
	rq.nr_in = va_cpu_to_le16(1);
	memcpy(body, &rq, sizeof(rq));
	memcpy(body + 16, &seg, 4);
	input(VA_MSG_REQUEST, 0, 0, SESS, 4, body, sizeof(rq) + 4);
	expect_err(VA_MSG_REQUEST, 4, VA_ERR_INVALID);
	/* Too many segments. */
	rq.nr_in = va_cpu_to_le16(VA_MAX_IN_SEGS + 1);
	memcpy(body, &rq, sizeof(rq));
	input(VA_MSG_REQUEST, 0, 0, SESS, 5, body, sizeof(rq) + 4);
	expect_err(VA_MSG_REQUEST, 5, VA_ERR_INVALID);
	/* Queue out of range. */
	request(2, 6, &seg, 1, "", 0);
	expect_err(VA_MSG_REQUEST, 6, VA_ERR_RANGE);
	/* Too big for max_in. */
	request(0, 7, &huge, 1, "", 0);
	expect_err(VA_MSG_REQUEST, 7, VA_ERR_TOO_BIG);
	/* Response would not fit the driver ring (DRV_RING_LEN - 32). */
	huge = 65500;
	request(0, 8, &huge, 1, "", 0);
	expect_err(VA_MSG_REQUEST, 8, VA_ERR_TOO_BIG);
	/* Duplicate id, then the queue bound. */
	request(1, 9, &seg, 1, "", 0);
	ck_assert_uint_eq(nmsgs, 0);
	request(1, 9, &seg, 1, "", 0);
	expect_err(VA_MSG_REQUEST, 9, VA_ERR_INVALID);
	request(1, 10, &seg, 1, "", 0);
	ck_assert_uint_eq(nmsgs, 0);
	request(1, 11, &seg, 1, "", 0);
	expect_err(VA_MSG_REQUEST, 11, VA_ERR_BUSY);
	ck_assert_uint_eq(nheld, 2);
	/* Completing one makes room; the id can be reused. */
	va_req_complete(held[0], 0);
	va_loop_run_once(loop, 0);
	clear_msgs();
	request(1, 9, &seg, 1, "", 0);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_uint_eq(nheld, 3);
	for (i = 1; i < nheld; i++)
		va_req_complete(held[i], 0);
}
END_TEST

START_TEST(test_session_change_drops)
{
	struct va_device_info_req rq = {
		.driver_ring_len = va_cpu_to_le32(DRV_RING_LEN),
	};
	uint32_t seg = 8;
	struct va_dev_stats st;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	request(0, 2, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, 2);
	va_req_complete(held[0], 1);	/* batched, not yet flushed */
	resets = 0;
	input(VA_MSG_DEVICE_INFO, 0, 0, SESS + 5, 1, &rq, sizeof(rq));
	ck_assert_uint_eq(resets, 1);
	ck_assert_uint_eq(va_dev_status(dev), 0);
	/* Neither the old session's answer nor, while request 2 may still
	 * write, the new session's DEVICE_INFO reply. */
	ck_assert_uint_eq(nmsgs, 0);
	/* Request 2 ends: its answer is discarded, the reply goes out. */
	va_req_complete(held[1], 1);
	va_loop_run_once(loop, 0);
	expect_ok(VA_MSG_DEVICE_INFO, 1);
	ck_assert_uint_eq(last_count(), 1);
	clear_msgs();
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
	va_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.sessions, 2);
	ck_assert_uint_eq(st.fenced, 1);
	/* The old session is now refused. */
	input(VA_MSG_GET_DEVICE_STATUS, 0, 0, SESS, 3, NULL, 0);
	expect_err(VA_MSG_GET_DEVICE_STATUS, 3, VA_ERR_STATE);
}
END_TEST

START_TEST(test_reset_vqueue)
{
	uint32_t seg = 8;
	struct va_vqueue v = { .index = va_cpu_to_le32(0) };

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	request(1, 2, &seg, 1, "", 0);
	/* Held while request 1 of queue 0 may still write. */
	input(VA_MSG_RESET_VQUEUE, 0, 0, SESS, 3, &v, sizeof(v));
	ck_assert_uint_eq(nmsgs, 0);
	/* Queue 1 goes on meanwhile. */
	va_req_complete(held[1], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_count(), 1);
	ck_assert_uint_eq(last_rec(0).msg_id, VA_MSG_RESPONSE);
	ck_assert_uint_eq(last_rec(0).token, 2);
	clear_msgs();
	/* Request 1 ends: no answer for it, the reset's reply instead. */
	va_req_complete(held[0], 1);
	va_loop_run_once(loop, 0);
	expect_ok(VA_MSG_RESET_VQUEUE, 3);
	ck_assert_uint_eq(last_count(), 1);
	clear_msgs();
	request(0, 4, &seg, 1, "", 0);
	expect_err(VA_MSG_REQUEST, 4, VA_ERR_STATE);
}
END_TEST

/* A reset is answered only after the work it dropped has ended. */
START_TEST(test_reset_fence)
{
	struct va_status s = { .status = 0 };
	uint32_t seg = 8;
	unsigned int i;
	struct va_rec r;
	struct va_dev_stats st;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	request(0, 2, &seg, 1, "", 0);
	request(1, 3, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, 3);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 10, &s, sizeof(s));
	ck_assert_uint_eq(va_dev_status(dev), 0);
	ck_assert_uint_eq(nmsgs, 0);
	/* Requests end in any order; the reply waits for the last. */
	va_req_complete(held[2], 1);
	va_loop_run_once(loop, 0);
	va_req_complete(held[0], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 0);
	va_req_complete(held[1], 1);
	va_loop_run_once(loop, 0);
	expect_ok(VA_MSG_SET_DEVICE_STATUS, 10);
	ck_assert_uint_eq(last_count(), 1);
	clear_msgs();
	/* Nothing stale: answered at once. */
	ck_assert_uint_eq(set_status(SESS, 0), 0);

	/* Bounded: a driver that does not wait for its replies gets at
	 * most DEV_MAX_FENCES (16) held, then BUSY; the held ones go out
	 * in order. */
	negotiate(SESS);
	request(0, 20, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, 4);
	for (i = 0; i < 16; i++)
		input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 100 + i, &s,
		      sizeof(s));
	ck_assert_uint_eq(nmsgs, 0);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 200, &s, sizeof(s));
	expect_err(VA_MSG_SET_DEVICE_STATUS, 200, VA_ERR_BUSY);
	va_req_complete(held[3], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_count(), 16);
	for (i = 0; i < 16; i++) {
		r = last_rec(i);
		ck_assert_uint_eq(r.msg_id, VA_MSG_SET_DEVICE_STATUS);
		ck_assert_uint_eq(r.flags, VA_F_RESPONSE);
		ck_assert_uint_eq(r.token, 100 + i);
	}
	va_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.fenced, 17);
}
END_TEST

START_TEST(test_needs_reset)
{
	uint32_t seg = 8;
	unsigned int i;
	struct va_rec r;
	struct va_event_config ev;
	struct va_config c = { .size = va_cpu_to_le32(4) };

	negotiate(SESS);
	for (i = 0; i <= VA_DEV_MAX_VIOLATIONS; i++)
		request(5, i, &seg, 1, "", 0);
	ck_assert(va_dev_status(dev) & VA_STATUS_NEEDS_RESET);
	/* The EVENT_CONFIG announcing it leads the last message, before the
	 * error reply of the request that tipped it. */
	ck_assert_uint_eq(last_count(), 2);
	ck_assert_uint_eq(err_of((r = last_rec(1), &r)), VA_ERR_RANGE);
	r = last_rec(0);
	ck_assert_uint_eq(r.msg_id, VA_MSG_EVENT_CONFIG);
	ck_assert_int_eq(va_rec_body(&r, &ev, sizeof(ev), true), 0);
	ck_assert(va_le32_to_cpu(ev.status) & VA_STATUS_NEEDS_RESET);
	clear_msgs();
	request(0, 100, &seg, 1, "", 0);
	expect_err(VA_MSG_REQUEST, 100, VA_ERR_NEEDS_RESET);
	ck_assert_uint_eq(nheld, 0);
	input(VA_MSG_GET_DEVICE_STATUS, 0, 0, SESS, 101, NULL, 0);
	expect_ok(VA_MSG_GET_DEVICE_STATUS, 101);
	clear_msgs();
	input(VA_MSG_GET_CONFIG, 0, 0, SESS, 102, &c, sizeof(c));
	expect_ok(VA_MSG_GET_CONFIG, 102);
	clear_msgs();
	ck_assert_uint_eq(set_status(SESS, 0xf), 0xff);
	expect_err(VA_MSG_SET_DEVICE_STATUS, 2, VA_ERR_NEEDS_RESET);
	/* Reset clears it (not the violation count: see
	 * test_violations_survive_reset). */
	ck_assert_uint_eq(set_status(SESS, 0), 0);
	negotiate(SESS);
	request(0, 200, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, 1);
	va_req_complete(held[0], 0);
}
END_TEST

START_TEST(test_malformed)
{
	struct va_batch b;
	struct iovec iov;
	struct va_status s = { 0 };
	uint8_t junk[3] = { 1, 2, 3 };
	struct va_dev_stats st;

	device_info(SESS);
	/* Two good records, then garbage: the two are answered. */
	va_batch_init(&b, 1 << 16);
	iov.iov_base = &s;
	iov.iov_len = 4;	/* odd length: padding follows */
	va_batch_add(&b, VA_MSG_GET_DEVICE_STATUS, 0, 0, SESS, 1, NULL, 0);
	va_batch_add(&b, VA_MSG_GET_DEVICE_STATUS, 0, 0, SESS, 2, &iov, 1);
	/* Non-zero padding byte in the second record. */
	b.buf[b.len - 1] = 0xee;
	va_batch_add(&b, VA_MSG_GET_DEVICE_STATUS, 0, 0, SESS, 3, NULL, 0);
	input_raw(b.buf, b.len);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_count(), 1);
	ck_assert_uint_eq(last_rec(0).token, 1);
	clear_msgs();
	va_batch_free(&b);
	input_raw(junk, sizeof(junk));
	ck_assert_uint_eq(nmsgs, 0);
	/* A response sent to the device: dropped. */
	input(VA_MSG_GET_DEVICE_STATUS, VA_F_RESPONSE, 0, SESS, 4, NULL, 0);
	ck_assert_uint_eq(nmsgs, 0);
	va_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.violations, 3);
	/* Foreign source domain and port: dropped silently. */
	va_dev_input(dev, GUEST + 1, PORT, VA_ARGO_MSG_TYPE, junk, 3);
	va_dev_input(dev, GUEST, PORT + 1, VA_ARGO_MSG_TYPE, junk, 3);
	/* Other magic: dropped silently. */
	va_dev_input(dev, GUEST, PORT, 0x12340001u, junk, 3);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 0);
	va_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.violations, 3);
}
END_TEST

START_TEST(test_version)
{
	struct va_hdr h = {
		.msg_id = VA_MSG_DEVICE_INFO,
		.session = va_cpu_to_le32(SESS),
		.token = va_cpu_to_le32(77),
	};
	struct va_rec r;
	struct va_error e;

	va_dev_input(dev, GUEST, PORT, VA_ARGO_MSG_TYPE_V(2), &h, sizeof(h));
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 1);
	r = last_rec(0);
	ck_assert_uint_eq(r.msg_id, VA_MSG_DEVICE_INFO);
	ck_assert_uint_eq(r.token, 77);
	ck_assert_int_eq(va_rec_body(&r, &e, sizeof(e), true), 0);
	ck_assert_uint_eq(va_le32_to_cpu(e.error), VA_ERR_VERSION);
	ck_assert_uint_eq(va_le32_to_cpu(e.detail), 1);
	clear_msgs();
	/* Unparseable: token 0. */
	va_dev_input(dev, GUEST, PORT, VA_ARGO_MSG_TYPE_V(3), &h, 4);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_rec(0).token, 0);
}
END_TEST

static void stop_done(struct va_loop *l, void *opaque)
{
	(*(int *)opaque)++;
}

START_TEST(test_stop)
{
	uint32_t seg = 8;
	int stopped = 0;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	va_dev_stop(dev, 10000, stop_done, &stopped);
	/* New requests are ignored while stopping. */
	request(0, 2, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, 1);
	ck_assert_uint_eq(nmsgs, 0);
	va_loop_run_once(loop, 0);
	ck_assert_int_eq(stopped, 0);
	va_req_complete(held[0], 2);
	va_loop_run_once(loop, 0);
	va_loop_run_once(loop, 0);
	/* The response went out before the stop finished. */
	ck_assert_int_eq(stopped, 1);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_rec(0).token, 1);
	ck_assert_uint_eq(va_dev_status(dev), 0);
}
END_TEST

/*
 * Finding 1 of the audit: a guest that does not read its ring.  A request
 * keeps its place in the queue until its RESPONSE has been sent, so the
 * device never holds more than a queue's worth of answers for it.
 */
START_TEST(test_unsent_counts_against_queue)
{
	uint32_t seg = 16;
	unsigned int i;
	struct va_dev_stats st;

	negotiate(SESS);
	send_result = -EAGAIN;
	for (i = 0; i < QSIZE; i++) {
		request(0, 10 + i, &seg, 1, "", 0);
		va_req_complete(held[i], 16);
		va_loop_run_once(loop, 0);
	}
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
	/* Every answer waits for ring space: the queue is full. */
	request(0, 20, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, QSIZE);
	/* Queue 1 is not affected. */
	request(1, 21, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, QSIZE + 1);
	va_dev_get_stats(dev, &st);
	ck_assert_uint_eq(st.violations, 1);
	ck_assert_uint_gt(st.backlog_max, 0);
	/* Sent: the BUSY error follows the four answers, and the queue has
	 * room again. */
	send_result = 0;
	va_dev_retry_sends(dev);
	ck_assert_uint_ge(nmsgs, 1);
	clear_msgs();
	request(0, 22, &seg, 1, "", 0);
	ck_assert_uint_eq(nheld, QSIZE + 2);
	va_req_complete(held[QSIZE], 1);
	va_req_complete(held[QSIZE + 1], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
}
END_TEST

/*
 * A stop waiting for a request whose large RESPONSE cannot be allocated:
 * the response is dropped and the stop ends at once, not at its timeout.
 * (Before the fix the out-of-memory path skipped the stop check, and the
 * stop waited out its 60 s.)
 */
START_TEST(test_stop_oom)
{
	uint32_t big = 8000;
	int stopped = 0;

	negotiate(SESS);
	request(1, 1, &big, 1, "", 0);
	ck_assert_uint_eq(nheld, 1);
	va_dev_stop(dev, 60000, stop_done, &stopped);
	va_loop_run_once(loop, 0);
	ck_assert_int_eq(stopped, 0);
	va_dev_fail_next_alloc(dev);
	va_req_complete(held[0], big);
	va_loop_run_once(loop, 0);
	va_loop_run_once(loop, 0);
	ck_assert_int_eq(stopped, 1);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
}
END_TEST

/* The same for a large RESPONSE, sent uncopied from the request. */
START_TEST(test_unsent_large)
{
	uint32_t big = 8000;
	unsigned int i;

	negotiate(SESS);
	send_result = -EAGAIN;
	for (i = 0; i < 2; i++) {
		request(1, 30 + i, &big, 1, "", 0);
		va_req_complete(held[i], big);
		va_loop_run_once(loop, 0);
	}
	request(1, 32, &big, 1, "", 0);
	ck_assert_uint_eq(nheld, 2);
	/* A reset drops the answers (and their places). */
	send_result = 0;
	va_dev_retry_sends(dev);
	clear_msgs();
	send_result = -EAGAIN;
	for (i = 0; i < 2; i++) {
		request(1, 40 + i, &big, 1, "", 0);
		va_req_complete(held[2 + i], big);
		va_loop_run_once(loop, 0);
	}
	request(1, 42, &big, 1, "", 0);
	ck_assert_uint_eq(nheld, 4);
	send_result = 0;
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 43,
	      &(struct va_status){ .status = 0 }, sizeof(struct va_status));
	va_dev_retry_sends(dev);
	ck_assert_uint_eq(va_dev_status(dev), 0);
	/* Only the BUSY error and the reset's reply went out. */
	for (i = 0; i < nmsgs; i++) {
		struct va_rec_iter it;
		struct va_rec r;

		va_rec_iter_init(&it, msgs[i].buf, msgs[i].len);
		while (va_rec_next(&it, &r) == 1)
			ck_assert_uint_ne(r.msg_id, VA_MSG_RESPONSE);
	}
	clear_msgs();
	negotiate(SESS);
	request(1, 33, &big, 1, "", 0);
	request(1, 34, &big, 1, "", 0);
	ck_assert_uint_eq(nheld, 6);
	va_req_complete(held[4], 1);
	va_req_complete(held[5], 1);
}
END_TEST

/* Renegotiate to DRIVER_OK in the current session without waiting for
 * the held replies of earlier resets (as a hostile driver would). */
static void renegotiate_nowait(uint32_t sess)
{
	struct va_features f = { .bits = va_cpu_to_le64(1ull << 32 | 1) };
	struct va_vqueue v = { .enabled = va_cpu_to_le32(1) };
	struct va_status st;
	static const uint32_t steps[] = { 1, 3, 0xb, 0xf };
	unsigned int i;

	for (i = 0; i < 4; i++) {
		if (steps[i] == 0xf) {
			v.index = va_cpu_to_le32(0);
			v.size = va_cpu_to_le32(QSIZE);
			input(VA_MSG_SET_VQUEUE, 0, 0, sess, 4, &v, sizeof(v));
			v.index = va_cpu_to_le32(1);
			v.size = va_cpu_to_le32(2);
			input(VA_MSG_SET_VQUEUE, 0, 1, sess, 4, &v, sizeof(v));
		}
		if (steps[i] == 0xb)
			input(VA_MSG_SET_DRV_FEATURES, 0, 0, sess, 3, &f,
			      sizeof(f));
		st.status = va_cpu_to_le32(steps[i]);
		st.reserved = 0;
		input(VA_MSG_SET_DEVICE_STATUS, 0, 0, sess, 2, &st, sizeof(st));
	}
	clear_msgs();
}

/*
 * Finding 2 of the audit: resets in a loop with I/O that never ends.
 * Stale requests count against one device-wide budget (the sum of the
 * queues' sizes), and a reset that would need a 17th held reply is
 * refused before anything is reset.
 */
START_TEST(test_reset_loop_bounded)
{
	struct va_status z = { .status = 0 };
	uint32_t seg = 8, tok = 1000;
	const unsigned int budget = QSIZE + QSIZE;	/* 2 queues */
	unsigned int round, i, before;

	negotiate(SESS);
	for (round = 0; round < 40; round++) {
		for (i = 0; i < QSIZE; i++)
			request(0, tok++, &seg, 1, "", 0);
		for (i = 0; i < 2; i++)
			request(1, tok++, &seg, 1, "", 0);
		ck_assert_uint_le(nheld, budget);
		ck_assert_uint_le(va_dev_inflight(dev), budget);
		clear_msgs();
		input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, tok++, &z,
		      sizeof(z));
		clear_msgs();
		renegotiate_nowait(SESS);
	}
	ck_assert_uint_eq(nheld, budget);
	/* Fences full: the next reset is refused and resets nothing. */
	ck_assert_uint_eq(va_dev_status(dev) & 0xf, 0xf);
	before = resets;
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 5000, &z, sizeof(z));
	expect_err(VA_MSG_SET_DEVICE_STATUS, 5000, VA_ERR_BUSY);
	ck_assert_uint_eq(resets, before);
	ck_assert_uint_eq(va_dev_status(dev) & 0xf, 0xf);
	/* So is a DEVICE_INFO of the same session. */
	{
		struct va_device_info_req rq = {
			.driver_ring_len = va_cpu_to_le32(DRV_RING_LEN),
		};

		input(VA_MSG_DEVICE_INFO, 0, 0, SESS, 5002, &rq, sizeof(rq));
		expect_err(VA_MSG_DEVICE_INFO, 5002, VA_ERR_BUSY);
	}
	/* The I/O ends: the held replies go out, the device works again. */
	for (i = 0; i < nheld; i++)
		va_req_complete(held[i], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
}
END_TEST

/* The same bound for RESET_VQUEUE: the 17th is refused, and queue 0's
 * live request is not dropped by it. */
START_TEST(test_reset_vqueue_refused)
{
	struct va_vqueue v = { .index = va_cpu_to_le32(0) };
	uint32_t seg = 8;
	unsigned int i;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	for (i = 0; i < 16; i++)
		input(VA_MSG_RESET_VQUEUE, 0, 0, SESS, 100 + i, &v, sizeof(v));
	ck_assert_uint_eq(nmsgs, 0);
	request(1, 2, &seg, 1, "", 0);
	input(VA_MSG_RESET_VQUEUE, 0, 1, SESS, 200, &(struct va_vqueue){
		.index = va_cpu_to_le32(1) }, sizeof(v));
	expect_err(VA_MSG_RESET_VQUEUE, 200, VA_ERR_BUSY);
	/* Queue 1's request is still live: its answer goes out. */
	va_req_complete(held[1], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_rec(0).msg_id, VA_MSG_RESPONSE);
	ck_assert_uint_eq(last_rec(0).token, 2);
	clear_msgs();
	va_req_complete(held[0], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(last_count(), 16);
}
END_TEST

/* Violations are the guest's, not the session's: a reset keeps them. */
START_TEST(test_violations_survive_reset)
{
	uint32_t seg = 8;
	unsigned int i;

	negotiate(SESS);
	for (i = 0; i <= VA_DEV_MAX_VIOLATIONS; i++)
		request(5, i, &seg, 1, "", 0);
	ck_assert(va_dev_status(dev) & VA_STATUS_NEEDS_RESET);
	clear_msgs();
	ck_assert_uint_eq(set_status(SESS, 0), 0);
	negotiate(SESS);
	ck_assert(!(va_dev_status(dev) & VA_STATUS_NEEDS_RESET));
	/* One more is enough now. */
	request(5, 100, &seg, 1, "", 0);
	ck_assert(va_dev_status(dev) & VA_STATUS_NEEDS_RESET);
	clear_msgs();
	/* A new driver session does not clear them either. */
	negotiate(SESS + 1);
	request_s(SESS + 1, 5, 101, &seg, 1, "", 0);
	ck_assert(va_dev_status(dev) & VA_STATUS_NEEDS_RESET);
}
END_TEST

/* A held reply of an old driver session never reaches the new one. */
START_TEST(test_session_change_drops_fences)
{
	struct va_status z = { .status = 0 };
	struct va_device_info_req rq = {
		.driver_ring_len = va_cpu_to_le32(DRV_RING_LEN),
	};
	uint32_t seg = 8;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 50, &z, sizeof(z));
	ck_assert_uint_eq(nmsgs, 0);
	input(VA_MSG_DEVICE_INFO, 0, 0, SESS + 9, 51, &rq, sizeof(rq));
	ck_assert_uint_eq(nmsgs, 0);
	va_req_complete(held[0], 1);
	va_loop_run_once(loop, 0);
	expect_ok(VA_MSG_DEVICE_INFO, 51);
	ck_assert_uint_eq(last_count(), 1);
}
END_TEST

/* ---- held queues (setup_held: queue 1 is held) ---- */

/* Post a held buffer with `in` writable bytes on queue 1. */
static void post(uint32_t id, uint32_t in)
{
	request(1, id, &in, 1, "", 0);
}

START_TEST(test_held_pop)
{
	uint32_t seg = 8;
	struct va_req *a, *b;

	negotiate(SESS);
	post(1, 16);
	post(2, 16);
	request(0, 3, &seg, 1, "", 0);
	/* Queue 0 pushes, queue 1 keeps its buffers and says so. */
	ck_assert_uint_eq(nheld, 1);
	ck_assert_uint_eq(held[0]->queue, 0);
	ck_assert_uint_eq(va_dev_held(dev, 1), 2);
	ck_assert_uint_ge(ready_calls[1], 1);
	ck_assert_uint_eq(ready_calls[0], 0);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_ptr_null(va_dev_pop(dev, 0));
	a = va_dev_pop(dev, 1);
	b = va_dev_pop(dev, 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(va_dev_pop(dev, 1));
	ck_assert_uint_eq(a->id, 1);
	ck_assert_uint_eq(b->id, 2);
	ck_assert_uint_eq(va_dev_held(dev, 1), 0);
	/* Still counted against the queue (size 2) until answered. */
	post(4, 16);
	expect_err(VA_MSG_REQUEST, 4, VA_ERR_BUSY);
	memcpy(a->in, "frame-a", 7);
	va_req_complete(a, 7);
	va_req_complete(b, 0);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_count(), 2);
	ck_assert_uint_eq(last_rec(0).token, 1);
	ck_assert_mem_eq(last_rec(0).body + 8, "frame-a", 7);
	ck_assert_uint_eq(last_rec(1).token, 2);
	va_req_complete(held[0], 1);
}
END_TEST

/* MRG_RXBUF: a frame over several buffers, all or nothing. */
START_TEST(test_held_pop_space)
{
	struct va_req *r[4];
	struct iovec iov[4];

	negotiate(SESS);
	post(1, 100);
	post(2, 200);
	ck_assert_uint_eq(va_dev_pop_space(dev, 1, 250, r, iov, 1), 0);
	ck_assert_uint_eq(va_dev_pop_space(dev, 1, 301, r, iov, 4), 0);
	ck_assert_uint_eq(va_dev_held(dev, 1), 2);
	ck_assert_uint_eq(va_dev_pop_space(dev, 1, 250, r, iov, 4), 2);
	ck_assert_uint_eq(va_dev_held(dev, 1), 0);
	ck_assert_uint_eq(r[0]->id, 1);
	ck_assert_uint_eq(r[1]->id, 2);
	ck_assert_ptr_eq(iov[0].iov_base, r[0]->in);
	ck_assert_uint_eq(iov[0].iov_len, 100);
	ck_assert_uint_eq(iov[1].iov_len, 200);
	va_req_complete(r[0], 100);
	va_req_complete(r[1], 150);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_uint_eq(last_count(), 2);
	ck_assert_uint_eq(last_rec(1).len, 8 + 150);
}
END_TEST

/*
 * A held buffer's writable space comes when the device takes it, zeroed;
 * out of memory then takes nothing and the buffers stay held.
 */
START_TEST(test_held_pop_oom)
{
	static const uint8_t zero[200];
	struct va_req *r[4], *a;
	struct iovec iov[4];

	negotiate(SESS);
	post(1, 100);
	post(2, 200);
	va_dev_fail_next_alloc(dev);
	ck_assert_ptr_null(va_dev_pop(dev, 1));
	ck_assert_uint_eq(va_dev_held(dev, 1), 2);
	va_dev_fail_next_alloc(dev);
	ck_assert_uint_eq(va_dev_pop_space(dev, 1, 250, r, iov, 4), 0);
	ck_assert_uint_eq(va_dev_held(dev, 1), 2);
	a = va_dev_pop(dev, 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->id, 1);
	ck_assert_mem_eq(a->in, zero, 100);
	ck_assert_uint_eq(va_dev_pop_space(dev, 1, 150, r, iov, 4), 1);
	ck_assert_uint_eq(r[0]->id, 2);
	ck_assert_ptr_eq(iov[0].iov_base, r[0]->in);
	ck_assert_mem_eq(r[0]->in, zero, 200);
	va_req_complete(a, 100);
	va_req_complete(r[0], 200);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(last_count(), 2);
	ck_assert_uint_eq(last_rec(1).len, 8 + 200);
	ck_assert_mem_eq(last_rec(1).body + 8, zero, 200);
}
END_TEST

/* A reset frees the held buffers at once; only a taken one is fenced. */
START_TEST(test_held_reset)
{
	struct va_status z = { .status = 0 };
	struct va_req *taken;

	negotiate(SESS);
	post(1, 16);
	post(2, 16);
	ck_assert_uint_eq(va_dev_inflight(dev), 2);
	ck_assert_uint_eq(set_status(SESS, 0), 0);	/* not held */
	ck_assert_uint_eq(va_dev_held(dev, 1), 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
	/* A buffer the device took is its own: the reset waits for it. */
	negotiate(SESS);
	post(3, 16);
	post(4, 16);
	taken = va_dev_pop(dev, 1);
	input(VA_MSG_SET_DEVICE_STATUS, 0, 0, SESS, 9, &z, sizeof(z));
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 1);
	va_req_complete(taken, 4);
	va_loop_run_once(loop, 0);
	expect_ok(VA_MSG_SET_DEVICE_STATUS, 9);
	ck_assert_uint_eq(last_count(), 1);
}
END_TEST

START_TEST(test_held_reset_vqueue)
{
	struct va_vqueue v = { .index = va_cpu_to_le32(1) };
	uint32_t seg = 8;

	negotiate(SESS);
	request(0, 1, &seg, 1, "", 0);
	post(2, 16);
	post(3, 16);
	input(VA_MSG_RESET_VQUEUE, 0, 1, SESS, 4, &v, sizeof(v));
	expect_ok(VA_MSG_RESET_VQUEUE, 4);
	clear_msgs();
	ck_assert_uint_eq(va_dev_held(dev, 1), 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 1);
	/* Queue 0 goes on. */
	va_req_complete(held[0], 1);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(last_rec(0).token, 1);
}
END_TEST

START_TEST(test_held_new_session)
{
	negotiate(SESS);
	post(1, 16);
	post(2, 16);
	device_info(SESS + 1);		/* answered at once */
	ck_assert_uint_eq(va_dev_held(dev, 1), 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
}
END_TEST

START_TEST(test_held_ring_lost)
{
	negotiate(SESS);
	post(1, 16);
	post(2, 16);
	va_dev_ring_lost(dev);
	ck_assert_uint_eq(va_dev_held(dev, 1), 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
	va_loop_run_once(loop, 0);
	ck_assert_uint_eq(nmsgs, 0);
}
END_TEST

/* A stop does not wait for buffers nobody will fill. */
START_TEST(test_held_stop)
{
	int stopped = 0;

	negotiate(SESS);
	post(1, 16);
	post(2, 16);
	va_dev_stop(dev, 60000, stop_done, &stopped);
	va_loop_run_once(loop, 0);
	ck_assert_int_eq(stopped, 1);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_uint_eq(va_dev_inflight(dev), 0);
}
END_TEST

/* Push queues need ->request, held ones ->queue_ready. */
START_TEST(test_held_ops_required)
{
	static const struct va_dev_ops no_ready = { .request = fake_request };
	static const struct va_dev_ops no_request = {
		.queue_ready = fake_queue_ready,
	};
	struct va_dev_info info = {
		.device_id = 1, .num_queues = 2, .max_queue_size = 4,
	};
	struct va_dev_opts opts = { .guest_domid = GUEST, .port = PORT };
	struct va_dev *d = NULL;

	info.held_queues = 2;
	ck_assert_int_eq(va_dev_new(loop, NULL, &info, &no_ready, NULL, &opts,
				    &d), -EINVAL);
	ck_assert_int_eq(va_dev_new(loop, NULL, &info, &no_request, NULL,
				    &opts, &d), -EINVAL);
	info.held_queues = 4;		/* queue 2 does not exist */
	ck_assert_int_eq(va_dev_new(loop, NULL, &info, &ops, NULL, &opts, &d),
			 -EINVAL);
	info.held_queues = 3;		/* all held: no ->request needed */
	ck_assert_int_eq(va_dev_new(loop, NULL, &info, &no_request, NULL,
				    &opts, &d), 0);
	va_dev_free(d);
}
END_TEST

/* ---- the driver session's state ---- */

static char state_tmpl[64];
static char state_file[128];

static void setup_state(void)
{
	fileops[0] = 0;
	strcpy(state_tmpl, "/tmp/va-test-state.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(state_tmpl));
	/* A directory that does not exist yet: the core makes it. */
	snprintf(state_file, sizeof(state_file), "%s/d/t-dom%u-%#x.state",
		 state_tmpl, GUEST, PORT);
	state_dir = strdup(state_file);
	*strrchr((char *)state_dir, '/') = 0;
	setup_info(0);
}

static void teardown_state(void)
{
	char cmd[128];

	teardown();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state_tmpl);
	ck_assert_int_eq(system(cmd), 0);
	free((char *)state_dir);
	state_dir = NULL;
}

/* The daemon killed and started again: a new device, same options. */
static void restart(void)
{
	teardown();
	setup_info(0);
}

/* Writes bytes over the state file from offset off (truncating there
 * when trunc). */
static void poke_file(long off, const void *b, size_t len, int trunc)
{
	FILE *f = fopen(state_file, "r+");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(b, 1, len, f), len);
	ck_assert_int_eq(fflush(f), 0);
	if (trunc)
		ck_assert_int_eq(ftruncate(fileno(f), off + (long)len), 0);
	fclose(f);
}

START_TEST(test_state_restored_after_restart)
{
	negotiate(SESS);
	ck_assert_uint_eq(restores, 0);		/* nothing saved yet */
	ck_assert_int_eq(va_dev_state_save(dev, "one", 3), 0);
	ck_assert_int_eq(va_dev_state_save(dev, "pairs=2", 7), 0);
	ck_assert_int_eq(access(state_file, R_OK), 0);
	restart();
	ck_assert_uint_eq(restores, 0);
	negotiate(SESS);			/* the same driver session */
	ck_assert_uint_eq(restores, 1);
	ck_assert_str_eq(restored, "pairs=2");
	/* A reset in the session: the driver does not send it again. */
	ck_assert_uint_eq(set_status(SESS, 0), 0);
	ck_assert_uint_eq(restores, 1);
	negotiate(SESS);
	ck_assert_uint_eq(restores, 2);
	ck_assert_str_eq(restored, "pairs=2");
}
END_TEST

/*
 * The state must outlive the driver domain, not only the daemon: the
 * file's bytes synced before the rename puts them in place, and the
 * directory synced after it (a driver domain destroyed after a save
 * without them could come back with the old state, or none).
 */
START_TEST(test_state_durable)
{
	char expect[3 * PATH_MAX];

	negotiate(SESS);
	fileops[0] = 0;
	ck_assert_int_eq(va_dev_state_save(dev, "pairs=2", 7), 0);
	snprintf(expect, sizeof(expect), "sync %s.tmp\nrename %s.tmp %s\nsync %s\n",
		 state_file, state_file, state_file, state_dir);
	ck_assert_str_eq(fileops, expect);
}
END_TEST

/* Runs va_dev_state_save with the log (stderr) captured into `log`. */
static int save_logged(const char *data, uint32_t len, char *log, size_t size)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO), r;
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	ck_assert_int_eq(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	va_log_set_level(VA_LOG_WARN);
	r = va_dev_state_save(dev, data, len);
	va_log_set_level(VA_LOG_ERR);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(log, 1, size - 1, f);
	log[n] = 0;
	fclose(f);
	return r;
}

/*
 * The directory's sync failing leaves the new file in place (a restarted
 * daemon has it) but maybe not after the domain's end: the warning says
 * so, not "not written" (it did, before this was told apart).
 */
START_TEST(test_state_dir_sync_fails)
{
	char log[1024];

	negotiate(SESS);
	fail_fsync = EIO;
	ck_assert_int_eq(save_logged("pairs=2", 7, log, sizeof(log)), -EIO);
	fail_fsync = 0;
	ck_assert_msg(strstr(log, "written, but its directory not synced: Input/output error"),
		      "log: %s", log);
	ck_assert_ptr_null(strstr(log, "not written"));
	restart();
	negotiate(SESS);
	ck_assert_uint_eq(restores, 1);
	ck_assert_str_eq(restored, "pairs=2");
	/* The file's own sync failing: "not written", the old file stays. */
	fail_fdatasync = ENOSPC;
	ck_assert_int_eq(save_logged("pairs=1", 7, log, sizeof(log)), -ENOSPC);
	fail_fdatasync = 0;
	ck_assert_msg(strstr(log, "not written: No space left on device"), "log: %s", log);
	restart();
	negotiate(SESS);
	ck_assert_uint_eq(restores, 1);
	ck_assert_str_eq(restored, "pairs=2");
}
END_TEST

START_TEST(test_state_other_session_discarded)
{
	negotiate(SESS);
	ck_assert_int_eq(va_dev_state_save(dev, "promisc", 7), 0);
	restart();
	negotiate(SESS + 1);			/* a rebooted guest */
	ck_assert_uint_eq(restores, 0);
	ck_assert_int_eq(access(state_file, F_OK), -1);
	/* Nor does the old session get it back. */
	negotiate(SESS);
	ck_assert_uint_eq(restores, 0);
	/* No driver session: nothing to save it for. */
	restart();
	ck_assert_int_eq(va_dev_state_save(dev, "x", 1), -ENOTCONN);
}
END_TEST

START_TEST(test_state_bad_file_ignored)
{
	static const char *const cases[] = { "trunc", "flip", "magic",
					     "garbage", "long" };
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		restart();
		negotiate(SESS);
		ck_assert_int_eq(va_dev_state_save(dev, "valid", 5), 0);
		if (!strcmp(cases[i], "trunc"))
			poke_file(30, "", 0, 1);
		else if (!strcmp(cases[i], "flip"))
			poke_file(37, "V", 1, 0);	/* a byte of "valid" */
		else if (!strcmp(cases[i], "magic"))
			poke_file(0, "XX", 2, 0);
		else if (!strcmp(cases[i], "garbage"))
			poke_file(0, "not a state file at all", 23, 1);
		else
			poke_file(36, "valid++", 7, 1);	/* longer */
		restart();
		negotiate(SESS);
		ck_assert_msg(restores == 0, "%s: restored", cases[i]);
	}
	/* The device refuses the bytes: forgotten, not given again. */
	restart();
	negotiate(SESS);
	ck_assert_int_eq(va_dev_state_save(dev, "valid", 5), 0);
	restart();
	refuse_restore = 1;
	negotiate(SESS);
	ck_assert_uint_eq(restores, 1);
	ck_assert_uint_eq(set_status(SESS, 0), 0);
	negotiate(SESS);
	ck_assert_uint_eq(restores, 1);
}
END_TEST

/* A device without ->restore_state (blkd) makes no directory. */
START_TEST(test_state_none_without_restore)
{
	struct va_dev_ops plain = ops;
	struct va_dev_info info = {
		.device_id = 0x7f00, .num_queues = 1, .max_queue_size = QSIZE,
	};
	struct va_dev_opts opts = {
		.guest_domid = GUEST, .port = PORT, .name = "t",
		.state_dir = state_file,	/* a path no one made */
	};
	struct va_dev *d;

	plain.restore_state = NULL;
	ck_assert_int_eq(va_dev_new(loop, NULL, &info, &plain, NULL, &opts,
				    &d), 0);
	ck_assert_int_eq(access(state_file, F_OK), -1);
	va_dev_free(d);
	ck_assert_int_eq(va_dev_new(loop, NULL, &info, &ops, NULL, &opts,
				    &d), 0);
	ck_assert_int_eq(access(state_file, F_OK), 0);
	va_dev_free(d);
}
END_TEST

static Suite *device_suite(void)
{
	Suite *s = suite_create("device");
	TCase *tc = tcase_create("protocol");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_happy_path);
	tcase_add_test(tc, test_batching_and_large);
	tcase_add_test(tc, test_eagain_queue);
	tcase_add_test(tc, test_no_session);
	tcase_add_test(tc, test_device_info_bad);
	tcase_add_test(tc, test_features);
	tcase_add_test(tc, test_status_rules);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_config_device_changes);
	tcase_add_test(tc, test_config_driver_writes);
	tcase_add_test(tc, test_vqueue);
	tcase_add_test(tc, test_request_errors);
	tcase_add_test(tc, test_session_change_drops);
	tcase_add_test(tc, test_reset_vqueue);
	tcase_add_test(tc, test_reset_fence);
	tcase_add_test(tc, test_needs_reset);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_stop);
	tcase_add_test(tc, test_unsent_counts_against_queue);
	tcase_add_test(tc, test_unsent_large);
	tcase_add_test(tc, test_stop_oom);
	tcase_add_test(tc, test_reset_loop_bounded);
	tcase_add_test(tc, test_reset_vqueue_refused);
	tcase_add_test(tc, test_violations_survive_reset);
	tcase_add_test(tc, test_session_change_drops_fences);
	suite_add_tcase(s, tc);

	tc = tcase_create("held");
	tcase_add_checked_fixture(tc, setup_held, teardown);
	tcase_add_test(tc, test_held_pop);
	tcase_add_test(tc, test_held_pop_space);
	tcase_add_test(tc, test_held_pop_oom);
	tcase_add_test(tc, test_held_reset);
	tcase_add_test(tc, test_held_reset_vqueue);
	tcase_add_test(tc, test_held_new_session);
	tcase_add_test(tc, test_held_ring_lost);
	tcase_add_test(tc, test_held_stop);
	tcase_add_test(tc, test_held_ops_required);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_checked_fixture(tc, setup_state, teardown_state);
	tcase_add_test(tc, test_state_restored_after_restart);
	tcase_add_test(tc, test_state_other_session_discarded);
	tcase_add_test(tc, test_state_durable);
	tcase_add_test(tc, test_state_dir_sync_fails);
	tcase_add_test(tc, test_state_bad_file_ignored);
	tcase_add_test(tc, test_state_none_without_restore);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(device_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
