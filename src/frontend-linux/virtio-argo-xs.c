// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_argo: devices=xenstore.  The toolstack writes, in this domain's
 * own XenStore subtree, one directory per device:
 *
 *   virtio-argo/<n>/backend      the backend's domid (decimal)
 *   virtio-argo/<n>/port         the device's Argo port
 *   virtio-argo/<n>/local-port   our ring's port (optional: port)
 *
 * (n = 0..VARGO_MAX_DEVICES-1; docs/architecture.md, "How the guest
 * finds its devices").  A xenbus watch on virtio-argo queues scan_work,
 * which reads each directory in one transaction and, for one whose values
 * changed since the last scan, creates the device or moves it
 * (vargo_move()).  No value is trusted: at most VARGO_XS_VAL_MAX
 * characters, no NUL inside, numbers in range, else the directory is
 * ignored with a log line and the device stays where it is.  A directory
 * removed leaves its device in place (no hot-unplug).
 *
 * Lifetime: the watch is registered once XenStore is up (a xenstore
 * notifier); vargo_xs_exit() unregisters the notifier and the watch (no
 * callback runs after that) and then cancels scan_work, before the
 * devices are destroyed.  Only scan_work creates devices after the load,
 * and it never runs twice at once (one work item).
 */
#include "virtio-argo.h"

#include <xen/xenbus.h>

#define VARGO_XS_DIR		"virtio-argo"
#define VARGO_XS_VAL_MAX	31	/* longest value taken, in bytes */
#define VARGO_XS_TRIES		8	/* transactions retried on -EAGAIN */

enum { VARGO_XS_BACKEND, VARGO_XS_PORT, VARGO_XS_LOCAL, VARGO_XS_NKEYS };

static const char *const vargo_xs_keys[VARGO_XS_NKEYS] = {
	[VARGO_XS_BACKEND] = "backend",
	[VARGO_XS_PORT] = "port",
	[VARGO_XS_LOCAL] = "local-port",
};

/*
 * One directory as read: per key 0 (val holds it), -ENOENT, -E2BIG (too
 * long: val holds its start, for the log) or another read error.  Kept
 * per device index to see what changed; zeroed before filling, so that
 * memcmp() compares only what was read.
 */
struct vargo_xs_entry {
	int err[VARGO_XS_NKEYS];
	u32 len[VARGO_XS_NKEYS];
	char val[VARGO_XS_NKEYS][VARGO_XS_VAL_MAX + 1];
};

static struct vargo_xs_entry vargo_xs_seen[VARGO_MAX_DEVICES];
static bool vargo_xs_watching;

static void vargo_xs_scan_work(struct work_struct *work);
static DECLARE_WORK(vargo_xs_scan, vargo_xs_scan_work);

static void vargo_xs_absent(struct vargo_xs_entry *e)
{
	unsigned int k;

	memset(e, 0, sizeof(*e));
	for (k = 0; k < VARGO_XS_NKEYS; k++)
		e->err[k] = -ENOENT;
}

static void vargo_xs_read_key(struct xenbus_transaction t, const char *dir,
			      unsigned int k, struct vargo_xs_entry *e)
{
	unsigned int len;
	char *v;

	v = xenbus_read(t, dir, vargo_xs_keys[k], &len);
	if (IS_ERR(v)) {
		e->err[k] = PTR_ERR(v);
		return;
	}
	e->err[k] = len > VARGO_XS_VAL_MAX ? -E2BIG : 0;
	e->len[k] = min_t(u32, len, VARGO_XS_VAL_MAX);
	memcpy(e->val[k], v, e->len[k]);
	kfree(v);
}

/* Directory virtio-argo/<n>, every key in one transaction. */
static int vargo_xs_read(unsigned int n, struct vargo_xs_entry *e)
{
	char dir[sizeof(VARGO_XS_DIR) + 12];
	unsigned int tries, k;
	int err = -EAGAIN;

	snprintf(dir, sizeof(dir), VARGO_XS_DIR "/%u", n);
	for (tries = 0; tries < VARGO_XS_TRIES && err == -EAGAIN; tries++) {
		struct xenbus_transaction t;

		err = xenbus_transaction_start(&t);
		if (err)
			return err;
		memset(e, 0, sizeof(*e));
		for (k = 0; k < VARGO_XS_NKEYS; k++)
			vargo_xs_read_key(t, dir, k, e);
		err = xenbus_transaction_end(t, 0);
	}
	return err;
}

/*
 * Key k as a number (u16 for the backend, else u32; decimal for the
 * domid, any kstrtou32 base for ports).  Logs what is wrong.
 */
static int vargo_xs_number(unsigned int n, const struct vargo_xs_entry *e,
			   unsigned int k, u32 *ret)
{
	const char *v = e->val[k];
	const char *why;
	u16 d;
	int err;

	if (e->err[k] == -ENOENT) {
		why = "missing";
	} else if (e->err[k] == -E2BIG) {
		why = "too long";
	} else if (e->err[k]) {
		pr_warn("virtio-argo/%u/%s: unreadable (%d); ignored\n", n,
			vargo_xs_keys[k], e->err[k]);
		return e->err[k];
	} else if (strlen(v) != e->len[k]) {
		why = "holds a NUL byte";
	} else {
		if (k == VARGO_XS_BACKEND) {
			err = kstrtou16(v, 10, &d);
			*ret = d;
		} else {
			err = kstrtou32(v, 0, ret);
		}
		if (!err)
			return 0;
		why = k == VARGO_XS_BACKEND ? "is not a domid" : "is not a port";
	}
	pr_warn("virtio-argo/%u/%s: \"%*pE\" %s; ignored\n", n,
		vargo_xs_keys[k], (int)e->len[k], v, why);
	return -EINVAL;
}

/* 0: *a is valid; 1: the directory is absent; <0: malformed (logged). */
static int vargo_xs_parse(unsigned int n, const struct vargo_xs_entry *e,
			  struct vargo_addr *a)
{
	u32 v;
	int err;

	if (e->err[VARGO_XS_BACKEND] == -ENOENT &&
	    e->err[VARGO_XS_PORT] == -ENOENT &&
	    e->err[VARGO_XS_LOCAL] == -ENOENT)
		return 1;
	err = vargo_xs_number(n, e, VARGO_XS_BACKEND, &v);
	if (err)
		return err;
	a->domid = v;
	err = vargo_xs_number(n, e, VARGO_XS_PORT, &a->port);
	if (err)
		return err;
	a->local_port = a->port;
	if (e->err[VARGO_XS_LOCAL] != -ENOENT) {
		err = vargo_xs_number(n, e, VARGO_XS_LOCAL, &a->local_port);
		if (err)
			return err;
	}
	err = vargo_addr_check(a);
	if (err)
		pr_warn("virtio-argo/%u: backend %u (ring %#x): reserved domid or ring port 0; ignored\n",
			n, a->domid, a->local_port);
	return err;
}

/* Directory n changed: create, move, or say why not. */
static void vargo_xs_apply(unsigned int n, const struct vargo_xs_entry *e)
{
	struct vargo_dev *vd = vargo_dev_get(n);
	struct vargo_addr a;
	int err;

	err = vargo_xs_parse(n, e, &a);
	if (err > 0) {
		if (vd)
			pr_info("virtio-argo/%u removed: virtio-argo.%u stays with its backend\n",
				n, n);
		return;
	}
	if (err) {
		if (vd)
			pr_info("virtio-argo.%u stays with its backend\n", n);
		return;
	}
	if (vd) {
		vargo_move(vd, &a);
		return;
	}
	pr_info("virtio-argo/%u: backend %u:%#x (ring %#x)\n", n, a.domid,
		a.port, a.local_port);
	err = vargo_dev_add(n, &a, false);
	if (err)
		pr_err("virtio-argo/%u: device not created (%d)\n", n, err);
}

/* Device index from a directory name: decimal, no leading zero. */
static int vargo_xs_index(const char *name, unsigned int *ret)
{
	if (name[0] == '0' && name[1])
		return -EINVAL;
	if (kstrtouint(name, 10, ret) || *ret >= VARGO_MAX_DEVICES)
		return -EINVAL;
	return 0;
}

static void vargo_xs_scan_work(struct work_struct *work)
{
	unsigned long present = 0;
	unsigned int num = 0, i, n;
	char **names;

	names = xenbus_directory(XBT_NIL, VARGO_XS_DIR, "", &num);
	if (IS_ERR(names)) {
		if (PTR_ERR(names) != -ENOENT)
			pr_warn("%s: unreadable (%ld)\n", VARGO_XS_DIR,
				PTR_ERR(names));
		names = NULL;
		num = 0;
	}
	for (i = 0; i < num; i++) {
		if (vargo_xs_index(names[i], &n))
			pr_warn_ratelimited("%s/%.32s: not a device index (0..%u); ignored\n",
					    VARGO_XS_DIR, names[i],
					    VARGO_MAX_DEVICES - 1);
		else
			present |= BIT(n);
	}
	kfree(names);

	for (n = 0; n < VARGO_MAX_DEVICES; n++) {
		struct vargo_xs_entry e;
		int err;

		if (!(present & BIT(n))) {
			vargo_xs_absent(&e);
		} else {
			err = vargo_xs_read(n, &e);
			if (err) {
				pr_warn("%s/%u: unreadable (%d); ignored\n",
					VARGO_XS_DIR, n, err);
				continue;
			}
		}
		if (!memcmp(&e, &vargo_xs_seen[n], sizeof(e)))
			continue;
		vargo_xs_seen[n] = e;
		vargo_xs_apply(n, &e);
	}
}

static void vargo_xs_changed(struct xenbus_watch *watch, const char *path,
			     const char *token)
{
	queue_work(system_long_wq, &vargo_xs_scan);
}

static struct xenbus_watch vargo_xs_watch = {
	.node = VARGO_XS_DIR,
	.callback = vargo_xs_changed,
};

/* XenStore is up (at once, or later from xenbus): watch our directory. */
static int vargo_xs_ready(struct notifier_block *nb, unsigned long event,
			  void *data)
{
	int err;

	err = register_xenbus_watch(&vargo_xs_watch);
	if (err) {
		pr_err("cannot watch %s: %d\n", VARGO_XS_DIR, err);
		return NOTIFY_DONE;
	}
	vargo_xs_watching = true;
	/* Registering fires the watch too; one scan more does no harm. */
	queue_work(system_long_wq, &vargo_xs_scan);
	return NOTIFY_DONE;
}

static struct notifier_block vargo_xs_nb = {
	.notifier_call = vargo_xs_ready,
};

int vargo_xs_init(void)
{
	unsigned int n;

	if (!xen_domain()) {
		pr_err("devices=xenstore: not a Xen domain\n");
		return -ENODEV;
	}
	for (n = 0; n < VARGO_MAX_DEVICES; n++)
		vargo_xs_absent(&vargo_xs_seen[n]);
	pr_info("devices from XenStore (%s/<n>/backend, port, local-port)\n",
		VARGO_XS_DIR);
	register_xenstore_notifier(&vargo_xs_nb);
	return 0;
}

void vargo_xs_exit(void)
{
	/* Waits for a notifier call in progress. */
	unregister_xenstore_notifier(&vargo_xs_nb);
	/* Waits for a watch callback in progress. */
	if (vargo_xs_watching)
		unregister_xenbus_watch(&vargo_xs_watch);
	cancel_work_sync(&vargo_xs_scan);
}
