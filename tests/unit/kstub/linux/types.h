/* SPDX-License-Identifier: MIT */
/*
 * Stand-in for the kernel's <linux/types.h> so that kernel files written
 * for it (src/frontend-linux/vring-walk.c) compile in user space for the
 * unit tests: the uapi types plus the kernel's short names.
 */
#ifndef VA_KSTUB_LINUX_TYPES_H
#define VA_KSTUB_LINUX_TYPES_H

#include_next <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#endif
