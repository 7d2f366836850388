/* SPDX-License-Identifier: MIT */
/*
 * The libaio engine of virtio-argo-blkd: the fallback where io_uring is
 * unavailable (ENOSYS, or EPERM from seccomp / kernel.io_uring_disabled).
 *
 * Linux AIO is asynchronous only with O_DIRECT, so blk.c opens the image
 * with O_DIRECT whenever this engine is used and hands it aligned buffers.
 * Reads and writes are io_submit()ted in batches, completions signalled
 * through an eventfd (io_set_eventfd).  Flushes never run on the loop:
 * they go to the worker thread as fdatasync jobs.  Writethrough writes
 * carry RWF_DSYNC in aio_rw_flags.
 *
 * Bounds: at most `depth` iocbs are queued or in flight (blk.c never
 * exceeds the sum of its queue sizes); the queue array has that size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libaio.h>

#include "blk-engine.h"

struct aio_slot {
	struct iocb cb;
	struct blk_io *io;
	struct blk_job job;	/* flushes */
	struct blk_aio *owner;
};

struct blk_aio {
	struct blk_engine e;	/* first */
	io_context_t ctx;
	int fd;
	int efd;
	struct blk_worker *worker;
	unsigned int depth;
	struct aio_slot *slots;
	unsigned int *free_slots;	/* stack of free slot indexes */
	unsigned int nfree;
	struct iocb **batch;		/* queued, not yet submitted */
	unsigned int nbatch;
	struct io_event *events;
};

static struct blk_aio *to_aio(struct blk_engine *e)
{
	return (struct blk_aio *)e;
}

static void slot_put(struct blk_aio *a, struct aio_slot *s)
{
	a->free_slots[a->nfree++] = (unsigned int)(s - a->slots);
}

static int flush_fn(struct blk_job *job)
{
	struct aio_slot *s = job->opaque;

	return fdatasync(s->owner->fd) < 0 ? -errno : 0;
}

static void flush_done(struct blk_job *job, int res)
{
	struct aio_slot *s = job->opaque;
	struct blk_aio *a = s->owner;
	struct blk_io *io = s->io;

	slot_put(a, s);
	a->e.inflight--;
	a->e.done(io, res);
}

static int aio_queue(struct blk_engine *e, struct blk_io *io)
{
	struct blk_aio *a = to_aio(e);
	struct aio_slot *s;

	if (!a->nfree)
		return -EAGAIN;
	s = &a->slots[a->free_slots[--a->nfree]];
	s->io = io;
	switch (io->op) {
	case BLK_IO_READ:
		io_prep_preadv2(&s->cb, a->fd, &io->iov, 1, (long long)io->off, 0);
		break;
	case BLK_IO_WRITE:
		io_prep_pwritev2(&s->cb, a->fd, &io->iov, 1, (long long)io->off,
				 io->dsync ? RWF_DSYNC : 0);
		break;
	case BLK_IO_FLUSH:
		s->job.fn = flush_fn;
		s->job.done = flush_done;
		s->job.opaque = s;
		blk_worker_push(a->worker, &s->job);
		return 0;
	}
	io_set_eventfd(&s->cb, a->efd);
	s->cb.data = s;
	a->batch[a->nbatch++] = &s->cb;
	return 0;
}

static int aio_submit(struct blk_engine *e)
{
	struct blk_aio *a = to_aio(e);
	unsigned int done = 0;

	while (done < a->nbatch) {
		int r = io_submit(a->ctx, (long)(a->nbatch - done),
				  a->batch + done);

		if (r < 0) {
			if (r == -EINTR)
				continue;
			/* Keep the rest for the next submit (-EAGAIN: the
			 * kernel is short of resources until a reap). */
			memmove(a->batch, a->batch + done,
				(a->nbatch - done) * sizeof(*a->batch));
			a->nbatch -= done;
			return r;
		}
		if (r == 0)
			break;
		done += (unsigned int)r;
	}
	memmove(a->batch, a->batch + done, (a->nbatch - done) * sizeof(*a->batch));
	a->nbatch -= done;
	return 0;
}

static int aio_fd(const struct blk_engine *e)
{
	return ((const struct blk_aio *)e)->efd;
}

static int aio_reap(struct blk_engine *e)
{
	struct blk_aio *a = to_aio(e);
	struct timespec zero = { 0, 0 };
	uint64_t v;
	int n = 0;

	if (read(a->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled, io_getevents still tells. */
	}
	for (;;) {
		int r = io_getevents(a->ctx, 0, (long)a->depth, a->events, &zero);
		int i;

		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		for (i = 0; i < r; i++) {
			struct aio_slot *s = a->events[i].data;
			struct blk_io *io = s->io;
			long res = (long)a->events[i].res;

			slot_put(a, s);
			e->inflight--;
			e->done(io, (int)res);
			n++;
		}
		if ((unsigned int)r < a->depth)
			break;
	}
	return n;
}

static void aio_free(struct blk_engine *e)
{
	struct blk_aio *a = to_aio(e);

	io_destroy(a->ctx);
	close(a->efd);
	free(a->slots);
	free(a->free_slots);
	free(a->batch);
	free(a->events);
	free(a);
}

static const struct blk_engine_ops aio_ops = {
	.name = "aio",
	.queue = aio_queue,
	.submit = aio_submit,
	.fd = aio_fd,
	.reap = aio_reap,
	.free = aio_free,
};

int blk_aio_new(int fd, unsigned int depth, struct blk_worker *worker,
		blk_io_done_fn done, struct blk_engine **ret)
{
	struct blk_aio *a = calloc(1, sizeof(*a));
	unsigned int i;
	int r;

	if (!a)
		return -ENOMEM;
	a->fd = fd;
	a->worker = worker;
	a->depth = depth;
	a->slots = calloc(depth, sizeof(*a->slots));
	a->free_slots = calloc(depth, sizeof(*a->free_slots));
	a->batch = calloc(depth, sizeof(*a->batch));
	a->events = calloc(depth, sizeof(*a->events));
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!a->slots || !a->free_slots || !a->batch || !a->events ||
	    a->efd < 0) {
		r = a->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	r = io_setup((int)depth, &a->ctx);
	if (r < 0)
		goto fail;
	for (i = 0; i < depth; i++) {
		a->slots[i].owner = a;
		a->free_slots[i] = depth - 1 - i;
	}
	a->nfree = depth;
	a->e.ops = &aio_ops;
	a->e.done = done;
	*ret = &a->e;
	return 0;

fail:
	if (a->efd >= 0)
		close(a->efd);
	free(a->slots);
	free(a->free_slots);
	free(a->batch);
	free(a->events);
	free(a);
	return r;
}
