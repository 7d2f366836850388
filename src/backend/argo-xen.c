/* SPDX-License-Identifier: MIT */
/*
 * The xen back-end of the Argo access layer: real Xen Argo through the
 * argo char device of module virtio_argo_core (/dev/argo, ABI in
 * virtio-argo/argo-dev.h).
 *
 * The char device polls readable when one of our rings holds data or
 * VIRQ_ARGO fired (message or space wake-up); VA_ARGODEV_ACK clears the
 * event bits.  Rings are the kernel's ring pages mapped read-write; argo.c
 * reads them in place and writes rx_ptr.  The kernel checks that sendv's
 * source port is one of ours.
 *
 * Domains.  Xen tells a ring's owner nothing when it removes the ring
 * because the partner died, and Argo has no way to ask whether a domain
 * exists.  XenStore does: with access to it, the connection watches
 * @introduceDomain and @releaseDomain, its fd is an epoll set of the char
 * device and the XenStore watch fd, and after a release every ring whose
 * partner is no longer introduced turns dead (va_ring_alive).  Domain names
 * resolve through /local/domain/N/name.  That part is argo-xenstore.c, in
 * a library of its own, reached through va_xenstore_ops (argo-priv.h) in
 * the programs that link it (the daemons).
 * Without XenStore (unreachable, or not linked: the user-space guest) the
 * fd is the char device alone, existence is unknown and callers retry
 * registration on -ESRCH.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "argo-priv.h"
#include "log.h"
#include "virtio-argo/argo-dev.h"

struct xen_argo {
	struct va_argo a;
	int dev_fd;			/* /dev/argo */
	struct va_xenstore *xs;		/* NULL: no XenStore */
};

struct xen_ring {
	struct va_ring r;
	size_t map_size;
	bool dead;			/* the partner was released */
};

static inline struct xen_argo *to_xen(struct va_argo *a)
{
	return (struct xen_argo *)a;
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

static void xen_close(struct va_argo *a)
{
	struct xen_argo *x = to_xen(a);

	if (x->xs) {
		va_xenstore_ops.close(x->xs);
		close(a->fd);		/* the epoll set */
	}
	close(x->dev_fd);
	free(x);
}

static int xen_ack(struct va_argo *a)
{
	struct xen_argo *x = to_xen(a);
	struct va_ring *r;
	uint32_t ev;

	xioctl(x->dev_fd, VA_ARGODEV_ACK, &ev);
	if (!x->xs || !va_xenstore_ops.changed(x->xs))
		return 0;
	for (r = a->rings; r; r = r->next) {
		struct xen_ring *xr = (struct xen_ring *)r;

		if (!xr->dead && !va_xenstore_ops.alive(x->xs, r->partner)) {
			va_info("argo: dom%u released: ring port %#x dropped",
				r->partner, r->port);
			xr->dead = true;
		}
	}
	return 0;
}

static int xen_register_ring(struct va_argo *a, uint32_t port,
			     uint16_t partner, uint32_t len,
			     struct va_ring **ret)
{
	struct va_argodev_register reg = {
		.port = port, .partner = partner, .len = len,
	};
	struct va_argodev_unregister unreg = {
		.port = port, .partner = partner,
	};
	struct xen_ring *xr;
	void *map;
	int err;

	xr = calloc(1, sizeof(*xr));
	if (!xr)
		return -ENOMEM;
	err = xioctl(to_xen(a)->dev_fd, VA_ARGODEV_REGISTER, &reg);
	if (err < 0)
		goto err_free;
	xr->map_size = reg.mmap_size;
	map = mmap(NULL, xr->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   to_xen(a)->dev_fd, (off_t)reg.mmap_offset);
	if (map == MAP_FAILED) {
		err = -errno;
		goto err_unregister;
	}
	xr->r.hdr = map;
	*ret = &xr->r;
	return 0;

err_unregister:
	xioctl(to_xen(a)->dev_fd, VA_ARGODEV_UNREGISTER, &unreg);
err_free:
	free(xr);
	return err;
}

static void xen_unregister_ring(struct va_ring *r)
{
	struct xen_ring *xr = (struct xen_ring *)r;
	struct va_argodev_unregister unreg = {
		.port = r->port, .partner = r->partner,
	};
	int err;

	err = xioctl(to_xen(r->argo)->dev_fd, VA_ARGODEV_UNREGISTER, &unreg);
	/* -ENOENT: Xen removed it with its partner. */
	if (err < 0 && err != -ENOENT)
		va_warn("argo: unregister ring port %u partner %u: %s",
			r->port, r->partner, strerror(-err));
	munmap(r->hdr, xr->map_size);
	free(xr);
}

static ssize_t xen_sendv(struct va_argo *a, uint32_t src_port,
			 uint16_t dst_dom, uint32_t dst_port,
			 const struct iovec *iov, unsigned int niov,
			 uint32_t message_type)
{
	struct va_argodev_iov xiov[VA_ARGO_MAX_IOV];
	struct va_argodev_sendv s = {
		.src_port = src_port, .dst_port = dst_port,
		.dst_domid = dst_dom, .niov = niov,
		.iov = (uint64_t)(uintptr_t)xiov,
		.message_type = message_type,
	};
	unsigned int i;

	if (niov > VA_ARGO_MAX_IOV)
		return -EINVAL;
	for (i = 0; i < niov; i++) {
		if (iov[i].iov_len > UINT32_MAX)
			return -EMSGSIZE;
		xiov[i].base = (uint64_t)(uintptr_t)iov[i].iov_base;
		xiov[i].len = (uint32_t)iov[i].iov_len;
		xiov[i].pad = 0;
	}
	return xioctl(to_xen(a)->dev_fd, VA_ARGODEV_SENDV, &s);
}

static int xen_notify(struct va_argo *a, struct va_argo_query *ents,
		      unsigned int n)
{
	struct va_argo_ring_data_ent *x = NULL;
	struct va_argodev_notify req = { .nent = n };
	unsigned int i;
	int err;

	if (n) {
		x = calloc(n, sizeof(*x));
		if (!x)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			x[i].ring.aport = ents[i].port;
			x[i].ring.domain_id = ents[i].domid;
			x[i].space_required = ents[i].space_required;
		}
		req.ents = (uint64_t)(uintptr_t)x;
	}
	err = xioctl(to_xen(a)->dev_fd, VA_ARGODEV_NOTIFY, &req);
	for (i = 0; err >= 0 && i < n; i++) {
		ents[i].flags = x[i].flags;
		ents[i].max_message_size = x[i].max_message_size;
	}
	free(x);
	return err < 0 ? err : 0;
}

static int xen_domain_exists(struct va_argo *a, uint16_t domid)
{
	struct xen_argo *x = to_xen(a);

	if (!x->xs)
		return -EOPNOTSUPP;
	return va_xenstore_ops.alive(x->xs, domid) ? 1 : 0;
}

static int xen_domain_lookup(struct va_argo *a, const char *name,
			     uint16_t *ret_domid)
{
	struct xen_argo *x = to_xen(a);

	if (!x->xs)
		return -EOPNOTSUPP;
	return va_xenstore_ops.lookup(x->xs, name, ret_domid);
}

/* Alive until its partner is released (XenStore) or it is unregistered. */
static bool xen_ring_alive(const struct va_ring *r)
{
	return !((const struct xen_ring *)r)->dead;
}

static const struct va_argo_ops xen_ops = {
	.close = xen_close,
	.ack = xen_ack,
	.register_ring = xen_register_ring,
	.unregister_ring = xen_unregister_ring,
	.sendv = xen_sendv,
	.notify = xen_notify,
	.domain_exists = xen_domain_exists,
	.domain_lookup = xen_domain_lookup,
	.ring_alive = xen_ring_alive,
};

/*
 * XenStore, if we can have it (see the file comment): watches on domain
 * introduction and release, and an epoll set of both fds as the
 * connection's fd.  Without it the connection works as before, with one
 * log line.
 */
static void xs_setup(struct xen_argo *x, bool dom0)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = -1;

	if (!&va_xenstore_ops) {
		va_debug("argo: built without XenStore: domains are waited "
			 "for by retrying");
		return;
	}
	x->xs = va_xenstore_ops.open(dom0, x->a.self_domid);
	if (!x->xs)
		return;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		goto fail;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, x->dev_fd, &ev) < 0)
		goto fail;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, va_xenstore_ops.fd(x->xs), &ev) < 0)
		goto fail;
	x->a.fd = ep;
	va_info("argo: XenStore watches on domain introduction and release");
	return;

fail:
	va_warn("argo: XenStore watches: %s; going on without XenStore",
		strerror(errno));
	if (ep >= 0)
		close(ep);
	va_xenstore_ops.close(x->xs);
	x->xs = NULL;
}

int va_argo_xen_open(const struct va_argo_opts *opts, struct va_argo **ret)
{
	struct va_argodev_info info;
	struct xen_argo *x;
	int fd, err;

	fd = open(VA_ARGO_DEV_DEFAULT, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		va_err("argo: open %s: %s (is virtio_argo_core loaded?)",
		       VA_ARGO_DEV_DEFAULT, strerror(-err));
		return err;
	}
	err = xioctl(fd, VA_ARGODEV_INFO, &info);
	if (err < 0)
		goto err_close;
	if (info.abi_version != VA_ARGODEV_ABI_VERSION) {
		va_err("argo: %s speaks ABI %u, we need %u", VA_ARGO_DEV_DEFAULT,
		       info.abi_version, VA_ARGODEV_ABI_VERSION);
		err = -EPROTO;
		goto err_close;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		err = -ENOMEM;
		goto err_close;
	}
	x->a.ops = &xen_ops;
	x->a.transport = VA_TRANSPORT_XEN;
	/*
	 * The kernel knows its domid in dom0 or from its domid= parameter;
	 * without it this is some other domain (VA_ARGO_DOMID_ANY), never
	 * taken for dom0 (blkd's cache mode depends on it).
	 */
	x->a.self_domid = info.self_domid;
	x->dev_fd = fd;
	x->a.fd = fd;
	xs_setup(x, info.self_domid == 0);
	*ret = &x->a;
	return 0;

err_close:
	close(fd);
	return err;
}
