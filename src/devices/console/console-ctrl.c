/* SPDX-License-Identifier: MIT */
/* virtio-console control messages: see console-ctrl.h. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <linux/virtio_console.h>

#include "console-ctrl.h"
#include "util.h"

_Static_assert(sizeof(struct virtio_console_control) == CONS_CTRL_HDR,
	       "control header size");

int cons_ctrl_parse(const uint8_t *buf, size_t len, struct cons_ctrl *m)
{
	if (len < CONS_CTRL_HDR)
		return -EINVAL;
	m->id = va_get_le32(buf + offsetof(struct virtio_console_control, id));
	m->event = va_get_le16(buf + offsetof(struct virtio_console_control,
					      event));
	m->value = va_get_le16(buf + offsetof(struct virtio_console_control,
					      value));
	return 0;
}

int cons_ctrl_check(const uint8_t *buf, size_t len, uint32_t nr_ports,
		    uint64_t added, struct cons_ctrl *m, const char **why)
{
	if (cons_ctrl_parse(buf, len, m) < 0) {
		*why = "shorter than a control header";
		return -EINVAL;
	}
	switch (m->event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		return 0;
	case VIRTIO_CONSOLE_PORT_READY:
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (m->id >= nr_ports || m->id >= 64) {
			*why = "no such port";
			return -EINVAL;
		}
		if (!(added & (1ull << m->id))) {
			*why = "port never added";
			return -EINVAL;
		}
		return 0;
	case VIRTIO_CONSOLE_PORT_ADD:
	case VIRTIO_CONSOLE_PORT_REMOVE:
	case VIRTIO_CONSOLE_CONSOLE_PORT:
	case VIRTIO_CONSOLE_RESIZE:
	case VIRTIO_CONSOLE_PORT_NAME:
		*why = "an event only the device sends";
		return -EINVAL;
	default:
		*why = "unknown event";
		return -EINVAL;
	}
}

size_t cons_ctrl_build(uint8_t *buf, size_t size, const struct cons_ctrl *m,
		       const void *extra, size_t extra_len)
{
	if (size < CONS_CTRL_HDR || extra_len > size - CONS_CTRL_HDR)
		return 0;
	va_put_le32(buf + offsetof(struct virtio_console_control, id), m->id);
	va_put_le16(buf + offsetof(struct virtio_console_control, event),
		    m->event);
	va_put_le16(buf + offsetof(struct virtio_console_control, value),
		    m->value);
	if (extra_len)
		memcpy(buf + CONS_CTRL_HDR, extra, extra_len);
	return CONS_CTRL_HDR + extra_len;
}

void cons_ctrl_resize_body(uint8_t body[4], uint16_t rows, uint16_t cols)
{
	va_put_le16(body, rows);
	va_put_le16(body + 2, cols);
}

int cons_ctrl_resize_parse(const uint8_t *buf, size_t len, uint16_t *rows,
			   uint16_t *cols)
{
	if (len < CONS_CTRL_HDR + 4u)
		return -EINVAL;
	*rows = va_get_le16(buf + CONS_CTRL_HDR);
	*cols = va_get_le16(buf + CONS_CTRL_HDR + 2);
	return 0;
}

const char *cons_ctrl_event_name(uint16_t event)
{
	static const char *const names[] = {
		[VIRTIO_CONSOLE_DEVICE_READY] = "DEVICE_READY",
		[VIRTIO_CONSOLE_PORT_ADD] = "PORT_ADD",
		[VIRTIO_CONSOLE_PORT_REMOVE] = "PORT_REMOVE",
		[VIRTIO_CONSOLE_PORT_READY] = "PORT_READY",
		[VIRTIO_CONSOLE_CONSOLE_PORT] = "CONSOLE_PORT",
		[VIRTIO_CONSOLE_RESIZE] = "RESIZE",
		[VIRTIO_CONSOLE_PORT_OPEN] = "PORT_OPEN",
		[VIRTIO_CONSOLE_PORT_NAME] = "PORT_NAME",
	};

	if (event < sizeof(names) / sizeof(names[0]))
		return names[event];
	return "unknown";
}
