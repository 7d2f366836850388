/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netd's pure rules (see net-rules.h): no I/O, no state
 * beyond the struct net_filter given.
 */
#include <stddef.h>
#include <string.h>
#include <linux/virtio_net.h>

#include "net-rules.h"
#include "util.h"

#define HAS(f, bit)	(((f) >> VIRTIO_NET_F_##bit) & 1u)

/* The GSO types a driver may use, and the feature each needs. */
static bool gso_allowed(uint8_t type, uint64_t features)
{
	switch (type) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return HAS(features, HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return HAS(features, HOST_TSO6);
	case VIRTIO_NET_HDR_GSO_UDP:
		return HAS(features, HOST_UFO);
	default:
		return false;
	}
}

enum net_tx_verdict net_tx_check(const uint8_t *buf, size_t len,
				 uint64_t features, unsigned int mtu)
{
	size_t frame = len - NET_HDR_LEN;
	uint8_t flags, gso;
	uint16_t start, off, size;

	if (len < NET_HDR_LEN + NET_ETH_HLEN)
		return NET_TX_SHORT;
	flags = buf[offsetof(struct virtio_net_hdr_v1, flags)];
	gso = buf[offsetof(struct virtio_net_hdr_v1, gso_type)];
	start = va_get_le16(buf + offsetof(struct virtio_net_hdr_v1, csum_start));
	off = va_get_le16(buf + offsetof(struct virtio_net_hdr_v1, csum_offset));
	size = va_get_le16(buf + offsetof(struct virtio_net_hdr_v1, gso_size));
	if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return NET_TX_BAD_HDR;
	if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!HAS(features, CSUM) || (size_t)start + off + 2u > frame)
			return NET_TX_BAD_HDR;
	}
	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (frame > (size_t)mtu + NET_ETH_HLEN + NET_VLAN_HLEN)
			return NET_TX_OVERSIZE;
		return NET_TX_OK;
	}
	if ((gso & VIRTIO_NET_HDR_GSO_ECN) && !HAS(features, HOST_ECN))
		return NET_TX_BAD_GSO;
	if (!gso_allowed(gso & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN, features))
		return NET_TX_BAD_GSO;
	if (!size || !(flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return NET_TX_BAD_HDR;
	return NET_TX_OK;
}

void net_filter_reset(struct net_filter *f, const uint8_t mac[6])
{
	memset(f, 0, sizeof(*f));
	f->promisc = true;
	memcpy(f->mac, mac, 6);
}

static bool in_table(const uint8_t (*t)[6], unsigned int n, const uint8_t *a)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!memcmp(t[i], a, 6))
			return true;
	return false;
}

static bool vlan_allowed(const struct net_filter *f, uint16_t vid)
{
	return (f->vlans[vid / 64] >> (vid % 64)) & 1u;
}

bool net_rx_accept(const struct net_filter *f, const uint8_t *eth, size_t len)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (len < NET_ETH_HLEN)
		return false;
	if (f->vlan_on && eth[12] == 0x81 && eth[13] == 0x00) {
		if (len < NET_ETH_HLEN + NET_VLAN_HLEN ||
		    !vlan_allowed(f, (uint16_t)(((eth[14] << 8) | eth[15]) & 0xfff)))
			return false;
	}
	if (f->promisc)
		return true;
	if (eth[0] & 1) {
		if (!memcmp(eth, bcast, 6))
			return !f->nobcast;
		if (f->nomulti)
			return false;
		return f->allmulti || f->mc_overflow ||
		       in_table(f->mc, f->mc_count, eth);
	}
	if (f->nouni)
		return false;
	return f->alluni || f->uc_overflow || !memcmp(eth, f->mac, 6) ||
	       in_table(f->uc, f->uc_count, eth);
}

/* One table of MAC_TABLE_SET at *p: le32 count, then count addresses.
 * Returns false if it does not fit in [*p, end). */
static bool parse_table(const uint8_t **p, const uint8_t *end,
			uint8_t (*t)[6], unsigned int *count, bool *overflow)
{
	uint32_t n;

	if (end - *p < 4)
		return false;
	n = va_get_le32(*p);
	*p += 4;
	if ((size_t)(end - *p) / 6 < n)
		return false;
	*overflow = n > NET_MAC_TABLE_MAX;
	*count = *overflow ? 0 : n;
	memcpy(t, *p, (size_t)*count * 6);
	*p += (size_t)n * 6;
	return true;
}

static uint8_t ctrl_rx(struct net_filter *f, uint8_t cmd, const uint8_t *d,
		       size_t len, uint64_t features)
{
	bool on;

	if (!HAS(features, CTRL_RX) || len != 1)
		return VIRTIO_NET_ERR;
	on = d[0] != 0;
	switch (cmd) {
	case VIRTIO_NET_CTRL_RX_PROMISC:
		f->promisc = on;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_RX_ALLMULTI:
		f->allmulti = on;
		return VIRTIO_NET_OK;
	}
	if (!HAS(features, CTRL_RX_EXTRA))
		return VIRTIO_NET_ERR;
	switch (cmd) {
	case VIRTIO_NET_CTRL_RX_ALLUNI:
		f->alluni = on;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_RX_NOMULTI:
		f->nomulti = on;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_RX_NOUNI:
		f->nouni = on;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_RX_NOBCAST:
		f->nobcast = on;
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static uint8_t ctrl_mac(struct net_filter *f, uint8_t cmd, const uint8_t *d,
			size_t len, uint64_t features, unsigned int *what)
{
	const uint8_t *p = d, *end = d + len;
	struct net_filter t;

	switch (cmd) {
	case VIRTIO_NET_CTRL_MAC_ADDR_SET:
		if (!HAS(features, CTRL_MAC_ADDR) || len != 6 || (d[0] & 1))
			return VIRTIO_NET_ERR;
		if (memcmp(f->mac, d, 6))
			*what |= NET_CTRL_MAC_CHANGED;
		memcpy(f->mac, d, 6);
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC_TABLE_SET:
		if (!HAS(features, CTRL_RX))
			return VIRTIO_NET_ERR;
		/* Parsed aside: a malformed command changes nothing. */
		if (!parse_table(&p, end, t.uc, &t.uc_count, &t.uc_overflow) ||
		    !parse_table(&p, end, t.mc, &t.mc_count, &t.mc_overflow) ||
		    p != end)
			return VIRTIO_NET_ERR;
		f->uc_count = t.uc_count;
		f->uc_overflow = t.uc_overflow;
		memcpy(f->uc, t.uc, sizeof(f->uc));
		f->mc_count = t.mc_count;
		f->mc_overflow = t.mc_overflow;
		memcpy(f->mc, t.mc, sizeof(f->mc));
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

uint8_t net_ctrl_apply(struct net_filter *f, const uint8_t *cmd, size_t len,
		       uint64_t features, unsigned int max_pairs,
		       unsigned int *pairs, unsigned int *what)
{
	const uint8_t *d = cmd + 2;
	size_t dlen;
	uint16_t v;

	*what = 0;
	if (len < 2)
		return VIRTIO_NET_ERR;
	dlen = len - 2;
	switch (cmd[0]) {
	case VIRTIO_NET_CTRL_RX:
		return ctrl_rx(f, cmd[1], d, dlen, features);
	case VIRTIO_NET_CTRL_MAC:
		return ctrl_mac(f, cmd[1], d, dlen, features, what);
	case VIRTIO_NET_CTRL_VLAN:
		if (!HAS(features, CTRL_VLAN) || dlen != 2)
			return VIRTIO_NET_ERR;
		v = va_get_le16(d);
		if (v >= NET_VLAN_IDS)
			return VIRTIO_NET_ERR;
		if (cmd[1] == VIRTIO_NET_CTRL_VLAN_ADD)
			f->vlans[v / 64] |= 1ull << (v % 64);
		else if (cmd[1] == VIRTIO_NET_CTRL_VLAN_DEL)
			f->vlans[v / 64] &= ~(1ull << (v % 64));
		else
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (!HAS(features, GUEST_ANNOUNCE) || dlen ||
		    cmd[1] != VIRTIO_NET_CTRL_ANNOUNCE_ACK)
			return VIRTIO_NET_ERR;
		*what |= NET_CTRL_ANNOUNCE_ACK;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MQ:
		if (!HAS(features, MQ) || dlen != 2 ||
		    cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET)
			return VIRTIO_NET_ERR;
		v = va_get_le16(d);
		if (v < 1 || v > max_pairs)
			return VIRTIO_NET_ERR;
		*pairs = v;
		*what |= NET_CTRL_PAIRS;
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}
