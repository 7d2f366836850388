/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-testd: a minimal device for integration tests of the device
 * core and the drivers, until real devices cover the same ground.
 *
 * Device id VA_TESTDEV_ID ("test"), VA_TESTDEV_QUEUES queues:
 *   queue 0 "echo":      the response is the request's out bytes,
 *                        truncated to in_len;
 *   queue 1 "transform": the response is the out bytes XOR 0xA5, truncated
 *                        to in_len.
 * Feature bit 0 (VA_TESTDEV_F_DUMMY) is offered and means nothing.
 * Config space (16 bytes, little-endian):
 *   0  magic "test" (0x74736574), read-only
 *   4  scratch word, writable by the driver
 *   8  event counter, read-only: bumped on SIGHUP with a config event
 *   12 reserved, 0, read-only
 * --delay-ms N completes every request N ms late, so that work is in
 * flight when a test restarts or resets something.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "util.h"
#include "va-config.h"

#define VA_TESTDEV_ID		0x7f00u
#define VA_TESTDEV_PORT		0x5641f000u
#define VA_TESTDEV_QUEUES	2u
#define VA_TESTDEV_QUEUE_MAX	256u
#define VA_TESTDEV_F_DUMMY	(1ull << 0)
#define VA_TESTDEV_CONFIG_SIZE	16u
#define VA_TESTDEV_MAGIC	0x74736574u
#define TRANSFORM_XOR		0xa5u

struct testd {
	struct va_dev *dev;
	uint32_t delay_ms;
	uint32_t events;
};

static void testd_finish(struct va_req *req)
{
	uint32_t n = req->out_len < req->in_len ? req->out_len : req->in_len;
	uint32_t i;

	if (req->queue == 0) {
		memcpy(req->in, req->out, n);
	} else {
		for (i = 0; i < n; i++)
			req->in[i] = req->out[i] ^ TRANSFORM_XOR;
	}
	va_req_complete(req, n);
}

static void testd_timer(struct va_loop *loop, void *opaque)
{
	testd_finish(opaque);
}

static void testd_request(void *opaque, struct va_req *req)
{
	struct testd *t = opaque;

	if (t->delay_ms &&
	    va_loop_add_timer(va_dev_loop(t->dev), t->delay_ms, testd_timer, req,
			      NULL) == 0)
		return;
	testd_finish(req);
}

static int testd_write_config(void *opaque, const uint8_t *cfg, uint32_t off,
			      uint32_t size)
{
	/* Only the scratch word [4, 8) is writable. */
	if (off < 4 || off + size > 8)
		return -EPERM;
	return 0;
}

/* The device's fields: the magic and the counter (the scratch word is the
 * driver's, kept by the core). */
static void testd_get_config(void *opaque, uint8_t *cfg)
{
	const struct testd *t = opaque;

	va_put_le32(cfg, VA_TESTDEV_MAGIC);
	va_put_le32(cfg + 8, t->events);
}

static const struct va_dev_ops testd_ops = {
	.request = testd_request,
	.get_config = testd_get_config,
	.write_config = testd_write_config,
};

static void testd_sighup(struct va_loop *loop, int signo, void *opaque)
{
	struct testd *t = opaque;

	t->events++;
	va_dev_config_update(t->dev);
	va_notice("config event %u", t->events);
}

static void testd_usage(FILE *f)
{
	fprintf(f,
"  --delay-ms MS         complete requests MS milliseconds late\n");
}

enum { OPT_DELAY = VA_DAEMON_DEV_OPT };

static const struct option testd_options[] = {
	{ "delay-ms", required_argument, NULL, OPT_DELAY },
	{ NULL, 0, NULL, 0 },
};

static int testd_parse_opt(void *cfg, int opt, const char *arg)
{
	struct testd *t = cfg;

	if (opt != OPT_DELAY)
		return -EINVAL;
	if (va_parse_u32(arg, 0, 3600000, &t->delay_ms) < 0)
		return va_daemon_bad_value("delay-ms", arg, NULL);
	return 0;
}

static int testd_create(void *cfg, const struct va_daemon_opts *o,
			void **priv, struct va_dev_info *info,
			const struct va_dev_ops **ops)
{
	*info = (struct va_dev_info){
		.device_id = VA_TESTDEV_ID,
		.vendor_id = 0,
		.features = VA_TESTDEV_F_DUMMY,
		.num_queues = VA_TESTDEV_QUEUES,
		.max_queue_size = VA_TESTDEV_QUEUE_MAX,
		.config_size = VA_TESTDEV_CONFIG_SIZE,
	};
	*ops = &testd_ops;
	*priv = cfg;
	return 0;
}

static int testd_attach(void *priv, struct va_dev *dev, struct va_loop *loop)
{
	struct testd *t = priv;
	int r;

	t->dev = dev;
	r = va_loop_add_signal(loop, SIGHUP, testd_sighup, t);
	if (r < 0)
		va_log_errno(VA_LOG_ERR, r, "SIGHUP");
	return r;
}

static const struct va_daemon_desc testd_desc = {
	.prog = "virtio-argo-testd",
	.dev_name = "test",
	.synopsis = "--domid N [options]",
	.summary =
"A test device for virtio-argo (device id 0x7f00): queue 0 echoes, queue 1\n"
"XORs with 0xa5; SIGHUP bumps a config field.",
	.default_port = VA_TESTDEV_PORT,
	.options = testd_options,
	.usage = testd_usage,
	.parse_opt = testd_parse_opt,
	.create = testd_create,
	.attach = testd_attach,
};

int main(int argc, char **argv)
{
	static struct testd t;

	return va_daemon_main(&testd_desc, &t, argc, argv);
}
