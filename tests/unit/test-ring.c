/* SPDX-License-Identifier: MIT */
/*
 * The Argo ring arithmetic of argo-ring.h against the rules of Xen's
 * xen/common/argo.c (ringbuf_insert, register_ring, the rx_ptr sanitising)
 * as summarised in the facts file A.4, plus a randomised write/read
 * round trip with a shadow FIFO.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio-argo/argo-ring.h"

#define MIB (1024u * 1024u)

START_TEST(test_len_valid)
{
	ck_assert(va_argo_ring_len_valid(48));
	ck_assert(!va_argo_ring_len_valid(32));
	ck_assert(!va_argo_ring_len_valid(0));
	ck_assert(!va_argo_ring_len_valid(47));
	ck_assert(!va_argo_ring_len_valid(56));
	ck_assert(va_argo_ring_len_valid(64));
	ck_assert(va_argo_ring_len_valid(4096 - 64));
	ck_assert_uint_eq(va_argo_ring_npages(4096 - 64), 1);
	ck_assert_uint_eq(va_argo_ring_npages(4096 - 48), 2);
	/* The largest ring: 4096 pages with its header. */
	ck_assert_uint_eq(va_argo_ring_len_for_pages(4096), 16 * MIB - 64);
	ck_assert(va_argo_ring_len_valid(16 * MIB - 64));
	ck_assert_uint_eq(va_argo_ring_npages(16 * MIB - 64), 4096);
	ck_assert(!va_argo_ring_len_valid(16 * MIB - 48));
	ck_assert_uint_eq(va_argo_ring_npages(16 * MIB - 48), 4097);
	ck_assert(!va_argo_ring_len_valid(16 * MIB));
	ck_assert(!va_argo_ring_len_valid(16 * MIB + 16));
	ck_assert(!va_argo_ring_len_valid(0xfffffff0u));
}
END_TEST

START_TEST(test_emsgsize_boundary)
{
	static const uint32_t lens[] = { 48, 64, 96, 4032, 65536, 16 * MIB - 64 };
	unsigned int i;
	uint32_t len;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		ck_assert_uint_eq(va_argo_ring_max_payload(len), len - 32);
		ck_assert(!va_argo_ring_too_big(len, len - 32));
		ck_assert(va_argo_ring_too_big(len, len - 31));
		ck_assert(va_argo_ring_too_big(len, len - 17));
		ck_assert(va_argo_ring_too_big(len, (uint64_t)len + 1000));
		/* An empty ring takes exactly the largest payload. */
		ck_assert(va_argo_ring_fits(0, 0, len, len - 32));
		ck_assert(!va_argo_ring_fits(0, 0, len, len - 31));
		ck_assert(va_argo_ring_fits(16, 16, len, len - 32));
	}
	ck_assert(va_argo_ring_fits(0, 0, 48, 0));
	ck_assert(va_argo_ring_fits(0, 0, 48, 16));
	ck_assert(!va_argo_ring_fits(0, 0, 48, 17));
}
END_TEST

START_TEST(test_sanitize_rx)
{
	ck_assert_uint_eq(va_argo_sanitize_rx(0, 96), 0);
	ck_assert_uint_eq(va_argo_sanitize_rx(1, 96), 16);
	ck_assert_uint_eq(va_argo_sanitize_rx(15, 96), 16);
	ck_assert_uint_eq(va_argo_sanitize_rx(16, 96), 16);
	ck_assert_uint_eq(va_argo_sanitize_rx(80, 96), 80);
	ck_assert_uint_eq(va_argo_sanitize_rx(81, 96), 0);
	ck_assert_uint_eq(va_argo_sanitize_rx(96, 96), 0);
	ck_assert_uint_eq(va_argo_sanitize_rx(1000, 96), 0);
	ck_assert_uint_eq(va_argo_sanitize_rx(0xffffffffu, 96), 0);
	ck_assert_uint_eq(va_argo_sanitize_rx(0xfffffff0u, 16 * MIB - 64), 0);
}
END_TEST

START_TEST(test_space)
{
	/* Empty: the whole ring. */
	ck_assert_uint_eq(va_argo_ring_space(32, 32, 96), 96);
	ck_assert_uint_eq(va_argo_ring_used(32, 32, 96), 0);
	/* Writer ahead of reader, and wrapped. */
	ck_assert_uint_eq(va_argo_ring_space(16, 64, 96), 48);
	ck_assert_uint_eq(va_argo_ring_used(16, 64, 96), 48);
	ck_assert_uint_eq(va_argo_ring_space(64, 16, 96), 48);
	ck_assert_uint_eq(va_argo_ring_used(64, 16, 96), 48);
	/* Never completely full: with 32 free, a 16-byte payload needs
	 * 32 < 32: refused; 0 bytes (16 with header) is taken. */
	ck_assert(!va_argo_ring_fits(48, 16, 96, 16));
	ck_assert(va_argo_ring_fits(48, 16, 96, 0));
	ck_assert(!va_argo_ring_fits(32, 16, 96, 0));
	/* Advance rounds up to the slot and wraps. */
	ck_assert_uint_eq(va_argo_ring_advance(0, 17, 96), 32);
	ck_assert_uint_eq(va_argo_ring_advance(64, 32, 96), 0);
	ck_assert_uint_eq(va_argo_ring_advance(80, 56, 96), 48);
}
END_TEST

static void insert(uint8_t *data, uint32_t len, uint32_t *tx, const void *p,
		   uint32_t n, uint16_t dom, uint32_t port)
{
	struct va_argo_msg_hdr h = {
		.len = n + 16, .source = { .aport = port, .domain_id = dom },
		.message_type = 0xabcd,
	};
	struct va_argo_run run = { p, n };

	*tx = va_argo_ring_insert(data, len, *tx, &h, &run, 1);
}

START_TEST(test_wrap)
{
	uint8_t data[96], out[64];
	struct va_argo_msg_hdr h;
	static const char msg[64] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";
	uint32_t tx, n1, n2;

	/* Payload wraps: header at 64..80, payload 80..96 then 0..24. */
	memset(data, 0xee, sizeof(data));
	tx = 64;
	ck_assert(va_argo_ring_fits(64, 64, 96, 40));
	insert(data, 96, &tx, msg, 40, 3, 7);
	ck_assert_uint_eq(tx, 32);
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 64, tx, &h), VA_ARGO_PEEK_MSG);
	ck_assert_uint_eq(h.len, 56);
	ck_assert_uint_eq(h.source.domain_id, 3);
	ck_assert_uint_eq(h.source.aport, 7);
	va_argo_ring_split(80, 40, 96, &n1, &n2);
	ck_assert_uint_eq(n1, 16);
	ck_assert_uint_eq(n2, 24);
	ck_assert_int_eq(memcmp(data + 80, msg, 16), 0);
	ck_assert_int_eq(memcmp(data, msg + 16, 24), 0);
	va_argo_ring_copy_out(data, 96, 80, out, 40);
	ck_assert_int_eq(memcmp(out, msg, 40), 0);
	/* Header in the last slot: payload starts at 0, tx lands after it. */
	tx = 80;
	insert(data, 96, &tx, msg, 20, 1, 1);
	ck_assert_uint_eq(tx, 32);
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 80, tx, &h), VA_ARGO_PEEK_MSG);
	ck_assert_uint_eq(h.len, 36);
	ck_assert_int_eq(memcmp(data, msg, 20), 0);
	/* A payload ending exactly at the end: tx wraps to 0. */
	tx = 32;
	insert(data, 96, &tx, msg, 48, 1, 1);
	ck_assert_uint_eq(tx, 0);
}
END_TEST

START_TEST(test_peek_corrupt)
{
	uint8_t data[96] = { 0 };
	struct va_argo_msg_hdr h = { .len = 32 };

	ck_assert_int_eq(va_argo_ring_peek(data, 96, 0, 0, &h), VA_ARGO_PEEK_EMPTY);
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 8, 32, &h), VA_ARGO_PEEK_CORRUPT);
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 0, 40, &h), VA_ARGO_PEEK_CORRUPT);
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 0, 96, &h), VA_ARGO_PEEK_CORRUPT);
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 96, 0, &h), VA_ARGO_PEEK_CORRUPT);
	/* Header claims more than was written. */
	h.len = 33;
	memcpy(data, &h, sizeof(h));
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 0, 32, &h), VA_ARGO_PEEK_CORRUPT);
	/* Header shorter than itself. */
	h.len = 15;
	memcpy(data, &h, sizeof(h));
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 0, 32, &h), VA_ARGO_PEEK_CORRUPT);
	h.len = 32;
	memcpy(data, &h, sizeof(h));
	ck_assert_int_eq(va_argo_ring_peek(data, 96, 0, 32, &h), VA_ARGO_PEEK_MSG);
}
END_TEST

/* Random writes and reads through one ring, checked against a shadow
 * FIFO of (length, seed) records. */
START_TEST(test_roundtrip_property)
{
	enum { QMAX = 4096 };
	static uint32_t qlen[QMAX], qseed[QMAX];
	static uint8_t src[70000], out[70000];
	unsigned int round, step, qh, qt;
	uint32_t len, rx, tx, n, seed, i;
	struct va_argo_msg_hdr h;
	uint8_t *data;

	srand(12345);
	for (round = 0; round < 100; round++) {
		len = 48 + 16 * (uint32_t)(rand() % 4096);
		data = malloc(len);
		memset(data, 0x5a, len);
		rx = tx = 0;
		qh = qt = 0;
		for (step = 0; step < 2000; step++) {
			if (rand() % 2 && qt - qh < QMAX) {
				n = (uint32_t)rand() % (len < 70000 ? len : 70000);
				if (va_argo_ring_too_big(len, n)) {
					ck_assert_uint_gt(n, len - 32);
					continue;
				}
				if (!va_argo_ring_fits(rx, tx, len, n))
					continue;
				seed = (uint32_t)rand();
				for (i = 0; i < n; i++)
					src[i] = (uint8_t)(seed + i * 31);
				insert(data, len, &tx, src, n, 2, seed);
				ck_assert_uint_eq(tx % 16, 0);
				ck_assert_uint_lt(tx, len);
				/* Never completely full. */
				ck_assert_uint_ne(tx, rx);
				qlen[qt % QMAX] = n;
				qseed[qt % QMAX] = seed;
				qt++;
			} else {
				int p = va_argo_ring_peek(data, len, rx, tx, &h);

				if (qh == qt) {
					ck_assert_int_eq(p, VA_ARGO_PEEK_EMPTY);
					continue;
				}
				ck_assert_int_eq(p, VA_ARGO_PEEK_MSG);
				n = h.len - 16;
				ck_assert_uint_eq(n, qlen[qh % QMAX]);
				ck_assert_uint_eq(h.source.aport, qseed[qh % QMAX]);
				va_argo_ring_copy_out(data, len, (rx + 16) % len, out, n);
				for (i = 0; i < n; i++)
					src[i] = (uint8_t)(qseed[qh % QMAX] + i * 31);
				ck_assert_int_eq(memcmp(out, src, n), 0);
				rx = va_argo_ring_advance(rx, h.len, len);
				qh++;
			}
			ck_assert_uint_eq(va_argo_ring_used(rx, tx, len) +
					  va_argo_ring_space(rx, tx, len), len);
		}
		free(data);
	}
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("argo-ring");
	TCase *tc = tcase_create("ring");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_len_valid);
	tcase_add_test(tc, test_emsgsize_boundary);
	tcase_add_test(tc, test_sanitize_rx);
	tcase_add_test(tc, test_space);
	tcase_add_test(tc, test_wrap);
	tcase_add_test(tc, test_peek_corrupt);
	tcase_add_test(tc, test_roundtrip_property);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
