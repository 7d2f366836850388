/* SPDX-License-Identifier: MIT */
/*
 * Shared daemon plumbing (see daemon.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "va-config.h"
#include "daemon.h"
#include "util.h"
#include "virtio-argo/wire.h"

#define DOMAIN_NAME_MAX	255	/* a XenStore node's value, as a name */

enum {
	OPT_DOMID = VA_DAEMON_OPT_BASE,
	OPT_DOMAIN,
	OPT_SELF_DOMID,
	OPT_PORT,
	OPT_DRIVER_PORT,
	OPT_RING_LEN,
	OPT_QUEUES,
	OPT_QUEUE_SIZE,
	OPT_TRANSPORT,
	OPT_SIM_SOCKET,
	OPT_LOG_LEVEL,
	OPT_SYSLOG,
	OPT_STOP_TIMEOUT,
	OPT_STATE_DIR,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option common_opts[] = {
	{ "domid", required_argument, NULL, OPT_DOMID },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "self-domid", required_argument, NULL, OPT_SELF_DOMID },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "driver-port", required_argument, NULL, OPT_DRIVER_PORT },
	{ "ring-len", required_argument, NULL, OPT_RING_LEN },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "sim-socket", required_argument, NULL, OPT_SIM_SOCKET },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "stop-timeout-ms", required_argument, NULL, OPT_STOP_TIMEOUT },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
};

static const struct option queue_opts[] = {
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
};

/* The program whose options are being parsed, for messages. */
static const char *parsing_prog = "virtio-argo";

int va_daemon_bad_value(const char *name, const char *arg, const char *why)
{
	fprintf(stderr, "%s: invalid value for --%s: '%s'%s%s\n", parsing_prog,
		name, arg ? arg : "", why ? ": " : "", why ? why : "");
	return -EINVAL;
}

static void opts_init(const struct va_daemon_desc *desc,
		      struct va_daemon_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->port = desc->default_port;
	o->ring_len = VA_RING_LEN_DEFAULT;
	o->queues = desc->default_queues;
	o->queue_size = desc->default_queue_size;
	o->transport = VA_TRANSPORT_AUTO;
	o->log_level = VA_LOG_NOTICE;
	o->stop_timeout_ms = VA_DAEMON_STOP_TIMEOUT_DEFAULT;
	o->state_dir = getenv(VA_DAEMON_STATE_DIR_ENV);
	if (!o->state_dir || !*o->state_dir)
		o->state_dir = VA_DAEMON_STATE_DIR_DEFAULT;
}

/* 0: stored; -EINVAL: bad value (printed). */
static int parse_common(const struct va_daemon_desc *desc,
			struct va_daemon_opts *o, int opt, const char *arg)
{
	uint32_t v;
	uint64_t v64;

	switch (opt) {
	case OPT_DOMID:
		if (va_parse_u32(arg, 0, VA_ARGO_DOMID_MAX, &v) < 0)
			return va_daemon_bad_value("domid", arg, NULL);
		o->guest_domid = (uint16_t)v;
		o->have_guest = true;
		return 0;
	case OPT_DOMAIN:
		if (!arg || !*arg || strlen(arg) > DOMAIN_NAME_MAX)
			return va_daemon_bad_value("domain", arg, NULL);
		o->guest_name = arg;
		return 0;
	case OPT_SELF_DOMID:
		if (va_parse_u32(arg, 0, VA_ARGO_DOMID_MAX, &v) < 0)
			return va_daemon_bad_value("self-domid", arg, NULL);
		o->self_domid = (uint16_t)v;
		return 0;
	case OPT_PORT:
		if (va_parse_u32(arg, 0, UINT32_MAX, &v) < 0)
			return va_daemon_bad_value("port", arg, NULL);
		o->port = v;
		return 0;
	case OPT_DRIVER_PORT:
		if (va_parse_u32(arg, 1, UINT32_MAX, &v) < 0)
			return va_daemon_bad_value("driver-port", arg, NULL);
		o->driver_port = v;
		return 0;
	case OPT_RING_LEN:
		if (va_parse_u32(arg, VA_RING_LEN_MIN, VA_RING_LEN_MAX, &v) < 0 ||
		    !va_ring_len_ok(v))
			return va_daemon_bad_value("ring-len", arg,
				"a multiple of 16 bytes within the ring limits");
		o->ring_len = v;
		return 0;
	case OPT_QUEUES:
		if (va_parse_u32(arg, 1, desc->max_queues, &v) < 0)
			return va_daemon_bad_value("queues", arg, NULL);
		o->queues = (uint16_t)v;
		return 0;
	case OPT_QUEUE_SIZE:
		if (va_parse_u32(arg, 1, desc->max_queue_size, &v) < 0)
			return va_daemon_bad_value("queue-size", arg, NULL);
		o->queue_size = v;
		return 0;
	case OPT_TRANSPORT:
		if (va_transport_parse(arg, &o->transport) < 0)
			return va_daemon_bad_value("transport", arg, NULL);
		return 0;
	case OPT_SIM_SOCKET:
		if (!arg || !*arg)
			return va_daemon_bad_value("sim-socket", arg, NULL);
		o->sim_socket = arg;
		return 0;
	case OPT_LOG_LEVEL:
		if (va_log_parse_level(arg, &o->log_level) < 0)
			return va_daemon_bad_value("log-level", arg, NULL);
		return 0;
	case OPT_SYSLOG:
		o->use_syslog = true;
		return 0;
	case OPT_STOP_TIMEOUT:
		if (va_parse_u64(arg, 0, 3600000, &v64) < 0)
			return va_daemon_bad_value("stop-timeout-ms", arg, NULL);
		o->stop_timeout_ms = v64;
		return 0;
	case OPT_STATE_DIR:
		if (!arg || arg[0] != '/')
			return va_daemon_bad_value("state-dir", arg,
						   "an absolute path");
		o->state_dir = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

static int check_common(const struct va_daemon_opts *o)
{
	if (!o->have_guest && !o->guest_name) {
		fprintf(stderr, "%s: --domid or --domain is required\n",
			parsing_prog);
		return -EINVAL;
	}
	if (o->have_guest && o->guest_name) {
		fprintf(stderr, "%s: --domid and --domain exclude each other\n",
			parsing_prog);
		return -EINVAL;
	}
	return 0;
}

static size_t count_opts(const struct option *opts)
{
	size_t n = 0;

	while (opts && opts[n].name)
		n++;
	return n;
}

/* The getopt table: the common options, the queue options when the device
 * takes them, the device's.  NULL (ENOMEM) on failure. */
static struct option *build_table(const struct va_daemon_desc *desc)
{
	size_t nc = sizeof(common_opts) / sizeof(common_opts[0]);
	size_t nq = desc->max_queues ? sizeof(queue_opts) / sizeof(queue_opts[0]) : 0;
	size_t nd = count_opts(desc->options);
	struct option *t = calloc(nc + nq + nd + 1, sizeof(*t));

	if (!t)
		return NULL;
	memcpy(t, common_opts, sizeof(common_opts));
	if (nq)
		memcpy(t + nc, queue_opts, sizeof(queue_opts));
	if (nd)
		memcpy(t + nc + nq, desc->options, nd * sizeof(*t));
	return t;
}

static int usage_error(const struct va_daemon_desc *desc)
{
	fprintf(stderr, "Try '%s --help'.\n", desc->prog);
	return 2;
}

int va_daemon_parse(const struct va_daemon_desc *desc, void *cfg, int argc,
		    char **argv, struct va_daemon_opts *o)
{
	struct option *table = build_table(desc);
	int c, rc = VA_DAEMON_CONTINUE;

	if (!table) {
		fprintf(stderr, "%s: out of memory\n", desc->prog);
		return 1;
	}
	parsing_prog = desc->prog;
	opts_init(desc, o);
	optind = 1;
	opterr = 1;
	while (rc == VA_DAEMON_CONTINUE &&
	       (c = getopt_long(argc, argv, "", table, NULL)) != -1) {
		if (c == OPT_HELP) {
			va_daemon_usage(desc, stdout);
			rc = 0;
		} else if (c == OPT_VERSION) {
			printf("%s %s\n", desc->prog, VA_VERSION);
			rc = 0;
		} else if (c >= VA_DAEMON_OPT_BASE) {
			if (parse_common(desc, o, c, optarg) < 0)
				rc = usage_error(desc);
		} else if (c >= VA_DAEMON_DEV_OPT && desc->parse_opt) {
			if (desc->parse_opt(cfg, c, optarg) < 0)
				rc = usage_error(desc);
		} else {
			/* getopt said what was wrong */
			rc = usage_error(desc);
		}
	}
	free(table);
	if (rc != VA_DAEMON_CONTINUE)
		return rc;
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", desc->prog,
			argv[optind]);
		return usage_error(desc);
	}
	if (check_common(o) < 0 || (desc->check && desc->check(cfg, o) < 0))
		return usage_error(desc);
	return VA_DAEMON_CONTINUE;
}

void va_daemon_usage(const struct va_daemon_desc *desc, FILE *f)
{
	fprintf(f, "Usage: %s %s\n%s\n\n", desc->prog, desc->synopsis,
		desc->summary);
	if (desc->usage)
		desc->usage(f);
	if (desc->max_queues)
		fprintf(f,
"  --queues N            virtqueues (default %u, at most %u)\n"
"  --queue-size N        largest queue size (default %u, at most %u)\n",
			desc->default_queues, desc->max_queues,
			desc->default_queue_size, desc->max_queue_size);
	fprintf(f,
"Common options:\n"
"  --domid N             guest domain served\n"
"  --domain NAME         or: the guest by name (XenStore), followed across\n"
"                        its reboots\n"
"  --self-domid N        own domain id for the simulator (default 0)\n"
"  --port P              Argo port of the device's ring (default %#x)\n"
"  --driver-port P       port of the guest's ring (default: --port)\n"
"  --ring-len BYTES      data bytes of the device's ring (default %u)\n"
"  --transport T         sim, xen or auto (default auto)\n"
"  --sim-socket PATH     simulator socket (default $%s, else %s)\n"
"  --log-level L         error, warning, notice, info, debug (default notice)\n"
"  --syslog              log to syslog instead of stderr\n"
"  --stop-timeout-ms MS  wait for in-flight requests on SIGTERM (default %u)\n"
"  --state-dir DIR       the driver session's device state, kept across\n"
"                        restarts (default $%s, else %s)\n"
"  --help, --version\n",
		desc->default_port, VA_RING_LEN_DEFAULT, VA_SIM_SOCKET_ENV,
		VA_SIM_SOCKET_DEFAULT, VA_DAEMON_STOP_TIMEOUT_DEFAULT,
		VA_DAEMON_STATE_DIR_ENV, VA_DAEMON_STATE_DIR_DEFAULT);
	if (desc->notes)
		fprintf(f, "\n%s", desc->notes);
}

static void dev_opts(const struct va_daemon_opts *o, const char *name,
		     struct va_dev_opts *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->guest_domid = o->guest_domid;
	ret->guest_name = o->guest_name;
	ret->port = o->port;
	ret->driver_port = o->driver_port;
	ret->ring_len = o->ring_len;
	ret->name = name;
	ret->state_dir = o->state_dir;
}

struct daemon {
	const struct va_daemon_desc *desc;
	struct va_loop *loop;
	struct va_argo *argo;
	struct va_dev *dev;
	void *priv;			/* the device's own pointer */
	bool attached;
	uint64_t stop_timeout_ms;
	bool stopping;
};

static void daemon_stopped(struct va_loop *loop, void *opaque)
{
	va_loop_quit(loop, 0);
}

static void daemon_signal(struct va_loop *loop, int signo, void *opaque)
{
	struct daemon *d = opaque;

	if (!d->dev) {
		va_loop_quit(loop, 0);
		return;
	}
	if (d->stopping) {
		va_notice("signal %d again: quitting now", signo);
		va_loop_quit(loop, 0);
		return;
	}
	d->stopping = true;
	va_notice("signal %d: stopping", signo);
	va_dev_stop(d->dev, d->stop_timeout_ms, daemon_stopped, d);
}

/* The loop with SIGTERM/SIGINT taken (SIGPIPE ignored), and Argo.  Before
 * any thread starts, so that threads inherit the blocked signals. */
static int daemon_open(struct daemon *d, const struct va_daemon_opts *o)
{
	struct va_argo_opts ao = {
		.transport = o->transport,
		.sim_socket = o->sim_socket,
		.self_domid = o->self_domid,
	};
	int r;

	d->stop_timeout_ms = o->stop_timeout_ms;
	r = va_loop_new(&d->loop);
	if (r < 0)
		return va_log_errno(VA_LOG_ERR, r, "event loop");
	signal(SIGPIPE, SIG_IGN);
	r = va_loop_add_signal(d->loop, SIGTERM, daemon_signal, d);
	if (r >= 0)
		r = va_loop_add_signal(d->loop, SIGINT, daemon_signal, d);
	if (r < 0)
		return va_log_errno(VA_LOG_ERR, r, "signals");
	r = va_argo_open(&ao, &d->argo);
	if (r < 0)
		return va_log_errno(VA_LOG_ERR, r, "cannot open Argo (%s)",
				    va_transport_name(o->transport));
	if (o->guest_name) {
		uint16_t domid;

		r = va_argo_domain_lookup(d->argo, o->guest_name, &domid);
		if (r == -EOPNOTSUPP) {
			va_err("--domain needs XenStore (the xen transport, "
			       "and xenstored reachable); use --domid");
			return r;
		}
		return 0;
	}
	/* A domain may serve itself (Argo lets it send to itself), but its
	 * two rings would then both be (self, port, partner self). */
	if (o->guest_domid == va_argo_self_domid(d->argo) &&
	    (!o->driver_port || o->driver_port == o->port)) {
		va_err("--domid %u is this domain: serving it needs a "
		       "--driver-port different from --port", o->guest_domid);
		return -EINVAL;
	}
	return 0;
}

/* The device core over the device's own part, attached to the loop. */
static int daemon_device(struct daemon *d, const struct va_daemon_opts *o,
			 const struct va_dev_info *info,
			 const struct va_dev_ops *ops)
{
	const struct va_daemon_desc *desc = d->desc;
	const char *what = desc->describe ? desc->describe(d->priv) : NULL;
	struct va_dev_opts dopts;
	int r;

	dev_opts(o, desc->dev_name, &dopts);
	r = va_dev_new(d->loop, d->argo, info, ops, d->priv, &dopts, &d->dev);
	if (r < 0)
		return va_log_errno(VA_LOG_ERR, r, "cannot create the device");
	if (desc->attach) {
		d->attached = true;
		r = desc->attach(d->priv, d->dev, d->loop);
		if (r < 0)
			return r;
	}
	if (o->guest_name)
		va_notice("%s: serving %s%sdomain %s on port %#x",
			  desc->dev_name, what ? what : "", what ? " to " : "",
			  o->guest_name, dopts.port);
	else
		va_notice("%s: serving %s%sdomain %u on port %#x",
			  desc->dev_name, what ? what : "", what ? " to " : "",
			  o->guest_domid, dopts.port);
	return 0;
}

/* Start and serve until a signal has stopped the device (0) or
 * something failed (1). */
static int daemon_run(struct daemon *d)
{
	int r;

	r = va_dev_start(d->dev);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "%s: start", va_dev_name(d->dev));
		return 1;
	}
	r = va_loop_run(d->loop);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "event loop");
		return 1;
	}
	return r ? 1 : 0;
}

/* In the reverse order: the device's I/O in flight ends (its completions
 * still reach the core), the core, Argo, the loop, the device. */
static void daemon_close(struct daemon *d)
{
	if (d->attached && d->desc->detach)
		d->desc->detach(d->priv);
	va_dev_free(d->dev);
	va_argo_close(d->argo);
	va_loop_free(d->loop);
	if (d->priv && d->desc->destroy)
		d->desc->destroy(d->priv);
}

int va_daemon_main(const struct va_daemon_desc *desc, void *cfg, int argc,
		   char **argv)
{
	struct daemon d = { .desc = desc };
	const struct va_dev_ops *ops = NULL;
	struct va_daemon_opts o;
	struct va_dev_info info;
	int rc;

	rc = va_daemon_parse(desc, cfg, argc, argv, &o);
	if (rc != VA_DAEMON_CONTINUE)
		return rc;
	va_log_init(desc->prog, o.log_level, o.use_syslog);
	memset(&info, 0, sizeof(info));
	rc = 1;
	/* The device's resources first: an image or a TAP the operator
	 * named wrongly is the likeliest error, and needs no Argo. */
	if (desc->create(cfg, &o, &d.priv, &info, &ops) < 0)
		return 1;
	if (daemon_open(&d, &o) == 0 && daemon_device(&d, &o, &info, ops) == 0)
		rc = daemon_run(&d);
	daemon_close(&d);
	return rc;
}
