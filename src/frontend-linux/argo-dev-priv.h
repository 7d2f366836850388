/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside module virtio_argo_core: what the core (argo-core.c) calls in the
 * char device (argo-dev.c).
 */
#ifndef VARGO_ARGO_DEV_PRIV_H
#define VARGO_ARGO_DEV_PRIV_H

int vargo_argo_dev_init(void);
void vargo_argo_dev_exit(void);
/* After every scan of the rings (process context): wake pollers. */
void vargo_argo_dev_virq(void);

#endif /* VARGO_ARGO_DEV_PRIV_H */
