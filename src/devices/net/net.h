/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netd's virtio-net device on the device core (device.h): one
 * TAP (tap.h) with one fd per queue pair, the host's view of it through
 * rtnetlink (netlink.h), the rules of net-rules.h.
 *
 * Queues: 2k is pair k's receive queue (held: the driver's buffers wait
 * in the core until a frame comes), 2k+1 its transmit queue (pushed), 2N
 * the control queue.  Pair k reads and writes TAP fd k; the fds of the
 * pairs beyond the driver's VQ_PAIRS_SET are detached from the TAP, so
 * tun spreads frames over the pairs in use only.
 *
 * Receive: TAP fd k is watched for input only while receive queue 2k
 * holds buffers, so frames wait in the TAP's queue, not here.  A frame is
 * read into the pair's scratch buffer, filtered (net-rules.h), and copied
 * into one held buffer, or with MRG_RXBUF into as many as it needs
 * (num_buffers set); a frame that cannot fit the driver's buffers is
 * dropped and counted, one waiting for more buffers stays in the scratch
 * buffer and reading pauses.  No allocation per frame.
 * Transmit: each request is one frame (header + Ethernet frame), checked
 * (net_tx_check) and written to the TAP; when tun says EAGAIN the request
 * waits, in order, until the fd is writable (bounded by the queue size).
 * Control: net_ctrl_apply; VQ_PAIRS_SET attaches and detaches TAP queues,
 * ANNOUNCE_ACK clears the ANNOUNCE status, MAC_ADDR_SET updates the
 * config's MAC.  What the other commands set (pairs, receive filter, MAC
 * tables and address, VLANs) is saved for the driver session after each
 * (va_dev_state_save) and restored when the session renegotiates with a
 * restarted netd: virtio_net never sends it again.
 * Status: LINK_UP follows the TAP (up, with carrier) with
 * link_follows_tap, else is always set; ANNOUNCE is set whenever a driver
 * reaches DRIVER_OK with GUEST_ANNOUNCE (after a daemon restart, that is
 * the guest's cue to send gratuitous ARP and NA) until it acknowledges.
 */
#ifndef VA_NET_NET_H
#define VA_NET_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "loop.h"

#define NET_MAX_PAIRS		16u
#define NET_QUEUE_SIZE_DEFAULT	256u
/* Header, the largest GSO frame and an Ethernet + VLAN header. */
#define NET_FRAME_MAX		(12u + 65535u + 14u + 4u)
/* Speed and duplex in the config (SPEED_DUPLEX): nominal values. */
#define NET_SPEED_MBPS		10000u

struct net_opts {
	const char *tap;		/* required */
	const char *bridge;		/* NULL: none */
	uint8_t mac[6];
	bool have_mac;			/* else derived (mac.h) */
	unsigned int mtu;		/* 0: the TAP's */
	bool link_follows_tap;
	/* From the common options. */
	unsigned int pairs;
	uint32_t queue_size;
	const char *guest_id;		/* domain name or domid, for the MAC */
	uint32_t port;
};

struct net;

/* Opens the TAP (and netlink), applies MTU and bridge, brings it up.
 * Negative errno (logged) on failure. */
int net_new(const struct net_opts *o, struct net **ret);
void net_free(struct net *n);
void net_dev_info(const struct net *n, struct va_dev_info *info);
const struct va_dev_ops *net_dev_ops(void);
/* Registers the TAP and link-watch fds in the loop. */
int net_attach(struct net *n, struct va_dev *dev, struct va_loop *loop);
/* Logs the counters and lets go of the loop. */
void net_detach(struct net *n);
/* One line per pair and a total, at NOTICE level. */
void net_log_stats(const struct net *n);
const char *net_describe(const struct net *n);

#endif /* VA_NET_NET_H */
