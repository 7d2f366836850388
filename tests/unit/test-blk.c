/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-argo-blkd's request handling (src/devices/blk/blk.c)
 * without Argo: crafted va_req structs go to blk_request() on a temporary
 * image file, through the real io_uring (and aio) engine; completions are
 * caught with blk_set_complete().  Every bad request must be answered with
 * the right status and leave the image untouched.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"
#include "log.h"
#include "util.h"

#define CFG_OFF(field)	((uint32_t)offsetof(struct virtio_blk_config, field))

#define IMG_SIZE	(4u * 1024 * 1024)
#define IMG_SECTORS	(IMG_SIZE / 512)

static char img_path[64];
static struct blk *blk;

struct done_rec {
	struct va_req *req;
	uint32_t written;
};
static struct done_rec done[64];
static unsigned int ndone;

static void on_complete(struct va_req *req, uint32_t written)
{
	ck_assert_uint_lt(ndone, 64);
	ck_assert_uint_le(written, req->in_len);
	done[ndone].req = req;
	done[ndone].written = written;
	ndone++;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

static void make_image(uint32_t size)
{
	uint8_t *buf = malloc(size);
	uint32_t i;
	int fd;

	strcpy(img_path, "/tmp/test-blk-XXXXXX");
	fd = mkstemp(img_path);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < size; i++)
		buf[i] = pattern(i);
	ck_assert_int_eq(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static struct blk_opts default_opts(void)
{
	struct blk_opts o = {
		.image = img_path,
		.serial = "serial-0123456789abcdefXYZ",
		.cache = BLK_CACHE_WRITEBACK,
		.queues = 1,
		.queue_size = 64,
		.engine = BLK_ENGINE_IO_URING,
		.engine_forced = true,
		.ring_len = VA_RING_LEN_DEFAULT,
	};
	return o;
}

static const uint64_t all_features =
	1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_DISCARD |
	1ull << VIRTIO_BLK_F_WRITE_ZEROES | 1ull << VIRTIO_BLK_F_CONFIG_WCE |
	1ull << VA_F_VERSION_1_BIT;

static void open_blk(const struct blk_opts *o)
{
	ck_assert_int_eq(blk_new(o, &blk), 0);
	blk_set_complete(blk, on_complete);
	blk_set_features(blk, all_features);
}

static void setup(void)
{
	struct blk_opts o = default_opts();

	make_image(IMG_SIZE);
	ndone = 0;
	open_blk(&o);
}

static void teardown(void)
{
	blk_free(blk);
	blk = NULL;
	unlink(img_path);
}

/* A request as the core would hand it over. */
static struct va_req *mkreq(uint32_t type, uint64_t sector, const void *data,
			    uint32_t data_len, uint32_t in_len)
{
	struct va_req *req = calloc(1, sizeof(*req));
	uint8_t *out = malloc(16 + data_len);

	va_put_le32(out + offsetof(struct virtio_blk_outhdr, type), type);
	va_put_le32(out + offsetof(struct virtio_blk_outhdr, ioprio), 0);
	va_put_le64(out + offsetof(struct virtio_blk_outhdr, sector), sector);
	if (data_len)
		memcpy(out + 16, data, data_len);
	req->out = out;
	req->out_len = 16 + data_len;
	req->in = malloc(in_len ? in_len : 1);
	memset(req->in, 0xaa, in_len ? in_len : 1);
	req->in_len = in_len;
	req->id = 1;
	return req;
}

static void freereq(struct va_req *req)
{
	free((void *)req->out);
	free(req->in);
	free(req);
}

/* Submit, wait for the answer; returns the status byte (or -1 when no
 * status could be written). */
static int run(struct va_req *req)
{
	unsigned int before = ndone;
	int tries = 0;

	blk_request(blk, req);
	blk_kick(blk);
	while (ndone == before && tries++ < 100)
		blk_poll(blk, 100);
	ck_assert_uint_eq(ndone, before + 1);
	ck_assert_ptr_eq(done[before].req, req);
	if (req->in_len == 0) {
		ck_assert_uint_eq(done[before].written, 0);
		return -1;
	}
	ck_assert_uint_eq(done[before].written, req->in_len);
	return req->in[req->in_len - 1];
}

static int do_rw(uint32_t type, uint64_t sector, const void *data,
		 uint32_t len, uint8_t *ret_data)
{
	struct va_req *req = type == VIRTIO_BLK_T_IN ?
			     mkreq(type, sector, NULL, 0, len + 1) :
			     mkreq(type, sector, data, len, 1);
	int st = run(req);

	if (ret_data)
		memcpy(ret_data, req->in, len);
	freereq(req);
	return st;
}

static uint32_t image_sum(void)
{
	uint8_t buf[4096];
	uint32_t sum = 0;
	ssize_t n;
	int fd = open(img_path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			sum = sum * 31 + buf[i];
	close(fd);
	return sum;
}

/* One segment of DISCARD / WRITE_ZEROES. */
static void put_seg(uint8_t *p, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
		.sector = va_cpu_to_le64(sector),
		.num_sectors = va_cpu_to_le32(num),
		.flags = va_cpu_to_le32(flags),
	};

	memcpy(p, &seg, sizeof(seg));
}

/* The config space as blk gives it to the core. */
static void read_cfg(uint8_t *cfg)
{
	memset(cfg, 0xee, BLK_CONFIG_SIZE);
	blk_get_config(blk, cfg);
}

static int do_segs(uint32_t type, const uint8_t *segs, uint32_t len)
{
	struct va_req *req = mkreq(type, 0, segs, len, 1);
	int st = run(req);

	freereq(req);
	return st;
}

/* ---------------------------------------------------------------- */

START_TEST(read_ok)
{
	uint8_t buf[8192];

	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 8, NULL, sizeof(buf), buf),
			 VIRTIO_BLK_S_OK);
	for (uint32_t i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], pattern(8 * 512 + i));
}
END_TEST

START_TEST(write_then_read)
{
	uint8_t w[4096], r[4096];

	memset(w, 0x5c, sizeof(w));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 16, w, sizeof(w), NULL),
			 VIRTIO_BLK_S_OK);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 16, NULL, sizeof(r), r),
			 VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(w, r, sizeof(w));
	/* Last sector of the device. */
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, w, 512, NULL),
			 VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(out_of_range)
{
	uint8_t w[1024];
	uint32_t sum = image_sum();

	memset(w, 1, sizeof(w));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, IMG_SECTORS, NULL, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, w, 1024, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, UINT64_MAX, w, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, UINT64_MAX / 512 + 1, w, 512,
			       NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, UINT64_MAX - 1, NULL, 1024, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(image_sum(), sum);
}
END_TEST

START_TEST(unaligned)
{
	uint8_t w[1000];
	uint32_t sum = image_sum();

	memset(w, 1, sizeof(w));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 0, w, 1000, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 0, NULL, 100, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(image_sum(), sum);
}
END_TEST

START_TEST(unaligned_4k)
{
	struct blk_opts o = default_opts();
	uint8_t w[4096], cfg[BLK_CONFIG_SIZE];
	uint32_t sum = image_sum();

	blk_free(blk);
	o.block_size = 4096;
	open_blk(&o);
	read_cfg(cfg);
	ck_assert_uint_eq(va_get_le32(cfg + CFG_OFF(blk_size)), 4096);
	memset(w, 1, sizeof(w));
	/* 4k-aligned length but sector 1 is not on a 4k boundary. */
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 1, w, 4096, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 8, w, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(image_sum(), sum);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 8, w, 4096, NULL),
			 VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(oversize)
{
	uint32_t max = blk_max_data(blk);
	uint8_t *w = calloc(1, max + 512);
	uint32_t sum = image_sum();

	ck_assert_uint_le(max, IMG_SIZE / 2);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 0, w, max + 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 0, NULL, max + 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(image_sum(), sum);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 0, NULL, max, NULL),
			 VIRTIO_BLK_S_OK);
	free(w);
}
END_TEST

START_TEST(unknown_type)
{
	struct va_req *req;

	req = mkreq(99, 0, NULL, 0, 1);
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_UNSUPP);
	freereq(req);
	req = mkreq(10, 0, NULL, 0, 49);	/* GET_LIFETIME: not offered */
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_UNSUPP);
	for (int i = 0; i < 48; i++)
		ck_assert_uint_eq(req->in[i], 0);
	freereq(req);
	req = mkreq(14, 0, NULL, 0, 1);		/* SECURE_ERASE */
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_UNSUPP);
	freereq(req);
}
END_TEST

START_TEST(malformed)
{
	struct va_req *req;
	uint8_t w[512] = { 0 };
	uint32_t sum = image_sum();

	/* header cut short */
	req = mkreq(VIRTIO_BLK_T_OUT, 0, NULL, 0, 1);
	req->out_len = 8;
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_IOERR);
	freereq(req);
	/* no room for a status byte: answered with nothing */
	req = mkreq(VIRTIO_BLK_T_OUT, 0, w, 512, 0);
	ck_assert_int_eq(run(req), -1);
	freereq(req);
	/* a read that carries data */
	req = mkreq(VIRTIO_BLK_T_IN, 0, w, 512, 513);
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_IOERR);
	freereq(req);
	/* a flush that carries data */
	req = mkreq(VIRTIO_BLK_T_FLUSH, 0, w, 512, 1);
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_IOERR);
	freereq(req);
	ck_assert_uint_eq(image_sum(), sum);
	ck_assert_uint_eq(blk_pending(blk), 0);
}
END_TEST

START_TEST(failed_read_leaks_nothing)
{
	struct va_req *req = mkreq(VIRTIO_BLK_T_IN, IMG_SECTORS, NULL, 0, 4097);

	ck_assert_int_eq(run(req), VIRTIO_BLK_S_IOERR);
	for (int i = 0; i < 4096; i++)
		ck_assert_uint_eq(req->in[i], 0);
	freereq(req);
}
END_TEST

START_TEST(get_id)
{
	struct va_req *req = mkreq(VIRTIO_BLK_T_GET_ID, 0, NULL, 0, 21);

	ck_assert_int_eq(run(req), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(req->in, "serial-0123456789abc", 20);
	freereq(req);
	req = mkreq(VIRTIO_BLK_T_GET_ID, 0, NULL, 0, 10);
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_IOERR);
	freereq(req);
}
END_TEST

START_TEST(flush_ok)
{
	uint8_t w[4096];
	struct va_req *req;

	memset(w, 3, sizeof(w));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL),
			 VIRTIO_BLK_S_OK);
	req = mkreq(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1);
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_OK);
	freereq(req);
}
END_TEST

START_TEST(readonly)
{
	struct blk_opts o = default_opts();
	uint8_t w[512], segs[16];
	uint32_t sum = image_sum();
	struct va_dev_info info;

	blk_free(blk);
	o.readonly = true;
	open_blk(&o);
	blk_dev_info(blk, &info);
	ck_assert(info.features & (1ull << VIRTIO_BLK_F_RO));
	memset(w, 9, sizeof(w));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 0, w, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	put_seg(segs, 0, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 16),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_WRITE_ZEROES, segs, 16),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 0, NULL, 512, NULL),
			 VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(image_sum(), sum);
}
END_TEST

START_TEST(discard_checks)
{
	uint8_t segs[16 * (BLK_MAX_DISCARD_SEG + 1)];
	uint8_t r[4096];
	uint32_t sum = image_sum();

	put_seg(segs, 0, 8, 1);		/* unmap flag on a discard */
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 16),
			 VIRTIO_BLK_S_UNSUPP);
	put_seg(segs, 0, 8, 4);		/* unknown flag on write-zeroes */
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_WRITE_ZEROES, segs, 16),
			 VIRTIO_BLK_S_UNSUPP);
	put_seg(segs, 0, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 8),
			 VIRTIO_BLK_S_IOERR);	/* not a whole segment */
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 0),
			 VIRTIO_BLK_S_IOERR);	/* no segment */
	put_seg(segs, IMG_SECTORS - 4, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 16),
			 VIRTIO_BLK_S_IOERR);	/* past the end */
	put_seg(segs, UINT64_MAX - 2, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_WRITE_ZEROES, segs, 16),
			 VIRTIO_BLK_S_IOERR);	/* wraps */
	put_seg(segs, 0, BLK_MAX_DISCARD_SECTORS + 1, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 16),
			 VIRTIO_BLK_S_IOERR);	/* too large */
	for (uint32_t i = 0; i <= BLK_MAX_DISCARD_SEG; i++)
		put_seg(segs + 16 * i, i * 8, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, sizeof(segs)),
			 VIRTIO_BLK_S_IOERR);	/* too many */
	/* A valid request after a bad segment: nothing done. */
	put_seg(segs, 0, 8, 0);
	put_seg(segs + 16, IMG_SECTORS, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_WRITE_ZEROES, segs, 32),
			 VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(image_sum(), sum);

	/* Valid ones zero their range. */
	put_seg(segs, 8, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	put_seg(segs + 16, 32, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_WRITE_ZEROES, segs, 32),
			 VIRTIO_BLK_S_OK);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 8, NULL, 4096, r), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 4096; i++)
		ck_assert_uint_eq(r[i], 0);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 32, NULL, 4096, r), VIRTIO_BLK_S_OK);
	for (int i = 0; i < 4096; i++)
		ck_assert_uint_eq(r[i], 0);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 16, NULL, 512, r), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(r[1], pattern(16 * 512 + 1));
	put_seg(segs, 64, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 16), VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(not_negotiated)
{
	uint8_t segs[16];

	blk_set_features(blk, 1ull << VIRTIO_BLK_F_FLUSH);
	put_seg(segs, 0, 8, 0);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_DISCARD, segs, 16),
			 VIRTIO_BLK_S_UNSUPP);
	ck_assert_int_eq(do_segs(VIRTIO_BLK_T_WRITE_ZEROES, segs, 16),
			 VIRTIO_BLK_S_UNSUPP);
}
END_TEST

START_TEST(short_read_at_eof)
{
	uint8_t r[4096];

	/* The file shrinks behind the daemon's back (before a SIGHUP). */
	ck_assert_int_eq(truncate(img_path, IMG_SIZE - 2048), 0);
	memset(r, 0xee, sizeof(r));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, IMG_SECTORS - 8, NULL, 4096, r),
			 VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(r[0], pattern(IMG_SIZE - 4096));
	ck_assert_uint_eq(r[2047], pattern(IMG_SIZE - 2049));
	for (int i = 2048; i < 4096; i++)
		ck_assert_uint_eq(r[i], 0);
}
END_TEST

START_TEST(batch)
{
	struct va_req *reqs[32];
	uint8_t w[4096];
	int tries = 0;

	for (int i = 0; i < 32; i++) {
		memset(w, i, sizeof(w));
		reqs[i] = mkreq(VIRTIO_BLK_T_OUT, (uint64_t)i * 8, w, 4096, 1);
		blk_request(blk, reqs[i]);
	}
	ck_assert_uint_eq(ndone, 0);	/* nothing before the kick */
	blk_kick(blk);
	while (ndone < 32 && tries++ < 100)
		blk_poll(blk, 100);
	ck_assert_uint_eq(ndone, 32);
	for (int i = 0; i < 32; i++) {
		ck_assert_uint_eq(reqs[i]->in[0], VIRTIO_BLK_S_OK);
		freereq(reqs[i]);
	}
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 31 * 8, NULL, 4096, w),
			 VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(w[100], 31);
}
END_TEST

START_TEST(config_wce)
{
	const uint32_t wce = CFG_OFF(wce), cap = CFG_OFF(capacity);
	uint8_t cfg[BLK_CONFIG_SIZE], now[BLK_CONFIG_SIZE], w[512];

	read_cfg(cfg);
	ck_assert_uint_eq(cfg[wce], 1);
	cfg[wce] = 0;
	ck_assert_int_eq(blk_write_config(blk, cfg, wce, 1), 0);
	read_cfg(now);
	ck_assert_uint_eq(now[wce], 0);
	/* writethrough writes still work */
	memset(w, 0x33, sizeof(w));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 0, w, sizeof(w), NULL),
			 VIRTIO_BLK_S_OK);
	cfg[wce] = 2;
	ck_assert_int_lt(blk_write_config(blk, cfg, wce, 1), 0);
	read_cfg(now);
	ck_assert_uint_eq(now[wce], 0);	/* kept */
	cfg[wce] = 0;
	cfg[cap] ^= 0xff;
	ck_assert_int_lt(blk_write_config(blk, cfg, cap, 8), 0);
	cfg[cap] ^= 0xff;
	read_cfg(now);
	ck_assert_mem_eq(cfg, now, sizeof(cfg));
	/* A reset brings back the configured mode (writeback). */
	blk_dev_ops()->reset(blk);
	read_cfg(now);
	ck_assert_uint_eq(now[wce], 1);
	/* Without CONFIG_WCE negotiated the byte is read-only. */
	blk_set_features(blk, 1ull << VIRTIO_BLK_F_FLUSH);
	cfg[wce] = 0;
	ck_assert_int_lt(blk_write_config(blk, cfg, wce, 1), 0);
	read_cfg(now);
	ck_assert_uint_eq(now[wce], 1);
}
END_TEST

START_TEST(writethrough_write)
{
	struct blk_opts o = default_opts();
	uint8_t w[4096], r[4096], cfg[BLK_CONFIG_SIZE];

	blk_free(blk);
	o.cache = BLK_CACHE_WRITETHROUGH;
	open_blk(&o);
	read_cfg(cfg);
	ck_assert_uint_eq(cfg[CFG_OFF(wce)], 0);
	memset(w, 0x71, sizeof(w));
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 24, w, 4096, NULL),
			 VIRTIO_BLK_S_OK);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 24, NULL, 4096, r),
			 VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(w, r, sizeof(w));
}
END_TEST

static void engine_rw(enum blk_engine_kind kind, enum blk_cache cache,
		      const char *name)
{
	struct blk_opts o = default_opts();
	uint8_t *w = malloc(65536 + 1), *r = malloc(65536);
	struct va_req *req;

	blk_free(blk);
	o.engine = kind;
	o.cache = cache;
	open_blk(&o);
	ck_assert_str_eq(blk_engine_used(blk), name);
	/* w + 1: unaligned on purpose, O_DIRECT must bounce. */
	memset(w + 1, 0x42, 65536);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_OUT, 128, w + 1, 65536, NULL),
			 VIRTIO_BLK_S_OK);
	req = mkreq(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1);
	ck_assert_int_eq(run(req), VIRTIO_BLK_S_OK);
	freereq(req);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 128, NULL, 65536, r),
			 VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(w + 1, r, 65536);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, IMG_SECTORS, NULL, 512, NULL),
			 VIRTIO_BLK_S_IOERR);
	free(w);
	free(r);
}

START_TEST(aio_engine)
{
	engine_rw(BLK_ENGINE_AIO, BLK_CACHE_WRITEBACK, "aio");
}
END_TEST

START_TEST(uring_direct)
{
	engine_rw(BLK_ENGINE_IO_URING, BLK_CACHE_NONE, "io_uring");
}
END_TEST

START_TEST(uring_fallback)
{
	struct blk_opts o = default_opts();
	struct blk *b2;

	blk_free(blk);
	blk = NULL;
	setenv(BLK_ENV_FAIL_URING, "1", 1);
	/* Forced io_uring: no fallback, an error. */
	ck_assert_int_lt(blk_new(&o, &b2), 0);
	o.engine_forced = false;
	open_blk(&o);
	unsetenv(BLK_ENV_FAIL_URING);
	ck_assert_str_eq(blk_engine_used(blk), "aio");
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 0, NULL, 4096, NULL),
			 VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(lock_refuses_second)
{
	struct blk_opts o = default_opts();
	struct blk *b2 = NULL;

	ck_assert_int_eq(blk_new(&o, &b2), -EBUSY);
	o.readonly = true;
	ck_assert_int_eq(blk_new(&o, &b2), -EBUSY);
}
END_TEST

START_TEST(bad_images)
{
	struct blk_opts o = default_opts();
	struct blk *b2 = NULL;

	o.image = "/nonexistent/image";
	ck_assert_int_lt(blk_new(&o, &b2), 0);
	o.image = "/tmp";
	ck_assert_int_lt(blk_new(&o, &b2), 0);
	/* 1 MiB + 512 is not a multiple of 4096 */
	blk_free(blk);
	blk = NULL;
	ck_assert_int_eq(truncate(img_path, IMG_SIZE + 512), 0);
	o = default_opts();
	o.block_size = 4096;
	ck_assert_int_eq(blk_new(&o, &b2), -EINVAL);
	o.block_size = 512;
	open_blk(&o);
	ck_assert_uint_eq(blk_capacity(blk), IMG_SECTORS + 1);
}
END_TEST

START_TEST(resize)
{
	uint8_t cfg[BLK_CONFIG_SIZE];

	ck_assert_int_eq(blk_resize(blk), 0);
	ck_assert_int_eq(truncate(img_path, IMG_SIZE * 2), 0);
	ck_assert_int_eq(blk_resize(blk), 1);
	read_cfg(cfg);
	ck_assert_uint_eq(va_get_le64(cfg + CFG_OFF(capacity)), IMG_SECTORS * 2);
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, IMG_SECTORS, NULL, 512, NULL),
			 VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(small_ring_limits)
{
	struct blk_opts o = default_opts();
	struct va_dev_info info;

	blk_free(blk);
	o.ring_len = 64 * 1024;
	open_blk(&o);
	blk_dev_info(blk, &info);
	/* One request (header, segment sizes, data) fits one message. */
	ck_assert_uint_le(16 + 16 + info.max_request, o.ring_len - 32);
	ck_assert_uint_le(16 + 8 + info.max_in, o.ring_len - 32);
	ck_assert_uint_ge(blk_max_data(blk), 4096);
}
END_TEST

/*
 * A sparse image on a full file system: the write that needs a block gets
 * IOERR and the device keeps serving.  Needs root for a small private
 * tmpfs (registered only then).
 */
START_TEST(enospc)
{
	struct blk_opts o = default_opts();
	char dir[] = "/tmp/test-blk-fs-XXXXXX";
	uint8_t *w = malloc(65536);
	int fd, st = VIRTIO_BLK_S_OK;
	uint32_t i;

	blk_free(blk);
	blk = NULL;
	unlink(img_path);
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(mount("tmpfs", dir, "tmpfs", 0, "size=512k"), 0);
	snprintf(img_path, sizeof(img_path), "%s/img", dir);
	fd = open(img_path, O_CREAT | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, IMG_SIZE), 0);	/* sparse */
	close(fd);
	open_blk(&o);
	memset(w, 0x17, 65536);
	for (i = 0; i < IMG_SECTORS && st == VIRTIO_BLK_S_OK; i += 128)
		st = do_rw(VIRTIO_BLK_T_OUT, i, w, 65536, NULL);
	ck_assert_int_eq(st, VIRTIO_BLK_S_IOERR);
	ck_assert_uint_lt(i, IMG_SECTORS);
	/* still serving */
	ck_assert_int_eq(do_rw(VIRTIO_BLK_T_IN, 0, NULL, 4096, w), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(w[0], 0x17);
	free(w);
	blk_free(blk);
	blk = NULL;
	unlink(img_path);
	umount(dir);
	rmdir(dir);
}
END_TEST

/*
 * blk_new leaves the process's allocator settings alone: they are the
 * program's to choose (blkd's main tunes them), not the device library's,
 * which other programs and these tests link.  This executable's mallopt
 * stands in for the C library's (the static libva-blk binds to it), so
 * the test sees every call, under the sanitizers' allocator too.  (Before
 * the fix blk_new called it twice, for the mmap and trim thresholds.)
 */
static unsigned int mallopt_calls;

int mallopt(int param, int value)
{
	mallopt_calls++;
	return 1;
}

START_TEST(allocator_untouched)
{
	struct blk_opts o;

	make_image(IMG_SIZE);
	o = default_opts();
	mallopt_calls = 0;
	ck_assert_int_eq(blk_new(&o, &blk), 0);
	ck_assert_uint_eq(mallopt_calls, 0);
	blk_free(blk);
	blk = NULL;
	unlink(img_path);
}
END_TEST

static Suite *blk_suite(void)
{
	Suite *s = suite_create("blk");
	TCase *tc = tcase_create("requests");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, read_ok);
	tcase_add_test(tc, write_then_read);
	tcase_add_test(tc, out_of_range);
	tcase_add_test(tc, unaligned);
	tcase_add_test(tc, unaligned_4k);
	tcase_add_test(tc, oversize);
	tcase_add_test(tc, unknown_type);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, failed_read_leaks_nothing);
	tcase_add_test(tc, get_id);
	tcase_add_test(tc, flush_ok);
	tcase_add_test(tc, readonly);
	tcase_add_test(tc, discard_checks);
	tcase_add_test(tc, not_negotiated);
	tcase_add_test(tc, short_read_at_eof);
	tcase_add_test(tc, batch);
	tcase_add_test(tc, config_wce);
	tcase_add_test(tc, writethrough_write);
	tcase_add_test(tc, aio_engine);
	tcase_add_test(tc, uring_direct);
	tcase_add_test(tc, uring_fallback);
	tcase_add_test(tc, lock_refuses_second);
	tcase_add_test(tc, bad_images);
	tcase_add_test(tc, resize);
	tcase_add_test(tc, small_ring_limits);
	if (geteuid() == 0)
		tcase_add_test(tc, enospc);
	suite_add_tcase(s, tc);

	tc = tcase_create("process");
	tcase_add_test(tc, allocator_untouched);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(blk_suite());
	int failed;

	va_log_init("test-blk", VA_LOG_WARN, false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		return EXIT_FAILURE;
	/* The rest passed, but not everything ran: a visible skip (a
	 * failure under CI), never a silent pass. */
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: test-blk: the ENOSPC case needs root (a small tmpfs)\n");
		return 77;
	}
	return EXIT_SUCCESS;
}
