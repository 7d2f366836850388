/* SPDX-License-Identifier: MIT */
/*
 * A small epoll event loop: fd watches, one-shot timers, signals through a
 * signalfd, and deferred callbacks that run once at the end of the current
 * iteration (used to submit a whole batch of I/O after a ring was drained).
 * Single-threaded; callbacks may add and remove watches, including their own.
 */
#ifndef VA_BACKEND_LOOP_H
#define VA_BACKEND_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct va_loop;
struct va_timer;

typedef void (*va_fd_cb)(struct va_loop *loop, int fd, uint32_t events,
			 void *opaque);
typedef void (*va_cb)(struct va_loop *loop, void *opaque);
typedef void (*va_signal_cb)(struct va_loop *loop, int signo, void *opaque);

int va_loop_new(struct va_loop **ret);
void va_loop_free(struct va_loop *loop);

/* events: EPOLLIN/EPOLLOUT/...; level-triggered.  -EEXIST if watched. */
int va_loop_add_fd(struct va_loop *loop, int fd, uint32_t events, va_fd_cb cb,
		   void *opaque);
int va_loop_mod_fd(struct va_loop *loop, int fd, uint32_t events);
int va_loop_del_fd(struct va_loop *loop, int fd);

/* One-shot timer after `ms` milliseconds.  The handle is freed after the
 * callback ran or by va_loop_cancel_timer (NULL is fine). */
int va_loop_add_timer(struct va_loop *loop, uint64_t ms, va_cb cb, void *opaque,
		      struct va_timer **ret);
void va_loop_cancel_timer(struct va_loop *loop, struct va_timer *t);

/* Blocks `signo` and delivers it through the loop. */
int va_loop_add_signal(struct va_loop *loop, int signo, va_signal_cb cb,
		       void *opaque);

/* Run cb once, after the fd callbacks of the current iteration.  The same
 * (cb, opaque) pair is queued at most once per iteration. */
int va_loop_defer(struct va_loop *loop, va_cb cb, void *opaque);

/* Run until va_loop_quit(); returns its rc. */
int va_loop_run(struct va_loop *loop);
/* Run one iteration, waiting at most timeout_ms (-1: forever). */
int va_loop_run_once(struct va_loop *loop, int timeout_ms);
void va_loop_quit(struct va_loop *loop, int rc);

#endif /* VA_BACKEND_LOOP_H */
