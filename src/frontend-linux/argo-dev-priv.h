/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside module virtio_argo_core: what the core (argo-core.c) calls in the
 * char device (argo-dev.c).
 */
#ifndef VA_ARGO_DEV_PRIV_H
#define VA_ARGO_DEV_PRIV_H

int va_argo_dev_init(void);
void va_argo_dev_exit(void);
/* After every scan of the rings (process context): wake pollers. */
void va_argo_dev_virq(void);

#endif /* VA_ARGO_DEV_PRIV_H */
