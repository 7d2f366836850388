/* SPDX-License-Identifier: MIT */
/*
 * The blk modes of virtio-argo-guest: a virtio-blk driver in user space
 * on top of libva-guest (guest.h).
 *
 *   virtio-argo-guest blk fuse MOUNTDIR   the device as MOUNTDIR/disk
 *   virtio-argo-guest blk bench [...]     fio-like load, JSON results
 *
 * guest-blk.c holds what both share: probing the device with the tool's
 * common options (guest-tool.h), reading its config, and building
 * virtio-blk requests.
 */
#ifndef VA_SIM_GUEST_BLK_H
#define VA_SIM_GUEST_BLK_H

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest.h"

/* virtio-blk's numbers and structs are Linux's uapi ones (VIRTIO_BLK_*,
 * struct virtio_blk_config, struct virtio_blk_outhdr). */

struct guest_ctx;

struct gblk {
	struct va_guest *g;
	uint64_t capacity;		/* 512-byte sectors */
	uint32_t block_size;
	uint32_t max_data;		/* bytes per request */
	bool readonly;
	bool flush;			/* FLUSH negotiated */
	uint32_t max_discard;		/* sectors per DISCARD, 0: none */
	uint32_t max_write_zeroes;	/* sectors per WRITE_ZEROES, 0: none */
	uint64_t features;
};

/* Parse an unsigned number with a k/m/g suffix (powers of 1024). */
int gblk_parse_size(const char *s, uint64_t *ret);

/* Probe the virtio-blk device with the tool's common options (ctx->gopts),
 * setting up `queues` queues (0: all).  Messages go to stderr. */
int gblk_open(struct guest_ctx *ctx, uint16_t queues, struct gblk *ret);
void gblk_close(struct gblk *gb);
/* Re-read capacity (after EVENT_CONFIG).  Not from a callback. */
int gblk_refresh(struct gblk *gb);

/*
 * Submit one virtio-blk request (not sent until va_guest_flush or
 * process).  type: VIRTIO_BLK_T_*; for OUT `buf` is the data, for
 * DISCARD and WRITE_ZEROES it holds segments (struct
 * virtio_blk_discard_write_zeroes, <linux/virtio_blk.h>; `sector` is
 * unused), for IN the destination (valid until the callback); *status receives the status
 * byte.  The callback's result is the bytes written (len + 1 for IN,
 * 1 otherwise) or -errno.
 */
int64_t gblk_submit(struct gblk *gb, uint16_t queue, uint32_t type,
		    uint64_t sector, void *buf, uint32_t len, uint8_t *status,
		    va_guest_done_cb cb, void *opaque);

/* The sub-modes: argv[0] is "fuse" or "bench".  Exit status: 0 ok,
 * 1 failure, 2 bad usage.  The "blk" mode itself (guest_mode_blk,
 * guest-tool.h) dispatches to them. */
int guest_blk_fuse(struct guest_ctx *ctx, int argc, char **argv);
int guest_blk_bench(struct guest_ctx *ctx, int argc, char **argv);

#endif /* VA_SIM_GUEST_BLK_H */
