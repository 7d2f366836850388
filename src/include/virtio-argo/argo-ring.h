/* SPDX-License-Identifier: MIT */
/*
 * Xen Argo ring layout and ring arithmetic.
 *
 * The layout is Xen 4.17's public/argo.h ABI, written out here under our own
 * names (Linux 6.1 ships no Argo header).  The arithmetic reproduces the
 * rules of xen/common/argo.c so that every reader of a ring (the kernel
 * transport, the user-space backends, the simulator that writes rings in
 * place of Xen) uses one tested implementation:
 *
 *   - the ring is a 64-byte header {rx_ptr, tx_ptr, reserved} followed by
 *     `len` data bytes; len is a multiple of 16, 48 <= len, and the ring
 *     with its header spans at most 4096 pages (so len <= 16 MiB - 64);
 *   - messages occupy 16-byte slots: a 16-byte header (len includes the
 *     header) whose slot never wraps, then the payload, which may wrap at
 *     the end of the data area;
 *   - only the hypervisor writes tx_ptr, only the ring owner writes rx_ptr;
 *     rx == tx means empty;
 *   - a payload of n bytes is accepted only while ROUNDUP16(n) + 16 is
 *     strictly less than the free space, so the ring is never completely
 *     full (which would be indistinguishable from empty);
 *   - the largest payload a ring takes is len - 32.
 *
 * No libc and no kernel headers (but <linux/math64.h> in the kernel, see
 * va_argo_mod64): plain values in, plain values out.
 * Memory ordering on rx_ptr/tx_ptr is the caller's business (acquire when
 * loading the peer's pointer, release when publishing one's own).
 */
#ifndef VIRTIO_ARGO_ARGO_RING_H
#define VIRTIO_ARGO_ARGO_RING_H

#include "protocol.h"

#define VA_ARGO_HYPERCALL		39	/* __HYPERVISOR_argo_op */
#define VA_ARGO_VIRQ			11	/* VIRQ_ARGO, global, vCPU 0 */
#define VA_ARGO_OP_REGISTER_RING	1
#define VA_ARGO_OP_UNREGISTER_RING	2
#define VA_ARGO_OP_SENDV		3
#define VA_ARGO_OP_NOTIFY		4
#define VA_ARGO_REGISTER_FLAG_FAIL_EXIST 0x1u

#define VA_ARGO_DOMID_ANY		0x7ff4u	/* DOMID_INVALID: wildcard */
#define VA_ARGO_DOMID_MAX		0x7fefu	/* DOMID_FIRST_RESERVED - 1 */
#define VA_ARGO_MAX_IOV			8u
#define VA_ARGO_SLOT			16u
#define VA_ARGO_RING_HDR_SIZE		64u
#define VA_ARGO_MSG_HDR_SIZE		16u
#define VA_ARGO_PAGE_SIZE		4096u
#define VA_ARGO_MAX_RING_SIZE		0x1000000u	/* Xen's bound on len (data bytes) */
#define VA_ARGO_MAX_RING_PAGES		4096u
#define VA_ARGO_MIN_RING_LEN		48u
#define VA_ARGO_MAX_RINGS_PER_DOMAIN	128u
#define VA_ARGO_MAX_PENDING_PER_RING	32u
#define VA_ARGO_MAX_NOTIFY_COUNT	256u
#define VA_ARGO_MAX_MSG_SIZE		(VA_ARGO_MAX_RING_SIZE - 32u)

/* notify flags (out) */
#define VA_ARGO_RING_EXISTS		(1u << 0)
#define VA_ARGO_RING_SHARED		(1u << 1)
#define VA_ARGO_RING_EMPTY		(1u << 2)
#define VA_ARGO_RING_SUFFICIENT		(1u << 3)
#define VA_ARGO_RING_EMSGSIZE		(1u << 4)
#define VA_ARGO_RING_EBUSY		(1u << 5)

struct va_argo_addr {
	va_u32 aport;
	va_u16 domain_id;
	va_u16 pad;
};

struct va_argo_ring {
	va_u32 rx_ptr;			/* written by the ring owner */
	va_u32 tx_ptr;			/* written by the hypervisor */
	va_u8 reserved[56];
	va_u8 ring[];
};

struct va_argo_msg_hdr {
	va_u32 len;			/* payload + 16 */
	struct va_argo_addr source;
	va_u32 message_type;
};

/* Hypercall argument structures (Xen ABI), used by the kernel core. */
struct va_argo_iov {
	va_u64 iov_hnd;			/* guest virtual address */
	va_u32 iov_len;
	va_u32 pad;
};

struct va_argo_send_addr {
	struct va_argo_addr src;
	struct va_argo_addr dst;
};

struct va_argo_register_ring {
	va_u32 aport;
	va_u16 partner_id;
	va_u16 pad;
	va_u32 len;
};

struct va_argo_unregister_ring {
	va_u32 aport;
	va_u16 partner_id;
	va_u16 pad;
};

struct va_argo_ring_data_ent {
	struct va_argo_addr ring;
	va_u16 flags;
	va_u16 pad;
	va_u32 space_required;
	va_u32 max_message_size;
};

struct va_argo_ring_data {
	va_u32 nent;
	va_u32 pad;
	struct va_argo_ring_data_ent data[];
};

VA_STATIC_ASSERT(sizeof(struct va_argo_addr) == 8, "argo addr");
VA_STATIC_ASSERT(sizeof(struct va_argo_ring) == 64, "argo ring header");
VA_STATIC_ASSERT(sizeof(struct va_argo_msg_hdr) == 16, "argo message header");
VA_STATIC_ASSERT(sizeof(struct va_argo_iov) == 16, "argo iov");
VA_STATIC_ASSERT(sizeof(struct va_argo_register_ring) == 12, "argo register");
VA_STATIC_ASSERT(sizeof(struct va_argo_ring_data_ent) == 20, "argo ring data ent");
VA_STATIC_ASSERT(sizeof(struct va_argo_ring_data) == 8, "argo ring data");

/*
 * x mod m.  A 32-bit kernel cannot use the compiler's u64 division (Arm's
 * __aeabi_uldivmod is not exported to modules), so the kernel build goes
 * through div_u64_rem(); user space uses the operator.
 */
#ifdef __KERNEL__
#include <linux/math64.h>

static inline va_u32 va_argo_mod64(va_u64 x, va_u32 m)
{
	va_u32 rem;

	div_u64_rem(x, m, &rem);
	return rem;
}
#else
static inline va_u32 va_argo_mod64(va_u64 x, va_u32 m)
{
	return (va_u32)(x % m);
}
#endif

static inline va_u64 va_argo_roundup16(va_u64 x)
{
	return (x + (VA_ARGO_SLOT - 1)) & ~(va_u64)(VA_ARGO_SLOT - 1);
}

/* Pages needed for a ring of `len` data bytes, header included. */
static inline va_u32 va_argo_ring_npages(va_u32 len)
{
	return (va_u32)((va_argo_roundup16(len) + VA_ARGO_RING_HDR_SIZE +
			 VA_ARGO_PAGE_SIZE - 1) / VA_ARGO_PAGE_SIZE);
}

/* Ring data length that exactly fills `npages` pages. */
static inline va_u32 va_argo_ring_len_for_pages(va_u32 npages)
{
	return npages * VA_ARGO_PAGE_SIZE - VA_ARGO_RING_HDR_SIZE;
}

/* Xen's register_ring checks on len (and npages == npages(len)). */
static inline int va_argo_ring_len_valid(va_u32 len)
{
	return len >= VA_ARGO_MIN_RING_LEN && len <= VA_ARGO_MAX_RING_SIZE &&
	       (len % VA_ARGO_SLOT) == 0 &&
	       va_argo_ring_npages(len) <= VA_ARGO_MAX_RING_PAGES;
}

/* Largest payload a ring of `len` data bytes can ever take. */
static inline va_u32 va_argo_ring_max_payload(va_u32 len)
{
	return len < 2 * VA_ARGO_SLOT ? 0 : len - 2 * VA_ARGO_SLOT;
}

/* Xen's sanitising of the owner-written rx_ptr. */
static inline va_u32 va_argo_sanitize_rx(va_u32 rx, va_u32 len)
{
	va_u64 r = va_argo_roundup16(rx);

	return r >= len ? 0 : (va_u32)r;
}

/* Free bytes as the writer sees them (rx == tx: the whole ring). */
static inline va_u32 va_argo_ring_space(va_u32 rx, va_u32 tx, va_u32 len)
{
	if (rx == tx)
		return len;
	return rx > tx ? rx - tx : len - tx + rx;
}

/* Bytes written and not yet consumed, as the reader sees them. */
static inline va_u32 va_argo_ring_used(va_u32 rx, va_u32 tx, va_u32 len)
{
	return tx >= rx ? tx - rx : len - rx + tx;
}

/* Would Xen accept a payload of `payload` bytes now?  (ringbuf_insert) */
static inline int va_argo_ring_fits(va_u32 rx, va_u32 tx, va_u32 len,
				    va_u64 payload)
{
	return va_argo_roundup16(payload) + VA_ARGO_MSG_HDR_SIZE <
	       va_argo_ring_space(rx, tx, len);
}

/* Xen's size check: -EMSGSIZE if a payload can never fit this ring. */
static inline int va_argo_ring_too_big(va_u32 len, va_u64 payload)
{
	return (va_u64)len <= VA_ARGO_MSG_HDR_SIZE + va_argo_roundup16(payload);
}

/* Position after a message of `msg_len` bytes (header included) at `pos`. */
static inline va_u32 va_argo_ring_advance(va_u32 pos, va_u64 msg_len,
					  va_u32 len)
{
	return va_argo_mod64(va_argo_roundup16(pos + msg_len), len);
}

/*
 * Split `n` bytes at `pos` (< len) into at most two runs of the data area:
 * [pos, pos+*ret_n1) and, if it wraps, [0, *ret_n2).  n <= len.
 */
static inline void va_argo_ring_split(va_u32 pos, va_u32 n, va_u32 len,
				      va_u32 *ret_n1, va_u32 *ret_n2)
{
	va_u32 first = len - pos;

	if (n <= first) {
		*ret_n1 = n;
		*ret_n2 = 0;
	} else {
		*ret_n1 = first;
		*ret_n2 = n - first;
	}
}

/* Copy n bytes out of the data area starting at pos, wrapping. */
static inline void va_argo_ring_copy_out(const va_u8 *data, va_u32 len,
					 va_u32 pos, void *dst, va_u32 n)
{
	va_u32 n1, n2;

	va_argo_ring_split(pos, n, len, &n1, &n2);
	__builtin_memcpy(dst, data + pos, n1);
	if (n2)
		__builtin_memcpy((va_u8 *)dst + n1, data, n2);
}

/* Copy n bytes into the data area starting at pos, wrapping; returns the
 * position after the last byte (mod len). */
static inline va_u32 va_argo_ring_copy_in(va_u8 *data, va_u32 len, va_u32 pos,
					  const void *src, va_u32 n)
{
	va_u32 n1, n2;

	va_argo_ring_split(pos, n, len, &n1, &n2);
	__builtin_memcpy(data + pos, src, n1);
	if (n2)
		__builtin_memcpy(data, (const va_u8 *)src + n1, n2);
	return va_argo_mod64((va_u64)pos + n, len);
}

enum va_argo_peek {
	VA_ARGO_PEEK_CORRUPT = -1,	/* tx/rx or a header is impossible */
	VA_ARGO_PEEK_EMPTY = 0,
	VA_ARGO_PEEK_MSG = 1,
};

/*
 * Look at the message at rx.  rx is the reader's own (private) pointer,
 * tx the loaded tx_ptr.  On VA_ARGO_PEEK_MSG *ret_hdr holds the header and
 * the payload (ret_hdr->len - 16 bytes) starts at (rx + 16) % len.
 * Bounds: the header was checked to lie within the written region, so the
 * payload never reaches past tx (the argument the OpenXT driver makes).
 */
static inline enum va_argo_peek
va_argo_ring_peek(const va_u8 *data, va_u32 len, va_u32 rx, va_u32 tx,
		  struct va_argo_msg_hdr *ret_hdr)
{
	va_u32 avail;

	if (rx >= len || tx >= len || (rx % VA_ARGO_SLOT) || (tx % VA_ARGO_SLOT))
		return VA_ARGO_PEEK_CORRUPT;
	if (rx == tx)
		return VA_ARGO_PEEK_EMPTY;
	avail = va_argo_ring_used(rx, tx, len);
	if (avail < VA_ARGO_MSG_HDR_SIZE)
		return VA_ARGO_PEEK_CORRUPT;
	/* A header never wraps: rx is 16-aligned and len a multiple of 16. */
	__builtin_memcpy(ret_hdr, data + rx, sizeof(*ret_hdr));
	if (ret_hdr->len < VA_ARGO_MSG_HDR_SIZE || ret_hdr->len > avail)
		return VA_ARGO_PEEK_CORRUPT;
	return VA_ARGO_PEEK_MSG;
}

/*
 * The hypervisor's side (used by the simulator): write a message at tx.
 * The caller has checked va_argo_ring_fits(); returns the new tx.
 * Payload is given as up to VA_ARGO_MAX_IOV runs.
 */
struct va_argo_run {
	const void *base;
	va_u32 len;
};

static inline va_u32 va_argo_ring_insert(va_u8 *data, va_u32 len, va_u32 tx,
					 const struct va_argo_msg_hdr *hdr,
					 const struct va_argo_run *runs,
					 unsigned int nruns)
{
	va_u32 pos;
	unsigned int i;

	__builtin_memcpy(data + tx, hdr, sizeof(*hdr));
	pos = (tx + VA_ARGO_MSG_HDR_SIZE) % len;
	for (i = 0; i < nruns; i++)
		if (runs[i].len)
			pos = va_argo_ring_copy_in(data, len, pos, runs[i].base,
						   runs[i].len);
	return va_argo_ring_advance(tx, hdr->len, len);
}

#endif /* VIRTIO_ARGO_ARGO_RING_H */
