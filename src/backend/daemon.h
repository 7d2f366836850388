/* SPDX-License-Identifier: MIT */
/*
 * The daemon skeleton: what every device daemon shares, so that a daemon's
 * main.c is its own options and a descriptor.
 *
 * The skeleton parses the common options once for every program (guest
 * and own domain, ports, ring length, queue count and size, transport,
 * simulator socket, logging, stop timeout, state directory, --help,
 * --version), hands the others to the device, then runs the life cycle:
 *
 *   parse -> check -> create (the device's own resources: an image, a
 *   TAP; their errors are the operator's most likely, so they come before
 *   Argo is opened) -> open the loop and Argo -> va_dev_new -> attach ->
 *   start and serve until SIGTERM/SIGINT (va_dev_stop with the stop
 *   timeout) -> detach -> close -> destroy.
 *
 *	static const struct va_daemon_desc desc = {
 *		.prog = "virtio-argo-blkd", .dev_name = "blk", ...,
 *		.options = blk_options, .parse_opt = blk_parse_opt,
 *		.create = blk_create, .attach = blk_attach, ...
 *	};
 *	int main(int argc, char **argv)
 *	{
 *		struct blk_opts bo = { ...defaults... };
 *		return va_daemon_main(&desc, &bo, argc, argv);
 *	}
 *
 * Every option has one name in every program; the device's option table
 * is also the list of keys a configuration file will accept (a key is a
 * long option's name), so a device declares each setting once.
 *
 * Exit status: 0 after a clean stop (and for --help, --version), 1 on a
 * failure, 2 on bad usage (one line naming the option and the value).
 */
#ifndef VA_BACKEND_DAEMON_H
#define VA_BACKEND_DAEMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "argo.h"
#include "device.h"
#include "log.h"
#include "loop.h"

/* Device options use getopt values in [VA_DAEMON_DEV_OPT, VA_DAEMON_OPT_BASE). */
#define VA_DAEMON_DEV_OPT	0x100
#define VA_DAEMON_OPT_BASE	0x1000

#define VA_DAEMON_STOP_TIMEOUT_DEFAULT	5000u	/* ms */
/* --state-dir's default: the environment's, else the directory. */
#define VA_DAEMON_STATE_DIR_ENV		"VIRTIO_ARGO_STATE_DIR"
#define VA_DAEMON_STATE_DIR_DEFAULT	"/run/virtio-argo"

/* va_daemon_parse(): go on to run the daemon (any other value is the
 * process's exit status). */
#define VA_DAEMON_CONTINUE	(-1)

struct va_daemon_opts {
	bool have_guest;
	uint16_t guest_domid;		/* --domid, or else */
	const char *guest_name;		/* --domain (XenStore name) */
	uint16_t self_domid;		/* --self-domid, default 0 */
	uint32_t port;			/* --port, default per daemon */
	uint32_t driver_port;		/* --driver-port, 0: same as port */
	uint32_t ring_len;		/* --ring-len, VA_RING_LEN_DEFAULT */
	uint16_t queues;		/* --queues (devices that take it) */
	uint32_t queue_size;		/* --queue-size (the same) */
	enum va_transport transport;	/* --transport */
	const char *sim_socket;		/* --sim-socket, NULL: env/default */
	enum va_log_level log_level;	/* --log-level */
	bool use_syslog;		/* --syslog */
	uint64_t stop_timeout_ms;	/* --stop-timeout-ms */
	const char *state_dir;		/* --state-dir */
};

struct va_daemon_desc {
	const char *prog;		/* "virtio-argo-blkd": logs, --version */
	const char *dev_name;		/* "blk": the device core's log name */
	const char *synopsis;		/* --help: what follows "Usage: prog " */
	const char *summary;		/* --help: what the program does */
	const char *notes;		/* --help: signals, test hooks (or NULL) */
	uint32_t default_port;
	/*
	 * --queues and --queue-size: offered when max_queues > 0 (a device
	 * with a fixed queue count leaves it 0).  The defaults are used when
	 * the option is not given.
	 */
	uint16_t max_queues, default_queues;
	uint32_t max_queue_size, default_queue_size;

	/* The device's own options (NULL-terminated, .val in the device
	 * range, .flag NULL) and their --help lines. */
	const struct option *options;
	void (*usage)(FILE *f);
	/*
	 * One device option: return 0 when stored, or -EINVAL after printing
	 * (va_daemon_bad_value() or a line of its own) what was wrong.
	 */
	int (*parse_opt)(void *cfg, int opt, const char *arg);
	/* After every option: check what depends on several; -EINVAL with
	 * a message printed is bad usage.  Optional. */
	int (*check)(void *cfg, const struct va_daemon_opts *o);
	/*
	 * Open the device's resources and describe it: fill *info and *ops and
	 * return the device's own pointer in *priv (it is the opaque pointer
	 * every ops callback receives).  Logging is set up, Argo not yet.
	 * Negative errno on failure (logged by the device).
	 */
	int (*create)(void *cfg, const struct va_daemon_opts *o, void **priv,
		      struct va_dev_info *info, const struct va_dev_ops **ops);
	/* The device core exists: start engines, add signals (SIGHUP...).
	 * Negative errno on failure (logged).  Optional. */
	int (*attach)(void *priv, struct va_dev *dev, struct va_loop *loop);
	/* What is served, for the start-up line ("an image path").
	 * Optional. */
	const char *(*describe)(void *priv);
	/* The loop has ended (or attach failed): finish I/O in flight, whose
	 * completions still go to the core, and let go of the loop.
	 * Optional. */
	void (*detach)(void *priv);
	/* Free what create made, after the device core is freed.  Optional. */
	void (*destroy)(void *priv);
};

/* The whole daemon: returns the process's exit status. */
int va_daemon_main(const struct va_daemon_desc *desc, void *cfg, int argc,
		   char **argv);

/* The parts of va_daemon_main, for tests and for programs that are not
 * a daemon of one device. */
int va_daemon_parse(const struct va_daemon_desc *desc, void *cfg, int argc,
		    char **argv, struct va_daemon_opts *o);
void va_daemon_usage(const struct va_daemon_desc *desc, FILE *f);
/* Prints "PROG: invalid value for --NAME: 'ARG'" (plus `why` when not
 * NULL) to stderr; returns -EINVAL for parse_opt to return. */
int va_daemon_bad_value(const char *name, const char *arg, const char *why);

#endif /* VA_BACKEND_DAEMON_H */
