/* SPDX-License-Identifier: MIT */
/*
 * The receiver's rules (virtio-argo/wire.h) in both of their builds: user
 * space (the device core, the user-space guest) and the kernel transport's
 * (compiled with __KERNEL__ and the kstub/ headers, see wire-shim.c).
 * Every table below is fed to both builds; each entry states the verdict
 * docs/protocol.md requires (sections 2.1, 2.2, 3, 5.1, 8 and 10), and the
 * two builds must also agree with each other record for record.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "virtio-argo/protocol.h"
#include "wire-shim.h"

static const struct wire_build *const builds[] = { &wire_user, &wire_kern };
#define NBUILDS (sizeof(builds) / sizeof(builds[0]))

/* ------------------------------------------------------------------ */
/* Payload construction                                                */
/* ------------------------------------------------------------------ */

#define PAYLOAD_MAX 512

struct payload {
	uint8_t b[PAYLOAD_MAX];
	uint32_t len;
};

static void put_le16(uint8_t *p, uint16_t v)
{
	va_le16 le = va_cpu_to_le16(v);

	memcpy(p, &le, sizeof(le));
}

static void put_le32(uint8_t *p, uint32_t v)
{
	va_le32 le = va_cpu_to_le32(v);

	memcpy(p, &le, sizeof(le));
}

/*
 * Append a record header at the current end, with body_len body bytes
 * (0xa5) after it and pad zero bytes; hdr_len is the len field written
 * (usually body_len).
 */
static void add_raw(struct payload *pl, uint8_t msg_id, uint8_t flags,
		    uint16_t queue, uint32_t session, uint32_t token,
		    uint32_t hdr_len, uint32_t body_len, uint32_t pad)
{
	uint8_t *p = pl->b + pl->len;

	ck_assert_uint_le(pl->len + 16 + body_len + pad, PAYLOAD_MAX);
	p[0] = msg_id;
	p[1] = flags;
	put_le16(p + 2, queue);
	put_le32(p + 4, session);
	put_le32(p + 8, token);
	put_le32(p + 12, hdr_len);
	memset(p + 16, 0xa5, body_len);
	memset(p + 16 + body_len, 0, pad);
	pl->len += 16 + body_len + pad;
}

/* A well-formed record, padded to VA_RECORD_ALIGN. */
static void add_rec(struct payload *pl, uint8_t msg_id, uint8_t flags,
		    uint32_t session, uint32_t token, uint32_t body_len)
{
	uint32_t span = (uint32_t)VA_RECORD_SPAN(body_len);

	add_raw(pl, msg_id, flags, (uint16_t)token, session, token, body_len,
		body_len, span - 16 - body_len);
}

/* ------------------------------------------------------------------ */
/* Record walk (section 2.2)                                           */
/* ------------------------------------------------------------------ */

static void rec_one(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 8);
}

static void rec_batch(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 3);
	add_rec(pl, VA_MSG_HELLO, 0, 7, 0, 8);
	add_rec(pl, VA_MSG_GET_CONFIG, VA_F_RESPONSE | VA_F_ERROR, 7, 2, 8);
	add_rec(pl, VA_MSG_EVENT_CONFIG, 0, 7, 0, 0);
}

/* The last record without its padding, or with part of it. */
static void rec_last_unpadded(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 8);
	add_raw(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 7, 2, 3, 3, 0);
}

static void rec_last_part_padded(struct payload *pl)
{
	add_raw(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 7, 2, 3, 3, 2);
}

static void rec_empty(struct payload *pl)
{
	(void)pl;
}

static void rec_short_header(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 0);
	pl->len = 15;
}

static void rec_trailing_bytes(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 0);
	memset(pl->b + pl->len, 0, 8);
	pl->len += 8;
}

static void rec_body_past_end(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 0);
	add_raw(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 7, 2, 9, 8, 0);
}

static void rec_len_huge(struct payload *pl)
{
	add_raw(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 7, 1, 0xffffffffu, 8, 0);
}

/* 2^32 - 8: adding the header and the alignment would wrap 32 bits. */
static void rec_len_wraps(struct payload *pl)
{
	add_raw(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 7, 1, 0xfffffff8u, 8, 0);
}

static void rec_padding_nonzero(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 3);
	pl->b[16 + 3 + 4] = 1;
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 2, 0);
}

static void rec_last_padding_nonzero(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 0);
	add_raw(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 7, 2, 3, 3, 2);
	pl->b[pl->len - 1] = 0x80;
}

/* The sender forgot the padding: the next header sits at offset 16 + 3. */
static void rec_misaligned(struct payload *pl)
{
	add_raw(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 7, 1, 3, 3, 0);
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 2, 0);
}

static void rec_session_zero(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 0);
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0, 2, 0);
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 3, 0);
}

static void rec_error_alone(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 7, 1, 0);
	add_rec(pl, VA_MSG_REQUEST, VA_F_ERROR, 7, 2, 8);
}

static void rec_flag_unknown_low(struct payload *pl)
{
	add_rec(pl, VA_MSG_RESPONSE, VA_F_RESPONSE | 0x04, 7, 1, 0);
}

static void rec_flag_unknown_high(struct payload *pl)
{
	add_rec(pl, VA_MSG_HELLO, 0x80, 7, 1, 8);
}

/* Only the header's checks count: an unknown msg_id is the handlers'. */
static void rec_unknown_msg_id(struct payload *pl)
{
	add_rec(pl, 0x7f, 0, 7, 1, 0);
}

static const struct rec_case {
	const char *name;
	void (*build)(struct payload *pl);
	unsigned int want_n;	/* records delivered */
	int want_ebadmsg;	/* the walk ends -EBADMSG, else 0 */
} rec_cases[] = {
	{ "one record", rec_one, 1, 0 },
	{ "batch of four", rec_batch, 4, 0 },
	{ "last record unpadded", rec_last_unpadded, 2, 0 },
	{ "last record partly padded", rec_last_part_padded, 1, 0 },
	{ "unknown msg_id", rec_unknown_msg_id, 1, 0 },
	{ "empty payload", rec_empty, 0, 1 },
	{ "header truncated", rec_short_header, 0, 1 },
	{ "8 bytes after the last record", rec_trailing_bytes, 1, 1 },
	{ "body past the end", rec_body_past_end, 1, 1 },
	{ "len 0xffffffff", rec_len_huge, 0, 1 },
	{ "len 0xfffffff8", rec_len_wraps, 0, 1 },
	{ "non-zero padding", rec_padding_nonzero, 0, 1 },
	{ "non-zero padding, last record", rec_last_padding_nonzero, 1, 1 },
	{ "next record not aligned", rec_misaligned, 0, 1 },
	{ "session 0", rec_session_zero, 1, 1 },
	{ "ERROR without RESPONSE", rec_error_alone, 1, 1 },
	{ "unknown flag 0x04", rec_flag_unknown_low, 0, 1 },
	{ "unknown flag 0x80", rec_flag_unknown_high, 0, 1 },
};

#define NREC_CASES (sizeof(rec_cases) / sizeof(rec_cases[0]))

START_TEST(walk_verdicts)
{
	const struct rec_case *c = &rec_cases[_i];
	struct shim_rec got[NBUILDS][8];
	unsigned int n[NBUILDS], b;
	struct payload pl = { .len = 0 };
	int r[NBUILDS];

	c->build(&pl);
	for (b = 0; b < NBUILDS; b++) {
		const struct wire_build *w = builds[b];

		memset(got[b], 0, sizeof(got[b]));
		r[b] = w->walk(pl.b, pl.len, got[b], 8, &n[b]);
		ck_assert_msg(n[b] == c->want_n,
			      "%s, %s build: %u records delivered, want %u",
			      c->name, w->name, n[b], c->want_n);
		ck_assert_msg(r[b] == (c->want_ebadmsg ?
				       -w->errno_of(SHIM_EBADMSG) : 0),
			      "%s, %s build: walk ends %d", c->name, w->name,
			      r[b]);
	}
	/* Same records, field for field, in both builds. */
	ck_assert_int_eq(r[0], r[1]);
	ck_assert_mem_eq(got[0], got[1], sizeof(got[0]));
}
END_TEST

/* The fields of the records a walk delivers, in host order. */
START_TEST(walk_fields)
{
	const struct wire_build *w = builds[_i];
	struct payload pl = { .len = 0 };
	struct shim_rec got[4];
	unsigned int n;

	add_raw(&pl, VA_MSG_RESPONSE, VA_F_RESPONSE, 0x1234, 0x89abcdefu,
		0x01020304u, 5, 5, 3);
	add_raw(&pl, VA_MSG_GET_VQUEUE, VA_F_RESPONSE | VA_F_ERROR, 63,
		0xfffffffeu, 0xffffffffu, 8, 8, 0);
	ck_assert_int_eq(w->walk(pl.b, pl.len, got, 4, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(got[0].msg_id, VA_MSG_RESPONSE);
	ck_assert_uint_eq(got[0].flags, VA_F_RESPONSE);
	ck_assert_uint_eq(got[0].queue, 0x1234);
	ck_assert_uint_eq(got[0].session, 0x89abcdefu);
	ck_assert_uint_eq(got[0].token, 0x01020304u);
	ck_assert_uint_eq(got[0].len, 5);
	ck_assert_uint_eq(got[0].body_off, 16);
	ck_assert_uint_eq(got[1].msg_id, VA_MSG_GET_VQUEUE);
	ck_assert_uint_eq(got[1].flags, VA_F_RESPONSE | VA_F_ERROR);
	ck_assert_uint_eq(got[1].queue, 63);
	ck_assert_uint_eq(got[1].session, 0xfffffffeu);
	ck_assert_uint_eq(got[1].token, 0xffffffffu);
	ck_assert_uint_eq(got[1].len, 8);
	ck_assert_uint_eq(got[1].body_off, 24 + 16);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Message type (section 2.1)                                          */
/* ------------------------------------------------------------------ */

START_TEST(msg_types)
{
	const struct wire_build *w = builds[_i];
	int eproto = -w->errno_of(SHIM_EPROTO);
	int enosup = -w->errno_of(SHIM_EPROTONOSUPPORT);

	ck_assert_int_eq(w->msg_type(VA_ARGO_MSG_TYPE), 0);
	ck_assert_int_eq(w->msg_type(0x76610001u), 0);
	ck_assert_int_eq(w->msg_type(VA_ARGO_MSG_TYPE_V(2)), enosup);
	ck_assert_int_eq(w->msg_type(VA_ARGO_MSG_TYPE_V(0)), enosup);
	ck_assert_int_eq(w->msg_type(0x7661ffffu), enosup);
	ck_assert_int_eq(w->msg_type(0), eproto);
	ck_assert_int_eq(w->msg_type(0x61760001u), eproto);
	ck_assert_int_eq(w->msg_type(0xffff0001u), eproto);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Ring lengths and DEVICE_INFO (sections 3, 5.1, 10)                  */
/* ------------------------------------------------------------------ */

START_TEST(ring_lengths)
{
	const struct wire_build *w = builds[_i];
	static const struct {
		uint32_t len;
		int ok;
	} t[] = {
		{ 0, 0 }, { 16, 0 },
		{ 48, 0 },		/* Xen registers it; too small for us */
		{ 4016, 0 }, { 4031, 0 }, { 4032, 1 }, { 4040, 0 },
		{ 4048, 1 }, { VA_RING_LEN_DEFAULT, 1 },
		{ VA_RING_LEN_MAX - 8, 0 }, { VA_RING_LEN_MAX, 1 },
		{ VA_RING_LEN_MAX + 16, 0 }, { 16u * 1024 * 1024, 0 },
		{ 0xfffffff0u, 0 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(!!w->ring_len_ok(t[i].len) == t[i].ok,
			      "%s build: ring length %u", w->name, t[i].len);
}
END_TEST

/* GET_VQUEUE's max_size: 1..32768, any value, not only powers of two. */
START_TEST(vqueue_max_sizes)
{
	const struct wire_build *w = builds[_i];
	static const struct {
		uint32_t max;
		int ok;
	} t[] = {
		{ 0, 0 }, { 1, 1 }, { 3, 1 }, { 256, 1 }, { 1000, 1 },
		{ VA_MAX_QUEUE_SIZE, 1 }, { VA_MAX_QUEUE_SIZE + 1, 0 },
		{ 65536, 0 }, { 0xffffffffu, 0 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(!!w->vqueue_max_ok(t[i].max) == t[i].ok,
			      "%s build: max_size %u", w->name, t[i].max);
}
END_TEST

/* A field of struct va_device_info: its offset and size. */
#define FIELD(f) offsetof(struct va_device_info, f), \
	sizeof(((struct va_device_info *)0)->f)

/* blkd's reply with one field changed (size 0: none). */
static const struct info_case {
	const char *name;
	size_t off;
	size_t size;
	uint32_t value;
	int ok;
} info_cases[] = {
	{ "as sent by blkd", 0, 0, 0, 1 },
	{ "any device id", FIELD(device_id), 0xffff, 1 },
	{ "version_min 0", FIELD(version_min), 0, 1 },
	{ "version_min 2", FIELD(version_min), 2, 0 },
	{ "version_max 0", FIELD(version_max), 0, 0 },
	{ "version_max 9", FIELD(version_max), 9, 1 },
	{ "0 queues", FIELD(num_queues), 0, 0 },
	{ "64 queues", FIELD(num_queues), 64, 1 },
	{ "65 queues", FIELD(num_queues), 65, 0 },
	{ "0xffff queues", FIELD(num_queues), 0xffff, 0 },
	{ "reserved0 set", FIELD(reserved0), 0xffff, 1 },
	{ "config_size 0", FIELD(config_size), 0, 1 },
	{ "config_size 256", FIELD(config_size), 256, 1 },
	{ "config_size 257", FIELD(config_size), 257, 0 },
	{ "config_size 2^32-1", FIELD(config_size), 0xffffffffu, 0 },
	{ "queue size 0", FIELD(max_queue_size), 0, 0 },
	{ "queue size 3", FIELD(max_queue_size), 3, 1 },
	{ "queue size 32768", FIELD(max_queue_size), 32768, 1 },
	{ "queue size 32769", FIELD(max_queue_size), 32769, 0 },
	{ "ring 0", FIELD(device_ring_len), 0, 0 },
	{ "ring 48", FIELD(device_ring_len), 48, 0 },
	{ "ring 4016", FIELD(device_ring_len), 4016, 0 },
	{ "ring 4032", FIELD(device_ring_len), 4032, 1 },
	{ "ring 4040 (unaligned)", FIELD(device_ring_len), 4040, 0 },
	{ "ring 4194241 (unaligned)", FIELD(device_ring_len), 4194241, 0 },
	{ "ring max", FIELD(device_ring_len), VA_RING_LEN_MAX, 1 },
	{ "ring max + 16", FIELD(device_ring_len), VA_RING_LEN_MAX + 16, 0 },
	{ "ring 2^32-16", FIELD(device_ring_len), 0xfffffff0u, 0 },
	{ "max_request 0", FIELD(max_request), 0, 0 },
	{ "max_request 15", FIELD(max_request), 15, 0 },
	{ "max_request 16", FIELD(max_request), 16, 1 },
	{ "reserved1 set", FIELD(reserved1), 0xffffffffu, 1 },
};

#define NINFO_CASES (sizeof(info_cases) / sizeof(info_cases[0]))

/* The DEVICE_INFO body at byte offset 1 of buf (unaligned on purpose). */
static void build_info(uint8_t *buf, const struct info_case *c)
{
	uint8_t *d = buf + 1;

	memset(buf, 0, 48);
	put_le32(d + 0, 2);			/* device_id: blk */
	put_le32(d + 4, 0x5641);		/* vendor_id */
	put_le32(d + 8, 1);			/* version_min */
	put_le32(d + 12, 1);			/* version_max */
	put_le16(d + 16, 1);			/* num_queues */
	put_le32(d + 20, 60);			/* config_size */
	put_le32(d + 24, 256);			/* max_queue_size */
	put_le32(d + 28, VA_RING_LEN_DEFAULT);	/* device_ring_len */
	put_le32(d + 32, 16 + 131072);		/* max_request */
	if (c->size == 2)
		put_le16(d + c->off, (uint16_t)c->value);
	else if (c->size == 4)
		put_le32(d + c->off, c->value);
}

START_TEST(device_info_verdicts)
{
	const struct info_case *c = &info_cases[_i];
	const char *why[NBUILDS];
	uint8_t buf[48];
	unsigned int b;

	ck_assert_uint_eq(sizeof(struct va_device_info), 40);
	build_info(buf, c);
	for (b = 0; b < NBUILDS; b++) {
		why[b] = builds[b]->info_fault(buf + 1);
		ck_assert_msg((why[b] == NULL) == c->ok, "%s, %s build: %s", c->name,
			      builds[b]->name, why[b] ? why[b] : "accepted");
	}
	if (!c->ok)
		ck_assert_str_eq(why[0], why[1]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Error codes (section 8)                                             */
/* ------------------------------------------------------------------ */

static const struct {
	uint32_t code;
	enum shim_errno want;
	int libc;		/* the same name from <errno.h> */
} err_cases[] = {
	{ 0, SHIM_EPROTO, EPROTO },
	{ VA_ERR_INVALID, SHIM_EINVAL, EINVAL },
	{ VA_ERR_UNSUPPORTED, SHIM_EOPNOTSUPP, EOPNOTSUPP },
	{ VA_ERR_RANGE, SHIM_ERANGE, ERANGE },
	{ VA_ERR_STATE, SHIM_ESTALE, ESTALE },
	{ VA_ERR_VERSION, SHIM_EPROTONOSUPPORT, EPROTONOSUPPORT },
	{ VA_ERR_BUSY, SHIM_EBUSY, EBUSY },
	{ VA_ERR_NEEDS_RESET, SHIM_ENOTRECOVERABLE, ENOTRECOVERABLE },
	{ VA_ERR_TOO_BIG, SHIM_EMSGSIZE, EMSGSIZE },
	{ 9, SHIM_EPROTO, EPROTO },
	{ 0x100, SHIM_EPROTO, EPROTO },
	{ 0xffffffffu, SHIM_EPROTO, EPROTO },
};

#define NERR_CASES (sizeof(err_cases) / sizeof(err_cases[0]))

START_TEST(error_codes)
{
	uint8_t body[9 + 1];
	unsigned int b;
	int got[NBUILDS];

	for (b = 0; b < NBUILDS; b++) {
		const struct wire_build *w = builds[b];
		int want = -w->errno_of(err_cases[_i].want);

		got[b] = w->err_to_errno(err_cases[_i].code);
		ck_assert_msg(got[b] == want, "%s build: code %u gives %d, want %d",
			      w->name, err_cases[_i].code, got[b], want);
		ck_assert_int_lt(got[b], 0);
		/* The same through a reply body, unaligned. */
		memset(body, 0, sizeof(body));
		put_le32(body + 1, err_cases[_i].code);
		ck_assert_int_eq(w->error_reply_errno(body + 1, 8), want);
	}
	/* Both builds report what <errno.h> calls that name. */
	ck_assert_int_eq(got[0], -err_cases[_i].libc);
	ck_assert_int_eq(got[1], got[0]);
}
END_TEST

/* An error reply whose body is not exactly a va_error is -EPROTO. */
START_TEST(error_reply_sizes)
{
	const struct wire_build *w = builds[_i];
	int eproto = -w->errno_of(SHIM_EPROTO);
	uint8_t body[16];
	uint32_t len;

	memset(body, 0, sizeof(body));
	put_le32(body, VA_ERR_BUSY);
	for (len = 0; len < sizeof(body); len++)
		ck_assert_int_eq(w->error_reply_errno(body, len),
				 len == 8 ? -w->errno_of(SHIM_EBUSY) : eproto);
}
END_TEST

/* Each build reports distinct values for the names the tables use. */
START_TEST(errno_names)
{
	const struct wire_build *w = builds[_i];
	unsigned int a, b;

	for (a = 0; a < SHIM_NR_ERRNO; a++) {
		ck_assert_int_gt(w->errno_of(a), 0);
		for (b = a + 1; b < SHIM_NR_ERRNO; b++)
			ck_assert_int_ne(w->errno_of(a), w->errno_of(b));
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("rules");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, walk_verdicts, 0, NREC_CASES);
	tcase_add_loop_test(tc, walk_fields, 0, NBUILDS);
	tcase_add_loop_test(tc, msg_types, 0, NBUILDS);
	tcase_add_loop_test(tc, ring_lengths, 0, NBUILDS);
	tcase_add_loop_test(tc, vqueue_max_sizes, 0, NBUILDS);
	tcase_add_loop_test(tc, device_info_verdicts, 0, NINFO_CASES);
	tcase_add_loop_test(tc, error_codes, 0, NERR_CASES);
	tcase_add_loop_test(tc, error_reply_sizes, 0, NBUILDS);
	tcase_add_loop_test(tc, errno_names, 0, NBUILDS);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
