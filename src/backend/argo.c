/* SPDX-License-Identifier: MIT */
/*
 * Argo access, the common part (argo.h): transport choice, dispatch to the
 * sim or xen back-end, the ring list, and the ring reader shared by both
 * back-ends.
 *
 * The reader follows the ring rules of argo-ring.h.  Ordering: tx_ptr is
 * loaded with acquire semantics before any message byte is read, and rx_ptr
 * is stored with release semantics after the last byte of the consumed
 * message was read, so the writer never overwrites bytes still in use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "argo-priv.h"
#include "log.h"
#include "va-config.h"

int va_transport_parse(const char *s, enum va_transport *ret)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "auto"))
		*ret = VA_TRANSPORT_AUTO;
	else if (!strcmp(s, "sim"))
		*ret = VA_TRANSPORT_SIM;
	else if (!strcmp(s, "xen"))
		*ret = VA_TRANSPORT_XEN;
	else
		return -EINVAL;
	return 0;
}

const char *va_transport_name(enum va_transport t)
{
	switch (t) {
	case VA_TRANSPORT_AUTO:
		return "auto";
	case VA_TRANSPORT_SIM:
		return "sim";
	case VA_TRANSPORT_XEN:
		return "xen";
	}
	return "?";
}

const char *va_sim_socket_path(const char *opt)
{
	const char *env;

	if (opt && *opt)
		return opt;
	env = getenv(VA_SIM_SOCKET_ENV);
	if (env && *env)
		return env;
	return VA_SIM_SOCKET_DEFAULT;
}

static bool xen_available(void)
{
	return access(VA_ARGO_DEV_DEFAULT, F_OK) == 0;
}

int va_argo_open(const struct va_argo_opts *opts, struct va_argo **ret)
{
	enum va_transport t = opts->transport;

	if (t == VA_TRANSPORT_AUTO)
		t = xen_available() ? VA_TRANSPORT_XEN : VA_TRANSPORT_SIM;
	switch (t) {
	case VA_TRANSPORT_SIM:
		return va_argo_sim_open(opts, ret);
	case VA_TRANSPORT_XEN:
		return va_argo_xen_open(opts, ret);
	default:
		return -EINVAL;
	}
}

void va_argo_close(struct va_argo *a)
{
	if (!a)
		return;
	while (a->rings)
		va_argo_unregister_ring(a->rings);
	a->ops->close(a);
}

enum va_transport va_argo_transport(const struct va_argo *a)
{
	return a->transport;
}

uint16_t va_argo_self_domid(const struct va_argo *a)
{
	return a->self_domid;
}

int va_argo_fd(const struct va_argo *a)
{
	return a->fd;
}

int va_argo_ack(struct va_argo *a)
{
	return a->ops->ack(a);
}

int va_argo_register_ring(struct va_argo *a, uint32_t port, uint16_t partner,
			  uint32_t len, struct va_ring **ret)
{
	struct va_ring *r;
	int err;

	if (!va_argo_ring_len_valid(len) || partner > VA_ARGO_DOMID_MAX)
		return -EINVAL;
	err = a->ops->register_ring(a, port, partner, len, &r);
	if (err < 0)
		return err;
	r->argo = a;
	r->port = port;
	r->partner = partner;
	r->len = len;
	r->rx = 0;
	r->peeked = false;
	r->next = a->rings;
	a->rings = r;
	*ret = r;
	return 0;
}

void va_argo_unregister_ring(struct va_ring *r)
{
	struct va_ring **pp;

	if (!r)
		return;
	for (pp = &r->argo->rings; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->argo->ops->unregister_ring(r);
}

ssize_t va_argo_sendv(struct va_argo *a, uint32_t src_port, uint16_t dst_dom,
		      uint32_t dst_port, const struct iovec *iov,
		      unsigned int niov, uint32_t message_type)
{
	return a->ops->sendv(a, src_port, dst_dom, dst_port, iov, niov,
			     message_type);
}

int va_argo_notify(struct va_argo *a, struct va_argo_query *ents, unsigned int n)
{
	if (n > VA_ARGO_MAX_NOTIFY_COUNT || (n && !ents))
		return -EINVAL;
	return a->ops->notify(a, ents, n);
}

int va_argo_domain_exists(struct va_argo *a, uint16_t domid)
{
	return a->ops->domain_exists(a, domid);
}

int va_argo_domain_lookup(struct va_argo *a, const char *name,
			  uint16_t *ret_domid)
{
	if (!name || !*name)
		return -EINVAL;
	if (!a->ops->domain_lookup)
		return -EOPNOTSUPP;
	return a->ops->domain_lookup(a, name, ret_domid);
}

uint32_t va_ring_port(const struct va_ring *r)
{
	return r->port;
}

uint16_t va_ring_partner(const struct va_ring *r)
{
	return r->partner;
}

uint32_t va_ring_len(const struct va_ring *r)
{
	return r->len;
}

bool va_ring_alive(const struct va_ring *r)
{
	return r->argo->ops->ring_alive(r);
}

int va_ring_peek(struct va_ring *r, struct va_ring_msg *ret)
{
	const uint8_t *data = r->hdr->ring;
	uint32_t tx, pos, n;
	enum va_argo_peek p;

	tx = __atomic_load_n(&r->hdr->tx_ptr, __ATOMIC_ACQUIRE);
	p = va_argo_ring_peek(data, r->len, r->rx, tx, &ret->hdr);
	if (p == VA_ARGO_PEEK_EMPTY) {
		r->peeked = false;
		return 0;
	}
	if (p != VA_ARGO_PEEK_MSG) {
		r->peeked = false;
		return -EBADMSG;
	}
	/* hdr.len <= used(rx, tx) <= len - 16 (checked by the peek), so the
	 * payload n < len and the split yields two in-bounds runs. */
	n = ret->hdr.len - VA_ARGO_MSG_HDR_SIZE;
	pos = (r->rx + VA_ARGO_MSG_HDR_SIZE) % r->len;
	va_argo_ring_split(pos, n, r->len, &ret->n1, &ret->n2);
	ret->p1 = data + pos;
	ret->p2 = ret->n2 ? data : NULL;
	r->next_rx = va_argo_ring_advance(r->rx, ret->hdr.len, r->len);
	r->peeked = true;
	return 1;
}

void va_ring_consume(struct va_ring *r)
{
	if (!r->peeked)
		return;
	r->rx = r->next_rx;
	r->peeked = false;
	__atomic_store_n(&r->hdr->rx_ptr, r->rx, __ATOMIC_RELEASE);
}

void va_ring_msg_copy(const struct va_ring_msg *m, uint32_t off, void *dst,
		      uint32_t n)
{
	uint8_t *d = dst;
	uint32_t k;

	/* Callers stay within n1 + n2; clamp anyway so a bad caller copies
	 * less rather than reading outside the runs. */
	if (off < m->n1) {
		k = m->n1 - off < n ? m->n1 - off : n;
		memcpy(d, m->p1 + off, k);
		d += k;
		n -= k;
		off = 0;
	} else {
		off -= m->n1;
	}
	if (n && off < m->n2) {
		k = m->n2 - off < n ? m->n2 - off : n;
		memcpy(d, m->p2 + off, k);
	}
}
