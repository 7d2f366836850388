/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest's blk mode and the part its sub-modes share (see
 * guest-blk.h): probing a virtio-blk device through libva-guest, its config, and
 * virtio-blk request framing (16-byte header out; data; status byte in).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-blk.h"
#include "guest-tool.h"
#include "virtio-argo/protocol.h"

int gblk_parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K':
		v <<= 10;
		end++;
		break;
	case 'm': case 'M':
		v <<= 20;
		end++;
		break;
	case 'g': case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int gblk_refresh(struct gblk *gb)
{
	struct virtio_blk_config cfg;
	uint32_t gen, cfg_len = va_guest_devinfo(gb->g)->config_size;
	int r;

	/* Fields past the device's config_size read as 0. */
	memset(&cfg, 0, sizeof(cfg));
	if (cfg_len > sizeof(cfg))
		cfg_len = sizeof(cfg);
	r = va_guest_get_config(gb->g, 0, &cfg, cfg_len, &gen);

	if (r < 0)
		return r;
	gb->capacity = va_le64_to_cpu(cfg.capacity);
	gb->block_size = 512;
	if (gb->features & (1ull << VIRTIO_BLK_F_BLK_SIZE)) {
		uint32_t bs = va_le32_to_cpu(cfg.blk_size);

		if (bs >= 512 && bs <= 65536 && !(bs & (bs - 1)))
			gb->block_size = bs;
	}
	gb->max_data = va_guest_max_in(gb->g);
	if (gb->max_data)
		gb->max_data -= 1;	/* the status byte */
	{
		uint32_t out = va_guest_max_out(gb->g, 2);

		out = out > 16 ? out - 16 : 0;
		if (out < gb->max_data)
			gb->max_data = out;
	}
	if ((gb->features & (1ull << VIRTIO_BLK_F_SIZE_MAX)) &&
	    (gb->features & (1ull << VIRTIO_BLK_F_SEG_MAX))) {
		uint64_t m = (uint64_t)va_le32_to_cpu(cfg.size_max) *
			     va_le32_to_cpu(cfg.seg_max);

		if (m && m < gb->max_data)
			gb->max_data = (uint32_t)m;
	}
	gb->max_data -= gb->max_data % gb->block_size;
	if (gb->max_data == 0)
		return -EMSGSIZE;
	gb->max_discard = (gb->features & (1ull << VIRTIO_BLK_F_DISCARD)) ?
			  va_le32_to_cpu(cfg.max_discard_sectors) : 0;
	gb->max_write_zeroes = (gb->features & (1ull << VIRTIO_BLK_F_WRITE_ZEROES)) ?
			       va_le32_to_cpu(cfg.max_write_zeroes_sectors) : 0;
	return 0;
}

int gblk_open(struct guest_ctx *ctx, uint16_t queues, struct gblk *ret)
{
	struct va_guest_opts go = ctx->gopts;
	int r;

	memset(ret, 0, sizeof(*ret));
	go.features_mask = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX |
			   1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_BLK_SIZE |
			   1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_TOPOLOGY |
			   1ull << VIRTIO_BLK_F_MQ | 1ull << VIRTIO_BLK_F_DISCARD |
			   1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	go.expect_device_id = VIRTIO_ID_BLOCK;
	go.num_queues = queues;
	r = va_guest_open(&go, &ret->g);
	if (r < 0) {
		fprintf(stderr, "%s: no virtio-blk device at domain %u port "
			"0x%x: %s\n", ctx->prog, go.backend_domid, go.port,
			strerror(-r));
		return r;
	}
	ret->features = va_guest_features(ret->g);
	ret->readonly = ret->features & (1ull << VIRTIO_BLK_F_RO);
	ret->flush = ret->features & (1ull << VIRTIO_BLK_F_FLUSH);
	r = gblk_refresh(ret);
	if (r < 0) {
		fprintf(stderr, "virtio-argo-guest: cannot read the device "
			"config: %s\n", strerror(-r));
		gblk_close(ret);
	}
	return r;
}

void gblk_close(struct gblk *gb)
{
	va_guest_free(gb->g);
	gb->g = NULL;
}

int64_t gblk_submit(struct gblk *gb, uint16_t queue, uint32_t type,
		    uint64_t sector, void *buf, uint32_t len, uint8_t *status,
		    va_guest_done_cb cb, void *opaque)
{
	struct virtio_blk_outhdr hdr = {
		.type = va_cpu_to_le32(type),
		.sector = va_cpu_to_le64(sector),
	};
	struct iovec out[2], in[2];
	unsigned int nout = 1, nin = 0;

	out[0].iov_base = &hdr;
	out[0].iov_len = sizeof(hdr);
	if ((type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD ||
	     type == VIRTIO_BLK_T_WRITE_ZEROES) && len) {
		out[1].iov_base = buf;
		out[1].iov_len = len;
		nout = 2;
	} else if (len) {
		in[0].iov_base = buf;
		in[0].iov_len = len;
		nin = 1;
	}
	*status = 0xff;
	in[nin].iov_base = status;
	in[nin].iov_len = 1;
	nin++;
	return va_guest_submit(gb->g, queue, out, nout, in, nin, cb, opaque);
}

int guest_mode_blk(struct guest_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(argc < 2 ? stderr : stdout,
			"Usage: %s [OPTIONS] blk fuse MOUNTDIR [--name NAME]\n"
			"       %s [OPTIONS] blk bench [--rw M] [--bs S] "
			"[--iodepth N] [--runtime S]\n"
			"Run 'blk fuse --help' or 'blk bench --help' for details.\n",
			ctx->prog, ctx->prog);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "fuse"))
		return guest_blk_fuse(ctx, argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return guest_blk_bench(ctx, argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown blk mode '%s' (fuse, bench)\n", ctx->prog,
		argv[1]);
	return 2;
}
