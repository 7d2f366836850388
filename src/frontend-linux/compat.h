/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version and architecture shims for the virtio-argo modules: the
 * only place that may test LINUX_VERSION_CODE or the architecture.
 * Written against Linux 6.1 (Debian 12).
 */
#ifndef VARGO_COMPAT_H
#define VARGO_COMPAT_H

#include <linux/version.h>
#include <asm/xen/hypercall.h>

/*
 * privcmd_call() is an inline over xen_single_call() on x86 and an
 * exported GPL function on arm/arm64; both take five arguments.
 */
static inline long vargo_privcmd_call(unsigned int op, unsigned long a1,
				      unsigned long a2, unsigned long a3,
				      unsigned long a4, unsigned long a5)
{
	return privcmd_call(op, a1, a2, a3, a4, a5);
}

#endif /* VARGO_COMPAT_H */
