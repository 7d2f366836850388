/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-simctl: the simulator's analogue of `xl create/destroy/list`.
 * Opens a control connection (sim-proto.h, VA_SIM_ATTACH_CONTROL) and
 * sends one domain request.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "argo.h"
#include "sim-proto.h"
#include "va-config.h"
#include "util.h"

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One request; the reply body (at most out_len bytes) goes to out. */
static int rpc(int fd, uint16_t op, const void *body, uint32_t len, void *out,
	       uint32_t out_len, uint32_t *ret_len)
{
	static uint32_t seq;
	struct va_sim_hdr h = { .len = len, .op = op, .seq = ++seq }, rh;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	int err;

	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)(sizeof(h) + len))
		return -EIO;
	err = read_all(fd, &rh, sizeof(rh));
	if (err < 0)
		return err;
	if (rh.op != op || rh.seq != h.seq || rh.len > out_len)
		return -EPROTO;
	err = read_all(fd, out, rh.len);
	if (err < 0)
		return err;
	if (ret_len)
		*ret_len = rh.len;
	return rh.status;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: virtio-argo-simctl [OPTIONS] COMMAND\n"
		"Manage the domains of a running virtio-argo-sim.\n\n"
		"Commands:\n"
		"  create DOMID    create a domain\n"
		"  destroy DOMID   destroy a domain: its clients are disconnected,\n"
		"                  its rings and the rings naming it as partner removed\n"
		"  list            print the existing domains, one per line\n\n"
		"Options:\n"
		"  -s, --sim-socket PATH  simulator socket (default: $%s, else %s)\n"
		"  -h, --help             this help\n"
		"  -V, --version          version\n",
		VA_SIM_SOCKET_ENV, VA_SIM_SOCKET_DEFAULT);
}

static int parse_domid(const char *s, uint16_t *ret)
{
	uint32_t v;
	int r = va_parse_u32(s, 0, VA_ARGO_DOMID_MAX, &v);

	if (r == 0)
		*ret = (uint16_t)v;
	return r;
}

/* A command of the command line. */
struct ctl_cmd {
	const char *socket;		/* --sim-socket, NULL: the default */
	const char *name;		/* as given */
	uint16_t op;
	struct va_sim_domain dr;	/* the domain of create/destroy */
};

/* Parse the command line into cmd.  Returns -1 to go on, else the exit
 * status. */
static int parse_command(int argc, char **argv, struct ctl_cmd *cmd)
{
	static const struct option opts[] = {
		{ "sim-socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	const char *name;
	int c;

	while ((c = getopt_long(argc, argv, "s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cmd->socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("virtio-argo-simctl %s\n", VA_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	name = cmd->name = argv[optind];
	if (!strcmp(name, "list") && argc - optind == 1) {
		cmd->op = VA_SIM_OP_DOMAIN_LIST;
	} else if ((!strcmp(name, "create") || !strcmp(name, "destroy")) &&
		   argc - optind == 2) {
		cmd->op = name[0] == 'c' ? VA_SIM_OP_DOMAIN_CREATE :
					   VA_SIM_OP_DOMAIN_DESTROY;
		if (parse_domid(argv[optind + 1], &cmd->dr.domid) < 0) {
			fprintf(stderr, "virtio-argo-simctl: bad domid '%s'\n",
				argv[optind + 1]);
			return 2;
		}
	} else {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Connect to the simulator at path as a control client.  Returns the
 * socket, or the exit status negated. */
static int control_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct va_sim_attach at = {
		.magic = VA_SIM_MAGIC, .version = VA_SIM_VERSION,
		.flags = VA_SIM_ATTACH_CONTROL,
	};
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "virtio-argo-simctl: socket path too long\n");
		return -2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "virtio-argo-simctl: cannot connect to %s: %s\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ret = rpc(fd, VA_SIM_OP_ATTACH, &at, sizeof(at), NULL, 0, NULL);
	if (ret < 0) {
		fprintf(stderr, "virtio-argo-simctl: control refused: %s\n",
			strerror(-ret));
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static uint16_t list[VA_SIM_MAX_DOMAINS];
	struct ctl_cmd cmd = { 0 };
	uint32_t got = 0, i;
	int fd, ret;

	ret = parse_command(argc, argv, &cmd);
	if (ret >= 0)
		return ret;
	fd = control_connect(va_sim_socket_path(cmd.socket));
	if (fd < 0)
		return -fd;
	if (cmd.op == VA_SIM_OP_DOMAIN_LIST)
		ret = rpc(fd, cmd.op, NULL, 0, list, sizeof(list), &got);
	else
		ret = rpc(fd, cmd.op, &cmd.dr, sizeof(cmd.dr), NULL, 0, NULL);
	close(fd);
	if (ret < 0) {
		fprintf(stderr, "virtio-argo-simctl: %s: %s\n", cmd.name,
			strerror(-ret));
		return 1;
	}
	for (i = 0; cmd.op == VA_SIM_OP_DOMAIN_LIST && i < got / 2; i++)
		printf("%u\n", list[i]);
	return 0;
}
