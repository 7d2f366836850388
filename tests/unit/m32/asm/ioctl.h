/* SPDX-License-Identifier: MIT */
/*
 * <asm/ioctl.h> for the -m32 test builds.  Debian reaches the x86 uapi asm
 * headers through /usr/include/asm, a link that only gcc-multilib ships,
 * and gcc-multilib cannot be installed beside the Arm cross compilers that
 * the kernel cross-builds need (gcc-12-multilib can).  x86's own header
 * is this one line.
 */
#include <asm-generic/ioctl.h>
