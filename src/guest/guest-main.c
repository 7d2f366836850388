/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest: a user-space virtio-argo driver (the guest side) as a
 * command-line tool.  Common options choose the Argo transport, the domains
 * and the device port; a mode does the work (see guest-tool.h and the mode
 * table below).  This file also holds the `info` mode, which probes a
 * device and prints what it offers and what was negotiated.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "va-config.h"
#include "guest-tool.h"
#include "util.h"
#include "log.h"
#include "virtio-argo/wire.h"

#define PROG "virtio-argo-guest"

static const struct guest_mode {
	const char *name;
	guest_mode_fn run;
	const char *help;
} modes[] = {
	{ "info", guest_mode_info,
	  "probe the device, print ids, features, config and queues" },
	{ "blk", guest_mode_blk,
	  "fuse MOUNTDIR | bench [...]: virtio-blk as a file, or a load" },
	{ "net", guest_mode_net,
	  "tap NAME [...]: virtio-net as a TAP interface" },
	{ "console", guest_mode_console,
	  "[--port NAME=PATH]...: virtio-console on stdin/stdout" },
	{ "test-echo", guest_mode_test_echo,
	  "--count N --size S --qd Q [--queue I] [--verify]: drive the test device" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: " PROG " [OPTIONS] MODE [ARGS]\n"
		"The driver side of virtio-argo in user space.\n\n"
		"  -g, --self-domid G      our (guest) domain (default 1; created in the\n"
		"                          simulator if absent)\n"
		"  -b, --backend-domid B   the backend's domain (default 0)\n"
		"  -p, --port P            the device's Argo port (default: blk %#x)\n"
		"  -l, --driver-port P     our ring's port (default: the device's)\n"
		"  -s, --sim-socket PATH   simulator socket (default: $%s, else %s)\n"
		"  -t, --transport T       sim, xen or auto (default auto)\n"
		"  -r, --ring-len N        our ring's data bytes (default %u)\n"
		"  -T, --timeout S         seconds to wait for the device (default 10)\n"
		"  --log-level L           error, warning, notice, info, debug\n"
		"                          (default notice)\n"
		"  -h, --help              this help\n"
		"  -V, --version           version\n\nModes:\n",
		VA_PORT_BLK_DEFAULT, VA_SIM_SOCKET_ENV, VA_SIM_SOCKET_DEFAULT,
		VA_RING_LEN_DEFAULT);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, "  %-10s %s\n", modes[i].name, modes[i].help);
}

int guest_fail(const struct guest_ctx *ctx, int err, const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", ctx->prog, what, strerror(-err));
	return 1;
}

/* ---- info mode ---- */

struct bitname {
	unsigned int bit;
	const char *name;
};

static const struct bitname common_bits[] = {
	{ 28, "INDIRECT_DESC" }, { 29, "EVENT_IDX" }, { 32, "VERSION_1" },
	{ 33, "ACCESS_PLATFORM" }, { 34, "RING_PACKED" }, { 35, "IN_ORDER" },
	{ 36, "ORDER_PLATFORM" }, { 37, "SR_IOV" }, { 38, "NOTIFICATION_DATA" },
};

static const struct bitname blk_bits[] = {
	{ 1, "SIZE_MAX" }, { 2, "SEG_MAX" }, { 4, "GEOMETRY" }, { 5, "RO" },
	{ 6, "BLK_SIZE" }, { 9, "FLUSH" }, { 10, "TOPOLOGY" },
	{ 11, "CONFIG_WCE" }, { 12, "MQ" }, { 13, "DISCARD" },
	{ 14, "WRITE_ZEROES" }, { 15, "LIFETIME" }, { 16, "SECURE_ERASE" },
	{ 17, "ZONED" },
};

static const struct bitname net_bits[] = {
	{ 0, "CSUM" }, { 1, "GUEST_CSUM" }, { 2, "CTRL_GUEST_OFFLOADS" },
	{ 3, "MTU" }, { 5, "MAC" }, { 7, "GUEST_TSO4" }, { 8, "GUEST_TSO6" },
	{ 9, "GUEST_ECN" }, { 10, "GUEST_UFO" }, { 11, "HOST_TSO4" },
	{ 12, "HOST_TSO6" }, { 13, "HOST_ECN" }, { 14, "HOST_UFO" },
	{ 15, "MRG_RXBUF" }, { 16, "STATUS" }, { 17, "CTRL_VQ" },
	{ 18, "CTRL_RX" }, { 19, "CTRL_VLAN" }, { 21, "GUEST_ANNOUNCE" },
	{ 22, "MQ" }, { 23, "CTRL_MAC_ADDR" }, { 63, "SPEED_DUPLEX" },
};

static const struct bitname console_bits[] = {
	{ 0, "SIZE" }, { 1, "MULTIPORT" }, { 2, "EMERG_WRITE" },
};

static const char *bit_name(const struct bitname *t, size_t n, unsigned int bit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].bit == bit)
			return t[i].name;
	return NULL;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void print_features(const char *label, uint64_t bits, uint32_t device_id)
{
	unsigned int bit;

	printf("%-12s 0x%016" PRIx64 " ", label, bits);
	for (bit = 0; bit < 64; bit++) {
		const char *name = NULL;

		if (!(bits & (1ull << bit)))
			continue;
		if (device_id == 2)
			name = bit_name(blk_bits, N(blk_bits), bit);
		else if (device_id == 1)
			name = bit_name(net_bits, N(net_bits), bit);
		else if (device_id == 3)
			name = bit_name(console_bits, N(console_bits), bit);
		if (!name)
			name = bit_name(common_bits, N(common_bits), bit);
		if (name)
			printf(" %s", name);
		else
			printf(" bit%u", bit);
	}
	printf("\n");
}

/* A field of virtio's config struct S, little-endian, read from the first
 * `size` config bytes `c`; 0 when the device's config ends before it. */
#define CFG(S, field)	cfg_field(c, size, offsetof(struct S, field), \
				  sizeof(((struct S *)0)->field))

static uint64_t cfg_field(const uint8_t *c, uint32_t size, size_t off,
			  size_t n)
{
	if (off + n > size)
		return 0;
	switch (n) {
	case 1:
		return c[off];
	case 2:
		return va_get_le16(c + off);
	case 4:
		return va_get_le32(c + off);
	default:
		return va_get_le64(c + off);
	}
}

static void print_config(uint32_t device_id, const uint8_t *c, uint32_t size)
{
	uint32_t i;

	for (i = 0; i < size; i += 16) {
		uint32_t j;

		printf("  %04x:", i);
		for (j = i; j < i + 16 && j < size; j++)
			printf(" %02x", c[j]);
		printf("\n");
	}
	if (device_id == VIRTIO_ID_BLOCK && size >= 8) {
		printf("  capacity %" PRIu64 " sectors (%" PRIu64 " bytes)\n",
		       CFG(virtio_blk_config, capacity),
		       CFG(virtio_blk_config, capacity) * 512);
		printf("  size_max %" PRIu64 " seg_max %" PRIu64
		       " blk_size %" PRIu64 " num_queues %" PRIu64 "\n",
		       CFG(virtio_blk_config, size_max),
		       CFG(virtio_blk_config, seg_max),
		       CFG(virtio_blk_config, blk_size),
		       CFG(virtio_blk_config, num_queues));
		printf("  geometry %" PRIu64 "/%" PRIu64 "/%" PRIu64
		       " physical_block_exp %" PRIu64 " min_io %" PRIu64
		       " opt_io %" PRIu64 " writeback %" PRIu64 "\n",
		       CFG(virtio_blk_config, geometry.cylinders),
		       CFG(virtio_blk_config, geometry.heads),
		       CFG(virtio_blk_config, geometry.sectors),
		       CFG(virtio_blk_config, physical_block_exp),
		       CFG(virtio_blk_config, min_io_size),
		       CFG(virtio_blk_config, opt_io_size),
		       CFG(virtio_blk_config, wce));
		if (size > offsetof(struct virtio_blk_config, max_discard_sectors))
			printf("  max_discard_sectors %" PRIu64
			       " max_discard_seg %" PRIu64
			       " max_write_zeroes_sectors %" PRIu64 "\n",
			       CFG(virtio_blk_config, max_discard_sectors),
			       CFG(virtio_blk_config, max_discard_seg),
			       CFG(virtio_blk_config, max_write_zeroes_sectors));
	} else if (device_id == VIRTIO_ID_NET && size >= 6) {
		printf("  mac %02x:%02x:%02x:%02x:%02x:%02x status %" PRIu64
		       " max_virtqueue_pairs %" PRIu64 " mtu %" PRIu64 "\n",
		       c[0], c[1], c[2], c[3], c[4], c[5],
		       CFG(virtio_net_config, status),
		       CFG(virtio_net_config, max_virtqueue_pairs),
		       CFG(virtio_net_config, mtu));
	} else if (device_id == VIRTIO_ID_CONSOLE && size >= 4) {
		printf("  cols %" PRIu64 " rows %" PRIu64 " max_nr_ports %" PRIu64
		       "\n", CFG(virtio_console_config, cols),
		       CFG(virtio_console_config, rows),
		       CFG(virtio_console_config, max_nr_ports));
	}
}

int guest_mode_info(struct guest_ctx *ctx, int argc, char **argv)
{
	const struct va_guest_devinfo *di;
	uint8_t cfg[VA_MAX_CONFIG_SIZE];
	struct va_guest *g;
	uint32_t gen = 0;
	uint8_t status;
	uint16_t i;
	int r;

	if (argc != 1) {
		fprintf(stderr, "%s: info takes no arguments\n", ctx->prog);
		return 2;
	}
	ctx->gopts.features_mask = ~0ull;
	r = va_guest_open(&ctx->gopts, &g);
	if (r < 0)
		return guest_fail(ctx, r, "cannot probe the device");
	di = va_guest_devinfo(g);
	printf("device       dom%u port %#x\n", ctx->gopts.backend_domid,
	       ctx->gopts.port);
	printf("device_id    %u (%s)\n", di->device_id,
	       va_guest_device_name(di->device_id));
	printf("vendor_id    %#x\n", di->vendor_id);
	printf("versions     %u..%u\n", di->version_min, di->version_max);
	printf("ring_len     device %u, driver %u\n", di->device_ring_len,
	       ctx->gopts.ring_len ? ctx->gopts.ring_len : VA_RING_LEN_DEFAULT);
	printf("max_request  %u\n", di->max_request);
	print_features("offered", va_guest_offered(g), di->device_id);
	print_features("negotiated", va_guest_features(g), di->device_id);
	printf("queues       %u (max size %u)\n", di->num_queues,
	       di->max_queue_size);
	for (i = 0; i < va_guest_num_queues(g); i++)
		printf("  queue %u: max %u, size %u\n", i,
		       va_guest_queue_max(g, i), va_guest_queue_size(g, i));
	r = va_guest_get_config(g, 0, cfg, di->config_size, &gen);
	if (r < 0) {
		va_guest_free(g);
		return guest_fail(ctx, r, "GET_CONFIG");
	}
	printf("config       %u bytes, generation %u\n", di->config_size, gen);
	print_config(di->device_id, cfg, di->config_size);
	r = va_guest_get_status(g, &status);
	if (r < 0) {
		va_guest_free(g);
		return guest_fail(ctx, r, "GET_DEVICE_STATUS");
	}
	printf("status       %#x%s%s%s%s%s%s\n", status,
	       status & VA_STATUS_ACKNOWLEDGE ? " ACKNOWLEDGE" : "",
	       status & VA_STATUS_DRIVER ? " DRIVER" : "",
	       status & VA_STATUS_FEATURES_OK ? " FEATURES_OK" : "",
	       status & VA_STATUS_DRIVER_OK ? " DRIVER_OK" : "",
	       status & VA_STATUS_NEEDS_RESET ? " NEEDS_RESET" : "",
	       status & VA_STATUS_FAILED ? " FAILED" : "");
	va_guest_free(g);
	return 0;
}

/* ---- main ---- */

static const struct option main_opts[] = {
	{ "self-domid", required_argument, NULL, 'g' },
	{ "backend-domid", required_argument, NULL, 'b' },
	{ "port", required_argument, NULL, 'p' },
	{ "driver-port", required_argument, NULL, 'l' },
	{ "sim-socket", required_argument, NULL, 's' },
	{ "transport", required_argument, NULL, 't' },
	{ "ring-len", required_argument, NULL, 'r' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "log-level", required_argument, NULL, 'L' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 }
};

/* The common options, before the mode. */
struct main_opts {
	struct va_argo_opts aopts;
	uint32_t backend, port, driver_port, ring_len;
	enum va_log_level log_level;
};

/* Parses the common options: -1 to go on, else the exit status. */
static int parse_common(int argc, char **argv, struct guest_ctx *ctx,
			struct main_opts *o)
{
	uint32_t v;
	int c;

	while ((c = getopt_long(argc, argv, "+g:b:p:l:s:t:r:T:hV", main_opts,
				NULL)) != -1) {
		switch (c) {
		case 'g':
			if (va_parse_u32(optarg, 0, VA_ARGO_DOMID_MAX, &v) < 0)
				goto bad;
			o->aopts.self_domid = (uint16_t)v;
			break;
		case 'b':
			if (va_parse_u32(optarg, 0, VA_ARGO_DOMID_MAX, &o->backend) < 0)
				goto bad;
			break;
		case 'p':
			if (va_parse_u32(optarg, 0, UINT32_MAX, &o->port) < 0)
				goto bad;
			break;
		case 'l':
			if (va_parse_u32(optarg, 1, UINT32_MAX, &o->driver_port) < 0)
				goto bad;
			break;
		case 's':
			o->aopts.sim_socket = optarg;
			break;
		case 't':
			if (va_transport_parse(optarg, &o->aopts.transport) < 0)
				goto bad;
			break;
		case 'r':
			if (va_parse_u32(optarg, 0, VA_RING_LEN_MAX, &o->ring_len) < 0 ||
			    !va_ring_len_ok(o->ring_len))
				goto bad;
			break;
		case 'T':
			if (va_parse_u32(optarg, 0, 86400, &v) < 0 || v == 0)
				goto bad;
			ctx->timeout_s = v;
			break;
		case 'L':
			if (va_log_parse_level(optarg, &o->log_level) < 0)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " %s\n", VA_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	return -1;
bad:
	fprintf(stderr, PROG ": bad value '%s' for -%c\n", optarg, c);
	return 2;
}

/* The mode named argv[optind], or NULL (usage printed). */
static const struct guest_mode *find_mode(int argc, char **argv)
{
	size_t i;

	if (optind >= argc) {
		usage(stderr);
		return NULL;
	}
	for (i = 0; i < N(modes); i++)
		if (!strcmp(argv[optind], modes[i].name))
			return &modes[i];
	fprintf(stderr, PROG ": unknown mode '%s'\n", argv[optind]);
	usage(stderr);
	return NULL;
}

int main(int argc, char **argv)
{
	struct main_opts o = {
		.aopts = { .self_domid = 1, .create_domain = true },
		.port = VA_PORT_BLK_DEFAULT,
		.log_level = VA_LOG_NOTICE,
	};
	struct guest_ctx ctx = {
		.prog = PROG,
		.timeout_s = 10,
	};
	const struct guest_mode *mode;
	int r;

	r = parse_common(argc, argv, &ctx, &o);
	if (r >= 0)
		return r;
	mode = find_mode(argc, argv);
	if (!mode)
		return 2;
	va_log_init(PROG, o.log_level, false);

	r = va_argo_open(&o.aopts, &ctx.argo);
	if (r < 0)
		return guest_fail(&ctx, r, "cannot attach to Argo");
	ctx.gopts.argo = ctx.argo;
	ctx.gopts.backend_domid = (uint16_t)o.backend;
	ctx.gopts.port = o.port;
	ctx.gopts.local_port = o.driver_port;
	ctx.gopts.ring_len = o.ring_len;
	ctx.gopts.timeout_ms = ctx.timeout_s * 1000;
	ctx.gopts.wait_for_backend = true;

	argc -= optind;
	argv += optind;
	optind = 0;
	r = mode->run(&ctx, argc, argv);
	va_argo_close(ctx.argo);
	return r;
}
