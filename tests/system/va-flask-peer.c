/* SPDX-License-Identifier: MIT */
/*
 * va-flask-peer deny DRIVER PORT: the refused domain of system-test
 * stage 7 (Xen with FLASK enforcing our policy, config/flask/), run in a
 * domain of a label the policy gives no Argo (Xen's domU_t) through
 * /dev/argo (module virtio_argo_core).  It checks that Argo itself is
 * enabled for it (a notify without entries succeeds), then that Xen
 * refuses with exactly -EACCES both a ring registration with DRIVER as
 * partner (through /dev/argo) and a sendv to DRIVER:PORT (a raw hypercall
 * through /dev/xen/privcmd: /dev/argo sends only from a registered ring).
 * The driver domain runs the real daemons (tests/system/driver/init).
 *
 * Output lines start with "va-flask-peer: "; the exit status is 0 when
 * every check passed, 1 otherwise.  Build statically for an initramfs:
 *   cc -static -O2 -Isrc/include -o va-flask-peer tests/system/va-flask-peer.c
 */
#include <errno.h>
#include <fcntl.h>
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

static int fd = -1;
static struct va_argo_ring *ring;

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
	if (argc == 4 && !strcmp(argv[1], "deny"))
		return deny((uint16_t)num(argv[2], VA_ARGO_DOMID_MAX),
			    num(argv[3], UINT32_MAX));
	fprintf(stderr, "usage: va-flask-peer deny DRIVER PORT\n");
	return 2;
}
