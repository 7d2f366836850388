/* SPDX-License-Identifier: MIT */
/*
 * Small helpers (see util.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint32_t va_random_session(void)
{
	uint32_t v = 0;

	do {
		if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			v ^= (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^
			     (uint32_t)ts.tv_sec;
		}
	} while (v == 0);
	return v;
}

int va_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ' || *s == '\t')
		return -EINVAL;
	errno = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!s[2] || s[2] == '-' || s[2] == '+' || s[2] == ' ')
			return -EINVAL;
		v = strtoull(s + 2, &end, 16);
	} else {
		v = strtoull(s, &end, 10);
	}
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end || end == s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int va_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v;
	int err;

	err = va_parse_u64(s, min, max, &v);
	if (err < 0)
		return err;
	*ret = (uint32_t)v;
	return 0;
}
