/* SPDX-License-Identifier: MIT */
/*
 * virtio-console's control messages (virtio 1.2 section 5.3.6.2), the pure
 * part: reading and checking what the driver sends on the control transmit
 * queue, and building what the device sends on the control receive queue.
 * No I/O and no device state beyond what the caller passes, so the rules
 * are unit-tested on their own (tests/unit/test-console-ctrl.c).
 *
 * A message is struct virtio_console_control (<linux/virtio_console.h>:
 * le32 id, le16 event, le16 value), followed for PORT_NAME by the name and
 * for RESIZE by two le16: rows, then cols.  That is the order Linux's
 * virtio_console driver reads (the specification's struct
 * virtio_console_resize lists cols first); the stock driver is the one the
 * device serves, so its order is used, and the user-space guest reads the
 * same.
 */
#ifndef VA_DEVICES_CONSOLE_CTRL_H
#define VA_DEVICES_CONSOLE_CTRL_H

#include <stddef.h>
#include <stdint.h>

#define CONS_CTRL_HDR	8u		/* sizeof(struct virtio_console_control) */
#define CONS_NAME_MAX	64u		/* a port name's bytes (PORT_NAME) */
#define CONS_CTRL_MAX	(CONS_CTRL_HDR + CONS_NAME_MAX)

struct cons_ctrl {
	uint32_t id;
	uint16_t event;
	uint16_t value;
};

/*
 * A message from the driver, checked against the device's ports:
 * nr_ports of them, `added` bit i set once PORT_ADD for port i was sent.
 * The driver may send DEVICE_READY (any id), PORT_READY and PORT_OPEN
 * (for a port that exists and was added).  Returns 0 and fills *m, or
 * -EINVAL with *why saying what was wrong (short message, an event only
 * the device sends, an unknown event, a bad port id, a port never added).
 */
int cons_ctrl_check(const uint8_t *buf, size_t len, uint32_t nr_ports,
		    uint64_t added, struct cons_ctrl *m, const char **why);

/* Reads the header of any message: 0, or -EINVAL if shorter than one. */
int cons_ctrl_parse(const uint8_t *buf, size_t len, struct cons_ctrl *m);

/*
 * Writes a message into buf (size bytes): the header, then `extra` (a
 * port name, or the RESIZE body from cons_ctrl_resize_body).  Returns its
 * length, or 0 if it does not fit.
 */
size_t cons_ctrl_build(uint8_t *buf, size_t size, const struct cons_ctrl *m,
		       const void *extra, size_t extra_len);

/* The 4 bytes after a RESIZE header (rows, cols; see above). */
void cons_ctrl_resize_body(uint8_t body[4], uint16_t rows, uint16_t cols);
/* Reads them: 0, or -EINVAL if the message is too short. */
int cons_ctrl_resize_parse(const uint8_t *buf, size_t len, uint16_t *rows,
			   uint16_t *cols);

/* "DEVICE_READY", ..., or "unknown". */
const char *cons_ctrl_event_name(uint16_t event);

#endif /* VA_DEVICES_CONSOLE_CTRL_H */
