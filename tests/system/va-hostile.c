/* SPDX-License-Identifier: MIT */
/*
 * va-hostile: a test-only hostile peer of the virtio_argo transport, for
 * the real-Xen system test (tests/system/dom0/stage3.sh).  Never a device.
 *
 *   va-hostile fake PEER PORT DRIVER_PORT
 *       Registers (self, PORT, partner PEER) through /dev/argo and plays a
 *       block device that lies.  It announces itself (HELLO) and answers
 *       the transport's first DEVICE_INFO with ring_len not a multiple of
 *       16, the retry with max_queue_size 0, the next with num_queues 0;
 *       each time the transport's next record must be DEVICE_INFO again
 *       (it refused the answer; anything else means it went on with it).
 *       Then it answers properly, prints "VA-HOSTILE: serving" once
 *       DRIVER_OK is set, and answers every REQUEST with written = 0 (no
 *       status byte).  Runs until killed.
 *   va-hostile short PEER PORT DRIVER_PORT
 *       fake without the DEVICE_INFO checks.
 *   va-hostile silent PEER PORT DRIVER_PORT
 *       The same device with honest DEVICE_INFO; once it
 *       has answered DRIVER_OK it prints "VA-HOSTILE: silent" and never
 *       reads its ring again, which fills up.  Runs until killed.
 *   va-hostile garbage PEER PORT DRIVER_PORT COUNT
 *       Sends COUNT malformed messages of the protocol's message type (a
 *       body past the end, unknown flags, a request to the driver, session
 *       0, ERROR without RESPONSE, non-zero padding, a truncated header) from
 *       (self, PORT) to (PEER, DRIVER_PORT) through privcmd (a raw Argo
 *       sendv: Xen does not check the source port, so this works while the
 *       real daemon owns PORT), then exits 0.
 *
 * Markers and failures go to stdout ("VA-HOSTILE: ..."); exit 1 on a
 * failure (a bound of 120 s on each wait of the DEVICE_INFO checks).
 * Build: cc -static -O2 -Isrc/include tests/system/va-hostile.c
 */
#include <errno.h>
#include <linux/virtio_ids.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "virtio-argo/argo-dev.h"
#include "virtio-argo/protocol.h"

#define WAIT_MAX_S	120
#define BLK_CONFIG_SIZE	60u
#define QUEUE_MAX	256u
/* As blkd's: the driver's requests were sized for that device. */
#define MAX_REQUEST	(1048576u + 104u)
#define RING_PAGES	512u

enum defect { D_RING_LEN, D_QUEUE_SIZE, D_NUM_QUEUES, D_NONE };
static const char *const defect_name[] = {
	"ring_len not a multiple of 16", "max_queue_size 0", "num_queues 0",
	"none",
};

static int fd = -1;
static struct va_argo_ring *ring;
static uint32_t ring_len, rx, port, driver_port, session;
static uint16_t peer;
static enum defect defect = D_RING_LEN;
static int info_answered;	/* a defective DEVICE_INFO is out */
static int silent, serving;
static uint32_t status;
static uint8_t msg[VA_RING_LEN_MAX];

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("VA-HOSTILE: FAIL: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	exit(1);
}

static uint32_t new_session(void)
{
	uint32_t s = 0;

	while (!s)
		if (getentropy(&s, sizeof(s)))
			fail("getentropy: %s", strerror(errno));
	return s;
}

/* One record to the transport. */
static void send_rec(uint8_t id, uint8_t flags, uint16_t queue, uint32_t token,
		     const void *body, uint32_t len, const void *body2,
		     uint32_t len2)
{
	struct va_hdr h = {
		.msg_id = id, .flags = flags, .queue = va_cpu_to_le16(queue),
		.session = va_cpu_to_le32(session),
		.token = va_cpu_to_le32(token), .len = va_cpu_to_le32(len + len2),
	};
	struct va_argodev_iov v[3] = {
		{ .base = (uintptr_t)&h, .len = sizeof(h) },
		{ .base = (uintptr_t)body, .len = len },
		{ .base = (uintptr_t)body2, .len = len2 },
	};
	struct va_argodev_sendv s = {
		.src_port = port, .dst_port = driver_port, .dst_domid = peer,
		.niov = 3, .iov = (uintptr_t)v,
		.message_type = VA_ARGO_MSG_TYPE,
	};
	int i;

	for (i = 0; i < 1000; i++) {
		if (ioctl(fd, VA_ARGODEV_SENDV, &s) >= 0)
			return;
		if (errno != EAGAIN)
			fail("sendv: %s", strerror(errno));
		usleep(10000);
	}
	fail("the transport's ring stayed full");
}

static void reply(const struct va_hdr *h, const void *body, uint32_t len)
{
	send_rec(h->msg_id, VA_F_RESPONSE, va_le16_to_cpu(h->queue),
		 va_le32_to_cpu(h->token), body, len, NULL, 0);
}

static void reply_error(const struct va_hdr *h, uint32_t code)
{
	struct va_error e = { .error = va_cpu_to_le32(code) };

	send_rec(h->msg_id, VA_F_RESPONSE | VA_F_ERROR,
		 va_le16_to_cpu(h->queue), va_le32_to_cpu(h->token), &e,
		 sizeof(e), NULL, 0);
}

static void on_device_info(const struct va_hdr *h)
{
	struct va_device_info d = {
		.device_id = va_cpu_to_le32(VIRTIO_ID_BLOCK),
		.vendor_id = va_cpu_to_le32(0x5641),
		.version_min = va_cpu_to_le32(1),
		.version_max = va_cpu_to_le32(1),
		.num_queues = va_cpu_to_le16(1),
		.config_size = va_cpu_to_le32(BLK_CONFIG_SIZE),
		.max_queue_size = va_cpu_to_le32(QUEUE_MAX),
		.device_ring_len = va_cpu_to_le32(ring_len),
		.max_request = va_cpu_to_le32(MAX_REQUEST),
	};

	if (info_answered) {
		/* The transport asked again: it refused the last answer. */
		printf("VA-HOSTILE: DEVICE_INFO with %s refused\n",
		       defect_name[defect]);
		defect++;
		info_answered = 0;
	}
	switch (defect) {
	case D_RING_LEN:
		d.device_ring_len = va_cpu_to_le32(ring_len + 8);
		break;
	case D_QUEUE_SIZE:
		d.max_queue_size = 0;
		break;
	case D_NUM_QUEUES:
		d.num_queues = 0;
		break;
	case D_NONE:
		break;
	}
	info_answered = defect != D_NONE;
	reply(h, &d, sizeof(d));
}

/* One record from the transport. */
static void on_record(const struct va_hdr *h, const uint8_t *body, uint32_t len)
{
	struct va_vqueue vq;
	struct va_status st;
	uint32_t v;

	if (h->msg_id != VA_MSG_DEVICE_INFO && info_answered)
		fail("the transport went on (message %#x) after DEVICE_INFO with %s",
		     h->msg_id, defect_name[defect]);
	switch (h->msg_id) {
	case VA_MSG_DEVICE_INFO:
		on_device_info(h);
		break;
	case VA_MSG_SET_DEVICE_STATUS:
		if (len != sizeof(st))
			fail("SET_DEVICE_STATUS of %u bytes", len);
		memcpy(&st, body, sizeof(st));
		status = va_le32_to_cpu(st.status);
		reply(h, &st, sizeof(st));
		if ((status & VA_STATUS_DRIVER_OK) && !serving) {
			serving = 1;
			printf("VA-HOSTILE: %s\n", silent ? "silent" : "serving");
		}
		break;
	case VA_MSG_GET_DEVICE_STATUS:
		st.status = va_cpu_to_le32(status);
		st.reserved = 0;
		reply(h, &st, sizeof(st));
		break;
	case VA_MSG_GET_DEV_FEATURES:
	case VA_MSG_SET_DRV_FEATURES: {
		struct va_features f = { 0 };

		if (len != sizeof(f))
			fail("features of %u bytes", len);
		memcpy(&f, body, sizeof(f));
		if (h->msg_id == VA_MSG_GET_DEV_FEATURES)
			f.bits = va_cpu_to_le64(va_le32_to_cpu(f.block) ? 0 :
						1ull << VA_F_VERSION_1_BIT);
		reply(h, &f, sizeof(f));
		break;
	}
	case VA_MSG_GET_VQUEUE:
	case VA_MSG_SET_VQUEUE:
	case VA_MSG_RESET_VQUEUE:
		if (len != sizeof(vq))
			fail("vqueue message of %u bytes", len);
		memcpy(&vq, body, sizeof(vq));
		vq.max_size = va_cpu_to_le32(QUEUE_MAX);
		if (h->msg_id == VA_MSG_RESET_VQUEUE)
			vq.enabled = 0;
		reply(h, &vq, sizeof(vq));
		break;
	case VA_MSG_REQUEST: {
		/* The lie: nothing written, not even the status byte. */
		struct va_response r = { .written = 0 };

		send_rec(VA_MSG_RESPONSE, VA_F_RESPONSE, va_le16_to_cpu(h->queue),
			 va_le32_to_cpu(h->token), &r, sizeof(r), NULL, 0);
		break;
	}
	default:
		/* Config space: refused (the transport keeps its copy). */
		v = h->flags & VA_F_RESPONSE;
		if (!v)
			reply_error(h, VA_ERR_INVALID);
		break;
	}
}

/* Read and handle every message in the ring; notify after consuming. */
static void drain(void)
{
	struct va_argo_msg_hdr mh;
	uint32_t tx, n, off;
	int any = 0;

	for (;;) {
		if (silent && serving)
			return;
		tx = __atomic_load_n(&ring->tx_ptr, __ATOMIC_ACQUIRE);
		if (va_argo_ring_peek(ring->ring, ring_len, rx, tx, &mh) !=
		    VA_ARGO_PEEK_MSG)
			break;
		n = mh.len - VA_ARGO_MSG_HDR_SIZE;
		va_argo_ring_copy_out(ring->ring, ring_len,
				      (rx + VA_ARGO_MSG_HDR_SIZE) % ring_len,
				      msg, n);
		rx = va_argo_ring_advance(rx, mh.len, ring_len);
		__atomic_store_n(&ring->rx_ptr, rx, __ATOMIC_RELEASE);
		any = 1;
		if (mh.source.domain_id != peer || mh.source.aport != driver_port ||
		    mh.message_type != VA_ARGO_MSG_TYPE)
			continue;
		for (off = 0; off + sizeof(struct va_hdr) <= n;) {
			struct va_hdr h;
			uint32_t len;

			memcpy(&h, msg + off, sizeof(h));
			len = va_le32_to_cpu(h.len);
			if (len > n - off - sizeof(h))
				break;
			on_record(&h, msg + off + sizeof(h), len);
			off += (uint32_t)VA_RECORD_SPAN(len);
		}
	}
	if (any) {
		struct va_argodev_notify nt = { .nent = 0 };

		ioctl(fd, VA_ARGODEV_NOTIFY, &nt);
	}
}

static void run_device(void)
{
	struct va_argodev_register reg = { .port = port, .partner = peer };
	struct va_hello hello = { .device_id = va_cpu_to_le32(VIRTIO_ID_BLOCK),
				  .version_max = va_cpu_to_le32(1) };
	time_t since = time(NULL);
	enum defect seen = defect;

	ring_len = va_argo_ring_len_for_pages(RING_PAGES);
	reg.len = ring_len;
	fd = open("/dev/" VA_ARGODEV_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open /dev/argo: %s", strerror(errno));
	if (ioctl(fd, VA_ARGODEV_REGISTER, &reg) < 0)
		fail("register port %#x: %s", port, strerror(errno));
	ring = mmap(NULL, reg.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, (off_t)reg.mmap_offset);
	if (ring == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	session = new_session();
	send_rec(VA_MSG_HELLO, 0, 0, 0, &hello, sizeof(hello), NULL, 0);
	printf("VA-HOSTILE: registered port %#x, HELLO sent\n", port);

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint32_t ev;

		if (silent && serving) {
			pause();
			continue;
		}
		poll(&p, 1, 1000);
		ioctl(fd, VA_ARGODEV_ACK, &ev);
		drain();
		if (defect != seen) {
			seen = defect;
			since = time(NULL);
		}
		if (defect != D_NONE && time(NULL) - since > WAIT_MAX_S)
			fail("no DEVICE_INFO within %d s after one with %s",
			     WAIT_MAX_S, defect_name[defect]);
	}
}

/* privcmd's hypercall ioctl (Linux include/uapi/xen/privcmd.h). */
struct privcmd_hypercall {
	uint64_t op;
	uint64_t arg[5];
};
#define IOCTL_PRIVCMD_HYPERCALL \
	_IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))

static void run_garbage(unsigned int count)
{
	static uint8_t buf[256];
	struct va_hdr *h = (struct va_hdr *)buf;
	struct va_argo_send_addr addr = {
		.src = { .aport = port, .domain_id = VA_ARGO_DOMID_ANY },
		.dst = { .aport = driver_port, .domain_id = peer },
	};
	struct va_argo_iov iov = { .iov_hnd = (uintptr_t)buf };
	struct privcmd_hypercall hc = {
		.op = VA_ARGO_HYPERCALL,
		.arg = { VA_ARGO_OP_SENDV, (uintptr_t)&addr, (uintptr_t)&iov, 1,
			 VA_ARGO_MSG_TYPE },
	};
	unsigned int i, sent = 0, full = 0;
	int pfd, ret;

	pfd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
	if (pfd < 0)
		fail("open /dev/xen/privcmd: %s", strerror(errno));
	mlock(buf, sizeof(buf));
	mlock(&addr, sizeof(addr));
	mlock(&iov, sizeof(iov));
	for (i = 0; i < count; i++) {
		memset(buf, 0, sizeof(buf));
		h->session = va_cpu_to_le32(0x6a6b6c6d);
		h->msg_id = VA_MSG_RESPONSE;
		switch (i % 7) {
		case 0:		/* a body longer than the message */
			h->flags = VA_F_RESPONSE;
			h->len = va_cpu_to_le32(1000);
			iov.iov_len = sizeof(*h) + 8;
			break;
		case 1:		/* flags nobody defined */
			h->flags = 0x80;
			iov.iov_len = sizeof(*h);
			break;
		case 2:		/* a request sent to the driver */
			h->msg_id = VA_MSG_GET_CONFIG;
			iov.iov_len = sizeof(*h);
			break;
		case 4:		/* session 0 */
			h->flags = VA_F_RESPONSE;
			h->session = 0;
			h->len = va_cpu_to_le32(sizeof(struct va_response));
			iov.iov_len = sizeof(*h) + sizeof(struct va_response);
			break;
		case 5:		/* ERROR without RESPONSE */
			h->msg_id = VA_MSG_REQUEST;
			h->flags = VA_F_ERROR;
			h->len = va_cpu_to_le32(sizeof(struct va_error));
			iov.iov_len = sizeof(*h) + sizeof(struct va_error);
			break;
		case 6:		/* non-zero padding before a second record */
			h->flags = VA_F_RESPONSE;
			h->len = va_cpu_to_le32(3);
			buf[sizeof(*h) + 3] = 0xff;
			memcpy(buf + 24, h, sizeof(*h));
			iov.iov_len = 24 + sizeof(*h);
			break;
		default:	/* a truncated header */
			iov.iov_len = 7;
			break;
		}
		ret = ioctl(pfd, IOCTL_PRIVCMD_HYPERCALL, &hc);
		/* Xen 4.17 returns some errors zero-extended: narrow. */
		if (ret == -1)
			ret = -errno;
		if (ret >= 0) {
			sent++;
		} else if (ret == -EAGAIN) {
			full++;
			usleep(1000);
		} else {
			fail("raw sendv: %d", ret);
		}
	}
	printf("VA-HOSTILE: %u garbage messages sent (%u refused: ring full)\n",
	       sent, full);
	if (!sent)
		fail("no garbage message was delivered");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 5)
		fail("usage: va-hostile fake|short|silent|garbage PEER PORT DRIVER_PORT [COUNT]");
	peer = (uint16_t)strtoul(argv[2], NULL, 0);
	port = (uint32_t)strtoul(argv[3], NULL, 0);
	driver_port = (uint32_t)strtoul(argv[4], NULL, 0);
	if (!strcmp(argv[1], "garbage") && argc == 6) {
		run_garbage((unsigned int)strtoul(argv[5], NULL, 0));
		return 0;
	}
	if (!strcmp(argv[1], "silent")) {
		silent = 1;
		defect = D_NONE;
	} else if (!strcmp(argv[1], "short")) {
		defect = D_NONE;
	} else if (strcmp(argv[1], "fake")) {
		fail("unknown mode %s", argv[1]);
	}
	run_device();
	return 1;
}
