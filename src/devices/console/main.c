/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-consoled: serve one virtio-console device (a console and
 * named ports) to one guest over Argo.
 *
 *   virtio-argo-consoled --domid 5 --pty --pty-link /run/dom5.console
 *   virtio-argo-consoled --domid 5 --socket /run/dom5.sock \
 *       --log /var/log/dom5.console --extra-port agent=socket:/run/dom5.agent
 *
 * This file is consoled's options and its descriptor for the daemon
 * skeleton (daemon.h); the device is console.c's, the host sides
 * console-host.c's.  SIGHUP reopens the log (rotation), SIGWINCH re-reads
 * the console pty's window size and tells the guest.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "console.h"
#include "daemon.h"
#include "util.h"
#include "va-config.h"

#define PROG	"virtio-argo-consoled"

enum {
	OPT_PTY = VA_DAEMON_DEV_OPT, OPT_PTY_LINK, OPT_SOCKET, OPT_STDIO,
	OPT_LOG, OPT_LOG_TS, OPT_EXTRA,
};

static const struct option cons_options[] = {
	{ "pty", no_argument, NULL, OPT_PTY },
	{ "pty-link", required_argument, NULL, OPT_PTY_LINK },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "stdio", no_argument, NULL, OPT_STDIO },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "log-timestamps", no_argument, NULL, OPT_LOG_TS },
	{ "extra-port", required_argument, NULL, OPT_EXTRA },
	{ NULL, 0, NULL, 0 },
};

static unsigned int backends_given;

static void cons_usage(FILE *f)
{
	fprintf(f,
"  --pty                 the console on a new pty (default); its path is\n"
"                        printed\n"
"  --pty-link PATH       and a symlink PATH to it\n"
"  --socket PATH         the console on a listening Unix socket, one client\n"
"                        at a time (a second one is refused)\n"
"  --stdio               the console on stdin/stdout\n"
"  --log FILE            append the console's output to FILE\n"
"  --log-timestamps      with a timestamp at the start of each line\n"
"  --extra-port NAME=socket:PATH | NAME=pty\n"
"                        a named port (MULTIPORT), at most %u\n",
		CONS_MAX_PORTS - 1u);
}

/* A port name: what /dev/virtio-ports/NAME may hold. */
static bool name_ok(const char *s, size_t len)
{
	size_t i;

	if (!len || len > CONS_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return false;
	return true;
}

static int parse_extra(struct cons_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct cons_port_opts *po;
	static char names[CONS_MAX_PORTS][CONS_NAME_MAX + 1];
	unsigned int i;

	if (o->nr_ports == CONS_MAX_PORTS)
		return va_daemon_bad_value("extra-port", arg, "too many ports");
	if (!eq || !name_ok(arg, (size_t)(eq - arg)))
		return va_daemon_bad_value("extra-port", arg,
			"NAME=socket:PATH or NAME=pty, NAME of [A-Za-z0-9._-]");
	po = &o->ports[o->nr_ports];
	memcpy(names[o->nr_ports], arg, (size_t)(eq - arg));
	names[o->nr_ports][eq - arg] = 0;
	for (i = 1; i < o->nr_ports; i++)
		if (!strcmp(o->ports[i].name, names[o->nr_ports]))
			return va_daemon_bad_value("extra-port", arg,
						   "a port of that name exists");
	if (!strcmp(eq + 1, "pty")) {
		po->kind = CONS_PTY;
	} else if (!strncmp(eq + 1, "socket:", 7) && eq[8]) {
		po->kind = CONS_SOCKET;
		po->path = eq + 8;
	} else {
		return va_daemon_bad_value("extra-port", arg,
					   "NAME=socket:PATH or NAME=pty");
	}
	po->name = names[o->nr_ports];
	o->nr_ports++;
	return 0;
}

static int cons_parse_opt(void *cfg, int opt, const char *arg)
{
	struct cons_opts *o = cfg;

	switch (opt) {
	case OPT_PTY:
		o->ports[0].kind = CONS_PTY;
		backends_given++;
		return 0;
	case OPT_PTY_LINK:
		o->pty_link = arg;
		return 0;
	case OPT_SOCKET:
		o->ports[0].kind = CONS_SOCKET;
		o->ports[0].path = arg;
		backends_given++;
		return 0;
	case OPT_STDIO:
		o->ports[0].kind = CONS_STDIO;
		backends_given++;
		return 0;
	case OPT_LOG:
		o->log_path = arg;
		return 0;
	case OPT_LOG_TS:
		o->log_timestamps = true;
		return 0;
	case OPT_EXTRA:
		return parse_extra(o, arg);
	default:
		return -EINVAL;
	}
}

static int cons_check(void *cfg, const struct va_daemon_opts *d)
{
	const struct cons_opts *o = cfg;

	if (backends_given > 1) {
		fprintf(stderr, PROG ": --pty, --socket and --stdio exclude "
			"each other\n");
		return -EINVAL;
	}
	if (o->pty_link && o->ports[0].kind != CONS_PTY) {
		fprintf(stderr, PROG ": --pty-link needs --pty\n");
		return -EINVAL;
	}
	if (o->log_timestamps && !o->log_path) {
		fprintf(stderr, PROG ": --log-timestamps needs --log\n");
		return -EINVAL;
	}
	return 0;
}

static int cons_create(void *cfg, const struct va_daemon_opts *d, void **priv,
		       struct va_dev_info *info, const struct va_dev_ops **ops)
{
	struct cons_opts *o = cfg;
	struct cons *c;
	int r;

	o->queue_size = d->queue_size;
	r = cons_new(o, &c);
	if (r < 0)
		return r;
	cons_dev_info(c, info);
	*ops = cons_dev_ops();
	*priv = c;
	return 0;
}

static void on_signal(struct va_loop *loop, int signo, void *opaque)
{
	struct cons *c = opaque;

	if (signo == SIGHUP)
		cons_log_reopen(c);
	else if (signo == SIGWINCH)
		cons_winch(c);
	else
		cons_print_stats(c);
}

static int cons_attach_loop(void *priv, struct va_dev *dev,
			    struct va_loop *loop)
{
	struct cons *c = priv;
	int r = cons_attach(c, dev, loop);

	if (r == 0)
		r = va_loop_add_signal(loop, SIGHUP, on_signal, c);
	if (r == 0)
		r = va_loop_add_signal(loop, SIGWINCH, on_signal, c);
	if (r == 0)
		r = va_loop_add_signal(loop, SIGUSR1, on_signal, c);
	if (r < 0)
		va_log_errno(VA_LOG_ERR, r, "cannot set up the event loop");
	return r;
}

static const char *cons_describe(void *priv)
{
	const struct cons *c = priv;
	const struct cons_port_opts *p = &c->o->ports[0];

	return p->kind == CONS_SOCKET ? p->path :
	       p->kind == CONS_STDIO ? "stdio" : c->ports[0].pty_path;
}

static void cons_end(void *priv)
{
	cons_detach(priv);
}

static void cons_destroy(void *priv)
{
	cons_free(priv);
}

static const struct va_daemon_desc consd = {
	.prog = PROG,
	.dev_name = "console",
	.synopsis = "--domid N|--domain NAME [--pty|--socket PATH|--stdio] "
		    "[options]",
	.summary = "Serve a virtio-console device (a console and named ports)\n"
		   "to guest domain N over Argo.",
	.notes =
"Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reopens the log (rotation);\n"
"SIGWINCH re-reads the console's window size and tells the guest (with\n"
"--pty it is also re-read whenever the pty brings input);\n"
"SIGUSR1 logs the counters.\n",
	.default_port = VA_PORT_CONSOLE_DEFAULT,
	.max_queue_size = CONS_QUEUE_SIZE_MAX,
	.default_queue_size = CONS_QUEUE_SIZE_DEFAULT,
	.options = cons_options,
	.usage = cons_usage,
	.parse_opt = cons_parse_opt,
	.check = cons_check,
	.create = cons_create,
	.attach = cons_attach_loop,
	.describe = cons_describe,
	.detach = cons_end,
	.destroy = cons_destroy,
};

int main(int argc, char **argv)
{
	static struct cons_opts o = {
		.ports = { { .kind = CONS_PTY } },
		.nr_ports = 1,
	};

	return va_daemon_main(&consd, &o, argc, argv);
}
