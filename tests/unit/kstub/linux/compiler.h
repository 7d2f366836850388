/* SPDX-License-Identifier: MIT */
/* Stand-in for the kernel's <linux/compiler.h>: READ_ONCE and friends for
 * single-threaded unit tests (volatile accesses, as in the kernel). */
#ifndef VA_KSTUB_LINUX_COMPILER_H
#define VA_KSTUB_LINUX_COMPILER_H
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))
#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)
#endif
