/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink for virtio-argo-netd through libnl-route (see netlink.h).
 *
 * Changes go through rtnl_link_change() with a link object holding only
 * what changes; the kernel answers each at once (an ACK or an error), so
 * the request socket may block.  Link events arrive on a second,
 * non-blocking socket subscribed to RTNLGRP_LINK: it sees every link of
 * the network namespace, and net_nl_dispatch() keeps those of the watched
 * ifindex whose state differs from the last one reported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if.h>
#include <linux/if_tun.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>

#include "log.h"
#include "netlink.h"

struct net_nl {
	struct nl_sock *req;
	struct nl_sock *ev;		/* NULL until net_nl_watch */
	int ifindex;			/* the watched link */
	char ifname[32];
	struct net_link_state last;	/* as last reported */
	net_link_cb cb;
	void *opaque;
};

/* libnl's error codes back to errno values (libnl has no such map). */
static int nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_PERM:
		return -EPERM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

static int connect_route(struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return nle_errno(r);
	}
	*ret = sk;
	return 0;
}

int net_nl_open(struct net_nl **ret)
{
	struct net_nl *nl = calloc(1, sizeof(*nl));
	int r;

	if (!nl)
		return -ENOMEM;
	r = connect_route(&nl->req);
	if (r < 0) {
		free(nl);
		return va_log_errno(VA_LOG_ERR, r, "netlink: cannot open a socket");
	}
	*ret = nl;
	return 0;
}

void net_nl_close(struct net_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->ev);
	nl_socket_free(nl->req);
	free(nl);
}

static void fill_state(struct rtnl_link *l, struct net_link_state *st)
{
	memset(st, 0, sizeof(*st));
	st->ifindex = rtnl_link_get_ifindex(l);
	st->up = rtnl_link_get_flags(l) & IFF_UP;
	st->carrier = rtnl_link_get_carrier(l);
	st->operstate = rtnl_link_get_operstate(l);
	st->mtu = rtnl_link_get_mtu(l);
}

/* The current link object of ifname, or -ENODEV (logged as `what`). */
static int get_link(struct net_nl *nl, const char *ifname, const char *what,
		    struct rtnl_link **ret)
{
	int r = rtnl_link_get_kernel(nl->req, 0, ifname, ret);

	if (r < 0) {
		r = nle_errno(r);
		if (r == -ENODEV)
			va_err("netlink: %s %s does not exist", what, ifname);
		else
			va_log_errno(VA_LOG_ERR, r, "netlink: cannot read %s %s",
				     what, ifname);
	}
	return r;
}

int net_nl_get_state(struct net_nl *nl, const char *ifname,
		     struct net_link_state *st)
{
	struct rtnl_link *l;
	int r = get_link(nl, ifname, "link", &l);

	if (r < 0)
		return r;
	fill_state(l, st);
	rtnl_link_put(l);
	return 0;
}

/* Apply the attributes of `change` to link ifname.  Returns 0 or -errno
 * (not logged, with libnl's text in *why). */
static int change_link(struct net_nl *nl, const char *ifname,
		       struct rtnl_link *change, const char **why)
{
	struct rtnl_link *l;
	int r;

	*why = NULL;
	r = get_link(nl, ifname, "link", &l);
	if (r < 0)
		return r;
	r = rtnl_link_change(nl->req, l, change, 0);
	rtnl_link_put(l);
	if (r < 0) {
		*why = nl_geterror(r);
		return nle_errno(r);
	}
	return 0;
}

int net_nl_set_up(struct net_nl *nl, const char *ifname, bool up)
{
	struct rtnl_link *c = rtnl_link_alloc();
	const char *why;
	int r;

	if (!c)
		return -ENOMEM;
	if (up)
		rtnl_link_set_flags(c, IFF_UP);
	else
		rtnl_link_unset_flags(c, IFF_UP);
	r = change_link(nl, ifname, c, &why);
	rtnl_link_put(c);
	if (r < 0 && why)
		va_err("netlink: cannot set %s %s: %s", ifname, up ? "up" : "down", why);
	return r;
}

int net_nl_set_mtu(struct net_nl *nl, const char *ifname, unsigned int mtu)
{
	struct rtnl_link *c = rtnl_link_alloc();
	const char *why;
	int r;

	if (!c)
		return -ENOMEM;
	rtnl_link_set_mtu(c, mtu);
	r = change_link(nl, ifname, c, &why);
	rtnl_link_put(c);
	if (r == -EINVAL)
		va_err("netlink: %s refuses MTU %u (outside its range)", ifname, mtu);
	else if (r < 0 && why)
		va_err("netlink: cannot set the MTU of %s to %u: %s", ifname, mtu, why);
	return r;
}

int net_nl_set_mac(struct net_nl *nl, const char *ifname,
		   const uint8_t mac[6])
{
	struct rtnl_link *c = rtnl_link_alloc();
	struct nl_addr *a = nl_addr_build(AF_LLC, mac, 6);
	const char *why;
	int r = -ENOMEM;

	if (c && a) {
		rtnl_link_set_addr(c, a);
		r = change_link(nl, ifname, c, &why);
		if (r < 0 && why)
			va_err("netlink: cannot set the MAC address of %s: %s",
			       ifname, why);
	}
	nl_addr_put(a);
	rtnl_link_put(c);
	return r;
}

int net_nl_set_bridge(struct net_nl *nl, const char *ifname,
		      const char *bridge)
{
	struct rtnl_link *br, *c;
	const char *why;
	int r, idx;

	r = get_link(nl, bridge, "bridge", &br);
	if (r < 0)
		return r;
	if (!rtnl_link_is_bridge(br)) {
		const char *kind = rtnl_link_get_type(br);

		va_err("netlink: %s is not a bridge (a %s device)", bridge,
		       kind ? kind : "plain");
		rtnl_link_put(br);
		return -ENOTSUP;
	}
	idx = rtnl_link_get_ifindex(br);
	rtnl_link_put(br);
	c = rtnl_link_alloc();
	if (!c)
		return -ENOMEM;
	rtnl_link_set_master(c, idx);
	r = change_link(nl, ifname, c, &why);
	rtnl_link_put(c);
	if (r < 0 && why)
		va_err("netlink: cannot add %s to bridge %s: %s", ifname, bridge, why);
	return r;
}

/* Report st to the watcher if it differs from what it saw last. */
static void report(struct net_nl *nl, const struct net_link_state *st)
{
	if (st->up == nl->last.up && st->carrier == nl->last.carrier &&
	    st->operstate == nl->last.operstate && st->mtu == nl->last.mtu &&
	    st->gone == nl->last.gone)
		return;
	nl->last = *st;
	nl->cb(st, nl->opaque);
}

static void event_obj(struct nl_object *obj, void *arg)
{
	struct net_nl *nl = arg;
	struct rtnl_link *l = (struct rtnl_link *)obj;
	struct net_link_state st;

	if (rtnl_link_get_ifindex(l) != nl->ifindex)
		return;
	/*
	 * Only the link's own messages.  A bridge sends RTM_NEWLINK and
	 * RTM_DELLINK of family AF_BRIDGE about its ports (a port's STP
	 * state, leaving the bridge): they carry no IFLA_CARRIER, and a
	 * DELLINK there does not mean the link is gone.
	 */
	if (rtnl_link_get_family(l) != AF_UNSPEC)
		return;
	fill_state(l, &st);
	st.gone = nl_object_get_msgtype(obj) == RTM_DELLINK;
	report(nl, &st);
}

static int event_msg(struct nl_msg *msg, void *arg)
{
	nl_msg_parse(msg, event_obj, arg);
	return NL_OK;
}

/* Read the watched link's state afresh (start, or events were lost). */
static int resync(struct net_nl *nl, struct net_link_state *st)
{
	struct rtnl_link *l;
	int r = rtnl_link_get_kernel(nl->req, nl->ifindex, NULL, &l);

	if (r < 0) {
		r = nle_errno(r);
		if (r != -ENODEV)
			return r;
		*st = nl->last;
		st->gone = true;
		return 0;
	}
	fill_state(l, st);
	rtnl_link_put(l);
	return 0;
}

int net_nl_watch(struct net_nl *nl, const char *ifname, net_link_cb cb,
		 void *opaque, struct net_link_state *st)
{
	int r;

	if (nl->ev || strlen(ifname) >= sizeof(nl->ifname))
		return -EINVAL;
	r = connect_route(&nl->ev);
	if (r < 0)
		goto fail;
	nl_socket_disable_seq_check(nl->ev);
	nl_socket_modify_cb(nl->ev, NL_CB_VALID, NL_CB_CUSTOM, event_msg, nl);
	r = nl_socket_add_membership(nl->ev, RTNLGRP_LINK);
	if (r >= 0)
		r = nl_socket_set_nonblocking(nl->ev);
	if (r < 0) {
		r = nle_errno(r);
		goto fail;
	}
	/* Subscribed first: a change after this read is an event. */
	r = net_nl_get_state(nl, ifname, st);
	if (r < 0)
		goto fail_quiet;
	strcpy(nl->ifname, ifname);
	nl->ifindex = st->ifindex;
	nl->last = *st;
	nl->cb = cb;
	nl->opaque = opaque;
	return nl_socket_get_fd(nl->ev);
fail:
	va_log_errno(VA_LOG_ERR, r, "netlink: cannot follow the state of %s", ifname);
fail_quiet:
	nl_socket_free(nl->ev);
	nl->ev = NULL;
	return r;
}

int net_nl_dispatch(struct net_nl *nl)
{
	struct net_link_state st;
	struct nl_cb *cb;
	int r;

	if (!nl->ev)
		return -EINVAL;
	/* nl_recvmsgs_report: messages handled, 0 once the socket is empty. */
	cb = nl_socket_get_cb(nl->ev);
	while ((r = nl_recvmsgs_report(nl->ev, cb)) > 0)
		;
	nl_cb_put(cb);
	if (r == -NLE_AGAIN)
		r = 0;
	if (r == -NLE_NOMEM) {	/* ENOBUFS: the socket overflowed */
		va_warn("netlink: link events of %s lost; reading its state",
			nl->ifname);
		r = resync(nl, &st);
		if (r < 0)
			return va_log_errno(VA_LOG_ERR, r, "netlink: cannot read %s",
					    nl->ifname);
		report(nl, &st);
		return 0;
	}
	return r < 0 ? nle_errno(r) : 0;
}

/* IFLA_LINKINFO of a RTM_NEWLINK reply -> struct net_tun_info. */
static int tun_info_msg(struct nl_msg *msg, void *arg)
{
	struct net_tun_info *ti = arg;
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
	struct nlattr *td[IFLA_TUN_MAX + 1];

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct ifinfomsg), tb, IFLA_MAX,
			NULL) < 0 || !tb[IFLA_LINKINFO] ||
	    nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) < 0 ||
	    !li[IFLA_INFO_KIND] ||
	    strcmp(nla_get_string(li[IFLA_INFO_KIND]), "tun"))
		return NL_SKIP;
	ti->is_tun = true;
	if (!li[IFLA_INFO_DATA] ||
	    nla_parse_nested(td, IFLA_TUN_MAX, li[IFLA_INFO_DATA], NULL) < 0 ||
	    !td[IFLA_TUN_TYPE] || !td[IFLA_TUN_MULTI_QUEUE] ||
	    !td[IFLA_TUN_PERSIST])
		return NL_SKIP;
	ti->known = true;
	ti->tap = nla_get_u8(td[IFLA_TUN_TYPE]) == IFF_TAP;
	ti->multi_queue = nla_get_u8(td[IFLA_TUN_MULTI_QUEUE]);
	ti->persist = nla_get_u8(td[IFLA_TUN_PERSIST]);
	ti->queues = td[IFLA_TUN_NUM_QUEUES] ?
		(int)nla_get_u32(td[IFLA_TUN_NUM_QUEUES]) : -1;
	return NL_OK;
}

int net_nl_tun_info(const char *ifname, struct net_tun_info *ret)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nl_sock *sk;
	struct nl_msg *msg;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = connect_route(&sk);
	if (r < 0)
		return r;
	msg = nlmsg_alloc_simple(RTM_GETLINK, 0);
	if (!msg) {
		nl_socket_free(sk);
		return -ENOMEM;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, tun_info_msg, ret);
	r = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	if (r >= 0)
		r = nla_put_string(msg, IFLA_IFNAME, ifname);
	if (r >= 0)
		r = nl_send_sync(sk, msg);	/* frees msg; waits for the ACK */
	else
		nlmsg_free(msg);
	nl_socket_free(sk);
	return r < 0 ? nle_errno(r) : 0;
}
