// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/argo: Argo for user-space back-ends (ABI in
 * src/include/virtio-argo/argo-dev.h), part of module virtio_argo_core.
 *
 * Each open file owns up to VA_ARGODEV_MAX_RINGS raw-mode rings of the core
 * (user space reads them in place through mmap and writes rx_ptr), may send
 * from port P to domain D only if it registered the ring (P, partner D)
 * (Xen authenticates the source domain, not the port: this is what stops
 * one daemon from forging another's replies),
 * and is released completely on close.  sendv copies the user buffers into
 * kernel memory first because Xen reads them through guest virtual
 * addresses and does not fault pages in.
 *
 * Locking: vargo_file.lock (mutex) protects the ring slots; files_lock
 * (spinlock) the list of open files that the core's scan wakes; events are
 * atomic bits.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/slab.h>
#include <linux/poll.h>
#include <linux/uaccess.h>
#include <linux/cred.h>
#include <linux/capability.h>
#include <xen/xen.h>

#include "argo-core.h"
#include "argo-dev-priv.h"
#include "virtio-argo/argo-dev.h"

static int group = -1;
module_param(group, int, 0444);
MODULE_PARM_DESC(group, "GID that may use /dev/argo besides root (-1: none)");

static int domid = -1;
module_param(domid, int, 0444);
MODULE_PARM_DESC(domid, "This domain's id for VA_ARGODEV_INFO (-1: 0 in dom0, else unknown)");

#define VARGO_EV_SPACE_WAIT	2	/* bit: a sendv of ours got -EAGAIN */

struct vargo_file {
	struct list_head node;		/* in files, under files_lock */
	struct mutex lock;		/* rings[] */
	struct vargo_kring *rings[VA_ARGODEV_MAX_RINGS];
	unsigned long events;		/* VA_ARGODEV_EV_* and VARGO_EV_SPACE_WAIT */
	unsigned long space_gen;	/* virq count before the last -EAGAIN */
	wait_queue_head_t wq;
};

static LIST_HEAD(files);
static DEFINE_SPINLOCK(files_lock);

static void vargo_file_wake(void *priv)
{
	struct vargo_file *f = priv;

	wake_up_interruptible(&f->wq);
}

static const struct vargo_kring_ops vargo_file_ring_ops = {
	.ready = vargo_file_wake,
};

void vargo_argo_dev_virq(void)
{
	struct vargo_file *f;

	spin_lock(&files_lock);
	list_for_each_entry(f, &files, node) {
		set_bit(ilog2(VA_ARGODEV_EV_VIRQ), &f->events);
		/* Only a VIRQ newer than the -EAGAIN can be its wake-up. */
		if (test_bit(VARGO_EV_SPACE_WAIT, &f->events) &&
		    vargo_argo_virq_count() != READ_ONCE(f->space_gen) &&
		    test_and_clear_bit(VARGO_EV_SPACE_WAIT, &f->events))
			set_bit(ilog2(VA_ARGODEV_EV_SPACE), &f->events);
		wake_up_interruptible(&f->wq);
	}
	spin_unlock(&files_lock);
}

static int vargo_open(struct inode *inode, struct file *file)
{
	struct vargo_file *f;

	if (!capable(CAP_SYS_ADMIN) &&
	    !(group >= 0 && in_group_p(make_kgid(&init_user_ns, group))))
		return -EPERM;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	init_waitqueue_head(&f->wq);
	spin_lock(&files_lock);
	list_add_tail(&f->node, &files);
	spin_unlock(&files_lock);
	file->private_data = f;
	return 0;
}

static int vargo_release(struct inode *inode, struct file *file)
{
	struct vargo_file *f = file->private_data;
	unsigned int i;

	spin_lock(&files_lock);
	list_del(&f->node);
	spin_unlock(&files_lock);
	for (i = 0; i < VA_ARGODEV_MAX_RINGS; i++)
		vargo_argo_ring_unregister(f->rings[i]);
	kfree(f);
	return 0;
}

/* Slot of (port, partner), or -1.  Under f->lock. */
static int vargo_find(struct vargo_file *f, u32 port, u16 partner)
{
	unsigned int i;

	for (i = 0; i < VA_ARGODEV_MAX_RINGS; i++)
		if (f->rings[i] && vargo_argo_ring_port(f->rings[i]) == port &&
		    vargo_argo_ring_partner(f->rings[i]) == partner)
			return i;
	return -1;
}

static long vargo_ioc_register(struct vargo_file *f, void __user *arg)
{
	struct va_argodev_register reg;
	struct vargo_kring *ring;
	int slot, ret;

	if (copy_from_user(&reg, arg, sizeof(reg)))
		return -EFAULT;
	if (reg.pad || reg.partner > VA_ARGO_DOMID_MAX ||
	    !va_argo_ring_len_valid(reg.len))
		return -EINVAL;

	mutex_lock(&f->lock);
	ret = -EEXIST;
	if (vargo_find(f, reg.port, reg.partner) >= 0)
		goto out_unlock;
	for (slot = 0; slot < VA_ARGODEV_MAX_RINGS && f->rings[slot]; slot++)
		;
	ret = -ENOSPC;
	if (slot == VA_ARGODEV_MAX_RINGS)
		goto out_unlock;
	ring = vargo_argo_ring_register(reg.port, reg.partner, reg.len,
					&vargo_file_ring_ops, f);
	ret = PTR_ERR_OR_ZERO(ring);
	if (ret)
		goto out_unlock;
	reg.mmap_size = va_argo_ring_npages(reg.len) * PAGE_SIZE;
	reg.mmap_offset = slot * VA_ARGODEV_MMAP_STRIDE;
	if (copy_to_user(arg, &reg, sizeof(reg))) {
		vargo_argo_ring_unregister(ring);
		ret = -EFAULT;
		goto out_unlock;
	}
	f->rings[slot] = ring;
out_unlock:
	mutex_unlock(&f->lock);
	return ret;
}

static long vargo_ioc_unregister(struct vargo_file *f, void __user *arg)
{
	struct va_argodev_unregister unreg;
	struct vargo_kring *ring = NULL;
	int slot;

	if (copy_from_user(&unreg, arg, sizeof(unreg)))
		return -EFAULT;
	if (unreg.pad)
		return -EINVAL;
	mutex_lock(&f->lock);
	slot = vargo_find(f, unreg.port, unreg.partner);
	if (slot >= 0) {
		ring = f->rings[slot];
		f->rings[slot] = NULL;
	}
	mutex_unlock(&f->lock);
	if (!ring)
		return -ENOENT;
	vargo_argo_ring_unregister(ring);
	return 0;
}

static long vargo_ioc_sendv(struct vargo_file *f, void __user *arg)
{
	struct va_argodev_iov uiov[VA_ARGO_MAX_IOV];
	struct va_argodev_sendv s;
	struct vargo_kring *ring = NULL;
	struct kvec kv;
	u32 total, off = 0;
	unsigned int i;
	void *buf;
	int slot;
	long ret;

	if (copy_from_user(&s, arg, sizeof(s)))
		return -EFAULT;
	if (s.pad || s.pad2 || s.niov > VA_ARGO_MAX_IOV ||
	    s.dst_domid > VA_ARGO_DOMID_MAX)
		return -EINVAL;
	if (copy_from_user(uiov, u64_to_user_ptr(s.iov),
			   s.niov * sizeof(uiov[0])))
		return -EFAULT;
	for (i = 0; i < s.niov; i++)
		if (uiov[i].pad)
			return -EINVAL;
	/* Sized from this one copy of the lengths, never wrapping. */
	if (!va_argodev_iov_total(uiov, s.niov, &total))
		return -EMSGSIZE;

	buf = kvmalloc(total ? total : 1, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < s.niov; i++) {
		if (copy_from_user((u8 *)buf + off, u64_to_user_ptr(uiov[i].base),
				   uiov[i].len)) {
			ret = -EFAULT;
			goto out_free;
		}
		off += uiov[i].len;
	}
	kv.iov_base = buf;
	kv.iov_len = total;

	mutex_lock(&f->lock);
	slot = vargo_find(f, s.src_port, s.dst_domid);
	if (slot >= 0)
		ring = f->rings[slot];
	if (!ring) {
		ret = -EPERM;
	} else {
		/*
		 * Read the VIRQ count before the hypercall: a wake-up racing
		 * with it then counts (at worst one spurious EV_SPACE; the
		 * caller retries and re-arms), it is never lost.
		 */
		unsigned long gen = vargo_argo_virq_count();

		ret = vargo_argo_sendv_nowait(ring, s.dst_domid, s.dst_port, &kv, 1,
					      s.message_type);
		if (ret == -EAGAIN) {
			WRITE_ONCE(f->space_gen, gen);
			/* Pairs with the test_bit in vargo_argo_dev_virq(). */
			smp_mb__before_atomic();
			set_bit(VARGO_EV_SPACE_WAIT, &f->events);
		}
	}
	mutex_unlock(&f->lock);
out_free:
	kvfree(buf);
	return ret;
}

static long vargo_ioc_notify(void __user *arg)
{
	struct va_argo_ring_data_ent *ents;
	struct va_argodev_notify n;
	size_t size;
	long ret;

	if (copy_from_user(&n, arg, sizeof(n)))
		return -EFAULT;
	if (n.pad || n.nent > VA_ARGO_MAX_NOTIFY_COUNT)
		return -EINVAL;
	if (!n.nent)
		return vargo_argo_notify(NULL, 0);
	size = n.nent * sizeof(*ents);
	ents = memdup_user(u64_to_user_ptr(n.ents), size);
	if (IS_ERR(ents))
		return PTR_ERR(ents);
	ret = vargo_argo_notify(ents, n.nent);
	if (!ret && copy_to_user(u64_to_user_ptr(n.ents), ents, size))
		ret = -EFAULT;
	kfree(ents);
	return ret;
}

static long vargo_ioc_info(void __user *arg)
{
	struct va_argodev_info info = {
		.abi_version = VA_ARGODEV_ABI_VERSION,
		.self_domid = VA_ARGO_DOMID_ANY,
	};

	if (domid >= 0 && domid <= VA_ARGO_DOMID_MAX)
		info.self_domid = domid;
	else if (domid < 0 && xen_initial_domain())
		info.self_domid = 0;
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long vargo_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vargo_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;
	u32 ev;

	switch (cmd) {
	case VA_ARGODEV_INFO:
		return vargo_ioc_info(uarg);
	case VA_ARGODEV_REGISTER:
		return vargo_ioc_register(f, uarg);
	case VA_ARGODEV_UNREGISTER:
		return vargo_ioc_unregister(f, uarg);
	case VA_ARGODEV_SENDV:
		return vargo_ioc_sendv(f, uarg);
	case VA_ARGODEV_NOTIFY:
		return vargo_ioc_notify(uarg);
	case VA_ARGODEV_ACK:
		ev = 0;
		if (test_and_clear_bit(ilog2(VA_ARGODEV_EV_VIRQ), &f->events))
			ev |= VA_ARGODEV_EV_VIRQ;
		if (test_and_clear_bit(ilog2(VA_ARGODEV_EV_SPACE), &f->events))
			ev |= VA_ARGODEV_EV_SPACE;
		return put_user(ev, (u32 __user *)uarg);
	case VA_ARGODEV_DOMAIN_EXISTS:
		return -EOPNOTSUPP;
	default:
		return -ENOTTY;
	}
}

static __poll_t vargo_poll(struct file *file, poll_table *wait)
{
	struct vargo_file *f = file->private_data;
	__poll_t mask = 0;
	unsigned int i;

	poll_wait(file, &f->wq, wait);
	if (test_bit(ilog2(VA_ARGODEV_EV_VIRQ), &f->events) ||
	    test_bit(ilog2(VA_ARGODEV_EV_SPACE), &f->events))
		return EPOLLIN | EPOLLRDNORM;
	mutex_lock(&f->lock);
	for (i = 0; i < VA_ARGODEV_MAX_RINGS && !mask; i++) {
		struct va_argo_ring *hdr;

		if (!f->rings[i])
			continue;
		hdr = vargo_argo_ring_hdr(f->rings[i]);
		if (READ_ONCE(hdr->rx_ptr) != READ_ONCE(hdr->tx_ptr))
			mask = EPOLLIN | EPOLLRDNORM;
	}
	mutex_unlock(&f->lock);
	return mask;
}

static int vargo_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct vargo_file *f = file->private_data;
	unsigned long stride = VA_ARGODEV_MMAP_STRIDE >> PAGE_SHIFT;
	unsigned long slot = vma->vm_pgoff / stride;
	struct vargo_kring *ring;
	int ret = -EINVAL;

	if (vma->vm_pgoff % stride || slot >= VA_ARGODEV_MAX_RINGS)
		return -EINVAL;
	mutex_lock(&f->lock);
	ring = f->rings[slot];
	if (ring && vma->vm_end - vma->vm_start ==
	    (unsigned long)va_argo_ring_npages(vargo_argo_ring_len(ring)) * PAGE_SIZE)
		ret = remap_vmalloc_range(vma, vargo_argo_ring_vaddr(ring), 0);
	mutex_unlock(&f->lock);
	return ret;
}

static const struct file_operations vargo_fops = {
	.owner = THIS_MODULE,
	.open = vargo_open,
	.release = vargo_release,
	.unlocked_ioctl = vargo_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = vargo_poll,
	.mmap = vargo_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice vargo_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VA_ARGODEV_NAME,
	.fops = &vargo_fops,
	.mode = 0600,
};

int vargo_argo_dev_init(void)
{
	/* With group=, open() checks the group; the node must let it in. */
	if (group >= 0)
		vargo_miscdev.mode = 0666;
	return misc_register(&vargo_miscdev);
}

void vargo_argo_dev_exit(void)
{
	misc_deregister(&vargo_miscdev);
}
