/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-argo-netd's host side (src/devices/net/: tap.c,
 * netlink.c, mac.c) against the real kernel: the process moves itself
 * into a network namespace of its own (unshare) before any test, so the
 * TAPs and bridges it makes are seen by nothing else and vanish with it.
 * Frames cross the TAP both ways, checked through a packet socket; the
 * offloads are checked in the TAP's ethtool features; link events through
 * the netlink fd.  Needs root (CAP_NET_ADMIN) and /dev/net/tun.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>

#include "log.h"
#include "mac.h"
#include "netlink.h"
#include "tap.h"

#define ETH_P_TEST	0x88b5	/* IEEE local experimental */
#define FEAT(bit)	(1ull << VIRTIO_NET_F_##bit)

/* A TUN/TAP device made with raw ioctls, left persistent; returns 0. */
static int make_persistent(const char *name, int flags)
{
	struct ifreq ifr = { .ifr_flags = (short)flags };
	int fd = open("/dev/net/tun", O_RDWR), one = 1, r = 0;

	ck_assert_int_ge(fd, 0);
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, one) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Delete a persistent TAP made by make_persistent. */
static void drop_persistent(const char *name, int flags)
{
	struct ifreq ifr = { .ifr_flags = (short)flags };
	int fd = open("/dev/net/tun", O_RDWR);

	ck_assert_int_ge(fd, 0);
	strcpy(ifr.ifr_name, name);
	ck_assert_int_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	ck_assert_int_eq(ioctl(fd, TUNSETPERSIST, 0), 0);
	close(fd);
}

static int packet_socket(const char *ifname);
static size_t make_frame(uint8_t *f, size_t len, uint8_t seed);

static unsigned short tap_flags(int fd)
{
	struct ifreq ifr = { 0 };

	ck_assert_int_eq(ioctl(fd, TUNGETIFF, &ifr), 0);
	return (unsigned short)ifr.ifr_flags;
}

START_TEST(tap_create_vnet)
{
	struct net_tun_info ti;
	struct net_tap *t;
	uint8_t buf[64];
	struct iovec iov = { buf, sizeof(buf) };
	int fd, sz = 0;

	ck_assert_int_eq(net_nl_tun_info("vt0", &ti), -ENODEV);
	ck_assert_int_eq(net_tap_open("vt0", 1, &t), 0);
	ck_assert(!net_tap_existed(t));
	ck_assert_str_eq(net_tap_name(t), "vt0");
	ck_assert_uint_eq(net_tap_queues(t), 1);
	fd = net_tap_fd(t, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(net_tap_fd(t, 1), -1);
	ck_assert_uint_eq(tap_flags(fd) & (IFF_TAP | IFF_TUN | IFF_NO_PI |
					   IFF_VNET_HDR | IFF_MULTI_QUEUE),
			  IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	ck_assert_int_eq(ioctl(fd, TUNGETVNETHDRSZ, &sz), 0);
	ck_assert_int_eq(sz, NET_TAP_HDR_LEN);
	ck_assert_int_eq(sz, sizeof(struct virtio_net_hdr_v1));
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(net_nl_tun_info("vt0", &ti), 0);
	ck_assert(ti.is_tun && ti.known && ti.tap && !ti.multi_queue && !ti.persist);
	ck_assert_int_eq(ti.queues, -1);	/* told for multi_queue only */
	/* Nothing to read (the link is down): non-blocking. */
	ck_assert_int_eq(net_tap_read(t, 0, &iov, 1), -EAGAIN);
	net_tap_close(t);
	/* Not persistent: gone with its fd. */
	ck_assert_int_eq(net_nl_tun_info("vt0", &ti), -ENODEV);
}
END_TEST

START_TEST(tap_multiqueue)
{
	struct net_tun_info ti;
	struct net_tap *t;
	int a, b;

	ck_assert_int_eq(net_tap_open("vmq0", 2, &t), 0);
	a = net_tap_fd(t, 0);
	b = net_tap_fd(t, 1);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_ne(a, b);
	ck_assert(tap_flags(a) & IFF_MULTI_QUEUE);
	ck_assert(tap_flags(b) & IFF_MULTI_QUEUE);
	ck_assert_int_eq(net_nl_tun_info("vmq0", &ti), 0);
	ck_assert(ti.multi_queue);
	ck_assert_int_eq(ti.queues, 2);
	net_tap_close(t);
}
END_TEST

/* Each queue pair's fd carries frames. */
START_TEST(tap_multiqueue_write)
{
	struct virtio_net_hdr_v1 hdr = { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	uint8_t frame[100], got[200];
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { frame, sizeof(frame) } };
	struct net_tap *t;
	struct net_nl *nl;
	unsigned int q;
	int ps;

	ck_assert_int_eq(net_tap_open("vmq1", 2, &t), 0);
	ck_assert_int_eq(net_nl_open(&nl), 0);
	ck_assert_int_eq(net_nl_set_up(nl, "vmq1", true), 0);
	ps = packet_socket("vmq1");
	for (q = 0; q < 2; q++) {
		make_frame(frame, sizeof(frame), (uint8_t)(10 + q));
		ck_assert_int_eq(net_tap_write(t, q, iov, 2), 0);
		ck_assert_int_eq(recv(ps, got, sizeof(got), 0), sizeof(frame));
		ck_assert_mem_eq(got, frame, sizeof(frame));
	}
	ck_assert_int_eq(net_tap_write(t, 2, iov, 2), -EINVAL);
	close(ps);
	net_nl_close(nl);
	net_tap_close(t);
}
END_TEST

START_TEST(tap_bad_args)
{
	struct net_tap *t;

	ck_assert_int_eq(net_tap_open("", 1, &t), -EINVAL);
	ck_assert_int_eq(net_tap_open("0123456789abcdef", 1, &t), -EINVAL);
	ck_assert_int_eq(net_tap_open("vb0", 0, &t), -EINVAL);
	ck_assert_int_eq(net_tap_open("vb0", NET_TAP_MAX_QUEUES + 1, &t), -EINVAL);
}
END_TEST

/* Persistent TAPs are used as they are; mismatches and users refused. */
START_TEST(tap_existing)
{
	struct net_tap *t, *t2;

	ck_assert_int_eq(make_persistent("vp0", IFF_TAP | IFF_NO_PI), 0);
	ck_assert_int_eq(net_tap_open("vp0", 1, &t), 0);
	ck_assert(net_tap_existed(t));
	ck_assert(tap_flags(net_tap_fd(t, 0)) & IFF_VNET_HDR);
	/* In use: refused, and the first user keeps it. */
	ck_assert_int_eq(net_tap_open("vp0", 1, &t2), -EBUSY);
	net_tap_close(t);
	/* Not multi-queue: two queue pairs cannot be served. */
	ck_assert_int_eq(net_tap_open("vp0", 2, &t), -EINVAL);
	/* Closing kept the persistent TAP. */
	ck_assert_int_eq(net_tap_open("vp0", 1, &t), 0);
	net_tap_close(t);
	drop_persistent("vp0", IFF_TAP | IFF_NO_PI);

	/* A multi-queue TAP keeps its flag even for one queue pair, and a
	 * second daemon is refused although tun would attach it. */
	ck_assert_int_eq(make_persistent("vp1", IFF_TAP | IFF_MULTI_QUEUE), 0);
	ck_assert_int_eq(net_tap_open("vp1", 1, &t), 0);
	ck_assert(tap_flags(net_tap_fd(t, 0)) & IFF_MULTI_QUEUE);
	ck_assert_int_eq(net_tap_open("vp1", 2, &t2), -EBUSY);
	net_tap_close(t);
	ck_assert_int_eq(net_tap_open("vp1", 2, &t), 0);
	net_tap_close(t);
	drop_persistent("vp1", IFF_TAP | IFF_MULTI_QUEUE);

	/* A TUN device, and a link that is no tun at all. */
	ck_assert_int_eq(make_persistent("vp2", IFF_TUN), 0);
	ck_assert_int_eq(net_tap_open("vp2", 1, &t), -EINVAL);
	drop_persistent("vp2", IFF_TUN);
	ck_assert_int_eq(net_tap_open("lo", 1, &t), -EINVAL);
}
END_TEST

/* The TAP's active ethtool feature named `name`. */
static bool ethtool_feature(const char *ifname, const char *name)
{
	struct {
		struct ethtool_sset_info info;
		uint32_t len;
	} ss = { .info = { .cmd = ETHTOOL_GSSET_INFO,
			   .sset_mask = 1ull << ETH_SS_FEATURES } };
	struct ethtool_gstrings *str;
	struct ethtool_gfeatures *feat;
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	uint32_t n, i, blocks;
	bool on = false, found = false;

	ck_assert_int_ge(s, 0);
	strcpy(ifr.ifr_name, ifname);
	ifr.ifr_data = (void *)&ss;
	ck_assert_int_eq(ioctl(s, SIOCETHTOOL, &ifr), 0);
	n = ss.len;
	str = calloc(1, sizeof(*str) + n * ETH_GSTRING_LEN);
	str->cmd = ETHTOOL_GSTRINGS;
	str->string_set = ETH_SS_FEATURES;
	str->len = n;
	ifr.ifr_data = (void *)str;
	ck_assert_int_eq(ioctl(s, SIOCETHTOOL, &ifr), 0);
	blocks = (n + 31) / 32;
	feat = calloc(1, sizeof(*feat) + blocks * sizeof(feat->features[0]));
	feat->cmd = ETHTOOL_GFEATURES;
	feat->size = blocks;
	ifr.ifr_data = (void *)feat;
	ck_assert_int_eq(ioctl(s, SIOCETHTOOL, &ifr), 0);
	for (i = 0; i < n; i++) {
		if (strncmp((char *)str->data + i * ETH_GSTRING_LEN, name,
			    ETH_GSTRING_LEN))
			continue;
		found = true;
		on = feat->features[i / 32].active & (1u << (i % 32));
	}
	ck_assert_msg(found, "no ethtool feature %s", name);
	free(feat);
	free(str);
	close(s);
	return on;
}

START_TEST(offload_mapping)
{
	static const struct {
		uint64_t features;
		unsigned int flags;
	} map[] = {
		{ 0, 0 },
		{ FEAT(CSUM) | FEAT(HOST_TSO4), 0 },	/* guest TX: no ioctl */
		{ FEAT(GUEST_CSUM), TUN_F_CSUM },
		/* TSO without checksum offload is not a valid virtio set */
		{ FEAT(GUEST_TSO4) | FEAT(GUEST_TSO6) | FEAT(GUEST_ECN), 0 },
		{ FEAT(GUEST_CSUM) | FEAT(GUEST_TSO4), TUN_F_CSUM | TUN_F_TSO4 },
		{ FEAT(GUEST_CSUM) | FEAT(GUEST_TSO6), TUN_F_CSUM | TUN_F_TSO6 },
		/* ECN only with a TSO */
		{ FEAT(GUEST_CSUM) | FEAT(GUEST_ECN), TUN_F_CSUM },
		{ FEAT(GUEST_CSUM) | FEAT(GUEST_TSO4) | FEAT(GUEST_TSO6) |
		  FEAT(GUEST_ECN),
		  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN },
		{ FEAT(GUEST_CSUM) | FEAT(GUEST_UFO), TUN_F_CSUM | TUN_F_UFO },
	};
	unsigned int i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		ck_assert_msg(net_tap_offload_flags(map[i].features) == map[i].flags,
			      "features 0x%llx -> 0x%x, want 0x%x",
			      (unsigned long long)map[i].features,
			      net_tap_offload_flags(map[i].features), map[i].flags);
}
END_TEST

START_TEST(offload_applied)
{
	uint64_t all = FEAT(GUEST_CSUM) | FEAT(GUEST_TSO4) | FEAT(GUEST_TSO6) |
		FEAT(GUEST_ECN);
	struct net_tap *t;
	int fd;

	ck_assert_int_eq(net_tap_open("vo0", 2, &t), 0);
	fd = net_tap_fd(t, 1);
	/* Fresh: nothing offloaded towards the guest. */
	ck_assert(!ethtool_feature("vo0", "tx-checksum-ip-generic"));
	ck_assert(!ethtool_feature("vo0", "tx-tcp-segmentation"));
	ck_assert_int_eq(net_tap_set_offload(t, all), 0);
	ck_assert(ethtool_feature("vo0", "tx-checksum-ip-generic"));
	ck_assert(ethtool_feature("vo0", "tx-tcp-segmentation"));
	ck_assert(ethtool_feature("vo0", "tx-tcp6-segmentation"));
	ck_assert(ethtool_feature("vo0", "tx-tcp-ecn-segmentation"));
	ck_assert_int_eq(net_tap_set_offload(t, FEAT(GUEST_CSUM) | FEAT(GUEST_TSO6)), 0);
	ck_assert(ethtool_feature("vo0", "tx-checksum-ip-generic"));
	ck_assert(!ethtool_feature("vo0", "tx-tcp-segmentation"));
	ck_assert(ethtool_feature("vo0", "tx-tcp6-segmentation"));
	ck_assert(!ethtool_feature("vo0", "tx-tcp-ecn-segmentation"));
	/* tun refuses what the mapping never produces (and keeps its set). */
	ck_assert_int_eq(ioctl(fd, TUNSETOFFLOAD, TUN_F_TSO4), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | 0x8000u), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert(ethtool_feature("vo0", "tx-tcp6-segmentation"));
	ck_assert_int_eq(net_tap_set_offload(t, 0), 0);
	ck_assert(!ethtool_feature("vo0", "tx-checksum-ip-generic"));
	ck_assert(!ethtool_feature("vo0", "tx-tcp6-segmentation"));
	net_tap_close(t);
}
END_TEST

/* A packet socket on ifname for ETH_P_TEST frames. */
static int packet_socket(const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_TEST),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_TEST));

	ck_assert_int_ge(s, 0);
	ck_assert_int_ne(sll.sll_ifindex, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

static size_t make_frame(uint8_t *f, size_t len, uint8_t seed)
{
	size_t i;

	memset(f, 0xff, 6);				/* broadcast */
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = ETH_P_TEST >> 8;
	f[13] = ETH_P_TEST & 0xff;
	for (i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i * 13);
	return len;
}

static void wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	ck_assert_int_eq(poll(&p, 1, -1), 1);
}

/* Read the next ETH_P_TEST frame from the TAP (others: IPv6 chatter). */
static ssize_t read_test_frame(struct net_tap *t, struct iovec *iov, int n)
{
	uint8_t *eth = (uint8_t *)iov[0].iov_base + NET_TAP_HDR_LEN;
	ssize_t r;

	for (;;) {
		wait_readable(net_tap_fd(t, 0));
		r = net_tap_read(t, 0, iov, n);
		if (r < 0 || iov[0].iov_len < NET_TAP_HDR_LEN + 14 ||
		    (eth[12] == ETH_P_TEST >> 8 && eth[13] == (ETH_P_TEST & 0xff)))
			return r;
	}
}

START_TEST(frames_both_ways)
{
	struct virtio_net_hdr_v1 hdr = { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	uint8_t frame[300], got[400], a[NET_TAP_HDR_LEN + 20], b[400];
	struct iovec iov[3];
	struct net_tap *t;
	struct net_nl *nl;
	int ps;
	ssize_t n;

	ck_assert_int_eq(net_tap_open("vf0", 1, &t), 0);
	ck_assert_int_eq(net_nl_open(&nl), 0);
	ck_assert_int_eq(net_nl_set_up(nl, "vf0", true), 0);
	ps = packet_socket("vf0");

	/* Guest -> host: header and frame split over three iovecs. */
	make_frame(frame, sizeof(frame), 1);
	iov[0] = (struct iovec){ &hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ frame, 20 };
	iov[2] = (struct iovec){ frame + 20, sizeof(frame) - 20 };
	ck_assert_int_eq(net_tap_write(t, 0, iov, 3), 0);
	n = recv(ps, got, sizeof(got), 0);
	ck_assert_int_eq(n, sizeof(frame));
	ck_assert_mem_eq(got, frame, sizeof(frame));

	/* A header tun refuses (hdr_len beyond the frame): -EINVAL. */
	hdr.hdr_len = 4000;
	ck_assert_int_eq(net_tap_write(t, 0, iov, 3), -EINVAL);
	hdr.hdr_len = 0;

	/* Host -> guest: read into two buffers, the header in the first
	 * (as with MRG_RXBUF); tun fills the first 10 header bytes. */
	make_frame(frame, sizeof(frame), 2);
	ck_assert_int_eq(send(ps, frame, sizeof(frame), 0), sizeof(frame));
	memset(a, 0xee, sizeof(a));
	iov[0] = (struct iovec){ a, sizeof(a) };
	iov[1] = (struct iovec){ b, sizeof(b) };
	n = read_test_frame(t, iov, 2);
	ck_assert_int_eq(n, NET_TAP_HDR_LEN + sizeof(frame));
	memcpy(&hdr, a, sizeof(hdr));
	ck_assert_uint_eq(hdr.flags, 0);
	ck_assert_uint_eq(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	ck_assert_mem_eq(a + NET_TAP_HDR_LEN, frame, 20);
	ck_assert_mem_eq(b, frame + 20, sizeof(frame) - 20);

	/* A frame that fills the buffers exactly is whole. */
	make_frame(frame, sizeof(frame), 3);
	ck_assert_int_eq(send(ps, frame, sizeof(frame), 0), sizeof(frame));
	iov[0] = (struct iovec){ a, sizeof(a) };
	iov[1] = (struct iovec){ b, sizeof(frame) - 20 };
	n = read_test_frame(t, iov, 2);
	ck_assert_int_eq(n, NET_TAP_HDR_LEN + sizeof(frame));
	ck_assert_mem_eq(b, frame + 20, sizeof(frame) - 20);

	/* A frame larger than the buffers: reported, and gone. */
	ck_assert_int_eq(send(ps, frame, sizeof(frame), 0), sizeof(frame));
	iov[0] = (struct iovec){ a, sizeof(a) };
	n = read_test_frame(t, iov, 1);
	ck_assert_int_eq(n, -EMSGSIZE);
	iov[1] = (struct iovec){ b, sizeof(b) };
	ck_assert_int_eq(net_tap_read(t, 0, iov, 2), -EAGAIN);
	/* The header must fit in the first buffer. */
	iov[0].iov_len = NET_TAP_HDR_LEN - 1;
	ck_assert_int_eq(net_tap_read(t, 0, iov, 2), -EINVAL);

	close(ps);
	net_nl_close(nl);
	net_tap_close(t);
}
END_TEST

START_TEST(mtu)
{
	struct net_link_state st;
	struct net_tap *t;
	struct net_nl *nl;

	ck_assert_int_eq(net_tap_open("vm0", 1, &t), 0);
	ck_assert_int_eq(net_nl_open(&nl), 0);
	ck_assert_int_eq(net_nl_set_mtu(nl, "vm0", 9000), 0);
	ck_assert_int_eq(net_nl_get_state(nl, "vm0", &st), 0);
	ck_assert_uint_eq(st.mtu, 9000);
	/* tun's range is 68 (Ethernet's minimum) to 65535 less the
	 * Ethernet header. */
	ck_assert_int_eq(net_nl_set_mtu(nl, "vm0", 65536), -EINVAL);
	ck_assert_int_eq(net_nl_set_mtu(nl, "vm0", 67), -EINVAL);
	ck_assert_int_eq(net_nl_get_state(nl, "vm0", &st), 0);
	ck_assert_uint_eq(st.mtu, 9000);
	ck_assert_int_eq(net_nl_set_mtu(nl, "vm0", 68), 0);
	ck_assert_int_eq(net_nl_set_mtu(nl, "nosuch0", 1500), -ENODEV);
	net_nl_close(nl);
	net_tap_close(t);
}
END_TEST

START_TEST(bridge)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *br = rtnl_link_bridge_alloc(), *l;
	struct net_tap *t, *t2;
	struct net_nl *nl;
	int bridx;

	ck_assert_int_eq(nl_connect(sk, NETLINK_ROUTE), 0);
	rtnl_link_set_name(br, "vbr0");
	ck_assert_int_eq(rtnl_link_add(sk, br, NLM_F_CREATE), 0);
	rtnl_link_put(br);
	bridx = (int)if_nametoindex("vbr0");
	ck_assert_int_ne(bridx, 0);

	ck_assert_int_eq(net_tap_open("vbt0", 1, &t), 0);
	ck_assert_int_eq(net_tap_open("vbt1", 1, &t2), 0);
	ck_assert_int_eq(net_nl_open(&nl), 0);
	ck_assert_int_eq(net_nl_set_bridge(nl, "vbt0", "nobr0"), -ENODEV);
	ck_assert_int_eq(net_nl_set_bridge(nl, "vbt0", "vbt1"), -ENOTSUP);
	ck_assert_int_eq(rtnl_link_get_kernel(sk, 0, "vbt0", &l), 0);
	ck_assert_int_eq(rtnl_link_get_master(l), 0);
	rtnl_link_put(l);
	ck_assert_int_eq(net_nl_set_bridge(nl, "vbt0", "vbr0"), 0);
	ck_assert_int_eq(rtnl_link_get_kernel(sk, 0, "vbt0", &l), 0);
	ck_assert_int_eq(rtnl_link_get_master(l), bridx);
	rtnl_link_put(l);
	net_nl_close(nl);
	net_tap_close(t2);
	net_tap_close(t);
	nl_socket_free(sk);
}
END_TEST

static struct net_link_state seen[64];
static unsigned int nseen;

static void on_link(const struct net_link_state *st, void *opaque)
{
	ck_assert_ptr_eq(opaque, seen);
	ck_assert_uint_lt(nseen, 64);
	seen[nseen++] = *st;
}

/* Dispatch events until the last one reported satisfies want(). */
static void wait_state(struct net_nl *nl, int fd,
		       bool (*want)(const struct net_link_state *))
{
	while (!nseen || !want(&seen[nseen - 1])) {
		wait_readable(fd);
		ck_assert_int_eq(net_nl_dispatch(nl), 0);
	}
}

static bool carrier_off(const struct net_link_state *s) { return !s->carrier; }
static bool carrier_on(const struct net_link_state *s) { return s->carrier; }
static bool is_down(const struct net_link_state *s) { return !s->up; }
static bool is_running(const struct net_link_state *s) { return net_link_running(s); }
static bool is_gone(const struct net_link_state *s) { return s->gone; }

START_TEST(link_events)
{
	struct net_link_state st;
	struct net_tap *t;
	struct net_nl *nl;
	int fd;

	ck_assert_int_eq(make_persistent("vc0", IFF_TAP | IFF_NO_PI), 0);
	ck_assert_int_eq(net_nl_open(&nl), 0);
	ck_assert_int_eq(net_nl_set_up(nl, "vc0", true), 0);
	fd = net_nl_watch(nl, "vc0", on_link, seen, &st);
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	/* Persistent, nobody attached: up without carrier. */
	ck_assert(st.up && !st.carrier && !net_link_running(&st));
	ck_assert_int_eq(st.ifindex, (int)if_nametoindex("vc0"));
	/* Nothing pending is fine. */
	ck_assert_int_eq(net_nl_dispatch(nl), 0);

	ck_assert_int_eq(net_tap_open("vc0", 1, &t), 0);
	wait_state(nl, fd, is_running);
	net_tap_close(t);
	wait_state(nl, fd, carrier_off);
	ck_assert(seen[nseen - 1].up);
	ck_assert_int_eq(net_tap_open("vc0", 1, &t), 0);
	wait_state(nl, fd, carrier_on);
	ck_assert_int_eq(net_nl_set_up(nl, "vc0", false), 0);
	wait_state(nl, fd, is_down);
	ck_assert(!net_link_running(&seen[nseen - 1]));
	ck_assert_int_eq(net_nl_set_up(nl, "vc0", true), 0);
	wait_state(nl, fd, is_running);
	/* Other links' events are not reported. */
	nseen = 0;
	ck_assert_int_eq(make_persistent("vc1", IFF_TAP), 0);
	drop_persistent("vc1", IFF_TAP);
	ck_assert_int_eq(net_nl_set_mtu(nl, "vc0", 1400), 0);
	wait_state(nl, fd, carrier_on);
	ck_assert_uint_eq(nseen, 1);
	ck_assert_uint_eq(seen[0].mtu, 1400);
	/* Deleted. */
	net_tap_close(t);
	drop_persistent("vc0", IFF_TAP | IFF_NO_PI);
	wait_state(nl, fd, is_gone);
	net_nl_close(nl);
}
END_TEST

/*
 * A bridge tells of its ports' state in messages of its own (family
 * AF_BRIDGE, without IFLA_CARRIER): they are not the port's link state.
 * The TAP set down and up in a bridge, then the bridge down and up: every
 * state reported after the TAP is running again, up to an MTU change
 * that ends the check, must be running.
 */
START_TEST(link_events_in_bridge)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *br = rtnl_link_bridge_alloc();
	struct net_link_state st;
	struct net_tap *t;
	struct net_nl *nl;
	unsigned int i;
	int fd;

	ck_assert_int_eq(nl_connect(sk, NETLINK_ROUTE), 0);
	rtnl_link_set_name(br, "vbr2");
	ck_assert_int_eq(rtnl_link_add(sk, br, NLM_F_CREATE), 0);
	rtnl_link_put(br);
	ck_assert_int_eq(net_tap_open("vbe0", 1, &t), 0);
	ck_assert_int_eq(net_nl_open(&nl), 0);
	ck_assert_int_eq(net_nl_set_up(nl, "vbr2", true), 0);
	ck_assert_int_eq(net_nl_set_bridge(nl, "vbe0", "vbr2"), 0);
	ck_assert_int_eq(net_nl_set_up(nl, "vbe0", true), 0);
	fd = net_nl_watch(nl, "vbe0", on_link, seen, &st);
	ck_assert_int_ge(fd, 0);
	ck_assert(net_link_running(&st));
	nseen = 0;
	ck_assert_int_eq(net_nl_set_up(nl, "vbe0", false), 0);
	wait_state(nl, fd, is_down);
	ck_assert_int_eq(net_nl_set_up(nl, "vbe0", true), 0);
	wait_state(nl, fd, is_running);
	nseen = 0;
	ck_assert_int_eq(net_nl_set_up(nl, "vbr2", false), 0);
	ck_assert_int_eq(net_nl_set_up(nl, "vbr2", true), 0);
	ck_assert_int_eq(net_nl_set_mtu(nl, "vbe0", 1400), 0);
	while (!nseen || seen[nseen - 1].mtu != 1400) {
		wait_readable(fd);
		ck_assert_int_eq(net_nl_dispatch(nl), 0);
	}
	for (i = 0; i < nseen; i++)
		ck_assert_msg(net_link_running(&seen[i]) && !seen[i].gone,
			      "state %u of %u: up %d carrier %d gone %d", i,
			      nseen, seen[i].up, seen[i].carrier, seen[i].gone);
	net_nl_close(nl);
	net_tap_close(t);
	nl_socket_free(sk);
}
END_TEST

/* More events than the socket holds (here the socket overflows and
 * netlink.c reads the state afresh): the last state still arrives. */
START_TEST(link_events_overflow)
{
	struct net_link_state st;
	struct net_tap *t;
	struct net_nl *nl;
	unsigned int i;
	int fd;

	ck_assert_int_eq(net_tap_open("vx0", 1, &t), 0);
	ck_assert_int_eq(net_nl_open(&nl), 0);
	fd = net_nl_watch(nl, "vx0", on_link, seen, &st);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(net_nl_set_mtu(nl, "vx0", 1000 + i % 500), 0);
	ck_assert_int_eq(net_nl_set_mtu(nl, "vx0", 4321), 0);
	while (!nseen || seen[nseen - 1].mtu != 4321) {
		nseen = 0;
		wait_readable(fd);
		ck_assert_int_eq(net_nl_dispatch(nl), 0);
	}
	net_nl_close(nl);
	net_tap_close(t);
}
END_TEST

START_TEST(mac_derive)
{
	uint8_t a[NET_MAC_LEN], b[NET_MAC_LEN];
	char s[NET_MAC_STRLEN];
	uint32_t port;

	net_mac_derive("web1", 0x100, a);
	net_mac_derive("web1", 0x100, b);
	ck_assert_mem_eq(a, b, NET_MAC_LEN);
	/* The address is part of the interface (a guest keeps it across
	 * versions of netd): pinned here. */
	ck_assert_str_eq(net_mac_format(a, s), "6a:57:d9:1c:10:03");
	net_mac_derive("web1", 0x101, b);
	ck_assert_mem_ne(a, b, NET_MAC_LEN);
	net_mac_derive("web2", 0x100, b);
	ck_assert_mem_ne(a, b, NET_MAC_LEN);
	net_mac_derive("5", 0x100, b);
	ck_assert_mem_ne(a, b, NET_MAC_LEN);
	for (port = 0; port < 4096; port++) {
		net_mac_derive("7", port, a);
		ck_assert_uint_eq(a[0] & 0x03, 0x02);	/* local, unicast */
		ck_assert_int_eq(net_mac_parse(net_mac_format(a, s), b, &(const char *){ 0 }), 0);
		ck_assert_mem_eq(a, b, NET_MAC_LEN);
	}
}
END_TEST

START_TEST(mac_parse)
{
	static const char *const bad[] = {
		"", "52:54:00:12:34", "52:54:00:12:34:56:", "52:54:00:12:34:56:78",
		"52-54-00-12-34-56", "5:54:00:12:34:56", "52:54:00:12:34:5g",
		"52:54:00:12:34:56 ", " 52:54:00:12:34:56", "525400123456",
		"52:54:00:12:34:5", "0x:54:00:12:34:56",
	};
	uint8_t m[NET_MAC_LEN] = { 0 }, keep[NET_MAC_LEN];
	const char *why = NULL;
	unsigned int i;

	ck_assert_int_eq(net_mac_parse("52:54:00:Ab:cD:ef", m, &why), 0);
	ck_assert_mem_eq(m, "\x52\x54\x00\xab\xcd\xef", NET_MAC_LEN);
	ck_assert_int_eq(net_mac_parse("fe:00:00:00:00:00", m, &why), 0);
	memcpy(keep, m, sizeof(m));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(net_mac_parse(bad[i], m, &why) == -EINVAL,
			      "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(why, "xx:xx:xx:xx:xx:xx"));
	}
	ck_assert_int_eq(net_mac_parse("01:00:5e:00:00:01", m, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "multicast"));
	ck_assert_int_eq(net_mac_parse("ff:ff:ff:ff:ff:ff", m, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "multicast"));
	ck_assert_int_eq(net_mac_parse("00:00:00:00:00:00", m, &why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "zero"));
	/* A refused address leaves the output alone. */
	ck_assert_mem_eq(m, keep, NET_MAC_LEN);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net-tap");
	TCase *tc;

	tc = tcase_create("tap");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tap_create_vnet);
	tcase_add_test(tc, tap_multiqueue);
	tcase_add_test(tc, tap_multiqueue_write);
	tcase_add_test(tc, tap_bad_args);
	tcase_add_test(tc, tap_existing);
	tcase_add_test(tc, offload_mapping);
	tcase_add_test(tc, offload_applied);
	tcase_add_test(tc, frames_both_ways);
	suite_add_tcase(s, tc);

	tc = tcase_create("netlink");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mtu);
	tcase_add_test(tc, bridge);
	tcase_add_test(tc, link_events_in_bridge);
	tcase_add_test(tc, link_events);
	tcase_add_test(tc, link_events_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("mac");
	tcase_add_test(tc, mac_derive);
	tcase_add_test(tc, mac_parse);
	suite_add_tcase(s, tc);
	return s;
}

/* Quiet the namespace: no IPv6 chatter on the test links. */
static void write_sysctl(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(val, f);
		fclose(f);
	}
}

int main(void)
{
	SRunner *sr;
	int failed, fd;

	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "SKIP: test-net-tap: cannot open /dev/net/tun: %s\n",
			strerror(errno));
		return 77;
	}
	close(fd);
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "SKIP: test-net-tap: no network namespace of its own "
			"(unshare: %s; needs root)\n", strerror(errno));
		return 77;
	}
	write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	va_log_init("test-net-tap", VA_LOG_ERR, false);
	sr = srunner_create(net_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
