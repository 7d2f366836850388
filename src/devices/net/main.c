/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netd: serve one virtio-net device to one guest over Argo,
 * its frames going in and out of a TAP interface on this host.
 *
 *   virtio-argo-netd --domid 5 --tap vif5 --bridge br0
 *
 * This file is netd's own options and its descriptor for the daemon
 * skeleton (daemon.h); the device is net.c's, the TAP tap.c's, rtnetlink
 * netlink.c's.  SIGUSR1 logs the counters (also logged at stop).  Exit
 * status: 0 clean stop, 1 failure, 2 bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>

#include "va-config.h"
#include "daemon.h"
#include "mac.h"
#include "net.h"
#include "util.h"

#define PROG	"virtio-argo-netd"

enum {
	OPT_TAP = VA_DAEMON_DEV_OPT, OPT_BRIDGE, OPT_MAC, OPT_MTU,
	OPT_LINK_FOLLOWS, OPT_NO_LINK_FOLLOWS,
};

static const struct option net_options[] = {
	{ "tap", required_argument, NULL, OPT_TAP },
	{ "bridge", required_argument, NULL, OPT_BRIDGE },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "link-follows-tap", no_argument, NULL, OPT_LINK_FOLLOWS },
	{ "no-link-follows-tap", no_argument, NULL, OPT_NO_LINK_FOLLOWS },
	{ NULL, 0, NULL, 0 },
};

static void net_usage(FILE *f)
{
	fprintf(f,
"  --tap NAME            the TAP interface (required; created if absent,\n"
"                        an existing persistent TAP is used as it is)\n"
"  --bridge BR           put the TAP in bridge BR\n"
"  --mac ADDR            the guest's MAC (default: derived from the guest\n"
"                        and the port, stable across restarts)\n"
"  --mtu N               set the TAP's MTU and offer it (default: the TAP's)\n"
"  --link-follows-tap    LINK_UP follows the TAP's state (default)\n"
"  --no-link-follows-tap LINK_UP always set\n");
}

static int net_parse_opt(void *cfg, int opt, const char *arg)
{
	struct net_opts *no = cfg;
	const char *why;
	uint32_t v;

	switch (opt) {
	case OPT_TAP:
		if (!arg[0] || strlen(arg) >= IFNAMSIZ || strchr(arg, '/'))
			return va_daemon_bad_value("tap", arg,
				"an interface name of 1 to 15 characters");
		no->tap = arg;
		return 0;
	case OPT_BRIDGE:
		if (!arg[0] || strlen(arg) >= IFNAMSIZ)
			return va_daemon_bad_value("bridge", arg, NULL);
		no->bridge = arg;
		return 0;
	case OPT_MAC:
		if (net_mac_parse(arg, no->mac, &why) < 0)
			return va_daemon_bad_value("mac", arg, why);
		no->have_mac = true;
		return 0;
	case OPT_MTU:
		if (va_parse_u32(arg, 68, 65535, &v) < 0)
			return va_daemon_bad_value("mtu", arg, "68 to 65535");
		no->mtu = v;
		return 0;
	case OPT_LINK_FOLLOWS:
		no->link_follows_tap = true;
		return 0;
	case OPT_NO_LINK_FOLLOWS:
		no->link_follows_tap = false;
		return 0;
	default:
		return -EINVAL;
	}
}

static int net_check(void *cfg, const struct va_daemon_opts *o)
{
	const struct net_opts *no = cfg;

	if (!no->tap) {
		fprintf(stderr, PROG ": --tap is required\n");
		return -EINVAL;
	}
	return 0;
}

static char guest_id[16];

static int net_create(void *cfg, const struct va_daemon_opts *o, void **priv,
		      struct va_dev_info *info, const struct va_dev_ops **ops)
{
	struct net_opts *no = cfg;
	struct net *n;
	int r;

	no->pairs = o->queues;
	no->queue_size = o->queue_size;
	no->port = o->port;
	if (o->guest_name) {
		no->guest_id = o->guest_name;
	} else {
		snprintf(guest_id, sizeof(guest_id), "%u", o->guest_domid);
		no->guest_id = guest_id;
	}
	r = net_new(no, &n);
	if (r < 0)
		return r;
	net_dev_info(n, info);
	*ops = net_dev_ops();
	*priv = n;
	return 0;
}

static void on_sigusr1(struct va_loop *loop, int signo, void *opaque)
{
	net_log_stats(opaque);
}

static int net_attach_loop(void *priv, struct va_dev *dev,
			   struct va_loop *loop)
{
	int r = net_attach(priv, dev, loop);

	if (r == 0)
		r = va_loop_add_signal(loop, SIGUSR1, on_sigusr1, priv);
	if (r < 0)
		va_log_errno(VA_LOG_ERR, r, "cannot set up the event loop");
	return r;
}

static const char *net_describe_cb(void *priv)
{
	return net_describe(priv);
}

static void net_detach_cb(void *priv)
{
	net_detach(priv);
}

static void net_destroy(void *priv)
{
	net_free(priv);
}

static const struct va_daemon_desc netd = {
	.prog = PROG,
	.dev_name = "net",
	.synopsis = "--domid N|--domain NAME --tap NAME [options]",
	.summary =
"Serve a virtio-net device to guest domain N over Argo, its frames going\n"
"through the TAP interface NAME.",
	.notes =
"--queues N is the number of queue pairs (one TAP queue each; MQ is\n"
"offered when N > 1).\n"
"Signals: SIGTERM/SIGINT stop cleanly; SIGUSR1 logs the counters.\n",
	.default_port = VA_PORT_NET_DEFAULT,
	.max_queues = NET_MAX_PAIRS,
	.default_queues = 1,
	.max_queue_size = VA_MAX_QUEUE_SIZE,
	.default_queue_size = NET_QUEUE_SIZE_DEFAULT,
	.options = net_options,
	.usage = net_usage,
	.parse_opt = net_parse_opt,
	.check = net_check,
	.create = net_create,
	.attach = net_attach_loop,
	.describe = net_describe_cb,
	.detach = net_detach_cb,
	.destroy = net_destroy,
};

int main(int argc, char **argv)
{
	struct net_opts no = { .link_follows_tap = true };

	return va_daemon_main(&netd, &no, argc, argv);
}
