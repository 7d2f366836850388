/* SPDX-License-Identifier: MIT */
/* Stand-in for the kernel's <linux/string.h>: libc's memcpy and friends. */
#ifndef VA_KSTUB_LINUX_STRING_H
#define VA_KSTUB_LINUX_STRING_H
#include <string.h>
#endif
