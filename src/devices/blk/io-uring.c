/* SPDX-License-Identifier: MIT */
/*
 * The io_uring engine of virtio-argo-blkd (the default).
 *
 * One ring per daemon.  ->queue only fills SQEs; ->submit hands the whole
 * batch to the kernel with one io_uring_enter, which blk.c calls once per
 * drained Argo ring (ops->kick), so a burst of requests costs one system
 * call.  Completions are signalled through an eventfd watched by the loop.
 * Flushes are IORING_OP_FSYNC with IORING_FSYNC_DATASYNC: the kernel runs
 * them on its own workers, so nothing blocks the loop.
 *
 * Bounds: SQ entries = depth rounded up to a power of two (at most 4096);
 * when the SQ is full ->queue submits what it has and takes a fresh SQE.
 * The CQ is twice the SQ; beyond that the kernel keeps overflowed
 * completions (IORING_FEAT_NODROP, every kernel we support).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

#include "blk-engine.h"

#define URING_MAX_ENTRIES	4096u

struct blk_uring {
	struct blk_engine e;	/* first */
	struct io_uring ring;
	int efd;
	unsigned int unsubmitted;
};

static struct blk_uring *to_uring(struct blk_engine *e)
{
	return (struct blk_uring *)e;
}

static int uring_queue(struct blk_engine *e, struct blk_io *io)
{
	struct blk_uring *u = to_uring(e);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		int r = io_uring_submit(&u->ring);

		if (r < 0)
			return r;
		u->unsubmitted = 0;
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			return -EAGAIN;
	}
	switch (io->op) {
	case BLK_IO_READ:
		io_uring_prep_readv(sqe, 0, &io->iov, 1, io->off);
		break;
	case BLK_IO_WRITE:
		io_uring_prep_writev2(sqe, 0, &io->iov, 1, io->off,
				      io->dsync ? RWF_DSYNC : 0);
		break;
	case BLK_IO_FLUSH:
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		break;
	}
	/* The image is registered as fixed file 0. */
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, io);
	u->unsubmitted++;
	return 0;
}

static int uring_submit(struct blk_engine *e)
{
	struct blk_uring *u = to_uring(e);
	int r;

	if (!u->unsubmitted)
		return 0;
	r = io_uring_submit(&u->ring);
	if (r < 0)
		return r;
	u->unsubmitted = 0;
	return 0;
}

static int uring_fd(const struct blk_engine *e)
{
	return ((const struct blk_uring *)e)->efd;
}

static int uring_reap(struct blk_engine *e)
{
	struct blk_uring *u = to_uring(e);
	struct io_uring_cqe *cqe;
	uint64_t v;
	int n = 0;

	if (read(u->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: spurious wake-up, the CQ still tells. */
	}
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct blk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		e->inflight--;
		e->done(io, res);
		n++;
	}
	return n;
}

static void uring_free(struct blk_engine *e)
{
	struct blk_uring *u = to_uring(e);

	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
}

static const struct blk_engine_ops uring_ops = {
	.name = "io_uring",
	.queue = uring_queue,
	.submit = uring_submit,
	.fd = uring_fd,
	.reap = uring_reap,
	.free = uring_free,
};

int blk_uring_new(int fd, unsigned int depth, blk_io_done_fn done,
		  struct blk_engine **ret)
{
	struct blk_uring *u = calloc(1, sizeof(*u));
	unsigned int entries = 8;
	int r;

	if (!u)
		return -ENOMEM;
	while (entries < depth && entries < URING_MAX_ENTRIES)
		entries <<= 1;
	r = io_uring_queue_init(entries, &u->ring, 0);
	if (r < 0) {
		free(u);
		return r;
	}
	r = io_uring_register_files(&u->ring, &fd, 1);
	if (r < 0)
		goto fail_ring;
	u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->efd < 0) {
		r = -errno;
		goto fail_ring;
	}
	r = io_uring_register_eventfd(&u->ring, u->efd);
	if (r < 0)
		goto fail_efd;
	u->e.ops = &uring_ops;
	u->e.done = done;
	*ret = &u->e;
	return 0;

fail_efd:
	close(u->efd);
fail_ring:
	io_uring_queue_exit(&u->ring);
	free(u);
	return r;
}
