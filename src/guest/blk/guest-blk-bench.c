/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest blk bench: a small fio-like load generator that drives
 * a virtio-blk device through libva-guest directly (no kernel, no FUSE)
 * and prints one JSON object: IOPS, MB/s and latency percentiles.
 *
 *   virtio-argo-guest blk bench --rw randread --bs 4k --iodepth 32 --runtime 10
 *
 * `iodepth` requests are kept in flight (spread over the queues); each
 * completion records its latency in a log-linear histogram (32 buckets
 * per power of two, so percentiles are within about 3%) and submits the
 * next request until the runtime is over.  Requests that fail (error
 * status, short answer, transport error) are counted as errors, and a
 * run with errors exits 1.
 *
 * Test aids: --inject-bad N replaces every N-th request with a malformed
 * one (out of range, unaligned, unknown type, short GET_ID buffer, ...)
 * that must be answered with exactly the right status while the valid
 * load goes on; --expect-ioerr inverts the check for every request (a
 * read-only device refusing writes).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guest-blk.h"
#include "guest-tool.h"

#define HIST_SUB_BITS	5
#define HIST_SUB	(1u << HIST_SUB_BITS)
#define HIST_N		(64u * HIST_SUB)
#define BENCH_MAX_DEPTH	4096u

struct bench;

/* Malformed requests for --inject-bad, and the status each must get. */
enum { BAD_NONE = -1 };

struct bad_req {
	const char *what;
	uint32_t type;
	int sector_from_end;		/* sector = capacity - this (if >= 0) */
	uint64_t sector;		/* else this */
	uint32_t len;			/* data bytes */
	uint8_t status;
};

static const struct bad_req bad_reqs[] = {
	{ "read past the end", VIRTIO_BLK_T_IN, 0, 0, 512, 1 },
	{ "write across the end", VIRTIO_BLK_T_OUT, 1, 0, 1024, 1 },
	{ "read at sector 2^64-1", VIRTIO_BLK_T_IN, -1, UINT64_MAX, 512, 1 },
	{ "write at a wrapping sector", VIRTIO_BLK_T_OUT, -1, UINT64_MAX / 512 + 1, 512, 1 },
	{ "unaligned read length", VIRTIO_BLK_T_IN, -1, 0, 100, 1 },
	{ "unaligned write length", VIRTIO_BLK_T_OUT, -1, 0, 700, 1 },
	{ "unknown type 99", 99, -1, 0, 0, 2 },
	{ "GET_LIFETIME (not offered)", 10, -1, 0, 48, 2 },
	{ "GET_ID with 10 bytes", VIRTIO_BLK_T_GET_ID, -1, 0, 10, 1 },
};
#define N_BAD (sizeof(bad_reqs) / sizeof(bad_reqs[0]))

struct slot {
	struct bench *b;
	uint8_t *buf;
	int bad;			/* index into bad_reqs, or BAD_NONE */
	uint8_t status;
	uint16_t queue;
	uint64_t start_ns;
	uint64_t sector;
	bool busy;
};

struct bench {
	struct gblk gb;
	bool write;
	bool random;
	uint32_t bs;
	unsigned int iodepth;
	uint64_t runtime_ns;
	uint64_t region;		/* sectors used, from 0 */
	uint64_t seq_next;		/* sectors */
	uint64_t rng;
	uint64_t end_ns;
	struct slot *slots;
	unsigned int busy;
	uint64_t ios;
	uint64_t errors;
	uint64_t lat_sum;
	uint64_t lat_max;
	uint64_t hist[HIST_N];
	unsigned int inject_bad;	/* every N-th request, 0: never */
	uint64_t submitted;
	uint64_t bad_ok;
	bool expect_ioerr;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned int hist_index(uint64_t v)
{
	unsigned int msb, shift;

	if (v < HIST_SUB)
		return (unsigned int)v;
	msb = 63u - (unsigned int)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned int)((v >> shift) & (HIST_SUB - 1));
}

/* Upper bound of a bucket's values. */
static uint64_t hist_value(unsigned int idx)
{
	unsigned int shift;

	if (idx < 2 * HIST_SUB)
		return idx;
	shift = idx / HIST_SUB - 1;
	return ((uint64_t)(idx % HIST_SUB + HIST_SUB + 1) << shift) - 1;
}

static uint64_t percentile(const struct bench *b, double p)
{
	uint64_t want = (uint64_t)((double)b->ios * p / 100.0);
	uint64_t seen = 0;
	unsigned int i;

	if (want >= b->ios && b->ios)
		want = b->ios - 1;
	for (i = 0; i < HIST_N; i++) {
		seen += b->hist[i];
		if (seen > want)
			return hist_value(i);
	}
	return b->lat_max;
}

static uint64_t next_rand(struct bench *b)
{
	/* xorshift64* */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t next_sector(struct bench *b)
{
	uint64_t per = b->bs / 512, blocks = b->region / per, s;

	if (b->random)
		return next_rand(b) % blocks * per;
	s = b->seq_next;
	b->seq_next += per;
	if (b->seq_next + per > blocks * per)
		b->seq_next = 0;
	return s;
}

static void on_done(struct va_guest *g, uint32_t id, int result, void *opaque);

static int submit(struct slot *s)
{
	struct bench *b = s->b;
	uint32_t type = b->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, len = b->bs;
	int64_t r;

	s->sector = next_sector(b);
	s->bad = BAD_NONE;
	b->submitted++;
	if (b->inject_bad && b->submitted % b->inject_bad == 0) {
		const struct bad_req *br;

		s->bad = (int)((b->submitted / b->inject_bad) % N_BAD);
		br = &bad_reqs[s->bad];
		type = br->type;
		len = br->len;
		s->sector = br->sector_from_end >= 0 ?
			    b->gb.capacity - (uint64_t)br->sector_from_end :
			    br->sector;
	}
	s->start_ns = now_ns();
	r = gblk_submit(&b->gb, s->queue, type, s->sector, s->buf, len,
			&s->status, on_done, s);
	if (r < 0) {
		fprintf(stderr, "virtio-argo-guest: submit: %s\n",
			strerror((int)-r));
		b->errors++;
		return (int)r;
	}
	s->busy = true;
	b->busy++;
	return 0;
}

static void on_done(struct va_guest *g, uint32_t id, int result, void *opaque)
{
	struct slot *s = opaque;
	struct bench *b = s->b;
	uint64_t t = now_ns(), lat = t - s->start_ns;
	int expect = b->write ? 1 : (int)b->bs + 1;

	s->busy = false;
	b->busy--;
	if (s->bad != BAD_NONE) {
		const struct bad_req *br = &bad_reqs[s->bad];

		if (result != (int)(br->type == VIRTIO_BLK_T_OUT ? 1 : br->len + 1) ||
		    s->status != br->status) {
			b->errors++;
			fprintf(stderr, "virtio-argo-guest: bad request '%s': "
				"result %d status %u, expected status %u\n",
				br->what, result, s->status, br->status);
		} else {
			b->bad_ok++;
		}
	} else if (b->expect_ioerr) {
		if (result != expect || s->status != 1) {
			b->errors++;
			if (b->errors <= 5)
				fprintf(stderr, "virtio-argo-guest: request at "
					"sector %llu: result %d status %u, "
					"expected IOERR\n",
					(unsigned long long)s->sector, result,
					s->status);
		} else {
			b->ios++;
		}
	} else if (result != expect || s->status != VIRTIO_BLK_S_OK) {
		b->errors++;
		if (b->errors <= 5)
			fprintf(stderr, "virtio-argo-guest: request at sector %llu "
				"failed (result %d, status %u)\n",
				(unsigned long long)s->sector, result, s->status);
	} else {
		b->ios++;
		b->lat_sum += lat;
		if (lat > b->lat_max)
			b->lat_max = lat;
		b->hist[hist_index(lat)]++;
	}
	if (t < b->end_ns && (b->errors == 0 || b->expect_ioerr))
		submit(s);
}

static const char bench_usage[] =
"Usage: virtio-argo-guest blk bench [options]\n"
"Drive the virtio-blk device directly and print JSON results.\n"
"\n"
"  --rw MODE             read, write, randread (default), randwrite\n"
"  --bs SIZE             block size per request (default 4k)\n"
"  --iodepth N           requests in flight (default 1)\n"
"  --runtime SECONDS     duration (default 10)\n"
"  --size SIZE           use only the first SIZE bytes of the device\n"
"  --queues N            virtqueues to spread the load over (default: all)\n"
"  --inject-bad N        make every N-th request a malformed one and check\n"
"                        that it gets the right status (a test aid)\n"
"  --expect-ioerr        every request must fail with IOERR (read-only test)\n"
"  --help\n";

enum {
	OPT_RW = 1, OPT_BS, OPT_IODEPTH, OPT_RUNTIME, OPT_SIZE, OPT_QUEUES,
	OPT_INJECT_BAD, OPT_EXPECT_IOERR, OPT_HELP,
};

static const struct option bench_opts[] = {
	{ "rw", required_argument, NULL, OPT_RW },
	{ "bs", required_argument, NULL, OPT_BS },
	{ "iodepth", required_argument, NULL, OPT_IODEPTH },
	{ "runtime", required_argument, NULL, OPT_RUNTIME },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "inject-bad", required_argument, NULL, OPT_INJECT_BAD },
	{ "expect-ioerr", no_argument, NULL, OPT_EXPECT_IOERR },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void print_json(const struct bench *b, const char *rw, double secs)
{
	double iops = secs > 0 ? (double)b->ios / secs : 0;
	double mbs = iops * b->bs / 1e6;
	double mean = b->ios ? (double)b->lat_sum / (double)b->ios / 1e3 : 0;

	printf("{\"iops\": %.1f, \"mb_s\": %.2f, \"rw\": \"%s\", \"bs\": %u, "
	       "\"iodepth\": %u, \"runtime_s\": %.3f, \"ios\": %llu, "
	       "\"errors\": %llu, \"bad_ok\": %llu, \"engine\": \"virtio-argo\", "
	       "\"lat_us\": {\"mean\": %.2f, \"p50\": %.2f, \"p90\": %.2f, "
	       "\"p99\": %.2f, \"p99.9\": %.2f, \"max\": %.2f}}\n",
	       iops, mbs, rw, b->bs, b->iodepth, secs,
	       (unsigned long long)b->ios, (unsigned long long)b->errors,
	       (unsigned long long)b->bad_ok, mean,
	       (double)percentile(b, 50) / 1e3, (double)percentile(b, 90) / 1e3,
	       (double)percentile(b, 99) / 1e3, (double)percentile(b, 99.9) / 1e3,
	       (double)b->lat_max / 1e3);
}

/* What bench's options say beyond struct bench. */
struct bench_args {
	const char *rw;
	uint64_t size;			/* 0: the whole device */
	uint16_t queues;		/* 0: all */
};

/* --runtime: seconds, a fraction allowed, an "s" suffix too. */
static int parse_runtime(const char *arg, uint64_t *ret_ns)
{
	char *end;
	double secs = strtod(arg, &end);

	if (end == arg || (*end && strcmp(end, "s")) || !(secs > 0) ||
	    secs > 86400)
		return -1;
	*ret_ns = (uint64_t)(secs * 1e9);
	return 0;
}

/* 0: run; 1: --help printed; -1: bad usage (said why). */
static int bench_parse(struct bench *b, struct bench_args *a, int argc,
		       char **argv)
{
	uint64_t v;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", bench_opts, NULL)) != -1) {
		switch (c) {
		case OPT_RW:
			a->rw = optarg;
			if (strcmp(a->rw, "read") && strcmp(a->rw, "write") &&
			    strcmp(a->rw, "randread") && strcmp(a->rw, "randwrite")) {
				fprintf(stderr, "virtio-argo-guest: bad --rw '%s'\n", a->rw);
				return -1;
			}
			break;
		case OPT_BS:
			if (gblk_parse_size(optarg, &v) < 0 || v < 512 ||
			    v > 16u * 1024 * 1024 || v % 512) {
				fprintf(stderr, "virtio-argo-guest: bad --bs '%s'\n",
					optarg);
				return -1;
			}
			b->bs = (uint32_t)v;
			break;
		case OPT_IODEPTH:
			if (gblk_parse_size(optarg, &v) < 0 || v < 1 ||
			    v > BENCH_MAX_DEPTH) {
				fprintf(stderr, "virtio-argo-guest: bad --iodepth '%s'\n",
					optarg);
				return -1;
			}
			b->iodepth = (unsigned int)v;
			break;
		case OPT_RUNTIME:
			if (parse_runtime(optarg, &b->runtime_ns) < 0) {
				fprintf(stderr, "virtio-argo-guest: bad --runtime '%s'\n",
					optarg);
				return -1;
			}
			break;
		case OPT_SIZE:
			if (gblk_parse_size(optarg, &a->size) < 0 || a->size < 512) {
				fprintf(stderr, "virtio-argo-guest: bad --size '%s'\n",
					optarg);
				return -1;
			}
			break;
		case OPT_QUEUES:
			if (gblk_parse_size(optarg, &v) < 0 || v < 1 ||
			    v > VA_MAX_QUEUES) {
				fprintf(stderr, "virtio-argo-guest: bad --queues '%s'\n",
					optarg);
				return -1;
			}
			a->queues = (uint16_t)v;
			break;
		case OPT_INJECT_BAD:
			if (gblk_parse_size(optarg, &v) < 0 || v < 1 ||
			    v > UINT32_MAX) {
				fprintf(stderr, "virtio-argo-guest: bad --inject-bad '%s'\n",
					optarg);
				return -1;
			}
			b->inject_bad = (unsigned int)v;
			break;
		case OPT_EXPECT_IOERR:
			b->expect_ioerr = true;
			break;
		case OPT_HELP:
			fputs(bench_usage, stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "virtio-argo-guest: unexpected '%s'\n", argv[optind]);
		return -1;
	}
	b->write = !strcmp(a->rw, "write") || !strcmp(a->rw, "randwrite");
	b->random = !strncmp(a->rw, "rand", 4);
	return 0;
}

/* Checks bs and the region against the open device, fills the slots. */
static int bench_setup(struct bench *b, uint64_t size)
{
	uint16_t nq;
	unsigned int i;

	if (b->bs % b->gb.block_size || b->bs > b->gb.max_data) {
		fprintf(stderr, "virtio-argo-guest: --bs %u must be a multiple of "
			"the block size %u and at most %u\n", b->bs,
			b->gb.block_size, b->gb.max_data);
		return -1;
	}
	if (b->write && b->gb.readonly && !b->expect_ioerr) {
		fprintf(stderr, "virtio-argo-guest: the device is read-only\n");
		return -1;
	}
	b->region = b->gb.capacity;
	if (size && size / 512 < b->region)
		b->region = size / 512;
	if (b->region < b->bs / 512) {
		fprintf(stderr, "virtio-argo-guest: the device is smaller than --bs\n");
		return -1;
	}
	/*
	 * The library copies each request's out bytes into a block of its
	 * own, freed at the answer: keep those blocks on the heap (no mmap or
	 * heap trimming per request), as a kernel driver's preallocated
	 * buffers would be.  Bounded by iodepth * bs.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	b->rng = now_ns() | 1;
	b->slots = calloc(b->iodepth, sizeof(*b->slots));
	if (!b->slots)
		return -1;
	nq = va_guest_num_queues(b->gb.g);
	for (i = 0; i < b->iodepth; i++) {
		struct slot *s = &b->slots[i];

		s->b = b;
		s->queue = (uint16_t)(nq ? i % nq : 0);
		/* At least 4 KiB: also the buffer of injected bad requests. */
		if (posix_memalign((void **)&s->buf, 4096,
				   b->bs > 4096 ? b->bs : 4096))
			return -1;
		memset(s->buf, (int)(0xa5 ^ i), b->bs);
	}
	return 0;
}

/* Keeps iodepth requests in flight until b->end_ns. */
static void bench_run(struct bench *b)
{
	unsigned int i;
	int r;

	for (i = 0; i < b->iodepth; i++)
		if (submit(&b->slots[i]) < 0)
			break;
	va_guest_flush(b->gb.g);
	while (b->busy) {
		r = va_guest_run(b->gb.g, 100);
		if (r == -EIO) {
			fprintf(stderr, "virtio-argo-guest: the device broke\n");
			b->errors++;
			break;
		}
		va_guest_flush(b->gb.g);
		if (now_ns() > b->end_ns + 30ull * 1000000000ull) {
			fprintf(stderr, "virtio-argo-guest: %u requests did not "
				"complete\n", b->busy);
			b->errors++;
			break;
		}
	}
}

int guest_blk_bench(struct guest_ctx *ctx, int argc, char **argv)
{
	struct bench_args a = { .rw = "randread" };
	struct bench *b = calloc(1, sizeof(*b));
	uint64_t start;
	unsigned int i;
	int rc = 1;

	if (!b)
		return 1;
	b->bs = 4096;
	b->iodepth = 1;
	b->runtime_ns = 10ull * 1000000000ull;
	switch (bench_parse(b, &a, argc, argv)) {
	case 0:
		break;
	case 1:
		free(b);
		return 0;
	default:
		fputs("Try 'virtio-argo-guest blk bench --help'.\n", stderr);
		free(b);
		return 2;
	}
	if (gblk_open(ctx, a.queues, &b->gb) < 0)
		goto out_free;
	if (bench_setup(b, a.size) < 0)
		goto out;
	start = now_ns();
	b->end_ns = start + b->runtime_ns;
	bench_run(b);
	print_json(b, a.rw, (double)(now_ns() - start) / 1e9);
	rc = b->errors || (b->inject_bad && !b->bad_ok) ? 1 : 0;
out:
	gblk_close(&b->gb);
out_free:
	if (b->slots)
		for (i = 0; i < b->iodepth; i++)
			free(b->slots[i].buf);
	free(b->slots);
	free(b);
	return rc;
}
