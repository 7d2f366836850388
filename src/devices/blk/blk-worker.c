/* SPDX-License-Identifier: MIT */
/*
 * The worker thread of virtio-argo-blkd: runs blocking system calls
 * (fdatasync for the aio engine, fallocate/BLKDISCARD for discard and
 * write-zeroes, zero-filling writes) away from the event loop.
 *
 * Jobs run one at a time in the order pushed.  A finished job moves to
 * the done list and the eventfd is signalled; blk_worker_reap (loop thread)
 * calls job->done.  Locking: `lock` protects both lists and `stop`; the
 * job's fn runs without the lock and touches only its own job.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blk-engine.h"

struct blk_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct blk_job *todo_head, *todo_tail;
	struct blk_job *done_head, *done_tail;
	unsigned int pending;	/* loop thread only */
	bool stop;
	int efd;
};

static void list_add(struct blk_job **head, struct blk_job **tail,
		     struct blk_job *job)
{
	job->next = NULL;
	if (*tail)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

static void *worker_main(void *arg)
{
	struct blk_worker *w = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct blk_job *job = w->todo_head;

		if (!job) {
			if (w->stop)
				break;
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		w->todo_head = job->next;
		if (!w->todo_head)
			w->todo_tail = NULL;
		pthread_mutex_unlock(&w->lock);

		job->res = job->fn(job);

		pthread_mutex_lock(&w->lock);
		list_add(&w->done_head, &w->done_tail, job);
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow at our rates; nothing to do. */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int blk_worker_new(struct blk_worker **ret)
{
	struct blk_worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int r;

	if (!w)
		return -ENOMEM;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	/* The thread inherits a mask blocking every signal: signals are the
	 * loop's (signalfd), and a process-directed one must never land
	 * here with its default action. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		close(w->efd);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

void blk_worker_free(struct blk_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	close(w->efd);
	free(w);
}

void blk_worker_push(struct blk_worker *w, struct blk_job *job)
{
	pthread_mutex_lock(&w->lock);
	list_add(&w->todo_head, &w->todo_tail, job);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	w->pending++;
}

int blk_worker_fd(const struct blk_worker *w)
{
	return w->efd;
}

int blk_worker_reap(struct blk_worker *w)
{
	struct blk_job *job;
	uint64_t v;
	int n = 0;

	if (read(w->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled, the lists still tell. */
	}
	pthread_mutex_lock(&w->lock);
	job = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);

	while (job) {
		struct blk_job *next = job->next;

		w->pending--;
		job->done(job, job->res);
		job = next;
		n++;
	}
	return n;
}

unsigned int blk_worker_pending(const struct blk_worker *w)
{
	return w->pending;
}
