/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest net: the TAP and the data path (see guest-net.h).
 *
 * Receive: every receive queue holds up to its size of buffers posted as
 * device-writable-only requests; the device answers one when a frame
 * arrives.  Without MRG_RXBUF one buffer is one frame (header + data);
 * with it the first buffer's header says in num_buffers how many buffers
 * the frame spans, and they complete in order on that queue.  The frame
 * is written into the TAP queue of the pair and the buffers are posted
 * again.
 * Transmit: the TAP queue is read while the transmit queue has room; each
 * frame (with the vnet header tun put in front) is one device-readable
 * request.  When the queue is full the TAP is not read, so frames wait in
 * the TAP's own queue.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include "guest-net.h"
#include "guest-tool.h"
#include "netlink.h"
#include "tap.h"

#define TX_BATCH	64u	/* frames read per wake-up */

/* ---- the TAP ---- */

/* TUNSETOFFLOAD: what the stack may hand us to read, i.e. what the device
 * accepts on transmit. */
static unsigned int tap_offloads(const struct gnet *n)
{
	unsigned int off = 0;

	if (!gnet_has(n, VIRTIO_NET_F_CSUM))
		return 0;
	off |= TUN_F_CSUM;
	if (gnet_has(n, VIRTIO_NET_F_HOST_TSO4))
		off |= TUN_F_TSO4;
	if (gnet_has(n, VIRTIO_NET_F_HOST_TSO6))
		off |= TUN_F_TSO6;
	if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) &&
	    gnet_has(n, VIRTIO_NET_F_HOST_ECN))
		off |= TUN_F_TSO_ECN;
	return off;
}

/*
 * The TAP is opened and set up by netd's own host-side code (tap.c,
 * netlink.c: one fd per pair, the 12-byte little-endian vnet header, MAC,
 * MTU, carrier, up); only the direction of the offloads is the guest's.
 */
int gnet_tap_carrier(struct gnet *n, bool on)
{
	return net_tap_set_carrier(n->tap, on);
}

int gnet_tap_open(struct gnet *n)
{
	unsigned int i;
	int r;

	n->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->sock < 0) {
		r = -errno;
		fprintf(stderr, "%s: net %s: socket: %s\n", n->ctx->prog,
			n->o.tap, strerror(-r));
		return r;
	}
	r = net_nl_open(&n->nl);
	if (r == 0)
		r = net_tap_open(n->o.tap, n->npairs, &n->tap);
	if (r < 0)
		return r;
	for (i = 0; i < n->npairs; i++)
		n->pairs[i].fd = net_tap_fd(n->tap, i);
	r = net_tap_set_offload_flags(n->tap, tap_offloads(n));
	if (r == 0 && gnet_has(n, VIRTIO_NET_F_MAC))
		r = net_nl_set_mac(n->nl, n->o.tap, n->mac);
	if (r == 0)
		r = net_nl_set_mtu(n->nl, n->o.tap, n->mtu);
	if (r == 0)
		r = gnet_tap_carrier(n, !gnet_has(n, VIRTIO_NET_F_STATUS) ||
					(n->status & VIRTIO_NET_S_LINK_UP));
	if (r == 0)
		r = net_nl_set_up(n->nl, n->o.tap, true);
	return r;
}

void gnet_tap_close(struct gnet *n)
{
	unsigned int i;

	for (i = 0; n->pairs && i < n->npairs; i++) {
		if (n->pairs[i].fd >= 0 && n->loop)
			va_loop_del_fd(n->loop, n->pairs[i].fd);
		n->pairs[i].fd = -1;
	}
	net_tap_close(n->tap);
	n->tap = NULL;
	net_nl_close(n->nl);
	n->nl = NULL;
	if (n->sock >= 0)
		close(n->sock);
	n->sock = -1;
}

/* ---- receive ---- */

static void gnet_fatal(struct gnet *n, int err, const char *what)
{
	if (n->stopping)
		return;
	fprintf(stderr, "%s: net %s: %s: %s\n", n->ctx->prog, n->o.tap, what,
		strerror(-err));
	n->rc = 1;
	n->stopping = true;
	va_loop_quit(n->loop, 1);
}

static void rx_done(struct va_guest *g, uint32_t id, int result, void *opaque);

static int rx_post(struct gnet_rxbuf *b)
{
	struct gnet_pair *p = b->p;
	struct iovec in = { .iov_base = b->data, .iov_len = b->size };
	int64_t r;

	r = va_guest_submit(p->n->g, p->rxq, NULL, 0, &in, 1, rx_done, b);
	if (r < 0)
		return (int)r;
	b->posted = true;
	return 0;
}

/* A whole frame (vnet header + data) into the TAP. */
static void rx_deliver(struct gnet_pair *p, const uint8_t *frame, uint32_t len)
{
	ssize_t w = write(p->fd, frame, len);

	if (w != (ssize_t)len) {
		p->rx_dropped++;
		return;
	}
	p->rx_frames++;
	p->rx_bytes += len - GNET_HDR_LEN;
}

static uint16_t num_buffers(const uint8_t *hdr)
{
	uint16_t v;

	memcpy(&v, hdr + offsetof(struct virtio_net_hdr_v1, num_buffers),
	       sizeof(v));
	return le16toh(v);
}

/* `len` bytes the device wrote into one buffer of pair p. */
static void rx_take(struct gnet_pair *p, const uint8_t *data, uint32_t len)
{
	if (p->merge_left) {
		/* A further buffer of a merged frame. */
		if (p->merge_len + len <= GNET_FRAME_MAX) {
			memcpy(p->merge + p->merge_len, data, len);
			p->merge_len += len;
		} else {
			p->merge_len = UINT32_MAX;	/* too long: dropped */
		}
		if (--p->merge_left)
			return;
		if (p->merge_len == UINT32_MAX)
			p->rx_dropped++;
		else
			rx_deliver(p, p->merge, p->merge_len);
		return;
	}
	if (len < GNET_HDR_LEN) {
		p->rx_dropped++;
		return;
	}
	if (gnet_has(p->n, VIRTIO_NET_F_MRG_RXBUF)) {
		uint16_t nb = num_buffers(data);

		if (nb == 0) {
			p->rx_dropped++;
			return;
		}
		if (nb > 1) {
			memcpy(p->merge, data, len);
			p->merge_len = len;
			p->merge_left = nb - 1u;
			return;
		}
	}
	rx_deliver(p, data, len);
}

static void rx_done(struct va_guest *g, uint32_t id, int result, void *opaque)
{
	struct gnet_rxbuf *b = opaque;
	struct gnet *n = b->p->n;
	int r;

	b->posted = false;
	if (n->stopping)
		return;
	if (result < 0) {
		gnet_fatal(n, result, "receive buffer failed");
		return;
	}
	rx_take(b->p, b->data, (uint32_t)result);
	r = rx_post(b);
	if (r < 0)
		gnet_fatal(n, r, "cannot post a receive buffer");
}

/* ---- transmit ---- */

static void tx_read(struct va_loop *loop, int fd, uint32_t events,
		    void *opaque);

static void tx_done(struct va_guest *g, uint32_t id, int result, void *opaque)
{
	struct gnet_pair *p = opaque;
	struct gnet *n = p->n;

	if (n->stopping)
		return;
	if (result < 0) {
		p->tx_dropped++;
		if (va_guest_broken(g))
			gnet_fatal(n, result, "transmit failed");
		return;
	}
	p->tx_frames++;
	if (p->tx_paused) {
		p->tx_paused = false;
		va_loop_mod_fd(n->loop, p->fd, EPOLLIN);
	}
}

/* The TAP queue of p is readable: submit what it holds, while the
 * transmit queue has room. */
static void tx_read(struct va_loop *loop, int fd, uint32_t events,
		    void *opaque)
{
	struct gnet_pair *p = opaque;
	struct gnet *n = p->n;
	unsigned int i;

	for (i = 0; i < TX_BATCH && !n->stopping; i++) {
		struct iovec out;
		ssize_t len;
		int64_t r;

		if (va_guest_inflight(n->g, p->txq) >=
		    va_guest_queue_size(n->g, p->txq)) {
			p->tx_paused = true;
			va_loop_mod_fd(loop, fd, 0);
			return;
		}
		len = read(fd, p->txbuf, GNET_FRAME_MAX);
		if (len < 0) {
			if (errno != EAGAIN && errno != EINTR)
				gnet_fatal(n, -errno, "reading the TAP");
			return;
		}
		if ((size_t)len <= GNET_HDR_LEN) {
			p->tx_dropped++;
			continue;
		}
		/* tun fills the first 10 bytes; the driver sends
		 * num_buffers as 0. */
		memset(p->txbuf + offsetof(struct virtio_net_hdr_v1, num_buffers),
		       0, sizeof(uint16_t));
		out.iov_base = p->txbuf;
		out.iov_len = (size_t)len;
		r = va_guest_submit(n->g, p->txq, &out, 1, NULL, 0, tx_done, p);
		if (r < 0) {
			p->tx_dropped++;
			if (r == -EIO)
				gnet_fatal(n, (int)r, "transmit");
			continue;
		}
		p->tx_bytes += (uint64_t)len - GNET_HDR_LEN;
	}
}

/* ---- set-up ---- */

/* The size of each receive buffer. */
static uint32_t rx_buf_size(const struct gnet *n)
{
	if (gnet_has(n, VIRTIO_NET_F_MRG_RXBUF))
		return GNET_MRG_BUF_LEN;
	if (gnet_has(n, VIRTIO_NET_F_GUEST_TSO4) ||
	    gnet_has(n, VIRTIO_NET_F_GUEST_TSO6) ||
	    gnet_has(n, VIRTIO_NET_F_GUEST_UFO))
		return GNET_FRAME_MAX;
	return GNET_HDR_LEN + ETH_HLEN + 4u + n->mtu;	/* + a VLAN tag */
}

static int pair_start(struct gnet *n, struct gnet_pair *p)
{
	uint32_t size = rx_buf_size(n);
	unsigned int i;
	int r;

	if (size > va_guest_max_in(n->g)) {
		fprintf(stderr, "%s: net %s: receive buffers of %u bytes do not "
			"fit the ring\n", n->ctx->prog, n->o.tap, size);
		return -EMSGSIZE;
	}
	p->rx_count = va_guest_queue_size(n->g, p->rxq);
	p->rx = calloc(p->rx_count, sizeof(*p->rx));
	p->merge = malloc(GNET_FRAME_MAX);
	p->txbuf = malloc(GNET_FRAME_MAX);
	if (!p->rx || !p->merge || !p->txbuf)
		return -ENOMEM;
	for (i = 0; i < p->rx_count; i++) {
		struct gnet_rxbuf *b = &p->rx[i];

		b->p = p;
		b->size = size;
		b->data = malloc(size);
		if (!b->data)
			return -ENOMEM;
		r = rx_post(b);
		if (r < 0)
			return r;
	}
	return va_loop_add_fd(n->loop, p->fd, EPOLLIN, tx_read, p);
}

int gnet_data_start(struct gnet *n)
{
	unsigned int i;
	int r;

	for (i = 0; i < n->npairs; i++) {
		r = pair_start(n, &n->pairs[i]);
		if (r < 0)
			return r;
	}
	return va_guest_flush(n->g);
}

/* After va_guest_free (no callback can run any more). */
void gnet_data_free(struct gnet *n)
{
	unsigned int i, j;

	for (i = 0; n->pairs && i < n->npairs; i++) {
		struct gnet_pair *p = &n->pairs[i];

		for (j = 0; p->rx && j < p->rx_count; j++)
			free(p->rx[j].data);
		free(p->rx);
		free(p->merge);
		free(p->txbuf);
	}
}
