/* SPDX-License-Identifier: MIT */
/*
 * The net mode of virtio-argo-guest: a virtio-net driver in user space on
 * top of libva-guest (guest.h), whose network interface is a TAP.
 *
 *   virtio-argo-guest net tap NAME [--queues N] [--mtu N] [--no-offloads]
 *                                  [--mrg-rxbuf | --no-mrg-rxbuf]
 *
 * The TAP plays the guest kernel's network stack: what the stack sends on
 * it is read (with its vnet header) and submitted on a transmit queue; what
 * the device delivers into the receive buffers is written into it.  So the
 * TAP's offloads (TUNSETOFFLOAD, the kinds of frames the stack may hand us
 * to read) follow what the device accepts on transmit: the negotiated CSUM
 * and HOST_* bits.  Frames written into a TAP may carry any vnet header
 * (tun parses it on write), so the GUEST_* bits need no ioctl.
 *
 * guest-net.c holds probing, options, the control queue, config changes
 * and counters; guest-net-tap.c the TAP and the data path.
 */
#ifndef VA_SIM_GUEST_NET_H
#define VA_SIM_GUEST_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "guest.h"
#include "loop.h"

#define GNET_DEVICE_ID		1u
#define GNET_HDR_LEN		12u	/* struct virtio_net_hdr_v1 */
#define GNET_MRG_BUF_LEN	4096u	/* one mergeable receive buffer */
#define GNET_MC_MAX		32u	/* multicast addresses sent */
#define GNET_FRAME_MAX		(GNET_HDR_LEN + 65536u + 14u + 4u)

struct gnet;

/* One receive buffer, posted on its queue until the device fills it. */
struct gnet_rxbuf {
	struct gnet_pair *p;
	uint8_t *data;
	uint32_t size;
	bool posted;
};

/* One queue pair and its TAP queue. */
struct gnet_pair {
	struct gnet *n;
	unsigned int index;
	int fd;				/* the TAP queue */
	uint16_t rxq, txq;		/* 2k, 2k+1 */
	struct gnet_rxbuf *rx;		/* rx_count buffers */
	unsigned int rx_count;
	/* A frame over several mergeable buffers, being gathered. */
	uint8_t *merge;			/* GNET_FRAME_MAX bytes */
	uint32_t merge_len;
	unsigned int merge_left;	/* buffers still to come */
	uint8_t *txbuf;			/* GNET_FRAME_MAX bytes */
	bool tx_paused;			/* TX queue full: TAP not read */
	uint64_t rx_frames, rx_bytes, rx_dropped;
	uint64_t tx_frames, tx_bytes, tx_dropped;
};

struct gnet_opts {
	const char *tap;
	unsigned int queues;		/* pairs wanted */
	unsigned int mtu;		/* 0: the device's, or 1500 */
	bool offloads;
	int mrg_rxbuf;			/* -1 if offered, 0 never, 1 required */
};

struct gnet {
	struct guest_ctx *ctx;
	struct gnet_opts o;
	struct va_guest *g;
	struct va_loop *loop;
	uint64_t features;
	uint8_t mac[6];
	uint16_t status;		/* config status (LINK_UP if no STATUS) */
	uint16_t max_pairs;
	unsigned int npairs;
	unsigned int mtu;
	uint16_t ctrlq;			/* valid with CTRL_VQ */
	struct gnet_pair *pairs;
	int sock;			/* for the interface ioctls */
	bool stopping;
	int rc;				/* exit status */
	uint64_t announces, link_changes, ctrl_errors;
};

static inline bool gnet_has(const struct gnet *n, unsigned int bit)
{
	return n->features & (1ull << bit);
}

/* guest-net-tap.c */
/* Creates (or attaches to) the TAP with one queue per pair, vnet header
 * and offloads, sets MAC and MTU and brings it up. */
int gnet_tap_open(struct gnet *n);
void gnet_tap_close(struct gnet *n);
/* The TAP's carrier. */
int gnet_tap_carrier(struct gnet *n, bool on);
/* Posts the receive buffers and starts reading the TAP in n->loop. */
int gnet_data_start(struct gnet *n);
void gnet_data_free(struct gnet *n);

#endif /* VA_SIM_GUEST_NET_H */
