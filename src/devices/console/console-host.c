/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-consoled: the host side of a port (a pty, a listening Unix
 * socket with one client at a time, or stdin/stdout) and the log of the
 * console's output (see console.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "log.h"

void cons_port_event(struct cons_port *p, int fd, uint32_t events);

static const char *port_label(const struct cons_port *p)
{
	return p->o->name ? p->o->name : "console";
}

static void on_fd(struct va_loop *loop, int fd, uint32_t events, void *opaque)
{
	cons_port_event(opaque, fd, events);
}

void cons_fdw_set(struct cons_port *p, struct cons_fdw *w, uint32_t events)
{
	struct va_loop *loop = p->c->loop;
	int r;

	if (!loop || w->fd < 0 || events == w->events)
		return;
	if (!events)
		r = va_loop_del_fd(loop, w->fd);
	else if (!w->events)
		r = va_loop_add_fd(loop, w->fd, events, on_fd, p);
	else
		r = va_loop_mod_fd(loop, w->fd, events);
	if (r < 0) {
		/* A regular file or /dev/null on stdio: not pollable. */
		va_log_errno(VA_LOG_WARN, r, "port %u: watching fd %d", p->id,
			     w->fd);
		if (w == &p->in)
			p->in_eof = true;
		return;
	}
	w->events = events;
}

int cons_host_winsize(struct cons_port *p)
{
	struct winsize ws;
	int fd = p->o->kind == CONS_PTY ? p->in.fd :
		 p->o->kind == CONS_STDIO ? STDIN_FILENO : -1;

	if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return -ENOTTY;
	p->rows = ws.ws_row;
	p->cols = ws.ws_col;
	return 0;
}

/* ---- pty ---- */

static int pty_open(struct cons_port *p)
{
	struct termios t;
	const char *name;
	FILE *out;
	int fd, r;

	fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0 ||
	    !(name = ptsname(fd))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return va_log_errno(VA_LOG_ERR, r, "port %s: creating a pty",
				    port_label(p));
	}
	snprintf(p->pty_path, sizeof(p->pty_path), "%s", name);
	/* Our own hold on the slave: the master never sees a hang-up when
	 * the last program on the pty leaves, and the terminal's settings
	 * (raw) stay. */
	p->slave_fd = open(p->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->slave_fd < 0 || tcgetattr(p->slave_fd, &t) < 0) {
		r = -errno;
		close(fd);
		return va_log_errno(VA_LOG_ERR, r, "port %s: opening %s",
				    port_label(p), p->pty_path);
	}
	cfmakeraw(&t);
	tcsetattr(p->slave_fd, TCSANOW, &t);
	p->in.fd = p->out.fd = fd;
	p->host_open = true;
	cons_host_winsize(p);
	if (p->id == 0 && p->c->o->pty_link) {
		const char *link = p->c->o->pty_link;
		struct stat st;

		if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode))
			unlink(link);
		if (symlink(p->pty_path, link) < 0)
			return va_log_errno(VA_LOG_ERR, -errno,
					    "--pty-link %s", link);
	}
	/* The operator's line, on stdout, unless stdout is the console
	 * (--stdio): on stderr then, out of the guest's byte stream. */
	out = p->c->o->ports[0].kind == CONS_STDIO ? stderr : stdout;
	fprintf(out, "virtio-argo-consoled: port %s: pty %s\n", port_label(p),
		p->pty_path);
	fflush(out);
	return 0;
}

/* ---- socket ---- */

static int sock_listen(struct cons_port *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = p->o->path;
	struct stat st;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		va_err("port %s: socket path too long: %s", port_label(p),
		       path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path));
	/* A socket left by an earlier run (a SIGKILL) is replaced. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return va_log_errno(VA_LOG_ERR, -errno, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		r = -errno;
		close(fd);
		return va_log_errno(VA_LOG_ERR, r, "port %s: listening on %s",
				    port_label(p), path);
	}
	p->listen_fd = fd;
	va_notice("port %s: listening on %s", port_label(p), path);
	return 0;
}

static void on_accept(struct va_loop *loop, int fd, uint32_t events,
		      void *opaque)
{
	static const char busy[] =
		"virtio-argo-consoled: another client is connected to this "
		"port; try again later\n";
	struct cons_port *p = opaque;
	int cfd;

	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	if (p->in.fd >= 0) {
		p->refused++;
		va_notice("port %s: a second client refused", port_label(p));
		if (write(cfd, busy, sizeof(busy) - 1) < 0)
			va_info("port %s: the refused client left",
				port_label(p));
		close(cfd);
		return;
	}
	p->clients++;
	p->in.fd = p->out.fd = cfd;
	p->in.events = p->out.events = 0;
	p->host_open = true;
	va_notice("port %s: client connected", port_label(p));
	cons_port_host_changed(p);
	cons_port_watch(p);
}

/* ---- common ---- */

int cons_host_open(struct cons_port *p)
{
	switch (p->o->kind) {
	case CONS_PTY:
		return pty_open(p);
	case CONS_SOCKET:
		return sock_listen(p);
	case CONS_STDIO:
		p->in.fd = STDIN_FILENO;
		p->out.fd = STDOUT_FILENO;
		fcntl(STDIN_FILENO, F_SETFL,
		      fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
		fcntl(STDOUT_FILENO, F_SETFL,
		      fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
		p->host_open = true;
		cons_host_winsize(p);
		return 0;
	}
	return -EINVAL;
}

int cons_host_attach(struct cons_port *p)
{
	if (p->listen_fd >= 0)
		return va_loop_add_fd(p->c->loop, p->listen_fd, EPOLLIN,
				      on_accept, p);
	cons_port_watch(p);
	return 0;
}

void cons_host_hangup(struct cons_port *p)
{
	if (p->o->kind == CONS_STDIO) {
		cons_fdw_set(p, &p->in, 0);
		p->in_eof = true;
		va_notice("port %s: end of input", port_label(p));
		return;
	}
	if (p->o->kind != CONS_SOCKET || p->in.fd < 0)
		return;
	cons_fdw_set(p, &p->in, 0);
	close(p->in.fd);
	p->in.fd = p->out.fd = -1;
	p->in.events = p->out.events = 0;
	p->host_open = false;
	va_notice("port %s: client left", port_label(p));
	cons_port_host_changed(p);
}

void cons_host_write_failed(struct cons_port *p, int err)
{
	va_log_errno(VA_LOG_NOTICE, err, "port %s: writing", port_label(p));
	if (p->o->kind != CONS_STDIO) {
		cons_host_hangup(p);
		return;
	}
	/* stdout is gone for good (its reader left; stdio is not reopened):
	 * the port is closed, its input too, and what the guest writes is
	 * dropped (counted as discarded). */
	cons_fdw_set(p, &p->in, 0);
	cons_fdw_set(p, &p->out, 0);
	p->in_eof = true;
	p->host_open = false;
	va_notice("port %s: stdout is gone, the port is closed",
		  port_label(p));
	cons_port_host_changed(p);
}

void cons_host_close(struct cons_port *p)
{
	if (p->o->kind == CONS_STDIO)
		return;
	if (p->in.fd >= 0)
		close(p->in.fd);
	p->in.fd = p->out.fd = -1;
	if (p->slave_fd >= 0)
		close(p->slave_fd);
	p->slave_fd = -1;
	if (p->listen_fd >= 0) {
		close(p->listen_fd);
		unlink(p->o->path);
	}
	p->listen_fd = -1;
	if (p->o->kind == CONS_PTY && p->id == 0 && p->c->o->pty_link &&
	    p->pty_path[0])
		unlink(p->c->o->pty_link);
}

/* ---- the log ---- */

int cons_log_open(struct cons *c)
{
	if (!c->o->log_path)
		return 0;
	c->log = fopen(c->o->log_path, "ae");
	if (!c->log)
		return va_log_errno(VA_LOG_ERR, -errno, "--log %s",
				    c->o->log_path);
	return 0;
}

static void log_stamp(struct cons *c)
{
	struct timespec ts;
	struct tm tm;
	char buf[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(c->log, "[%s.%03ld] ", buf, ts.tv_nsec / 1000000);
}

void cons_log_write(struct cons *c, const uint8_t *data, size_t len)
{
	size_t i = 0;

	if (!c->log || !len)
		return;
	if (!c->o->log_timestamps) {
		fwrite(data, 1, len, c->log);
	} else {
		while (i < len) {
			const uint8_t *nl = memchr(data + i, '\n', len - i);
			size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;

			if (c->log_bol)
				log_stamp(c);
			fwrite(data + i, 1, n, c->log);
			c->log_bol = nl != NULL;
			i += n;
		}
	}
	fflush(c->log);
}

void cons_log_reopen(struct cons *c)
{
	FILE *f;

	if (!c->o->log_path)
		return;
	f = fopen(c->o->log_path, "ae");
	if (!f) {
		va_log_errno(VA_LOG_ERR, -errno, "reopening %s (the old log "
			     "stays in use)", c->o->log_path);
		return;
	}
	if (c->log)
		fclose(c->log);
	c->log = f;
	va_notice("log %s reopened", c->o->log_path);
}
