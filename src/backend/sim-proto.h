/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol between libvirtio-argo's sim back-end (argo-sim.c) and
 * the simulator (src/sim/sim.c), over a SOCK_STREAM Unix socket.
 *
 * Every frame, in both directions, is a struct va_sim_hdr followed by
 * hdr.len body bytes (host byte order: both ends are on one machine).
 * The client sends one request and reads its one reply before sending the
 * next: there is never more than one request outstanding per connection,
 * and the simulator sends nothing unsolicited.  Events travel on the side:
 * at ATTACH the client passes an eventfd (SCM_RIGHTS) that the simulator
 * writes to play VIRQ_ARGO (message delivered, queued wake-up satisfied,
 * a ring removed, the set of domains changed).
 *
 * Rings are memfds created by the client, sized to whole pages
 * (64-byte header + len, rounded up), passed with REGISTER and mapped by
 * both; the simulator writes messages and tx_ptr, the client rx_ptr.  When
 * the simulator removes a ring on its own (partner destroyed, domain
 * destroyed), it sets VA_SIM_RING_DEAD in the header's reserved word
 * (struct va_argo_ring.reserved[0..3]) before signalling: that word is the
 * simulator's and is never read by Xen-mode code.
 *
 * The same word carries VA_SIM_RING_WAITERS while senders wait for space
 * in the ring (Xen's pending list for it is not empty): only then can the
 * owner's NOTIFY wake anyone, so a NOTIFY without entries is skipped
 * while none of the caller's rings has the bit.  Both sides fence: the
 * owner stores rx_ptr, fences, then reads the word; the simulator sets
 * the bit, fences, then reads rx_ptr once more before it answers -EAGAIN
 * (or queues a NOTIFY wake-up), so a wake-up is never lost.
 *
 * Bounds: a request body is at most VA_SIM_MAX_BODY bytes (a sendv of the
 * largest Argo message plus its fixed part); the simulator drops a client
 * that announces more, sends a malformed frame, or pipelines requests.
 * Until its ATTACH succeeds a connection may send only that one frame,
 * of exactly VA_SIM_ATTACH_BODY bytes, and must send it within the
 * simulator's attach timeout; any other header is dropped before its body
 * is read (see sim.c for the per-uid limit on such connections).
 */
#ifndef VA_BACKEND_SIM_PROTO_H
#define VA_BACKEND_SIM_PROTO_H

#include <stdint.h>

#include "virtio-argo/argo-ring.h"

#define VA_SIM_MAGIC		0x56415349u	/* "VASI" */
#define VA_SIM_VERSION		1u

enum va_sim_op {
	VA_SIM_OP_ATTACH = 1,		/* va_sim_attach (+ eventfd unless CONTROL) */
	VA_SIM_OP_REGISTER = 2,		/* va_sim_register + memfd */
	VA_SIM_OP_UNREGISTER = 3,	/* va_sim_unregister */
	VA_SIM_OP_SENDV = 4,		/* va_sim_sendv + payload */
	VA_SIM_OP_NOTIFY = 5,		/* va_sim_notify + nent entries; reply same */
	VA_SIM_OP_DOMAIN_EXISTS = 6,	/* va_sim_domain; status 1 or 0 */
	VA_SIM_OP_DOMAIN_CREATE = 7,	/* control: va_sim_domain */
	VA_SIM_OP_DOMAIN_DESTROY = 8,	/* control: va_sim_domain */
	VA_SIM_OP_DOMAIN_LIST = 9,	/* control: reply body = uint16_t domids */
};

struct va_sim_hdr {
	uint32_t len;			/* body bytes after this header */
	uint16_t op;			/* enum va_sim_op; reply: same op */
	uint16_t flags;			/* 0 */
	int32_t status;			/* reply: >= 0 result or -errno */
	uint32_t seq;			/* echoed in the reply */
};

#define VA_SIM_ATTACH_CREATE	(1u << 0)	/* create domid if absent */
#define VA_SIM_ATTACH_CONTROL	(1u << 1)	/* control connection, no domain */

struct va_sim_attach {
	uint32_t magic;
	uint16_t version;
	uint16_t domid;
	uint32_t flags;
	uint32_t pad;
};

struct va_sim_register {
	uint32_t port;
	uint16_t partner;
	uint16_t pad;
	uint32_t len;			/* ring data bytes */
	uint32_t pad2;
};

struct va_sim_unregister {
	uint32_t port;
	uint16_t partner;
	uint16_t pad;
};

struct va_sim_sendv {
	uint32_t src_port;
	uint16_t src_dom;		/* own domid or VA_ARGO_DOMID_ANY */
	uint16_t dst_dom;
	uint32_t dst_port;
	uint32_t message_type;
	/* payload follows: hdr.len - sizeof(struct va_sim_sendv) bytes */
};

struct va_sim_notify {
	uint32_t nent;			/* <= VA_ARGO_MAX_NOTIFY_COUNT */
	uint32_t pad;
};

struct va_sim_notify_ent {
	uint32_t port;
	uint16_t domid;
	uint16_t flags;			/* out */
	uint32_t space_required;
	uint32_t max_message_size;	/* out */
};

struct va_sim_domain {
	uint16_t domid;
	uint16_t pad;
	uint32_t pad2;
};

/* The simulator's word in the ring header's reserved area. */
#define VA_SIM_RING_DEAD	(1u << 0)
#define VA_SIM_RING_WAITERS	(1u << 1)	/* the owner's NOTIFY is needed */

/* The one body size an ATTACH has; before attach nothing else is read. */
#define VA_SIM_ATTACH_BODY	((uint32_t)sizeof(struct va_sim_attach))
#define VA_SIM_MAX_BODY \
	((uint32_t)sizeof(struct va_sim_sendv) + VA_ARGO_MAX_MSG_SIZE)
#define VA_SIM_MAX_DOMAINS	(VA_ARGO_DOMID_MAX + 1u)

_Static_assert(sizeof(struct va_sim_hdr) == 16, "sim hdr");
_Static_assert(sizeof(struct va_sim_attach) == 16, "sim attach");
_Static_assert(sizeof(struct va_sim_register) == 16, "sim register");
_Static_assert(sizeof(struct va_sim_sendv) == 16, "sim sendv");
_Static_assert(sizeof(struct va_sim_notify_ent) == 16, "sim notify ent");

/* Bytes of the memfd backing a ring of `len` data bytes. */
static inline uint64_t va_sim_ring_map_size(uint32_t len)
{
	return (uint64_t)va_argo_ring_npages(len) * VA_ARGO_PAGE_SIZE;
}

#endif /* VA_BACKEND_SIM_PROTO_H */
