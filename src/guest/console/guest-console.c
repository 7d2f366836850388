/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest console: the driver side of virtio-console (virtio 1.2
 * section 5.3) in user space, as Linux's virtio_console does it.
 *
 *   virtio-argo-guest --port 0x5641c000 console [--port NAME=PATH]...
 *
 * The console port is attached to our stdin and stdout (stdin in raw mode
 * when it is a terminal); each --port NAME=PATH makes the named port NAME
 * a listening Unix socket at PATH, one client at a time: a client
 * connecting is PORT_OPEN 1 to the device, leaving PORT_OPEN 0 (as a
 * program opening and closing /dev/virtio-ports/NAME).
 *
 * MULTIPORT: DEVICE_READY once the control receive buffers are posted,
 * PORT_READY for every PORT_ADD (again for a port already added), PORT_OPEN
 * 1 for the console port (CONSOLE_PORT and PORT_NAME for a port that has
 * them already are ignored, as Linux does); the host's PORT_OPEN is shown
 * and respected (a
 * named port's input is read only while the host side is open).  SIZE: the
 * size from the config (without MULTIPORT) or RESIZE is shown as a line
 * "console: size ROWSxCOLS" and set on stdout when it is a terminal.
 *
 * Flow control: input is read while the port's transmit queue has room;
 * a receive buffer is posted again only once its bytes were written out,
 * so a stalled reader of our output leaves the device without buffers.
 *
 * After a device restart the library renegotiates and replays what was in
 * flight; like Linux's virtio_console, nothing else is sent (no second
 * DEVICE_READY): the device restores the driver session's state
 * (protocol.md 11.4) and says what changed on its side (PORT_OPEN).
 *
 * Lines on stderr: "console: ready: ...", "console: port N: added",
 * "...: name NAME", "...: host open 0|1", "console: size RxC", and the
 * counters (SIGUSR1 and at exit):
 *   console: port N (NAME): rx_bytes N tx_bytes N dropped N out_held N
 *     tx_inflight N
 *   console: total: ctrl_in N ctrl_bad N resizes N restarts N violations N
 * Test hook: --send-ctrl EVENT,ID,VALUE (repeatable) sends that control
 * message before DEVICE_READY, to see the device refuse it.
 *
 * EMERG_WRITE: --emerg-write TEXT writes TEXT one byte at a time into the
 * config field emerg_wr (virtio 1.2 section 5.3.4), right after the
 * negotiation, before any buffer is posted; a line "console: emerg_wr:
 * N bytes written" or "console: emerg_wr refused after N bytes: ERROR"
 * says how it went (a refusal ends nothing).  --no-emerg-write does not
 * accept the feature (with --emerg-write: to see the device refuse the
 * write of a driver that did not negotiate it).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>

#include "console-ctrl.h"
#include "guest-tool.h"
#include "loop.h"
#include "util.h"

#define F(bit)		(1ull << (bit))
#define GC_MAX_PORTS	16u
#define GC_BUF		4096u	/* one receive buffer, one transmit read */
#define GC_RX_BUFS	32u	/* receive buffers per port (at most) */
#define GC_CTRL_BUFS	16u
#define GC_CTRL_BUF	CONS_CTRL_MAX
#define GC_MAX_HOOKS	8u
#define CTRL_RXQ	2u
#define CTRL_TXQ	3u

struct gport;

struct gbuf {
	struct gport *p;		/* NULL: a control buffer */
	struct gcons *gc;
	uint8_t *data;
	uint32_t size, len;
};

struct gfd {
	int fd;
	uint32_t events;		/* in the loop (0: not) */
};

struct gport {
	struct gcons *gc;
	unsigned int id;
	bool added, is_console, host_open, guest_open;
	char name[CONS_NAME_MAX + 1];
	const char *path;		/* --port's socket, NULL */
	int listen_fd;
	struct gfd in, out;		/* console: stdin, stdout; named: client */
	bool want_in, want_out;		/* EAGAIN seen: wait for the fd */
	bool in_eof;
	struct gbuf rx[GC_RX_BUFS];
	unsigned int rx_count;
	struct gbuf *outq[GC_RX_BUFS];	/* filled, being written out */
	unsigned int out_head, out_count;
	uint32_t out_off;
	uint64_t rx_bytes, tx_bytes, dropped;
};

struct gport_opt {
	const char *name, *path;
};

struct gcons {
	struct guest_ctx *ctx;
	struct va_guest *g;
	struct va_loop *loop;
	uint64_t features;
	bool multiport;
	uint32_t max_ports;
	uint32_t session;		/* the device's, to see a restart */
	struct gport ports[GC_MAX_PORTS];
	struct gport_opt popts[GC_MAX_PORTS];
	unsigned int nr_popts;
	struct cons_ctrl hooks[GC_MAX_HOOKS];
	unsigned int nr_hooks;
	const char *emerg;		/* --emerg-write */
	bool no_emerg;			/* --no-emerg-write */
	struct gbuf ctrl[GC_CTRL_BUFS];
	uint8_t ctrl_out[GC_MAX_HOOKS + GC_MAX_PORTS * 3u][CONS_CTRL_HDR];
	unsigned int ctrl_out_next;
	uint16_t rows, cols;
	bool tty_raw;
	struct termios tty_saved;
	bool stopping;
	int rc;
	uint64_t ctrl_in, ctrl_bad, resizes, restarts;
};

static uint16_t rxq(unsigned int id)
{
	return id ? (uint16_t)(2u + 2u * id) : 0u;
}

static uint16_t txq(unsigned int id)
{
	return (uint16_t)(rxq(id) + 1u);
}

static const char *pname(const struct gport *p)
{
	return p->name[0] ? p->name : p->is_console ? "console" : "-";
}

static void gc_fatal(struct gcons *gc, int err, const char *what)
{
	if (gc->stopping)
		return;
	fprintf(stderr, "%s: console: %s: %s\n", gc->ctx->prog, what,
		strerror(-err));
	gc->rc = 1;
	gc->stopping = true;
	va_loop_quit(gc->loop, 1);
}

/* ---- fds in the loop ---- */

static void on_port_fd(struct va_loop *loop, int fd, uint32_t events,
		       void *opaque);

static void gfd_set(struct gport *p, struct gfd *w, uint32_t events)
{
	int r;

	if (w->fd < 0 || w->events == events)
		return;
	if (!events)
		r = va_loop_del_fd(p->gc->loop, w->fd);
	else if (!w->events)
		r = va_loop_add_fd(p->gc->loop, w->fd, events, on_port_fd, p);
	else
		r = va_loop_mod_fd(p->gc->loop, w->fd, events);
	if (r == 0)
		w->events = events;
}

/* The fds of p in the loop as want_in/want_out say (a client's socket is
 * one fd for both: one registration). */
static void port_watch(struct gport *p)
{
	uint32_t in = p->want_in ? EPOLLIN : 0, out = p->want_out ? EPOLLOUT : 0;

	if (p->in.fd >= 0 && p->in.fd == p->out.fd) {
		gfd_set(p, &p->in, in | out);
		return;
	}
	gfd_set(p, &p->in, in);
	gfd_set(p, &p->out, out);
}

/* ---- control messages to the device ---- */

static void ctrl_sent(struct va_guest *g, uint32_t id, int result,
		      void *opaque)
{
}

static int ctrl_send(struct gcons *gc, uint32_t id, uint16_t event,
		     uint16_t value)
{
	uint8_t *buf = gc->ctrl_out[gc->ctrl_out_next++ %
				    (sizeof(gc->ctrl_out) / sizeof(gc->ctrl_out[0]))];
	struct cons_ctrl m = { id, event, value };
	struct iovec out = { .iov_base = buf, .iov_len = CONS_CTRL_HDR };
	int64_t r;

	cons_ctrl_build(buf, CONS_CTRL_HDR, &m, NULL, 0);
	r = va_guest_submit(gc->g, CTRL_TXQ, &out, 1, NULL, 0, ctrl_sent, gc);
	return r < 0 ? (int)r : 0;
}

/* ---- receive: device to our output ---- */

static void rx_done(struct va_guest *g, uint32_t id, int result, void *opaque);

static int buf_post(struct gbuf *b, uint16_t queue)
{
	struct iovec in = { .iov_base = b->data, .iov_len = b->size };
	int64_t r;

	r = va_guest_submit(b->gc->g, queue, NULL, 0, &in, 1, rx_done, b);
	return r < 0 ? (int)r : 0;
}

static void port_pump(struct gport *p);
static void client_gone(struct gport *p);

/* Filled buffers of p into its output, in order; each one written out
 * is posted again. */
static void out_flush(struct gport *p)
{
	while (p->out_count) {
		struct gbuf *b = p->outq[p->out_head];
		ssize_t n;

		if (p->out.fd < 0) {
			p->dropped += b->len - p->out_off;
			n = (ssize_t)(b->len - p->out_off);
		} else {
			n = write(p->out.fd, b->data + p->out_off,
				  b->len - p->out_off);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				p->want_out = true;
				port_watch(p);
				return;
			}
			if (n < 0) {
				if (!p->is_console) {
					client_gone(p);
					continue;
				}
				p->dropped += b->len - p->out_off;
				n = (ssize_t)(b->len - p->out_off);
			}
		}
		p->out_off += (uint32_t)n;
		if (p->out_off < b->len)
			continue;
		p->out_off = 0;
		p->out_head = (p->out_head + 1u) % GC_RX_BUFS;
		p->out_count--;
		if (buf_post(b, rxq(p->id)) < 0)
			gc_fatal(p->gc, -EIO, "posting a receive buffer");
	}
	p->want_out = false;
	port_watch(p);
}

static void handle_ctrl(struct gcons *gc, const uint8_t *buf, uint32_t len);

static void rx_done(struct va_guest *g, uint32_t id, int result, void *opaque)
{
	struct gbuf *b = opaque;
	struct gcons *gc = b->gc;

	if (gc->stopping)
		return;
	if (result < 0) {
		gc_fatal(gc, result, "receive buffer failed");
		return;
	}
	if (!b->p) {
		handle_ctrl(gc, b->data, (uint32_t)result);
		if (buf_post(b, CTRL_RXQ) < 0)
			gc_fatal(gc, -EIO, "posting a control buffer");
		return;
	}
	b->len = (uint32_t)result;
	b->p->rx_bytes += b->len;
	b->p->outq[(b->p->out_head + b->p->out_count) % GC_RX_BUFS] = b;
	b->p->out_count++;
	out_flush(b->p);
}

/* ---- transmit: our input to the device ---- */

static void tx_done(struct va_guest *g, uint32_t id, int result, void *opaque)
{
	struct gport *p = opaque;

	if (p->gc->stopping)
		return;
	if (result < 0 && va_guest_broken(g)) {
		gc_fatal(p->gc, result, "transmit failed");
		return;
	}
	port_pump(p);
}

/* Reads p's input while its transmit queue has room. */
static void port_pump(struct gport *p)
{
	struct gcons *gc = p->gc;
	uint8_t buf[GC_BUF];

	if (p->in.fd < 0 || p->in_eof || gc->stopping)
		return;
	/* A named port's input waits for the host side. */
	while (p->is_console || p->host_open) {
		struct iovec out = { .iov_base = buf };
		ssize_t n;

		if (va_guest_inflight(gc->g, txq(p->id)) >=
		    va_guest_queue_size(gc->g, txq(p->id)))
			break;
		n = read(p->in.fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			p->want_in = true;
			port_watch(p);
			return;
		}
		if (n <= 0) {
			if (p->is_console) {
				p->in_eof = true;
				p->want_in = false;
				port_watch(p);
				fprintf(stderr, "%s: console: end of input\n",
					gc->ctx->prog);
			} else {
				client_gone(p);
			}
			return;
		}
		out.iov_len = (size_t)n;
		if (va_guest_submit(gc->g, txq(p->id), &out, 1, NULL, 0,
				    tx_done, p) < 0) {
			gc_fatal(gc, -EIO, "submitting output");
			return;
		}
		p->tx_bytes += (uint64_t)n;
	}
	/* Full (or the host closed): tx_done or PORT_OPEN resumes. */
	p->want_in = false;
	port_watch(p);
}

static void on_port_fd(struct va_loop *loop, int fd, uint32_t events,
		       void *opaque)
{
	struct gport *p = opaque;

	if (fd == p->out.fd && (events & (EPOLLOUT | EPOLLERR)))
		out_flush(p);
	if (fd == p->in.fd && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		port_pump(p);
}

/* ---- named ports' sockets ---- */

static void client_gone(struct gport *p)
{
	if (p->in.fd < 0)
		return;
	gfd_set(p, &p->in, 0);
	close(p->in.fd);
	p->in.fd = p->out.fd = -1;
	p->in.events = p->out.events = 0;
	p->want_in = p->want_out = false;
	p->guest_open = false;
	fprintf(stderr, "%s: console: port %u: client left\n",
		p->gc->ctx->prog, p->id);
	ctrl_send(p->gc, p->id, VIRTIO_CONSOLE_PORT_OPEN, 0);
	out_flush(p);	/* what waits is dropped, its buffers posted */
}

static void on_accept(struct va_loop *loop, int fd, uint32_t events,
		      void *opaque)
{
	struct gport *p = opaque;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (cfd < 0)
		return;
	if (p->in.fd >= 0) {
		close(cfd);
		return;
	}
	p->in.fd = p->out.fd = cfd;
	p->in.events = p->out.events = 0;
	p->want_in = p->want_out = false;
	p->guest_open = true;
	fprintf(stderr, "%s: console: port %u: client connected\n",
		p->gc->ctx->prog, p->id);
	ctrl_send(p->gc, p->id, VIRTIO_CONSOLE_PORT_OPEN, 1);
	port_pump(p);
	out_flush(p);
}

static int port_listen(struct gport *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (p->listen_fd >= 0 || strlen(p->path) >= sizeof(sa.sun_path))
		return p->listen_fd >= 0 ? 0 : -ENAMETOOLONG;
	memcpy(sa.sun_path, p->path, strlen(p->path));
	if (lstat(p->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(p->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	p->listen_fd = fd;
	return va_loop_add_fd(p->gc->loop, fd, EPOLLIN, on_accept, p);
}

/* ---- ports ---- */

static int port_add(struct gcons *gc, unsigned int id)
{
	struct gport *p = &gc->ports[id];
	unsigned int i;
	int r;

	if (p->added)
		return 0;
	p->added = true;
	p->rx_count = va_guest_queue_size(gc->g, rxq(id));
	if (p->rx_count > GC_RX_BUFS)
		p->rx_count = GC_RX_BUFS;
	for (i = 0; i < p->rx_count; i++) {
		struct gbuf *b = &p->rx[i];

		b->p = p;
		b->gc = gc;
		b->size = GC_BUF;
		if (!b->data && !(b->data = malloc(GC_BUF)))
			return -ENOMEM;
		r = buf_post(b, rxq(id));
		if (r < 0)
			return r;
	}
	fprintf(stderr, "%s: console: port %u: added\n", gc->ctx->prog, id);
	return 0;
}

/* The console port: stdin and stdout. */
static void port_console(struct gcons *gc, unsigned int id)
{
	struct gport *p = &gc->ports[id];

	if (p->is_console)
		return;
	p->is_console = true;
	p->in.fd = STDIN_FILENO;
	p->out.fd = STDOUT_FILENO;
	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
	fcntl(STDOUT_FILENO, F_SETFL,
	      fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
	fprintf(stderr, "%s: console: port %u: console\n", gc->ctx->prog, id);
	port_pump(p);
}

static void show_size(struct gcons *gc, uint16_t rows, uint16_t cols)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };

	gc->rows = rows;
	gc->cols = cols;
	gc->resizes++;
	fprintf(stderr, "%s: console: size %ux%u\n", gc->ctx->prog, rows,
		cols);
	if (isatty(STDOUT_FILENO))
		ioctl(STDOUT_FILENO, TIOCSWINSZ, &ws);
}

static void handle_ctrl(struct gcons *gc, const uint8_t *buf, uint32_t len)
{
	struct cons_ctrl m;
	struct gport *p;
	uint16_t rows, cols;
	size_t n;
	unsigned int i;

	gc->ctrl_in++;
	if (cons_ctrl_parse(buf, len, &m) < 0 || m.id >= gc->max_ports ||
	    m.id >= GC_MAX_PORTS) {
		gc->ctrl_bad++;
		return;
	}
	p = &gc->ports[m.id];
	if (!p->added && m.event != VIRTIO_CONSOLE_PORT_ADD) {
		gc->ctrl_bad++;
		return;
	}
	switch (m.event) {
	case VIRTIO_CONSOLE_PORT_ADD:
		if (port_add(gc, m.id) < 0) {
			ctrl_send(gc, m.id, VIRTIO_CONSOLE_PORT_READY, 0);
			return;
		}
		ctrl_send(gc, m.id, VIRTIO_CONSOLE_PORT_READY, 1);
		return;
	case VIRTIO_CONSOLE_PORT_REMOVE:
		fprintf(stderr, "%s: console: port %u: removed\n",
			gc->ctx->prog, m.id);
		return;
	case VIRTIO_CONSOLE_CONSOLE_PORT:
		/* Again for the console (a restarted device): nothing, as
		 * Linux's virtio_console. */
		if (!m.value || p->is_console)
			return;
		port_console(gc, m.id);
		p->guest_open = true;
		ctrl_send(gc, m.id, VIRTIO_CONSOLE_PORT_OPEN, 1);
		return;
	case VIRTIO_CONSOLE_RESIZE:
		if (cons_ctrl_resize_parse(buf, len, &rows, &cols) < 0) {
			gc->ctrl_bad++;
			return;
		}
		show_size(gc, rows, cols);
		return;
	case VIRTIO_CONSOLE_PORT_OPEN:
		p->host_open = m.value != 0;
		fprintf(stderr, "%s: console: port %u: host open %u\n",
			gc->ctx->prog, m.id, p->host_open);
		if (p->host_open)
			port_pump(p);
		return;
	case VIRTIO_CONSOLE_PORT_NAME:
		if (p->name[0])		/* named already: as Linux, ignored */
			return;
		n = len - CONS_CTRL_HDR;
		if (n > CONS_NAME_MAX)
			n = CONS_NAME_MAX;
		memcpy(p->name, buf + CONS_CTRL_HDR, n);
		p->name[n] = 0;
		fprintf(stderr, "%s: console: port %u: name %s\n",
			gc->ctx->prog, m.id, p->name);
		for (i = 0; i < gc->nr_popts; i++)
			if (!strcmp(gc->popts[i].name, p->name)) {
				p->path = gc->popts[i].path;
				if (port_listen(p) < 0)
					gc_fatal(gc, -errno, p->path);
			}
		return;
	default:
		gc->ctrl_bad++;
		return;
	}
}

/* ---- set-up, restarts, counters ---- */

static int start_multiport(struct gcons *gc)
{
	unsigned int i;
	int r;

	for (i = 0; i < gc->nr_hooks; i++) {
		r = ctrl_send(gc, gc->hooks[i].id, gc->hooks[i].event,
			      gc->hooks[i].value);
		if (r < 0)
			return r;
	}
	return ctrl_send(gc, VIRTIO_CONSOLE_BAD_ID,
			 VIRTIO_CONSOLE_DEVICE_READY, 1);
}

/* --emerg-write: each byte of gc->emerg through emerg_wr. */
static void emerg_write(struct gcons *gc)
{
	const uint32_t at = offsetof(struct virtio_console_config, emerg_wr);
	uint8_t le[4], cur[4];
	uint32_t gen;
	size_t i;
	int r = 0, tries;

	for (i = 0; gc->emerg[i]; i++) {
		va_put_le32(le, (uint8_t)gc->emerg[i]);
		/* -ESTALE: the config changed between the read of its
		 * generation and the write (a resize): again. */
		for (tries = 0; tries < 3; tries++) {
			r = va_guest_get_config(gc->g, at, cur, sizeof(cur),
						&gen);
			if (r == 0)
				r = va_guest_set_config(gc->g, gen, at, le,
							sizeof(le));
			if (r != -ESTALE)
				break;
		}
		if (r < 0)
			break;
	}
	if (r < 0)
		fprintf(stderr, "%s: console: emerg_wr refused after %zu "
			"bytes: %s\n", gc->ctx->prog, i, strerror(-r));
	else
		fprintf(stderr, "%s: console: emerg_wr: %zu bytes written\n",
			gc->ctx->prog, i);
}

static int read_size(struct gcons *gc)
{
	uint8_t cfg[sizeof(struct virtio_console_config)] = { 0 };
	uint32_t len = va_guest_devinfo(gc->g)->config_size, gen;
	int r;

	if (len > sizeof(cfg))
		len = sizeof(cfg);
	r = va_guest_get_config(gc->g, 0, cfg, len, &gen);
	if (r < 0)
		return r;
	gc->max_ports = gc->multiport ?
		va_get_le32(cfg + offsetof(struct virtio_console_config,
					   max_nr_ports)) : 1;
	if (!gc->multiport && (gc->features & F(VIRTIO_CONSOLE_F_SIZE))) {
		uint16_t cols = va_get_le16(cfg + offsetof(struct virtio_console_config, cols));
		uint16_t rows = va_get_le16(cfg + offsetof(struct virtio_console_config, rows));

		if (rows != gc->rows || cols != gc->cols)
			show_size(gc, rows, cols);
	}
	return 0;
}

static void config_work(struct va_loop *loop, void *opaque)
{
	struct gcons *gc = opaque;
	uint32_t s = va_guest_device_session(gc->g);

	if (gc->stopping)
		return;
	if (s != gc->session) {
		gc->session = s;
		gc->restarts++;
		fprintf(stderr, "%s: console: the device restarted\n",
			gc->ctx->prog);
	}
	if (!gc->multiport && read_size(gc) < 0)
		fprintf(stderr, "%s: console: reading the config failed\n",
			gc->ctx->prog);
}

static void on_config(struct va_guest *g, void *opaque)
{
	struct gcons *gc = opaque;

	va_loop_defer(gc->loop, config_work, gc);
}

static void print_counters(const struct gcons *gc)
{
	struct va_guest_stats st;
	unsigned int i;

	for (i = 0; i < GC_MAX_PORTS; i++) {
		const struct gport *p = &gc->ports[i];

		if (!p->added)
			continue;
		/* out_held: filled receive buffers waiting for our output */
		fprintf(stderr, "%s: console: port %u (%s): rx_bytes %" PRIu64
			" tx_bytes %" PRIu64 " dropped %" PRIu64 " out_held %u"
			" tx_inflight %u\n", gc->ctx->prog, i, pname(p),
			p->rx_bytes, p->tx_bytes, p->dropped, p->out_count,
			va_guest_inflight(gc->g, txq(i)));
	}
	va_guest_get_stats(gc->g, &st);
	fprintf(stderr, "%s: console: total: ctrl_in %" PRIu64 " ctrl_bad %"
		PRIu64 " resizes %" PRIu64 " restarts %" PRIu64
		" violations %" PRIu64 "\n", gc->ctx->prog, gc->ctrl_in,
		gc->ctrl_bad, gc->resizes, gc->restarts, st.violations);
}

static void on_signal(struct va_loop *loop, int signo, void *opaque)
{
	struct gcons *gc = opaque;

	if (signo == SIGUSR1) {
		print_counters(gc);
		return;
	}
	gc->stopping = true;
	va_loop_quit(loop, 0);
}

static int gc_setup(struct gcons *gc)
{
	struct va_guest_opts go = gc->ctx->gopts;
	unsigned int i;
	int r;

	go.expect_device_id = VIRTIO_ID_CONSOLE;
	go.features_mask = F(VIRTIO_CONSOLE_F_SIZE) |
			   F(VIRTIO_CONSOLE_F_MULTIPORT);
	if (!gc->no_emerg)
		go.features_mask |= F(VIRTIO_CONSOLE_F_EMERG_WRITE);
	r = va_guest_open(&go, &gc->g);
	if (r < 0) {
		guest_fail(gc->ctx, r, "no virtio-console device");
		return r;
	}
	gc->features = va_guest_features(gc->g);
	gc->multiport = gc->features & F(VIRTIO_CONSOLE_F_MULTIPORT);
	gc->session = va_guest_device_session(gc->g);
	if (gc->emerg)
		emerg_write(gc);
	r = va_loop_new(&gc->loop);
	if (r < 0)
		return r;
	r = read_size(gc);
	if (r < 0)
		return r;
	if (gc->max_ports > GC_MAX_PORTS ||
	    (gc->multiport && (gc->max_ports < 1 ||
	     2u + 2u * gc->max_ports > va_guest_num_queues(gc->g)))) {
		fprintf(stderr, "%s: console: bad max_nr_ports %u\n",
			gc->ctx->prog, gc->max_ports);
		return -EPROTO;
	}
	for (i = 0; i < GC_MAX_PORTS; i++) {
		gc->ports[i].gc = gc;
		gc->ports[i].id = i;
		gc->ports[i].listen_fd = -1;
		gc->ports[i].in.fd = gc->ports[i].out.fd = -1;
	}
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &gc->tty_saved) == 0) {
		struct termios t = gc->tty_saved;

		cfmakeraw(&t);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
			gc->tty_raw = true;
	}
	if (gc->multiport) {
		for (i = 0; i < GC_CTRL_BUFS; i++) {
			struct gbuf *b = &gc->ctrl[i];

			b->gc = gc;
			b->size = GC_CTRL_BUF;
			b->data = malloc(GC_CTRL_BUF);
			if (!b->data)
				return -ENOMEM;
			r = buf_post(b, CTRL_RXQ);
			if (r < 0)
				return r;
		}
		r = start_multiport(gc);
	} else {
		r = port_add(gc, 0);
		if (r == 0)
			port_console(gc, 0);
	}
	if (r < 0)
		return r;
	va_guest_set_config_cb(gc->g, on_config, gc);
	if ((r = va_loop_add_signal(gc->loop, SIGTERM, on_signal, gc)) < 0 ||
	    (r = va_loop_add_signal(gc->loop, SIGINT, on_signal, gc)) < 0 ||
	    (r = va_loop_add_signal(gc->loop, SIGUSR1, on_signal, gc)) < 0)
		return r;
	r = va_guest_attach_loop(gc->g, gc->loop);
	if (r == 0)
		r = va_guest_flush(gc->g);
	return r;
}

static void gc_free(struct gcons *gc)
{
	unsigned int i, j;

	if (gc->tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &gc->tty_saved);
	if (gc->g)
		print_counters(gc);
	va_guest_free(gc->g);
	for (i = 0; i < GC_MAX_PORTS; i++) {
		struct gport *p = &gc->ports[i];

		if (!p->is_console && p->in.fd >= 0)
			close(p->in.fd);
		if (p->listen_fd >= 0) {
			close(p->listen_fd);
			unlink(p->path);
		}
		for (j = 0; j < GC_RX_BUFS; j++)
			free(p->rx[j].data);
	}
	for (i = 0; i < GC_CTRL_BUFS; i++)
		free(gc->ctrl[i].data);
	va_loop_free(gc->loop);
}

/* ---- options ---- */

static const char console_usage[] =
"Usage: virtio-argo-guest [OPTIONS] console [options]\n"
"Drive a virtio-console device: its console on stdin/stdout (raw mode on a\n"
"terminal) until SIGTERM or SIGINT.  SIGUSR1 prints the counters (also\n"
"printed at exit).\n"
"\n"
"  --port NAME=PATH      the named port NAME as a listening Unix socket at\n"
"                        PATH (one client at a time; PORT_OPEN follows it)\n"
"  --send-ctrl E,ID,V    test hook: send control message event E, port ID,\n"
"                        value V before DEVICE_READY (repeatable)\n"
"  --emerg-write TEXT    write TEXT byte by byte into the config's emerg_wr\n"
"                        (EMERG_WRITE) before the queues are used\n"
"  --no-emerg-write      do not accept EMERG_WRITE (test hook: with\n"
"                        --emerg-write, the device must refuse the writes)\n"
"  --help\n";

enum { OPT_PORT = 1, OPT_SEND_CTRL, OPT_EMERG, OPT_NO_EMERG, OPT_HELP };

static const struct option console_opts[] = {
	{ "port", required_argument, NULL, OPT_PORT },
	{ "send-ctrl", required_argument, NULL, OPT_SEND_CTRL },
	{ "emerg-write", required_argument, NULL, OPT_EMERG },
	{ "no-emerg-write", no_argument, NULL, OPT_NO_EMERG },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* 0: run; 1: --help printed; -1: bad usage (said why). */
static int console_parse(struct gcons *gc, int argc, char **argv)
{
	unsigned int e, id, v;
	char *eq, end;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", console_opts, NULL)) != -1) {
		switch (c) {
		case OPT_PORT:
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1] ||
			    (size_t)(eq - optarg) > CONS_NAME_MAX ||
			    gc->nr_popts == GC_MAX_PORTS)
				goto bad;
			*eq = 0;
			gc->popts[gc->nr_popts++] = (struct gport_opt){
				optarg, eq + 1 };
			break;
		case OPT_SEND_CTRL:
			if (gc->nr_hooks == GC_MAX_HOOKS ||
			    sscanf(optarg, "%u,%u,%u%c", &e, &id, &v, &end) != 3 ||
			    e > 0xffff || v > 0xffff)
				goto bad;
			gc->hooks[gc->nr_hooks++] = (struct cons_ctrl){
				id, (uint16_t)e, (uint16_t)v };
			break;
		case OPT_EMERG:
			gc->emerg = optarg;
			break;
		case OPT_NO_EMERG:
			gc->no_emerg = true;
			break;
		case OPT_HELP:
			fputs(console_usage, stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "virtio-argo-guest: console: unexpected '%s'\n",
			argv[optind]);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "virtio-argo-guest: console: bad value '%s' for --%s\n",
		optarg, console_opts[c - 1].name);
	return -1;
}

int guest_mode_console(struct guest_ctx *ctx, int argc, char **argv)
{
	static struct gcons gc;
	int r;

	gc.ctx = ctx;
	switch (console_parse(&gc, argc, argv)) {
	case 0:
		break;
	case 1:
		return 0;
	default:
		fputs("Try 'virtio-argo-guest console --help'.\n", stderr);
		return 2;
	}
	r = gc_setup(&gc);
	if (r == 0) {
		fprintf(stderr, "%s: console: ready: features %#" PRIx64
			" ports %u multiport %u\n", ctx->prog, gc.features,
			gc.max_ports, gc.multiport);
		va_loop_run(gc.loop);
		r = gc.rc ? -EIO : 0;
	} else if (gc.g) {
		fprintf(stderr, "%s: console: set-up failed: %s\n", ctx->prog,
			strerror(-r));
	}
	gc.stopping = true;
	gc_free(&gc);
	return r < 0 ? 1 : 0;
}
