/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the library and the daemons: random session ids
 * and strict integer parsing for command-line options.
 */
#ifndef VA_BACKEND_UTIL_H
#define VA_BACKEND_UTIL_H

#include <stdint.h>

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

#endif /* VA_BACKEND_UTIL_H */
