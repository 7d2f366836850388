/* SPDX-License-Identifier: MIT */
/*
 * Argo access for user space: one interface, two back-ends.
 *
 *   sim  the virtio-argo-sim simulator (Unix socket, rings in memfds)
 *   xen  the argo char device of our kernel module (/dev/argo)
 *
 * A struct va_argo is what an open /dev/argo is on Xen: a connection to
 * the Argo service as one domain, owning the rings it registers.  Its fd
 * (va_argo_fd) becomes readable when the "virq" fires: a message arrived
 * in one of its rings, or space opened up in a ring it was waiting on, or
 * (sim) the set of domains changed.  Like VIRQ_ARGO it says nothing about
 * which ring: callers scan their rings.  va_argo_ack() clears it.
 *
 * Rings are read in place, in Xen's exact layout (argo-ring.h), whichever
 * back-end filled them.  All functions return 0 or a positive count on
 * success and a negative errno on failure, with Xen's codes for Argo
 * operations.
 */
#ifndef VA_BACKEND_ARGO_H
#define VA_BACKEND_ARGO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio-argo/argo-ring.h"

enum va_transport {
	VA_TRANSPORT_AUTO = 0,	/* xen if the char device exists, else sim */
	VA_TRANSPORT_SIM,
	VA_TRANSPORT_XEN,
};

/* The one documented default socket of the simulator, and its override. */
#define VA_SIM_SOCKET_DEFAULT	"/run/virtio-argo/sim.sock"
#define VA_SIM_SOCKET_ENV	"VIRTIO_ARGO_SIM_SOCKET"
#define VA_ARGO_DEV_DEFAULT	"/dev/argo"

struct va_argo_opts {
	enum va_transport transport;
	const char *sim_socket;		/* NULL: $VIRTIO_ARGO_SIM_SOCKET, else default */
	uint16_t self_domid;		/* sim: the domain to attach as */
	bool create_domain;		/* sim: create self_domid if it does not exist */
};

struct va_argo;
struct va_ring;

/* Parse "sim", "xen", "auto". */
int va_transport_parse(const char *s, enum va_transport *ret);
const char *va_transport_name(enum va_transport t);
/* The simulator socket path after the option/environment/default rule. */
const char *va_sim_socket_path(const char *opt);

int va_argo_open(const struct va_argo_opts *opts, struct va_argo **ret);
/* Unregisters every ring still registered, then closes.  NULL is fine. */
void va_argo_close(struct va_argo *a);

enum va_transport va_argo_transport(const struct va_argo *a);
uint16_t va_argo_self_domid(const struct va_argo *a);
int va_argo_fd(const struct va_argo *a);
/* Clear the fd's readiness.  Returns 0. */
int va_argo_ack(struct va_argo *a);

/*
 * Register a ring of `len` data bytes (va_argo_ring_len_valid) at `port`,
 * accepting messages only from `partner` (never the wildcard here).
 * -ESRCH: partner does not exist (yet).  -EEXIST: already registered.
 */
int va_argo_register_ring(struct va_argo *a, uint32_t port, uint16_t partner,
			  uint32_t len, struct va_ring **ret);
/* Unregister and free; NULL is fine. */
void va_argo_unregister_ring(struct va_ring *r);

/*
 * Send one message of up to VA_ARGO_MAX_IOV runs to (dst_dom, dst_port),
 * from our own domain at src_port.  Returns the payload length, or
 * -ECONNREFUSED (no such ring), -EAGAIN (full; the fd fires once the owner
 * frees space and notifies), -EMSGSIZE, -ESRCH, -EPERM, -EINVAL, -EBUSY.
 */
ssize_t va_argo_sendv(struct va_argo *a, uint32_t src_port, uint16_t dst_dom,
		      uint32_t dst_port, const struct iovec *iov,
		      unsigned int niov, uint32_t message_type);

/*
 * XEN_ARGO_OP_notify: tell the service we consumed (wakes blocked senders)
 * and, for each entry, query a remote ring: flags and max_message_size are
 * filled in; with space_required, SUFFICIENT or a queued wake-up.
 * ents may be NULL with n == 0.
 */
struct va_argo_query {
	uint16_t domid;
	uint32_t port;
	uint32_t space_required;
	uint16_t flags;			/* out: VA_ARGO_RING_* */
	uint32_t max_message_size;	/* out */
};
int va_argo_notify(struct va_argo *a, struct va_argo_query *ents, unsigned int n);

/*
 * Domain existence (the analogue of XenStore's @introduceDomain/@releaseDomain).
 * Returns 1 exists, 0 does not, negative errno when it cannot be told
 * (a driver domain without XenStore: callers fall back to retrying
 * registration on -ESRCH).
 */
int va_argo_domain_exists(struct va_argo *a, uint16_t domid);

/*
 * The domain that has this name now (XenStore's /local/domain/N/name; a
 * guest keeps its name across reboots, not its id).  0 and *ret_domid
 * set; -ENOENT if no live domain has it; -EOPNOTSUPP where names cannot
 * be resolved (the simulator, or Xen without XenStore access).  On Xen,
 * the fd also fires when a domain is introduced or released, so a caller
 * waiting for a name can look again then.
 */
int va_argo_domain_lookup(struct va_argo *a, const char *name,
			  uint16_t *ret_domid);

/* ---- reading a registered ring ---- */

uint32_t va_ring_port(const struct va_ring *r);
uint16_t va_ring_partner(const struct va_ring *r);
uint32_t va_ring_len(const struct va_ring *r);
/*
 * True while the ring is registered with the service.  The service removes
 * a ring when its partner domain is destroyed (as Xen does); va_ring_alive
 * turns false after the fd fired for that.
 */
bool va_ring_alive(const struct va_ring *r);

/*
 * Next message, in place.  Returns 1 and fills *ret_hdr and the payload's
 * one or two runs (the second non-empty only when the payload wraps);
 * 0 if the ring is empty; -EBADMSG if the ring is corrupt (never from a
 * correct service; the caller should re-register).  The runs stay valid
 * until va_ring_consume().
 */
struct va_ring_msg {
	struct va_argo_msg_hdr hdr;
	const uint8_t *p1;
	uint32_t n1;
	const uint8_t *p2;
	uint32_t n2;
};
int va_ring_peek(struct va_ring *r, struct va_ring_msg *ret);
/* Release the message returned by the last peek (publishes rx_ptr). */
void va_ring_consume(struct va_ring *r);
/* Copy a peeked message's payload bytes [off, off+n) into dst. */
void va_ring_msg_copy(const struct va_ring_msg *m, uint32_t off, void *dst,
		      uint32_t n);

#endif /* VA_BACKEND_ARGO_H */
