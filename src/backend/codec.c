/* SPDX-License-Identifier: MIT */
/*
 * Protocol codec (see codec.h).  The record walker, the first code that
 * touches bytes from the peer, is in virtio-argo/wire.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int va_rec_body(const struct va_rec *rec, void *dst, size_t size, bool exact)
{
	if (rec->len < size || (exact && rec->len != size))
		return -EBADMSG;
	memcpy(dst, rec->body, size);
	return 0;
}

void va_batch_init(struct va_batch *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void va_batch_free(struct va_batch *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

void va_batch_reset(struct va_batch *b)
{
	b->len = 0;
	b->count = 0;
}

int va_batch_add(struct va_batch *b, uint8_t msg_id, uint8_t flags,
		 uint16_t queue, uint32_t session, uint32_t token,
		 const struct iovec *body, unsigned int niov)
{
	struct va_hdr h;
	size_t body_len = 0, span, pos;
	unsigned int i;

	for (i = 0; i < niov; i++) {
		if (body[i].iov_len > UINT32_MAX - body_len)
			return -EMSGSIZE;
		body_len += body[i].iov_len;
	}
	span = va_rec_span(body_len);
	if (b->len + span > b->limit)
		return -EMSGSIZE;
	if (b->len + span > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		uint8_t *nb;

		while (ncap < b->len + span)
			ncap *= 2;
		nb = realloc(b->buf, ncap);
		if (!nb)
			return -ENOMEM;
		b->buf = nb;
		b->cap = ncap;
	}
	h.msg_id = msg_id;
	h.flags = flags;
	h.queue = va_cpu_to_le16(queue);
	h.session = va_cpu_to_le32(session);
	h.token = va_cpu_to_le32(token);
	h.len = va_cpu_to_le32((uint32_t)body_len);
	memcpy(b->buf + b->len, &h, sizeof(h));
	pos = b->len + sizeof(h);
	for (i = 0; i < niov; i++) {
		if (body[i].iov_len)
			memcpy(b->buf + pos, body[i].iov_base, body[i].iov_len);
		pos += body[i].iov_len;
	}
	memset(b->buf + pos, 0, b->len + span - pos);
	b->len += span;
	b->count++;
	return 0;
}

const char *va_msg_name(uint8_t msg_id)
{
	switch (msg_id) {
	case VA_MSG_DEVICE_INFO:	return "DEVICE_INFO";
	case VA_MSG_GET_DEV_FEATURES:	return "GET_DEV_FEATURES";
	case VA_MSG_SET_DRV_FEATURES:	return "SET_DRV_FEATURES";
	case VA_MSG_GET_CONFIG:		return "GET_CONFIG";
	case VA_MSG_SET_CONFIG:		return "SET_CONFIG";
	case VA_MSG_GET_DEVICE_STATUS:	return "GET_DEVICE_STATUS";
	case VA_MSG_SET_DEVICE_STATUS:	return "SET_DEVICE_STATUS";
	case VA_MSG_GET_VQUEUE:		return "GET_VQUEUE";
	case VA_MSG_SET_VQUEUE:		return "SET_VQUEUE";
	case VA_MSG_RESET_VQUEUE:	return "RESET_VQUEUE";
	case VA_MSG_EVENT_CONFIG:	return "EVENT_CONFIG";
	case VA_MSG_HELLO:		return "HELLO";
	case VA_MSG_REQUEST:		return "REQUEST";
	case VA_MSG_RESPONSE:		return "RESPONSE";
	default:			return "unknown";
	}
}

const char *va_err_name(uint32_t err)
{
	switch (err) {
	case 0:				return "OK";
	case VA_ERR_INVALID:		return "INVALID";
	case VA_ERR_UNSUPPORTED:	return "UNSUPPORTED";
	case VA_ERR_RANGE:		return "RANGE";
	case VA_ERR_STATE:		return "STATE";
	case VA_ERR_VERSION:		return "VERSION";
	case VA_ERR_BUSY:		return "BUSY";
	case VA_ERR_NEEDS_RESET:	return "NEEDS_RESET";
	case VA_ERR_TOO_BIG:		return "TOO_BIG";
	default:			return "unknown";
	}
}
