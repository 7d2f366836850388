/* SPDX-License-Identifier: MIT */
/*
 * The event loop (loop.c): fd watches (including removal from inside a
 * callback), timer order and cancellation, deferred callbacks, signals.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

static int order[16];
static int norder;
static int pipefd[2];

static void fd_cb(struct va_loop *loop, int fd, uint32_t events, void *opaque)
{
	char c;

	ck_assert(events & EPOLLIN);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	order[norder++] = 100 + c;
	/* Remove ourselves: must be safe. */
	ck_assert_int_eq(va_loop_del_fd(loop, fd), 0);
}

static void note(struct va_loop *loop, void *opaque)
{
	order[norder++] = (int)(long)opaque;
}

static void requeue(struct va_loop *loop, void *opaque)
{
	order[norder++] = 50;
	/* Re-queued from a deferred callback: runs next iteration. */
	if (norder < 3)
		va_loop_defer(loop, requeue, NULL);
}

START_TEST(test_fd)
{
	struct va_loop *loop;

	ck_assert_int_eq(va_loop_new(&loop), 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	norder = 0;
	ck_assert_int_eq(va_loop_add_fd(loop, pipefd[0], EPOLLIN, fd_cb, NULL), 0);
	ck_assert_int_eq(va_loop_add_fd(loop, pipefd[0], EPOLLIN, fd_cb, NULL),
			 -EEXIST);
	ck_assert_int_eq(write(pipefd[1], "\x01\x02", 2), 2);
	va_loop_run_once(loop, 1000);
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(order[0], 101);
	/* Removed: the remaining byte does not fire. */
	va_loop_run_once(loop, 10);
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(va_loop_del_fd(loop, pipefd[0]), -ENOENT);
	close(pipefd[0]);
	close(pipefd[1]);
	va_loop_free(loop);
}
END_TEST

START_TEST(test_timers_defer)
{
	struct va_loop *loop;
	struct va_timer *t;
	uint64_t start;

	ck_assert_int_eq(va_loop_new(&loop), 0);
	norder = 0;
	va_loop_add_timer(loop, 30, note, (void *)3L, NULL);
	va_loop_add_timer(loop, 10, note, (void *)1L, NULL);
	va_loop_add_timer(loop, 20, note, (void *)2L, &t);
	va_loop_cancel_timer(loop, t);
	va_loop_defer(loop, note, (void *)9L);
	va_loop_defer(loop, note, (void *)9L);	/* deduplicated */
	start = va_now_ms();
	while (norder < 3 && va_now_ms() - start < 2000)
		va_loop_run_once(loop, -1);
	ck_assert_int_eq(norder, 3);
	ck_assert_int_eq(order[0], 9);
	ck_assert_int_eq(order[1], 1);
	ck_assert_int_eq(order[2], 3);
	ck_assert_uint_ge(va_now_ms() - start, 30);
	norder = 0;
	va_loop_defer(loop, requeue, NULL);
	va_loop_run_once(loop, 0);
	ck_assert_int_eq(norder, 1);
	va_loop_run_once(loop, 1000);
	ck_assert_int_eq(norder, 2);
	va_loop_free(loop);
}
END_TEST

static void on_sig(struct va_loop *loop, int signo, void *opaque)
{
	va_loop_quit(loop, signo);
}

START_TEST(test_signal_quit)
{
	struct va_loop *loop;

	ck_assert_int_eq(va_loop_new(&loop), 0);
	ck_assert_int_eq(va_loop_add_signal(loop, SIGUSR1, on_sig, NULL), 0);
	ck_assert_int_eq(va_loop_add_signal(loop, SIGUSR2, on_sig, NULL), 0);
	kill(getpid(), SIGUSR2);
	ck_assert_int_eq(va_loop_run(loop), SIGUSR2);
	va_loop_free(loop);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_fd);
	tcase_add_test(tc, test_timers_defer);
	tcase_add_test(tc, test_signal_quit);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
