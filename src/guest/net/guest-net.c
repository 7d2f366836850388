/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest net tap NAME: probing the virtio-net device, its
 * config, the control queue (VQ_PAIRS_SET, ANNOUNCE_ACK), config changes
 * (link status -> the TAP's carrier, announcements), signals and counters.
 * As Linux's virtio_net, it sends its control state (queue pairs, receive
 * mode) once, never again after the library renegotiated with a restarted
 * device: the device keeps it for the driver session (protocol.md 11.4).
 * See guest-net.h; the TAP and the data path are in guest-net-tap.c.
 *
 * Counters (SIGUSR1 and at exit, on stderr), one line per queue pair and
 * a total, as "key value" pairs:
 *   virtio-argo-guest: net NAME: pair K: rx_frames N rx_bytes N rx_dropped N
 *     tx_frames N tx_bytes N tx_dropped N
 *   virtio-argo-guest: net NAME: total: ... link_changes N announces N
 *     ctrl_errors N replayed N renegotiations N violations N
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/virtio_net.h>

#include "guest-net.h"
#include "guest-tool.h"
#include "log.h"
#include "util.h"

#define F(bit) (1ull << (bit))

/* A control command in flight: its bytes live here until it completes. */
struct gnet_ctrl {
	struct gnet *n;
	uint8_t hdr[2];			/* class, command */
	uint8_t data[8 + 6 * GNET_MC_MAX];	/* a MAC table fits */
	uint8_t ack;
	bool busy;
	int result;
};

static struct gnet_ctrl announce_ctrl;
/* SIGHUP: the receive mode; SIGUSR2: the bad command. */
static struct gnet_ctrl promisc_ctrl, allmulti_ctrl, table_ctrl, bad_ctrl;

/* ---- features ---- */

/* Drops the bits whose prerequisites are missing (virtio 1.2 5.1.3.1). */
static uint64_t fix_features(uint64_t f)
{
	if (!(f & F(VIRTIO_NET_F_GUEST_CSUM)))
		f &= ~(F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
		       F(VIRTIO_NET_F_GUEST_UFO));
	if (!(f & (F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6))))
		f &= ~F(VIRTIO_NET_F_GUEST_ECN);
	if (!(f & F(VIRTIO_NET_F_CSUM)))
		f &= ~(F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
		       F(VIRTIO_NET_F_HOST_UFO));
	if (!(f & (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))))
		f &= ~F(VIRTIO_NET_F_HOST_ECN);
	if (!(f & F(VIRTIO_NET_F_CTRL_VQ)))
		f &= ~(F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_CTRL_VLAN) |
		       F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_NET_F_MQ) |
		       F(VIRTIO_NET_F_CTRL_MAC_ADDR));
	return f;
}

static uint64_t wanted_features(const struct gnet_opts *o)
{
	uint64_t f = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |
		     F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_MRG_RXBUF) |
		     F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
		     F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_MQ) |
		     F(VIRTIO_NET_F_GUEST_ANNOUNCE);

	if (o->offloads)
		f |= F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
		     F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
		     F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_GUEST_TSO4) |
		     F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN);
	if (o->mrg_rxbuf == 0)
		f &= ~F(VIRTIO_NET_F_MRG_RXBUF);
	return f;
}

/* Probes with the wanted bits; again with fewer if the device offered a
 * bit without its prerequisite. */
static int gnet_probe(struct gnet *n)
{
	struct va_guest_opts go = n->ctx->gopts;
	uint64_t want;
	int r;

	go.expect_device_id = GNET_DEVICE_ID;
	go.features_mask = wanted_features(&n->o);
	r = va_guest_open(&go, &n->g);
	if (r < 0)
		goto fail;
	want = fix_features(va_guest_features(n->g));
	if (want != va_guest_features(n->g)) {
		va_guest_free(n->g);
		n->g = NULL;
		go.features_mask = want;
		r = va_guest_open(&go, &n->g);
		if (r < 0)
			goto fail;
	}
	n->features = va_guest_features(n->g);
	if (n->o.mrg_rxbuf == 1 && !gnet_has(n, VIRTIO_NET_F_MRG_RXBUF)) {
		fprintf(stderr, "%s: net: the device does not offer MRG_RXBUF\n",
			n->ctx->prog);
		return -ENOTSUP;
	}
	return 0;
fail:
	fprintf(stderr, "%s: no virtio-net device at domain %u port 0x%x: %s\n",
		n->ctx->prog, go.backend_domid, go.port, strerror(-r));
	return r;
}

/* ---- config ---- */

static uint16_t cfg16(const uint8_t *cfg, size_t off)
{
	uint16_t v;

	memcpy(&v, cfg + off, sizeof(v));
	return le16toh(v);
}

/* Reads the config fields this driver uses (those the device has). */
static int read_config(struct gnet *n, uint8_t *cfg, size_t size)
{
	uint32_t len = va_guest_devinfo(n->g)->config_size, gen;

	memset(cfg, 0, size);
	if (len > size)
		len = (uint32_t)size;
	return len ? va_guest_get_config(n->g, 0, cfg, len, &gen) : 0;
}

static int gnet_config(struct gnet *n)
{
	uint8_t cfg[offsetof(struct virtio_net_config, speed)];
	uint16_t dev_mtu = 0;
	int r;

	r = read_config(n, cfg, sizeof(cfg));
	if (r < 0)
		return r;
	memcpy(n->mac, cfg + offsetof(struct virtio_net_config, mac), 6);
	n->status = gnet_has(n, VIRTIO_NET_F_STATUS) ?
		    cfg16(cfg, offsetof(struct virtio_net_config, status)) :
		    VIRTIO_NET_S_LINK_UP;
	n->max_pairs = 1;
	if (gnet_has(n, VIRTIO_NET_F_MQ)) {
		n->max_pairs = cfg16(cfg, offsetof(struct virtio_net_config,
						   max_virtqueue_pairs));
		if (n->max_pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN ||
		    n->max_pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
			return -EPROTO;
	}
	n->npairs = n->o.queues < n->max_pairs ? n->o.queues : n->max_pairs;
	if (n->o.queues > n->npairs)
		fprintf(stderr, "%s: net %s: the device has %u queue pair(s); "
			"using %u\n", n->ctx->prog, n->o.tap, n->max_pairs,
			n->npairs);
	n->ctrlq = (uint16_t)(2u * n->max_pairs);
	if (2u * n->npairs > va_guest_num_queues(n->g) ||
	    (gnet_has(n, VIRTIO_NET_F_CTRL_VQ) &&
	     n->ctrlq >= va_guest_num_queues(n->g)))
		return -EPROTO;
	if (gnet_has(n, VIRTIO_NET_F_MTU))
		dev_mtu = cfg16(cfg, offsetof(struct virtio_net_config, mtu));
	n->mtu = n->o.mtu ? n->o.mtu : dev_mtu ? dev_mtu : 1500;
	if (dev_mtu && n->mtu > dev_mtu) {
		fprintf(stderr, "%s: net %s: --mtu %u exceeds the device's %u\n",
			n->ctx->prog, n->o.tap, n->mtu, dev_mtu);
		return -EINVAL;
	}
	return 0;
}

/* ---- control queue ---- */

static void ctrl_done(struct va_guest *g, uint32_t id, int result,
		      void *opaque)
{
	struct gnet_ctrl *c = opaque;

	c->busy = false;
	c->result = result < 1 ? (result < 0 ? result : -EPROTO) :
		    c->ack == VIRTIO_NET_OK ? 0 : -EINVAL;
	if (c->result < 0)
		c->n->ctrl_errors++;
}

static int ctrl_submit(struct gnet *n, struct gnet_ctrl *c, uint8_t cls,
		       uint8_t cmd, const void *data, size_t len)
{
	struct iovec out[2], in = { .iov_base = &c->ack, .iov_len = 1 };
	int64_t r;

	if (c->busy)
		return -EBUSY;
	if (len > sizeof(c->data))
		return -EINVAL;
	c->n = n;
	c->hdr[0] = cls;
	c->hdr[1] = cmd;
	if (len)
		memcpy(c->data, data, len);
	c->ack = 0xff;
	out[0].iov_base = c->hdr;
	out[0].iov_len = sizeof(c->hdr);
	out[1].iov_base = c->data;
	out[1].iov_len = len;
	r = va_guest_submit(n->g, n->ctrlq, out, len ? 2 : 1, &in, 1,
			    ctrl_done, c);
	if (r < 0)
		return (int)r;
	c->busy = true;
	return 0;
}

/* Before the loop runs: one command, waited for. */
static int ctrl_sync(struct gnet *n, uint8_t cls, uint8_t cmd,
		     const void *data, size_t len)
{
	static struct gnet_ctrl c;	/* outlives a timeout */
	uint64_t deadline = va_now_ms() + n->ctx->timeout_s * 1000ull;
	int r;

	r = ctrl_submit(n, &c, cls, cmd, data, len);
	while (r == 0 && c.busy) {
		uint64_t now = va_now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		r = va_guest_run(n->g, (int)(deadline - now));
	}
	return r < 0 ? r : c.result;
}

static int set_pairs(struct gnet *n)
{
	uint16_t v = htole16((uint16_t)n->npairs);

	if (!gnet_has(n, VIRTIO_NET_F_MQ))
		return 0;
	return ctrl_sync(n, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
			 &v, sizeof(v));
}

/* ---- config changes ---- */

static void config_work(struct va_loop *loop, void *opaque)
{
	uint8_t cfg[offsetof(struct virtio_net_config, max_virtqueue_pairs)];
	struct gnet *n = opaque;
	uint16_t status, old = n->status;
	int r;

	if (n->stopping)
		return;
	if (!gnet_has(n, VIRTIO_NET_F_STATUS))
		return;
	r = read_config(n, cfg, sizeof(cfg));
	if (r < 0) {
		fprintf(stderr, "%s: net %s: reading the config: %s\n",
			n->ctx->prog, n->o.tap, strerror(-r));
		return;
	}
	status = cfg16(cfg, offsetof(struct virtio_net_config, status));
	n->status = status;
	if ((status ^ old) & VIRTIO_NET_S_LINK_UP) {
		n->link_changes++;
		fprintf(stderr, "%s: net %s: link %s\n", n->ctx->prog, n->o.tap,
			status & VIRTIO_NET_S_LINK_UP ? "up" : "down");
		gnet_tap_carrier(n, status & VIRTIO_NET_S_LINK_UP);
	}
	if ((status & VIRTIO_NET_S_ANNOUNCE) &&
	    gnet_has(n, VIRTIO_NET_F_GUEST_ANNOUNCE) && !announce_ctrl.busy) {
		n->announces++;
		fprintf(stderr, "%s: net %s: announce requested\n",
			n->ctx->prog, n->o.tap);
		r = ctrl_submit(n, &announce_ctrl, VIRTIO_NET_CTRL_ANNOUNCE,
				VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0);
		if (r < 0)
			n->ctrl_errors++;
	}
}

static void on_config(struct va_guest *g, void *opaque)
{
	struct gnet *n = opaque;

	va_loop_defer(n->loop, config_work, n);
}

/* ---- receive mode (SIGHUP) and bad input (SIGUSR2) ---- */

/* The multicast addresses of ifindex in /proc/net/dev_mcast (of this
 * network namespace) into t (le32 count, then addresses). */
static size_t mc_table(int ifindex, uint8_t *t)
{
	FILE *f = fopen("/proc/net/dev_mcast", "re");
	char line[256], name[IFNAMSIZ + 1], hex[64];
	unsigned int idx, a[6], refs, global;
	uint32_t count = 0, le;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%u %16s %u %u %63s", &idx, name, &refs, &global,
			   hex) != 5 || (int)idx != ifindex || count >= GNET_MC_MAX ||
		    sscanf(hex, "%2x%2x%2x%2x%2x%2x", &a[0], &a[1], &a[2], &a[3],
			   &a[4], &a[5]) != 6)
			continue;
		for (idx = 0; idx < 6; idx++)
			t[4 + 6 * count + idx] = (uint8_t)a[idx];
		count++;
	}
	if (f)
		fclose(f);
	le = htole32(count);
	memcpy(t, &le, 4);
	return 4 + 6 * (size_t)count;
}

/*
 * What Linux's driver does when the interface's receive mode changes:
 * PROMISC and ALLMULTI from the TAP's flags, then the MAC table (no
 * unicast addresses but the device's own; the interface's multicast
 * list).  On SIGHUP only, so a device starts as it is after reset.
 */
static void gnet_rx_mode(struct gnet *n)
{
	uint8_t table[4 + 4 + 6 * GNET_MC_MAX] = { 0 };
	struct ifreq ifr = { 0 };
	uint8_t on;
	size_t len;
	int r = 0;

	if (!gnet_has(n, VIRTIO_NET_F_CTRL_RX))
		return;
	int ifindex;

	memcpy(ifr.ifr_name, n->o.tap, strlen(n->o.tap));
	if (ioctl(n->sock, SIOCGIFINDEX, &ifr) < 0) {
		n->ctrl_errors++;
		return;
	}
	ifindex = ifr.ifr_ifindex;
	if (ioctl(n->sock, SIOCGIFFLAGS, &ifr) < 0) {
		n->ctrl_errors++;
		return;
	}
	on = !!(ifr.ifr_flags & IFF_PROMISC);
	r |= ctrl_submit(n, &promisc_ctrl, VIRTIO_NET_CTRL_RX,
			 VIRTIO_NET_CTRL_RX_PROMISC, &on, 1);
	on = !!(ifr.ifr_flags & IFF_ALLMULTI);
	r |= ctrl_submit(n, &allmulti_ctrl, VIRTIO_NET_CTRL_RX,
			 VIRTIO_NET_CTRL_RX_ALLMULTI, &on, 1);
	len = 4 + mc_table(ifindex, table + 4);	/* no unicast */
	r |= ctrl_submit(n, &table_ctrl, VIRTIO_NET_CTRL_MAC,
			 VIRTIO_NET_CTRL_MAC_TABLE_SET, table, len);
	if (r)
		n->ctrl_errors++;
	fprintf(stderr, "%s: net %s: receive mode sent: promisc %u allmulti "
		"%u multicast %zu\n", n->ctx->prog, n->o.tap,
		promisc_ctrl.data[0], allmulti_ctrl.data[0], (len - 8) / 6);
}

static void inject_done(struct va_guest *g, uint32_t id, int result,
			void *opaque)
{
}

/*
 * A test hook: what a broken or hostile driver would send, on pair 0:
 * a frame whose vnet header has unknown flags, a frame larger than the
 * MTU without GSO, and a control command of an unknown class.  The
 * device should drop, count and go on.
 */
static void gnet_inject(struct gnet *n)
{
	static uint8_t bad_hdr[GNET_HDR_LEN + 60], big[GNET_FRAME_MAX];
	struct iovec out;
	uint8_t zero = 0;
	size_t len;

	memset(bad_hdr, 0, sizeof(bad_hdr));
	bad_hdr[0] = 0xf0;		/* flags: no such bits */
	memset(bad_hdr + GNET_HDR_LEN, 0xff, 6);
	out.iov_base = bad_hdr;
	out.iov_len = sizeof(bad_hdr);
	va_guest_submit(n->g, n->pairs[0].txq, &out, 1, NULL, 0, inject_done,
			NULL);
	memset(big, 0, sizeof(big));
	memset(big + GNET_HDR_LEN, 0xff, 6);
	len = GNET_HDR_LEN + 14u + 4u + n->mtu + 1u;
	out.iov_base = big;
	out.iov_len = len < sizeof(big) ? len : sizeof(big);
	va_guest_submit(n->g, n->pairs[0].txq, &out, 1, NULL, 0, inject_done,
			NULL);
	if (gnet_has(n, VIRTIO_NET_F_CTRL_VQ) &&
	    ctrl_submit(n, &bad_ctrl, 0xee, 0x01, &zero, 1) < 0)
		n->ctrl_errors++;
	fprintf(stderr, "%s: net %s: injected a bad header, an oversized frame "
		"and a bad command\n", n->ctx->prog, n->o.tap);
}

/* ---- counters and signals ---- */

static void print_counters(const struct gnet *n)
{
	struct va_guest_stats st;
	uint64_t t[6] = { 0 };
	unsigned int i;

	for (i = 0; i < n->npairs; i++) {
		const struct gnet_pair *p = &n->pairs[i];

		fprintf(stderr, "%s: net %s: pair %u: rx_frames %" PRIu64
			" rx_bytes %" PRIu64 " rx_dropped %" PRIu64
			" tx_frames %" PRIu64 " tx_bytes %" PRIu64
			" tx_dropped %" PRIu64 "\n", n->ctx->prog, n->o.tap, i,
			p->rx_frames, p->rx_bytes, p->rx_dropped, p->tx_frames,
			p->tx_bytes, p->tx_dropped);
		t[0] += p->rx_frames;
		t[1] += p->rx_bytes;
		t[2] += p->rx_dropped;
		t[3] += p->tx_frames;
		t[4] += p->tx_bytes;
		t[5] += p->tx_dropped;
	}
	va_guest_get_stats(n->g, &st);
	fprintf(stderr, "%s: net %s: total: rx_frames %" PRIu64 " rx_bytes %"
		PRIu64 " rx_dropped %" PRIu64 " tx_frames %" PRIu64
		" tx_bytes %" PRIu64 " tx_dropped %" PRIu64 " link_changes %"
		PRIu64 " announces %" PRIu64 " ctrl_errors %" PRIu64
		" replayed %" PRIu64 " renegotiations %" PRIu64
		" violations %" PRIu64 "\n", n->ctx->prog, n->o.tap, t[0], t[1],
		t[2], t[3], t[4], t[5], n->link_changes, n->announces,
		n->ctrl_errors, st.replayed, st.renegotiations, st.violations);
}

static void on_signal(struct va_loop *loop, int signo, void *opaque)
{
	struct gnet *n = opaque;

	if (signo == SIGUSR1) {
		print_counters(n);
		return;
	}
	if (signo == SIGHUP) {
		gnet_rx_mode(n);
		return;
	}
	if (signo == SIGUSR2) {
		gnet_inject(n);
		return;
	}
	n->stopping = true;
	va_loop_quit(loop, 0);
}

/* ---- options ---- */

static const char net_usage[] =
"Usage: virtio-argo-guest [OPTIONS] net tap NAME [options]\n"
"Drive the virtio-net device through the TAP interface NAME (created if\n"
"absent, else attached to), with the device's MAC address and MTU, until\n"
"SIGTERM or SIGINT.  SIGUSR1 prints the counters (also printed at exit).\n"
"SIGHUP sends the TAP's receive mode (PROMISC, ALLMULTI, the multicast\n"
"list) on the control queue; SIGUSR2 (a test hook) sends a malformed\n"
"header, an oversized frame and an unknown control command.\n"
"\n"
"  --queues N            queue pairs to use (default 1; at most the device's)\n"
"  --mtu N               interface MTU (default: the device's, else 1500)\n"
"  --no-offloads         negotiate no checksum or segmentation offload\n"
"  --mrg-rxbuf           require mergeable receive buffers\n"
"  --no-mrg-rxbuf        do not use them (default: if offered)\n"
"  --help\n";

enum { OPT_QUEUES = 1, OPT_MTU, OPT_NO_OFFLOADS, OPT_MRG, OPT_NO_MRG,
       OPT_HELP };

static const struct option net_opts[] = {
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "no-offloads", no_argument, NULL, OPT_NO_OFFLOADS },
	{ "mrg-rxbuf", no_argument, NULL, OPT_MRG },
	{ "no-mrg-rxbuf", no_argument, NULL, OPT_NO_MRG },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* 0: run; 1: --help printed; -1: bad usage (said why). */
static int net_parse(struct gnet_opts *o, int argc, char **argv)
{
	uint32_t v;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", net_opts, NULL)) != -1) {
		switch (c) {
		case OPT_QUEUES:
			if (va_parse_u32(optarg, 1, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX,
					 &v) < 0)
				goto bad;
			o->queues = v;
			break;
		case OPT_MTU:
			if (va_parse_u32(optarg, 68, 65535, &v) < 0)
				goto bad;
			o->mtu = v;
			break;
		case OPT_NO_OFFLOADS:
			o->offloads = false;
			break;
		case OPT_MRG:
			o->mrg_rxbuf = 1;
			break;
		case OPT_NO_MRG:
			o->mrg_rxbuf = 0;
			break;
		case OPT_HELP:
			fputs(net_usage, stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "virtio-argo-guest: net tap needs one NAME\n");
		return -1;
	}
	o->tap = argv[optind];
	if (!*o->tap || strlen(o->tap) >= IFNAMSIZ || strchr(o->tap, '/') ||
	    strchr(o->tap, ' ')) {
		fprintf(stderr, "virtio-argo-guest: bad interface name '%s'\n",
			o->tap);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "virtio-argo-guest: bad value '%s' for --%s\n", optarg,
		net_opts[c - 1].name);
	return -1;
}

/* ---- the mode ---- */

static int gnet_setup(struct gnet *n)
{
	unsigned int i;
	int r;

	r = gnet_probe(n);
	if (r < 0)
		return r;
	r = gnet_config(n);
	if (r < 0) {
		fprintf(stderr, "%s: net: bad device config: %s\n",
			n->ctx->prog, strerror(-r));
		return r;
	}
	n->pairs = calloc(n->npairs, sizeof(*n->pairs));
	if (!n->pairs)
		return -ENOMEM;
	for (i = 0; i < n->npairs; i++) {
		n->pairs[i].n = n;
		n->pairs[i].index = i;
		n->pairs[i].fd = -1;
		n->pairs[i].rxq = (uint16_t)(2u * i);
		n->pairs[i].txq = (uint16_t)(2u * i + 1u);
	}
	r = set_pairs(n);
	if (r < 0) {
		fprintf(stderr, "%s: net: VQ_PAIRS_SET %u: %s\n", n->ctx->prog,
			n->npairs, strerror(-r));
		return r;
	}
	r = va_loop_new(&n->loop);
	if (r < 0)
		return r;
	r = gnet_tap_open(n);
	if (r < 0)
		return r;
	r = gnet_data_start(n);
	if (r < 0) {
		fprintf(stderr, "%s: net %s: starting the queues: %s\n",
			n->ctx->prog, n->o.tap, strerror(-r));
		return r;
	}
	va_guest_set_config_cb(n->g, on_config, n);
	/* An ANNOUNCE set before the callback was in place. */
	va_loop_defer(n->loop, config_work, n);
	if ((r = va_loop_add_signal(n->loop, SIGTERM, on_signal, n)) < 0 ||
	    (r = va_loop_add_signal(n->loop, SIGHUP, on_signal, n)) < 0 ||
	    (r = va_loop_add_signal(n->loop, SIGUSR2, on_signal, n)) < 0 ||
	    (r = va_loop_add_signal(n->loop, SIGINT, on_signal, n)) < 0 ||
	    (r = va_loop_add_signal(n->loop, SIGUSR1, on_signal, n)) < 0)
		return r;
	return va_guest_attach_loop(n->g, n->loop);
}

static int net_tap(struct guest_ctx *ctx, int argc, char **argv)
{
	struct gnet n = {
		.ctx = ctx,
		.o = { .queues = 1, .offloads = true, .mrg_rxbuf = -1 },
		.sock = -1,
	};
	int r;

	switch (net_parse(&n.o, argc, argv)) {
	case 0:
		break;
	case 1:
		return 0;
	default:
		fputs("Try 'virtio-argo-guest net tap --help'.\n", stderr);
		return 2;
	}
	r = gnet_setup(&n);
	if (r == 0) {
		fprintf(stderr, "%s: net %s: ready: mac %02x:%02x:%02x:%02x:%02x:"
			"%02x mtu %u pairs %u/%u features %#" PRIx64 "\n",
			ctx->prog, n.o.tap, n.mac[0], n.mac[1], n.mac[2],
			n.mac[3], n.mac[4], n.mac[5], n.mtu, n.npairs,
			n.max_pairs, n.features);
		va_loop_run(n.loop);
		r = n.rc ? -EIO : 0;
	}
	n.stopping = true;
	if (n.g && n.pairs)
		print_counters(&n);
	gnet_tap_close(&n);
	va_guest_free(n.g);
	gnet_data_free(&n);
	free(n.pairs);
	va_loop_free(n.loop);
	return r < 0 ? 1 : 0;
}

int guest_mode_net(struct guest_ctx *ctx, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(argc < 2 ? stderr : stdout,
			"Usage: %s [OPTIONS] net tap NAME [--queues N] [--mtu N] "
			"[--no-offloads] [--mrg-rxbuf|--no-mrg-rxbuf]\n"
			"Run 'net tap --help' for details.\n", ctx->prog);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "tap"))
		return net_tap(ctx, argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown net mode '%s' (tap)\n", ctx->prog,
		argv[1]);
	return 2;
}
