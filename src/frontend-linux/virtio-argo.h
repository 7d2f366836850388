/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio_argo: a virtio transport whose device lives in another Xen domain
 * and is reached only through Argo messages.  No memory is shared with the
 * backend and no guest address ever leaves this domain.
 *
 * Model (like virtio_mmio, but every register access is a message):
 *
 *  - One virtio device per entry of the "devices" parameter
 *    (virtio_argo.devices=<backend-domid>:<port>[:<local-port>][,...]),
 *    or per directory virtio-argo/<n> in this domain's XenStore subtree
 *    (devices=xenstore, virtio-argo-xs.c), whose values may change: the
 *    device then moves (vargo_move(), vargo_follow()).
 *    For each, an Argo ring (self, local port, partner = backend domid) is
 *    registered through the argo core (the local port is the device's port
 *    unless given: a domain serving itself needs two), DEVICE_INFO tells
 *    the device id, and a virtio device is
 *    registered.  The probe is retried with backoff until the backend
 *    answers (or sends HELLO).
 *  - Every virtio_config_ops member is a control round trip (GET/SET_CONFIG
 *    with generation, GET/SET_DEVICE_STATUS, GET_DEV_FEATURES,
 *    SET_DRV_FEATURES, GET/SET/RESET_VQUEUE), serialised by op_lock.
 *  - The vrings are ordinary split vrings in this domain's memory
 *    (vring_create_virtqueue) and this transport acts as their device:
 *    notify() only queues kick_work (it may run in atomic context); the
 *    worker walks the avail ring (vring-walk.c, bounded), gathers the
 *    device-readable bytes into one REQUEST message and sends it.  The
 *    backend's RESPONSE is validated, copied into the device-writable
 *    buffers, the used ring is filled and vring_interrupt() is called with
 *    bottom halves disabled.  Only a backend RESPONSE completes a request:
 *    virtio_blk takes an unwritten status byte for success.
 *  - Except for the few queues whose stock driver spins on the CPU until
 *    its buffer is used (vargo_busy_waited(): virtio_console's control and
 *    console output, virtio_net's controlq): their notify() sends the
 *    request and polls our Argo ring for the answer itself, bounded by
 *    VARGO_POLL_TIMEOUT_MS, since no work item can run on a CPU that
 *    spins (and with one vCPU, none anywhere).
 *  - The parent device (a platform device per virtio device) has our own
 *    dma_map_ops whose "DMA addresses" are kernel virtual addresses of the
 *    linear map, so descriptor addresses mean the same on PV (where the
 *    default ops return machine addresses) and on HVM/PVH.
 *  - Every request stays in vd->inflight (submission order) until its
 *    RESPONSE.  A backend restart (HELLO, or any record with a new device
 *    session) schedules reneg_work: DEVICE_INFO, reset, the same status
 *    bits, features and queue sizes, then every in-flight request is sent
 *    again with the same id.  The virtio driver does not notice.
 *  - A move (XenStore named another backend domid, port or local port)
 *    is a restart with a new address: reneg_work first registers a ring
 *    towards the new backend if the partner or local port differ, swaps
 *    it in and unregisters the old one (vargo_follow), then renegotiates
 *    and replays as above.  vd->ring, domid, port and local_port change
 *    only there (or in probe_work before the device is active), where no
 *    sender runs: kick_work shares the ordered workqueue, config ops and
 *    renegotiation hold op_lock.  They change under vd->lock, so readers
 *    holding it see one address.  A polled notify (which runs outside
 *    both) takes the address under vd->lock only while the link is up,
 *    and counts itself in polled_users until it is done with it; the
 *    link is down during a move, and vargo_follow() waits for that count
 *    to reach 0 before the old ring goes.
 *  - Replies that fail validation are dropped and counted; after
 *    VARGO_MAX_VIOLATIONS the device is marked broken (virtio_break_device).
 *
 * Locking: op_lock (mutex) serialises config ops and renegotiation;
 * ctrl_lock (mutex) one control round trip; vd->lock (spinlock, irqsave)
 * protects the control slot, in-flight tables and lists, the used rings
 * and counters; cb_lock is held around vring_interrupt() so that
 * synchronize_cbs() can wait for callbacks.  kick_work and reneg_work run
 * on one ordered workqueue per device, so requests are sent in order and
 * never concurrently with a replay.
 */
#ifndef VARGO_VIRTIO_ARGO_H
#define VARGO_VIRTIO_ARGO_H

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/sched/mm.h>
#include <linux/mm.h>
#include <linux/log2.h>
#include <linux/random.h>
#include <linux/workqueue.h>
#include <linux/completion.h>
#include <linux/platform_device.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/uio.h>
#include <linux/virtio_ids.h>
#include <uapi/linux/virtio_blk.h>
#include <uapi/linux/virtio_net.h>
#include <linux/delay.h>
#include <linux/ktime.h>
#include <xen/xen.h>
#include <xen/interface/sched.h>
#include <asm/xen/hypercall.h>

#include "argo-core.h"
#include "vring-walk.h"

#define VARGO_MAX_DEVICES		16
#define VARGO_MAX_VIOLATIONS	16u
#define VARGO_CTRL_TIMEOUT		(5 * HZ)
/*
 * A reply the device holds until the I/O it dropped has ended (a reset,
 * a queue reset, DEVICE_INFO: docs/protocol.md 11.1); a slow disk may take
 * this long, and going on before it would let old writes land late.
 */
#define VARGO_FENCE_TIMEOUT	(30 * HZ)
#define VARGO_PROBE_BACKOFF_MIN	(HZ / 2)
#define VARGO_PROBE_BACKOFF_MAX	(30 * HZ)
/*
 * The longest wait for room in the device's ring: a device that keeps its
 * ring full is then handled as one that does not answer.
 */
#define VARGO_SEND_TIMEOUT		(5 * HZ)
/*
 * A device that has answered nothing for this long while it owes answers
 * is probed by a renegotiation (vargo_watch_work()).
 */
#define VARGO_SILENT_MAX		(20 * HZ)
/*
 * Requests wait hold_s seconds (module parameter, vargo_hold_s) for a
 * device that cannot be reached (its ring gone, full or silent, its
 * renegotiation failing) before they are completed with an error.  The
 * default suits a backend that restarts in its domain; a deployment whose
 * driver domain is re-created raises it above that domain's boot time.
 * A request replayed VARGO_MAX_REPLAYS times without an answer is failed
 * too.
 */
#define VARGO_HOLD_S_DEFAULT		20u
#define VARGO_HOLD_S_MAX		86400u
extern unsigned int vargo_hold_s;
#define VARGO_MAX_REPLAYS		8u
/* After this long without a violation burst, recovery starts at once. */
#define VARGO_RECOVER_QUIET	(60 * HZ)
/*
 * A queue whose driver spins on the CPU for its used buffers is answered
 * inside notify (vargo_kick_polled): it waits this long for the device,
 * looking at the ring every VARGO_POLL_DELAY_US, at most VARGO_POLL_BATCH
 * requests at a time.  Far below the kernel's soft-lockup (20 s) and RCU
 * stall (21 s) limits: it may run with interrupts off.
 */
#define VARGO_POLL_TIMEOUT_MS	2000u
#define VARGO_POLL_DELAY_US	2
#define VARGO_POLL_BATCH		8u
#define VARGO_VRING_MAX		256u	/* local vring size cap */
#define VARGO_DMA_MAX_SEG		(128u * 1024)
#define VARGO_CTRL_BODY_MAX	(sizeof(struct va_config) + VA_MAX_CONFIG_XFER)

struct vargo_dev;

/* Where a device is: the backend's domid and port, our ring's port. */
struct vargo_addr {
	u16 domid;
	u32 port;
	u32 local_port;
};

/* One request in flight: the message as sent (kept for replay) and the
 * chain's segments (the device-writable ones receive the reply).
 */
struct vargo_req {
	struct list_head node;		/* vd->inflight, submission order */
	struct vargo_vq *q;
	struct vargo_chain chain;		/* chain.segs points into this alloc */
	u32 msg_len;
	u8 *msg;			/* va_hdr + va_request + sizes + data */
	unsigned int refs;		/* under vd->lock: list + replay pins */
	u32 replay_seq;			/* under vd->lock */
	unsigned int replays;		/* under vd->lock */
};

struct vargo_vq {
	struct vargo_dev *vd;
	struct virtqueue *vq;
	const struct vring *vr;
	u16 index;			/* protocol queue index */
	u16 num;
	u16 last_avail;			/* kick_work, or notify if polled */
	u16 used_idx;			/* under vd->lock */
	struct vargo_req **inflight;	/* by head; num entries */
	struct vargo_seg *scratch;	/* num entries, whoever walks the queue */
	/*
	 * The driver waits for this queue's used buffers by spinning on the
	 * CPU (vargo_busy_waited()): its chains are sent and answered inside
	 * notify (vargo_kick_polled), never by kick_work.
	 */
	bool polled;
};

struct vargo_stats {
	u64 requests;
	u64 responses;
	u64 replayed;
	u64 renegotiations;
	u64 dropped;			/* stray traffic */
	u64 stale;			/* records of an old device session */
	u64 violations;
	u64 recoveries;			/* renegotiations after violations */
	u64 failed;			/* chains completed with an error */
	u64 polled;			/* requests answered inside notify */
	u64 poll_timeouts;		/* ... or failed there, unanswered */
	u64 moves;			/* new addresses followed (XenStore) */
};

struct vargo_dev {
	struct virtio_device vdev;
	struct platform_device *pdev;
	unsigned int idx;
	u16 domid;
	u32 port;			/* the device's (destination, source check) */
	u32 local_port;			/* our ring's (source of our messages) */
	struct vargo_kring *ring;	/* NULL until the first vargo_follow() */
	struct vargo_addr want;		/* under lock: where to move */
	bool moving;			/* under lock: want is not reached yet */
	unsigned int polled_users;	/* under lock: polled notifies running */
	wait_queue_head_t polled_wq;	/* woken when polled_users drops to 0 */

	u32 session;			/* ours, fixed for the device's life */
	u32 dev_session;		/* the device's, from DEVICE_INFO */
	u32 old_sessions[4];		/* recently retired device sessions */
	unsigned int nr_old;
	struct va_device_info info;	/* as received (little endian) */

	struct mutex op_lock;		/* config ops, renegotiation */
	struct mutex ctrl_lock;		/* one control round trip */
	struct completion ctrl_done;
	spinlock_t lock;		/* see "Locking" above */
	spinlock_t cb_lock;		/* held around vring_interrupt() */

	/* Control slot, under lock. */
	bool ctrl_waiting;
	u8 ctrl_msg_id;
	u32 ctrl_token;
	int ctrl_err;
	u32 ctrl_session;
	u32 ctrl_len;
	u8 ctrl_body[VARGO_CTRL_BODY_MAX];

	/* Driver-visible state, under op_lock. */
	u8 status;
	u64 features;
	u32 generation;			/* also written by rx (EVENT_CONFIG) */
	/*
	 * The device's config space as last read, which get() serves: under
	 * lock; refreshed (under op_lock) when config_stale.
	 */
	u8 config[VA_MAX_CONFIG_SIZE];
	bool config_valid;
	bool config_stale;

	struct vargo_vq *vqs[VA_MAX_QUEUES];
	struct list_head inflight;
	struct list_head dead;		/* freed requests awaiting vargo_reap() */
	bool link_up;			/* under lock: send requests now */
	u64 rx_kicked;			/* under lock: for vargo_rx_flush() */
	bool rx_config_changed;		/* under lock: for vargo_rx_flush() */
	u32 replay_seq;
	bool active;			/* under lock: restarts mean reneg */
	bool registered;		/* register_virtio_device succeeded */
	bool dev_initialized;		/* register_virtio_device was called */
	bool stopping;			/* under lock: queue no more work */
	/*
	 * Set (under lock, then vargo_argo_wake_senders()) to make every wait
	 * for ring space give up: while stopping, and while del_vqs flushes.
	 */
	bool cancel_sends;
	bool ctrl_gone;			/* stopping and a control timed out */
	/*
	 * Under lock: complete chains with an error instead of sending them
	 * (stopping, broken, or unreachable for hold_s seconds).
	 */
	bool failing;
	unsigned long down_since;	/* under lock: jiffies, link_up lost */
	unsigned long last_heard;	/* under lock: jiffies, last answer */
	unsigned long recover_delay;	/* under lock */
	unsigned long last_recover;	/* under lock: jiffies */
	bool broken;
	bool break_done;		/* virtio_break_device called */
	unsigned int violations;
	struct vargo_stats stats;

	struct workqueue_struct *wq;
	struct work_struct kick_work;
	struct delayed_work reneg_work;
	struct delayed_work probe_work;
	struct delayed_work watch_work;
	unsigned long backoff;
};

static inline struct vargo_dev *to_vargo(struct virtio_device *vdev)
{
	return container_of(vdev, struct vargo_dev, vdev);
}

extern unsigned int vargo_ring_len;

/* virtio-argo-main.c */
void *vargo_xlate(void *ctx, u64 addr, u32 len);
void vargo_dev_destroy(struct vargo_dev *vd);
int vargo_addr_check(const struct vargo_addr *a);
int vargo_dev_add(unsigned int idx, const struct vargo_addr *a, bool ring_now);
struct vargo_dev *vargo_dev_get(unsigned int idx);

/* virtio-argo-xs.c */
int vargo_xs_init(void);
void vargo_xs_exit(void);

/* virtio-argo-ctrl.c */
void vargo_fill_hdr(struct vargo_dev *vd, struct va_hdr *h, u8 msg_id,
		    u16 queue, u32 token, u32 len);
int vargo_send(struct vargo_dev *vd, const struct kvec *iov,
	       unsigned int niov);
void vargo_cancel_waits(struct vargo_dev *vd);
void vargo_mark_broken(struct vargo_dev *vd, const char *why);
void vargo_link_down(struct vargo_dev *vd);
void vargo_violation(struct vargo_dev *vd, const char *what, int err);
void vargo_schedule_reneg(struct vargo_dev *vd, unsigned long delay);
void vargo_foreign_session(struct vargo_dev *vd, u32 s);
int vargo_ctrl(struct vargo_dev *vd, u8 msg_id, u16 queue, const void *req,
	       u32 req_len, const void *data, u32 data_len, void *resp,
	       u32 resp_max, u32 *ret_len);
int vargo_ctrl_fixed(struct vargo_dev *vd, u8 msg_id, u16 queue,
		     const void *req, u32 req_len, void *resp,
		     u32 resp_len);
int vargo_device_info(struct vargo_dev *vd, struct va_device_info *ret);
int vargo_set_status_raw(struct vargo_dev *vd, u8 status, u8 *ret_status);
int vargo_set_features_raw(struct vargo_dev *vd, u64 features);
int vargo_set_vqueue(struct vargo_dev *vd, u16 index, u32 size, bool enable);

/* virtio-argo-data.c */
void vargo_req_put(struct vargo_dev *vd, struct vargo_req *r);
void vargo_reap(struct vargo_dev *vd);
void vargo_drop_inflight(struct vargo_dev *vd, struct vargo_vq *q);
int vargo_lookup(void *ctx, u16 queue, u32 token, u32 *ret_in_len);
bool vargo_is_blk(const struct vargo_dev *vd);
void vargo_chain_zero_from(const struct vargo_chain *c, u32 from);
void vargo_used_add(struct vargo_dev *vd, struct vargo_vq *q, u16 head, u32 len);
bool vargo_chain_failable(const struct vargo_chain *c);
void vargo_fail_req(struct vargo_dev *vd, struct vargo_req *r);
void vargo_deliver(struct vargo_dev *vd, u64 kicked);
void vargo_kick_work(struct work_struct *work);
bool vargo_notify(struct virtqueue *vq);

/* virtio-argo-rx.c */
void vargo_interrupts(struct vargo_dev *vd, u64 kicked);
void vargo_rx(void *priv, u16 src_domid, u32 src_port, u32 type,
	      const void *data, u32 len);
void vargo_rx_flush(struct vargo_dev *vd);
void vargo_rx_drained(void *priv);

/* virtio-argo-config.c */
bool vargo_busy_waited(const struct vargo_dev *vd, u16 index, u16 nr_queues);
void vargo_del_vqs(struct virtio_device *vdev);
extern const struct virtio_config_ops vargo_config_ops;

/* virtio-argo-reneg.c */
void vargo_reneg_work(struct work_struct *work);
void vargo_watch_work(struct work_struct *work);
int vargo_follow(struct vargo_dev *vd);
bool vargo_move(struct vargo_dev *vd, const struct vargo_addr *to);

#endif /* VARGO_VIRTIO_ARGO_H */
