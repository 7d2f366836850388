/* SPDX-License-Identifier: MIT */
/*
 * MAC addresses for virtio-argo-netd (see mac.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mac.h"

#define FNV64_OFFSET	0xcbf29ce484222325ull
#define FNV64_PRIME	0x100000001b3ull

static uint64_t fnv1a(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len--) {
		h ^= *b++;
		h *= FNV64_PRIME;
	}
	return h;
}

void net_mac_derive(const char *guest, uint32_t port, uint8_t mac[NET_MAC_LEN])
{
	/* The port as 4 little-endian bytes, after the name and its NUL. */
	uint8_t p[4] = { port, port >> 8, port >> 16, port >> 24 };
	uint64_t h = fnv1a(FNV64_OFFSET, guest, strlen(guest) + 1);
	int i;

	h = fnv1a(h, p, sizeof(p));
	for (i = 0; i < NET_MAC_LEN; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	/* Unicast (I/G bit clear), locally administered (U/L bit set). */
	mac[0] = (uint8_t)((mac[0] & ~0x01u) | 0x02u);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int net_mac_parse(const char *s, uint8_t mac[NET_MAC_LEN], const char **why)
{
	uint8_t m[NET_MAC_LEN];
	bool zero = true;
	int i;

	for (i = 0; i < NET_MAC_LEN; i++) {
		const char *p = s + 3 * i;
		int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
		char sep = i < NET_MAC_LEN - 1 ? ':' : '\0';

		if (hi < 0 || lo < 0 || p[2] != sep) {
			*why = "not an address of the form xx:xx:xx:xx:xx:xx";
			return -EINVAL;
		}
		m[i] = (uint8_t)(hi << 4 | lo);
		zero = zero && !m[i];
	}
	if (m[0] & 0x01) {
		*why = "a multicast address (the first byte is odd); a NIC needs a unicast one";
		return -EINVAL;
	}
	if (zero) {
		*why = "the all-zero address";
		return -EINVAL;
	}
	memcpy(mac, m, sizeof(m));
	return 0;
}

char *net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[NET_MAC_STRLEN])
{
	snprintf(buf, NET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
