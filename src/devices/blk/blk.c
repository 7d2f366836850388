/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device logic of virtio-argo-blkd.
 *
 * A request from the device core is checked completely before anything
 * touches the image: header present, type known, data length a multiple
 * of the logical block size and at most SEG_MAX * SIZE_MAX, the sector
 * range inside the capacity (overflow-safe), discard/write-zeroes segments
 * well formed and within the advertised limits, no write on a read-only
 * device.  A bad request gets IOERR (UNSUPP for an unknown type or flags)
 * and the image is never touched for it.
 *
 * Data moves with at most one copy in the daemon: reads go straight into
 * req->in (the response buffer), writes straight from req->out, except
 * when O_DIRECT needs an aligned bounce buffer.  Reads, writes and flushes
 * go to the engine; ops->kick submits each batch once.  Discard and
 * write-zeroes run on the worker thread (fallocate/BLKDISCARD block).
 *
 * Durability: FLUSH is an fdatasync of the image issued after the flush
 * request arrived, so every write completed before it is durable when it
 * completes; its failure is IOERR.  In writethrough mode (WCE=0, or FLUSH
 * not negotiated) each write carries RWF_DSYNC.
 *
 * Short transfers are continued from where they stopped (a read that hits
 * the end of a shrunk file is zero-filled); EINTR/EAGAIN are retried a
 * bounded number of times; any other error is IOERR for that request only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"
#include "log.h"

#define BLK_MAX_RETRIES		64	/* per request: short I/O, EAGAIN */
#define BLK_LOCK_WAIT_MS	3000u	/* for a killed predecessor's lock */
#define BLK_HDR			((uint32_t)sizeof(struct virtio_blk_outhdr))

struct blk_seg {
	uint64_t off;		/* bytes */
	uint64_t len;		/* bytes */
	uint32_t flags;
};

struct blk_req {
	struct blk *b;
	struct va_req *vreq;
	uint32_t type;
	unsigned int retries;
	struct blk_io io;
	uint8_t *data;		/* where the data ends up (IN) / comes from */
	uint32_t data_len;
	void *bounce;
	struct blk_job job;
	struct blk_seg *segs;
	uint32_t nsegs;
	bool dsync;
};

struct blk {
	struct blk_opts opts;
	int fd;
	bool is_blkdev;
	bool direct;
	uint32_t block_size;
	uint32_t phys_block;
	uint64_t capacity;		/* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint32_t max_data;
	uint64_t features;		/* negotiated */
	bool writeback;			/* effective cache mode */
	bool wce;			/* config wce: the driver's choice */
	char serial[VIRTIO_BLK_ID_BYTES];

	struct blk_worker *worker;
	struct blk_engine *engine;
	enum blk_engine_kind engine_kind;
	struct va_dev *dev;
	struct va_loop *loop;
	blk_complete_fn complete;
	unsigned int pending;
	bool need_submit;
	void *zeroes;			/* BLK_SIZE_MAX_DEFAULT aligned zero bytes */
};

static struct va_ratelimit blk_rl = VA_RATELIMIT_INIT(5000, 10);

static bool has_feature(const struct blk *b, unsigned int bit)
{
	return b->features & (1ull << bit);
}

/* The cache mode in force: writeback needs FLUSH negotiated; with
 * CONFIG_WCE the driver chooses through the wce byte. */
static void update_cache_mode(struct blk *b)
{
	if (!has_feature(b, VIRTIO_BLK_F_FLUSH))
		b->writeback = false;
	else if (has_feature(b, VIRTIO_BLK_F_CONFIG_WCE))
		b->writeback = b->wce;
	else
		b->writeback = b->opts.cache != BLK_CACHE_WRITETHROUGH;
}

/* ---------------------------------------------------------------- */
/* Finishing requests                                                */
/* ---------------------------------------------------------------- */

static void default_complete(struct va_req *req, uint32_t written)
{
	va_req_complete(req, written);
}

/*
 * Answer with `status` in the last byte of req->in.  Data bytes the driver
 * receives but that no successful read filled are zeroed, so nothing of
 * the daemon's memory reaches the guest.
 */
static int finish(struct blk *b, struct va_req *req, struct blk_req *br,
		  uint8_t status)
{
	bool filled = br && status == VIRTIO_BLK_S_OK &&
		      (br->type == VIRTIO_BLK_T_IN ||
		       br->type == VIRTIO_BLK_T_GET_ID);

	if (req->in_len == 0) {
		b->complete(req, 0);
	} else {
		if (!filled)
			memset(req->in, 0, req->in_len - 1);
		req->in[req->in_len - 1] = status;
		b->complete(req, req->in_len);
	}
	if (br) {
		free(br->bounce);
		free(br->segs);
		free(br);
	}
	b->pending--;
	return 0;
}

static int finish_err(struct blk *b, struct va_req *req, struct blk_req *br,
		      uint8_t status, const char *why)
{
	va_log_ratelimited(&blk_rl, VA_LOG_INFO,
			   "blk: request %u on queue %u refused: %s",
			   req->id, req->queue, why);
	return finish(b, req, br, status);
}

/* ---------------------------------------------------------------- */
/* Reads, writes, flushes through the engine                         */
/* ---------------------------------------------------------------- */

static int queue_io(struct blk_req *br)
{
	struct blk *b = br->b;
	int r = blk_engine_queue(b->engine, &br->io);

	if (r < 0) {
		va_log_ratelimited(&blk_rl, VA_LOG_WARN,
				   "blk: cannot queue I/O: %s", strerror(-r));
		return finish(b, br->vreq, br, VIRTIO_BLK_S_IOERR);
	}
	b->need_submit = true;
	return 0;
}

static void io_done(struct blk_io *io, int res)
{
	struct blk_req *br = io->opaque;
	struct blk *b = br->b;

	if (res == -EINTR || res == -EAGAIN ||
	    (res == 0 && io->op == BLK_IO_WRITE && io->iov.iov_len)) {
		if (++br->retries <= BLK_MAX_RETRIES) {
			queue_io(br);
			return;
		}
		res = res ? res : -EIO;
	}
	if (res < 0) {
		va_log_ratelimited(&blk_rl, VA_LOG_WARN,
				   "blk: %s at byte %llu failed: %s",
				   io->op == BLK_IO_READ ? "read" :
				   io->op == BLK_IO_WRITE ? "write" : "flush",
				   (unsigned long long)io->off, strerror(-res));
		finish(b, br->vreq, br, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (io->op != BLK_IO_FLUSH && (size_t)res < io->iov.iov_len) {
		if (res == 0) {
			/* Read at the end of a file that shrank: zeroes. */
			memset(io->iov.iov_base, 0, io->iov.iov_len);
		} else if (++br->retries <= BLK_MAX_RETRIES) {
			io->iov.iov_base = (uint8_t *)io->iov.iov_base + res;
			io->iov.iov_len -= (size_t)res;
			io->off += (uint64_t)res;
			queue_io(br);
			return;
		} else {
			finish(b, br->vreq, br, VIRTIO_BLK_S_IOERR);
			return;
		}
	}
	if (br->type == VIRTIO_BLK_T_IN && br->bounce)
		memcpy(br->data, br->bounce, br->data_len);
	finish(b, br->vreq, br, VIRTIO_BLK_S_OK);
}

/* Set up br->io for a read or write of br->data (bouncing for O_DIRECT
 * when the buffer is not aligned). */
static int start_rw(struct blk *b, struct blk_req *br, uint64_t sector)
{
	void *buf = br->data;

	/* Lengths are multiples of the logical block size (checked);
	 * O_DIRECT also wants the buffer address aligned. */
	if (b->direct && (uintptr_t)buf % BLK_DIO_ALIGN) {
		if (posix_memalign(&br->bounce, BLK_DIO_ALIGN, br->data_len))
			return -ENOMEM;
		if (br->type == VIRTIO_BLK_T_OUT)
			memcpy(br->bounce, br->data, br->data_len);
		buf = br->bounce;
	}
	br->io.op = br->type == VIRTIO_BLK_T_IN ? BLK_IO_READ : BLK_IO_WRITE;
	br->io.dsync = br->io.op == BLK_IO_WRITE && !b->writeback;
	br->io.off = sector * BLK_SECTOR;
	br->io.iov.iov_base = buf;
	br->io.iov.iov_len = br->data_len;
	br->io.opaque = br;
	return queue_io(br);
}

/* ---------------------------------------------------------------- */
/* Discard and write-zeroes on the worker thread                     */
/* ---------------------------------------------------------------- */

static int write_zeroes_slow(struct blk *b, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < BLK_SIZE_MAX_DEFAULT ? (size_t)len :
			   BLK_SIZE_MAX_DEFAULT;
		ssize_t w = pwrite(b->fd, b->zeroes, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

static int discard_seg(struct blk *b, const struct blk_seg *s)
{
	int r;

	if (b->is_blkdev) {
		uint64_t range[2] = { s->off, s->len };

		r = ioctl(b->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	} else {
		r = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)s->off, (off_t)s->len) < 0 ? -errno : 0;
	}
	/* Discard is a hint: a device that cannot discard did nothing. */
	if (r == -EOPNOTSUPP || r == -ENOTTY)
		r = 0;
	return r;
}

static int zero_seg(struct blk *b, const struct blk_seg *s)
{
	int r = -EOPNOTSUPP;

	if (s->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		r = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)s->off, (off_t)s->len) < 0 ? -errno : 0;
	if (r == -EOPNOTSUPP || r == -EINVAL)
		r = fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			      (off_t)s->off, (off_t)s->len) < 0 ? -errno : 0;
	if (r == -EOPNOTSUPP || r == -EINVAL)
		r = write_zeroes_slow(b, s->off, s->len);
	return r;
}

static int segs_fn(struct blk_job *job)
{
	struct blk_req *br = job->opaque;
	struct blk *b = br->b;
	uint32_t i;
	int r = 0;

	for (i = 0; i < br->nsegs && r == 0; i++) {
		if (br->type == VIRTIO_BLK_T_DISCARD)
			r = discard_seg(b, &br->segs[i]);
		else
			r = zero_seg(b, &br->segs[i]);
	}
	if (r == 0 && br->dsync && fdatasync(b->fd) < 0)
		r = -errno;
	return r;
}

static void segs_done(struct blk_job *job, int res)
{
	struct blk_req *br = job->opaque;

	if (res < 0)
		va_log_ratelimited(&blk_rl, VA_LOG_WARN, "blk: %s failed: %s",
				   br->type == VIRTIO_BLK_T_DISCARD ?
				   "discard" : "write-zeroes", strerror(-res));
	finish(br->b, br->vreq, br,
	       res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

/* Range check in 512-byte sectors, alignment to the logical block. */
static const char *check_range(const struct blk *b, uint64_t sector,
			       uint64_t bytes)
{
	uint64_t sectors = bytes / BLK_SECTOR;

	if (bytes % b->block_size)
		return "length not a multiple of the block size";
	if ((sector * BLK_SECTOR) % b->block_size ||
	    sector > UINT64_MAX / BLK_SECTOR)
		return "sector not aligned to the block size";
	if (sector > b->capacity || sectors > b->capacity - sector)
		return "beyond the end of the device";
	return NULL;
}

static int start_segs(struct blk *b, struct va_req *req, struct blk_req *br)
{
	bool discard = br->type == VIRTIO_BLK_T_DISCARD;
	uint32_t bytes = req->out_len - BLK_HDR;
	uint32_t max_sectors = BLK_MAX_DISCARD_SECTORS;
	uint32_t i;

	if (!has_feature(b, discard ? VIRTIO_BLK_F_DISCARD :
				      VIRTIO_BLK_F_WRITE_ZEROES))
		return finish_err(b, req, br, VIRTIO_BLK_S_UNSUPP,
				  "discard/write-zeroes not negotiated");
	if (b->opts.readonly)
		return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
				  "read-only device");
	if (bytes == 0 || bytes % sizeof(struct virtio_blk_discard_write_zeroes))
		return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
				  "bad segment list length");
	br->nsegs = bytes / sizeof(struct virtio_blk_discard_write_zeroes);
	if (br->nsegs > BLK_MAX_DISCARD_SEG)
		return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
				  "too many segments");
	br->segs = calloc(br->nsegs, sizeof(*br->segs));
	if (!br->segs)
		return finish_err(b, req, br, VIRTIO_BLK_S_IOERR, "no memory");
	for (i = 0; i < br->nsegs; i++) {
		struct virtio_blk_discard_write_zeroes seg;
		uint64_t sector;
		uint32_t num, flags;
		const char *why;

		memcpy(&seg, req->out + BLK_HDR + i * sizeof(seg), sizeof(seg));
		sector = va_le64_to_cpu(seg.sector);
		num = va_le32_to_cpu(seg.num_sectors);
		flags = va_le32_to_cpu(seg.flags);

		if (discard ? flags != 0 : (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			return finish_err(b, req, br, VIRTIO_BLK_S_UNSUPP,
					  "unsupported segment flags");
		if (num > max_sectors)
			return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
					  "segment too large");
		why = check_range(b, sector, (uint64_t)num * BLK_SECTOR);
		if (why)
			return finish_err(b, req, br, VIRTIO_BLK_S_IOERR, why);
		br->segs[i].off = sector * BLK_SECTOR;
		br->segs[i].len = (uint64_t)num * BLK_SECTOR;
		br->segs[i].flags = flags;
	}
	br->dsync = !b->writeback;
	br->job.fn = segs_fn;
	br->job.done = segs_done;
	br->job.opaque = br;
	blk_worker_push(b->worker, &br->job);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Requests                                                          */
/* ---------------------------------------------------------------- */

static int handle(struct blk *b, struct va_req *req)
{
	struct virtio_blk_outhdr hdr;
	struct blk_req *br;
	uint64_t sector;
	const char *why;
	int r;

	b->pending++;
	if (req->in_len == 0)
		return finish_err(b, req, NULL, 0, "no status byte");
	if (req->out_len < BLK_HDR)
		return finish_err(b, req, NULL, VIRTIO_BLK_S_IOERR,
				  "no request header");
	br = calloc(1, sizeof(*br));
	if (!br)
		return finish_err(b, req, NULL, VIRTIO_BLK_S_IOERR, "no memory");
	br->b = b;
	br->vreq = req;
	req->priv = br;
	memcpy(&hdr, req->out, BLK_HDR);
	br->type = va_le32_to_cpu(hdr.type);
	sector = va_le64_to_cpu(hdr.sector);

	switch (br->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (br->type == VIRTIO_BLK_T_IN) {
			if (req->out_len != BLK_HDR)
				return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
						  "read with data");
			br->data = req->in;
			br->data_len = req->in_len - 1;
		} else {
			if (b->opts.readonly)
				return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
						  "write to a read-only device");
			br->data = (uint8_t *)req->out + BLK_HDR;
			br->data_len = req->out_len - BLK_HDR;
		}
		if (br->data_len > b->max_data)
			return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
					  "request larger than SEG_MAX * SIZE_MAX");
		why = check_range(b, sector, br->data_len);
		if (why)
			return finish_err(b, req, br, VIRTIO_BLK_S_IOERR, why);
		if (br->data_len == 0)
			return finish(b, req, br, VIRTIO_BLK_S_OK);
		r = start_rw(b, br, sector);
		if (r < 0)
			return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
					  "no memory");
		return 0;
	case VIRTIO_BLK_T_FLUSH:
		if (req->out_len != BLK_HDR)
			return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
					  "flush with data");
		br->io.op = BLK_IO_FLUSH;
		br->io.opaque = br;
		return queue_io(br);
	case VIRTIO_BLK_T_GET_ID:
		if (req->out_len != BLK_HDR || req->in_len - 1 < VIRTIO_BLK_ID_BYTES)
			return finish_err(b, req, br, VIRTIO_BLK_S_IOERR,
					  "bad GET_ID buffers");
		memset(req->in, 0, req->in_len - 1);
		memcpy(req->in, b->serial, VIRTIO_BLK_ID_BYTES);
		return finish(b, req, br, VIRTIO_BLK_S_OK);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return start_segs(b, req, br);
	default:
		return finish_err(b, req, br, VIRTIO_BLK_S_UNSUPP,
				  "unknown request type");
	}
}

void blk_request(void *opaque, struct va_req *req)
{
	handle(opaque, req);
}

void blk_kick(void *opaque)
{
	struct blk *b = opaque;
	int r;

	if (!b->need_submit)
		return;
	r = blk_engine_submit(b->engine);
	if (r < 0) {
		/* Left queued; retried after the next completion. */
		va_log_ratelimited(&blk_rl, VA_LOG_WARN,
				   "blk: submitting I/O failed: %s", strerror(-r));
		return;
	}
	b->need_submit = false;
}

int blk_set_features(void *opaque, uint64_t features)
{
	struct blk *b = opaque;

	b->features = features;
	update_cache_mode(b);
	return 0;
}

int blk_write_config(void *opaque, const uint8_t *cfg, uint32_t off,
		     uint32_t size)
{
	struct blk *b = opaque;
	const uint32_t wce = offsetof(struct virtio_blk_config, wce);

	/* Only the wce byte is writable, and only with CONFIG_WCE. */
	if (off == wce && size == 1 &&
	    has_feature(b, VIRTIO_BLK_F_CONFIG_WCE) && cfg[wce] <= 1) {
		b->wce = cfg[wce];
		update_cache_mode(b);
		va_info("blk: cache mode now %s",
			b->writeback ? "writeback" : "writethrough");
		return 0;
	}
	/* Refused: the core keeps its bytes. */
	return -EINVAL;
}

unsigned int blk_pending(const struct blk *b)
{
	return b->pending;
}

uint32_t blk_max_data(const struct blk *b)
{
	return b->max_data;
}

const char *blk_image(const struct blk *b)
{
	return b->opts.image;
}

const char *blk_engine_used(const struct blk *b)
{
	return blk_engine_name(b->engine);
}

uint64_t blk_capacity(const struct blk *b)
{
	return b->capacity;
}

void blk_set_complete(struct blk *b, blk_complete_fn fn)
{
	b->complete = fn ? fn : default_complete;
}

/* ---------------------------------------------------------------- */
/* Completions                                                       */
/* ---------------------------------------------------------------- */

static void process_events(struct blk *b)
{
	blk_engine_reap(b->engine);
	blk_worker_reap(b->worker);
	/* Retries of short transfers queued from the completions. */
	blk_kick(b);
}

int blk_poll(struct blk *b, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = blk_engine_fd(b->engine), .events = POLLIN },
		{ .fd = blk_worker_fd(b->worker), .events = POLLIN },
	};
	int r = poll(pfd, 2, timeout_ms);

	if (r < 0)
		return -errno;
	process_events(b);
	return r;
}

static void on_event(struct va_loop *loop, int fd, uint32_t events, void *opaque)
{
	process_events(opaque);
}

/* ---------------------------------------------------------------- */
/* The ops table                                                     */
/* ---------------------------------------------------------------- */

/* Reset: I/O in flight completes on its own; the driver's config change
 * (wce) and the negotiated features are forgotten. */
static void blk_reset(void *opaque)
{
	struct blk *b = opaque;

	b->wce = b->opts.cache != BLK_CACHE_WRITETHROUGH;
	b->features = 0;
	update_cache_mode(b);
}

static const struct va_dev_ops blk_ops = {
	.request = blk_request,
	.kick = blk_kick,
	.set_features = blk_set_features,
	.get_config = blk_get_config,
	.write_config = blk_write_config,
	.reset = blk_reset,
};

const struct va_dev_ops *blk_dev_ops(void)
{
	return &blk_ops;
}

/* ---------------------------------------------------------------- */
/* Set-up                                                            */
/* ---------------------------------------------------------------- */

static int image_size(struct blk *b, uint64_t *ret)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0)
		return -errno;
	if (b->is_blkdev) {
		if (ioctl(b->fd, BLKGETSIZE64, ret) < 0)
			return -errno;
	} else {
		*ret = (uint64_t)st.st_size;
	}
	return 0;
}

void blk_get_config(void *opaque, uint8_t *cfg)
{
	const struct blk *b = opaque;
	struct virtio_blk_config c;
	uint32_t phys_exp = 0;

	while ((b->block_size << (phys_exp + 1)) <= b->phys_block &&
	       phys_exp < 15)
		phys_exp++;
	memset(&c, 0, sizeof(c));
	c.capacity = va_cpu_to_le64(b->capacity);
	c.size_max = va_cpu_to_le32(b->size_max);
	c.seg_max = va_cpu_to_le32(b->seg_max);
	c.blk_size = va_cpu_to_le32(b->block_size);
	c.physical_block_exp = (uint8_t)phys_exp;
	c.alignment_offset = 0;
	c.min_io_size = va_cpu_to_le16((uint16_t)(1u << phys_exp));
	c.opt_io_size = 0;
	c.wce = b->wce;
	c.num_queues = va_cpu_to_le16(b->opts.queues);
	c.max_discard_sectors = va_cpu_to_le32(BLK_MAX_DISCARD_SECTORS);
	c.max_discard_seg = va_cpu_to_le32(BLK_MAX_DISCARD_SEG);
	c.discard_sector_alignment = va_cpu_to_le32(b->block_size / BLK_SECTOR);
	c.max_write_zeroes_sectors = va_cpu_to_le32(BLK_MAX_DISCARD_SECTORS);
	c.max_write_zeroes_seg = va_cpu_to_le32(BLK_MAX_DISCARD_SEG);
	c.write_zeroes_may_unmap = 1;
	memcpy(cfg, &c, BLK_CONFIG_SIZE);
}

/*
 * SIZE_MAX and SEG_MAX so that one request fits our ring and one read's
 * response fits a guest ring of the same length: message = 16 (record
 * header) + 16 (va_request) + 4 per writable segment + 16 (blk header) +
 * data (+ 8 va_response and the status byte on the way back), rounded
 * up; the largest message is ring_len - 32.
 */
static int choose_limits(struct blk *b, uint32_t ring_len)
{
	uint32_t size_max = BLK_SIZE_MAX_DEFAULT;
	uint32_t seg_max = BLK_SEG_MAX_DEFAULT;

	for (;;) {
		uint64_t overhead = 16 + 16 + 4 * (uint64_t)(seg_max + 2) + 16 +
				    VA_RECORD_ALIGN + 32;
		uint64_t need = overhead + (uint64_t)seg_max * size_max;

		if (need <= ring_len)
			break;
		if (seg_max > 1)
			seg_max /= 2;
		else if (size_max > b->block_size)
			size_max /= 2;
		else
			return -EMSGSIZE;
	}
	b->size_max = size_max;
	b->seg_max = seg_max;
	b->max_data = size_max * seg_max;
	return 0;
}

static int open_image(struct blk *b)
{
	const struct blk_opts *o = &b->opts;
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct flock lk = {
		.l_type = o->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};
	unsigned int waited;
	struct stat st;

	if (b->direct)
		flags |= O_DIRECT;
	b->fd = open(o->image, flags);
	if (b->fd < 0 && errno == EINVAL && b->direct) {
		va_err("blk: image %s: its file system does not support O_DIRECT "
		       "(needed by --cache none and the aio engine)", o->image);
		return -EINVAL;
	}
	if (b->fd < 0)
		return va_log_errno(VA_LOG_ERR, -errno, "blk: cannot open image %s%s",
				    o->image, o->readonly ? "" : " for writing");
	if (fstat(b->fd, &st) < 0)
		return va_log_errno(VA_LOG_ERR, -errno, "blk: stat %s", o->image);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		va_err("blk: image %s is neither a regular file nor a block device",
		       o->image);
		return -EINVAL;
	}
	b->is_blkdev = S_ISBLK(st.st_mode);
	/*
	 * A predecessor killed with SIGKILL keeps its lock until the kernel
	 * has torn down its io_uring (which holds the file), a moment after
	 * the process is gone: wait a little before calling it a conflict.
	 */
	for (waited = 0; fcntl(b->fd, F_OFD_SETLK, &lk) < 0 &&
	     (errno == EAGAIN || errno == EACCES) &&
	     waited < BLK_LOCK_WAIT_MS; waited += 100) {
		if (waited == 0)
			va_info("blk: image %s is locked; waiting up to %u ms",
				o->image, BLK_LOCK_WAIT_MS);
		usleep(100 * 1000);
	}
	if (fcntl(b->fd, F_OFD_SETLK, &lk) < 0) {
		if (errno == EAGAIN || errno == EACCES) {
			va_err("blk: image %s is in use by another process "
			       "(another virtio-argo-blkd?): it holds a lock on it",
			       o->image);
			return -EBUSY;
		}
		return va_log_errno(VA_LOG_ERR, -errno, "blk: cannot lock %s",
				    o->image);
	}
	return 0;
}

static int setup_block_size(struct blk *b)
{
	int lbs = 0;
	unsigned int pbs = 0;

	if (b->is_blkdev) {
		if (ioctl(b->fd, BLKSSZGET, &lbs) < 0)
			lbs = 512;
		if (ioctl(b->fd, BLKPBSZGET, &pbs) < 0)
			pbs = 0;
	}
	b->block_size = b->opts.block_size ? b->opts.block_size :
			(lbs == 4096 ? 4096 : 512);
	if (b->is_blkdev && lbs > 0 && b->block_size < (uint32_t)lbs) {
		va_err("blk: --block-size %u is smaller than the device's "
		       "logical block size %d", b->block_size, lbs);
		return -EINVAL;
	}
	b->phys_block = pbs > b->block_size && pbs <= 65536 ? pbs : b->block_size;
	return 0;
}

/* O_DIRECT on the open image: 0, or -errno (its file system has none). */
static int set_direct(struct blk *b)
{
	int fl = fcntl(b->fd, F_GETFL);

	if (fl < 0 || fcntl(b->fd, F_SETFL, fl | O_DIRECT) < 0)
		return -errno;
	b->direct = true;
	return 0;
}

static int setup_engine(struct blk *b)
{
	const struct blk_opts *o = &b->opts;
	unsigned int depth = (unsigned int)o->queues * o->queue_size;
	int r;

	b->engine_kind = o->engine;
	r = blk_engine_new(o->engine, b->fd, depth, b->worker, io_done,
			   &b->engine);
	if (r == 0)
		return 0;
	if (o->engine == BLK_ENGINE_IO_URING && !o->engine_forced &&
	    (r == -ENOSYS || r == -EPERM)) {
		va_notice("blk: io_uring unavailable (%s); using the aio engine "
			  "with O_DIRECT", strerror(-r));
		if (!b->direct && set_direct(b) < 0) {
			va_err("blk: image %s: O_DIRECT not supported, "
			       "which the aio engine needs", o->image);
			return -EINVAL;
		}
		b->engine_kind = BLK_ENGINE_AIO;
		r = blk_engine_new(BLK_ENGINE_AIO, b->fd, depth, b->worker,
				   io_done, &b->engine);
	}
	if (r < 0)
		return va_log_errno(VA_LOG_ERR, r, "blk: cannot set up the %s engine",
				    b->engine_kind == BLK_ENGINE_AIO ? "aio" : "io_uring");
	return 0;
}

int blk_new(const struct blk_opts *opts, struct blk **ret)
{
	struct blk *b = calloc(1, sizeof(*b));
	uint64_t size;
	int r;

	if (!b)
		return -ENOMEM;
	b->opts = *opts;
	b->fd = -1;
	b->complete = default_complete;
	if (!b->opts.queues)
		b->opts.queues = 1;
	if (!b->opts.queue_size)
		b->opts.queue_size = BLK_QUEUE_SIZE_DEFAULT;
	if (!b->opts.ring_len)
		b->opts.ring_len = VA_RING_LEN_DEFAULT;
	if (b->opts.queues > VA_MAX_QUEUES ||
	    b->opts.queue_size > VA_MAX_QUEUE_SIZE ||
	    (b->opts.block_size && b->opts.block_size != 512 &&
	     b->opts.block_size != 4096)) {
		va_err("blk: bad queue count, queue size or block size");
		r = -EINVAL;
		goto fail;
	}
	/* GET_ID: up to 20 bytes, NUL-padded, no terminator needed. */
	if (b->opts.serial)
		memcpy(b->serial, b->opts.serial,
		       strnlen(b->opts.serial, sizeof(b->serial)));
	b->direct = b->opts.cache == BLK_CACHE_NONE ||
		    b->opts.engine == BLK_ENGINE_AIO;

	r = open_image(b);
	if (r < 0)
		goto fail;
	r = setup_block_size(b);
	if (r < 0)
		goto fail;
	r = image_size(b, &size);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "blk: cannot get the size of %s",
			     b->opts.image);
		goto fail;
	}
	if (size % b->block_size) {
		va_err("blk: size %llu of %s is not a multiple of the block size %u",
		       (unsigned long long)size, b->opts.image, b->block_size);
		r = -EINVAL;
		goto fail;
	}
	b->capacity = size / BLK_SECTOR;
	r = choose_limits(b, b->opts.ring_len);
	if (r < 0) {
		va_err("blk: --ring-len %u is too small for one block",
		       b->opts.ring_len);
		goto fail;
	}
	if (posix_memalign(&b->zeroes, BLK_DIO_ALIGN, BLK_SIZE_MAX_DEFAULT)) {
		r = -ENOMEM;
		goto fail;
	}
	memset(b->zeroes, 0, BLK_SIZE_MAX_DEFAULT);
	r = blk_worker_new(&b->worker);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "blk: cannot start the worker thread");
		goto fail;
	}
	r = setup_engine(b);
	if (r < 0)
		goto fail;
	b->wce = b->opts.cache != BLK_CACHE_WRITETHROUGH;
	update_cache_mode(b);
	va_info("blk: %s: %llu sectors, block size %u, %s engine, cache %s%s",
		b->opts.image, (unsigned long long)b->capacity, b->block_size,
		blk_engine_name(b->engine), blk_cache_name(b->opts.cache),
		b->opts.readonly ? ", read-only" : "");
	*ret = b;
	return 0;

fail:
	blk_free(b);
	return r;
}

void blk_drain(struct blk *b)
{
	/* Requests still in the engine or the worker point into b. */
	while (b->engine && b->worker &&
	       (blk_engine_inflight(b->engine) || blk_worker_pending(b->worker)))
		if (blk_poll(b, 1000) < 0)
			break;
}

void blk_free(struct blk *b)
{
	if (!b)
		return;
	blk_drain(b);
	blk_detach(b);
	blk_engine_free(b->engine);
	blk_worker_free(b->worker);
	if (b->fd >= 0) {
		struct flock lk = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

		/* io_uring drops its reference to the file asynchronously;
		 * release the lock now so that a successor can take it. */
		fcntl(b->fd, F_OFD_SETLK, &lk);
		close(b->fd);
	}
	free(b->zeroes);
	free(b);
}

void blk_dev_info(const struct blk *b, struct va_dev_info *ret)
{
	uint64_t f = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX |
		     1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_TOPOLOGY |
		     1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_CONFIG_WCE;

	if (b->opts.readonly)
		f |= 1ull << VIRTIO_BLK_F_RO;
	else
		f |= 1ull << VIRTIO_BLK_F_DISCARD |
		     1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	if (b->opts.queues > 1)
		f |= 1ull << VIRTIO_BLK_F_MQ;
	memset(ret, 0, sizeof(*ret));
	ret->device_id = VIRTIO_ID_BLOCK;
	ret->vendor_id = 0x5641;	/* "VA" */
	ret->features = f;
	ret->num_queues = b->opts.queues;
	ret->max_queue_size = b->opts.queue_size;
	ret->config_size = BLK_CONFIG_SIZE;
	/* va_request + segment sizes + blk header + data or segments */
	ret->max_request = 16 + 4 * (b->seg_max + 2) + 16 +
			   (b->max_data > 16 * BLK_MAX_DISCARD_SEG ?
			    b->max_data : 16 * BLK_MAX_DISCARD_SEG);
	ret->max_in = b->max_data + 1;
}

const char *blk_cache_name(enum blk_cache c)
{
	switch (c) {
	case BLK_CACHE_WRITEBACK:	return "writeback";
	case BLK_CACHE_WRITETHROUGH:	return "writethrough";
	case BLK_CACHE_NONE:		return "none";
	case BLK_CACHE_AUTO:		return "auto";
	}
	return "?";
}

/* "domN", or what is known of a domain whose kernel was not told its id. */
static const char *dom_name(uint16_t self, char *buf, size_t size)
{
	if (self == VA_ARGO_DOMID_ANY)
		return "this domain (not dom0)";
	snprintf(buf, size, "dom%u", self);
	return buf;
}

/* --cache auto, now that the domain it runs in (self, named who) is
 * known (blk.h). */
static void resolve_cache(struct blk *b, uint16_t self, const char *who)
{
	if (self == 0) {
		b->opts.cache = BLK_CACHE_WRITEBACK;
		va_notice("blk: cache writeback (auto: dom0, whose end is its guests' end)");
	} else if (b->direct || (b->is_blkdev && set_direct(b) == 0)) {
		b->opts.cache = BLK_CACHE_NONE;
		va_notice("blk: cache none (auto: %s can end while its guests "
			  "live on; %s)", who, b->is_blkdev ?
			  "the image is a block device" : "the aio engine's O_DIRECT");
	} else {
		b->opts.cache = BLK_CACHE_WRITETHROUGH;
		b->wce = false;
		update_cache_mode(b);
		va_dev_config_update(b->dev);
		va_notice("blk: cache writethrough (auto: %s can end while its "
			  "guests live on; the image is a %s)", who,
			  b->is_blkdev ? "block device without O_DIRECT" : "file");
	}
}

int blk_attach(struct blk *b, struct va_dev *dev, struct va_loop *loop)
{
	uint16_t self = va_dev_self_domid(dev);
	char buf[16];
	const char *who = dom_name(self, buf, sizeof(buf));
	int r;

	b->dev = dev;
	/*
	 * A write-back cache in the page cache of a domain that can end
	 * while its guests live on (a driver domain, anything but dom0) dies
	 * with it, writes it acknowledged included; the guest's next flush
	 * reaches the backend that replaces it, which never had them, and
	 * succeeds (docs/deployment.md, 10.8).  The default avoids it; asked
	 * for, it is said at start.
	 */
	if (b->opts.cache == BLK_CACHE_AUTO)
		resolve_cache(b, self, who);
	else if (b->opts.cache == BLK_CACHE_WRITEBACK && !b->direct &&
		 !b->opts.readonly && self != 0)
		va_warn("blk: --cache writeback in %s, which can end while "
			"its guests live on: writes acknowledged but not yet "
			"flushed would end with it, and a guest's flush after "
			"that would not cover them; use --cache none (a block "
			"device) or writethrough", who);
	if (!loop)
		return 0;
	r = va_loop_add_fd(loop, blk_engine_fd(b->engine), EPOLLIN, on_event, b);
	if (r < 0)
		return r;
	r = va_loop_add_fd(loop, blk_worker_fd(b->worker), EPOLLIN, on_event, b);
	if (r < 0) {
		va_loop_del_fd(loop, blk_engine_fd(b->engine));
		return r;
	}
	b->loop = loop;
	return 0;
}

void blk_detach(struct blk *b)
{
	if (b->loop) {
		va_loop_del_fd(b->loop, blk_engine_fd(b->engine));
		va_loop_del_fd(b->loop, blk_worker_fd(b->worker));
	}
	b->loop = NULL;
	b->dev = NULL;
}

int blk_resize(struct blk *b)
{
	uint64_t size, cap;
	int r = image_size(b, &size);

	if (r < 0)
		return va_log_errno(VA_LOG_WARN, r, "blk: cannot re-read the size of %s",
				    b->opts.image);
	if (size % b->block_size)
		va_warn("blk: size %llu of %s is not a multiple of the block size "
			"%u; the tail is not exposed", (unsigned long long)size,
			b->opts.image, b->block_size);
	cap = size / b->block_size * b->block_size / BLK_SECTOR;
	if (cap == b->capacity) {
		va_info("blk: capacity unchanged (%llu sectors)",
			(unsigned long long)cap);
		return 0;
	}
	va_notice("blk: capacity %llu -> %llu sectors",
		  (unsigned long long)b->capacity, (unsigned long long)cap);
	b->capacity = cap;
	if (b->dev)
		va_dev_config_update(b->dev);	/* EVENT_CONFIG */
	return 1;
}
