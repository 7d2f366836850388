/* SPDX-License-Identifier: MIT */
/*
 * What every device daemon shares: the common command-line options
 * (guest and own domain, port, ring length, transport, simulator socket,
 * log level, syslog), opening the loop and Argo, and the clean-shutdown
 * signal handling (SIGTERM/SIGINT -> va_dev_stop -> exit 0).
 *
 * Use with getopt_long: put VA_DAEMON_LONGOPTS in the option table (their
 * values are >= VA_DAEMON_OPT_BASE, out of the way of short options) and
 * pass every option to va_daemon_parse_opt() first.
 *
 *	struct va_daemon_opts o;
 *	va_daemon_opts_init(&o, MY_PORT);
 *	while ((c = getopt_long(...)) != -1) {
 *		r = va_daemon_parse_opt(&o, c, optarg);
 *		if (r > 0) continue;            // handled
 *		if (r < 0) exit(2);             // bad value, message printed
 *		switch (c) { ... device options ... }
 *	}
 *	if (va_daemon_opts_check(&o) < 0) exit(2);
 *	va_daemon_open(&d, argv[0], &o);      // log, loop, Argo
 *	va_dev_new(d.loop, d.argo, &info, &ops, priv, &dopts, &dev);
 *	return va_daemon_run(&d, dev);        // start, serve, stop on signal
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

enum {
	VA_DAEMON_OPT_BASE = 0x1000,
	VA_DAEMON_OPT_DOMID = VA_DAEMON_OPT_BASE,
	VA_DAEMON_OPT_DOMAIN,
	VA_DAEMON_OPT_SELF_DOMID,
	VA_DAEMON_OPT_PORT,
	VA_DAEMON_OPT_DRIVER_PORT,
	VA_DAEMON_OPT_RING_LEN,
	VA_DAEMON_OPT_TRANSPORT,
	VA_DAEMON_OPT_SIM_SOCKET,
	VA_DAEMON_OPT_LOG_LEVEL,
	VA_DAEMON_OPT_SYSLOG,
	VA_DAEMON_OPT_STOP_TIMEOUT,
};

#define VA_DAEMON_LONGOPTS						\
	{ "domid", required_argument, NULL, VA_DAEMON_OPT_DOMID },	\
	{ "domain", required_argument, NULL, VA_DAEMON_OPT_DOMAIN },	\
	{ "self-domid", required_argument, NULL, VA_DAEMON_OPT_SELF_DOMID }, \
	{ "port", required_argument, NULL, VA_DAEMON_OPT_PORT },	\
	{ "driver-port", required_argument, NULL, VA_DAEMON_OPT_DRIVER_PORT }, \
	{ "ring-len", required_argument, NULL, VA_DAEMON_OPT_RING_LEN }, \
	{ "transport", required_argument, NULL, VA_DAEMON_OPT_TRANSPORT }, \
	{ "sim-socket", required_argument, NULL, VA_DAEMON_OPT_SIM_SOCKET }, \
	{ "log-level", required_argument, NULL, VA_DAEMON_OPT_LOG_LEVEL }, \
	{ "syslog", no_argument, NULL, VA_DAEMON_OPT_SYSLOG },		\
	{ "stop-timeout-ms", required_argument, NULL, VA_DAEMON_OPT_STOP_TIMEOUT }

#define VA_DAEMON_STOP_TIMEOUT_DEFAULT	5000u	/* ms */

struct va_daemon_opts {
	bool have_guest;
	uint16_t guest_domid;		/* --domid, or else */
	const char *guest_name;		/* --domain (XenStore name) */
	uint16_t self_domid;		/* --self-domid, default 0 */
	uint32_t port;			/* --port, default per daemon */
	uint32_t driver_port;		/* --driver-port, 0: same as port */
	uint32_t ring_len;		/* --ring-len, 0: VA_RING_LEN_DEFAULT */
	enum va_transport transport;	/* --transport */
	const char *sim_socket;		/* --sim-socket, NULL: env/default */
	enum va_log_level log_level;	/* --log-level */
	bool use_syslog;		/* --syslog */
	uint64_t stop_timeout_ms;	/* --stop-timeout-ms */
};

void va_daemon_opts_init(struct va_daemon_opts *o, uint32_t default_port);
/* Returns 1 if `opt` was a common option (stored), 0 if not ours,
 * -EINVAL if its value is bad (a message went to stderr). */
int va_daemon_parse_opt(struct va_daemon_opts *o, int opt, const char *arg);
/* After parsing: -EINVAL (message printed) if --domid is missing. */
int va_daemon_opts_check(const struct va_daemon_opts *o);
/* The common options' lines for --help. */
void va_daemon_usage(FILE *f);
/* Device options from the common ones. */
void va_daemon_dev_opts(const struct va_daemon_opts *o, const char *name,
			struct va_dev_opts *ret);

struct va_daemon {
	struct va_loop *loop;
	struct va_argo *argo;
	struct va_dev *dev;
	uint64_t stop_timeout_ms;
	bool stopping;
};

/* Log set-up, loop with SIGTERM/SIGINT taken (SIGPIPE ignored), Argo
 * connection.  Call it before starting any thread.  On failure everything
 * is closed and a negative errno returned (logged). */
int va_daemon_open(struct va_daemon *d, const char *ident,
		   const struct va_daemon_opts *o);
/*
 * Start dev and run the loop until SIGTERM/SIGINT has stopped it cleanly
 * (va_dev_stop with the stop timeout) or something called va_loop_quit.
 * A second signal while stopping quits at once.
 * Returns the process exit code: 0 after a clean stop, 1 on failure.
 */
int va_daemon_run(struct va_daemon *d, struct va_dev *dev);
/* Frees d->dev (if set), Argo and the loop. */
void va_daemon_close(struct va_daemon *d);

#endif /* VA_BACKEND_DAEMON_H */
