/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the library, the daemons and the guest: random
 * session ids, strict integer parsing for command-line options, and
 * little-endian loads and stores.
 */
#ifndef VA_BACKEND_UTIL_H
#define VA_BACKEND_UTIL_H

#include <stdint.h>
#include <string.h>

#include "virtio-argo/protocol.h"

/* A random non-zero 32-bit value (getrandom; falls back to time and pid
 * only if getrandom is unavailable).  Used for session ids. */
uint32_t va_random_session(void);

/*
 * Parse a whole string as an unsigned integer in [min, max]: decimal, or
 * hex with 0x.  No sign, no spaces, no trailing characters.  Returns 0,
 * -EINVAL (not a number) or -ERANGE (outside [min, max]).
 */
int va_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int va_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret);

/*
 * Little-endian values at any address (config bytes, a virtio header
 * inside a message), the one set for user space.  A whole virtio struct
 * is better copied out and its fields converted with va_le*_to_cpu.
 */
static inline uint16_t va_get_le16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return va_le16_to_cpu(v);
}

static inline uint32_t va_get_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return va_le32_to_cpu(v);
}

static inline uint64_t va_get_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return va_le64_to_cpu(v);
}

static inline void va_put_le16(void *p, uint16_t v)
{
	v = va_cpu_to_le16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void va_put_le32(void *p, uint32_t v)
{
	v = va_cpu_to_le32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void va_put_le64(void *p, uint64_t v)
{
	v = va_cpu_to_le64(v);
	memcpy(p, &v, sizeof(v));
}

#endif /* VA_BACKEND_UTIL_H */
