/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net device's MAC address: a default derived from the guest
 * and the port, and parsing of --mac.
 *
 * The default is a locally administered unicast address (first byte
 * x2, x6, xA or xE) made from a hash of the guest's identity and the
 * Argo port, so a daemon restart or a re-created guest gets the same
 * address and the guest keeps its DHCP lease and neighbours' caches.
 * The hash (64-bit FNV-1a) is part of the interface: changing it changes
 * every guest's address.
 */
#ifndef VA_NET_MAC_H
#define VA_NET_MAC_H

#include <stdint.h>

#define NET_MAC_LEN	6
/* "xx:xx:xx:xx:xx:xx" and its NUL */
#define NET_MAC_STRLEN	18

/*
 * The default address of the device serving `guest` on `port`.  guest:
 * the domain name when the daemon was given --domain NAME (which stays
 * across a re-create), else the domid in decimal.
 */
void net_mac_derive(const char *guest, uint32_t port,
		    uint8_t mac[NET_MAC_LEN]);

/*
 * Parse "xx:xx:xx:xx:xx:xx" (hex digits, either case).  Returns 0, or
 * -EINVAL with *why saying what is wrong: malformed, a multicast (or
 * broadcast) address, or all zeros.
 */
int net_mac_parse(const char *s, uint8_t mac[NET_MAC_LEN], const char **why);

/* Lower-case "xx:xx:xx:xx:xx:xx" into buf; returns buf. */
char *net_mac_format(const uint8_t mac[NET_MAC_LEN], char buf[NET_MAC_STRLEN]);

#endif /* VA_NET_MAC_H */
