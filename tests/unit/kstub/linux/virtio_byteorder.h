/* SPDX-License-Identifier: MIT */
/*
 * Stand-in for the kernel's <linux/virtio_byteorder.h>: ring fields of a
 * VERSION_1 device are little endian.  The first argument says whether
 * the device is little endian, as in the kernel.
 */
#ifndef VA_KSTUB_LINUX_VIRTIO_BYTEORDER_H
#define VA_KSTUB_LINUX_VIRTIO_BYTEORDER_H
#include <endian.h>
#include <linux/virtio_types.h>

static inline uint16_t __virtio16_to_cpu(bool le, __virtio16 v)
{
	return le ? le16toh(v) : be16toh(v);
}

static inline uint32_t __virtio32_to_cpu(bool le, __virtio32 v)
{
	return le ? le32toh(v) : be32toh(v);
}

static inline uint64_t __virtio64_to_cpu(bool le, __virtio64 v)
{
	return le ? le64toh(v) : be64toh(v);
}

static inline __virtio16 __cpu_to_virtio16(bool le, uint16_t v)
{
	return le ? htole16(v) : htobe16(v);
}

static inline __virtio32 __cpu_to_virtio32(bool le, uint32_t v)
{
	return le ? htole32(v) : htobe32(v);
}

static inline __virtio64 __cpu_to_virtio64(bool le, uint64_t v)
{
	return le ? htole64(v) : htobe64(v);
}
#endif
