/* SPDX-License-Identifier: MIT */
/*
 * TAP access for virtio-argo-netd (see tap.h).
 *
 * Opening an existing TAP is checked first through rtnetlink (tun reports
 * its type, multi_queue flag and attached fds there): this tells a TAP in
 * use, a TUN device, a device that is not tun at all and a multi_queue
 * mismatch apart, which TUNSETIFF reports alike as EINVAL or EBUSY.  Then
 * every queue fd is attached with TUNSETIFF and given the 12-byte header.
 * Nothing here blocks: the fds are O_NONBLOCK and the caller's event loop
 * watches them.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include "log.h"
#include "netlink.h"
#include "tap.h"

struct net_tap {
	char name[IFNAMSIZ];
	unsigned int queues;
	bool existed;
	int fds[];
};

/* The TUNSETIFF flags we ask for; the TAP keeps them while attached. */
#define TAP_FLAGS	(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

/* Check an existing link before attaching; sets *mq to its multi_queue
 * flag.  Returns 0, -ENODEV (absent: to be created) or -errno (logged). */
static int check_existing(const char *name, unsigned int queues, bool *mq)
{
	struct net_tun_info ti;
	int r = net_nl_tun_info(name, &ti);

	if (r == -ENODEV)
		return r;
	if (r < 0)
		return va_log_errno(VA_LOG_ERR, r, "tap: cannot query %s", name);
	if (!ti.is_tun) {
		va_err("tap: %s exists and is not a TAP device", name);
		return -EINVAL;
	}
	if (!ti.known)		/* a kernel before 4.15: TUNSETIFF decides */
		return 0;
	if (!ti.tap) {
		va_err("tap: %s is a TUN (layer 3) device, not a TAP", name);
		return -EINVAL;
	}
	if (ti.queues > 0) {	/* multi_queue (else TUNSETIFF says EBUSY) */
		va_err("tap: %s is in use by another process", name);
		return -EBUSY;
	}
	if (queues > 1 && !ti.multi_queue) {
		va_err("tap: %s was created without multi_queue; %u queue pairs need one "
		       "(ip tuntap add dev %s mode tap multi_queue)", name, queues, name);
		return -EINVAL;
	}
	*mq = ti.multi_queue;
	return 0;
}

/* Attach one more fd to TAP `name`.  Returns the fd or -errno (logged). */
static int attach_fd(const char *name, bool mq)
{
	struct ifreq ifr = { 0 };
	int hdr_len = NET_TAP_HDR_LEN, le = 1;
	int fd, r;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ENODEV)
			va_err("tap: no /dev/net/tun (is the tun module loaded?)");
		else
			va_log_errno(VA_LOG_ERR, r, "tap: cannot open /dev/net/tun");
		return r;
	}
	strcpy(ifr.ifr_name, name);	/* length checked by net_tap_open */
	ifr.ifr_flags = TAP_FLAGS | (mq ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		if (r == -EBUSY)
			va_err("tap: %s is in use by another process", name);
		else if (r == -EPERM || r == -EACCES)
			va_err("tap: no permission to create or attach %s "
			       "(needs CAP_NET_ADMIN or the TAP's owner)", name);
		else if (r == -EINVAL)
			va_err("tap: %s exists but does not fit: not a TAP, or its "
			       "multi_queue flag differs", name);
		else
			va_log_errno(VA_LOG_ERR, r, "tap: cannot attach %s", name);
		goto fail;
	}
	/* What tun kept (an existing TAP could differ on old kernels). */
	if (ioctl(fd, TUNGETIFF, &ifr) < 0 ||
	    (ifr.ifr_flags & (TAP_FLAGS | IFF_MULTI_QUEUE)) !=
	    (TAP_FLAGS | (mq ? IFF_MULTI_QUEUE : 0))) {
		va_err("tap: %s: unexpected TAP flags 0x%x", name,
		       (unsigned int)(unsigned short)ifr.ifr_flags);
		r = -EINVAL;
		goto fail;
	}
	/* Virtio 1.x headers are little-endian whatever the host. */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0 ||
	    ioctl(fd, TUNSETVNETLE, &le) < 0) {
		r = va_log_errno(VA_LOG_ERR, -errno,
				 "tap: %s: cannot set the vnet header", name);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

int net_tap_open(const char *name, unsigned int queues, struct net_tap **ret)
{
	struct net_tap *t;
	bool mq = queues > 1;
	unsigned int i;
	int r;

	if (!name[0] || strlen(name) >= IFNAMSIZ) {
		va_err("tap: bad interface name '%s' (1 to %d characters)", name,
		       IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (queues < 1 || queues > NET_TAP_MAX_QUEUES) {
		va_err("tap: %u queue pairs (1 to %u)", queues, NET_TAP_MAX_QUEUES);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t) + queues * sizeof(t->fds[0]));
	if (!t)
		return -ENOMEM;
	strcpy(t->name, name);
	r = check_existing(name, queues, &mq);
	if (r < 0 && r != -ENODEV)
		goto fail;
	t->existed = r == 0;
	for (i = 0; i < queues; i++) {
		r = attach_fd(name, mq);
		if (r < 0)
			goto fail;
		t->fds[i] = r;
		t->queues++;
	}
	*ret = t;
	return 0;
fail:
	net_tap_close(t);
	return r;
}

void net_tap_close(struct net_tap *t)
{
	unsigned int i;

	if (!t)
		return;
	for (i = 0; i < t->queues; i++)
		close(t->fds[i]);
	free(t);
}

const char *net_tap_name(const struct net_tap *t)
{
	return t->name;
}

unsigned int net_tap_queues(const struct net_tap *t)
{
	return t->queues;
}

int net_tap_fd(const struct net_tap *t, unsigned int pair)
{
	return pair < t->queues ? t->fds[pair] : -1;
}

bool net_tap_existed(const struct net_tap *t)
{
	return t->existed;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

ssize_t net_tap_read(struct net_tap *t, unsigned int pair,
		     const struct iovec *iov, int iovcnt)
{
	struct iovec v[NET_TAP_MAX_IOV + 1];
	uint8_t sink;
	ssize_t n;

	if (pair >= t->queues || iovcnt < 1 || iovcnt > NET_TAP_MAX_IOV ||
	    iov[0].iov_len < NET_TAP_HDR_LEN)
		return -EINVAL;
	/*
	 * tun copies what fits of a frame and drops the rest, returning the
	 * length copied: one more byte behind the caller's buffers tells a
	 * frame that did not fit from one that filled them exactly.
	 */
	memcpy(v, iov, iovcnt * sizeof(*iov));
	v[iovcnt] = (struct iovec){ &sink, 1 };
	n = readv(t->fds[pair], v, iovcnt + 1);
	if (n < 0)
		return -errno;
	if ((size_t)n > iov_total(iov, iovcnt))
		return -EMSGSIZE;
	return n;
}

int net_tap_write(struct net_tap *t, unsigned int pair,
		  const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	if (pair >= t->queues)
		return -EINVAL;
	n = writev(t->fds[pair], iov, iovcnt);
	if (n < 0)
		return -errno;
	/* tun takes a frame whole or not at all. */
	return (size_t)n == iov_total(iov, iovcnt) ? 0 : -EIO;
}

int net_tap_set_queue(struct net_tap *t, unsigned int pair, bool enable)
{
	struct ifreq ifr = { 0 };

	if (pair >= t->queues)
		return -EINVAL;
	if (t->queues == 1)
		return 0;
	ifr.ifr_flags = enable ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(t->fds[pair], TUNSETQUEUE, &ifr) < 0)
		return va_log_errno(VA_LOG_ERR, -errno, "tap: %s: cannot %s queue %u",
				    t->name, enable ? "attach" : "detach", pair);
	return 0;
}

unsigned int net_tap_offload_flags(uint64_t features)
{
	unsigned int f = 0;

#define HAS(bit)	(features & (1ull << VIRTIO_NET_F_##bit))
	if (!HAS(GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (HAS(GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (HAS(GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (HAS(GUEST_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	if (HAS(GUEST_UFO))
		f |= TUN_F_UFO;
#undef HAS
	return f;
}

int net_tap_set_offload(struct net_tap *t, uint64_t features)
{
	unsigned int f = net_tap_offload_flags(features);

	/* The offloads belong to the TAP device: one fd sets them for all. */
	if (ioctl(t->fds[0], TUNSETOFFLOAD, f) < 0)
		return va_log_errno(VA_LOG_ERR, -errno,
				    "tap: %s: cannot set offloads 0x%x", t->name, f);
	return 0;
}
