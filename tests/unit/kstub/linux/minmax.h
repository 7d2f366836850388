/* SPDX-License-Identifier: MIT */
/* Stand-in for the kernel's <linux/minmax.h>. */
#ifndef VA_KSTUB_LINUX_MINMAX_H
#define VA_KSTUB_LINUX_MINMAX_H
#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define max_t(type, a, b) ((type)(a) > (type)(b) ? (type)(a) : (type)(b))
#endif
