/* SPDX-License-Identifier: MIT */
/*
 * The xen back-end of the Argo access layer: real Xen Argo through the
 * argo char device of module virtio_argo_core (/dev/argo, ABI in
 * virtio-argo/argo-dev.h).
 *
 * The connection's fd is the char device itself: it polls readable when
 * one of our rings holds data or VIRQ_ARGO fired (message or space
 * wake-up); VA_ARGODEV_ACK clears the event bits.  Rings are the kernel's
 * ring pages mapped read-write; argo.c reads them in place and writes
 * rx_ptr.  The kernel checks that sendv's source port is one of ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "argo-priv.h"
#include "log.h"
#include "virtio-argo/argo-dev.h"

struct xen_argo {
	struct va_argo a;
};

struct xen_ring {
	struct va_ring r;
	size_t map_size;
};

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
	close(a->fd);
	free(a);
}

static int xen_ack(struct va_argo *a)
{
	uint32_t ev;

	xioctl(a->fd, VA_ARGODEV_ACK, &ev);
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
	err = xioctl(a->fd, VA_ARGODEV_REGISTER, &reg);
	if (err < 0)
		goto err_free;
	xr->map_size = reg.mmap_size;
	map = mmap(NULL, xr->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   a->fd, (off_t)reg.mmap_offset);
	if (map == MAP_FAILED) {
		err = -errno;
		goto err_unregister;
	}
	xr->r.hdr = map;
	*ret = &xr->r;
	return 0;

err_unregister:
	xioctl(a->fd, VA_ARGODEV_UNREGISTER, &unreg);
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

	err = xioctl(r->argo->fd, VA_ARGODEV_UNREGISTER, &unreg);
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
	return xioctl(a->fd, VA_ARGODEV_SENDV, &s);
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
	err = xioctl(a->fd, VA_ARGODEV_NOTIFY, &req);
	for (i = 0; err >= 0 && i < n; i++) {
		ents[i].flags = x[i].flags;
		ents[i].max_message_size = x[i].max_message_size;
	}
	free(x);
	return err < 0 ? err : 0;
}

static int xen_domain_exists(struct va_argo *a, uint16_t domid)
{
	(void)domid;
	return xioctl(a->fd, VA_ARGODEV_DOMAIN_EXISTS, NULL);
}

/*
 * A registered ring stays alive until va_argo_unregister_ring() frees it.
 * Known gap: the char device does not yet report a ring that Xen removed
 * because its partner domain died (daemons see -ECONNREFUSED on replies).
 */
static bool xen_ring_alive(const struct va_ring *r)
{
	(void)r;
	return true;
}

static const struct va_argo_ops xen_ops = {
	.close = xen_close,
	.ack = xen_ack,
	.register_ring = xen_register_ring,
	.unregister_ring = xen_unregister_ring,
	.sendv = xen_sendv,
	.notify = xen_notify,
	.domain_exists = xen_domain_exists,
	.ring_alive = xen_ring_alive,
};

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
	/* The kernel knows its domid in dom0 or from its domid= parameter. */
	x->a.self_domid = info.self_domid != VA_ARGO_DOMID_ANY ?
			  info.self_domid : opts->self_domid;
	x->a.fd = fd;
	*ret = &x->a;
	return 0;

err_close:
	close(fd);
	return err;
}
