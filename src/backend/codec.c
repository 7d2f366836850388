/* SPDX-License-Identifier: MIT */
/*
 * Protocol codec (see codec.h).  The record walker is the first code that
 * touches bytes from the peer; its bounds argument is written next to each
 * check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

void va_rec_iter_init(struct va_rec_iter *it, const void *payload, size_t len)
{
	it->p = payload;
	it->len = len;
	it->off = 0;
}

int va_rec_next(struct va_rec_iter *it, struct va_rec *ret)
{
	struct va_hdr h;
	size_t left, span, i;

	if (it->off >= it->len)
		return 0;
	left = it->len - it->off;
	/* off < len, so left >= 1; a header needs 16. */
	if (left < sizeof(h))
		return -EBADMSG;
	memcpy(&h, it->p + it->off, sizeof(h));
	ret->msg_id = h.msg_id;
	ret->flags = h.flags;
	ret->queue = va_le16_to_cpu(h.queue);
	ret->session = va_le32_to_cpu(h.session);
	ret->token = va_le32_to_cpu(h.token);
	ret->len = va_le32_to_cpu(h.len);
	if (ret->flags & ~VA_F_KNOWN)
		return -EBADMSG;
	if ((ret->flags & VA_F_ERROR) && !(ret->flags & VA_F_RESPONSE))
		return -EBADMSG;
	if (ret->session == 0)
		return -EBADMSG;
	/* Body must lie inside the message: len <= left - 16, no overflow
	 * since left >= 16 was checked. */
	if (ret->len > left - sizeof(h))
		return -EBADMSG;
	ret->body = it->p + it->off + sizeof(h);
	/* The padding to the next record, if the message goes on, is zero;
	 * the last record may omit its padding. */
	span = va_rec_span(ret->len);
	if (span > left)
		span = left;
	for (i = sizeof(h) + ret->len; i < span; i++)
		if (it->p[it->off + i])
			return -EBADMSG;
	it->off += span;
	return 1;
}

int va_check_msg_type(uint32_t message_type)
{
	if (VA_ARGO_TYPE_MAGIC(message_type) != VA_ARGO_MAGIC)
		return -EPROTO;
	if (VA_ARGO_TYPE_VERSION(message_type) != VA_PROTOCOL_VERSION)
		return -EPROTONOSUPPORT;
	return 0;
}

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
