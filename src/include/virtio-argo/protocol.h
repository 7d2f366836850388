/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo wire protocol, version 1.
 *
 * This header is the single definition of the protocol spoken between a
 * virtio-argo driver (the guest transport, in the kernel or in user space)
 * and a virtio-argo device (a backend daemon).  docs/protocol.md is the
 * prose specification; tests/unit/test-protocol.c checks that the two agree.
 *
 * It is shared by the Linux kernel module and user space, so it depends on
 * nothing but the compiler: no libc, no kernel headers.  Every multi-byte
 * field on the wire is little-endian; the va_le*() accessors below convert.
 * All structures have natural alignment and no implicit padding; their sizes
 * are asserted at the end of this file.
 *
 * Framing, in one paragraph: every Argo message carries VA_ARGO_MSG_TYPE in
 * Argo's own message_type field.  Its payload is a batch of one or more
 * records; each record is a struct va_hdr followed by hdr.len body bytes,
 * and the next record starts at the next multiple of VA_RECORD_ALIGN.
 */
#ifndef VIRTIO_ARGO_PROTOCOL_H
#define VIRTIO_ARGO_PROTOCOL_H

#ifdef __KERNEL__
#include <linux/types.h>
typedef __u8 va_u8;
typedef __u16 va_u16;
typedef __u32 va_u32;
typedef __u64 va_u64;
#else
typedef __UINT8_TYPE__ va_u8;
typedef __UINT16_TYPE__ va_u16;
typedef __UINT32_TYPE__ va_u32;
typedef __UINT64_TYPE__ va_u64;
#endif

/* Little-endian wire types: distinct names so that a missing conversion
 * stands out in review (and to sparse in the kernel build). */
typedef va_u16 va_le16;
typedef va_u32 va_le32;
typedef va_u64 va_le64;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define va_cpu_to_le16(x) __builtin_bswap16(x)
#define va_cpu_to_le32(x) __builtin_bswap32(x)
#define va_cpu_to_le64(x) __builtin_bswap64(x)
#else
#define va_cpu_to_le16(x) ((va_u16)(x))
#define va_cpu_to_le32(x) ((va_u32)(x))
#define va_cpu_to_le64(x) ((va_u64)(x))
#endif
#define va_le16_to_cpu(x) va_cpu_to_le16(x)
#define va_le32_to_cpu(x) va_cpu_to_le32(x)
#define va_le64_to_cpu(x) va_cpu_to_le64(x)

/* ------------------------------------------------------------------ */
/* Framing                                                             */
/* ------------------------------------------------------------------ */

/*
 * Argo message_type: the magic "va" in the upper 16 bits, the protocol
 * version in the lower 16.  A message whose upper half differs is stray
 * traffic and is dropped before any parsing.  A message with the right magic
 * and an unsupported version is answered with VA_ERR_VERSION (section 4 of
 * docs/protocol.md).
 */
#define VA_ARGO_MAGIC		0x7661u
#define VA_PROTOCOL_VERSION	1u
#define VA_ARGO_MSG_TYPE_V(v)	((va_u32)((VA_ARGO_MAGIC << 16) | ((v) & 0xffffu)))
#define VA_ARGO_MSG_TYPE	VA_ARGO_MSG_TYPE_V(VA_PROTOCOL_VERSION)
#define VA_ARGO_TYPE_MAGIC(t)	((va_u32)(t) >> 16)
#define VA_ARGO_TYPE_VERSION(t)	((va_u32)(t) & 0xffffu)

/* Records inside one Argo message start at multiples of this. */
#define VA_RECORD_ALIGN		8u
#define VA_RECORD_SPAN(body_len) \
	(((va_u64)sizeof(struct va_hdr) + (body_len) + VA_RECORD_ALIGN - 1) & \
	 ~(va_u64)(VA_RECORD_ALIGN - 1))

/* Every record starts with this header. */
struct va_hdr {
	va_u8 msg_id;		/* VA_MSG_* */
	va_u8 flags;		/* VA_F_* */
	va_le16 queue;		/* virtqueue index (data plane, vqueue msgs), else 0 */
	va_le32 session;	/* the sender's session id, never 0 */
	va_le32 token;		/* request id / control token, echoed in the reply */
	va_le32 len;		/* body bytes that follow this header */
};

#define VA_F_RESPONSE	0x01u	/* this record answers a record with the same token */
#define VA_F_ERROR	0x02u	/* with VA_F_RESPONSE: body is struct va_error */
#define VA_F_KNOWN	(VA_F_RESPONSE | VA_F_ERROR)

/* ------------------------------------------------------------------ */
/* Message ids                                                         */
/* ------------------------------------------------------------------ */

/* Control plane: ids and meanings follow virtio-msg. */
#define VA_MSG_DEVICE_INFO		0x02
#define VA_MSG_GET_DEV_FEATURES		0x03
#define VA_MSG_SET_DRV_FEATURES		0x04
#define VA_MSG_GET_CONFIG		0x05
#define VA_MSG_SET_CONFIG		0x06
#define VA_MSG_GET_DEVICE_STATUS	0x07
#define VA_MSG_SET_DEVICE_STATUS	0x08
#define VA_MSG_GET_VQUEUE		0x09
#define VA_MSG_SET_VQUEUE		0x0a
#define VA_MSG_RESET_VQUEUE		0x0b
#define VA_MSG_EVENT_CONFIG		0x40	/* device -> driver, no reply */

/* Bus range 0x80-0xff: the Argo bus's own messages. */
#define VA_MSG_HELLO			0x80	/* device -> driver, no reply */
#define VA_MSG_REQUEST			0x81	/* driver -> device */
#define VA_MSG_RESPONSE			0x82	/* device -> driver */

/* Error codes carried in struct va_error. */
#define VA_ERR_INVALID		1	/* malformed body, bad length or field */
#define VA_ERR_UNSUPPORTED	2	/* unknown message id */
#define VA_ERR_RANGE		3	/* index/offset out of range */
#define VA_ERR_STATE		4	/* not allowed in the device's current state */
#define VA_ERR_VERSION		5	/* protocol version not supported */
#define VA_ERR_BUSY		6	/* queue full, or no room: try again later */
#define VA_ERR_NEEDS_RESET	7	/* device is in NEEDS_RESET; only reset is accepted */
#define VA_ERR_TOO_BIG		8	/* the reply would not fit the driver's ring */

/* virtio device status bits (virtio 1.x, 2.1). */
#define VA_STATUS_ACKNOWLEDGE	0x01u
#define VA_STATUS_DRIVER	0x02u
#define VA_STATUS_DRIVER_OK	0x04u
#define VA_STATUS_FEATURES_OK	0x08u
#define VA_STATUS_NEEDS_RESET	0x40u
#define VA_STATUS_FAILED	0x80u

#define VA_F_VERSION_1_BIT	32	/* the only non-device feature a device offers */

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

#define VA_MAX_QUEUES		64u	/* virtqueues per device */
#define VA_MAX_QUEUE_SIZE	32768u	/* virtio's own limit */
#define VA_MAX_CONFIG_SIZE	256u	/* bytes of device config space */
#define VA_MAX_CONFIG_XFER	VA_MAX_CONFIG_SIZE
#define VA_MAX_IN_SEGS		256u	/* device-writable segments per request */
#define VA_FEATURE_BLOCKS	2u	/* 128 feature bits */

/* Argo ring size limits (Xen 4.17). */
#define VA_RING_LEN_MIN		4032u		/* 1 page  - 64 */
#define VA_RING_LEN_MAX		(16u * 1024 * 1024 - 64)
#define VA_RING_LEN_DEFAULT	(4u * 1024 * 1024 - 64)

/* Default Argo ports of the devices (the guest's ring uses the same port). */
#define VA_PORT_BLK_DEFAULT	0x5641b000u
#define VA_PORT_NET_DEFAULT	0x5641e000u
#define VA_PORT_CONSOLE_DEFAULT	0x5641c000u

/* ------------------------------------------------------------------ */
/* Bodies                                                              */
/* ------------------------------------------------------------------ */

/* Error reply body: flags = VA_F_RESPONSE | VA_F_ERROR, same msg_id/token. */
struct va_error {
	va_le32 error;		/* VA_ERR_* */
	va_le32 detail;		/* VERSION: highest version supported; else 0 */
};

/* DEVICE_INFO request (driver -> device). */
struct va_device_info_req {
	va_le32 driver_ring_len;	/* data bytes of the driver's ring for this device */
	va_le32 reserved;		/* 0 */
};

/* DEVICE_INFO response. */
struct va_device_info {
	va_le32 device_id;		/* virtio device id: 2 blk, 1 net, 3 console */
	va_le32 vendor_id;
	va_le32 version_min;		/* protocol versions the device speaks */
	va_le32 version_max;
	va_le16 num_queues;		/* <= VA_MAX_QUEUES */
	va_le16 reserved0;
	va_le32 config_size;		/* <= VA_MAX_CONFIG_SIZE */
	va_le32 max_queue_size;		/* <= VA_MAX_QUEUE_SIZE */
	va_le32 device_ring_len;	/* data bytes of the device's ring */
	va_le32 max_request;		/* largest REQUEST body the device accepts */
	va_le32 reserved1;
};

/* GET_DEV_FEATURES request; SET_DRV_FEATURES request and both responses. */
struct va_features {
	va_le32 block;			/* bits 64*block .. 64*block+63 */
	va_le32 reserved;
	va_le64 bits;			/* GET request: 0 */
};

/* GET_CONFIG request: {generation ignored, offset, size, no data}.
 * GET_CONFIG response, SET_CONFIG request and response: followed by size
 * bytes of config data (the response to SET_CONFIG carries none). */
struct va_config {
	va_le32 generation;
	va_le32 offset;
	va_le32 size;			/* <= VA_MAX_CONFIG_XFER */
	va_le32 reserved;
};

/* GET/SET_DEVICE_STATUS: request (SET) and response (both). */
struct va_status {
	va_le32 status;			/* VA_STATUS_* bits; SET 0 = reset */
	va_le32 reserved;
};

/* GET/SET/RESET_VQUEUE: request and response.  No addresses: the vrings
 * live only in the driver's memory. */
struct va_vqueue {
	va_le32 index;			/* also in hdr.queue */
	va_le32 max_size;		/* response only */
	va_le32 size;			/* SET: requested size (power of 2 not required) */
	va_le32 enabled;		/* 0 or 1 */
};

/* EVENT_CONFIG (device -> driver): config space or device status changed. */
struct va_event_config {
	va_le32 generation;
	va_le32 status;			/* current device status */
};

/* HELLO (device -> driver): a device (re)started with hdr.session. */
struct va_hello {
	va_le32 device_id;
	va_le32 version_max;
};

/*
 * REQUEST (driver -> device): one virtqueue buffer chain.  hdr.queue is
 * the virtqueue, hdr.token the request id (unique among the driver's
 * requests in flight on that queue).  The body is this struct, then
 * nr_in le32 sizes of the device-writable segments, then out_len bytes
 * of device-readable data.
 */
struct va_request {
	va_le32 out_len;		/* device-readable bytes inline */
	va_le32 in_len;			/* sum of the device-writable segments */
	va_le16 nr_in;			/* <= VA_MAX_IN_SEGS */
	va_le16 reserved0;
	va_le32 reserved1;
};

/* RESPONSE (device -> driver): written bytes follow, written <= in_len. */
struct va_response {
	va_le32 written;
	va_le32 reserved;
};

/* ------------------------------------------------------------------ */
/* Layout checks                                                       */
/* ------------------------------------------------------------------ */

#define VA_STATIC_ASSERT(c, m) _Static_assert(c, m)
VA_STATIC_ASSERT(sizeof(struct va_hdr) == 16, "va_hdr");
VA_STATIC_ASSERT(sizeof(struct va_error) == 8, "va_error");
VA_STATIC_ASSERT(sizeof(struct va_device_info_req) == 8, "va_device_info_req");
VA_STATIC_ASSERT(sizeof(struct va_device_info) == 40, "va_device_info");
VA_STATIC_ASSERT(sizeof(struct va_features) == 16, "va_features");
VA_STATIC_ASSERT(sizeof(struct va_config) == 16, "va_config");
VA_STATIC_ASSERT(sizeof(struct va_status) == 8, "va_status");
VA_STATIC_ASSERT(sizeof(struct va_vqueue) == 16, "va_vqueue");
VA_STATIC_ASSERT(sizeof(struct va_event_config) == 8, "va_event_config");
VA_STATIC_ASSERT(sizeof(struct va_hello) == 8, "va_hello");
VA_STATIC_ASSERT(sizeof(struct va_request) == 16, "va_request");
VA_STATIC_ASSERT(sizeof(struct va_response) == 8, "va_response");

#endif /* VIRTIO_ARGO_PROTOCOL_H */
