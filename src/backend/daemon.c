/* SPDX-License-Identifier: MIT */
/*
 * Shared daemon plumbing (see daemon.h).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "daemon.h"
#include "util.h"

#define DOMAIN_NAME_MAX	255	/* a XenStore node's value, as a name */

void va_daemon_opts_init(struct va_daemon_opts *o, uint32_t default_port)
{
	memset(o, 0, sizeof(*o));
	o->port = default_port;
	o->transport = VA_TRANSPORT_AUTO;
	o->log_level = VA_LOG_NOTICE;
	o->stop_timeout_ms = VA_DAEMON_STOP_TIMEOUT_DEFAULT;
}

static int bad_value(const char *opt, const char *arg)
{
	fprintf(stderr, "invalid value for --%s: '%s'\n", opt, arg ? arg : "");
	return -EINVAL;
}

int va_daemon_parse_opt(struct va_daemon_opts *o, int opt, const char *arg)
{
	uint32_t v;
	uint64_t v64;

	switch (opt) {
	case VA_DAEMON_OPT_DOMID:
		if (va_parse_u32(arg, 0, VA_ARGO_DOMID_MAX, &v) < 0)
			return bad_value("domid", arg);
		o->guest_domid = (uint16_t)v;
		o->have_guest = true;
		return 1;
	case VA_DAEMON_OPT_DOMAIN:
		if (!arg || !*arg || strlen(arg) > DOMAIN_NAME_MAX)
			return bad_value("domain", arg);
		o->guest_name = arg;
		return 1;
	case VA_DAEMON_OPT_SELF_DOMID:
		if (va_parse_u32(arg, 0, VA_ARGO_DOMID_MAX, &v) < 0)
			return bad_value("self-domid", arg);
		o->self_domid = (uint16_t)v;
		return 1;
	case VA_DAEMON_OPT_PORT:
		if (va_parse_u32(arg, 0, UINT32_MAX, &v) < 0)
			return bad_value("port", arg);
		o->port = v;
		return 1;
	case VA_DAEMON_OPT_DRIVER_PORT:
		if (va_parse_u32(arg, 1, UINT32_MAX, &v) < 0)
			return bad_value("driver-port", arg);
		o->driver_port = v;
		return 1;
	case VA_DAEMON_OPT_RING_LEN:
		if (va_parse_u32(arg, VA_RING_LEN_MIN, VA_RING_LEN_MAX, &v) < 0 ||
		    !va_argo_ring_len_valid(v))
			return bad_value("ring-len", arg);
		o->ring_len = v;
		return 1;
	case VA_DAEMON_OPT_TRANSPORT:
		if (va_transport_parse(arg, &o->transport) < 0)
			return bad_value("transport", arg);
		return 1;
	case VA_DAEMON_OPT_SIM_SOCKET:
		if (!arg || !*arg)
			return bad_value("sim-socket", arg);
		o->sim_socket = arg;
		return 1;
	case VA_DAEMON_OPT_LOG_LEVEL:
		if (va_log_parse_level(arg, &o->log_level) < 0)
			return bad_value("log-level", arg);
		return 1;
	case VA_DAEMON_OPT_SYSLOG:
		o->use_syslog = true;
		return 1;
	case VA_DAEMON_OPT_STOP_TIMEOUT:
		if (va_parse_u64(arg, 0, 3600000, &v64) < 0)
			return bad_value("stop-timeout-ms", arg);
		o->stop_timeout_ms = v64;
		return 1;
	default:
		return 0;
	}
}

int va_daemon_opts_check(const struct va_daemon_opts *o)
{
	if (!o->have_guest && !o->guest_name) {
		fprintf(stderr, "--domid or --domain is required\n");
		return -EINVAL;
	}
	if (o->have_guest && o->guest_name) {
		fprintf(stderr, "--domid and --domain exclude each other\n");
		return -EINVAL;
	}
	return 0;
}

void va_daemon_usage(FILE *f)
{
	fprintf(f,
"  --domid N            guest domain served\n"
"  --domain NAME        or: the guest by name (XenStore), followed across\n"
"                       its reboots\n"
"  --self-domid N       own domain id for the simulator (default 0)\n"
"  --port P             Argo port of the device's ring\n"
"  --driver-port P      port of the guest's ring (default: --port)\n"
"  --ring-len BYTES     data bytes of the device's ring (default %u)\n"
"  --transport T        sim, xen or auto (default auto)\n"
"  --sim-socket PATH    simulator socket (default $%s, else %s)\n"
"  --log-level L        error, warning, notice, info, debug (default notice)\n"
"  --syslog             log to syslog instead of stderr\n"
"  --stop-timeout-ms MS wait for in-flight requests on SIGTERM (default %u)\n"
"  --help, --version\n",
		VA_RING_LEN_DEFAULT, VA_SIM_SOCKET_ENV, VA_SIM_SOCKET_DEFAULT,
		VA_DAEMON_STOP_TIMEOUT_DEFAULT);
}

void va_daemon_dev_opts(const struct va_daemon_opts *o, const char *name,
			struct va_dev_opts *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->guest_domid = o->guest_domid;
	ret->guest_name = o->guest_name;
	ret->port = o->port;
	ret->driver_port = o->driver_port;
	ret->ring_len = o->ring_len;
	ret->name = name;
}

static void daemon_stopped(struct va_loop *loop, void *opaque)
{
	va_loop_quit(loop, 0);
}

static void daemon_signal(struct va_loop *loop, int signo, void *opaque)
{
	struct va_daemon *d = opaque;

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

int va_daemon_open(struct va_daemon *d, const char *ident,
		   const struct va_daemon_opts *o)
{
	struct va_argo_opts ao = {
		.transport = o->transport,
		.sim_socket = o->sim_socket,
		.self_domid = o->self_domid,
	};
	int r;

	memset(d, 0, sizeof(*d));
	d->stop_timeout_ms = o->stop_timeout_ms;
	va_log_init(ident, o->log_level, o->use_syslog);
	r = va_loop_new(&d->loop);
	if (r < 0)
		return va_log_errno(VA_LOG_ERR, r, "event loop");
	/* Signals first, so that threads a device starts later inherit the
	 * blocked mask and never take SIGTERM/SIGINT themselves. */
	signal(SIGPIPE, SIG_IGN);
	r = va_loop_add_signal(d->loop, SIGTERM, daemon_signal, d);
	if (r >= 0)
		r = va_loop_add_signal(d->loop, SIGINT, daemon_signal, d);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "signals");
		va_loop_free(d->loop);
		d->loop = NULL;
		return r;
	}
	r = va_argo_open(&ao, &d->argo);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "cannot open Argo (%s)",
			     va_transport_name(o->transport));
		va_loop_free(d->loop);
		d->loop = NULL;
		return r;
	}
	if (o->guest_name) {
		uint16_t domid;

		r = va_argo_domain_lookup(d->argo, o->guest_name, &domid);
		if (r == -EOPNOTSUPP) {
			va_err("--domain needs XenStore (the xen transport, "
			       "and xenstored reachable); use --domid");
			va_daemon_close(d);
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
		va_daemon_close(d);
		return -EINVAL;
	}
	return 0;
}

int va_daemon_run(struct va_daemon *d, struct va_dev *dev)
{
	int r;

	d->dev = dev;
	r = va_dev_start(dev);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "%s: start", va_dev_name(dev));
		return 1;
	}
	r = va_loop_run(d->loop);
	if (r < 0) {
		va_log_errno(VA_LOG_ERR, r, "event loop");
		return 1;
	}
	return r ? 1 : 0;
}

void va_daemon_close(struct va_daemon *d)
{
	va_dev_free(d->dev);
	d->dev = NULL;
	va_argo_close(d->argo);
	d->argo = NULL;
	va_loop_free(d->loop);
	d->loop = NULL;
}
