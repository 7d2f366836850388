// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: virtio_config_ops: every member is a control round trip or served
 * from the copy of the config space.
 */
#include "virtio-argo.h"

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

void vargo_del_vqs(struct virtio_device *vdev)
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

/*
 * Queues whose stock Linux driver waits for the device by spinning on the
 * CPU until its buffer is used, with preemption or interrupts off, instead
 * of sleeping until the queue's callback (Linux 6.1):
 *  - virtio_console: the control transmitq (3; __send_control_msg() under
 *    a spinlock, from probe on) and port 0's transmitq (1; hvc's
 *    put_chars() through __send_to_port(), interrupts off).  Other ports'
 *    writes do not wait (nonblock), and port 0 is the console port our
 *    consoled announces;
 *  - virtio_net: the controlq, its last queue when CTRL_VQ is negotiated
 *    (virtnet_send_command(); set_rx_mode calls it with bottom halves
 *    off).
 * Their requests are sent and answered inside notify (vargo_kick_polled).
 */
bool vargo_busy_waited(const struct vargo_dev *vd, u16 index, u16 nr_queues)
{
	switch (vd->vdev.id.device) {
	case VIRTIO_ID_CONSOLE:
		return index == 1 || index == 3;
	case VIRTIO_ID_NET:
		return __virtio_test_bit(&vd->vdev, VIRTIO_NET_F_CTRL_VQ) &&
		       index + 1 == nr_queues;
	default:
		return false;
	}
}

static struct vargo_vq *vargo_setup_vq(struct vargo_dev *vd, u16 index,
				       vq_callback_t *callback, const char *name,
				       bool ctx, bool polled)
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
	if (!va_vqueue_max_ok(max)) {
		unsigned long flags;

		spin_lock_irqsave(&vd->lock, flags);
		vargo_violation(vd, "GET_VQUEUE max_size out of range", -EPROTO);
		spin_unlock_irqrestore(&vd->lock, flags);
		return ERR_PTR(-EPROTO);
	}
	/* A split vring's size is a power of two (vring_create_virtqueue
	 * refuses others); the protocol allows any maximum: round down.
	 */
	max = rounddown_pow_of_two(min(max, VARGO_VRING_MAX));

	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return ERR_PTR(-ENOMEM);
	q->vd = vd;
	q->index = index;
	q->polled = polled;
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
	unsigned int i, queue_idx = 0, nr_queues = 0;
	struct vargo_vq *q;

	for (i = 0; i < nvqs; i++)
		nr_queues += !!names[i];
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
		q = vargo_setup_vq(vd, queue_idx, callbacks[i], names[i],
				   ctx ? ctx[i] : false,
				   vargo_busy_waited(vd, queue_idx, nr_queues));
		queue_idx++;
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

const struct virtio_config_ops vargo_config_ops = {
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
