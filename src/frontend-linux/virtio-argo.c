// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: a virtio transport whose device lives in another Xen domain
 * and is reached only through Argo messages.  No memory is shared with the
 * backend and no guest address ever leaves this domain.
 *
 * Model (like virtio_mmio, but every register access is a message):
 *
 *  - One virtio device per entry of the "devices" parameter
 *    (virtio_argo.devices=<backend-domid>:<port>[:<local-port>][,...]).
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
 *  - The parent device (a platform device per virtio device) has our own
 *    dma_map_ops whose "DMA addresses" are kernel virtual addresses of the
 *    linear map, so descriptor addresses mean the same on PV (where the
 *    default ops return machine addresses) and on HVM/PVH.
 *  - Every request stays in vd->inflight (submission order) until its
 *    RESPONSE.  A backend restart (HELLO, or any record with a new device
 *    session) schedules reneg_work: DEVICE_INFO, reset, the same status
 *    bits, features and queue sizes, then every in-flight request is sent
 *    again with the same id.  The virtio driver does not notice.
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
#include <xen/xen.h>

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
 * Requests wait this long for a device that does not answer (its ring
 * gone, full or silent) before they are completed with an error; so does
 * a request that has been replayed VARGO_MAX_REPLAYS times without an answer.
 */
#define VARGO_HOLD_MAX		(20 * HZ)
#define VARGO_MAX_REPLAYS		8u
/* After this long without a violation burst, recovery starts at once. */
#define VARGO_RECOVER_QUIET	(60 * HZ)
#define VARGO_VRING_MAX		256u	/* local vring size cap */
#define VARGO_DMA_MAX_SEG		(128u * 1024)
#define VARGO_CTRL_BODY_MAX	(sizeof(struct va_config) + VA_MAX_CONFIG_XFER)

static char *devices;
module_param(devices, charp, 0444);
MODULE_PARM_DESC(devices,
		 "Remote devices: <backend-domid>:<port>[:<local-port>][,...]");

static unsigned int ring_len = VA_RING_LEN_DEFAULT;
module_param(ring_len, uint, 0444);
MODULE_PARM_DESC(ring_len, "Data bytes of each device's Argo ring");

struct vargo_dev;

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
	u16 last_avail;			/* kick_work only */
	u16 used_idx;			/* under vd->lock */
	struct vargo_req **inflight;	/* by head; num entries */
	struct vargo_seg *scratch;		/* num entries, kick_work only */
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
};

struct vargo_dev {
	struct virtio_device vdev;
	struct platform_device *pdev;
	unsigned int idx;
	u16 domid;
	u32 port;			/* the device's (destination, source check) */
	u32 local_port;			/* our ring's (source of our messages) */
	struct vargo_kring *ring;

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
	 * (stopping, broken, or no answer for VARGO_HOLD_MAX).
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

static struct vargo_dev *vargo_devs[VARGO_MAX_DEVICES];
static unsigned int vargo_ndevs;

static struct vargo_dev *to_vargo(struct virtio_device *vdev)
{
	return container_of(vdev, struct vargo_dev, vdev);
}

/* ------------------------------------------------------------------ */
/* DMA ops of the parent device                                        */
/* ------------------------------------------------------------------ */

/*
 * A "DMA address" is the kernel virtual address of the buffer in the
 * linear map.  Nothing is ever given to hardware or to the backend; the
 * transport translates it back in vargo_xlate().  Highmem pages (32-bit only)
 * have no such address and are refused.
 */
static dma_addr_t vargo_dma_map_page(struct device *dev, struct page *page,
				     unsigned long offset, size_t size,
				     enum dma_data_direction dir,
				     unsigned long attrs)
{
	if (PageHighMem(page))
		return DMA_MAPPING_ERROR;
	return (dma_addr_t)(uintptr_t)(page_address(page) + offset);
}

static void vargo_dma_unmap_page(struct device *dev, dma_addr_t handle,
				 size_t size, enum dma_data_direction dir,
				 unsigned long attrs)
{
}

static void *vargo_dma_alloc(struct device *dev, size_t size,
			     dma_addr_t *dma_handle, gfp_t gfp,
			     unsigned long attrs)
{
	void *p = alloc_pages_exact(size, (gfp & ~__GFP_HIGHMEM) | __GFP_ZERO);

	if (!p)
		return NULL;
	*dma_handle = (dma_addr_t)(uintptr_t)p;
	return p;
}

static void vargo_dma_free(struct device *dev, size_t size, void *vaddr,
			   dma_addr_t dma_handle, unsigned long attrs)
{
	free_pages_exact(vaddr, size);
}

static size_t vargo_dma_max_mapping_size(struct device *dev)
{
	return VARGO_DMA_MAX_SEG;
}

static const struct dma_map_ops vargo_dma_ops = {
	.map_page = vargo_dma_map_page,
	.unmap_page = vargo_dma_unmap_page,
	.alloc = vargo_dma_alloc,
	.free = vargo_dma_free,
	.max_mapping_size = vargo_dma_max_mapping_size,
};

/*
 * Descriptor address back to a kernel pointer; NULL unless the whole range
 * lies in the linear map.  virtio_ring uses the DMA API (our ops) on every
 * Xen guest; elsewhere (no ACCESS_PLATFORM is ever negotiated) it puts
 * guest-physical addresses into descriptors.  Argo exists only on Xen, so
 * the second case matters only to keep the translation defined.
 */
static void *vargo_xlate(void *ctx, u64 addr, u32 len)
{
	void *p;

	if (addr + len < addr)
		return NULL;
	if (xen_domain()) {
		if (addr != (uintptr_t)addr)
			return NULL;
		p = (void *)(uintptr_t)addr;
	} else {
		if (!pfn_valid(PHYS_PFN(addr)) ||
		    !pfn_valid(PHYS_PFN(addr + len - 1)))
			return NULL;
		p = phys_to_virt(addr);
	}
	if (!virt_addr_valid(p) || !virt_addr_valid(p + len - 1))
		return NULL;
	return p;
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

static void vargo_fill_hdr(struct vargo_dev *vd, struct va_hdr *h, u8 msg_id,
			   u16 queue, u32 token, u32 len)
{
	h->msg_id = msg_id;
	h->flags = 0;
	h->queue = va_cpu_to_le16(queue);
	h->session = va_cpu_to_le32(vd->session);
	h->token = va_cpu_to_le32(token);
	h->len = va_cpu_to_le32(len);
}

/*
 * Send one message to the device; may sleep: waits for ring space at most
 * VARGO_SEND_TIMEOUT, and not at all once cancel_sends is set.
 */
static int vargo_send(struct vargo_dev *vd, const struct kvec *iov,
		      unsigned int niov)
{
	return vargo_argo_sendv_bounded(vd->ring, vd->domid, vd->port, iov, niov,
					VA_ARGO_MSG_TYPE, VARGO_SEND_TIMEOUT,
					&vd->cancel_sends);
}

/*
 * Make the waits of kick_work, reneg_work and probe_work give up: ring
 * space (cancel_sends) and the control reply now awaited.  Under vd->lock;
 * the caller then calls vargo_argo_wake_senders().
 */
static void vargo_cancel_waits(struct vargo_dev *vd)
{
	vd->cancel_sends = true;
	if (vd->ctrl_waiting) {
		vd->ctrl_err = -ECANCELED;
		vd->ctrl_waiting = false;
		complete(&vd->ctrl_done);
	}
}

/* ------------------------------------------------------------------ */
/* Violations, sessions                                                */
/* ------------------------------------------------------------------ */

/*
 * Give up on the device for good.  A broken virtqueue delivers no more
 * completions, so kick_work first completes every chain in flight or
 * waiting with an error (failing), then breaks the device.  Under vd->lock.
 */
static void vargo_mark_broken(struct vargo_dev *vd, const char *why)
{
	if (vd->broken)
		return;
	vd->broken = true;
	vd->failing = true;
	dev_err_ratelimited(&vd->pdev->dev, "device broken: %s\n", why);
	queue_work(vd->wq, &vd->kick_work);
}

/* The link to the device is down (requests wait).  Under vd->lock. */
static void vargo_link_down(struct vargo_dev *vd)
{
	if (vd->link_up)
		vd->down_since = jiffies;
	vd->link_up = false;
}

/*
 * A burst of violations is handled as a backend fault, like a restart:
 * renegotiate (which resets the device) and replay.  At most one pending
 * at a time, and each burst waits twice as long as the one before (from
 * 0 up to VARGO_PROBE_BACKOFF_MAX; after VARGO_RECOVER_QUIET without a burst
 * from 0 again), so that a peer sending garbage cannot keep the device
 * resetting.  Under vd->lock.
 */
static void vargo_recover(struct vargo_dev *vd)
{
	vd->violations = 0;
	if (!vd->active || vd->stopping || vd->broken ||
	    delayed_work_pending(&vd->reneg_work))
		return;
	if (time_after(jiffies, vd->last_recover + VARGO_RECOVER_QUIET))
		vd->recover_delay = 0;
	vd->last_recover = jiffies;
	vd->stats.recoveries++;
	dev_info_ratelimited(&vd->pdev->dev,
			     "too many protocol violations: renegotiating in %u ms\n",
			     jiffies_to_msecs(vd->recover_delay));
	queue_delayed_work(vd->wq, &vd->reneg_work, vd->recover_delay);
	vd->recover_delay = clamp(vd->recover_delay * 2,
				  (unsigned long)VARGO_PROBE_BACKOFF_MIN,
				  (unsigned long)VARGO_PROBE_BACKOFF_MAX);
}

/* Called with vd->lock held. */
static void vargo_violation(struct vargo_dev *vd, const char *what, int err)
{
	vd->stats.violations++;
	dev_warn_ratelimited(&vd->pdev->dev, "dropped reply: %s (%d)\n",
			     what, err);
	if (++vd->violations > VARGO_MAX_VIOLATIONS)
		vargo_recover(vd);
}

static bool vargo_session_is_old(const struct vargo_dev *vd, u32 s)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vd->old_sessions); i++)
		if (vd->old_sessions[i] == s)
			return true;
	return false;
}

/*
 * Stop sending and renegotiate after delay.  Under vd->lock; nothing is
 * queued once the device is being torn down (vargo_dev_destroy).
 */
static void vargo_schedule_reneg(struct vargo_dev *vd, unsigned long delay)
{
	vargo_link_down(vd);
	if (!vd->stopping)
		mod_delayed_work(vd->wq, &vd->reneg_work, delay);
}

/* A record carried a device session we did not negotiate with: either an
 * old one (drop) or a restarted backend (renegotiate).  Under vd->lock.
 */
static void vargo_foreign_session(struct vargo_dev *vd, u32 s)
{
	if (s == 0 || vargo_session_is_old(vd, s)) {
		vd->stats.stale++;
		return;
	}
	if (vd->active)
		vargo_schedule_reneg(vd, 0);
	else if (!vd->stopping)
		mod_delayed_work(system_long_wq, &vd->probe_work, 0);
}

/* ------------------------------------------------------------------ */
/* Control round trips                                                 */
/* ------------------------------------------------------------------ */

static int vargo_err_to_errno(u32 e)
{
	switch (e) {
	case VA_ERR_RANGE:
		return -ERANGE;
	case VA_ERR_STATE:
		return -ESTALE;
	case VA_ERR_UNSUPPORTED:
	case VA_ERR_VERSION:
		return -EOPNOTSUPP;
	case VA_ERR_BUSY:
		return -EBUSY;
	case VA_ERR_NEEDS_RESET:
		return -EIO;
	default:
		return -EINVAL;
	}
}

/*
 * One control request and its response.  resp receives at most resp_max
 * body bytes; *ret_len (if not NULL) the body length.  The response's
 * session is checked against the device session except for DEVICE_INFO,
 * which (re)learns it.  Replies the device may hold as a fence get
 * VARGO_FENCE_TIMEOUT, others VARGO_CTRL_TIMEOUT.
 */
static int vargo_ctrl(struct vargo_dev *vd, u8 msg_id, u16 queue, const void *req,
		      u32 req_len, const void *data, u32 data_len, void *resp,
		      u32 resp_max, u32 *ret_len)
{
	struct va_hdr h;
	struct kvec iov[3];
	unsigned int niov;
	unsigned long flags, timeout = VARGO_CTRL_TIMEOUT;
	u32 token, session, len;
	bool stopping;
	int err;

	if (msg_id == VA_MSG_DEVICE_INFO || msg_id == VA_MSG_RESET_VQUEUE ||
	    (msg_id == VA_MSG_SET_DEVICE_STATUS &&
	     req_len >= sizeof(struct va_status) &&
	     !va_le32_to_cpu(((const struct va_status *)req)->status)))
		timeout = VARGO_FENCE_TIMEOUT;
	mutex_lock(&vd->ctrl_lock);
	spin_lock_irqsave(&vd->lock, flags);
	/*
	 * Tearing down, or a device unreachable for VARGO_HOLD_MAX (failing: its
	 * requests are being completed with errors): nothing waits for the
	 * device's fences any more, and once a stopping device has not
	 * answered, the rest is not even asked.
	 */
	stopping = vd->stopping;
	if (stopping || vd->failing)
		timeout = VARGO_CTRL_TIMEOUT;
	if (stopping && vd->ctrl_gone) {
		spin_unlock_irqrestore(&vd->lock, flags);
		mutex_unlock(&vd->ctrl_lock);
		return -ETIMEDOUT;
	}
	token = ++vd->ctrl_token;
	vd->ctrl_msg_id = msg_id;
	vd->ctrl_waiting = true;
	vd->ctrl_err = 0;
	vd->ctrl_len = 0;
	reinit_completion(&vd->ctrl_done);
	spin_unlock_irqrestore(&vd->lock, flags);

	vargo_fill_hdr(vd, &h, msg_id, queue, token, req_len + data_len);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	niov = 1;
	if (req_len) {
		iov[niov].iov_base = (void *)req;
		iov[niov++].iov_len = req_len;
	}
	if (data_len) {
		iov[niov].iov_base = (void *)data;
		iov[niov++].iov_len = data_len;
	}
	err = vargo_send(vd, iov, niov);
	if (err >= 0 &&
	    !wait_for_completion_timeout(&vd->ctrl_done, timeout))
		err = -ETIMEDOUT;

	spin_lock_irqsave(&vd->lock, flags);
	vd->ctrl_waiting = false;
	session = vd->ctrl_session;
	len = vd->ctrl_len;
	if (err >= 0)
		err = vd->ctrl_err;
	if (stopping && (err == -ETIMEDOUT || err == -ECANCELED))
		vd->ctrl_gone = true;
	if (!err && session != vd->dev_session) {
		if (msg_id != VA_MSG_DEVICE_INFO) {
			err = -ESTALE;
		} else {
			/* DEVICE_INFO (re)binds us to the device's session. */
			if (vd->dev_session)
				vd->old_sessions[vd->nr_old++ %
						 ARRAY_SIZE(vd->old_sessions)] =
					vd->dev_session;
			vd->dev_session = session;
		}
	}
	if (!err && resp)
		memcpy(resp, vd->ctrl_body, min(len, resp_max));
	spin_unlock_irqrestore(&vd->lock, flags);
	mutex_unlock(&vd->ctrl_lock);

	if (!err && ret_len)
		*ret_len = len;
	return err < 0 ? err : 0;
}

/* Control request with a fixed-size response body. */
static int vargo_ctrl_fixed(struct vargo_dev *vd, u8 msg_id, u16 queue,
			    const void *req, u32 req_len, void *resp,
			    u32 resp_len)
{
	u32 len;
	int err;

	err = vargo_ctrl(vd, msg_id, queue, req, req_len, NULL, 0, resp,
			 resp_len, &len);
	if (!err && len != resp_len)
		err = -EPROTO;
	return err;
}

static int vargo_device_info(struct vargo_dev *vd, struct va_device_info *ret)
{
	struct va_device_info_req req = {
		.driver_ring_len = va_cpu_to_le32(ring_len),
	};
	int err;

	err = vargo_ctrl_fixed(vd, VA_MSG_DEVICE_INFO, 0, &req, sizeof(req),
			       ret, sizeof(*ret));
	if (err)
		return err;
	if (va_le32_to_cpu(ret->version_min) > VA_PROTOCOL_VERSION ||
	    va_le32_to_cpu(ret->version_max) < VA_PROTOCOL_VERSION ||
	    !va_le16_to_cpu(ret->num_queues) ||
	    va_le16_to_cpu(ret->num_queues) > VA_MAX_QUEUES ||
	    va_le32_to_cpu(ret->config_size) > VA_MAX_CONFIG_SIZE ||
	    !va_le32_to_cpu(ret->max_queue_size) ||
	    va_le32_to_cpu(ret->max_queue_size) > VA_MAX_QUEUE_SIZE ||
	    va_le32_to_cpu(ret->device_ring_len) < VA_RING_LEN_MIN ||
	    va_le32_to_cpu(ret->device_ring_len) > VA_RING_LEN_MAX ||
	    va_le32_to_cpu(ret->device_ring_len) % 16 ||
	    va_le32_to_cpu(ret->max_request) < sizeof(struct va_request))
		return -EPROTO;
	return 0;
}

static int vargo_set_status_raw(struct vargo_dev *vd, u8 status, u8 *ret_status)
{
	struct va_status req = { .status = va_cpu_to_le32(status) };
	struct va_status resp;
	int err;

	err = vargo_ctrl_fixed(vd, VA_MSG_SET_DEVICE_STATUS, 0, &req, sizeof(req),
			       &resp, sizeof(resp));
	if (!err && ret_status)
		*ret_status = (u8)va_le32_to_cpu(resp.status);
	return err;
}

static int vargo_set_features_raw(struct vargo_dev *vd, u64 features)
{
	struct va_features req = {
		.block = 0,
		.bits = va_cpu_to_le64(features),
	};
	struct va_features resp;

	return vargo_ctrl_fixed(vd, VA_MSG_SET_DRV_FEATURES, 0, &req, sizeof(req),
				&resp, sizeof(resp));
}

static int vargo_set_vqueue(struct vargo_dev *vd, u16 index, u32 size, bool enable)
{
	struct va_vqueue req = {
		.index = va_cpu_to_le32(index),
		.size = va_cpu_to_le32(size),
		.enabled = va_cpu_to_le32(enable),
	};
	struct va_vqueue resp;

	return vargo_ctrl_fixed(vd, VA_MSG_SET_VQUEUE, index, &req, sizeof(req),
				&resp, sizeof(resp));
}

/* ------------------------------------------------------------------ */
/* In-flight requests                                                  */
/* ------------------------------------------------------------------ */

/* Drop a reference (the request is already off vd->inflight); the last
 * one moves it to vd->dead, freed by vargo_reap() outside the spinlock
 * (vfree must not run under it).  Under vd->lock.
 */
static void vargo_req_put(struct vargo_dev *vd, struct vargo_req *r)
{
	if (--r->refs == 0)
		list_add_tail(&r->node, &vd->dead);
}

static void vargo_reap(struct vargo_dev *vd)
{
	struct vargo_req *r, *tmp;
	unsigned long flags;
	LIST_HEAD(dead);

	spin_lock_irqsave(&vd->lock, flags);
	list_splice_init(&vd->dead, &dead);
	spin_unlock_irqrestore(&vd->lock, flags);
	list_for_each_entry_safe(r, tmp, &dead, node)
		kvfree(r);
}

/* Forget every request of q (or of all queues if q is NULL) without
 * completing it: used after a device reset, when the driver no longer
 * expects completions.  Under vd->lock.
 */
static void vargo_drop_inflight(struct vargo_dev *vd, struct vargo_vq *q)
{
	struct vargo_req *r, *tmp;

	list_for_each_entry_safe(r, tmp, &vd->inflight, node) {
		if (q && r->q != q)
			continue;
		r->q->inflight[r->chain.head] = NULL;
		list_del(&r->node);
		vargo_req_put(vd, r);
	}
}

static int vargo_lookup(void *ctx, u16 queue, u32 token, u32 *ret_in_len)
{
	struct vargo_dev *vd = ctx;
	struct vargo_vq *q = vd->vqs[queue];
	struct vargo_req *r;

	if (!q || token >= q->num)
		return -ENOENT;
	r = q->inflight[token];
	if (!r)
		return -ENOENT;
	*ret_in_len = r->chain.in_len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Completions                                                         */
/* ------------------------------------------------------------------ */

static bool vargo_is_blk(const struct vargo_dev *vd)
{
	return vd->vdev.id.device == VIRTIO_ID_BLOCK;
}

/*
 * Zero the device-writable bytes of c from byte from on: whatever the
 * device did not write must not reach the driver as data (it would see
 * the buffers' stale contents, and might write them back out).
 */
static void vargo_chain_zero_from(const struct vargo_chain *c, u32 from)
{
	unsigned int k;

	for (k = c->nr_out; k < c->nr_out + c->nr_in; k++) {
		const struct vargo_seg *sg = &c->segs[k];

		if (from >= sg->len) {
			from -= sg->len;
			continue;
		}
		memset((u8 *)sg->ptr + from, 0, sg->len - from);
		from = 0;
	}
}

/* Put head into q's used ring with length len.  Under vd->lock. */
static void vargo_used_add(struct vargo_dev *vd, struct vargo_vq *q, u16 head, u32 len)
{
	struct vring_used *used = q->vr->used;
	u16 slot = q->used_idx % q->num;

	used->ring[slot].id = cpu_to_virtio32(&vd->vdev, head);
	used->ring[slot].len = cpu_to_virtio32(&vd->vdev, len);
	q->used_idx++;
	/* The entry must be visible before the index that publishes it. */
	virt_wmb();
	WRITE_ONCE(used->idx, cpu_to_virtio16(&vd->vdev, q->used_idx));
}

/*
 * Complete chain c without an answer of the device: its writable bytes
 * are zeroed and used.len is 0, except for virtio-blk, whose status byte
 * (the last writable one) then says VIRTIO_BLK_S_IOERR.  Under vd->lock.
 */
static void vargo_fail_chain(struct vargo_dev *vd, struct vargo_vq *q,
			     const struct vargo_chain *c)
{
	u32 len = 0;

	vargo_chain_zero_from(c, 0);
	if (vargo_is_blk(vd) && c->nr_in) {
		const struct vargo_seg *st = &c->segs[c->nr_out + c->nr_in - 1];

		((u8 *)st->ptr)[st->len - 1] = VIRTIO_BLK_S_IOERR;
		len = c->in_len;
	}
	vargo_used_add(vd, q, c->head, len);
	vd->stats.failed++;
}

/* Fail r, which is in flight.  Under vd->lock. */
static void vargo_fail_req(struct vargo_dev *vd, struct vargo_req *r)
{
	vargo_fail_chain(vd, r->q, &r->chain);
	r->q->inflight[r->chain.head] = NULL;
	list_del(&r->node);
	vargo_req_put(vd, r);
}

/* Fail every request in flight; returns the queues to interrupt.  Under
 * vd->lock.
 */
static u64 vargo_fail_inflight(struct vargo_dev *vd)
{
	struct vargo_req *r, *tmp;
	u64 kicked = 0;

	list_for_each_entry_safe(r, tmp, &vd->inflight, node) {
		kicked |= 1ull << r->q->index;
		vargo_fail_req(vd, r);
	}
	return kicked;
}

static void vargo_interrupts(struct vargo_dev *vd, u64 kicked);

/* Call the callbacks of the queues in kicked.  Not under vd->lock. */
static void vargo_deliver(struct vargo_dev *vd, u64 kicked)
{
	if (!kicked)
		return;
	if (in_hardirq()) {
		vargo_interrupts(vd, kicked);
	} else {
		local_bh_disable();
		vargo_interrupts(vd, kicked);
		local_bh_enable();
	}
}

/* ------------------------------------------------------------------ */
/* Data path: avail ring -> REQUEST                                    */
/* ------------------------------------------------------------------ */

static struct vargo_req *vargo_build_request(struct vargo_dev *vd, struct vargo_vq *q,
					     const struct vargo_chain *c)
{
	u32 body = sizeof(struct va_request) + 4u * c->nr_in + c->out_len;
	u32 msg_len = sizeof(struct va_hdr) + body;
	unsigned int nsegs = c->nr_out + c->nr_in;
	unsigned int noio;
	struct va_request *rq;
	struct va_hdr *h;
	struct vargo_req *r;
	va_le32 *sizes;
	unsigned int k;

	/*
	 * No I/O from reclaim: it could wait for this very queue.  kvmalloc
	 * falls back to vmalloc only for GFP_KERNEL, hence the scope.
	 */
	noio = memalloc_noio_save();
	r = kvmalloc(sizeof(*r) + nsegs * sizeof(struct vargo_seg) + msg_len,
		     GFP_KERNEL);
	memalloc_noio_restore(noio);
	if (!r)
		return NULL;
	r->q = q;
	r->refs = 1;
	r->replay_seq = vd->replay_seq;
	r->chain = *c;
	r->chain.segs = (struct vargo_seg *)(r + 1);
	memcpy(r->chain.segs, c->segs, nsegs * sizeof(struct vargo_seg));
	r->msg = (u8 *)(r->chain.segs + nsegs);
	r->msg_len = msg_len;

	h = (struct va_hdr *)r->msg;
	vargo_fill_hdr(vd, h, VA_MSG_REQUEST, q->index, c->head, body);
	rq = (struct va_request *)(h + 1);
	rq->out_len = va_cpu_to_le32(c->out_len);
	rq->in_len = va_cpu_to_le32(c->in_len);
	rq->nr_in = va_cpu_to_le16(c->nr_in);
	rq->reserved0 = 0;
	rq->reserved1 = 0;
	sizes = (va_le32 *)(rq + 1);
	for (k = 0; k < c->nr_in; k++)
		sizes[k] = va_cpu_to_le32(c->segs[c->nr_out + k].len);
	vargo_chain_gather(c, sizes + c->nr_in);
	return r;
}

static int vargo_send_req(struct vargo_dev *vd, struct vargo_req *r)
{
	struct kvec iov = { .iov_base = r->msg, .iov_len = r->msg_len };

	return vargo_send(vd, &iov, 1);
}

/* Send failed: keep the request (it is replayed after renegotiation) and
 * look for the device again.
 */
static void vargo_send_failed(struct vargo_dev *vd, int err)
{
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	vargo_schedule_reneg(vd, VARGO_PROBE_BACKOFF_MIN);
	spin_unlock_irqrestore(&vd->lock, flags);
	dev_warn_ratelimited(&vd->pdev->dev,
			     "send failed (%d), will renegotiate\n", err);
}

/*
 * Walk everything new on q's avail ring; while failing, complete each
 * chain with an error at once.  Returns the queues to interrupt.
 * kick_work only.
 */
static u64 vargo_kick_queue(struct vargo_dev *vd, struct vargo_vq *q)
{
	struct vargo_walk_limits lim;
	unsigned long flags;
	u64 kicked = 0;
	u16 n, i;
	int err;

	lim.max_descs = q->num;
	lim.max_out = va_le32_to_cpu(vd->info.max_request);
	lim.max_in = ring_len - 32 - sizeof(struct va_hdr) -
		     sizeof(struct va_response);
	lim.max_in_segs = VA_MAX_IN_SEGS;

	err = vargo_avail_pending(q->vr, q->last_avail, &n);
	if (err) {
		spin_lock_irqsave(&vd->lock, flags);
		vargo_mark_broken(vd, "avail index out of range");
		spin_unlock_irqrestore(&vd->lock, flags);
		return 0;
	}
	/* Read the ring entries and descriptors only after avail->idx. */
	virt_rmb();

	for (i = 0; i < n; i++) {
		struct vargo_chain c;
		struct vargo_req *r;
		bool up, failing;
		u16 head;
		u64 body;

		err = vargo_avail_head(q->vr, q->last_avail, &head);
		if (!err)
			err = vargo_walk_chain(q->vr, head, &lim, vargo_xlate, vd,
					       q->scratch, q->num, &c);
		if (!err) {
			/* The REQUEST must fit what the device accepts and,
			 * with Argo's 16-byte header, its ring.
			 */
			body = sizeof(struct va_request) + 4ull * c.nr_in +
			       c.out_len;
			if (body > va_le32_to_cpu(vd->info.max_request) ||
			    body + 2 * sizeof(struct va_hdr) + 32 >
			    va_le32_to_cpu(vd->info.device_ring_len))
				err = -E2BIG;
			else if (q->inflight[head])
				err = -EBUSY;
		}
		if (err) {
			spin_lock_irqsave(&vd->lock, flags);
			dev_err_ratelimited(&vd->pdev->dev,
					    "queue %u: bad chain (%d)\n",
					    q->index, err);
			vargo_mark_broken(vd, "unusable descriptor chain");
			spin_unlock_irqrestore(&vd->lock, flags);
			return kicked;
		}
		spin_lock_irqsave(&vd->lock, flags);
		failing = vd->failing;
		if (failing) {
			vargo_fail_chain(vd, q, &c);
			kicked = 1ull << q->index;
		}
		spin_unlock_irqrestore(&vd->lock, flags);
		if (failing) {
			q->last_avail++;
			continue;
		}
		r = vargo_build_request(vd, q, &c);
		if (!r) {
			/* Retry later; the chain stays on the avail ring. */
			queue_work(vd->wq, &vd->kick_work);
			return kicked;
		}
		q->last_avail++;

		spin_lock_irqsave(&vd->lock, flags);
		q->inflight[head] = r;
		list_add_tail(&r->node, &vd->inflight);
		vd->stats.requests++;
		up = vd->link_up;
		if (up)
			r->refs++;	/* pinned while its message is sent */
		spin_unlock_irqrestore(&vd->lock, flags);
		if (!up)
			continue;

		err = vargo_send_req(vd, r);
		spin_lock_irqsave(&vd->lock, flags);
		vargo_req_put(vd, r);
		spin_unlock_irqrestore(&vd->lock, flags);
		vargo_reap(vd);
		if (err < 0)
			vargo_send_failed(vd, err);
	}
	return kicked;
}

/*
 * Send what the driver queued.  While failing, first complete everything
 * in flight with an error; a broken device is broken (virtio) only after
 * that, since a broken virtqueue delivers no completion.
 */
static void vargo_kick_work(struct work_struct *work)
{
	struct vargo_dev *vd = container_of(work, struct vargo_dev, kick_work);
	unsigned long flags;
	bool brk = false;
	u64 kicked = 0;
	unsigned int i;

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->failing)
		kicked = vargo_fail_inflight(vd);
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	for (i = 0; i < VA_MAX_QUEUES; i++) {
		if (READ_ONCE(vd->break_done))
			break;
		if (vd->vqs[i])
			kicked |= vargo_kick_queue(vd, vd->vqs[i]);
	}
	vargo_deliver(vd, kicked);

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->broken && !vd->break_done) {
		WRITE_ONCE(vd->break_done, true);
		brk = true;
	}
	spin_unlock_irqrestore(&vd->lock, flags);
	if (brk && vd->registered)
		virtio_break_device(&vd->vdev);
}

/* virtqueue notify: may run in atomic context; never sleeps. */
static bool vargo_notify(struct virtqueue *vq)
{
	struct vargo_dev *vd = to_vargo(vq->vdev);

	if (READ_ONCE(vd->break_done))
		return false;
	queue_work(vd->wq, &vd->kick_work);
	return true;
}

/* ------------------------------------------------------------------ */
/* Receive path                                                        */
/* ------------------------------------------------------------------ */

/*
 * Complete one validated response: the written bytes, zeros after them.
 * virtio_blk takes the status byte (the last writable one) for the
 * outcome without looking at used.len: a response that leaves it
 * unwritten fails the request instead (and is a violation).  Under
 * vd->lock.
 */
static void vargo_complete(struct vargo_dev *vd, const struct vargo_reply *rep)
{
	struct vargo_vq *q = vd->vqs[rep->queue];
	struct vargo_req *r = q->inflight[rep->token];

	if (vargo_is_blk(vd) && rep->written < r->chain.in_len) {
		vargo_fail_req(vd, r);
		vargo_violation(vd, "response without the virtio-blk status",
				-EBADMSG);
		return;
	}
	/* vargo_reply_check() bounded written by in_len. */
	vargo_chain_scatter(&r->chain, rep->data, rep->written);
	vargo_chain_zero_from(&r->chain, rep->written);
	q->inflight[rep->token] = NULL;
	list_del(&r->node);
	vargo_used_add(vd, q, r->chain.head, rep->written);
	vd->last_heard = jiffies;
	vd->stats.responses++;
	vargo_req_put(vd, r);
}

static void vargo_on_response(struct vargo_dev *vd, const struct va_hdr *h,
			      const void *body, u32 body_len, u64 *kicked)
{
	struct vargo_reply_expect exp = {
		.src_domid = vd->domid,
		.port = vd->port,
		.session = vd->dev_session,
		.num_queues = va_le16_to_cpu(vd->info.num_queues),
	};
	struct vargo_reply rep;
	int err;

	err = vargo_reply_check(&exp, vd->domid, vd->port, h, body, body_len,
				vargo_lookup, vd, &rep);
	if (err == -ESTALE) {
		vargo_foreign_session(vd, va_le32_to_cpu(h->session));
		return;
	}
	if (err) {
		vargo_violation(vd, "invalid response", err);
		return;
	}
	vargo_complete(vd, &rep);
	*kicked |= 1ull << rep.queue;
}

/*
 * An error reply to a REQUEST.  A device that lost our session, was full
 * or needs a reset is renegotiated with (which replays); a request the
 * device refuses for good is completed with an error.  Under vd->lock.
 */
static void vargo_on_request_error(struct vargo_dev *vd, const struct va_hdr *h,
				   const void *body, u32 body_len, u64 *kicked)
{
	const struct va_error *e = body;
	u32 session = va_le32_to_cpu(h->session);
	u32 token = va_le32_to_cpu(h->token);
	u16 queue = va_le16_to_cpu(h->queue);
	struct vargo_vq *q;
	u32 code;

	if (body_len != sizeof(*e)) {
		vargo_violation(vd, "bad error reply", -EBADMSG);
		return;
	}
	code = va_le32_to_cpu(e->error);
	if (session != vd->dev_session) {
		vargo_foreign_session(vd, session);
		return;
	}
	if (code == VA_ERR_STATE || code == VA_ERR_BUSY ||
	    code == VA_ERR_NEEDS_RESET) {
		/* Lost session, full, or in need of a reset: replay. */
		vargo_schedule_reneg(vd, VARGO_PROBE_BACKOFF_MIN);
		return;
	}
	q = queue < VA_MAX_QUEUES ? vd->vqs[queue] : NULL;
	if (!q || token >= q->num || !q->inflight[token]) {
		vd->stats.stale++;
		return;
	}
	/* The request cannot complete (reporting success would lose data). */
	vargo_fail_req(vd, q->inflight[token]);
	*kicked |= 1ull << queue;
	vargo_violation(vd, "device refused a request", vargo_err_to_errno(code));
}

/* A control response.  Under vd->lock. */
static void vargo_on_ctrl(struct vargo_dev *vd, const struct va_hdr *h,
			  const void *body, u32 body_len)
{
	u32 token = va_le32_to_cpu(h->token);

	if (!vd->ctrl_waiting || h->msg_id != vd->ctrl_msg_id ||
	    token != vd->ctrl_token) {
		/* A reply that came after its call timed out is not a
		 * violation; one to a call never made is.
		 */
		if (token && token <= vd->ctrl_token)
			vd->stats.stale++;
		else
			vargo_violation(vd, "unexpected control reply", -ENOENT);
		return;
	}
	vd->ctrl_session = va_le32_to_cpu(h->session);
	vd->last_heard = jiffies;
	if (h->flags & VA_F_ERROR) {
		const struct va_error *e = body;

		vd->ctrl_err = body_len == sizeof(*e) ?
			       vargo_err_to_errno(va_le32_to_cpu(e->error)) : -EPROTO;
		if (vd->ctrl_err == -ESTALE &&
		    vd->ctrl_session != vd->dev_session &&
		    h->msg_id != VA_MSG_DEVICE_INFO)
			vargo_foreign_session(vd, vd->ctrl_session);
	} else if (body_len > sizeof(vd->ctrl_body)) {
		vd->ctrl_err = -EPROTO;
	} else {
		memcpy(vd->ctrl_body, body, body_len);
		vd->ctrl_len = body_len;
	}
	vd->ctrl_waiting = false;
	complete(&vd->ctrl_done);
}

/* A record that is not a reply.  Under vd->lock. */
static void vargo_on_event(struct vargo_dev *vd, const struct va_hdr *h,
			   const void *body, u32 body_len, bool *config_changed)
{
	u32 session = va_le32_to_cpu(h->session);

	switch (h->msg_id) {
	case VA_MSG_HELLO:
		if (body_len != sizeof(struct va_hello)) {
			vargo_violation(vd, "bad HELLO", -EBADMSG);
			return;
		}
		if (session != vd->dev_session)
			vargo_foreign_session(vd, session);
		return;
	case VA_MSG_EVENT_CONFIG: {
		const struct va_event_config *ev = body;

		if (body_len != sizeof(*ev)) {
			vargo_violation(vd, "bad EVENT_CONFIG", -EBADMSG);
			return;
		}
		if (session != vd->dev_session) {
			vargo_foreign_session(vd, session);
			return;
		}
		WRITE_ONCE(vd->generation, va_le32_to_cpu(ev->generation));
		vd->config_stale = true;
		*config_changed = true;
		return;
	}
	default:
		vargo_violation(vd, "unexpected record", -EBADMSG);
	}
}

/* State of one vargo_rx() call, passed through vargo_msg_walk(). */
struct vargo_rx_state {
	struct vargo_dev *vd;
	u64 kicked;			/* queues with new used entries */
	bool config_changed;
};

static void vargo_on_record(void *ctx, const struct va_hdr *h,
			    const void *body, u32 body_len)
{
	struct vargo_rx_state *rs = ctx;
	struct vargo_dev *vd = rs->vd;
	u64 *kicked = &rs->kicked;
	bool *config_changed = &rs->config_changed;

	if (h->flags & ~VA_F_KNOWN) {
		vargo_violation(vd, "unknown flags", -EBADMSG);
		return;
	}
	if (!(h->flags & VA_F_RESPONSE)) {
		vargo_on_event(vd, h, body, body_len, config_changed);
		return;
	}
	if (h->msg_id == VA_MSG_RESPONSE)
		vargo_on_response(vd, h, body, body_len, kicked);
	else if (h->msg_id == VA_MSG_REQUEST && (h->flags & VA_F_ERROR))
		vargo_on_request_error(vd, h, body, body_len, kicked);
	else
		vargo_on_ctrl(vd, h, body, body_len);
}

/* vd->vqs[] entries are cleared before their queue is freed and cb_lock
 * is then taken once (vargo_del_vqs), so a pointer read here stays valid.
 */
static void vargo_interrupts(struct vargo_dev *vd, u64 kicked)
{
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&vd->cb_lock, flags);
	for (i = 0; i < VA_MAX_QUEUES; i++)
		if ((kicked & (1ull << i)) && vd->vqs[i])
			vring_interrupt(0, vd->vqs[i]->vq);
	spin_unlock_irqrestore(&vd->cb_lock, flags);
}

/*
 * One Argo message for this device's ring.  Called by the argo core for
 * each message, in order, from its work item (process context, never
 * concurrently for one ring); data points to the payload (len bytes).
 */
static void vargo_rx(void *priv, u16 src_domid, u32 src_port, u32 type,
		     const void *data, u32 len)
{
	struct vargo_dev *vd = priv;
	struct vargo_rx_state rs = { .vd = vd };
	unsigned long flags;

	if (VA_ARGO_TYPE_MAGIC(type) != VA_ARGO_MAGIC ||
	    VA_ARGO_TYPE_VERSION(type) != VA_PROTOCOL_VERSION ||
	    src_domid != vd->domid || src_port != vd->port) {
		spin_lock_irqsave(&vd->lock, flags);
		vd->stats.dropped++;
		spin_unlock_irqrestore(&vd->lock, flags);
		return;
	}

	spin_lock_irqsave(&vd->lock, flags);
	if (vargo_msg_walk(data, len, vargo_on_record, &rs) < 0)
		vargo_violation(vd, "malformed message", -EBADMSG);
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	vargo_deliver(vd, rs.kicked);
	if (rs.config_changed && vd->registered)
		virtio_config_changed(&vd->vdev);
}

/* ------------------------------------------------------------------ */
/* virtio_config_ops                                                   */
/* ------------------------------------------------------------------ */

/*
 * Read the whole config space into vd->config.  An EVENT_CONFIG arriving
 * meanwhile marks it stale again; a failure keeps the last good values.
 * Under op_lock.
 */
static int vargo_config_refresh(struct vargo_dev *vd)
{
	u8 resp[sizeof(struct va_config) + VA_MAX_CONFIG_XFER];
	const struct va_config *rc = (const struct va_config *)resp;
	struct va_config req = { 0 };
	unsigned long flags;
	u32 size, rlen;
	int err;

	spin_lock_irqsave(&vd->lock, flags);
	size = va_le32_to_cpu(vd->info.config_size);
	vd->config_stale = false;
	spin_unlock_irqrestore(&vd->lock, flags);
	req.size = va_cpu_to_le32(size);
	err = vargo_ctrl(vd, VA_MSG_GET_CONFIG, 0, &req, sizeof(req), NULL, 0,
			 resp, sizeof(resp), &rlen);
	if (!err && (rlen != sizeof(*rc) + size || rc->offset ||
		     va_le32_to_cpu(rc->size) != size))
		err = -EPROTO;
	spin_lock_irqsave(&vd->lock, flags);
	if (err) {
		vd->config_stale = true;
	} else {
		memcpy(vd->config, rc + 1, size);
		vd->config_valid = true;
		WRITE_ONCE(vd->generation, va_le32_to_cpu(rc->generation));
	}
	spin_unlock_irqrestore(&vd->lock, flags);
	return err;
}

/*
 * virtio's get() cannot fail: it is served from vd->config, refreshed
 * first when the device announced a change (or after a reset, a write,
 * a renegotiation).  A failed refresh leaves the last good values.
 */
static void vargo_get(struct virtio_device *vdev, unsigned int offset,
		      void *buf, unsigned int len)
{
	struct vargo_dev *vd = to_vargo(vdev);
	unsigned long flags;
	bool fresh;
	u32 size;
	int err;

	spin_lock_irqsave(&vd->lock, flags);
	size = va_le32_to_cpu(vd->info.config_size);
	fresh = vd->config_valid && !vd->config_stale;
	spin_unlock_irqrestore(&vd->lock, flags);
	if (offset > size || len > size - offset) {
		dev_warn_ratelimited(&vd->pdev->dev,
				     "config read %u+%u beyond its %u bytes\n",
				     offset, len, size);
		memset(buf, 0, len);
		return;
	}
	if (!fresh) {
		mutex_lock(&vd->op_lock);
		err = vargo_config_refresh(vd);
		mutex_unlock(&vd->op_lock);
		if (err)
			dev_warn_ratelimited(&vd->pdev->dev,
					     "config read failed (%d), last values kept\n",
					     err);
	}
	spin_lock_irqsave(&vd->lock, flags);
	memcpy(buf, vd->config + offset, len);
	spin_unlock_irqrestore(&vd->lock, flags);
}

static void vargo_set(struct virtio_device *vdev, unsigned int offset,
		      const void *buf, unsigned int len)
{
	struct vargo_dev *vd = to_vargo(vdev);
	struct va_config req = {
		.offset = va_cpu_to_le32(offset),
		.size = va_cpu_to_le32(len),
	};
	struct va_config resp;
	u32 rlen;
	int err = -EINVAL;

	if (len <= VA_MAX_CONFIG_XFER) {
		mutex_lock(&vd->op_lock);
		req.generation = va_cpu_to_le32(READ_ONCE(vd->generation));
		err = vargo_ctrl(vd, VA_MSG_SET_CONFIG, 0, &req, sizeof(req),
				 buf, len, &resp, sizeof(resp), &rlen);
		mutex_unlock(&vd->op_lock);
	}
	if (!err && offset <= VA_MAX_CONFIG_SIZE - len) {
		unsigned long flags;

		/* Read back on the next get(); meanwhile what was written. */
		spin_lock_irqsave(&vd->lock, flags);
		memcpy(vd->config + offset, buf, len);
		vd->config_stale = true;
		spin_unlock_irqrestore(&vd->lock, flags);
	}
	if (err)
		dev_warn_ratelimited(&vd->pdev->dev,
				     "config write %u+%u failed (%d)\n",
				     offset, len, err);
}

static u32 vargo_generation(struct virtio_device *vdev)
{
	return READ_ONCE(to_vargo(vdev)->generation);
}

static u8 vargo_get_status(struct virtio_device *vdev)
{
	struct vargo_dev *vd = to_vargo(vdev);
	struct va_status resp;
	u8 status;
	int err;

	mutex_lock(&vd->op_lock);
	err = vargo_ctrl_fixed(vd, VA_MSG_GET_DEVICE_STATUS, 0, NULL, 0, &resp,
			       sizeof(resp));
	status = err ? vd->status : (u8)va_le32_to_cpu(resp.status);
	mutex_unlock(&vd->op_lock);
	if (vd->broken)
		status |= VA_STATUS_NEEDS_RESET;
	return status;
}

static void vargo_set_status(struct virtio_device *vdev, u8 status)
{
	struct vargo_dev *vd = to_vargo(vdev);
	u8 result;
	int err;

	/*
	 * NEEDS_RESET is the device's bit: get_status() may report it and
	 * virtio_add_status() would hand it back.  0 comes through reset().
	 */
	status &= ~VA_STATUS_NEEDS_RESET;
	if (!status)
		return;
	mutex_lock(&vd->op_lock);
	err = vargo_set_status_raw(vd, status, &result);
	if (!err)
		vd->status = result;
	else
		dev_warn_ratelimited(&vd->pdev->dev,
				     "set status %#x failed (%d)\n",
				     status, err);
	mutex_unlock(&vd->op_lock);
}

static void vargo_reset(struct virtio_device *vdev)
{
	struct vargo_dev *vd = to_vargo(vdev);
	unsigned long flags;
	int err;

	mutex_lock(&vd->op_lock);
	err = vargo_set_status_raw(vd, 0, NULL);
	if (err)
		dev_warn_ratelimited(&vd->pdev->dev, "reset failed (%d)\n",
				     err);
	/* Whether or not the device answered, nothing in flight will be
	 * completed any more: the device drops its work on reset, and a
	 * restarted one will not be told about it.
	 */
	spin_lock_irqsave(&vd->lock, flags);
	vargo_drop_inflight(vd, NULL);
	vd->config_stale = true;
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	vd->status = 0;
	vd->features = 0;
	mutex_unlock(&vd->op_lock);
}

static u64 vargo_get_features(struct virtio_device *vdev)
{
	struct vargo_dev *vd = to_vargo(vdev);
	struct va_features req = { .block = 0 };
	struct va_features resp;
	int err;

	mutex_lock(&vd->op_lock);
	err = vargo_ctrl_fixed(vd, VA_MSG_GET_DEV_FEATURES, 0, &req, sizeof(req),
			       &resp, sizeof(resp));
	mutex_unlock(&vd->op_lock);
	if (err) {
		dev_warn_ratelimited(&vd->pdev->dev,
				     "get features failed (%d)\n", err);
		return 0;
	}
	return va_le64_to_cpu(resp.bits);
}

static int vargo_finalize_features(struct virtio_device *vdev)
{
	struct vargo_dev *vd = to_vargo(vdev);
	int err;

	/* Keeps only the transport bits virtio_ring supports; the device
	 * never offers INDIRECT_DESC, EVENT_IDX or RING_PACKED.
	 */
	vring_transport_features(vdev);
	__virtio_clear_bit(vdev, VIRTIO_RING_F_INDIRECT_DESC);
	__virtio_clear_bit(vdev, VIRTIO_RING_F_EVENT_IDX);
	__virtio_clear_bit(vdev, VIRTIO_F_RING_PACKED);
	if (!__virtio_test_bit(vdev, VIRTIO_F_VERSION_1)) {
		dev_err(&vd->pdev->dev, "device lacks VIRTIO_F_VERSION_1\n");
		return -EINVAL;
	}

	mutex_lock(&vd->op_lock);
	err = vargo_set_features_raw(vd, vdev->features);
	if (!err)
		vd->features = vdev->features;
	mutex_unlock(&vd->op_lock);
	return err;
}

static void vargo_del_vq(struct vargo_dev *vd, struct vargo_vq *q)
{
	struct va_vqueue req = { .index = va_cpu_to_le32(q->index) };
	struct va_vqueue resp;
	unsigned long flags;

	vargo_ctrl_fixed(vd, VA_MSG_RESET_VQUEUE, q->index, &req, sizeof(req),
			 &resp, sizeof(resp));
	spin_lock_irqsave(&vd->lock, flags);
	vargo_drop_inflight(vd, q);
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	vring_del_virtqueue(q->vq);
	kvfree(q->inflight);
	kvfree(q->scratch);
	kfree(q);
}

static void vargo_synchronize_cbs(struct virtio_device *vdev);

static void vargo_del_vqs(struct virtio_device *vdev)
{
	struct vargo_dev *vd = to_vargo(vdev);
	struct vargo_vq *gone[VA_MAX_QUEUES];
	unsigned long flags;
	unsigned int i;

	/* Unpublish the queues first; then no kick or renegotiation
	 * (flushed; not under op_lock, which reneg_work takes) and no
	 * callback (cb_lock) can still be using them.
	 */
	spin_lock_irqsave(&vd->lock, flags);
	for (i = 0; i < VA_MAX_QUEUES; i++) {
		gone[i] = vd->vqs[i];
		vd->vqs[i] = NULL;
	}
	/* Whatever the device does, the flush ends: waits give up. */
	vargo_cancel_waits(vd);
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_argo_wake_senders();
	vargo_synchronize_cbs(vdev);
	flush_workqueue(vd->wq);
	spin_lock_irqsave(&vd->lock, flags);
	vd->cancel_sends = vd->stopping;
	spin_unlock_irqrestore(&vd->lock, flags);
	mutex_lock(&vd->op_lock);
	for (i = 0; i < VA_MAX_QUEUES; i++)
		if (gone[i])
			vargo_del_vq(vd, gone[i]);
	mutex_unlock(&vd->op_lock);
}

static struct vargo_vq *vargo_setup_vq(struct vargo_dev *vd, u16 index,
				       vq_callback_t *callback, const char *name,
				       bool ctx)
{
	struct va_vqueue req = { .index = va_cpu_to_le32(index) };
	struct va_vqueue resp;
	unsigned long flags;
	struct vargo_vq *q;
	u32 max;
	int err;

	err = vargo_ctrl_fixed(vd, VA_MSG_GET_VQUEUE, index, &req, sizeof(req),
			       &resp, sizeof(resp));
	if (err)
		return ERR_PTR(err);
	max = va_le32_to_cpu(resp.max_size);
	if (!max)
		return ERR_PTR(-ENOENT);
	/* A split vring's size is a power of two (vring_create_virtqueue
	 * refuses others); the protocol allows any maximum: round down.
	 */
	max = rounddown_pow_of_two(min(max, VARGO_VRING_MAX));

	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return ERR_PTR(-ENOMEM);
	q->vd = vd;
	q->index = index;
	q->vq = vring_create_virtqueue(index, max, PAGE_SIZE, &vd->vdev, true,
				       true, ctx, vargo_notify, callback, name);
	if (!q->vq) {
		err = -ENOMEM;
		goto err_free;
	}
	q->vq->num_max = max;
	q->vr = virtqueue_get_vring(q->vq);
	q->num = q->vr->num;
	q->inflight = kvcalloc(q->num, sizeof(*q->inflight), GFP_KERNEL);
	q->scratch = kvcalloc(q->num, sizeof(*q->scratch), GFP_KERNEL);
	if (!q->inflight || !q->scratch) {
		err = -ENOMEM;
		goto err_vq;
	}
	err = vargo_set_vqueue(vd, index, q->num, true);
	if (err)
		goto err_vq;
	q->vq->priv = q;
	spin_lock_irqsave(&vd->lock, flags);
	vd->vqs[index] = q;
	spin_unlock_irqrestore(&vd->lock, flags);
	return q;

err_vq:
	vring_del_virtqueue(q->vq);
	kvfree(q->inflight);
	kvfree(q->scratch);
err_free:
	kfree(q);
	return ERR_PTR(err);
}

static int vargo_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			  struct virtqueue *vqs[], vq_callback_t *callbacks[],
			  const char * const names[], const bool *ctx,
			  struct irq_affinity *desc)
{
	struct vargo_dev *vd = to_vargo(vdev);
	unsigned int i, queue_idx = 0;
	struct vargo_vq *q;

	for (i = 0; i < nvqs; i++) {
		if (!names[i]) {
			vqs[i] = NULL;
			continue;
		}
		if (queue_idx >= va_le16_to_cpu(vd->info.num_queues)) {
			vargo_del_vqs(vdev);
			return -ENOENT;
		}
		mutex_lock(&vd->op_lock);
		q = vargo_setup_vq(vd, queue_idx++, callbacks[i], names[i],
				   ctx ? ctx[i] : false);
		mutex_unlock(&vd->op_lock);
		if (IS_ERR(q)) {
			vargo_del_vqs(vdev);
			return PTR_ERR(q);
		}
		vqs[i] = q->vq;
	}
	return 0;
}

static void vargo_synchronize_cbs(struct virtio_device *vdev)
{
	struct vargo_dev *vd = to_vargo(vdev);
	unsigned long flags;

	/* Callbacks run under cb_lock: once we hold it, none is running. */
	spin_lock_irqsave(&vd->cb_lock, flags);
	spin_unlock_irqrestore(&vd->cb_lock, flags);
}

static const char *vargo_bus_name(struct virtio_device *vdev)
{
	return dev_name(&to_vargo(vdev)->pdev->dev);
}

static bool vargo_get_shm_region(struct virtio_device *vdev,
				 struct virtio_shm_region *region, u8 id)
{
	return false;
}

static const struct virtio_config_ops vargo_config_ops = {
	.get = vargo_get,
	.set = vargo_set,
	.generation = vargo_generation,
	.get_status = vargo_get_status,
	.set_status = vargo_set_status,
	.reset = vargo_reset,
	.find_vqs = vargo_find_vqs,
	.del_vqs = vargo_del_vqs,
	.synchronize_cbs = vargo_synchronize_cbs,
	.get_features = vargo_get_features,
	.finalize_features = vargo_finalize_features,
	.bus_name = vargo_bus_name,
	.get_shm_region = vargo_get_shm_region,
};

/* ------------------------------------------------------------------ */
/* Renegotiation after a backend restart, replay                       */
/* ------------------------------------------------------------------ */

static int vargo_renegotiate(struct vargo_dev *vd)
{
	struct va_device_info info;
	u8 want = vd->status, st;
	unsigned long flags;
	unsigned int i;
	int err;

	err = vargo_device_info(vd, &info);
	if (err)
		return err;
	if (info.device_id != vd->info.device_id ||
	    va_le16_to_cpu(info.num_queues) < va_le16_to_cpu(vd->info.num_queues))
		return -ENODEV;
	/*
	 * The new backend's limits apply from now on (kick_work does not run
	 * meanwhile: same ordered workqueue).
	 */
	spin_lock_irqsave(&vd->lock, flags);
	info.num_queues = vd->info.num_queues;
	vd->info = info;
	spin_unlock_irqrestore(&vd->lock, flags);
	err = vargo_set_status_raw(vd, 0, NULL);
	if (err)
		return err;
	if (!want)
		return 0;
	err = vargo_set_status_raw(vd, want & (VA_STATUS_ACKNOWLEDGE |
					       VA_STATUS_DRIVER), NULL);
	if (err)
		return err;
	if (!(want & VA_STATUS_FEATURES_OK))
		return 0;
	err = vargo_set_features_raw(vd, vd->features);
	if (err)
		return err;
	err = vargo_set_status_raw(vd, want & ~(VA_STATUS_DRIVER_OK |
						VA_STATUS_NEEDS_RESET), &st);
	if (err)
		return err;
	if (!(st & VA_STATUS_FEATURES_OK))
		return -ENODEV;
	for (i = 0; i < VA_MAX_QUEUES; i++) {
		if (!vd->vqs[i])
			continue;
		err = vargo_set_vqueue(vd, i, vd->vqs[i]->num, true);
		if (err)
			return err == -ERANGE ? -ENODEV : err;
	}
	if (want & VA_STATUS_DRIVER_OK)
		err = vargo_set_status_raw(vd, want & ~VA_STATUS_NEEDS_RESET,
					   NULL);
	return err;
}

/*
 * Send every in-flight request again, in submission order.  reneg_work
 * only (ordered with kick_work).  Replies may complete requests while we
 * send, so each one is pinned (refs) while its message is being sent, and
 * the list is searched from its head for the next request not yet sent in
 * this round (replay_seq).  A request already replayed VARGO_MAX_REPLAYS
 * times is completed with an error instead (*kicked: queues to interrupt).
 */
static int vargo_replay(struct vargo_dev *vd, u64 *kicked)
{
	unsigned long flags;
	struct vargo_req *r;
	u32 seq;
	int err = 0;

	spin_lock_irqsave(&vd->lock, flags);
	seq = ++vd->replay_seq;
	for (;;) {
		struct kvec iov;
		bool found = false;

		list_for_each_entry(r, &vd->inflight, node) {
			if (r->replay_seq != seq) {
				found = true;
				break;
			}
		}
		if (!found)
			break;
		r->replay_seq = seq;
		if (r->replays >= VARGO_MAX_REPLAYS) {
			*kicked |= 1ull << r->q->index;
			vargo_fail_req(vd, r);
			continue;
		}
		r->replays++;
		r->refs++;
		vd->stats.replayed++;
		spin_unlock_irqrestore(&vd->lock, flags);

		iov.iov_base = r->msg;
		iov.iov_len = r->msg_len;
		err = vargo_send(vd, &iov, 1);

		spin_lock_irqsave(&vd->lock, flags);
		vargo_req_put(vd, r);
		if (err < 0)
			break;
	}
	if (err >= 0)
		vd->link_up = true;
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_reap(vd);
	return err < 0 ? err : 0;
}

/*
 * Renegotiate and replay; on failure retry with back-off.  A device that
 * has not been reachable for VARGO_HOLD_MAX makes the transport fail what is
 * in flight and what comes, until a renegotiation succeeds.
 */
static void vargo_reneg_work(struct work_struct *work)
{
	struct vargo_dev *vd = container_of(to_delayed_work(work), struct vargo_dev,
					    reneg_work);
	unsigned long flags;
	bool kick = false;
	u64 kicked = 0;
	int err;

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->broken || !vd->active || vd->stopping) {
		spin_unlock_irqrestore(&vd->lock, flags);
		return;
	}
	vargo_link_down(vd);
	spin_unlock_irqrestore(&vd->lock, flags);

	mutex_lock(&vd->op_lock);
	err = vargo_renegotiate(vd);
	if (!err)
		err = vargo_replay(vd, &kicked);
	mutex_unlock(&vd->op_lock);
	vargo_reap(vd);
	vargo_deliver(vd, kicked);

	spin_lock_irqsave(&vd->lock, flags);
	if (err == -ENODEV) {
		vargo_mark_broken(vd, "renegotiation refused");
	} else if (err) {
		vd->backoff = min(vd->backoff * 2, (unsigned long)VARGO_PROBE_BACKOFF_MAX);
		if (!vd->failing &&
		    time_after(jiffies, vd->down_since + VARGO_HOLD_MAX)) {
			vd->failing = true;
			kick = true;
			dev_info_ratelimited(&vd->pdev->dev,
					     "device unreachable for %u s (%d): failing requests until it answers\n",
					     jiffies_to_msecs(VARGO_HOLD_MAX) / 1000,
					     err);
		}
		if (!vd->stopping)
			queue_delayed_work(vd->wq, &vd->reneg_work, vd->backoff);
	} else {
		vd->backoff = VARGO_PROBE_BACKOFF_MIN;
		vd->failing = false;
		vd->config_stale = true;
		vd->stats.renegotiations++;
		dev_info_ratelimited(&vd->pdev->dev,
				     "device session %#x: renegotiated\n",
				     vd->dev_session);
	}
	spin_unlock_irqrestore(&vd->lock, flags);
	if (!err || kick)
		queue_work(vd->wq, &vd->kick_work);
}

/*
 * A device that keeps requests without answering anything (its ring
 * registered and not full) is probed by a renegotiation; if it does not
 * answer that either, the hold bound of reneg_work applies.
 */
static void vargo_watch_work(struct work_struct *work)
{
	struct vargo_dev *vd = container_of(to_delayed_work(work), struct vargo_dev,
					    watch_work);
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	if (vd->link_up && !vd->broken && !list_empty(&vd->inflight) &&
	    time_after(jiffies, vd->last_heard + VARGO_HOLD_MAX)) {
		dev_info_ratelimited(&vd->pdev->dev,
				     "no answer for %u s: renegotiating\n",
				     jiffies_to_msecs(VARGO_HOLD_MAX) / 1000);
		vd->last_heard = jiffies;
		vargo_schedule_reneg(vd, 0);
	}
	if (!vd->stopping)
		queue_delayed_work(system_long_wq, &vd->watch_work,
				   VARGO_HOLD_MAX / 4);
	spin_unlock_irqrestore(&vd->lock, flags);
}

/* ------------------------------------------------------------------ */
/* Device discovery and lifetime                                       */
/* ------------------------------------------------------------------ */

/*
 * Ask the device what it is, then register the virtio device.  Runs on
 * system_long_wq, not vd->wq: the driver's probe may wait for I/O, which
 * needs kick_work.
 */
static void vargo_probe_work(struct work_struct *work)
{
	struct vargo_dev *vd = container_of(to_delayed_work(work), struct vargo_dev,
					    probe_work);
	unsigned long flags;
	int err;

	if (vd->registered || vd->dev_initialized)
		return;
	err = vargo_device_info(vd, &vd->info);
	if (err) {
		if (vd->backoff == VARGO_PROBE_BACKOFF_MIN)
			dev_info(&vd->pdev->dev,
				 "backend %u:%#x not answering (%d), retrying\n",
				 vd->domid, vd->port, err);
		spin_lock_irqsave(&vd->lock, flags);
		vd->backoff = min(vd->backoff * 2,
				  (unsigned long)VARGO_PROBE_BACKOFF_MAX);
		if (!vd->stopping)
			queue_delayed_work(system_long_wq, &vd->probe_work,
					   vd->backoff);
		spin_unlock_irqrestore(&vd->lock, flags);
		return;
	}
	vd->backoff = VARGO_PROBE_BACKOFF_MIN;
	vd->vdev.id.device = va_le32_to_cpu(vd->info.device_id);
	vd->vdev.id.vendor = va_le32_to_cpu(vd->info.vendor_id);
	/*
	 * From here a backend restart is answered by renegotiation, also
	 * while the driver probes (which may wait for I/O).
	 */
	spin_lock_irqsave(&vd->lock, flags);
	vd->link_up = true;
	vd->active = true;
	vd->last_heard = jiffies;
	if (!vd->stopping)
		queue_delayed_work(system_long_wq, &vd->watch_work,
				   VARGO_HOLD_MAX / 4);
	spin_unlock_irqrestore(&vd->lock, flags);

	dev_info(&vd->pdev->dev,
		 "backend %u:%#x: virtio device %u, %u queues, session %#x\n",
		 vd->domid, vd->port, vd->vdev.id.device,
		 va_le16_to_cpu(vd->info.num_queues), vd->dev_session);
	vd->dev_initialized = true;
	err = register_virtio_device(&vd->vdev);
	if (err) {
		dev_err(&vd->pdev->dev, "register_virtio_device: %d\n", err);
		spin_lock_irqsave(&vd->lock, flags);
		vd->active = false;
		spin_unlock_irqrestore(&vd->lock, flags);
		return;
	}
	vd->registered = true;
}

/* /sys/devices/platform/virtio-argo.N/stats: the transport's counters. */
static ssize_t stats_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct vargo_dev *vd = dev_get_drvdata(dev);
	struct vargo_stats st;
	unsigned long flags;
	bool broken;

	spin_lock_irqsave(&vd->lock, flags);
	st = vd->stats;
	broken = vd->broken;
	spin_unlock_irqrestore(&vd->lock, flags);
	return sysfs_emit(buf,
			  "requests %llu\nresponses %llu\nreplayed %llu\nrenegotiations %llu\ndropped %llu\nstale %llu\nviolations %llu\nrecoveries %llu\nfailed %llu\nbroken %d\n",
			  st.requests, st.responses, st.replayed,
			  st.renegotiations, st.dropped, st.stale,
			  st.violations, st.recoveries, st.failed, broken);
}
static DEVICE_ATTR_RO(stats);

static void vargo_vdev_release(struct device *dev)
{
	struct virtio_device *vdev = dev_to_virtio(dev);

	kfree(to_vargo(vdev));
}

/*
 * Tear down whatever the device does: mark it stopping before anything
 * waits, so that every wait for ring space and the control reply now
 * awaited give up, and complete every chain with an error (the driver's
 * remove waits for its I/O) before the virtio device goes.
 */
static void vargo_dev_destroy(struct vargo_dev *vd)
{
	unsigned long flags;

	spin_lock_irqsave(&vd->lock, flags);
	vd->stopping = true;
	vd->failing = true;
	vargo_cancel_waits(vd);
	spin_unlock_irqrestore(&vd->lock, flags);
	vargo_argo_wake_senders();
	queue_work(vd->wq, &vd->kick_work);
	cancel_delayed_work_sync(&vd->probe_work);
	cancel_delayed_work_sync(&vd->watch_work);

	if (vd->registered) {
		get_device(&vd->vdev.dev);
		unregister_virtio_device(&vd->vdev);
	}
	cancel_delayed_work_sync(&vd->reneg_work);
	cancel_work_sync(&vd->kick_work);
	vargo_argo_ring_unregister(vd->ring);
	destroy_workqueue(vd->wq);
	vargo_reap(vd);
	device_remove_file(&vd->pdev->dev, &dev_attr_stats);
	platform_device_unregister(vd->pdev);
	if (vd->dev_initialized)
		put_device(&vd->vdev.dev);
	else
		kfree(vd);
}

static int vargo_dev_create(unsigned int idx, u16 domid, u32 port,
			    u32 local_port, struct vargo_dev **ret)
{
	struct vargo_dev *vd;
	int err;

	vd = kzalloc(sizeof(*vd), GFP_KERNEL);
	if (!vd)
		return -ENOMEM;
	vd->idx = idx;
	vd->domid = domid;
	vd->port = port;
	vd->local_port = local_port;
	do {
		vd->session = get_random_u32();
	} while (!vd->session);
	mutex_init(&vd->op_lock);
	mutex_init(&vd->ctrl_lock);
	init_completion(&vd->ctrl_done);
	spin_lock_init(&vd->lock);
	spin_lock_init(&vd->cb_lock);
	INIT_LIST_HEAD(&vd->inflight);
	INIT_LIST_HEAD(&vd->dead);
	INIT_WORK(&vd->kick_work, vargo_kick_work);
	INIT_DELAYED_WORK(&vd->reneg_work, vargo_reneg_work);
	INIT_DELAYED_WORK(&vd->probe_work, vargo_probe_work);
	INIT_DELAYED_WORK(&vd->watch_work, vargo_watch_work);
	vd->backoff = VARGO_PROBE_BACKOFF_MIN;

	vd->wq = alloc_ordered_workqueue("virtio-argo-%u", WQ_MEM_RECLAIM, idx);
	if (!vd->wq) {
		err = -ENOMEM;
		goto err_free;
	}

	vd->pdev = platform_device_register_simple("virtio-argo", idx, NULL, 0);
	if (IS_ERR(vd->pdev)) {
		err = PTR_ERR(vd->pdev);
		goto err_wq;
	}
	/* Our own DMA ops: descriptor addresses are kernel addresses on every
	 * kind of Xen guest (see the file comment).
	 */
	set_dma_ops(&vd->pdev->dev, &vargo_dma_ops);
	err = dma_coerce_mask_and_coherent(&vd->pdev->dev, DMA_BIT_MASK(64));
	if (err)
		goto err_pdev;
	dev_set_drvdata(&vd->pdev->dev, vd);
	err = device_create_file(&vd->pdev->dev, &dev_attr_stats);
	if (err)
		goto err_pdev;

	vd->ring = vargo_argo_ring_register_msg(local_port, domid, ring_len,
						vargo_rx, vd);
	if (IS_ERR(vd->ring)) {
		err = PTR_ERR(vd->ring);
		dev_err(&vd->pdev->dev, "ring %#x (partner %u): %d\n",
			local_port, domid, err);
		goto err_attr;
	}

	vd->vdev.dev.parent = &vd->pdev->dev;
	vd->vdev.dev.release = vargo_vdev_release;
	vd->vdev.config = &vargo_config_ops;
	queue_delayed_work(system_long_wq, &vd->probe_work, 0);
	*ret = vd;
	return 0;

err_attr:
	device_remove_file(&vd->pdev->dev, &dev_attr_stats);
err_pdev:
	platform_device_unregister(vd->pdev);
err_wq:
	destroy_workqueue(vd->wq);
err_free:
	kfree(vd);
	return err;
}

/*
 * Parse "<domid>:<port>[:<local-port>]" (ports in any base kstrtou32
 * accepts; the local port defaults to the device's, and may not be 0).
 */
static int vargo_parse_one(char *s, u16 *ret_domid, u32 *ret_port,
			   u32 *ret_local)
{
	char *port = strchr(s, ':'), *local;
	int err;

	if (!port)
		return -EINVAL;
	*port++ = '\0';
	local = strchr(port, ':');
	if (local)
		*local++ = '\0';
	err = kstrtou16(strim(s), 0, ret_domid);
	if (!err)
		err = kstrtou32(strim(port), 0, ret_port);
	if (!err)
		*ret_local = *ret_port;
	if (!err && local)
		err = kstrtou32(strim(local), 0, ret_local);
	if (!err && (*ret_domid >= 0x7ff0 ||	/* DOMID_FIRST_RESERVED */
		     !*ret_local))
		err = -EINVAL;
	return err;
}

static void vargo_destroy_all(void)
{
	while (vargo_ndevs)
		vargo_dev_destroy(vargo_devs[--vargo_ndevs]);
}

static int __init vargo_init(void)
{
	char *list, *p, *item;
	int err = 0;

	if (!devices || !*devices) {
		pr_info("no devices configured (virtio_argo.devices=<domid>:<port>,...)\n");
		return 0;
	}
	if (ring_len < VA_RING_LEN_MIN || ring_len > VA_RING_LEN_MAX ||
	    ring_len % 16) {
		pr_err("ring_len %u out of range\n", ring_len);
		return -EINVAL;
	}
	list = kstrdup(devices, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	p = list;
	while ((item = strsep(&p, ",")) != NULL) {
		u16 domid;
		u32 port, local;

		if (!*item)
			continue;
		if (vargo_ndevs >= VARGO_MAX_DEVICES) {
			pr_err("more than %d devices\n", VARGO_MAX_DEVICES);
			err = -E2BIG;
			break;
		}
		err = vargo_parse_one(item, &domid, &port, &local);
		if (err) {
			pr_err("devices=%s: entry %u is not <domid>:<port>[:<local-port>]\n",
			       devices, vargo_ndevs + 1);
			break;
		}
		err = vargo_dev_create(vargo_ndevs, domid, port, local,
				       &vargo_devs[vargo_ndevs]);
		if (err)
			break;
		vargo_ndevs++;
	}
	kfree(list);
	if (err)
		vargo_destroy_all();
	return err;
}

static void __exit vargo_exit(void)
{
	vargo_destroy_all();
}

module_init(vargo_init);
module_exit(vargo_exit);

MODULE_DESCRIPTION("virtio transport over Xen Argo (no shared memory)");
MODULE_LICENSE("GPL");
