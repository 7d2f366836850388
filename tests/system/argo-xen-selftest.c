/* SPDX-License-Identifier: MIT */
/*
 * argo-xen-selftest: the user-space Argo API (src/backend/argo.h) over its
 * `xen` back-end (argo-xen.c, /dev/argo) on real Xen with Argo, in one
 * domain: a ring partnered with this domain itself.
 *
 * Opens the xen transport, registers a one-page ring, sends two iovecs to
 * itself, waits on va_argo_fd(), reads the message with va_ring_peek(),
 * consumes and notifies; fills the ring to -EAGAIN, drains, notifies and
 * waits for the fd again; checks a notify query and -EPERM for a foreign
 * source port.  Prints "ARGO-XEN-SELFTEST PASS" (exit 0) or "... FAIL"
 * (exit 1); exit 77 without /dev/argo.  Build (static, for an initramfs):
 *   cc -static -O2 -Isrc/include -Isrc/backend -I<builddir> \
 *      tests/system/argo-xen-selftest.c <builddir>/src/backend/libvirtio-argo.a
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argo.h"

#define PORT		0x5e1f2001u
#define RING_LEN	(4096u - VA_ARGO_RING_HDR_SIZE)
#define MSG_TYPE	0x5e1f7e57u
#define BIG		1000u

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ARGO-XEN-SELFTEST FAIL: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	exit(1);
}

static void wait_fd(struct va_argo *a, const char *what)
{
	struct pollfd p = { .fd = va_argo_fd(a), .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		fail("no fd wake-up for %s", what);
	va_argo_ack(a);
}

int main(void)
{
	struct va_argo_opts opts = { .transport = VA_TRANSPORT_XEN };
	static char big[BIG], got[BIG];
	char a1[] = "hello ", a2[] = "xen!";
	struct iovec iov[2] = { { a1, 6 }, { a2, 4 } };
	struct iovec biov = { big, BIG };
	struct va_argo_query q;
	struct va_ring_msg m;
	struct va_argo *a;
	struct va_ring *r;
	unsigned int sent = 0, i;
	uint16_t self;
	ssize_t n;
	int ret;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (access(VA_ARGO_DEV_DEFAULT, F_OK)) {
		printf("argo-xen-selftest: no %s; skipping\n", VA_ARGO_DEV_DEFAULT);
		return 77;
	}
	ret = va_argo_open(&opts, &a);
	if (ret < 0)
		fail("open: %s", strerror(-ret));
	self = va_argo_self_domid(a);
	ret = va_argo_register_ring(a, PORT, self, RING_LEN, &r);
	if (ret < 0)
		fail("register: %s", strerror(-ret));

	n = va_argo_sendv(a, PORT, self, PORT, iov, 2, MSG_TYPE);
	if (n != 10)
		fail("sendv: %zd", n);
	wait_fd(a, "a message");
	if (va_ring_peek(r, &m) != 1 || m.hdr.len != 16 + 10 ||
	    m.hdr.source.domain_id != self || m.hdr.source.aport != PORT ||
	    m.hdr.message_type != MSG_TYPE)
		fail("peek");
	va_ring_msg_copy(&m, 0, got, 10);
	if (memcmp(got, "hello xen!", 10))
		fail("payload");
	va_ring_consume(r);
	if (va_argo_notify(a, NULL, 0) < 0)
		fail("notify");

	n = va_argo_sendv(a, PORT + 1, self, PORT, iov, 2, MSG_TYPE);
	if (n != -EPERM)
		fail("sendv from a foreign port: %zd", n);

	for (i = 0; i < 16; i++) {
		memset(big, 'a' + (int)i, BIG);
		n = va_argo_sendv(a, PORT, self, PORT, &biov, 1, MSG_TYPE);
		if (n != BIG)
			break;
		sent++;
	}
	if (n != -EAGAIN || sent < 2)
		fail("fill: sent %u last %zd", sent, n);
	usleep(100000);
	va_argo_ack(a);
	/* Re-arm after any early wake-up (see argo-dev.h). */
	n = va_argo_sendv(a, PORT, self, PORT, &biov, 1, MSG_TYPE);
	if (n != -EAGAIN)
		fail("retry on the full ring: %zd", n);
	for (i = 0; i < sent; i++) {
		if (va_ring_peek(r, &m) != 1 || m.hdr.len != 16 + BIG)
			fail("drain %u", i);
		va_ring_msg_copy(&m, 0, got, BIG);
		memset(big, 'a' + (int)i, BIG);
		if (memcmp(got, big, BIG))
			fail("drained message %u corrupt", i);
		va_ring_consume(r);
	}
	if (va_ring_peek(r, &m) != 0)
		fail("ring not empty after drain");
	if (va_argo_notify(a, NULL, 0) < 0)
		fail("notify after drain");
	wait_fd(a, "the space wake-up");
	n = va_argo_sendv(a, PORT, self, PORT, &biov, 1, MSG_TYPE);
	if (n != BIG)
		fail("sendv after wake-up: %zd", n);

	memset(&q, 0, sizeof(q));
	q.domid = self;
	q.port = PORT;
	q.space_required = 16;
	if (va_argo_notify(a, &q, 1) < 0 || !(q.flags & VA_ARGO_RING_EXISTS) ||
	    q.max_message_size != RING_LEN - 32)
		fail("query flags %#x max %u", q.flags, q.max_message_size);
	if (va_argo_domain_exists(a, self) != -EOPNOTSUPP)
		fail("domain_exists");
	va_argo_unregister_ring(r);
	va_argo_close(a);
	printf("ARGO-XEN-SELFTEST PASS (domid %u)\n", self);
	return 0;
}
