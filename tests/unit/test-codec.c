/* SPDX-License-Identifier: MIT */
/*
 * The protocol codec (codec.c): record walking over well-formed and
 * hostile payloads, body accessors, message type classification, and
 * batch building with its size limit.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static size_t put_rec(uint8_t *p, uint8_t id, uint8_t flags, uint32_t sess,
		      uint32_t token, uint32_t len)
{
	struct va_hdr h = {
		.msg_id = id,
		.flags = flags,
		.queue = va_cpu_to_le16(3),
		.session = va_cpu_to_le32(sess),
		.token = va_cpu_to_le32(token),
		.len = va_cpu_to_le32(len),
	};

	memcpy(p, &h, sizeof(h));
	memset(p + sizeof(h), 0xab, len);
	memset(p + sizeof(h) + len, 0, va_rec_span(len) - sizeof(h) - len);
	return va_rec_span(len);
}

START_TEST(test_walk_good)
{
	uint8_t buf[256];
	struct va_rec_iter it;
	struct va_rec r;
	size_t n = 0;

	n += put_rec(buf + n, VA_MSG_REQUEST, 0, 9, 1, 5);
	n += put_rec(buf + n, VA_MSG_RESPONSE, VA_F_RESPONSE | VA_F_ERROR, 9, 2, 0);
	n += put_rec(buf + n, VA_MSG_HELLO, 0, 9, 3, 8);
	va_rec_iter_init(&it, buf, n);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_uint_eq(r.msg_id, VA_MSG_REQUEST);
	ck_assert_uint_eq(r.queue, 3);
	ck_assert_uint_eq(r.len, 5);
	ck_assert_ptr_eq(r.body, buf + 16);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_uint_eq(r.token, 2);
	ck_assert_uint_eq(r.flags, VA_F_RESPONSE | VA_F_ERROR);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_uint_eq(r.token, 3);
	ck_assert_int_eq(va_rec_next(&it, &r), 0);
	ck_assert_int_eq(va_rec_next(&it, &r), 0);
}
END_TEST

START_TEST(test_walk_last_unpadded)
{
	uint8_t buf[64];
	struct va_rec_iter it;
	struct va_rec r;
	size_t n;

	n = put_rec(buf, VA_MSG_REQUEST, 0, 9, 1, 5);
	/* Drop the padding of the last record: still fine. */
	va_rec_iter_init(&it, buf, n - 3);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_int_eq(va_rec_next(&it, &r), 0);
}
END_TEST

START_TEST(test_walk_bad)
{
	uint8_t buf[128];
	struct va_rec_iter it;
	struct va_rec r;
	size_t n;

	/* Empty payload: malformed (protocol.md 2.2), not a clean end. */
	memset(buf, 0, sizeof(buf));
	va_rec_iter_init(&it, buf, 0);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	/* Truncated header. */
	n = put_rec(buf, VA_MSG_REQUEST, 0, 9, 1, 0);
	va_rec_iter_init(&it, buf, 15);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	/* Body past the end. */
	n = put_rec(buf, VA_MSG_REQUEST, 0, 9, 1, 20);
	va_rec_iter_init(&it, buf, 16 + 19);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	/* Oversized length (overflow bait). */
	put_rec(buf, VA_MSG_REQUEST, 0, 9, 1, 0);
	buf[12] = buf[13] = buf[14] = buf[15] = 0xff;
	va_rec_iter_init(&it, buf, 64);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	/* Zero session. */
	n = put_rec(buf, VA_MSG_REQUEST, 0, 0, 1, 0);
	va_rec_iter_init(&it, buf, n);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	/* Unknown flag bits; ERROR without RESPONSE. */
	n = put_rec(buf, VA_MSG_REQUEST, 0x04, 9, 1, 0);
	va_rec_iter_init(&it, buf, n);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	n = put_rec(buf, VA_MSG_REQUEST, VA_F_ERROR, 9, 1, 0);
	va_rec_iter_init(&it, buf, n);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	/* Non-zero padding before a following record: first fails. */
	n = put_rec(buf, VA_MSG_REQUEST, 0, 9, 1, 3);
	n += put_rec(buf + n, VA_MSG_REQUEST, 0, 9, 2, 0);
	buf[16 + 3] = 1;
	va_rec_iter_init(&it, buf, n);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
	/* Good record then a partial one. */
	n = put_rec(buf, VA_MSG_REQUEST, 0, 9, 1, 0);
	va_rec_iter_init(&it, buf, n + 7);
	memset(buf + n, 0, 7);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_int_eq(va_rec_next(&it, &r), -EBADMSG);
}
END_TEST

START_TEST(test_body_and_type)
{
	uint8_t buf[64];
	struct va_rec_iter it;
	struct va_rec r;
	struct va_status s;
	size_t n;

	n = put_rec(buf, VA_MSG_SET_DEVICE_STATUS, 0, 9, 1, 12);
	va_rec_iter_init(&it, buf, n);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_int_eq(va_rec_body(&r, &s, sizeof(s), false), 0);
	ck_assert_int_eq(va_rec_body(&r, &s, sizeof(s), true), -EBADMSG);
	ck_assert_int_eq(va_rec_body(&r, buf, 16, false), -EBADMSG);
	ck_assert_int_eq(va_check_msg_type(VA_ARGO_MSG_TYPE), 0);
	ck_assert_int_eq(va_check_msg_type(VA_ARGO_MSG_TYPE_V(2)),
			 -EPROTONOSUPPORT);
	ck_assert_int_eq(va_check_msg_type(VA_ARGO_MSG_TYPE_V(0)),
			 -EPROTONOSUPPORT);
	ck_assert_int_eq(va_check_msg_type(0x12340001u), -EPROTO);
	ck_assert_str_eq(va_msg_name(VA_MSG_REQUEST), "REQUEST");
	ck_assert_str_eq(va_err_name(VA_ERR_BUSY), "BUSY");
}
END_TEST

START_TEST(test_batch)
{
	struct va_batch b;
	char abc[] = "abc", de[] = "de";
	struct iovec iov[2] = {
		{ .iov_base = abc, .iov_len = 3 },
		{ .iov_base = de, .iov_len = 2 },
	};
	struct va_rec_iter it;
	struct va_rec r;

	va_batch_init(&b, 56);
	ck_assert_int_eq(va_batch_add(&b, VA_MSG_RESPONSE, VA_F_RESPONSE, 1,
				      7, 8, iov, 2), 0);
	ck_assert_uint_eq(b.len, 24);
	ck_assert_int_eq(va_batch_add(&b, VA_MSG_HELLO, 0, 0, 7, 0, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 40);
	/* 40 + 24 > 56: refused, batch unchanged. */
	ck_assert_int_eq(va_batch_add(&b, VA_MSG_HELLO, 0, 0, 7, 0, iov, 2),
			 -EMSGSIZE);
	ck_assert_uint_eq(b.len, 40);
	ck_assert_uint_eq(b.count, 2);
	/* Exactly at the limit is fine. */
	ck_assert_int_eq(va_batch_add(&b, VA_MSG_HELLO, 0, 0, 7, 0, NULL, 0), 0);
	ck_assert_uint_eq(b.len, 56);
	va_rec_iter_init(&it, b.buf, b.len);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_uint_eq(r.len, 5);
	ck_assert_mem_eq(r.body, "abcde", 5);
	ck_assert_uint_eq(r.queue, 1);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_int_eq(va_rec_next(&it, &r), 1);
	ck_assert_int_eq(va_rec_next(&it, &r), 0);
	va_batch_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.count, 0);
	va_batch_free(&b);
	va_batch_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_walk_good);
	tcase_add_test(tc, test_walk_last_unpadded);
	tcase_add_test(tc, test_walk_bad);
	tcase_add_test(tc, test_body_and_type);
	tcase_add_test(tc, test_batch);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
