/* SPDX-License-Identifier: MIT */
/*
 * Protocol codec: walking the records of a received Argo message and
 * building batches to send.  Everything the peer controls is checked here
 * once, so that device and driver code see only records whose header and
 * body length are consistent with the message that carried them.
 *
 * Both sides use it: the backend core (device side) and the user-space
 * guest (driver side).
 */
#ifndef VA_BACKEND_CODEC_H
#define VA_BACKEND_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio-argo/protocol.h"
#include "virtio-argo/wire.h"

/*
 * The record walk (struct va_rec, va_rec_iter_init, va_rec_next) and the
 * message_type classification (va_check_msg_type) are the receiver's rules
 * shared with the kernel transport: virtio-argo/wire.h.
 */

/*
 * Body accessors that check the size: copy a fixed-size body struct out of
 * a record into *dst (which may be unaligned in the record).  Return 0, or
 * -EBADMSG if rec->len < size.  Extra trailing bytes are allowed only when
 * `exact` is false.
 */
int va_rec_body(const struct va_rec *rec, void *dst, size_t size, bool exact);

/*
 * Building a batch.  A va_batch owns a growable buffer of whole records;
 * va_batch_add appends one record (header filled from the arguments, the
 * body gathered from up to `niov` pieces) padded to VA_RECORD_ALIGN.
 * It refuses (-EMSGSIZE) to grow past `limit` bytes, the peer ring's
 * largest message, so the caller knows to flush first.
 */
struct va_batch {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t limit;
	unsigned int count;
};

void va_batch_init(struct va_batch *b, size_t limit);
void va_batch_free(struct va_batch *b);
void va_batch_reset(struct va_batch *b);
int va_batch_add(struct va_batch *b, uint8_t msg_id, uint8_t flags,
		 uint16_t queue, uint32_t session, uint32_t token,
		 const struct iovec *body, unsigned int niov);
/* Bytes a record with `body_len` body bytes adds to a batch. */
static inline size_t va_rec_span(size_t body_len)
{
	return (size_t)VA_RECORD_SPAN(body_len);
}

/* Names for logs. */
const char *va_msg_name(uint8_t msg_id);
const char *va_err_name(uint32_t err);

#endif /* VA_BACKEND_CODEC_H */
