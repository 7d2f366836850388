/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netd's virtio-net device (see net.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/ethtool.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "log.h"
#include "mac.h"
#include "net-rules.h"
#include "net.h"
#include "netlink.h"
#include "tap.h"
#include "util.h"

#define F(bit)		(1ull << VIRTIO_NET_F_##bit)
#define RX_BUDGET	64u	/* frames per wake-up of one pair */
#define RX_MAX_BUFS	NET_TAP_MAX_IOV	/* buffers one merged frame may take */

struct net_pair {
	struct net *n;
	unsigned int idx;
	uint16_t rxq, txq;
	int fd;
	uint32_t events;		/* what the loop watches now */
	bool attached;			/* to the TAP (TUNSETQUEUE) */
	uint8_t *frame;			/* NET_FRAME_MAX bytes of scratch */
	uint32_t frame_len;		/* a frame waiting for buffers */
	struct va_req *tx_head, *tx_tail;	/* waiting for EPOLLOUT */
	uint64_t rx_frames, rx_bytes, rx_dropped, rx_filtered;
	uint64_t tx_frames, tx_bytes, tx_dropped, tx_bad_hdr, tx_bad_gso,
		 tx_oversize, tx_eagain;
};

struct net {
	struct net_opts o;
	char desc[96];
	uint8_t mac[6];			/* configured (reset value) */
	unsigned int mtu;
	struct net_tap *tap;
	struct net_nl *nl;
	int nl_fd;
	struct va_dev *dev;
	struct va_loop *loop;
	uint64_t features;		/* negotiated */
	unsigned int active;		/* pairs in use */
	bool running;			/* the TAP is up with carrier */
	bool announce;
	struct net_filter filter;
	uint64_t ctrl_ok, ctrl_err, announces, link_changes;
	struct net_pair *p;
};

static bool has(const struct net *n, uint64_t f)
{
	return (n->features & f) == f;
}

static uint16_t ctrl_queue(const struct net *n)
{
	return (uint16_t)(2u * n->o.pairs);
}

/* ---- config ---- */

static void net_get_config(void *opaque, uint8_t *c)
{
	struct net *n = opaque;
	uint16_t status = 0;

	if (!n->o.link_follows_tap || n->running)
		status |= VIRTIO_NET_S_LINK_UP;
	if (n->announce)
		status |= VIRTIO_NET_S_ANNOUNCE;
	memcpy(c + offsetof(struct virtio_net_config, mac), n->filter.mac, 6);
	va_put_le16(c + offsetof(struct virtio_net_config, status), status);
	va_put_le16(c + offsetof(struct virtio_net_config, max_virtqueue_pairs),
		    (uint16_t)n->o.pairs);
	va_put_le16(c + offsetof(struct virtio_net_config, mtu),
		    (uint16_t)n->mtu);
	va_put_le32(c + offsetof(struct virtio_net_config, speed),
		    NET_SPEED_MBPS);
	c[offsetof(struct virtio_net_config, duplex)] = DUPLEX_FULL;
}

/* ---- the loop's view of a pair ---- */

static void pair_events(struct net_pair *p)
{
	struct net *n = p->n;
	uint32_t ev = 0;

	if (!n->loop)
		return;
	if (p->attached && !p->frame_len && n->dev &&
	    va_dev_held(n->dev, p->rxq))
		ev |= EPOLLIN;
	if (p->tx_head)
		ev |= EPOLLOUT;
	if (ev != p->events && va_loop_mod_fd(n->loop, p->fd, ev) == 0)
		p->events = ev;
}

/* Attach the fds of the first k pairs, detach the others. */
static void set_active(struct net *n, unsigned int k)
{
	unsigned int i;

	for (i = 0; i < n->o.pairs; i++) {
		struct net_pair *p = &n->p[i];
		bool want = i < k;

		if (p->attached != want &&
		    net_tap_set_queue(n->tap, i, want) == 0)
			p->attached = want;
		if (!p->attached)
			p->frame_len = 0;
		pair_events(p);
	}
	n->active = k;
}

/* ---- receive ---- */

/* Deliver p's frame: true when it is gone (delivered or dropped), false
 * when it waits for more buffers. */
static bool rx_deliver(struct net_pair *p)
{
	struct net *n = p->n;
	struct va_req *reqs[RX_MAX_BUFS];
	struct iovec iov[RX_MAX_BUFS];
	bool mrg = has(n, F(MRG_RXBUF));
	uint32_t len = p->frame_len, off = 0, limit;
	unsigned int k, i;

	k = va_dev_pop_space(n->dev, p->rxq, len, reqs, iov,
			     mrg ? RX_MAX_BUFS : 1);
	if (!k) {
		/* Without MRG_RXBUF the oldest buffer is too small; with it,
		 * the most buffers one frame may take, or every buffer the
		 * queue can hold, are not enough: it never fits. */
		limit = mrg ? va_dev_queue_size(n->dev, p->rxq) : 1;
		if (mrg && limit > RX_MAX_BUFS)
			limit = RX_MAX_BUFS;
		if (va_dev_held(n->dev, p->rxq) < limit)
			return false;
		p->rx_dropped++;
		p->frame_len = 0;
		return true;
	}
	p->frame_len = 0;
	if (iov[0].iov_len < NET_HDR_LEN) {
		for (i = 0; i < k; i++)
			va_req_complete(reqs[i], 0);
		p->rx_dropped++;
		return true;
	}
	va_put_le16(p->frame + offsetof(struct virtio_net_hdr_v1, num_buffers),
		    (uint16_t)k);
	for (i = 0; i < k; i++) {
		uint32_t m = len - off < iov[i].iov_len ?
			     len - off : (uint32_t)iov[i].iov_len;

		memcpy(iov[i].iov_base, p->frame + off, m);
		off += m;
		va_req_complete(reqs[i], m);
	}
	p->rx_frames++;
	p->rx_bytes += len - NET_HDR_LEN;
	return true;
}

static void rx_run(struct net_pair *p)
{
	struct net *n = p->n;
	unsigned int i;

	for (i = 0; i < RX_BUDGET; i++) {
		if (!p->frame_len) {
			struct iovec v = { p->frame, NET_FRAME_MAX };
			ssize_t r;

			if (!p->attached || !va_dev_held(n->dev, p->rxq))
				break;
			r = net_tap_read(n->tap, p->idx, &v, 1);
			if (r == -EAGAIN || r == -EINTR)
				break;
			if (r == -EMSGSIZE) {
				p->rx_dropped++;
				continue;
			}
			if (r < 0) {
				va_log_errno(VA_LOG_WARN, (int)r,
					     "net: reading the TAP (pair %u)",
					     p->idx);
				break;
			}
			if ((size_t)r < NET_HDR_LEN + NET_ETH_HLEN) {
				p->rx_dropped++;
				continue;
			}
			if (!net_rx_accept(&n->filter, p->frame + NET_HDR_LEN,
					   (size_t)r - NET_HDR_LEN)) {
				p->rx_filtered++;
				continue;
			}
			p->frame_len = (uint32_t)r;
		}
		if (!rx_deliver(p))
			break;
	}
	pair_events(p);
}

/* ---- transmit ---- */

/* One frame to the TAP: false if it must wait for EPOLLOUT. */
static bool tx_one(struct net_pair *p, struct va_req *req)
{
	struct net *n = p->n;
	struct iovec v = { (void *)req->out, req->out_len };
	unsigned int fd_pair = p->attached ? p->idx : 0;
	int r;

	switch (net_tx_check(req->out, req->out_len, n->features, n->mtu)) {
	case NET_TX_OK:
		break;
	case NET_TX_BAD_GSO:
		p->tx_bad_gso++;
		goto done;
	case NET_TX_OVERSIZE:
		p->tx_oversize++;
		goto done;
	default:
		p->tx_bad_hdr++;
		goto done;
	}
	r = net_tap_write(n->tap, fd_pair, &v, 1);
	if (r == -EAGAIN && fd_pair == p->idx) {
		p->tx_eagain++;
		return false;
	}
	if (r == -EINVAL) {
		p->tx_bad_hdr++;	/* tun refused the header */
	} else if (r < 0) {
		p->tx_dropped++;
	} else {
		p->tx_frames++;
		p->tx_bytes += req->out_len - NET_HDR_LEN;
	}
done:
	va_req_complete(req, 0);
	return true;
}

static void tx_queue(struct net_pair *p, struct va_req *req)
{
	req->priv = NULL;
	if (p->tx_tail)
		p->tx_tail->priv = req;
	else
		p->tx_head = req;
	p->tx_tail = req;
}

static void tx_flush(struct net_pair *p)
{
	while (p->tx_head) {
		struct va_req *req = p->tx_head;
		struct va_req *next = req->priv;

		if (!tx_one(p, req))
			break;
		p->tx_head = next;
		if (!next)
			p->tx_tail = NULL;
	}
	pair_events(p);
}

/* Drop the requests waiting for EPOLLOUT (a reset). */
static void tx_drop(struct net_pair *p)
{
	while (p->tx_head) {
		struct va_req *req = p->tx_head;

		p->tx_head = req->priv;
		va_req_complete(req, 0);
	}
	p->tx_tail = NULL;
}

/* ---- the driver session's state (device.h, va_dev_state_save) ---- */

#define NET_STATE_VERSION	1u

enum {
	NS_PROMISC	= 1u << 0,
	NS_ALLMULTI	= 1u << 1,
	NS_ALLUNI	= 1u << 2,
	NS_NOMULTI	= 1u << 3,
	NS_NOUNI	= 1u << 4,
	NS_NOBCAST	= 1u << 5,
	NS_UC_OVERFLOW	= 1u << 6,
	NS_MC_OVERFLOW	= 1u << 7,
};

/* What the driver set through the control queue (host byte order: the
 * state file stays on this host). */
struct net_state {
	uint32_t version;
	uint16_t active;		/* VQ_PAIRS_SET */
	uint8_t flags;			/* NS_*: CTRL_RX */
	uint8_t uc_count, mc_count;	/* CTRL_MAC tables */
	uint8_t mac[6];			/* MAC_ADDR_SET */
	uint8_t uc[NET_MAC_TABLE_MAX][6];
	uint8_t mc[NET_MAC_TABLE_MAX][6];
	uint64_t vlans[NET_VLAN_IDS / 64];	/* CTRL_VLAN */
};

static void net_save_state(struct net *n)
{
	const struct net_filter *f = &n->filter;
	struct net_state s;

	memset(&s, 0, sizeof(s));
	s.version = NET_STATE_VERSION;
	s.active = (uint16_t)n->active;
	s.flags = (uint8_t)((f->promisc ? NS_PROMISC : 0) |
			    (f->allmulti ? NS_ALLMULTI : 0) |
			    (f->alluni ? NS_ALLUNI : 0) |
			    (f->nomulti ? NS_NOMULTI : 0) |
			    (f->nouni ? NS_NOUNI : 0) |
			    (f->nobcast ? NS_NOBCAST : 0) |
			    (f->uc_overflow ? NS_UC_OVERFLOW : 0) |
			    (f->mc_overflow ? NS_MC_OVERFLOW : 0));
	s.uc_count = (uint8_t)f->uc_count;
	s.mc_count = (uint8_t)f->mc_count;
	memcpy(s.mac, f->mac, 6);
	memcpy(s.uc, f->uc, sizeof(s.uc));
	memcpy(s.mc, f->mc, sizeof(s.mc));
	memcpy(s.vlans, f->vlans, sizeof(s.vlans));
	va_dev_state_save(n->dev, &s, sizeof(s));
}

static int net_restore_state(void *opaque, const void *state, uint32_t len)
{
	struct net *n = opaque;
	struct net_filter *f = &n->filter;
	struct net_state s;

	if (len != sizeof(s)) {
		va_warn("net: saved state refused: %u bytes, not %zu", len,
			sizeof(s));
		return -EINVAL;
	}
	memcpy(&s, state, sizeof(s));
	if (s.version != NET_STATE_VERSION || !s.active ||
	    s.active > n->o.pairs || s.uc_count > NET_MAC_TABLE_MAX ||
	    s.mc_count > NET_MAC_TABLE_MAX) {
		va_warn("net: saved state refused: version %u, %u pairs "
			"(at most %u), tables %u/%u", s.version, s.active,
			n->o.pairs, s.uc_count, s.mc_count);
		return -EINVAL;
	}
	f->promisc = s.flags & NS_PROMISC;
	f->allmulti = s.flags & NS_ALLMULTI;
	f->alluni = s.flags & NS_ALLUNI;
	f->nomulti = s.flags & NS_NOMULTI;
	f->nouni = s.flags & NS_NOUNI;
	f->nobcast = s.flags & NS_NOBCAST;
	f->uc_overflow = s.flags & NS_UC_OVERFLOW;
	f->mc_overflow = s.flags & NS_MC_OVERFLOW;
	f->uc_count = s.uc_count;
	f->mc_count = s.mc_count;
	memcpy(f->mac, s.mac, 6);
	memcpy(f->uc, s.uc, sizeof(s.uc));
	memcpy(f->mc, s.mc, sizeof(s.mc));
	memcpy(f->vlans, s.vlans, sizeof(s.vlans));
	set_active(n, s.active);
	va_notice("net: restored: %u queue pair(s), promisc %d allmulti %d "
		  "uc %u%s mc %u%s", n->active, f->promisc, f->allmulti,
		  f->uc_count, f->uc_overflow ? "+" : "", f->mc_count,
		  f->mc_overflow ? "+" : "");
	va_dev_config_update(n->dev);	/* the driver's MAC */
	return 0;
}

/* ---- control ---- */

static void ctrl(struct net *n, struct va_req *req)
{
	unsigned int what, pairs = n->active;
	uint8_t ack;

	ack = net_ctrl_apply(&n->filter, req->out, req->out_len, n->features,
			     n->o.pairs, &pairs, &what);
	if (req->in_len < 1)
		ack = VIRTIO_NET_ERR;
	if (ack != VIRTIO_NET_OK) {
		n->ctrl_err++;
		va_info("net: control command %u/%u refused",
			req->out_len > 0 ? req->out[0] : 0u,
			req->out_len > 1 ? req->out[1] : 0u);
	} else {
		n->ctrl_ok++;
		if (req->out[0] == VIRTIO_NET_CTRL_RX ||
		    req->out[0] == VIRTIO_NET_CTRL_MAC)
			va_notice("net: receive mode %u/%u: promisc %d allmulti %d "
				  "uc %u%s mc %u%s", req->out[0], req->out[1],
				  n->filter.promisc, n->filter.allmulti,
				  n->filter.uc_count,
				  n->filter.uc_overflow ? "+" : "",
				  n->filter.mc_count,
				  n->filter.mc_overflow ? "+" : "");
	}
	if (what & NET_CTRL_PAIRS) {
		va_notice("net: queue pairs set to %u", pairs);
		set_active(n, pairs);
	}
	if (what & NET_CTRL_ANNOUNCE_ACK) {
		va_notice("net: announce acknowledged");
		n->announce = false;
	}
	if (what & (NET_CTRL_ANNOUNCE_ACK | NET_CTRL_MAC_CHANGED))
		va_dev_config_update(n->dev);
	/* Everything but the announcement's acknowledgement is state the
	 * driver will not send again after a renegotiation. */
	if (ack == VIRTIO_NET_OK && req->out[0] != VIRTIO_NET_CTRL_ANNOUNCE)
		net_save_state(n);
	if (req->in_len < 1) {
		va_req_complete(req, 0);
		return;
	}
	req->in[0] = ack;
	va_req_complete(req, 1);
}

/* ---- the device's callbacks ---- */

static void net_request(void *opaque, struct va_req *req)
{
	struct net *n = opaque;
	struct net_pair *p;

	if (req->queue == ctrl_queue(n)) {
		ctrl(n, req);
		return;
	}
	if (!(req->queue & 1u) || req->queue / 2u >= n->o.pairs) {
		va_req_complete(req, 0);	/* the core holds rx queues */
		return;
	}
	p = &n->p[req->queue / 2u];
	if (p->tx_head || !tx_one(p, req)) {
		tx_queue(p, req);
		pair_events(p);
	}
}

static void net_queue_ready(void *opaque, uint16_t queue)
{
	struct net *n = opaque;

	if (queue / 2u < n->o.pairs)
		rx_run(&n->p[queue / 2u]);
}

static int net_set_features(void *opaque, uint64_t features)
{
	struct net *n = opaque;
	int r;

	/* The control queue is queue 2N only with MQ. */
	if (n->o.pairs > 1 && !(features & F(MQ)))
		return -EINVAL;
	r = net_tap_set_offload(n->tap, features);
	if (r < 0)
		return r;
	n->features = features;
	n->filter.vlan_on = has(n, F(CTRL_VLAN));
	return 0;
}

static void net_driver_ok(void *opaque)
{
	struct net *n = opaque;
	unsigned int i;

	if (has(n, F(GUEST_ANNOUNCE))) {
		n->announce = true;
		n->announces++;
		va_dev_config_update(n->dev);
	}
	for (i = 0; i < n->o.pairs; i++)
		pair_events(&n->p[i]);
}

static void net_reset(void *opaque)
{
	struct net *n = opaque;
	unsigned int i;

	n->features = 0;
	n->announce = false;
	net_filter_reset(&n->filter, n->mac);
	for (i = 0; i < n->o.pairs; i++) {
		tx_drop(&n->p[i]);
		n->p[i].frame_len = 0;
	}
	set_active(n, 1);
}

static const struct va_dev_ops net_ops = {
	.request = net_request,
	.queue_ready = net_queue_ready,
	.set_features = net_set_features,
	.get_config = net_get_config,
	.driver_ok = net_driver_ok,
	.restore_state = net_restore_state,
	.reset = net_reset,
};

const struct va_dev_ops *net_dev_ops(void)
{
	return &net_ops;
}

void net_dev_info(const struct net *n, struct va_dev_info *info)
{
	uint64_t f = F(MAC) | F(STATUS) | F(MTU) | F(CSUM) | F(GUEST_CSUM) |
		     F(HOST_TSO4) | F(HOST_TSO6) | F(HOST_ECN) |
		     F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_ECN) |
		     F(MRG_RXBUF) | F(CTRL_VQ) | F(CTRL_RX) | F(CTRL_VLAN) |
		     F(CTRL_MAC_ADDR) | F(GUEST_ANNOUNCE) | F(SPEED_DUPLEX);
	uint64_t held = 0;
	unsigned int i;

	if (n->o.pairs > 1)
		f |= F(MQ);
	for (i = 0; i < n->o.pairs; i++)
		held |= 1ull << (2u * i);
	*info = (struct va_dev_info){
		.device_id = VIRTIO_ID_NET,
		.features = f,
		.num_queues = (uint16_t)(2u * n->o.pairs + 1u),
		.max_queue_size = n->o.queue_size,
		.config_size = offsetof(struct virtio_net_config,
					rss_max_key_size),
		.max_request = NET_FRAME_MAX,
		.max_in = NET_FRAME_MAX,
		.held_queues = held,
	};
}

/* ---- the TAP's link ---- */

static void link_changed(const struct net_link_state *st, void *opaque)
{
	struct net *n = opaque;
	bool running = net_link_running(st);

	if (running == n->running)
		return;
	n->running = running;
	n->link_changes++;
	va_notice("net: %s link %s", n->o.tap, running ? "up" : "down");
	if (n->dev && n->o.link_follows_tap)
		va_dev_config_update(n->dev);
}

static void nl_ready(struct va_loop *loop, int fd, uint32_t events,
		     void *opaque)
{
	struct net *n = opaque;

	net_nl_dispatch(n->nl);
}

static void pair_ready(struct va_loop *loop, int fd, uint32_t events,
		       void *opaque)
{
	struct net_pair *p = opaque;

	if (events & EPOLLOUT)
		tx_flush(p);
	if (events & EPOLLIN)
		rx_run(p);
	if (events & (EPOLLERR | EPOLLHUP))
		pair_events(p);
}

/* ---- life cycle ---- */

int net_new(const struct net_opts *o, struct net **ret)
{
	struct net_link_state st;
	char macs[NET_MAC_STRLEN];
	struct net *n;
	unsigned int i;
	int r;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->o = *o;
	n->nl_fd = -1;
	n->p = calloc(o->pairs, sizeof(*n->p));
	if (!n->p) {
		r = -ENOMEM;
		goto fail;
	}
	if (o->have_mac)
		memcpy(n->mac, o->mac, 6);
	else
		net_mac_derive(o->guest_id, o->port, n->mac);
	net_filter_reset(&n->filter, n->mac);
	r = net_tap_open(o->tap, o->pairs, &n->tap);
	if (r < 0)
		goto fail;
	r = net_nl_open(&n->nl);
	if (r < 0)
		goto fail;
	if (o->mtu) {
		r = net_nl_set_mtu(n->nl, o->tap, o->mtu);
		if (r < 0)
			goto fail;
	}
	if (o->bridge) {
		r = net_nl_set_bridge(n->nl, o->tap, o->bridge);
		if (r < 0)
			goto fail;
	}
	r = net_nl_set_up(n->nl, o->tap, true);
	if (r < 0)
		goto fail;
	r = net_nl_watch(n->nl, o->tap, link_changed, n, &st);
	if (r < 0)
		goto fail;
	n->nl_fd = r;
	n->running = net_link_running(&st);
	n->mtu = o->mtu ? o->mtu : st.mtu;
	if (n->mtu < 68 || n->mtu > 65535) {
		va_err("net: %s has MTU %u, outside 68..65535", o->tap, n->mtu);
		r = -EINVAL;
		goto fail;
	}
	for (i = 0; i < o->pairs; i++) {
		struct net_pair *p = &n->p[i];

		p->n = n;
		p->idx = i;
		p->rxq = (uint16_t)(2u * i);
		p->txq = (uint16_t)(2u * i + 1u);
		p->fd = net_tap_fd(n->tap, i);
		p->attached = true;
		p->frame = malloc(NET_FRAME_MAX);
		if (!p->frame) {
			r = -ENOMEM;
			goto fail;
		}
	}
	n->active = o->pairs;
	set_active(n, 1);
	snprintf(n->desc, sizeof(n->desc), "TAP %s%s%s, mac %s, mtu %u, %u "
		 "queue pair(s)", o->tap, o->bridge ? " in bridge " : "",
		 o->bridge ? o->bridge : "", net_mac_format(n->mac, macs),
		 n->mtu, o->pairs);
	*ret = n;
	return 0;
fail:
	net_free(n);
	return r;
}

int net_attach(struct net *n, struct va_dev *dev, struct va_loop *loop)
{
	unsigned int i;
	int r;

	n->dev = dev;
	r = va_loop_add_fd(loop, n->nl_fd, EPOLLIN, nl_ready, n);
	if (r < 0)
		return r;
	n->loop = loop;
	for (i = 0; i < n->o.pairs; i++) {
		struct net_pair *p = &n->p[i];

		r = va_loop_add_fd(loop, p->fd, 0, pair_ready, p);
		if (r < 0)
			return r;
		p->events = 0;
		pair_events(p);
	}
	return 0;
}

void net_detach(struct net *n)
{
	unsigned int i;

	net_log_stats(n);
	if (!n->loop)
		return;
	va_loop_del_fd(n->loop, n->nl_fd);
	for (i = 0; i < n->o.pairs; i++)
		va_loop_del_fd(n->loop, n->p[i].fd);
	n->loop = NULL;
}

void net_free(struct net *n)
{
	unsigned int i;

	if (!n)
		return;
	for (i = 0; n->p && i < n->o.pairs; i++)
		free(n->p[i].frame);
	free(n->p);
	net_nl_close(n->nl);
	net_tap_close(n->tap);
	free(n);
}

const char *net_describe(const struct net *n)
{
	return n->desc;
}

void net_log_stats(const struct net *n)
{
	uint64_t rx = 0, tx = 0, bad = 0;
	unsigned int i;

	for (i = 0; i < n->o.pairs; i++) {
		const struct net_pair *p = &n->p[i];

		va_notice("net: pair %u: rx_frames %" PRIu64 " rx_bytes %" PRIu64
			  " rx_dropped %" PRIu64 " rx_filtered %" PRIu64
			  " tx_frames %" PRIu64 " tx_bytes %" PRIu64
			  " tx_dropped %" PRIu64 " tx_bad_hdr %" PRIu64
			  " tx_bad_gso %" PRIu64 " tx_oversize %" PRIu64
			  " tx_eagain %" PRIu64, i, p->rx_frames, p->rx_bytes,
			  p->rx_dropped, p->rx_filtered, p->tx_frames,
			  p->tx_bytes, p->tx_dropped, p->tx_bad_hdr,
			  p->tx_bad_gso, p->tx_oversize, p->tx_eagain);
		rx += p->rx_frames;
		tx += p->tx_frames;
		bad += p->tx_bad_hdr + p->tx_bad_gso + p->tx_oversize;
	}
	va_notice("net: total: rx_frames %" PRIu64 " tx_frames %" PRIu64
		  " tx_bad %" PRIu64 " ctrl_ok %" PRIu64 " ctrl_err %" PRIu64
		  " announces %" PRIu64 " link_changes %" PRIu64 " pairs %u/%u",
		  rx, tx, bad, n->ctrl_ok, n->ctrl_err, n->announces,
		  n->link_changes, n->active, n->o.pairs);
}
