/* SPDX-License-Identifier: MIT */
/* Stand-in for the kernel's <linux/errno.h>: the uapi errno values (the
 * same numbers the kernel uses, and libc's). */
#ifndef VA_KSTUB_LINUX_ERRNO_H
#define VA_KSTUB_LINUX_ERRNO_H
#include_next <linux/errno.h>
#endif
