/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-blkd: serve one virtio-blk device to one guest over Argo.
 *
 *   virtio-argo-blkd --domid 5 --image disk.img
 *
 * This file is options and set-up only.  The options every daemon shares
 * (domains, port, ring length, transport, logging) and the clean shutdown
 * on SIGTERM/SIGINT come from daemon.h; the image, the I/O engine and the
 * virtio-blk logic are blk.c's.  SIGHUP re-reads the image size and
 * announces a change to the guest.  Exit status: 0 clean stop, 1 failure,
 * 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "va-config.h"
#include "blk.h"
#include "daemon.h"
#include "util.h"

#define PROG	"virtio-argo-blkd"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --domid N|--domain NAME --image PATH [options]\n"
		"Serve a virtio-blk device to guest domain N over Argo.\n\n"
		"  --image PATH          image file or block device (required)\n"
		"  --readonly            read-only device (writes fail with IOERR)\n"
		"  --serial STR          serial number for GET_ID (at most 20 bytes)\n"
		"  --cache MODE          writeback (default), writethrough, or none\n"
		"                        (O_DIRECT; FLUSH honoured in every mode)\n"
		"  --block-size N        logical block size, 512 or 4096\n"
		"                        (default: the device's; 512 for files)\n"
		"  --queues N            virtqueues (default 1, at most %u)\n"
		"  --queue-size N        largest queue size (default %u)\n"
		"  --engine E            io_uring (default; falls back to aio when\n"
		"                        io_uring is unavailable) or aio (O_DIRECT)\n"
		"  --ring-size BYTES     same as --ring-len\n"
		"  --help, --version\n"
		"Common options (default port %#x):\n",
		VA_MAX_QUEUES, BLK_QUEUE_SIZE_DEFAULT, VA_PORT_BLK_DEFAULT);
	va_daemon_usage(f);
	fprintf(f,
		"\nSignals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the image\n"
		"size and tells the guest.\n"
		"Test hook: with %s set in the environment\n"
		"io_uring set-up fails as if the kernel lacked it (ENOSYS).\n",
		BLK_ENV_FAIL_URING);
}

static void bad_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	exit(2);
}

static uint32_t parse_num(const char *s, const char *opt, uint32_t min,
			  uint32_t max)
{
	uint32_t v;

	if (va_parse_u32(s, min, max, &v) < 0)
		bad_usage("bad value '%s' for %s (%u..%u)", s, opt, min, max);
	return v;
}

static void on_sighup(struct va_loop *loop, int signo, void *opaque)
{
	blk_resize(opaque);
}

enum {
	OPT_IMAGE = 256, OPT_READONLY, OPT_SERIAL, OPT_CACHE, OPT_BLOCK_SIZE,
	OPT_QUEUES, OPT_QUEUE_SIZE, OPT_ENGINE, OPT_HELP, OPT_VERSION,
};

static const struct option long_opts[] = {
	VA_DAEMON_LONGOPTS,
	{ "ring-size", required_argument, NULL, VA_DAEMON_OPT_RING_LEN },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "readonly", no_argument, NULL, OPT_READONLY },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct blk_opts bo = {
		.cache = BLK_CACHE_WRITEBACK,
		.queues = 1,
		.queue_size = BLK_QUEUE_SIZE_DEFAULT,
		.engine = BLK_ENGINE_IO_URING,
	};
	struct va_daemon_opts o;
	struct va_daemon d = { 0 };
	struct va_dev_opts dopts;
	struct va_dev_info info;
	struct va_dev *dev = NULL;
	struct blk *blk = NULL;
	bool cache_given = false;
	int c, r, rc = 1;

	va_daemon_opts_init(&o, VA_PORT_BLK_DEFAULT);
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		r = va_daemon_parse_opt(&o, c, optarg);
		if (r > 0)
			continue;
		if (r < 0)
			return 2;
		switch (c) {
		case OPT_IMAGE:
			bo.image = optarg;
			break;
		case OPT_READONLY:
			bo.readonly = true;
			break;
		case OPT_SERIAL:
			if (strlen(optarg) > VIRTIO_BLK_ID_BYTES)
				bad_usage("--serial '%s' is longer than %u bytes",
					  optarg, VIRTIO_BLK_ID_BYTES);
			bo.serial = optarg;
			break;
		case OPT_CACHE:
			cache_given = true;
			if (!strcmp(optarg, "writeback"))
				bo.cache = BLK_CACHE_WRITEBACK;
			else if (!strcmp(optarg, "writethrough"))
				bo.cache = BLK_CACHE_WRITETHROUGH;
			else if (!strcmp(optarg, "none"))
				bo.cache = BLK_CACHE_NONE;
			else
				bad_usage("bad --cache '%s' (writeback, "
					  "writethrough, none)", optarg);
			break;
		case OPT_BLOCK_SIZE:
			bo.block_size = parse_num(optarg, "--block-size", 512, 4096);
			if (bo.block_size != 512 && bo.block_size != 4096)
				bad_usage("--block-size %s: 512 or 4096", optarg);
			break;
		case OPT_QUEUES:
			bo.queues = (uint16_t)parse_num(optarg, "--queues", 1,
							VA_MAX_QUEUES);
			break;
		case OPT_QUEUE_SIZE:
			bo.queue_size = parse_num(optarg, "--queue-size", 1,
						  VA_MAX_QUEUE_SIZE);
			break;
		case OPT_ENGINE:
			if (!strcmp(optarg, "io_uring"))
				bo.engine = BLK_ENGINE_IO_URING;
			else if (!strcmp(optarg, "aio"))
				bo.engine = BLK_ENGINE_AIO;
			else
				bad_usage("bad --engine '%s' (io_uring, aio)",
					  optarg);
			bo.engine_forced = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf(PROG " %s\n", VA_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return 2;
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (va_daemon_opts_check(&o) < 0)
		return 2;
	if (!bo.image)
		bad_usage("--image is required");
	if (cache_given && bo.cache == BLK_CACHE_WRITEBACK &&
	    bo.engine == BLK_ENGINE_AIO)
		bad_usage("--engine aio bypasses the page cache (O_DIRECT): "
			  "use --cache none or writethrough, not writeback");
	bo.ring_len = o.ring_len ? o.ring_len : VA_RING_LEN_DEFAULT;

	/* The image first: its errors are the operator's most likely ones. */
	va_log_init(PROG, o.log_level, o.use_syslog);
	if (blk_new(&bo, &blk) < 0)
		return 1;
	if (va_daemon_open(&d, PROG, &o) < 0)
		goto out;
	va_daemon_dev_opts(&o, "blk", &dopts);
	blk_dev_info(blk, &info);
	r = va_dev_new(d.loop, d.argo, &info, blk_dev_ops(), blk, &dopts, &dev);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "cannot create the device");
		goto out;
	}
	d.dev = dev;
	r = blk_attach(blk, dev, d.loop);
	if (r == 0)
		r = va_loop_add_signal(d.loop, SIGHUP, on_sighup, blk);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "cannot set up the event loop");
		goto out;
	}
	if (o.guest_name)
		va_notice("blk: serving %s to domain %s on port %#x",
			  bo.image, o.guest_name, dopts.port);
	else
		va_notice("blk: serving %s to domain %u on port %#x",
			  bo.image, o.guest_domid, dopts.port);
	rc = va_daemon_run(&d, dev);
out:
	/* Completions of I/O still in flight go to the device core. */
	if (blk) {
		blk_drain(blk);
		blk_detach(blk);
	}
	va_daemon_close(&d);
	blk_free(blk);
	return rc;
}
