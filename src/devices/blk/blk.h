/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-blkd's device: a virtio-blk device (virtio 1.x, device id 2)
 * over an image file or block device, served through the device core
 * (src/backend/device.h).  main.c parses options and wires a struct blk
 * to a va_dev and a va_loop; everything virtio-blk lives in blk.c.
 *
 * Request layout (virtio-blk, as the core delivers it):
 *   req->out: 16-byte header {le32 type, le32 ioprio, le64 sector} then,
 *             for OUT the data, for DISCARD/WRITE_ZEROES 16-byte segments
 *   req->in:  for IN the data, for GET_ID 20 bytes; always ending with the
 *             status byte (the last byte of req->in)
 * Every request is answered with written = in_len (data and status), or
 * written = 0 when the driver gave no room for a status byte.
 */
#ifndef VA_BLK_H
#define VA_BLK_H

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "loop.h"
#include "blk-engine.h"

/*
 * virtio-blk's own definitions (feature bits VIRTIO_BLK_F_*, request types
 * VIRTIO_BLK_T_*, statuses VIRTIO_BLK_S_*, struct virtio_blk_config,
 * struct virtio_blk_outhdr, struct virtio_blk_discard_write_zeroes) come
 * from Linux's uapi headers; only what they lack is defined here.
 */
#define BLK_SECTOR			512u	/* virtio-blk's sector */
/* The config space we expose: struct virtio_blk_config up to
 * write_zeroes_may_unmap and its padding (no secure erase, no zones). */
#define BLK_CONFIG_SIZE \
	((uint32_t)offsetof(struct virtio_blk_config, max_secure_erase_sectors))

/* Our limits.  SIZE_MAX and SEG_MAX are chosen from the ring length so
 * that the largest request and its response fit one Argo message. */
#define BLK_SIZE_MAX_DEFAULT		(64u * 1024)
#define BLK_SEG_MAX_DEFAULT		16u
#define BLK_MAX_DISCARD_SEG		16u
#define BLK_MAX_DISCARD_SECTORS		(1u << 22)	/* 2 GiB per segment */
#define BLK_QUEUE_SIZE_DEFAULT		256u
#define BLK_DIO_ALIGN			4096u	/* buffer alignment for O_DIRECT */

enum blk_cache {
	BLK_CACHE_WRITEBACK,	/* page cache, WCE=1, FLUSH = fdatasync */
	BLK_CACHE_WRITETHROUGH,	/* page cache, WCE=0, every write O_DSYNC */
	BLK_CACHE_NONE,		/* O_DIRECT, WCE=1, FLUSH = fdatasync */
	/*
	 * The default: writeback in dom0, whose end is its guests' end too;
	 * in any other domain (a driver domain ends while its guests live
	 * on, and its page cache with it) none for a block device and
	 * writethrough for a file.  Resolved in blk_attach, once the domain
	 * is known; until then it is writeback.
	 */
	BLK_CACHE_AUTO,
};

struct blk_opts {
	const char *image;
	bool readonly;
	const char *serial;		/* GET_ID, at most 20 bytes used */
	enum blk_cache cache;
	uint32_t block_size;		/* 0: from the device (512 for files) */
	uint16_t queues;		/* 1..VA_MAX_QUEUES */
	uint32_t queue_size;		/* 1..VA_MAX_QUEUE_SIZE */
	enum blk_engine_kind engine;
	bool engine_forced;		/* no fallback from io_uring */
	uint32_t ring_len;		/* our Argo ring's data bytes (0: default) */
};

struct blk;

/* Open and lock the image, set up the engine and the config space.
 * Errors are logged with a message fit for an operator. */
int blk_new(const struct blk_opts *opts, struct blk **ret);
/* Wait until every request handed to blk is completed (call before the
 * device core is freed: completions go to va_req_complete). */
void blk_drain(struct blk *b);
/* Drains, then frees.  NULL is fine. */
void blk_free(struct blk *b);

/* What to give va_dev_new (opaque: the struct blk). */
void blk_dev_info(const struct blk *b, struct va_dev_info *ret);
const struct va_dev_ops *blk_dev_ops(void);
/* Bind to the device and watch the engine's and worker's fds in loop. */
int blk_attach(struct blk *b, struct va_dev *dev, struct va_loop *loop);
/* "writeback", "writethrough", "none", "auto". */
const char *blk_cache_name(enum blk_cache c);
/* Stop watching the loop and forget the device (before freeing them). */
void blk_detach(struct blk *b);
/* SIGHUP: re-read the capacity; a change is announced (EVENT_CONFIG). */
int blk_resize(struct blk *b);

const char *blk_image(const struct blk *b);
const char *blk_engine_used(const struct blk *b);
uint64_t blk_capacity(const struct blk *b);	/* sectors */

/* ---- also used by tests/unit/test-blk.c (no device core needed) ---- */

/* How requests are finished; default va_req_complete. */
typedef void (*blk_complete_fn)(struct va_req *req, uint32_t written);
void blk_set_complete(struct blk *b, blk_complete_fn fn);
/* The ops table's functions; opaque is the struct blk. */
void blk_request(void *opaque, struct va_req *req);
void blk_kick(void *opaque);
int blk_set_features(void *opaque, uint64_t features);
/* cfg: the config space as the driver's write of [off, off+size) would
 * leave it; only the wce byte is writable (with CONFIG_WCE). */
int blk_write_config(void *opaque, const uint8_t *cfg, uint32_t off,
		     uint32_t size);
/* The config space's BLK_CONFIG_SIZE bytes from blk's state (the core's
 * ops->get_config; tests read the config through it). */
void blk_get_config(void *opaque, uint8_t *cfg);
/* Process completions, waiting at most timeout_ms for one. */
int blk_poll(struct blk *b, int timeout_ms);
/* Requests handed to blk and not yet completed. */
unsigned int blk_pending(const struct blk *b);
/* Largest data bytes of one request (SEG_MAX * SIZE_MAX). */
uint32_t blk_max_data(const struct blk *b);

#endif /* VA_BLK_H */
