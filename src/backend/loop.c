/* SPDX-License-Identifier: MIT */
/*
 * The event loop (see loop.h): one epoll instance, a sorted list of
 * one-shot timers, one signalfd for all signals, and a list of deferred
 * callbacks run after the fd callbacks of each iteration.
 *
 * Removal while dispatching: a removed watch is unlinked from the epoll set
 * at once but its memory is only marked dead and freed at the end of the
 * iteration, so that events already fetched by epoll_wait for it are
 * skipped instead of touching freed memory.  A timer is unlinked before its
 * callback runs and freed right after it; cancelling the running timer from
 * its own callback is a no-op.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_MAX_EVENTS	64
#define LOOP_NSIG	65

struct va_watch {
	int fd;
	uint32_t events;
	bool dead;
	va_fd_cb cb;
	void *opaque;
	struct va_watch *next;
};

struct va_timer {
	uint64_t deadline_ms;
	va_cb cb;
	void *opaque;
	struct va_timer *next;
};

struct va_deferred {
	va_cb cb;
	void *opaque;
	struct va_deferred *next;
};

struct va_loop {
	int epfd;
	struct va_watch *watches;	/* live and dead, dead freed per iteration */
	struct va_timer *timers;	/* sorted by deadline */
	struct va_timer *running;	/* the timer whose callback runs */
	struct va_deferred *defer_head, *defer_tail;
	int sigfd;
	sigset_t sigmask;
	struct {
		va_signal_cb cb;
		void *opaque;
	} sig[LOOP_NSIG];
	bool quit;
	int rc;
};

int va_loop_new(struct va_loop **ret)
{
	struct va_loop *loop;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = -errno;

		free(loop);
		return err;
	}
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	*ret = loop;
	return 0;
}

static void loop_reap(struct va_loop *loop)
{
	struct va_watch **pp = &loop->watches, *w;

	while ((w = *pp)) {
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void va_loop_free(struct va_loop *loop)
{
	struct va_watch *w;
	struct va_timer *t;
	struct va_deferred *d;

	if (!loop)
		return;
	while ((w = loop->watches)) {
		loop->watches = w->next;
		free(w);
	}
	while ((t = loop->timers)) {
		loop->timers = t->next;
		free(t);
	}
	while ((d = loop->defer_head)) {
		loop->defer_head = d->next;
		free(d);
	}
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	close(loop->epfd);
	free(loop);
}

static struct va_watch *loop_find(struct va_loop *loop, int fd)
{
	struct va_watch *w;

	for (w = loop->watches; w; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int va_loop_add_fd(struct va_loop *loop, int fd, uint32_t events, va_fd_cb cb,
		   void *opaque)
{
	struct epoll_event ev = { .events = events };
	struct va_watch *w;

	if (fd < 0 || !cb)
		return -EINVAL;
	if (loop_find(loop, fd))
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->opaque = opaque;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int va_loop_mod_fd(struct va_loop *loop, int fd, uint32_t events)
{
	struct va_watch *w = loop_find(loop, fd);
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOENT;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

int va_loop_del_fd(struct va_loop *loop, int fd)
{
	struct va_watch *w = loop_find(loop, fd);

	if (!w)
		return -ENOENT;
	/* The fd may already be closed by the caller: ignore errors. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->dead = true;
	return 0;
}

int va_loop_add_timer(struct va_loop *loop, uint64_t ms, va_cb cb, void *opaque,
		      struct va_timer **ret)
{
	struct va_timer *t, **pp;

	if (!cb)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->deadline_ms = va_now_ms() + ms;
	t->cb = cb;
	t->opaque = opaque;
	/* Insert after every timer with deadline <= ours: FIFO among equals. */
	for (pp = &loop->timers; *pp && (*pp)->deadline_ms <= t->deadline_ms;
	     pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	if (ret)
		*ret = t;
	return 0;
}

void va_loop_cancel_timer(struct va_loop *loop, struct va_timer *t)
{
	struct va_timer **pp;

	if (!t || t == loop->running)
		return;
	for (pp = &loop->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			free(t);
			return;
		}
	}
}

static void loop_signal_ready(struct va_loop *loop, int fd, uint32_t events,
			      void *opaque)
{
	struct signalfd_siginfo si;
	ssize_t n;

	for (;;) {
		n = read(fd, &si, sizeof(si));
		if (n != (ssize_t)sizeof(si))
			return;
		if (si.ssi_signo < LOOP_NSIG && loop->sig[si.ssi_signo].cb)
			loop->sig[si.ssi_signo].cb(loop, (int)si.ssi_signo,
						   loop->sig[si.ssi_signo].opaque);
	}
}

int va_loop_add_signal(struct va_loop *loop, int signo, va_signal_cb cb,
		       void *opaque)
{
	sigset_t one;
	int fd, err;

	if (signo <= 0 || signo >= LOOP_NSIG || !cb)
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
		return -errno;
	sigaddset(&loop->sigmask, signo);
	fd = signalfd(loop->sigfd, &loop->sigmask,
		      SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (loop->sigfd < 0) {
		loop->sigfd = fd;
		err = va_loop_add_fd(loop, fd, EPOLLIN, loop_signal_ready,
				     NULL);
		if (err < 0) {
			close(fd);
			loop->sigfd = -1;
			return err;
		}
	}
	loop->sig[signo].cb = cb;
	loop->sig[signo].opaque = opaque;
	return 0;
}

int va_loop_defer(struct va_loop *loop, va_cb cb, void *opaque)
{
	struct va_deferred *d;

	for (d = loop->defer_head; d; d = d->next)
		if (d->cb == cb && d->opaque == opaque)
			return 0;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cb = cb;
	d->opaque = opaque;
	if (loop->defer_tail)
		loop->defer_tail->next = d;
	else
		loop->defer_head = d;
	loop->defer_tail = d;
	return 0;
}

/* Runs the callbacks queued so far; those queued by them run in the next
 * iteration (which then does not block), so a callback that re-queues
 * itself cannot starve the loop. */
static void loop_run_deferred(struct va_loop *loop)
{
	struct va_deferred *d = loop->defer_head, *next;

	loop->defer_head = loop->defer_tail = NULL;
	for (; d; d = next) {
		next = d->next;
		d->cb(loop, d->opaque);
		free(d);
	}
}

static void loop_run_timers(struct va_loop *loop)
{
	uint64_t now = va_now_ms();
	struct va_timer *t;

	while ((t = loop->timers) && t->deadline_ms <= now) {
		loop->timers = t->next;
		loop->running = t;
		t->cb(loop, t->opaque);
		loop->running = NULL;
		free(t);
	}
}

int va_loop_run_once(struct va_loop *loop, int timeout_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, i;

	/* Work deferred outside any iteration (e.g. at set-up) runs first. */
	if (loop->defer_head)
		timeout_ms = 0;
	if (loop->timers) {
		uint64_t now = va_now_ms(), dl = loop->timers->deadline_ms;
		int tmo = dl <= now ? 0 :
			  (dl - now > (uint64_t)INT32_MAX ? INT32_MAX :
			   (int)(dl - now));

		if (timeout_ms < 0 || tmo < timeout_ms)
			timeout_ms = tmo;
	}
	n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (i = 0; i < n; i++) {
		struct va_watch *w = evs[i].data.ptr;

		if (w->dead)
			continue;
		w->cb(loop, w->fd, evs[i].events, w->opaque);
	}
	loop_run_timers(loop);
	loop_run_deferred(loop);
	loop_reap(loop);
	return 0;
}

int va_loop_run(struct va_loop *loop)
{
	int err;

	loop->quit = false;
	while (!loop->quit) {
		err = va_loop_run_once(loop, -1);
		if (err < 0)
			return err;
	}
	return loop->rc;
}

void va_loop_quit(struct va_loop *loop, int rc)
{
	loop->quit = true;
	loop->rc = rc;
}
