/* SPDX-License-Identifier: MIT */
/*
 * The virtio-argo-guest tool's modes.  guest-main.c parses the common
 * options (domains, port, transport, ring size, timeout), attaches to Argo
 * and calls the mode with its own arguments.  A mode opens the device with
 * va_guest_open(&ctx->gopts) after adjusting what it needs (features,
 * queue sizes) and returns the process exit code (0 ok, 1 failure,
 * 2 bad usage).
 *
 * Adding a mode: write `int guest_mode_NAME(struct guest_ctx *, int, char **)`
 * in its own guest-NAME.c, declare it here and add a line to the mode table
 * in guest-main.c.
 */
#ifndef VA_SIM_GUEST_TOOL_H
#define VA_SIM_GUEST_TOOL_H

#include <stdint.h>

#include "guest.h"

struct guest_ctx {
	const char *prog;		/* "virtio-argo-guest" */
	struct va_argo *argo;
	struct va_guest_opts gopts;	/* filled from the common options */
	unsigned int timeout_s;		/* --timeout: control and stall limit */
};

/* argv[0] is the mode name; getopt may be used (optind is reset). */
typedef int (*guest_mode_fn)(struct guest_ctx *ctx, int argc, char **argv);

int guest_mode_info(struct guest_ctx *ctx, int argc, char **argv);
int guest_mode_test_echo(struct guest_ctx *ctx, int argc, char **argv);
int guest_mode_blk(struct guest_ctx *ctx, int argc, char **argv);	/* guest-blk.c */
int guest_mode_net(struct guest_ctx *ctx, int argc, char **argv);	/* guest-net.c */
int guest_mode_console(struct guest_ctx *ctx, int argc, char **argv); /* guest-console.c */

/* Print "prog: what: strerror" and return 1. */
int guest_fail(const struct guest_ctx *ctx, int err, const char *what);

#endif /* VA_SIM_GUEST_TOOL_H */
