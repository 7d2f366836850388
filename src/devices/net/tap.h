/* SPDX-License-Identifier: MIT */
/*
 * The TAP side of virtio-argo-netd: one TAP interface, one non-blocking fd
 * per virtio-net queue pair, frames read and written together with their
 * virtio-net header (12 bytes: struct virtio_net_hdr_v1, the virtio 1.x
 * layout with num_buffers).
 *
 * Opening: a TAP that does not exist is created (and vanishes when the
 * last fd closes); an existing persistent TAP (ip tuntap add ...) is used
 * as it is, provided it is a TAP and its multi_queue flag fits the queue
 * count.  With more than one queue pair the TAP must be (and is created)
 * IFF_MULTI_QUEUE; tun then spreads received frames over the fds.
 *
 * Frames: net_tap_read() reads one frame into the caller's buffers (with
 * MRG_RXBUF, several guest buffers: the header must fit in the first);
 * tun writes the first 10 header bytes and skips num_buffers, which the
 * caller fills in.  net_tap_write() sends one frame (header then data) the
 * guest transmitted; tun checks the header and does the guest's checksum
 * and segmentation requests itself, so transmit offloads need no set-up.
 * Receive offloads (what tun may hand to the guest: partial checksums,
 * TSO frames) follow the guest's GUEST_* features: net_tap_set_offload().
 *
 * Errors are logged once with the TAP's name (a missing /dev/net/tun, no
 * permission, a TAP in use, a TUN device or a multi-queue mismatch) and
 * returned as -errno.
 */
#ifndef VA_NET_TAP_H
#define VA_NET_TAP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* tun's limit on the fds of one multi-queue TAP (MAX_TAP_QUEUES). */
#define NET_TAP_MAX_QUEUES	256u
/* Buffers of one frame read (a 64 KiB GSO frame in 1.5 KiB buffers). */
#define NET_TAP_MAX_IOV		64
/* The virtio-net header on every frame (struct virtio_net_hdr_v1). */
#define NET_TAP_HDR_LEN		12u

struct net_tap;

/*
 * Open (or create) TAP `name` with `queues` fds (1..NET_TAP_MAX_QUEUES),
 * each non-blocking, close-on-exec, with a 12-byte vnet header and no
 * receive offloads.  Returns 0 or -errno (logged): -ENOENT no
 * /dev/net/tun, -EPERM/-EACCES no permission, -EBUSY the TAP is in use,
 * -EINVAL name too long, not a TAP, or multi_queue does not fit.
 */
int net_tap_open(const char *name, unsigned int queues, struct net_tap **ret);
/* Close every fd (a TAP that this call did not find persistent goes). */
void net_tap_close(struct net_tap *t);

const char *net_tap_name(const struct net_tap *t);
unsigned int net_tap_queues(const struct net_tap *t);
/* The fd of queue pair `pair` (< net_tap_queues), for the event loop:
 * readable when a frame waits for the guest. */
int net_tap_fd(const struct net_tap *t, unsigned int pair);
/* True if the TAP existed (persistent) before net_tap_open. */
bool net_tap_existed(const struct net_tap *t);

/*
 * Read one frame from queue pair `pair` into iov[0..iovcnt), header first
 * (iov[0] must hold NET_TAP_HDR_LEN bytes; at most NET_TAP_MAX_IOV
 * buffers).  Returns the frame's length
 * with its header, -EAGAIN when none waits, -EMSGSIZE when the frame was
 * larger than the buffers (then it is lost: the caller counts it), or
 * another -errno.  num_buffers (header bytes 10-11) is left to the caller.
 */
ssize_t net_tap_read(struct net_tap *t, unsigned int pair,
		     const struct iovec *iov, int iovcnt);
/*
 * Write one frame (header first, then the Ethernet frame, in any split)
 * to queue pair `pair`.  Returns 0, -EAGAIN when the TAP's queue is full
 * (retry when the fd is writable), -EINVAL when tun refused the header or
 * frame (malformed: the caller drops and counts it), or another -errno.
 */
int net_tap_write(struct net_tap *t, unsigned int pair,
		  const struct iovec *iov, int iovcnt);

/*
 * Attach (enable) or detach queue `pair`'s fd from a multi-queue TAP
 * (TUNSETQUEUE): tun spreads received frames over the attached ones
 * only, so a queue pair the driver does not use gets none.  0 or -errno
 * (logged).  A single-queue TAP: no-op.
 */
int net_tap_set_queue(struct net_tap *t, unsigned int pair, bool enable);

/*
 * TUNSETOFFLOAD flags for the negotiated virtio-net feature bits
 * (1 << VIRTIO_NET_F_*): GUEST_CSUM gives TUN_F_CSUM; GUEST_TSO4/TSO6,
 * GUEST_ECN and GUEST_UFO count only with GUEST_CSUM, and GUEST_ECN only
 * with a TSO bit, as virtio (5.1.3.1) and tun require.
 */
unsigned int net_tap_offload_flags(uint64_t features);
/* Apply net_tap_offload_flags(features) to the TAP.  0 or -errno. */
int net_tap_set_offload(struct net_tap *t, uint64_t features);

#endif /* VA_NET_TAP_H */
