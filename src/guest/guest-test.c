/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest test-echo: drives the test device (virtio-argo-testd,
 * device id 0x7f00) whose queue 0 echoes the device-readable bytes back
 * and queue 1 returns them XORed with 0xa5 (--queue 1).
 * It keeps up to --qd requests in flight until --count have completed and
 * checks every answer: the length always, the bytes with --verify.  Any
 * error reply, mismatch, or a request that never completes (no progress
 * for --timeout seconds) makes it fail.  A backend restart in the middle
 * is handled by libva-guest (renegotiation and replay), so the run still
 * passes; the summary line says how many requests were replayed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-tool.h"
#include "log.h"

#define ECHO_QUEUE_DEFAULT	0
#define ECHO_QUEUE_TRANSFORM	1	/* answers out XOR 0xa5 */
#define ECHO_TRANSFORM_XOR	0xa5u
#define ECHO_MAX_QD		4096u

struct echo_slot {
	uint64_t seq;			/* which request this slot carries */
	bool busy;
	uint8_t *buf;			/* in buffer, size bytes */
};

struct echo {
	struct va_guest *g;
	uint64_t count, submitted, done, ok, errors, mismatches;
	uint32_t size;
	uint32_t qd;
	uint16_t queue;
	bool verify;
	uint64_t progress;		/* print a line every this many (0: never) */
	uint64_t interval_ms;		/* submit one request per interval */
	struct va_loop *loop;		/* --loop: driven by a va_loop */
	bool looping;			/* inside va_loop_run */
	uint64_t stall_ms;
	uint8_t *out;			/* scratch for the pattern */
	struct echo_slot *slots;
	uint64_t last_progress;
};

/* Deterministic bytes of request `seq`: different for every request. */
static void pattern(uint64_t seq, uint8_t *p, uint32_t n)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if ((i & 7) == 0)
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[i] = (uint8_t)(x >> (8 * (i & 7)));
	}
}

static int submit_one(struct echo *e, struct echo_slot *s);
static int submit_round(struct echo *e);

/* --loop: keep the slot busy from the completion callback; stop the loop
 * when everything is done (after this callback's checks have run). */
static void echo_loop_next(struct echo *e, struct echo_slot *s)
{
	if (e->submitted < e->count && submit_one(e, s) < 0)
		va_loop_quit(e->loop, 1);
	if (e->done == e->count)
		va_loop_quit(e->loop, 0);
}

static void echo_loop_watchdog(struct va_loop *loop, void *opaque)
{
	struct echo *e = opaque;

	if (va_now_ms() - e->last_progress > e->stall_ms) {
		fprintf(stderr, "test-echo: no progress (%" PRIu64 " of %" PRIu64
			" done)\n", e->done, e->count);
		va_loop_quit(loop, 1);
		return;
	}
	if (va_loop_add_timer(loop, 200, echo_loop_watchdog, e, NULL) < 0)
		va_loop_quit(loop, 1);
}

/* The same run driven by a va_loop (va_guest_attach_loop). */
static int echo_run_loop(struct echo *e)
{
	int r;

	r = va_loop_new(&e->loop);
	if (r < 0)
		return r;
	r = va_guest_attach_loop(e->g, e->loop);
	if (r >= 0)
		r = va_loop_add_timer(e->loop, 200, echo_loop_watchdog, e, NULL);
	if (r >= 0)
		r = submit_round(e);
	if (r >= 0 && e->done < e->count) {
		e->looping = true;
		r = va_loop_run(e->loop) ? -EIO : 0;
		e->looping = false;
	}
	return r;
}

/* Report the first few failures only. */
#define ECHO_MAX_REPORTS	10

static void echo_report(struct echo *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void echo_report(struct echo *e, const char *fmt, ...)
{
	va_list ap;

	if (e->errors + e->mismatches > ECHO_MAX_REPORTS)
		return;
	va_start(ap, fmt);
	fputs("test-echo: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Check one answer; true if it is right. */
static bool echo_check(struct echo *e, struct echo_slot *s, uint32_t id,
		       int result)
{
	uint32_t i;

	if (result < 0) {
		e->errors++;
		echo_report(e, "request %" PRIu64 " (id %#x): %s", s->seq, id,
			    strerror(-result));
		return false;
	}
	if ((uint32_t)result != e->size) {
		e->mismatches++;
		echo_report(e, "request %" PRIu64 ": %d bytes back, expected %u",
			    s->seq, result, e->size);
		return false;
	}
	if (!e->verify)
		return true;
	pattern(s->seq, e->out, e->size);
	if (e->queue == ECHO_QUEUE_TRANSFORM)
		for (i = 0; i < e->size; i++)
			e->out[i] ^= ECHO_TRANSFORM_XOR;
	if (memcmp(e->out, s->buf, e->size)) {
		e->mismatches++;
		echo_report(e, "request %" PRIu64 ": wrong bytes", s->seq);
		return false;
	}
	return true;
}

static void echo_done(struct va_guest *g, uint32_t id, int result,
		      void *opaque)
{
	struct echo_slot *s = opaque;
	struct echo *e = va_guest_user(g);

	s->busy = false;
	e->done++;
	e->last_progress = va_now_ms();
	if (echo_check(e, s, id, result)) {
		e->ok++;
		if (e->progress && e->ok % e->progress == 0) {
			printf("test-echo: progress %" PRIu64 "\n", e->ok);
			fflush(stdout);
		}
	}
	if (e->looping)
		echo_loop_next(e, s);
}

static int submit_one(struct echo *e, struct echo_slot *s)
{
	struct iovec out = { .iov_base = e->out, .iov_len = e->size };
	struct iovec in = { .iov_base = s->buf, .iov_len = e->size };
	int64_t id;

	s->seq = e->submitted;
	pattern(s->seq, e->out, e->size);
	memset(s->buf, 0, e->size);
	id = va_guest_submit(e->g, e->queue, &out, 1, &in, 1, echo_done, s);
	if (id < 0)
		return (int)id;
	s->busy = true;
	e->submitted++;
	return 0;
}

/* Fill the free slots (up to --count); with --interval-ms only one. */
static int submit_round(struct echo *e)
{
	uint32_t i, n = 0;
	int r;

	for (i = 0; i < e->qd && e->submitted < e->count; i++) {
		if (e->slots[i].busy)
			continue;
		if (e->interval_ms && n++)
			break;
		r = submit_one(e, &e->slots[i]);
		if (r == -ENOSPC)
			return 0;
		if (r < 0)
			return r;
	}
	return 0;
}

static void echo_usage(FILE *f)
{
	fprintf(f, "Usage: virtio-argo-guest [OPTIONS] test-echo --count N "
		   "--size S --qd Q [--queue I] [--verify] [--progress N]\n"
		   "       [--interval-ms MS] [--loop]\n");
}

static const struct option echo_opts[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "size", required_argument, NULL, 's' },
	{ "qd", required_argument, NULL, 'q' },
	{ "queue", required_argument, NULL, 'Q' },
	{ "verify", no_argument, NULL, 'V' },
	{ "progress", required_argument, NULL, 'P' },
	{ "interval-ms", required_argument, NULL, 'I' },
	{ "loop", no_argument, NULL, 'L' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* 0: run; 1: --help printed; -1: bad usage. */
static int echo_parse(struct echo *e, bool *use_loop, int argc, char **argv)
{
	unsigned long long v;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "n:s:q:Q:P:I:LVh", echo_opts,
				NULL)) != -1) {
		if (c == 'h') {
			echo_usage(stdout);
			return 1;
		}
		if (c == 'V') {
			e->verify = true;
			continue;
		}
		if (c == 'L') {
			*use_loop = true;
			continue;
		}
		if (c == '?' || !optarg)
			return -1;
		errno = 0;
		v = strtoull(optarg, &end, 0);
		if (errno || end == optarg || *end)
			return -1;
		if (c == 'n')
			e->count = v;
		else if (c == 's' && v >= 1 && v <= VA_RING_LEN_MAX)
			e->size = (uint32_t)v;
		else if (c == 'q' && v >= 1 && v <= ECHO_MAX_QD)
			e->qd = (uint32_t)v;
		else if (c == 'P')
			e->progress = v;
		else if (c == 'I' && v <= 60000)
			e->interval_ms = v;
		else if (c == 'Q' && v < VA_MAX_QUEUES)
			e->queue = (uint16_t)v;
		else
			return -1;
	}
	return optind != argc ? -1 : 0;
}

/* Fits the queue depth and size to the open device, allocates buffers. */
static int echo_setup(struct echo *e)
{
	uint32_t i;

	va_guest_set_user(e->g, e);
	if (va_guest_devinfo(e->g)->device_id != 0x7f00)
		fprintf(stderr, "test-echo: warning: device id %#x is not the "
			"test device\n", va_guest_devinfo(e->g)->device_id);
	if (e->queue >= va_guest_num_queues(e->g)) {
		fprintf(stderr, "test-echo: the device has no queue %u\n",
			e->queue);
		return -1;
	}
	if (e->qd > va_guest_queue_size(e->g, e->queue))
		e->qd = va_guest_queue_size(e->g, e->queue);
	if (e->size > va_guest_max_out(e->g, 1) ||
	    e->size > va_guest_max_in(e->g)) {
		fprintf(stderr, "test-echo: --size %u exceeds the device's "
			"limit %u\n", e->size, va_guest_max_out(e->g, 1));
		return -1;
	}
	e->out = malloc(e->size);
	e->slots = calloc(e->qd, sizeof(*e->slots));
	if (!e->out || !e->slots)
		return -1;
	for (i = 0; i < e->qd; i++) {
		e->slots[i].buf = malloc(e->size);
		if (!e->slots[i].buf)
			return -1;
	}
	return 0;
}

/* Rounds of requests every interval_ms over va_guest_run: the exit code. */
static int echo_run_poll(struct guest_ctx *ctx, struct echo *e,
			 uint64_t next_round)
{
	int r;

	while (e->done < e->count) {
		uint64_t now = va_now_ms();
		int wait = 200;

		if (now < next_round) {
			wait = (int)(next_round - now);
		} else {
			next_round = now + e->interval_ms;
			r = submit_round(e);
			if (r < 0) {
				guest_fail(ctx, r, "submit");
				return 1;
			}
			if (e->interval_ms)
				wait = (int)e->interval_ms;
		}
		r = va_guest_run(e->g, wait);
		if (r < 0) {
			guest_fail(ctx, r, "device");
			return 1;
		}
		if (va_now_ms() - e->last_progress > ctx->timeout_s * 1000ull) {
			fprintf(stderr, "test-echo: no progress for %u s "
				"(%" PRIu64 " of %" PRIu64 " done)\n",
				ctx->timeout_s, e->done, e->count);
			return 1;
		}
	}
	return e->ok == e->count && !e->errors && !e->mismatches ? 0 : 1;
}

/* Prints the one result line and frees everything. */
static void echo_finish(struct echo *e, int rc, uint64_t elapsed)
{
	struct va_guest_stats st;
	uint32_t i;

	va_guest_get_stats(e->g, &st);
	printf("test-echo: %s: %" PRIu64 "/%" PRIu64 " ok, %" PRIu64
	       " errors, %" PRIu64 " mismatches, size %u, qd %u, %" PRIu64
	       " ms, replayed %" PRIu64 ", renegotiations %" PRIu64
	       ", violations %" PRIu64 ", stray %" PRIu64
	       ", unmatched %" PRIu64 ", refused %" PRIu64 ", messages %" PRIu64 "/%" PRIu64 "\n",
	       rc ? "FAIL" : "PASS", e->ok, e->count, e->errors, e->mismatches,
	       e->size, e->qd, elapsed, st.replayed, st.renegotiations,
	       st.violations, st.dropped_stray, st.unmatched, st.refused,
	       st.messages_sent, st.messages_received);
	va_guest_free(e->g);
	va_loop_free(e->loop);
	if (e->slots)
		for (i = 0; i < e->qd; i++)
			free(e->slots[i].buf);
	free(e->slots);
	free(e->out);
}

int guest_mode_test_echo(struct guest_ctx *ctx, int argc, char **argv)
{
	struct echo e = { .count = 1000, .size = 512, .qd = 8,
			  .queue = ECHO_QUEUE_DEFAULT };
	uint64_t t0 = va_now_ms();
	bool use_loop = false;
	int r, rc = 1;

	r = echo_parse(&e, &use_loop, argc, argv);
	if (r) {
		if (r < 0)
			echo_usage(stderr);
		return r < 0 ? 2 : 0;
	}
	r = va_guest_open(&ctx->gopts, &e.g);
	if (r < 0)
		return guest_fail(ctx, r, "cannot probe the device");
	if (echo_setup(&e) < 0)
		goto out;

	t0 = va_now_ms();
	e.last_progress = t0;
	e.stall_ms = ctx->timeout_s * 1000ull;
	if (use_loop) {
		r = echo_run_loop(&e);
		if (r < 0)
			guest_fail(ctx, r, "loop");
		else
			rc = e.ok == e.count && !e.errors && !e.mismatches ? 0 : 1;
	} else {
		rc = echo_run_poll(ctx, &e, t0);
	}
out:
	echo_finish(&e, rc, va_now_ms() - t0);
	return rc;
}
