/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netd's pure rules (net-rules.h): transmit header checks,
 * the receive filter and the control commands.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_net.h>

#include "net-rules.h"
#include "util.h"

#define F(bit)	(1ull << VIRTIO_NET_F_##bit)
#define ALL	(F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) | F(HOST_ECN) | \
		 F(CTRL_RX) | F(CTRL_VLAN) | F(CTRL_MAC_ADDR) | \
		 F(GUEST_ANNOUNCE) | F(MQ))

static uint8_t buf[NET_HDR_LEN + 9018];

static size_t frame(size_t eth_len, uint8_t flags, uint8_t gso, uint16_t size)
{
	memset(buf, 0, sizeof(buf));
	buf[0] = flags;
	buf[1] = gso;
	va_put_le16(buf + 4, size);
	va_put_le16(buf + 6, 34);	/* csum_start */
	va_put_le16(buf + 8, 16);	/* csum_offset */
	return NET_HDR_LEN + eth_len;
}

START_TEST(tx_checks)
{
	size_t n;

	ck_assert_int_eq(net_tx_check(buf, NET_HDR_LEN + 13, ALL, 1500), NET_TX_SHORT);
	n = frame(1514, 0, 0, 0);
	ck_assert_int_eq(net_tx_check(buf, n, 0, 1500), NET_TX_OK);
	n = frame(1518, 0, 0, 0);	/* a VLAN tag's room */
	ck_assert_int_eq(net_tx_check(buf, n, 0, 1500), NET_TX_OK);
	n = frame(1519, 0, 0, 0);
	ck_assert_int_eq(net_tx_check(buf, n, 0, 1500), NET_TX_OVERSIZE);
	n = frame(100, 0x80, 0, 0);
	ck_assert_int_eq(net_tx_check(buf, n, ALL, 1500), NET_TX_BAD_HDR);
	n = frame(100, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0);
	ck_assert_int_eq(net_tx_check(buf, n, ALL, 1500), NET_TX_OK);
	ck_assert_int_eq(net_tx_check(buf, n, 0, 1500), NET_TX_BAD_HDR);
	n = frame(40, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0);	/* csum past end */
	ck_assert_int_eq(net_tx_check(buf, n, ALL, 1500), NET_TX_BAD_HDR);
	n = frame(9000, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1448);
	ck_assert_int_eq(net_tx_check(buf, n, ALL, 1500), NET_TX_OK);
	ck_assert_int_eq(net_tx_check(buf, n, ALL & ~F(HOST_TSO4), 1500),
			 NET_TX_BAD_GSO);
	n = frame(9000, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 1448);
	ck_assert_int_eq(net_tx_check(buf, n, ALL, 1500), NET_TX_BAD_GSO);
	n = frame(9000, VIRTIO_NET_HDR_F_NEEDS_CSUM,
		  VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN, 1448);
	ck_assert_int_eq(net_tx_check(buf, n, ALL, 1500), NET_TX_OK);
	ck_assert_int_eq(net_tx_check(buf, n, ALL & ~F(HOST_ECN), 1500),
			 NET_TX_BAD_GSO);
	n = frame(9000, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 0);
	ck_assert_int_eq(net_tx_check(buf, n, ALL, 1500), NET_TX_BAD_HDR);
}
END_TEST

static const uint8_t me[6] = { 2, 0, 0, 0, 0, 1 };

static bool rx(const struct net_filter *f, const uint8_t *dst, int vid)
{
	uint8_t e[64] = { 0 };

	memcpy(e, dst, 6);
	if (vid >= 0) {
		e[12] = 0x81;
		e[14] = (uint8_t)(vid >> 8);
		e[15] = (uint8_t)vid;
	}
	return net_rx_accept(f, e, sizeof(e));
}

static uint8_t cmd(struct net_filter *f, uint8_t cls, uint8_t c,
		   const void *d, size_t len, unsigned int *what,
		   unsigned int *pairs)
{
	uint8_t b[512];

	b[0] = cls;
	b[1] = c;
	if (len)
		memcpy(b + 2, d, len);
	return net_ctrl_apply(f, b, len + 2, ALL, 4, pairs, what);
}

START_TEST(filter_and_ctrl)
{
	static const uint8_t other[6] = { 2, 0, 0, 0, 0, 2 };
	static const uint8_t mc[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	static const uint8_t mc2[6] = { 0x33, 0x33, 0, 0, 0, 2 };
	static const uint8_t bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct net_filter f;
	unsigned int what, pairs = 1;
	uint8_t t[4 + 4 + 6], off = 0, on = 1;
	uint16_t v;

	net_filter_reset(&f, me);
	ck_assert(rx(&f, other, -1));		/* promiscuous after reset */
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC,
			     &off, 1, &what, &pairs), VIRTIO_NET_OK);
	ck_assert(!rx(&f, other, -1));
	ck_assert(rx(&f, me, -1));
	ck_assert(rx(&f, bc, -1));
	ck_assert(!rx(&f, mc, -1));
	/* MAC table: no unicast, one multicast. */
	va_put_le32(t, 0);
	va_put_le32(t + 4, 1);
	memcpy(t + 8, mc, 6);
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
			     t, sizeof(t), &what, &pairs), VIRTIO_NET_OK);
	ck_assert(rx(&f, mc, -1));
	ck_assert(!rx(&f, mc2, -1));
	/* A table one byte short changes nothing. */
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
			     t, sizeof(t) - 1, &what, &pairs), VIRTIO_NET_ERR);
	ck_assert(rx(&f, mc, -1));
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI,
			     &on, 1, &what, &pairs), VIRTIO_NET_OK);
	ck_assert(rx(&f, mc2, -1));
	/* NOBCAST needs CTRL_RX_EXTRA, not negotiated. */
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST,
			     &on, 1, &what, &pairs), VIRTIO_NET_ERR);
	/* Address set. */
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET,
			     other, 6, &what, &pairs), VIRTIO_NET_OK);
	ck_assert_uint_eq(what, NET_CTRL_MAC_CHANGED);
	ck_assert(rx(&f, other, -1));
	ck_assert(!rx(&f, me, -1));
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET,
			     mc, 6, &what, &pairs), VIRTIO_NET_ERR);
	/* VLAN: with vlan_on, tagged frames need their id added. */
	f.vlan_on = true;
	ck_assert(!rx(&f, other, 5));
	ck_assert(rx(&f, other, -1));
	v = va_cpu_to_le16(5);
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD,
			     &v, 2, &what, &pairs), VIRTIO_NET_OK);
	ck_assert(rx(&f, other, 5));
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_DEL,
			     &v, 2, &what, &pairs), VIRTIO_NET_OK);
	ck_assert(!rx(&f, other, 5));
	v = va_cpu_to_le16(4096);
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD,
			     &v, 2, &what, &pairs), VIRTIO_NET_ERR);
	/* MQ and ANNOUNCE. */
	v = va_cpu_to_le16(3);
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
			     &v, 2, &what, &pairs), VIRTIO_NET_OK);
	ck_assert_uint_eq(pairs, 3);
	ck_assert_uint_eq(what, NET_CTRL_PAIRS);
	v = va_cpu_to_le16(5);
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
			     &v, 2, &what, &pairs), VIRTIO_NET_ERR);
	ck_assert_int_eq(cmd(&f, VIRTIO_NET_CTRL_ANNOUNCE,
			     VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0, &what, &pairs),
			 VIRTIO_NET_OK);
	ck_assert_uint_eq(what, NET_CTRL_ANNOUNCE_ACK);
	ck_assert_int_eq(cmd(&f, 0xee, 0, NULL, 0, &what, &pairs), VIRTIO_NET_ERR);
	ck_assert_int_eq(net_ctrl_apply(&f, t, 1, ALL, 4, &pairs, &what),
			 VIRTIO_NET_ERR);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net-rules");
	TCase *tc = tcase_create("rules");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, tx_checks);
	tcase_add_test(tc, filter_and_ctrl);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
