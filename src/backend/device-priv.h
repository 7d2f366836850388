/* SPDX-License-Identifier: MIT */
/*
 * Internal entry points of the device core (device.c) for its unit tests:
 * the protocol handling runs without Argo when a send hook replaces
 * va_argo_sendv.  Not for devices.
 */
#ifndef VA_BACKEND_DEVICE_PRIV_H
#define VA_BACKEND_DEVICE_PRIV_H

#include <sys/uio.h>

#include "device.h"

/*
 * Replaces the Argo transport: every message the core would send to the
 * guest goes to send() instead (return its length, or -EAGAIN/-ECONNREFUSED
 * like va_argo_sendv).  Use with va_dev_new(argo = NULL); the device is
 * then serving at once (no ring, no HELLO).
 */
typedef int (*va_dev_send_hook)(void *opaque, const struct iovec *iov,
				unsigned int niov, uint32_t message_type);
void va_dev_set_send_hook(struct va_dev *dev, va_dev_send_hook send,
			  void *opaque);

/* Feed one received Argo message as if read from the ring. */
void va_dev_input(struct va_dev *dev, uint16_t src_dom, uint32_t src_port,
		  uint32_t message_type, const void *payload, uint32_t len);

/* Retry queued sends (what the argo fd does after -EAGAIN). */
void va_dev_retry_sends(struct va_dev *dev);

/* The ring is lost, as when the guest's domain is gone. */
void va_dev_ring_lost(struct va_dev *dev);

/* Our session id. */
uint32_t va_dev_session(const struct va_dev *dev);

/* Violations of the current driver session that set NEEDS_RESET. */
#define VA_DEV_MAX_VIOLATIONS	16u

#endif /* VA_BACKEND_DEVICE_PRIV_H */
