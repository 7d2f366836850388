/* SPDX-License-Identifier: MIT */
/*
 * va_argodev_iov_total() (argo-dev.h), the length sum that /dev/argo's
 * SENDV sizes its kernel buffer with.  Lengths are user-supplied u32s; the
 * sum must be refused above VA_ARGO_MAX_MSG_SIZE and must never wrap.
 *
 * Plain C without Check so that meson can also build it with -m32: there
 * size_t is 32 bits wide, as in an Arm32 guest kernel, and a sum kept in a
 * size_t wraps ({0xfffffff0, 0x20} adds up to 16).  On a 64-bit build the
 * wrapping inputs check the helper's contract (totals above U32_MAX are
 * refused), on the 32-bit build they are the overflow itself.
 * Exit 0 if every case holds, 1 otherwise.
 */
#include <stdint.h>
#include <stdio.h>

#include "virtio-argo/argo-dev.h"

#define MAXMSG VA_ARGO_MAX_MSG_SIZE

static int failures;

/* Check one vector of lengths against the sum taken exactly in a u64. */
static void check(const char *what, const va_u32 *lens, va_u32 n, int quiet)
{
	struct va_argodev_iov iov[64];
	uint64_t exact = 0;
	va_u32 total = 0xdeadbeef;
	int ok, want;
	va_u32 i;

	for (i = 0; i < n; i++) {
		iov[i].base = 0;
		iov[i].len = lens[i];
		iov[i].pad = 0;
		exact += lens[i];
	}
	want = exact <= MAXMSG;
	ok = va_argodev_iov_total(iov, n, &total);
	if (ok != want || (ok && total != exact)) {
		printf("FAIL %s: exact sum %#llx, helper says %s (total %#x)\n",
		       what, (unsigned long long)exact,
		       ok ? "fits" : "too big", (unsigned int)total);
		failures++;
		return;
	}
	if (!quiet)
		printf("ok   %s: exact sum %#llx %s\n", what,
		       (unsigned long long)exact, ok ? "accepted" : "refused");
}

int main(void)
{
	static const va_u32 issue[] = { 0xfffffff0u, 0x20u };
	static const va_u32 halves[] = { 0x80000000u, 0x80000000u };
	static const va_u32 one_wrap[] = { 1u, 0xffffffffu };
	static const va_u32 eighths[8] = {
		0x20000000u, 0x20000000u, 0x20000000u, 0x20000000u,
		0x20000000u, 0x20000000u, 0x20000000u, 0x20000000u,
	};
	static const va_u32 all_max[8] = {
		0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
		0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
	};
	static const va_u32 small[] = { 0x10u, 0x20u, 0u, 7u };
	static const va_u32 max[] = { MAXMSG };
	static const va_u32 max_split[] = { MAXMSG - 8u, 8u };
	static const va_u32 max_plus[] = { MAXMSG, 1u };
	va_u32 many[64];
	uint32_t x = 12345;
	unsigned int k;

	printf("size_t is %u bits\n", (unsigned int)(8 * sizeof(size_t)));
	check("no iov", NULL, 0, 0);
	check("small lengths", small, 4, 0);
	check("one iov of the largest message", max, 1, 0);
	check("the largest message in two", max_split, 2, 0);
	check("one byte over the largest message", max_plus, 2, 0);
	/* Each of these wraps a 32-bit accumulator to a small total. */
	check("{0xfffffff0, 0x20} (issue 14's case)", issue, 2, 0);
	check("two halves of 2^32", halves, 2, 0);
	check("1 + 0xffffffff", one_wrap, 2, 0);
	check("eight eighths of 2^32", eighths, 8, 0);
	check("eight 0xffffffff", all_max, 8, 0);
	/* More entries than SENDV takes: the contract holds for any count. */
	for (k = 0; k < 64; k++)
		many[k] = 0x04000000u;	/* 64 MiB each: 2^32 in all */
	check("64 x 64 MiB", many, 64, 0);
	/* Pseudo-random pairs (fixed seed) around the limits. */
	for (k = 0; k < 200; k++) {
		va_u32 pair[2];

		x = x * 1103515245u + 12345u;
		pair[0] = (k & 1) ? x : x >> (k % 32);
		x = x * 1103515245u + 12345u;
		pair[1] = (k & 2) ? (va_u32)(0u - pair[0] + (x >> 24)) : x >> 8;
		check("pseudo-random pair", pair, 2, 1);
	}
	printf("ok   200 pseudo-random pairs unless listed above\n");
	if (failures) {
		printf("%d case(s) failed\n", failures);
		return 1;
	}
	printf("all cases hold\n");
	return 0;
}
