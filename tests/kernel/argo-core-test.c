// SPDX-License-Identifier: GPL-2.0
/*
 * argo_core_test: load-time self-test of the argo core's in-kernel API
 * (argo-core.h) on real Xen with Argo, in one domain (rings partnered with
 * this domain itself, domid= parameter, default 0 = dom0):
 *
 *  1. message mode: vargo_argo_sendv() two kvecs to a message-mode ring; the
 *     rx callback must see them as one payload with our source and type;
 *  2. raw mode: fill a one-page ring with vargo_argo_sendv_nowait() until
 *     -EAGAIN, then vargo_argo_sendv() must sleep until a delayed work drains
 *     the ring with peek/consume and notifies, and then succeed;
 *  3. vargo_argo_wait_space() and a notify query on the ring.
 *
 * Loading prints "argo_core_test: PASS" and returns -EAGAIN on purpose so
 * that nothing stays loaded (insmod then reports a failure: look at the
 * log line), or "argo_core_test: FAIL: ..." and returns -EIO.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/completion.h>
#include <linux/workqueue.h>
#include <linux/string.h>
#include <linux/err.h>

#include "argo-core.h"

#define T_PORT_MSG	0x5e1f1001u
#define T_PORT_RAW	0x5e1f1002u
#define T_TYPE		0x5e1f7e57u
#define T_RING_LEN	(4096u - VA_ARGO_RING_HDR_SIZE)
#define T_BIG		1000u

static int domid;
module_param(domid, int, 0444);
MODULE_PARM_DESC(domid, "This domain's id (default 0)");

static DECLARE_COMPLETION(got_msg);
static char got[32];
static u32 got_len, got_type, got_port;
static u16 got_dom;
static struct vargo_kring *raw;
static unsigned int drained;
static u8 big[T_BIG];

static void t_rx(void *priv, u16 src_domid, u32 src_port, u32 type,
		 const void *data, u32 len)
{
	got_dom = src_domid;
	got_port = src_port;
	got_type = type;
	got_len = len;
	memcpy(got, data, min_t(u32, len, sizeof(got)));
	complete(&got_msg);
}

static void t_ready(void *priv)
{
}

static void t_drain(struct work_struct *work)
{
	struct va_argo_msg_hdr h;
	u32 rx;

	while (vargo_argo_ring_peek_msg(raw, &h, &rx) > 0) {
		vargo_argo_ring_consume(raw, rx, &h);
		drained++;
	}
	vargo_argo_notify(NULL, 0);
}

static DECLARE_DELAYED_WORK(drain_work, t_drain);

static int t_run(void)
{
	static const struct vargo_kring_ops raw_ops = { .ready = t_ready };
	struct va_argo_ring_data_ent ent = { 0 };
	struct kvec kv[2] = {
		{ .iov_base = "hello ", .iov_len = 6 },
		{ .iov_base = "core!", .iov_len = 5 },
	};
	struct kvec bk = { .iov_base = big, .iov_len = T_BIG };
	struct vargo_kring *msg;
	unsigned int sent = 0;
	int ret;

	msg = vargo_argo_ring_register_msg(T_PORT_MSG, domid, T_RING_LEN, t_rx,
					   NULL, NULL);
	if (IS_ERR(msg)) {
		pr_err("FAIL: register message ring: %ld\n", PTR_ERR(msg));
		return -EIO;
	}
	ret = vargo_argo_sendv(msg, domid, T_PORT_MSG, kv, 2, T_TYPE);
	if (ret != 11) {
		pr_err("FAIL: sendv: %d\n", ret);
		goto fail_msg;
	}
	if (!wait_for_completion_timeout(&got_msg, 5 * HZ)) {
		pr_err("FAIL: no rx callback\n");
		goto fail_msg;
	}
	if (got_len != 11 || memcmp(got, "hello core!", 11) ||
	    got_dom != domid || got_port != T_PORT_MSG || got_type != T_TYPE) {
		pr_err("FAIL: rx len %u dom %u port %#x type %#x\n", got_len,
		       got_dom, got_port, got_type);
		goto fail_msg;
	}

	raw = vargo_argo_ring_register(T_PORT_RAW, domid, T_RING_LEN, &raw_ops,
				       NULL);
	if (IS_ERR(raw)) {
		pr_err("FAIL: register raw ring: %ld\n", PTR_ERR(raw));
		goto fail_msg;
	}
	do {
		ret = vargo_argo_sendv_nowait(raw, domid, T_PORT_RAW, &bk, 1, T_TYPE);
		if (ret == T_BIG)
			sent++;
	} while (ret == T_BIG && sent < 16);
	if (ret != -EAGAIN || sent < 2) {
		pr_err("FAIL: fill: sent %u, last %d\n", sent, ret);
		goto fail_raw;
	}
	schedule_delayed_work(&drain_work, HZ / 5);
	ret = vargo_argo_sendv(raw, domid, T_PORT_RAW, &bk, 1, T_TYPE);
	if (ret != T_BIG || drained != sent) {
		pr_err("FAIL: blocking sendv %d after %u of %u drained\n", ret,
		       drained, sent);
		goto fail_raw;
	}
	ret = vargo_argo_wait_space(raw, domid, T_PORT_RAW, 16);
	if (ret) {
		pr_err("FAIL: wait_space: %d\n", ret);
		goto fail_raw;
	}
	ent.ring.aport = T_PORT_RAW;
	ent.ring.domain_id = domid;
	ret = vargo_argo_notify(&ent, 1);
	if (ret || !(ent.flags & VA_ARGO_RING_EXISTS) ||
	    ent.max_message_size != T_RING_LEN - 32) {
		pr_err("FAIL: query %d flags %#x max %u\n", ret, ent.flags,
		       ent.max_message_size);
		goto fail_raw;
	}
	cancel_delayed_work_sync(&drain_work);
	vargo_argo_ring_unregister(raw);
	vargo_argo_ring_unregister(msg);
	pr_info("PASS (%u messages filled the raw ring)\n", sent);
	return -EAGAIN;

fail_raw:
	cancel_delayed_work_sync(&drain_work);
	vargo_argo_ring_unregister(raw);
fail_msg:
	vargo_argo_ring_unregister(msg);
	return -EIO;
}

static int __init t_init(void)
{
	return t_run();
}

module_init(t_init);
MODULE_DESCRIPTION("Load-time self-test of the virtio-argo argo core");
MODULE_LICENSE("GPL");
