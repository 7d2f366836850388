/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netloopd: a minimal virtio-net device for tests, a
 * reflector: every frame the driver transmits on queue 2k+1 comes back,
 * vnet header and bytes unchanged (num_buffers set), in the receive
 * buffers the driver posted on queue 2k.  Until virtio-argo-netd exists
 * it lets the guest side (virtio-argo-guest net) be tested end to end.
 *
 * Receive queues are held (the core keeps the posted buffers until a
 * frame arrives); a frame with no room in them is dropped and counted, as
 * a NIC without receive buffers does.  It offers MAC, STATUS (LINK_UP),
 * MTU, the checksum and TSO offloads both ways (frames are not touched,
 * so what one side sends is what the other receives), MRG_RXBUF (unless
 * --no-mrg-rxbuf), CTRL_VQ with CTRL_RX, CTRL_MAC_ADDR, GUEST_ANNOUNCE and
 * MQ (VQ_PAIRS_SET); every control command is acknowledged as OK except
 * unknown ones and a pair count out of range.
 *
 * --queues N is the number of queue pairs (2N + 1 virtqueues, the control
 * queue last).  SIGHUP toggles LINK_UP; SIGUSR2 sets ANNOUNCE (cleared by
 * the driver's ANNOUNCE_ACK); both with a config event.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_net.h>

#include "daemon.h"
#include "util.h"
#include "va-config.h"

#define NETLOOP_PORT		0x5641e000u	/* VA_PORT_NET_DEFAULT */
#define NETLOOP_QUEUE_MAX	256u
#define NETLOOP_MAX_PAIRS	8u
#define NETLOOP_HDR_LEN		12u
#define NETLOOP_FRAME_MAX	(NETLOOP_HDR_LEN + 65536u + 18u)
#define NETLOOP_MAX_BUFS	64u	/* buffers one merged frame may take */
#define F(bit)			(1ull << (bit))

struct netloop {
	struct va_dev *dev;
	uint8_t mac[6];
	uint16_t status;
	uint16_t mtu;
	uint16_t pairs;
	bool no_mrg;
	uint64_t features;		/* negotiated */
	uint64_t reflected, no_buffer, bad, ctrl_ok, ctrl_err;
};

/* ops->get_config: the config space from nl's fields. */
static void netloop_config(void *opaque, uint8_t *c)
{
	struct netloop *nl = opaque;
	uint16_t v;

	memcpy(c + offsetof(struct virtio_net_config, mac), nl->mac, 6);
	v = htole16(nl->status);
	memcpy(c + offsetof(struct virtio_net_config, status), &v, 2);
	v = htole16(nl->pairs);
	memcpy(c + offsetof(struct virtio_net_config, max_virtqueue_pairs), &v, 2);
	v = htole16(nl->mtu);
	memcpy(c + offsetof(struct virtio_net_config, mtu), &v, 2);
}

static void set_num_buffers(uint8_t *hdr, uint16_t n)
{
	uint16_t v = htole16(n);

	memcpy(hdr + offsetof(struct virtio_net_hdr_v1, num_buffers), &v, 2);
}

/* One transmitted frame (header + data) into the receive queue rxq. */
static void reflect(struct netloop *nl, uint16_t rxq, const uint8_t *frame,
		    uint32_t len)
{
	struct va_req *reqs[NETLOOP_MAX_BUFS];
	struct iovec iov[NETLOOP_MAX_BUFS];
	bool mrg = nl->features & F(VIRTIO_NET_F_MRG_RXBUF);
	unsigned int k, i;
	uint32_t off = 0;

	if (len < NETLOOP_HDR_LEN) {
		nl->bad++;
		return;
	}
	k = va_dev_pop_space(nl->dev, rxq, len, reqs, iov,
			     mrg ? NETLOOP_MAX_BUFS : 1);
	if (!k) {
		nl->no_buffer++;
		return;
	}
	if (iov[0].iov_len < NETLOOP_HDR_LEN) {
		for (i = 0; i < k; i++)
			va_req_complete(reqs[i], 0);
		nl->bad++;
		return;
	}
	for (i = 0; i < k; i++) {
		uint32_t n = len - off < iov[i].iov_len ?
			     len - off : (uint32_t)iov[i].iov_len;

		memcpy(iov[i].iov_base, frame + off, n);
		if (i == 0)
			set_num_buffers(iov[0].iov_base, (uint16_t)k);
		off += n;
		va_req_complete(reqs[i], n);
	}
	nl->reflected++;
}

static uint16_t ctrl_queue(const struct netloop *nl)
{
	return (uint16_t)(2u * nl->pairs);
}

/* A control command: the ack byte. */
static uint8_t ctrl(struct netloop *nl, const uint8_t *out, uint32_t len)
{
	uint16_t v;

	if (len < 2)
		return VIRTIO_NET_ERR;
	switch (out[0]) {
	case VIRTIO_NET_CTRL_MQ:
		if (out[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != 4)
			return VIRTIO_NET_ERR;
		memcpy(&v, out + 2, 2);
		v = le16toh(v);
		if (v < 1 || v > nl->pairs)
			return VIRTIO_NET_ERR;
		va_notice("queue pairs set to %u", v);
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (out[1] != VIRTIO_NET_CTRL_ANNOUNCE_ACK)
			return VIRTIO_NET_ERR;
		nl->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
		va_dev_config_update(nl->dev);
		va_notice("announce acknowledged");
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_RX:
	case VIRTIO_NET_CTRL_MAC:
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static void netloop_request(void *opaque, struct va_req *req)
{
	struct netloop *nl = opaque;
	uint8_t ack;

	if (req->queue == ctrl_queue(nl)) {
		ack = ctrl(nl, req->out, req->out_len);
		if (ack == VIRTIO_NET_OK)
			nl->ctrl_ok++;
		else
			nl->ctrl_err++;
		if (req->in_len < 1) {
			va_req_complete(req, 0);
			return;
		}
		req->in[0] = ack;
		va_req_complete(req, 1);
		return;
	}
	/* Receive queues are held: only transmit queues get here. */
	reflect(nl, (uint16_t)(req->queue - 1u), req->out, req->out_len);
	va_req_complete(req, 0);
}

static void netloop_queue_ready(void *opaque, uint16_t queue)
{
	/* Buffers wait in the core until a frame is reflected. */
}

static int netloop_set_features(void *opaque, uint64_t features)
{
	struct netloop *nl = opaque;

	/* Without MQ the control queue would be queue 2. */
	if (nl->pairs > 1 && !(features & F(VIRTIO_NET_F_MQ)))
		return -EINVAL;
	nl->features = features;
	return 0;
}

static void netloop_reset(void *opaque)
{
	struct netloop *nl = opaque;

	nl->features = 0;
}

static const struct va_dev_ops netloop_ops = {
	.request = netloop_request,
	.queue_ready = netloop_queue_ready,
	.set_features = netloop_set_features,
	.reset = netloop_reset,
	.get_config = netloop_config,
};

static void netloop_signal(struct va_loop *loop, int signo, void *opaque)
{
	struct netloop *nl = opaque;

	if (signo == SIGHUP)
		nl->status ^= VIRTIO_NET_S_LINK_UP;
	else
		nl->status |= VIRTIO_NET_S_ANNOUNCE;
	va_dev_config_update(nl->dev);
	va_notice("status %u", nl->status);
}

static void netloop_usage(FILE *f)
{
	fprintf(f,
"  --mac ADDR            the device's MAC (default 02:00:00:76:61:01)\n"
"  --mtu N               the MTU in the config (default 1500)\n"
"  --no-mrg-rxbuf        do not offer mergeable receive buffers\n");
}

enum { OPT_MAC = VA_DAEMON_DEV_OPT, OPT_MTU, OPT_NO_MRG };

static const struct option netloop_options[] = {
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "no-mrg-rxbuf", no_argument, NULL, OPT_NO_MRG },
	{ NULL, 0, NULL, 0 },
};

static int netloop_parse_opt(void *cfg, int opt, const char *arg)
{
	struct netloop *nl = cfg;
	unsigned int m[6];
	uint32_t v;
	char end;
	int i;

	switch (opt) {
	case OPT_MAC:
		if (sscanf(arg, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2],
			   &m[3], &m[4], &m[5], &end) != 6 || (m[0] & 1))
			return va_daemon_bad_value("mac", arg, "not a unicast MAC");
		for (i = 0; i < 6; i++)
			nl->mac[i] = (uint8_t)m[i];
		return 0;
	case OPT_MTU:
		if (va_parse_u32(arg, 68, 65535, &v) < 0)
			return va_daemon_bad_value("mtu", arg, NULL);
		nl->mtu = (uint16_t)v;
		return 0;
	case OPT_NO_MRG:
		nl->no_mrg = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int netloop_create(void *cfg, const struct va_daemon_opts *o,
			  void **priv, struct va_dev_info *info,
			  const struct va_dev_ops **ops)
{
	struct netloop *nl = cfg;
	uint64_t f = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |
		     F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_CSUM) |
		     F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
		     F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) |
		     F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |
		     F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_MRG_RXBUF) |
		     F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
		     F(VIRTIO_NET_F_CTRL_MAC_ADDR) |
		     F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_NET_F_MQ);
	uint64_t held = 0;
	uint16_t i;

	if (nl->no_mrg)
		f &= ~F(VIRTIO_NET_F_MRG_RXBUF);
	nl->pairs = o->queues;
	for (i = 0; i < nl->pairs; i++)
		held |= 1ull << (2u * i);
	*info = (struct va_dev_info){
		.device_id = 1,
		.vendor_id = 0,
		.features = f,
		.num_queues = (uint16_t)(2u * nl->pairs + 1u),
		.max_queue_size = o->queue_size,
		.config_size = offsetof(struct virtio_net_config, speed),
		.max_in = NETLOOP_FRAME_MAX,
		.held_queues = held,
	};
	*ops = &netloop_ops;
	*priv = nl;
	return 0;
}

static int netloop_attach(void *priv, struct va_dev *dev, struct va_loop *loop)
{
	struct netloop *nl = priv;
	int r;

	nl->dev = dev;
	r = va_loop_add_signal(loop, SIGHUP, netloop_signal, nl);
	if (r == 0)
		r = va_loop_add_signal(loop, SIGUSR2, netloop_signal, nl);
	if (r < 0)
		va_log_errno(VA_LOG_ERR, r, "signals");
	return r;
}

static void netloop_detach(void *priv)
{
	struct netloop *nl = priv;

	va_notice("reflected %" PRIu64 " no_buffer %" PRIu64 " bad %" PRIu64
		  " ctrl_ok %" PRIu64 " ctrl_err %" PRIu64, nl->reflected,
		  nl->no_buffer, nl->bad, nl->ctrl_ok, nl->ctrl_err);
}

static const struct va_daemon_desc netloop_desc = {
	.prog = "virtio-argo-netloopd",
	.dev_name = "netloop",
	.synopsis = "--domid N [options]",
	.summary =
"A virtio-net reflector for tests: every transmitted frame comes back in\n"
"the receive queue of its pair.",
	.notes =
"--queues N is the number of queue pairs (2N + 1 virtqueues).\n"
"Signals: SIGHUP toggles LINK_UP, SIGUSR2 asks for an announcement.\n",
	.default_port = NETLOOP_PORT,
	.max_queues = NETLOOP_MAX_PAIRS,
	.default_queues = 1,
	.max_queue_size = NETLOOP_QUEUE_MAX,
	.default_queue_size = NETLOOP_QUEUE_MAX,
	.options = netloop_options,
	.usage = netloop_usage,
	.parse_opt = netloop_parse_opt,
	.create = netloop_create,
	.attach = netloop_attach,
	.detach = netloop_detach,
};

int main(int argc, char **argv)
{
	static struct netloop nl = {
		.mac = { 0x02, 0x00, 0x00, 0x76, 0x61, 0x01 },
		.status = VIRTIO_NET_S_LINK_UP,
		.mtu = 1500,
	};

	return va_daemon_main(&netloop_desc, &nl, argc, argv);
}
