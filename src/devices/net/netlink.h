/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-netd's view of the host's network configuration, through
 * rtnetlink (libnl-route), never by running ip(8): bring a link up or
 * down, set its MTU, put it in a bridge, read its state, and follow its
 * state changes with an fd the event loop watches (RTNLGRP_LINK), so that
 * the virtio-net device's LINK_UP can follow the TAP's carrier.
 *
 * A struct net_nl holds two netlink sockets: one for requests (blocking,
 * answered at once by the kernel) and one for link events (non-blocking,
 * created by net_nl_watch).  Failures are logged once, with the names
 * involved, and returned as -errno.
 */
#ifndef VA_NET_NETLINK_H
#define VA_NET_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct net_nl;

/* One link's state, as rtnetlink reports it. */
struct net_link_state {
	int ifindex;
	bool up;		/* administratively up (IFF_UP) */
	bool carrier;		/* IFLA_CARRIER: a tun has one while an fd
				 * is attached and TUNSETCARRIER allows */
	uint8_t operstate;	/* IF_OPER_* (RFC 2863) */
	unsigned int mtu;
	bool gone;		/* the link was deleted (RTM_DELLINK) */
};

/* True when frames can flow: up, with carrier, not deleted. */
static inline bool net_link_running(const struct net_link_state *st)
{
	return !st->gone && st->up && st->carrier;
}

/* Called by net_nl_dispatch for each change of the watched link. */
typedef void (*net_link_cb)(const struct net_link_state *st, void *opaque);

int net_nl_open(struct net_nl **ret);
void net_nl_close(struct net_nl *nl);

/* -ENODEV (logged) if the link does not exist. */
int net_nl_get_state(struct net_nl *nl, const char *ifname,
		     struct net_link_state *st);
int net_nl_set_up(struct net_nl *nl, const char *ifname, bool up);
/* -EINVAL (logged: "refuses MTU") when the device's range excludes mtu. */
int net_nl_set_mtu(struct net_nl *nl, const char *ifname, unsigned int mtu);
/* Set the link's hardware (MAC) address.  0 or -errno (logged). */
int net_nl_set_mac(struct net_nl *nl, const char *ifname,
		   const uint8_t mac[6]);
/* Make `bridge` the master of ifname: -ENODEV for a missing bridge,
 * -ENOTSUP when `bridge` is not a bridge (both logged). */
int net_nl_set_bridge(struct net_nl *nl, const char *ifname,
		      const char *bridge);

/*
 * Follow ifname's state: subscribe to RTNLGRP_LINK and fill *st with the
 * current state (read after subscribing, so no change is missed).
 * Returns the fd to watch for EPOLLIN, or -errno.  One link per net_nl.
 */
int net_nl_watch(struct net_nl *nl, const char *ifname, net_link_cb cb,
		 void *opaque, struct net_link_state *st);
/*
 * Read the pending link events (the watch fd is readable) and call cb
 * once per change of the watched link's up/carrier/operstate/mtu/gone.
 * After an overflow of the socket (ENOBUFS) the state is read afresh.
 * Returns 0 or -errno.
 */
int net_nl_dispatch(struct net_nl *nl);

/* What rtnetlink says about a tun/tap device (IFLA_INFO_DATA, 4.15+). */
struct net_tun_info {
	bool is_tun;		/* IFLA_INFO_KIND "tun" */
	bool known;		/* the fields below were reported */
	bool tap;		/* IFF_TAP, not IFF_TUN */
	bool multi_queue;
	bool persist;
	int queues;		/* fds attached now, -1 if not known (tun
				 * tells it for multi_queue only) */
};
/* Query link `ifname` with a short-lived socket: 0, -ENODEV if absent,
 * or another -errno (not logged). */
int net_nl_tun_info(const char *ifname, struct net_tun_info *ret);

#endif /* VA_NET_NETLINK_H */
