/* SPDX-License-Identifier: MIT */
/*
 * Keeps docs/protocol.md and src/include/virtio-argo/protocol.h in step.
 *
 * The specification writes every wire structure as a table under a heading
 * line of the exact form
 *
 *	#### struct va_NAME (N bytes)
 *
 * followed by a Markdown table whose first three columns are
 * Field | Offset | Size (further columns are prose and ignored).  Constants
 * appear in table rows whose first cell is a back-quoted `VA_NAME` and whose
 * second cell is a C integer literal.  This test parses those two forms and
 * compares them with sizeof/offsetof and the macro values of the headers,
 * both ways: every structure, field and constant the header has must be in
 * the document with the same value, and the document may not describe a
 * structure, field or constant the header lacks.
 *
 * The document's path comes from argv[1] (meson passes the source tree's
 * copy) or the environment variable VA_PROTOCOL_MD.  Running the binary on
 * an edited copy of the document shows the test failing.
 */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio-argo/argo-ring.h"
#include "virtio-argo/protocol.h"

#define MAX_FIELDS	16
#define MAX_STRUCTS	32
#define MAX_CONSTS	128
#define NAME_LEN	64

struct field_desc {
	const char *name;
	size_t off;
	size_t size;
};

struct struct_desc {
	const char *name;
	size_t size;
	struct field_desc fields[MAX_FIELDS];
};

struct const_desc {
	const char *name;
	unsigned long long value;
};

#define F(s, f) { #f, offsetof(struct s, f), sizeof(((struct s *)0)->f) }
#define S(s, ...) { #s, sizeof(struct s), { __VA_ARGS__ } }

/* Every structure the wire protocol defines, as the compiler lays it out. */
static const struct struct_desc header_structs[] = {
	S(va_hdr, F(va_hdr, msg_id), F(va_hdr, flags), F(va_hdr, queue),
	  F(va_hdr, session), F(va_hdr, token), F(va_hdr, len)),
	S(va_error, F(va_error, error), F(va_error, detail)),
	S(va_device_info_req, F(va_device_info_req, driver_ring_len),
	  F(va_device_info_req, reserved)),
	S(va_device_info, F(va_device_info, device_id),
	  F(va_device_info, vendor_id), F(va_device_info, version_min),
	  F(va_device_info, version_max), F(va_device_info, num_queues),
	  F(va_device_info, reserved0), F(va_device_info, config_size),
	  F(va_device_info, max_queue_size),
	  F(va_device_info, device_ring_len), F(va_device_info, max_request),
	  F(va_device_info, reserved1)),
	S(va_features, F(va_features, block), F(va_features, reserved),
	  F(va_features, bits)),
	S(va_config, F(va_config, generation), F(va_config, offset),
	  F(va_config, size), F(va_config, reserved)),
	S(va_status, F(va_status, status), F(va_status, reserved)),
	S(va_vqueue, F(va_vqueue, index), F(va_vqueue, max_size),
	  F(va_vqueue, size), F(va_vqueue, enabled)),
	S(va_event_config, F(va_event_config, generation),
	  F(va_event_config, status)),
	S(va_hello, F(va_hello, device_id), F(va_hello, version_max)),
	S(va_request, F(va_request, out_len), F(va_request, in_len),
	  F(va_request, nr_in), F(va_request, reserved0),
	  F(va_request, reserved1)),
	S(va_response, F(va_response, written), F(va_response, reserved)),
	/* The Argo framing the protocol sits in (argo-ring.h, Xen's ABI). */
	S(va_argo_addr, F(va_argo_addr, aport), F(va_argo_addr, domain_id),
	  F(va_argo_addr, pad)),
	S(va_argo_msg_hdr, F(va_argo_msg_hdr, len), F(va_argo_msg_hdr, source),
	  F(va_argo_msg_hdr, message_type)),
};

#define C(n) { #n, (unsigned long long)(n) }

/* Every constant of protocol.h that has a meaning on the wire or a limit. */
static const struct const_desc header_consts[] = {
	C(VA_ARGO_MAGIC), C(VA_PROTOCOL_VERSION), C(VA_ARGO_MSG_TYPE),
	C(VA_RECORD_ALIGN),
	C(VA_F_RESPONSE), C(VA_F_ERROR),
	C(VA_MSG_DEVICE_INFO), C(VA_MSG_GET_DEV_FEATURES),
	C(VA_MSG_SET_DRV_FEATURES), C(VA_MSG_GET_CONFIG),
	C(VA_MSG_SET_CONFIG), C(VA_MSG_GET_DEVICE_STATUS),
	C(VA_MSG_SET_DEVICE_STATUS), C(VA_MSG_GET_VQUEUE),
	C(VA_MSG_SET_VQUEUE), C(VA_MSG_RESET_VQUEUE), C(VA_MSG_EVENT_CONFIG),
	C(VA_MSG_HELLO), C(VA_MSG_REQUEST), C(VA_MSG_RESPONSE),
	C(VA_ERR_INVALID), C(VA_ERR_UNSUPPORTED), C(VA_ERR_RANGE),
	C(VA_ERR_STATE), C(VA_ERR_VERSION), C(VA_ERR_BUSY),
	C(VA_ERR_NEEDS_RESET), C(VA_ERR_TOO_BIG),
	C(VA_STATUS_ACKNOWLEDGE), C(VA_STATUS_DRIVER), C(VA_STATUS_DRIVER_OK),
	C(VA_STATUS_FEATURES_OK), C(VA_STATUS_NEEDS_RESET),
	C(VA_STATUS_FAILED),
	C(VA_F_VERSION_1_BIT),
	C(VA_MAX_QUEUES), C(VA_MAX_QUEUE_SIZE), C(VA_MAX_CONFIG_SIZE),
	C(VA_MAX_CONFIG_XFER), C(VA_MAX_IN_SEGS), C(VA_FEATURE_BLOCKS),
	C(VA_RING_LEN_MIN), C(VA_RING_LEN_MAX), C(VA_RING_LEN_DEFAULT),
	C(VA_PORT_BLK_DEFAULT), C(VA_PORT_NET_DEFAULT),
	C(VA_PORT_CONSOLE_DEFAULT),
};

#define N_HEADER_STRUCTS (sizeof(header_structs) / sizeof(header_structs[0]))
#define N_HEADER_CONSTS (sizeof(header_consts) / sizeof(header_consts[0]))

/* The checker's self-test feeds it wrong documents on purpose: quiet. */
static bool quiet;

__attribute__((format(printf, 1, 2)))
static void report(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Parsing the document                                                */
/* ------------------------------------------------------------------ */

struct doc_field {
	char name[NAME_LEN];
	unsigned long long off;
	unsigned long long size;
};

struct doc_struct {
	char name[NAME_LEN];
	unsigned long long size;
	unsigned int nfields;
	struct doc_field fields[MAX_FIELDS];
	unsigned int line;
};

struct doc_const {
	char name[NAME_LEN];
	unsigned long long value;
	unsigned int line;
};

struct doc {
	unsigned int nstructs;
	struct doc_struct structs[MAX_STRUCTS];
	unsigned int nconsts;
	struct doc_const consts[MAX_CONSTS];
	/* Problems found while parsing (malformed rows, overflow). */
	unsigned int errors;
};

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Strip one pair of surrounding back quotes. */
static char *unquote(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '`' && s[n - 1] == '`') {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

static int parse_num(const char *s, unsigned long long *ret)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 0);
	if (errno || *end != '\0')
		return -EINVAL;
	return 0;
}

static bool is_ident(const char *s)
{
	if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/*
 * Split a table row "| a | b | c |" into at most `max` trimmed cells.
 * Returns the number of cells, or -1 if the line is not a table row.
 */
static int split_row(char *line, char **cells, int max)
{
	char *p = trim(line);
	int n = 0;

	if (*p != '|')
		return -1;
	p++;
	while (*p && n < max) {
		char *bar = strchr(p, '|');

		if (!bar)
			break;
		*bar = '\0';
		cells[n++] = trim(p);
		p = bar + 1;
	}
	return n;
}

static bool is_separator_row(char **cells, int n)
{
	for (int i = 0; i < n; i++)
		if (strspn(cells[i], "-: ") != strlen(cells[i]) || !cells[i][0])
			return false;
	return n > 0;
}

/* "#### struct va_x (N bytes)" -> name and size; 1 if matched. */
static int parse_struct_heading(struct doc *d, const char *line,
				unsigned int lineno)
{
	char name[NAME_LEN];
	unsigned long long size;
	char tail[16];
	struct doc_struct *s;

	if (strncmp(line, "#### struct ", 12) != 0)
		return 0;
	if (sscanf(line + 12, "%63s (%llu %15[^)])", name, &size, tail) != 3 ||
	    strcmp(tail, "bytes") != 0 || !is_ident(name)) {
		report("line %u: malformed struct heading\n", lineno);
		d->errors++;
		return -1;
	}
	if (d->nstructs == MAX_STRUCTS) {
		report("line %u: too many structs\n", lineno);
		d->errors++;
		return -1;
	}
	s = &d->structs[d->nstructs++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->size = size;
	s->line = lineno;
	return 1;
}

static void add_field(struct doc *d, struct doc_struct *s, char **cells,
		      int n, unsigned int lineno)
{
	struct doc_field *f;
	char *name;

	if (n < 3) {
		report("line %u: field row has %d cells\n", lineno, n);
		d->errors++;
		return;
	}
	if (s->nfields == MAX_FIELDS) {
		report("line %u: too many fields\n", lineno);
		d->errors++;
		return;
	}
	f = &s->fields[s->nfields];
	name = unquote(cells[0]);
	if (!is_ident(name) || strlen(name) >= NAME_LEN ||
	    parse_num(cells[1], &f->off) || parse_num(cells[2], &f->size)) {
		report("line %u: malformed field row of %s\n", lineno,
			s->name);
		d->errors++;
		return;
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	s->nfields++;
}

static void maybe_add_const(struct doc *d, char **cells, int n,
			    unsigned int lineno)
{
	struct doc_const *c;
	unsigned long long v;
	char *name;
	size_t len;

	if (n < 2)
		return;
	len = strlen(cells[0]);
	if (len < 5 || cells[0][0] != '`' || cells[0][len - 1] != '`' ||
	    strncmp(cells[0] + 1, "VA_", 3) != 0)
		return;
	name = unquote(cells[0]);
	if (!is_ident(name) || parse_num(cells[1], &v))
		return;
	for (unsigned int i = 0; i < d->nconsts; i++) {
		if (!strcmp(d->consts[i].name, name) && d->consts[i].value != v) {
			report("line %u: %s given twice with different values\n",
				lineno, name);
			d->errors++;
			return;
		}
	}
	if (d->nconsts == MAX_CONSTS) {
		report("line %u: too many constants\n", lineno);
		d->errors++;
		return;
	}
	c = &d->consts[d->nconsts++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->value = v;
	c->line = lineno;
}

/*
 * States: outside any struct; after a struct heading waiting for its
 * table (header row, separator row, then field rows until a non-row).
 */
enum pstate { P_NONE, P_WANT_TABLE, P_WANT_SEP, P_ROWS };

static void doc_parse(struct doc *d, FILE *f)
{
	enum pstate st = P_NONE;
	char buf[1024];
	unsigned int lineno = 0;

	memset(d, 0, sizeof(*d));
	while (fgets(buf, sizeof(buf), f)) {
		char *cells[8];
		char *line;
		int n, r;

		lineno++;
		if (!strchr(buf, '\n') && !feof(f)) {
			report("line %u: too long\n", lineno);
			d->errors++;
			return;
		}
		line = trim(buf);
		r = parse_struct_heading(d, line, lineno);
		if (r) {
			st = r > 0 ? P_WANT_TABLE : P_NONE;
			continue;
		}
		n = split_row(line, cells, 8);
		switch (st) {
		case P_NONE:
			if (n > 0)
				maybe_add_const(d, cells, n, lineno);
			break;
		case P_WANT_TABLE:
			if (n < 0)
				break;	/* prose between heading and table */
			if (n < 3 || strcmp(cells[0], "Field") ||
			    strcmp(cells[1], "Offset") || strcmp(cells[2], "Size")) {
				report("line %u: struct table must start with Field | Offset | Size\n",
					lineno);
				d->errors++;
				st = P_NONE;
				break;
			}
			st = P_WANT_SEP;
			break;
		case P_WANT_SEP:
			if (n < 0 || !is_separator_row(cells, n)) {
				report("line %u: missing table separator\n",
					lineno);
				d->errors++;
				st = P_NONE;
				break;
			}
			st = P_ROWS;
			break;
		case P_ROWS:
			if (n < 0) {
				st = P_NONE;
				break;
			}
			add_field(d, &d->structs[d->nstructs - 1], cells, n,
				  lineno);
			break;
		}
	}
	if (st == P_WANT_TABLE || st == P_WANT_SEP) {
		report("struct heading at end without a table\n");
		d->errors++;
	}
}

/* ------------------------------------------------------------------ */
/* Comparing                                                           */
/* ------------------------------------------------------------------ */

static const struct doc_struct *doc_find_struct(const struct doc *d,
						const char *name)
{
	for (unsigned int i = 0; i < d->nstructs; i++)
		if (!strcmp(d->structs[i].name, name))
			return &d->structs[i];
	return NULL;
}

static const struct struct_desc *header_find_struct(const char *name)
{
	for (size_t i = 0; i < N_HEADER_STRUCTS; i++)
		if (!strcmp(header_structs[i].name, name))
			return &header_structs[i];
	return NULL;
}

static unsigned int header_nfields(const struct struct_desc *h)
{
	unsigned int n = 0;

	while (n < MAX_FIELDS && h->fields[n].name)
		n++;
	return n;
}

/* Returns the number of disagreements, each reported on stderr. */
static unsigned int compare_structs(const struct doc *d)
{
	unsigned int bad = 0;

	for (size_t i = 0; i < N_HEADER_STRUCTS; i++) {
		const struct struct_desc *h = &header_structs[i];
		const struct doc_struct *s = doc_find_struct(d, h->name);
		unsigned int nh = header_nfields(h);

		if (!s) {
			report("struct %s: not documented\n", h->name);
			bad++;
			continue;
		}
		if (s->size != h->size) {
			report("struct %s (line %u): doc says %llu bytes, header %zu\n",
				h->name, s->line, s->size, h->size);
			bad++;
		}
		if (s->nfields != nh) {
			report("struct %s (line %u): doc has %u fields, header %u\n",
				h->name, s->line, s->nfields, nh);
			bad++;
		}
		for (unsigned int j = 0; j < nh; j++) {
			const struct field_desc *hf = &h->fields[j];
			const struct doc_field *df = NULL;

			for (unsigned int k = 0; k < s->nfields; k++)
				if (!strcmp(s->fields[k].name, hf->name))
					df = &s->fields[k];
			if (!df) {
				report("struct %s: field %s not documented\n",
					h->name, hf->name);
				bad++;
				continue;
			}
			if (df->off != hf->off || df->size != hf->size) {
				report("struct %s: field %s doc offset %llu size %llu, header offset %zu size %zu\n",
					h->name, hf->name, df->off, df->size,
					hf->off, hf->size);
				bad++;
			}
		}
		for (unsigned int k = 0; k < s->nfields; k++) {
			bool found = false;

			for (unsigned int j = 0; j < nh; j++)
				if (!strcmp(s->fields[k].name, h->fields[j].name))
					found = true;
			if (!found) {
				report("struct %s: doc field %s not in the header\n",
					h->name, s->fields[k].name);
				bad++;
			}
		}
	}
	for (unsigned int i = 0; i < d->nstructs; i++) {
		if (!header_find_struct(d->structs[i].name)) {
			report("line %u: struct %s is not in the header\n",
				d->structs[i].line, d->structs[i].name);
			bad++;
		}
		for (unsigned int j = i + 1; j < d->nstructs; j++) {
			if (!strcmp(d->structs[i].name, d->structs[j].name)) {
				report("line %u: struct %s documented twice\n",
					d->structs[j].line, d->structs[j].name);
				bad++;
			}
		}
	}
	return bad;
}

static unsigned int compare_consts(const struct doc *d)
{
	unsigned int bad = 0;

	for (size_t i = 0; i < N_HEADER_CONSTS; i++) {
		const struct const_desc *h = &header_consts[i];
		const struct doc_const *c = NULL;

		for (unsigned int k = 0; k < d->nconsts; k++)
			if (!strcmp(d->consts[k].name, h->name))
				c = &d->consts[k];
		if (!c) {
			report("constant %s: not documented\n", h->name);
			bad++;
		} else if (c->value != h->value) {
			report("constant %s (line %u): doc 0x%llx, header 0x%llx\n",
				h->name, c->line, c->value, h->value);
			bad++;
		}
	}
	for (unsigned int k = 0; k < d->nconsts; k++) {
		bool found = false;

		for (size_t i = 0; i < N_HEADER_CONSTS; i++)
			if (!strcmp(d->consts[k].name, header_consts[i].name))
				found = true;
		if (!found) {
			report("line %u: constant %s is not in the header\n",
				d->consts[k].line, d->consts[k].name);
			bad++;
		}
	}
	return bad;
}

static unsigned int check_doc_text(const char *text, struct doc *d)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	ck_assert_ptr_nonnull(f);
	doc_parse(d, f);
	fclose(f);
	return d->errors;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static const char *doc_path;
static struct doc the_doc;

static void load_doc(void)
{
	FILE *f;

	ck_assert_msg(doc_path != NULL,
		      "no path to docs/protocol.md (argv[1] or VA_PROTOCOL_MD)");
	f = fopen(doc_path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", doc_path);
	doc_parse(&the_doc, f);
	fclose(f);
}

START_TEST(test_doc_parses)
{
	load_doc();
	ck_assert_uint_eq(the_doc.errors, 0);
	ck_assert_uint_ge(the_doc.nstructs, N_HEADER_STRUCTS);
	ck_assert_uint_ge(the_doc.nconsts, N_HEADER_CONSTS);
}
END_TEST

START_TEST(test_struct_layouts)
{
	load_doc();
	ck_assert_uint_eq(compare_structs(&the_doc), 0);
}
END_TEST

START_TEST(test_constants)
{
	load_doc();
	ck_assert_uint_eq(compare_consts(&the_doc), 0);
}
END_TEST

/* The header's own invariants that the document states in prose. */
START_TEST(test_header_invariants)
{
	ck_assert_uint_eq(VA_ARGO_MSG_TYPE, 0x76610001u);
	ck_assert_uint_eq(VA_ARGO_TYPE_MAGIC(VA_ARGO_MSG_TYPE), VA_ARGO_MAGIC);
	ck_assert_uint_eq(VA_ARGO_TYPE_VERSION(VA_ARGO_MSG_TYPE), 1);
	ck_assert_uint_eq(VA_RECORD_SPAN(0), 16);
	ck_assert_uint_eq(VA_RECORD_SPAN(1), 24);
	ck_assert_uint_eq(VA_RECORD_SPAN(8), 24);
	ck_assert_uint_eq(VA_RECORD_SPAN(0xffffffffull), 16 + 0x100000000ull);
	for (size_t i = 0; i < N_HEADER_STRUCTS; i++)
		ck_assert_msg(header_structs[i].size % VA_RECORD_ALIGN == 0,
			      "%s not a multiple of 8", header_structs[i].name);
}
END_TEST

/*
 * protocol.h depends on no header, so the virtio values the wire carries
 * (status bits, VERSION_1) are written there; they must be virtio's own,
 * as Linux's uapi header has them.
 */
START_TEST(test_virtio_values)
{
	ck_assert_uint_eq(VA_STATUS_ACKNOWLEDGE, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	ck_assert_uint_eq(VA_STATUS_DRIVER, VIRTIO_CONFIG_S_DRIVER);
	ck_assert_uint_eq(VA_STATUS_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert_uint_eq(VA_STATUS_FEATURES_OK, VIRTIO_CONFIG_S_FEATURES_OK);
	ck_assert_uint_eq(VA_STATUS_NEEDS_RESET, VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_uint_eq(VA_STATUS_FAILED, VIRTIO_CONFIG_S_FAILED);
	ck_assert_uint_eq(VA_F_VERSION_1_BIT, VIRTIO_F_VERSION_1);
}
END_TEST

/* The checker itself must notice a disagreement: feed it wrong tables. */
START_TEST(test_checker_detects_mismatch)
{
	static const char wrong_offset[] =
		"#### struct va_error (8 bytes)\n"
		"\n"
		"| Field | Offset | Size | Meaning |\n"
		"|---|---|---|---|\n"
		"| `error` | 0 | 4 | code |\n"
		"| `detail` | 2 | 4 | detail |\n"
		"\n"
		"| `VA_ERR_BUSY` | 7 | wrong value |\n";
	static const char extra_field[] =
		"#### struct va_status (8 bytes)\n"
		"| Field | Offset | Size |\n"
		"|---|---|---|\n"
		"| `status` | 0 | 4 |\n"
		"| `reserved` | 4 | 4 |\n"
		"| `bogus` | 8 | 4 |\n";
	static const char bad_table[] =
		"#### struct va_status (8 bytes)\n"
		"| Offset | Field | Size |\n"
		"|---|---|---|\n";
	static struct doc d;
	const struct doc_struct *s;

	quiet = true;

	ck_assert_uint_eq(check_doc_text(wrong_offset, &d), 0);
	s = doc_find_struct(&d, "va_error");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->nfields, 2);
	/* 1 wrong offset + 11 missing structs (va_error is present). */
	ck_assert_uint_eq(compare_structs(&d), 1 + N_HEADER_STRUCTS - 1);
	/* 1 wrong value + every other constant missing. */
	ck_assert_uint_eq(compare_consts(&d), 1 + N_HEADER_CONSTS - 1);

	ck_assert_uint_eq(check_doc_text(extra_field, &d), 0);
	/* field count differs, bogus is unknown, other structs missing */
	ck_assert_uint_eq(compare_structs(&d), 2 + N_HEADER_STRUCTS - 1);

	ck_assert_uint_gt(check_doc_text(bad_table, &d), 0);
	quiet = false;
}
END_TEST

static Suite *protocol_suite(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc = tcase_create("doc-vs-header");

	tcase_add_test(tc, test_header_invariants);
	tcase_add_test(tc, test_virtio_values);
	tcase_add_test(tc, test_checker_detects_mismatch);
	tcase_add_test(tc, test_doc_parses);
	tcase_add_test(tc, test_struct_layouts);
	tcase_add_test(tc, test_constants);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	doc_path = argc > 1 ? argv[1] : getenv("VA_PROTOCOL_MD");
	sr = srunner_create(protocol_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
