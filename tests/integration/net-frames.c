/* SPDX-License-Identifier: MIT */
/*
 * net-frames IFNAME COUNT SIZE[,SIZE...] [WINDOW]: sends COUNT Ethernet
 * frames out of IFNAME through a packet socket and checks that each comes
 * back in, byte for byte (a reflector on the other side of the interface
 * returns every frame unchanged).  Frame i has the length SIZE[i % n]
 * (Ethernet header included), the interface's MAC as source and
 * destination, EtherType 0x88b5 (local experimental) and a payload made
 * from i.  At most WINDOW (default 32) frames are outstanding; a frame
 * that has not come back within 10 s fails the run (a liveness bound, not
 * a timing assertion).  Prints one line:
 *   net-frames: sent N received N mismatches N duplicates N bytes N
 * and exits 0 only if every frame came back once and intact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#define ETHERTYPE_TEST	0x88b5
#define MAX_SIZES	16
#define FRAME_MAX	65536
#define WAIT_MS		10000

static uint8_t mac[ETH_ALEN];

/* Frame `seq` of `len` bytes. */
static void build(uint8_t *f, uint32_t seq, size_t len)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 7;
	size_t i;

	memcpy(f, mac, ETH_ALEN);
	memcpy(f + ETH_ALEN, mac, ETH_ALEN);
	f[12] = ETHERTYPE_TEST >> 8;
	f[13] = ETHERTYPE_TEST & 0xff;
	memcpy(f + 14, &seq, sizeof(seq));
	for (i = 18; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		f[i] = (uint8_t)x;
	}
}

int main(int argc, char **argv)
{
	static uint8_t want[FRAME_MAX], got[FRAME_MAX];
	size_t sizes[MAX_SIZES], nsizes = 0;
	uint32_t count, window = 32, sent = 0, received = 0;
	uint64_t mismatches = 0, duplicates = 0, bytes = 0;
	struct sockaddr_ll sll = { 0 };
	struct ifreq ifr = { 0 };
	bool *seen;
	char *s, *tok;
	int fd;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: net-frames IFNAME COUNT SIZE[,SIZE...] "
			"[WINDOW]\n");
		return 2;
	}
	count = (uint32_t)strtoul(argv[2], NULL, 0);
	for (s = argv[3]; (tok = strtok(s, ",")) && nsizes < MAX_SIZES; s = NULL) {
		sizes[nsizes] = strtoul(tok, NULL, 0);
		if (sizes[nsizes] < 60 || sizes[nsizes] > FRAME_MAX)
			return 2;
		nsizes++;
	}
	if (argc == 5)
		window = (uint32_t)strtoul(argv[4], NULL, 0);
	if (!count || !nsizes || !window || strlen(argv[1]) >= IFNAMSIZ)
		return 2;
	seen = calloc(count, sizeof(*seen));
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETHERTYPE_TEST));
	if (!seen || fd < 0) {
		perror("net-frames: socket");
		return 1;
	}
	memcpy(ifr.ifr_name, argv[1], strlen(argv[1]));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("net-frames: SIOCGIFHWADDR");
		return 1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETHERTYPE_TEST);
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("net-frames: bind");
		return 1;
	}
	while (received < count) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		uint32_t seq;
		ssize_t n;

		while (sent < count && sent - received < window) {
			size_t len = sizes[sent % nsizes];

			build(want, sent, len);
			if (send(fd, want, len, 0) != (ssize_t)len) {
				perror("net-frames: send");
				return 1;
			}
			sent++;
		}
		if (poll(&pfd, 1, WAIT_MS) <= 0) {
			fprintf(stderr, "net-frames: no frame came back within "
				"%d ms (%" PRIu32 " of %" PRIu32 " sent back)\n",
				WAIT_MS, received, sent);
			break;
		}
		n = recvfrom(fd, got, sizeof(got), MSG_TRUNC,
			     (struct sockaddr *)&from, &fl);
		if (n < 0) {
			perror("net-frames: recv");
			return 1;
		}
		if (from.sll_pkttype == PACKET_OUTGOING || n < 18)
			continue;
		memcpy(&seq, got + 14, sizeof(seq));
		if (seq >= sent) {
			mismatches++;
			continue;
		}
		build(want, seq, sizes[seq % nsizes]);
		if ((size_t)n != sizes[seq % nsizes] || memcmp(want, got, (size_t)n)) {
			mismatches++;
			continue;
		}
		if (seen[seq]) {
			duplicates++;
			continue;
		}
		seen[seq] = true;
		received++;
		bytes += (uint64_t)n;
	}
	printf("net-frames: sent %" PRIu32 " received %" PRIu32 " mismatches %"
	       PRIu64 " duplicates %" PRIu64 " bytes %" PRIu64 "\n", sent,
	       received, mismatches, duplicates, bytes);
	close(fd);
	free(seen);
	return received == count && !mismatches && !duplicates ? 0 : 1;
}
