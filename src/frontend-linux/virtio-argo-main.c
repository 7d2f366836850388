// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: The module: its parameters, the parent device's DMA ops, and each
 * device's discovery and lifetime.
 */
#include "virtio-argo.h"

static char *devices;
module_param(devices, charp, 0444);
MODULE_PARM_DESC(devices,
		 "Remote devices: <backend-domid>:<port>[:<local-port>][,...], or xenstore");

unsigned int vargo_ring_len = VA_RING_LEN_DEFAULT;
module_param_named(ring_len, vargo_ring_len, uint, 0444);
MODULE_PARM_DESC(ring_len, "Data bytes of each device's Argo ring");

unsigned int vargo_hold_s = VARGO_HOLD_S_DEFAULT;
module_param_named(hold_s, vargo_hold_s, uint, 0444);
MODULE_PARM_DESC(hold_s,
		 "Seconds requests wait for an unreachable device before they fail (1-86400)");

/* By index (devices= order, or XenStore's <n>); NULL: no such device. */
static struct vargo_dev *vargo_devs[VARGO_MAX_DEVICES];
static bool vargo_xs;

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
void *vargo_xlate(void *ctx, u64 addr, u32 len)
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
	/* Not active yet: reneg_work cannot run, so we may move the ring. */
	err = vargo_follow(vd);
	if (!err)
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
				   VARGO_SILENT_MAX / 4);
	/* Told to move while this probe went on: reneg_work moves now. */
	if (vd->moving)
		vargo_schedule_reneg(vd, 0);
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
			  "requests %llu\nresponses %llu\nreplayed %llu\nrenegotiations %llu\ndropped %llu\nstale %llu\nviolations %llu\nrecoveries %llu\nfailed %llu\npolled %llu\npoll_timeouts %llu\nmoves %llu\nbroken %d\n",
			  st.requests, st.responses, st.replayed,
			  st.renegotiations, st.dropped, st.stale,
			  st.violations, st.recoveries, st.failed, st.polled,
			  st.poll_timeouts, st.moves, broken);
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
 * remove waits for its I/O) before the virtio device goes; receive
 * buffers excepted (vargo_chain_failable()): the driver's reset takes
 * them back unused.
 */
void vargo_dev_destroy(struct vargo_dev *vd)
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

/*
 * A device at address a.  ring_now: its ring is registered here (devices=:
 * an error fails the load); else the first probe registers it and retries
 * while that fails (XenStore: the backend's domain may not exist yet).
 */
static int vargo_dev_create(unsigned int idx, const struct vargo_addr *a,
			    bool ring_now, struct vargo_dev **ret)
{
	struct vargo_dev *vd;
	int err;

	vd = kzalloc(sizeof(*vd), GFP_KERNEL);
	if (!vd)
		return -ENOMEM;
	vd->idx = idx;
	vd->domid = a->domid;
	vd->port = a->port;
	vd->local_port = a->local_port;
	vd->want = *a;
	vd->moving = !ring_now;
	do {
		vd->session = get_random_u32();
	} while (!vd->session);
	mutex_init(&vd->op_lock);
	mutex_init(&vd->ctrl_lock);
	init_completion(&vd->ctrl_done);
	spin_lock_init(&vd->lock);
	init_waitqueue_head(&vd->polled_wq);
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

	if (ring_now) {
		vd->ring = vargo_argo_ring_register_msg(a->local_port, a->domid,
							vargo_ring_len, vargo_rx,
							vargo_rx_drained, vd);
		if (IS_ERR(vd->ring)) {
			err = PTR_ERR(vd->ring);
			dev_err(&vd->pdev->dev, "ring %#x (partner %u): %d\n",
				a->local_port, a->domid, err);
			goto err_attr;
		}
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

/* An address a device may have: a domain's id, a local port not 0. */
int vargo_addr_check(const struct vargo_addr *a)
{
	if (a->domid >= 0x7ff0 ||	/* DOMID_FIRST_RESERVED */
	    !a->local_port)
		return -EINVAL;
	return 0;
}

/* Device idx at a (XenStore: a ring registered by its probe). */
int vargo_dev_add(unsigned int idx, const struct vargo_addr *a, bool ring_now)
{
	if (idx >= VARGO_MAX_DEVICES || vargo_devs[idx])
		return -EEXIST;
	return vargo_dev_create(idx, a, ring_now, &vargo_devs[idx]);
}

struct vargo_dev *vargo_dev_get(unsigned int idx)
{
	return idx < VARGO_MAX_DEVICES ? vargo_devs[idx] : NULL;
}

/*
 * Parse "<domid>:<port>[:<local-port>]" (ports in any base kstrtou32
 * accepts; the local port defaults to the device's, and may not be 0).
 */
static int vargo_parse_one(char *s, struct vargo_addr *a)
{
	char *port = strchr(s, ':'), *local;
	int err;

	if (!port)
		return -EINVAL;
	*port++ = '\0';
	local = strchr(port, ':');
	if (local)
		*local++ = '\0';
	err = kstrtou16(strim(s), 0, &a->domid);
	if (!err)
		err = kstrtou32(strim(port), 0, &a->port);
	if (!err)
		a->local_port = a->port;
	if (!err && local)
		err = kstrtou32(strim(local), 0, &a->local_port);
	return err ? err : vargo_addr_check(a);
}

static void vargo_destroy_all(void)
{
	unsigned int i = VARGO_MAX_DEVICES;

	while (i--) {
		if (vargo_devs[i])
			vargo_dev_destroy(vargo_devs[i]);
		vargo_devs[i] = NULL;
	}
}

static int __init vargo_init(void)
{
	unsigned int n = 0;
	char *list, *p, *item;
	int err = 0;

	if (!devices || !*devices) {
		pr_info("no devices configured (virtio_argo.devices=<domid>:<port>,... or xenstore)\n");
		return 0;
	}
	if (!va_ring_len_ok(vargo_ring_len)) {
		pr_err("ring_len %u out of range\n", vargo_ring_len);
		return -EINVAL;
	}
	if (vargo_hold_s < 1 || vargo_hold_s > VARGO_HOLD_S_MAX) {
		pr_err("hold_s %u out of range (1-%u)\n", vargo_hold_s, VARGO_HOLD_S_MAX);
		return -EINVAL;
	}
	if (!strcmp(devices, "xenstore")) {
		err = vargo_xs_init();
		vargo_xs = !err;
		return err;
	}
	list = kstrdup(devices, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	p = list;
	while ((item = strsep(&p, ",")) != NULL) {
		struct vargo_addr a;

		if (!*item)
			continue;
		if (n >= VARGO_MAX_DEVICES) {
			pr_err("more than %d devices\n", VARGO_MAX_DEVICES);
			err = -E2BIG;
			break;
		}
		err = vargo_parse_one(item, &a);
		if (err) {
			pr_err("devices=%s: entry %u is not <domid>:<port>[:<local-port>]\n",
			       devices, n + 1);
			break;
		}
		err = vargo_dev_add(n, &a, true);
		if (err)
			break;
		n++;
	}
	kfree(list);
	if (err)
		vargo_destroy_all();
	return err;
}

static void __exit vargo_exit(void)
{
	/* No watch event, hence no new device or move, after this. */
	if (vargo_xs)
		vargo_xs_exit();
	vargo_destroy_all();
}

module_init(vargo_init);
module_exit(vargo_exit);

MODULE_DESCRIPTION("virtio transport over Xen Argo (no shared memory)");
MODULE_LICENSE("GPL");
