/* SPDX-License-Identifier: MIT */
/*
 * Engine dispatch for virtio-argo-blkd: picks the implementation
 * (io-uring.c, io-aio.c) and forwards the calls of blk-engine.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "blk-engine.h"

int blk_engine_new(enum blk_engine_kind kind, int fd, unsigned int depth,
		   struct blk_worker *worker, blk_io_done_fn done,
		   struct blk_engine **ret)
{
	if (depth == 0)
		return -EINVAL;
	switch (kind) {
	case BLK_ENGINE_IO_URING:
		if (getenv(BLK_ENV_FAIL_URING))
			return -ENOSYS;
		return blk_uring_new(fd, depth, done, ret);
	case BLK_ENGINE_AIO:
		if (!worker)
			return -EINVAL;
		return blk_aio_new(fd, depth, worker, done, ret);
	}
	return -EINVAL;
}

void blk_engine_free(struct blk_engine *e)
{
	if (e)
		e->ops->free(e);
}

const char *blk_engine_name(const struct blk_engine *e)
{
	return e->ops->name;
}

int blk_engine_queue(struct blk_engine *e, struct blk_io *io)
{
	int r = e->ops->queue(e, io);

	if (r == 0)
		e->inflight++;
	return r;
}

int blk_engine_submit(struct blk_engine *e)
{
	return e->ops->submit(e);
}

int blk_engine_fd(const struct blk_engine *e)
{
	return e->ops->fd(e);
}

int blk_engine_reap(struct blk_engine *e)
{
	return e->ops->reap(e);
}

unsigned int blk_engine_inflight(const struct blk_engine *e)
{
	return e->inflight;
}
