/* SPDX-License-Identifier: MIT */
/*
 * I/O engines of virtio-argo-blkd, and the worker thread for blocking calls.
 *
 * An engine moves data between the image and memory asynchronously:
 * reads, writes and flushes are queued one by one (->queue), handed to the
 * kernel together (->submit, once per batch of requests), and their results
 * come back through ->reap when ->fd becomes readable.  An engine does not
 * retry: a short transfer is reported as such and the caller (blk.c)
 * requeues the rest.  Each blk_io is in at most one engine at a time; the
 * engine keeps a pointer to it until it is reaped.
 *
 *   io_uring  io-uring.c: readv/writev(2)-like SQEs, fsync(DATASYNC) for
 *             flushes; works with and without O_DIRECT.
 *   aio       io-aio.c: Linux native AIO (libaio), asynchronous only with
 *             O_DIRECT; flushes go to the worker thread, never the loop.
 *
 * The worker (blk-worker.c) runs blocking calls (fdatasync, fallocate,
 * BLKDISCARD, zero-filling writes) on one thread, in order, and reports
 * completions through an eventfd reaped on the loop thread.
 */
#ifndef VA_BLK_ENGINE_H
#define VA_BLK_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum blk_io_op {
	BLK_IO_READ,
	BLK_IO_WRITE,
	BLK_IO_FLUSH,		/* fdatasync of the whole image */
};

struct blk_io {
	enum blk_io_op op;
	bool dsync;		/* WRITE: durable on completion (writethrough) */
	uint64_t off;		/* byte offset of iov.iov_base */
	struct iovec iov;	/* what is still to transfer (one buffer) */
	void *opaque;		/* the caller's */
};

/* res: bytes transferred (0 <= res <= iov_len; FLUSH: 0) or -errno. */
typedef void (*blk_io_done_fn)(struct blk_io *io, int res);

struct blk_worker;
struct blk_engine;

enum blk_engine_kind {
	BLK_ENGINE_IO_URING,
	BLK_ENGINE_AIO,
};

/*
 * Create an engine for image fd with room for `depth` I/Os in flight.
 * worker: where the aio engine sends flushes.  Returns -ENOSYS/-EPERM
 * (io_uring) when the kernel refuses the facility: the caller falls back.
 */
int blk_engine_new(enum blk_engine_kind kind, int fd, unsigned int depth,
		   struct blk_worker *worker, blk_io_done_fn done,
		   struct blk_engine **ret);
void blk_engine_free(struct blk_engine *e);
const char *blk_engine_name(const struct blk_engine *e);
/* Queue one I/O for the next submit.  Returns 0 or -errno (then the io
 * was not taken). */
int blk_engine_queue(struct blk_engine *e, struct blk_io *io);
/* Hand every queued I/O to the kernel.  Returns 0 or -errno; on error the
 * I/Os not submitted stay queued for the next submit (after a reap). */
int blk_engine_submit(struct blk_engine *e);
/* Readable when completions may be waiting. */
int blk_engine_fd(const struct blk_engine *e);
/* Call done for every finished I/O.  Returns how many. */
int blk_engine_reap(struct blk_engine *e);
/* I/Os queued or in flight. */
unsigned int blk_engine_inflight(const struct blk_engine *e);

/* Engine-private constructors (one per file), dispatched by blk_engine_new. */
struct blk_engine_ops {
	const char *name;
	int (*queue)(struct blk_engine *e, struct blk_io *io);
	int (*submit)(struct blk_engine *e);
	int (*fd)(const struct blk_engine *e);
	int (*reap)(struct blk_engine *e);
	void (*free)(struct blk_engine *e);
};

/* Common head of every engine. */
struct blk_engine {
	const struct blk_engine_ops *ops;
	blk_io_done_fn done;
	unsigned int inflight;
};

int blk_uring_new(int fd, unsigned int depth, blk_io_done_fn done,
		  struct blk_engine **ret);
int blk_aio_new(int fd, unsigned int depth, struct blk_worker *worker,
		blk_io_done_fn done, struct blk_engine **ret);

/* Test hook: if this environment variable is set (to anything), io_uring
 * set-up fails with -ENOSYS, as on a kernel without io_uring. */
#define BLK_ENV_FAIL_URING	"VIRTIO_ARGO_BLKD_TEST_NO_IO_URING"

/* ---- worker thread for blocking calls ---- */

struct blk_job {
	/* Runs on the worker thread; returns 0 or -errno. */
	int (*fn)(struct blk_job *job);
	/* Runs on the loop thread (from blk_worker_reap) with fn's result. */
	void (*done)(struct blk_job *job, int res);
	void *opaque;
	/* private */
	int res;
	struct blk_job *next;
};

int blk_worker_new(struct blk_worker **ret);
/* Waits for queued jobs to finish (their done is not called).  NULL ok. */
void blk_worker_free(struct blk_worker *w);
void blk_worker_push(struct blk_worker *w, struct blk_job *job);
int blk_worker_fd(const struct blk_worker *w);
/* Calls done for finished jobs; returns how many. */
int blk_worker_reap(struct blk_worker *w);
/* Jobs queued, running or finished but not reaped. */
unsigned int blk_worker_pending(const struct blk_worker *w);

#endif /* VA_BLK_ENGINE_H */
