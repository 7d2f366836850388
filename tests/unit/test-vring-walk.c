// SPDX-License-Identifier: MIT
/*
 * Unit tests for the virtio_argo transport's avail-ring walker and reply
 * validation (src/frontend-linux/vring-walk.c), compiled in user space
 * with the stand-in headers of tests/unit/kstub/.
 *
 * Descriptor "addresses" here are offsets into a test memory pool plus
 * one (0 never translates), mirroring the module's DMA handles.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vring-walk.h"

#define NUM		8u
#define POOL_SIZE	4096u

static struct vring_desc desc[NUM];
static struct {
	__virtio16 flags;
	__virtio16 idx;
	__virtio16 ring[NUM];
} avail;
static struct vring vr;
static u8 pool[POOL_SIZE];
static struct vargo_seg segs[64];

static const struct vargo_walk_limits lim_default = {
	.max_descs = NUM, .max_out = 1024, .max_in = 1024, .max_in_segs = 16,
};

/* ctx != NULL: every address translates (to test the byte limits with
 * lengths larger than the pool; nothing is copied in those tests). */
static void *xlate(void *ctx, u64 addr, u32 len)
{
	if (ctx)
		return pool;
	if (addr == 0 || addr - 1 > POOL_SIZE || len > POOL_SIZE - (addr - 1))
		return NULL;
	return pool + (addr - 1);
}

static void setup(void)
{
	memset(desc, 0, sizeof(desc));
	memset(&avail, 0, sizeof(avail));
	memset(pool, 0, sizeof(pool));
	vr.num = NUM;
	vr.desc = desc;
	vr.avail = (struct vring_avail *)&avail;
	vr.used = NULL;
}

static void set_desc(u16 i, u32 off, u32 len, u16 flags, u16 next)
{
	desc[i].addr = htole64((u64)off + 1);
	desc[i].len = htole32(len);
	desc[i].flags = htole16(flags);
	desc[i].next = htole16(next);
}

static int walk(u16 head, const struct vargo_walk_limits *lim, struct vargo_chain *c)
{
	return vargo_walk_chain(&vr, head, lim, xlate, NULL, segs,
				sizeof(segs) / sizeof(segs[0]), c);
}

/* A blk-like chain: 16-byte header, 512 data out, 1 status byte in. */
START_TEST(test_good_chain)
{
	struct vargo_chain c;
	u8 buf[528];

	set_desc(3, 0, 16, VRING_DESC_F_NEXT, 5);
	set_desc(5, 100, 512, VRING_DESC_F_NEXT, 1);
	set_desc(1, 700, 1, VRING_DESC_F_WRITE, 0);
	memset(pool, 0xaa, 16);
	memset(pool + 100, 0xbb, 512);

	ck_assert_int_eq(walk(3, &lim_default, &c), 0);
	ck_assert_uint_eq(c.head, 3);
	ck_assert_uint_eq(c.nr_out, 2);
	ck_assert_uint_eq(c.nr_in, 1);
	ck_assert_uint_eq(c.out_len, 528);
	ck_assert_uint_eq(c.in_len, 1);
	ck_assert_ptr_eq(c.segs[2].ptr, pool + 700);

	vargo_chain_gather(&c, buf);
	ck_assert_uint_eq(buf[0], 0xaa);
	ck_assert_uint_eq(buf[15], 0xaa);
	ck_assert_uint_eq(buf[16], 0xbb);
	ck_assert_uint_eq(buf[527], 0xbb);

	pool[700] = 0x55;
	ck_assert_int_eq(vargo_chain_scatter(&c, "\x02", 1), 0);
	ck_assert_uint_eq(pool[700], 2);
	/* More than the writable segments hold: nothing is written. */
	ck_assert_int_eq(vargo_chain_scatter(&c, "\x07\x07", 2), -EMSGSIZE);
	ck_assert_uint_eq(pool[700], 2);
	ck_assert_uint_eq(pool[701], 0);
}
END_TEST

START_TEST(test_scatter_across_segments)
{
	struct vargo_chain c;
	u8 src[10];
	unsigned int k;

	for (k = 0; k < sizeof(src); k++)
		src[k] = (u8)(k + 1);
	set_desc(0, 0, 4, VRING_DESC_F_NEXT, 1);
	set_desc(1, 100, 3, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(2, 200, 3, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	set_desc(3, 300, 8, VRING_DESC_F_WRITE, 0);
	pool[308] = 0xee;
	ck_assert_int_eq(walk(0, &lim_default, &c), 0);
	ck_assert_uint_eq(c.in_len, 14);
	/* A short reply fills the first segments only. */
	ck_assert_int_eq(vargo_chain_scatter(&c, src, 10), 0);
	ck_assert_mem_eq(pool + 100, src, 3);
	ck_assert_mem_eq(pool + 200, src + 3, 3);
	ck_assert_mem_eq(pool + 300, src + 6, 4);
	ck_assert_uint_eq(pool[304], 0);
	ck_assert_uint_eq(pool[308], 0xee);
}
END_TEST

START_TEST(test_single_out_only)
{
	struct vargo_chain c;

	set_desc(7, 10, 60, 0, 0);
	ck_assert_int_eq(walk(7, &lim_default, &c), 0);
	ck_assert_uint_eq(c.nr_out, 1);
	ck_assert_uint_eq(c.nr_in, 0);
	ck_assert_uint_eq(c.in_len, 0);
	ck_assert_int_eq(vargo_chain_scatter(&c, "x", 0), 0);
	ck_assert_int_eq(vargo_chain_scatter(&c, "x", 1), -EMSGSIZE);
}
END_TEST

START_TEST(test_self_loop)
{
	struct vargo_chain c;

	set_desc(2, 0, 8, VRING_DESC_F_NEXT, 2);
	ck_assert_int_eq(walk(2, &lim_default, &c), -ELOOP);
}
END_TEST

START_TEST(test_long_cycle)
{
	struct vargo_chain c;
	u16 i;

	/* 0 -> 1 -> ... -> 7 -> 0: every descriptor once, then again. */
	for (i = 0; i < NUM; i++)
		set_desc(i, i * 16, 16, VRING_DESC_F_NEXT, (u16)((i + 1) % NUM));
	ck_assert_int_eq(walk(4, &lim_default, &c), -ELOOP);
}
END_TEST

START_TEST(test_full_ring_chain_ok)
{
	struct vargo_chain c;
	u16 i;

	/* A chain using all num descriptors is legal. */
	for (i = 0; i < NUM - 1; i++)
		set_desc(i, i * 16, 16, VRING_DESC_F_NEXT, (u16)(i + 1));
	set_desc(NUM - 1, 500, 16, VRING_DESC_F_WRITE, 0);
	ck_assert_int_eq(walk(0, &lim_default, &c), 0);
	ck_assert_uint_eq(c.nr_out + c.nr_in, NUM);
}
END_TEST

START_TEST(test_too_many_descs)
{
	struct vargo_walk_limits lim = lim_default;
	struct vargo_chain c;
	u16 i;

	for (i = 0; i < 5; i++)
		set_desc(i, i * 16, 16, VRING_DESC_F_NEXT, (u16)(i + 1));
	set_desc(5, 500, 16, 0, 0);
	lim.max_descs = 5;
	ck_assert_int_eq(walk(0, &lim, &c), -E2BIG);
	lim.max_descs = 6;
	ck_assert_int_eq(walk(0, &lim, &c), 0);
	/* Not enough room in the caller's segment array. */
	ck_assert_int_eq(vargo_walk_chain(&vr, 0, &lim_default, xlate, NULL,
					  segs, 5, &c), -E2BIG);
}
END_TEST

START_TEST(test_too_many_bytes)
{
	struct vargo_walk_limits lim = lim_default;
	struct vargo_chain c;

	set_desc(0, 0, 600, VRING_DESC_F_NEXT, 1);
	set_desc(1, 600, 600, VRING_DESC_F_NEXT, 2);
	set_desc(2, 1300, 100, VRING_DESC_F_WRITE, 0);
	ck_assert_int_eq(walk(0, &lim, &c), -E2BIG);	/* out 1200 > 1024 */
	lim.max_out = 1200;
	ck_assert_int_eq(walk(0, &lim, &c), 0);
	lim.max_in = 99;
	ck_assert_int_eq(walk(0, &lim, &c), -E2BIG);
	/* Lengths that would overflow a 32-bit sum are refused too. */
	lim = lim_default;
	lim.max_out = 0xffffffffu;
	set_desc(0, 0, 0xfffffff0u, VRING_DESC_F_NEXT, 1);
	set_desc(1, 0, 0x20, 0, 0);
	ck_assert_int_eq(vargo_walk_chain(&vr, 0, &lim, xlate, pool, segs, 64, &c),
			 -E2BIG);
	set_desc(1, 0, 0xf, 0, 0);
	ck_assert_int_eq(vargo_walk_chain(&vr, 0, &lim, xlate, pool, segs, 64, &c),
			 0);
	ck_assert_uint_eq(c.out_len, 0xffffffffu);
}
END_TEST

START_TEST(test_too_many_in_segs)
{
	struct vargo_walk_limits lim = lim_default;
	struct vargo_chain c;
	u16 i;

	set_desc(0, 0, 16, VRING_DESC_F_NEXT, 1);
	for (i = 1; i < 4; i++)
		set_desc(i, i * 16, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
			 (u16)(i + 1));
	set_desc(4, 100, 16, VRING_DESC_F_WRITE, 0);
	lim.max_in_segs = 3;
	ck_assert_int_eq(walk(0, &lim, &c), -E2BIG);
	lim.max_in_segs = 4;
	ck_assert_int_eq(walk(0, &lim, &c), 0);
}
END_TEST

START_TEST(test_out_of_range)
{
	struct vargo_chain c;

	ck_assert_int_eq(walk(NUM, &lim_default, &c), -EINVAL);
	ck_assert_int_eq(walk(0xffff, &lim_default, &c), -EINVAL);
	set_desc(0, 0, 16, VRING_DESC_F_NEXT, NUM);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EINVAL);
	set_desc(0, 0, 16, VRING_DESC_F_NEXT, 0xffff);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EINVAL);
	/* An address that does not translate. */
	set_desc(0, POOL_SIZE - 8, 16, 0, 0);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EFAULT);
	desc[0].addr = 0;
	ck_assert_int_eq(walk(0, &lim_default, &c), -EFAULT);
}
END_TEST

START_TEST(test_indirect_refused)
{
	struct vargo_chain c;

	set_desc(0, 0, 64, VRING_DESC_F_INDIRECT, 0);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EOPNOTSUPP);
	set_desc(0, 0, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, 64, 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_write_before_read)
{
	struct vargo_chain c;

	set_desc(0, 0, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(1, 16, 16, VRING_DESC_F_NEXT, 2);
	set_desc(2, 32, 1, VRING_DESC_F_WRITE, 0);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EPROTO);
}
END_TEST

START_TEST(test_zero_length)
{
	struct vargo_chain c;

	set_desc(0, 0, 16, VRING_DESC_F_NEXT, 1);
	set_desc(1, 16, 0, VRING_DESC_F_WRITE, 0);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EINVAL);
	set_desc(0, 0, 0, 0, 0);
	ck_assert_int_eq(walk(0, &lim_default, &c), -EINVAL);
}
END_TEST

START_TEST(test_avail)
{
	u16 count, head;

	avail.idx = htole16(3);
	ck_assert_int_eq(vargo_avail_pending(&vr, 0, &count), 0);
	ck_assert_uint_eq(count, 3);
	/* Wrap of the free-running index. */
	avail.idx = htole16(2);
	ck_assert_int_eq(vargo_avail_pending(&vr, 0xfffe, &count), 0);
	ck_assert_uint_eq(count, 4);
	/* The driver cannot have more than num outstanding. */
	avail.idx = htole16(NUM + 1);
	ck_assert_int_eq(vargo_avail_pending(&vr, 0, &count), -EINVAL);
	avail.idx = htole16(5);
	ck_assert_int_eq(vargo_avail_pending(&vr, 6, &count), -EINVAL);

	avail.ring[2] = htole16(6);
	ck_assert_int_eq(vargo_avail_head(&vr, 2 + NUM * 3, &head), 0);
	ck_assert_uint_eq(head, 6);
	avail.ring[3] = htole16(NUM);
	ck_assert_int_eq(vargo_avail_head(&vr, 3, &head), -EINVAL);
}
END_TEST

/* ---- replies ---- */

#define DOMID	7u
#define PORT	0x5641b000u
#define SESSION	0x1234u

static const struct vargo_reply_expect exp_default = {
	.src_domid = DOMID, .port = PORT, .session = SESSION, .num_queues = 2,
};

/* In flight: queue 0 token 5 (in_len 513), queue 1 token 9 (in_len 4). */
static int lookup(void *ctx, u16 queue, u32 token, u32 *ret_in_len)
{
	(void)ctx;
	if (queue == 0 && token == 5) {
		*ret_in_len = 513;
		return 0;
	}
	if (queue == 1 && token == 9) {
		*ret_in_len = 4;
		return 0;
	}
	return -ENOENT;
}

static struct {
	struct va_hdr h;
	struct va_response r;
	u8 data[600];
} rec;

static u32 make_reply(u16 queue, u32 token, u32 written)
{
	memset(&rec, 0, sizeof(rec));
	rec.h.msg_id = VA_MSG_RESPONSE;
	rec.h.flags = VA_F_RESPONSE;
	rec.h.queue = va_cpu_to_le16(queue);
	rec.h.session = va_cpu_to_le32(SESSION);
	rec.h.token = va_cpu_to_le32(token);
	rec.h.len = va_cpu_to_le32(8 + written);
	rec.r.written = va_cpu_to_le32(written);
	rec.data[0] = 0x42;
	return 8 + written;
}

static int check(u16 domid, u32 port, u32 body_len, struct vargo_reply *r)
{
	return vargo_reply_check(&exp_default, domid, port, &rec.h, &rec.r,
				 body_len, lookup, NULL, r);
}

START_TEST(test_reply_good)
{
	struct vargo_reply r;
	u32 n = make_reply(0, 5, 513);

	ck_assert_int_eq(check(DOMID, PORT, n, &r), 0);
	ck_assert_uint_eq(r.queue, 0);
	ck_assert_uint_eq(r.token, 5);
	ck_assert_uint_eq(r.written, 513);
	ck_assert_ptr_eq(r.data, rec.data);
	ck_assert_uint_eq(r.data[0], 0x42);
	n = make_reply(1, 9, 0);
	ck_assert_int_eq(check(DOMID, PORT, n, &r), 0);
	ck_assert_uint_eq(r.written, 0);
}
END_TEST

START_TEST(test_reply_unknown_id)
{
	struct vargo_reply r;
	u32 n = make_reply(0, 6, 1);

	ck_assert_int_eq(check(DOMID, PORT, n, &r), -ENOENT);
}
END_TEST

START_TEST(test_reply_written_too_big)
{
	struct vargo_reply r;
	u32 n = make_reply(0, 5, 514);

	ck_assert_int_eq(check(DOMID, PORT, n, &r), -EMSGSIZE);
	n = make_reply(1, 9, 5);
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -EMSGSIZE);
}
END_TEST

START_TEST(test_reply_wrong_queue)
{
	struct vargo_reply r;
	u32 n;

	/* Token 5 is in flight on queue 0, not on queue 1. */
	n = make_reply(1, 5, 1);
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -ENOENT);
	n = make_reply(2, 5, 1);
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -ERANGE);
	n = make_reply(0xffff, 5, 1);
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -ERANGE);
}
END_TEST

START_TEST(test_reply_wrong_session)
{
	struct vargo_reply r;
	u32 n = make_reply(0, 5, 1);

	rec.h.session = va_cpu_to_le32(SESSION + 1);
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -ESTALE);
	rec.h.session = 0;
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -ESTALE);
}
END_TEST

START_TEST(test_reply_wrong_source)
{
	struct vargo_reply r;
	u32 n = make_reply(0, 5, 1);

	ck_assert_int_eq(check(DOMID, PORT + 1, n, &r), -EPERM);
	ck_assert_int_eq(check(DOMID + 1, PORT, n, &r), -EPERM);
	ck_assert_int_eq(check(0, 0, n, &r), -EPERM);
}
END_TEST

START_TEST(test_reply_bad_framing)
{
	struct vargo_reply r;
	u32 n = make_reply(0, 5, 10);

	/* Body length disagrees with the header or with written. */
	ck_assert_int_eq(check(DOMID, PORT, n - 1, &r), -EBADMSG);
	rec.h.len = va_cpu_to_le32(n + 1);
	ck_assert_int_eq(check(DOMID, PORT, n + 1, &r), -EBADMSG);
	/* Shorter than a va_response. */
	make_reply(0, 5, 0);
	rec.h.len = va_cpu_to_le32(4);
	ck_assert_int_eq(check(DOMID, PORT, 4, &r), -EBADMSG);
	/* written so large that 8 + written would wrap. */
	n = make_reply(0, 5, 1);
	rec.r.written = va_cpu_to_le32(0xfffffff9u);
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -EBADMSG);
	/* Not a plain response. */
	n = make_reply(0, 5, 1);
	rec.h.flags = VA_F_RESPONSE | VA_F_ERROR;
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -EBADMSG);
	rec.h.flags = 0;
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -EBADMSG);
	n = make_reply(0, 5, 1);
	rec.h.msg_id = VA_MSG_REQUEST;
	ck_assert_int_eq(check(DOMID, PORT, n, &r), -EBADMSG);
}
END_TEST

/* The record walk (vargo_msg_walk) is tested in test-wire.c, against
 * protocol.md 2.2 and alongside the user-space build of the same rules. */

static Suite *vring_walk_suite(void)
{
	Suite *s = suite_create("vring-walk");
	TCase *tc = tcase_create("walk");
	TCase *tr = tcase_create("reply");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_good_chain);
	tcase_add_test(tc, test_scatter_across_segments);
	tcase_add_test(tc, test_single_out_only);
	tcase_add_test(tc, test_self_loop);
	tcase_add_test(tc, test_long_cycle);
	tcase_add_test(tc, test_full_ring_chain_ok);
	tcase_add_test(tc, test_too_many_descs);
	tcase_add_test(tc, test_too_many_bytes);
	tcase_add_test(tc, test_too_many_in_segs);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_indirect_refused);
	tcase_add_test(tc, test_write_before_read);
	tcase_add_test(tc, test_zero_length);
	tcase_add_test(tc, test_avail);
	suite_add_tcase(s, tc);

	tcase_add_test(tr, test_reply_good);
	tcase_add_test(tr, test_reply_unknown_id);
	tcase_add_test(tr, test_reply_written_too_big);
	tcase_add_test(tr, test_reply_wrong_queue);
	tcase_add_test(tr, test_reply_wrong_session);
	tcase_add_test(tr, test_reply_wrong_source);
	tcase_add_test(tr, test_reply_bad_framing);
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vring_walk_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
