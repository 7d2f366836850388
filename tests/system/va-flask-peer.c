/* SPDX-License-Identifier: MIT */
/*
 * va-flask-peer: the three parts of system-test stage 7 (Xen with FLASK
 * enforcing our policy, config/flask/), each run in its own xl-created
 * domain through /dev/argo (module virtio_argo_core):
 *
 *   serve GUEST PORT
 *       (the driver domain, va_driver_t) registers a ring (PORT, partner
 *       GUEST) and echoes every message back to GUEST:PORT until a message
 *       "bye".  Every message's source is checked: one that is not
 *       GUEST:PORT is printed and fails the run at its end.  Prints
 *       "serving dom<GUEST> on port ..." once the ring is registered and
 *       "PASS: echoed N messages, all from dom<GUEST>" at the end.
 *   ping DRIVER PORT COUNT ROUNDS
 *       (a guest, va_guest_t) registers a ring (PORT, partner DRIVER) and
 *       in each round sends COUNT messages to DRIVER:PORT, each answered
 *       by the same bytes from DRIVER:PORT before the next one goes.
 *       Before rounds 2.. it reads a line from stdin (the stage's go
 *       signal).  Prints "round R: COUNT echoes from dom<DRIVER>" after
 *       each round and sends "bye" at the end.
 *   deny DRIVER PORT
 *       (a domain of a label the policy gives no Argo, Xen's domU_t)
 *       checks that Argo itself is enabled for it (a notify without
 *       entries succeeds), then that Xen refuses with exactly -EACCES both
 *       a ring registration with DRIVER as partner (through /dev/argo)
 *       and a sendv to DRIVER:PORT (a raw hypercall through
 *       /dev/xen/privcmd: /dev/argo sends only from a registered ring).
 *
 * Output lines start with "va-flask-peer: "; the exit status is 0 when
 * every check passed, 1 otherwise.  Build statically for an initramfs:
 *   cc -static -O2 -Isrc/include -o va-flask-peer tests/system/va-flask-peer.c
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "virtio-argo/argo-dev.h"

#define RING_LEN	(4096u - VA_ARGO_RING_HDR_SIZE)
#define MSG_TYPE	0x5e1f7a57u
#define MAX_PAYLOAD	256u
/* A guard against a hang (no reply ever), not a measured time. */
#define POLL_MS		60000

static int fd = -1;
static struct va_argo_ring *ring;
static uint32_t rx;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("va-flask-peer: FAILED: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	exit(1);
}

static uint32_t num(const char *s, uint32_t max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > max)
		fail("bad number '%s'", s);
	return (uint32_t)v;
}

static int xioctl(unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

static void open_argo(void)
{
	fd = open("/dev/" VA_ARGODEV_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open /dev/argo: %s", strerror(errno));
}

/* Register (port, partner) and map it; the result of the ioctl. */
static int register_ring(uint32_t port, uint16_t partner)
{
	struct va_argodev_register reg = {
		.port = port, .partner = partner, .len = RING_LEN,
	};
	int ret = xioctl(VA_ARGODEV_REGISTER, &reg);

	if (ret < 0)
		return ret;
	ring = mmap(NULL, reg.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, (off_t)reg.mmap_offset);
	if (ring == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	return 0;
}

static int send_msg(uint32_t port, uint16_t dom, const void *buf,
		    uint32_t len)
{
	struct va_argodev_iov iov = {
		.base = (uint64_t)(uintptr_t)buf, .len = len,
	};
	struct va_argodev_sendv s = {
		.src_port = port, .dst_port = port, .dst_domid = dom,
		.niov = 1, .iov = (uint64_t)(uintptr_t)&iov,
		.message_type = MSG_TYPE,
	};

	return xioctl(VA_ARGODEV_SENDV, &s);
}

/*
 * The next message (waiting for one), its payload in buf (NUL-terminated,
 * at most MAX_PAYLOAD bytes) and its source in *src.
 */
static uint32_t recv_msg(char *buf, struct va_argo_addr *src)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct va_argo_msg_hdr h;
	uint32_t tx, n, ev;
	int r;

	for (;;) {
		tx = __atomic_load_n(&ring->tx_ptr, __ATOMIC_ACQUIRE);
		r = va_argo_ring_peek(ring->ring, RING_LEN, rx, tx, &h);
		if (r == VA_ARGO_PEEK_MSG)
			break;
		if (r != VA_ARGO_PEEK_EMPTY)
			fail("ring: no valid message at rx %u (tx %u)", rx, tx);
		if (poll(&p, 1, POLL_MS) != 1)
			fail("no message within %d s", POLL_MS / 1000);
		if (xioctl(VA_ARGODEV_ACK, &ev) < 0)
			fail("ACK: %s", strerror(errno));
	}
	n = h.len - VA_ARGO_MSG_HDR_SIZE;
	if (n > MAX_PAYLOAD || h.message_type != MSG_TYPE)
		fail("message of %u bytes, type %#x", n, h.message_type);
	va_argo_ring_copy_out(ring->ring, RING_LEN,
			      (rx + VA_ARGO_MSG_HDR_SIZE) % RING_LEN, buf, n);
	buf[n] = 0;
	*src = h.source;
	rx = va_argo_ring_advance(rx, h.len, RING_LEN);
	__atomic_store_n(&ring->rx_ptr, rx, __ATOMIC_RELEASE);
	return n;
}

static int serve(uint16_t guest, uint32_t port)
{
	char buf[MAX_PAYLOAD + 1];
	struct va_argo_addr src;
	unsigned int echoed = 0, foreign = 0;
	uint32_t n;
	int ret;

	open_argo();
	ret = register_ring(port, guest);
	if (ret < 0)
		fail("register (port %#x, partner dom%u): %s", port, guest,
		     strerror(-ret));
	printf("va-flask-peer: serving dom%u on port %#x\n", guest, port);
	for (;;) {
		n = recv_msg(buf, &src);
		if (src.domain_id != guest || src.aport != port) {
			printf("va-flask-peer: message from dom%u port %#x: '%s'\n",
			       src.domain_id, src.aport, buf);
			foreign++;
			continue;
		}
		if (!strcmp(buf, "bye"))
			break;
		ret = send_msg(port, guest, buf, n);
		if (ret != (int)n)
			fail("echo to dom%u: %d", guest, ret);
		echoed++;
	}
	if (foreign)
		fail("%u messages not from dom%u", foreign, guest);
	printf("va-flask-peer: PASS: echoed %u messages, all from dom%u\n",
	       echoed, guest);
	return 0;
}

static int ping(uint16_t driver, uint32_t port, uint32_t count,
		uint32_t rounds)
{
	char msg[MAX_PAYLOAD], got[MAX_PAYLOAD + 1], line[64];
	struct va_argo_addr src;
	uint32_t r, i;
	int ret, len;

	open_argo();
	ret = register_ring(port, driver);
	if (ret < 0)
		fail("register (port %#x, partner dom%u): %s", port, driver,
		     strerror(-ret));
	for (r = 1; r <= rounds; r++) {
		if (r > 1 && !fgets(line, sizeof(line), stdin))
			fail("no go signal for round %u", r);
		for (i = 0; i < count; i++) {
			len = snprintf(msg, sizeof(msg),
				       "round %u message %u from the guest", r, i);
			ret = send_msg(port, driver, msg, (uint32_t)len);
			if (ret != len)
				fail("round %u: sendv %u to dom%u: %d", r, i,
				     driver, ret);
			if (recv_msg(got, &src) != (uint32_t)len ||
			    memcmp(got, msg, (size_t)len))
				fail("round %u: echo %u is '%s'", r, i, got);
			if (src.domain_id != driver || src.aport != port)
				fail("round %u: echo %u from dom%u port %#x", r,
				     i, src.domain_id, src.aport);
		}
		printf("va-flask-peer: round %u: %u echoes from dom%u\n", r,
		       count, driver);
	}
	ret = send_msg(port, driver, "bye", 3);
	if (ret != 3)
		fail("bye: %d", ret);
	return 0;
}

/* privcmd's hypercall ioctl (Linux include/uapi/xen/privcmd.h). */
struct privcmd_hypercall {
	uint64_t op;
	uint64_t arg[5];
};
#define IOCTL_PRIVCMD_HYPERCALL \
	_IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))

static int deny(uint16_t driver, uint32_t port)
{
	static char payload[] = "from a domain without Argo rights";
	struct va_argo_send_addr addr = {
		.src = { .aport = port, .domain_id = VA_ARGO_DOMID_ANY },
		.dst = { .aport = port, .domain_id = driver },
	};
	struct va_argo_iov iov = {
		.iov_hnd = (uintptr_t)payload, .iov_len = sizeof(payload),
	};
	struct privcmd_hypercall hc = {
		.op = VA_ARGO_HYPERCALL,
		.arg = { VA_ARGO_OP_SENDV, (uintptr_t)&addr, (uintptr_t)&iov, 1,
			 MSG_TYPE },
	};
	struct va_argodev_notify none = { .nent = 0 };
	long lret;
	int pfd, ret;

	open_argo();
	/* argo enable is granted: the refusals below come from the checks
	 * of register_single_source and send. */
	ret = xioctl(VA_ARGODEV_NOTIFY, &none);
	if (ret < 0)
		fail("notify without entries: %s", strerror(-ret));
	ret = register_ring(port, driver);
	if (ret != -EACCES)
		fail("register (port %#x, partner dom%u): %d, expected -EACCES",
		     port, driver, ret);
	printf("va-flask-peer: register towards dom%u: -EACCES\n", driver);

	pfd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
	if (pfd < 0)
		fail("open /dev/xen/privcmd: %s", strerror(errno));
	/* glibc's ioctl() would truncate the 64-bit result; Xen 4.17 may
	 * zero-extend sendv's errors: compare it as a 32-bit int. */
	lret = syscall(SYS_ioctl, pfd, IOCTL_PRIVCMD_HYPERCALL, &hc);
	if (lret == -1)
		ret = -errno;
	else
		ret = (int)(int32_t)(uint32_t)lret;
	if (ret != -EACCES)
		fail("sendv to dom%u port %#x: %d, expected -EACCES", driver,
		     port, ret);
	printf("va-flask-peer: sendv to dom%u: -EACCES\n", driver);
	printf("va-flask-peer: PASS: Argo towards dom%u refused\n", driver);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve((uint16_t)num(argv[2], VA_ARGO_DOMID_MAX),
			     num(argv[3], UINT32_MAX));
	if (argc == 6 && !strcmp(argv[1], "ping"))
		return ping((uint16_t)num(argv[2], VA_ARGO_DOMID_MAX),
			    num(argv[3], UINT32_MAX), num(argv[4], 1000),
			    num(argv[5], 100));
	if (argc == 4 && !strcmp(argv[1], "deny"))
		return deny((uint16_t)num(argv[2], VA_ARGO_DOMID_MAX),
			    num(argv[3], UINT32_MAX));
	fprintf(stderr, "usage: va-flask-peer serve GUEST PORT | "
		"ping DRIVER PORT COUNT ROUNDS | deny DRIVER PORT\n");
	return 2;
}
