/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-blkd: serve one virtio-blk device to one guest over Argo.
 *
 *   virtio-argo-blkd --domid 5 --image disk.img
 *
 * This file is blkd's own options and its descriptor for the daemon
 * skeleton (daemon.h), which parses the options every daemon shares and
 * runs the life cycle with the clean shutdown on SIGTERM/SIGINT; the
 * image, the I/O engine and the virtio-blk logic are blk.c's.  SIGHUP re-reads the image size and
 * announces a change to the guest.  Exit status: 0 clean stop, 1 failure,
 * 2 bad usage.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "va-config.h"
#include "blk.h"
#include "daemon.h"
#include "util.h"

#define PROG	"virtio-argo-blkd"

enum {
	OPT_IMAGE = VA_DAEMON_DEV_OPT, OPT_READONLY, OPT_SERIAL, OPT_CACHE,
	OPT_BLOCK_SIZE, OPT_ENGINE,
};

static const struct option blk_options[] = {
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "readonly", no_argument, NULL, OPT_READONLY },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ NULL, 0, NULL, 0 },
};

static void blk_usage(FILE *f)
{
	fprintf(f,
"  --image PATH          image file or block device (required)\n"
"  --readonly            read-only device (writes fail with IOERR)\n"
"  --serial STR          serial number for GET_ID (at most %u bytes)\n"
"  --cache MODE          auto (default: writeback in dom0; elsewhere none\n"
"                        for a block device, writethrough for a file),\n"
"                        writeback, writethrough, or none\n"
"                        (O_DIRECT; FLUSH honoured in every mode)\n"
"  --block-size N        logical block size, 512 or 4096\n"
"                        (default: the device's; 512 for files)\n"
"  --engine E            io_uring (default; falls back to aio when\n"
"                        io_uring is unavailable) or aio (O_DIRECT)\n",
		VIRTIO_BLK_ID_BYTES);
}

static int blk_parse_opt(void *cfg, int opt, const char *arg)
{
	struct blk_opts *bo = cfg;
	uint32_t v;

	switch (opt) {
	case OPT_IMAGE:
		bo->image = arg;
		return 0;
	case OPT_READONLY:
		bo->readonly = true;
		return 0;
	case OPT_SERIAL:
		if (strlen(arg) > VIRTIO_BLK_ID_BYTES)
			return va_daemon_bad_value("serial", arg,
						   "longer than 20 bytes");
		bo->serial = arg;
		return 0;
	case OPT_CACHE:
		if (!strcmp(arg, "auto"))
			bo->cache = BLK_CACHE_AUTO;
		else if (!strcmp(arg, "writeback"))
			bo->cache = BLK_CACHE_WRITEBACK;
		else if (!strcmp(arg, "writethrough"))
			bo->cache = BLK_CACHE_WRITETHROUGH;
		else if (!strcmp(arg, "none"))
			bo->cache = BLK_CACHE_NONE;
		else
			return va_daemon_bad_value("cache", arg,
				"auto, writeback, writethrough or none");
		return 0;
	case OPT_BLOCK_SIZE:
		if (va_parse_u32(arg, 512, 4096, &v) < 0 ||
		    (v != 512 && v != 4096))
			return va_daemon_bad_value("block-size", arg,
						   "512 or 4096");
		bo->block_size = v;
		return 0;
	case OPT_ENGINE:
		if (!strcmp(arg, "io_uring"))
			bo->engine = BLK_ENGINE_IO_URING;
		else if (!strcmp(arg, "aio"))
			bo->engine = BLK_ENGINE_AIO;
		else
			return va_daemon_bad_value("engine", arg,
						   "io_uring or aio");
		bo->engine_forced = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int blk_check(void *cfg, const struct va_daemon_opts *o)
{
	const struct blk_opts *bo = cfg;

	if (!bo->image) {
		fprintf(stderr, PROG ": --image is required\n");
		return -EINVAL;
	}
	if (bo->cache == BLK_CACHE_WRITEBACK &&
	    bo->engine == BLK_ENGINE_AIO) {
		fprintf(stderr, PROG ": --engine aio bypasses the page cache "
			"(O_DIRECT): use --cache none or writethrough, not "
			"writeback\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * Every request's memory (header, data, answer) is one allocation of up
 * to the largest request's data plus a little, freed when it is answered.
 * With glibc's defaults a burst of large requests makes the heap grow and
 * shrink (brk) or get mmapped per request, so each one pays page faults
 * and zeroing of fresh pages.  Keep such blocks on the heap and keep up to
 * HEAP_KEEP of freed memory at its top; the bound on requests in flight
 * bounds the heap itself.  A process-wide setting: the program's to make,
 * not the device library's.
 */
#define HEAP_KEEP	(8u * 1024 * 1024)
#define MMAP_MAX	(32u * 1024 * 1024)	/* glibc's upper limit */

static void tune_allocator(const struct blk *b)
{
	uint64_t big = (uint64_t)blk_max_data(b) + 64 * 1024;

	if (big > MMAP_MAX)
		big = MMAP_MAX;
	mallopt(M_MMAP_THRESHOLD, (int)big);
	mallopt(M_TRIM_THRESHOLD, (int)HEAP_KEEP);
}

static int blk_create(void *cfg, const struct va_daemon_opts *o, void **priv,
		      struct va_dev_info *info, const struct va_dev_ops **ops)
{
	struct blk_opts *bo = cfg;
	struct blk *b;
	int r;

	bo->queues = o->queues;
	bo->queue_size = o->queue_size;
	bo->ring_len = o->ring_len;
	r = blk_new(bo, &b);
	if (r < 0)
		return r;
	tune_allocator(b);
	blk_dev_info(b, info);
	*ops = blk_dev_ops();
	*priv = b;
	return 0;
}

static void on_sighup(struct va_loop *loop, int signo, void *opaque)
{
	blk_resize(opaque);
}

static int blk_attach_loop(void *priv, struct va_dev *dev,
			   struct va_loop *loop)
{
	int r = blk_attach(priv, dev, loop);

	if (r == 0)
		r = va_loop_add_signal(loop, SIGHUP, on_sighup, priv);
	if (r < 0)
		va_log_errno(VA_LOG_ERR, r, "cannot set up the event loop");
	return r;
}

static const char *blk_describe(void *priv)
{
	return blk_image(priv);
}

/* I/O still in flight completes into the device core, then let go. */
static void blk_end(void *priv)
{
	blk_drain(priv);
	blk_detach(priv);
}

static void blk_destroy(void *priv)
{
	blk_free(priv);
}

static const struct va_daemon_desc blkd = {
	.prog = PROG,
	.dev_name = "blk",
	.synopsis = "--domid N|--domain NAME --image PATH [options]",
	.summary = "Serve a virtio-blk device to guest domain N over Argo.",
	.notes =
"Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the image\n"
"size and tells the guest.\n"
"Test hook: with " BLK_ENV_FAIL_URING " set in the environment\n"
"io_uring set-up fails as if the kernel lacked it (ENOSYS).\n",
	.default_port = VA_PORT_BLK_DEFAULT,
	.max_queues = VA_MAX_QUEUES,
	.default_queues = 1,
	.max_queue_size = VA_MAX_QUEUE_SIZE,
	.default_queue_size = BLK_QUEUE_SIZE_DEFAULT,
	.options = blk_options,
	.usage = blk_usage,
	.parse_opt = blk_parse_opt,
	.check = blk_check,
	.create = blk_create,
	.attach = blk_attach_loop,
	.describe = blk_describe,
	.detach = blk_end,
	.destroy = blk_destroy,
};

int main(int argc, char **argv)
{
	struct blk_opts bo = {
		.cache = BLK_CACHE_AUTO,
		.engine = BLK_ENGINE_IO_URING,
	};

	return va_daemon_main(&blkd, &bo, argc, argv);
}
