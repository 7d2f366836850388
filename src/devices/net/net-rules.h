/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netd's pure rules, apart from any I/O so that unit tests
 * reach them: the checks of a transmitted frame's virtio-net header, the
 * receive filter (the guest's MAC, its MAC tables, promiscuous and
 * all-multicast modes, the VLAN table) and the control queue's commands
 * (virtio 1.2 section 5.1.6.5).
 *
 * The filter state starts as a device's after reset: promiscuous (as
 * QEMU's virtio-net, for drivers without CTRL_RX; Linux's driver turns it
 * off when it opens the interface), empty tables, an empty VLAN table:
 * with CTRL_VLAN negotiated a tagged frame passes only if the driver added
 * its VLAN id (as QEMU does), untagged frames always.
 */
#ifndef VA_NET_RULES_H
#define VA_NET_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_HDR_LEN		12u	/* struct virtio_net_hdr_v1 */
#define NET_ETH_HLEN		14u
#define NET_VLAN_HLEN		4u
#define NET_MAC_TABLE_MAX	64u	/* entries kept per table */
#define NET_VLAN_IDS		4096u

/* Why a transmitted frame was refused (0: accepted). */
enum net_tx_verdict {
	NET_TX_OK = 0,
	NET_TX_SHORT,		/* no room for the header and an Ethernet header */
	NET_TX_BAD_HDR,		/* flags or csum fields malformed */
	NET_TX_BAD_GSO,		/* a GSO type not negotiated or unknown */
	NET_TX_OVERSIZE,	/* larger than MTU + 14 + 4 without GSO */
};

/*
 * Check a frame the guest transmitted: `buf` is the 12-byte header and
 * the Ethernet frame, `len` bytes in all; `features` the negotiated bits,
 * `mtu` the device's.
 */
enum net_tx_verdict net_tx_check(const uint8_t *buf, size_t len,
				 uint64_t features, unsigned int mtu);

struct net_filter {
	bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
	uint8_t mac[6];			/* the device's address */
	unsigned int uc_count, mc_count;
	bool uc_overflow, mc_overflow;	/* more than NET_MAC_TABLE_MAX given */
	uint8_t uc[NET_MAC_TABLE_MAX][6];
	uint8_t mc[NET_MAC_TABLE_MAX][6];
	bool vlan_on;			/* CTRL_VLAN negotiated */
	uint64_t vlans[NET_VLAN_IDS / 64];
};

/* The state after a reset, with the device's address. */
void net_filter_reset(struct net_filter *f, const uint8_t mac[6]);

/* Whether an Ethernet frame of `len` bytes (no vnet header) goes to the
 * guest. */
bool net_rx_accept(const struct net_filter *f, const uint8_t *eth, size_t len);

/* What a control command changed, for the caller to act on. */
enum {
	NET_CTRL_MAC_CHANGED	= 1u << 0,	/* f->mac: config update */
	NET_CTRL_ANNOUNCE_ACK	= 1u << 1,
	NET_CTRL_PAIRS		= 1u << 2,	/* *pairs holds the new count */
};

/*
 * One control command: `cmd` is its device-readable bytes (class,
 * command, data), `features` the negotiated bits, max_pairs the device's.
 * Returns VIRTIO_NET_OK or VIRTIO_NET_ERR (then nothing changed); *what
 * gets the NET_CTRL_* effects.
 */
uint8_t net_ctrl_apply(struct net_filter *f, const uint8_t *cmd, size_t len,
		       uint64_t features, unsigned int max_pairs,
		       unsigned int *pairs, unsigned int *what);

#endif /* VA_NET_RULES_H */
