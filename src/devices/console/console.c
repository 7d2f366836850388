/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-consoled's device: queues, ports, control messages and the
 * config space (see console.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>

#include "console.h"
#include "console-ctrl.h"
#include "log.h"
#include "util.h"

#define F(bit)		(1ull << (bit))
#define CTRL_RXQ	2u
#define CTRL_TXQ	3u

static uint16_t rxq(unsigned int port)
{
	return port ? (uint16_t)(2u + 2u * port) : 0u;
}

static uint16_t txq(unsigned int port)
{
	return (uint16_t)(rxq(port) + 1u);
}

/* The port whose data queue q is, or NULL (a control queue). */
static struct cons_port *queue_port(struct cons *c, uint16_t q)
{
	unsigned int id;

	if (q < 2u)
		id = 0;
	else if (q < 4u)
		return NULL;
	else
		id = (q - 2u) / 2u;
	return id < c->nr_ports ? &c->ports[id] : NULL;
}

/* Whether port p's queues are in use: port 0 always, the others with
 * MULTIPORT. */
static bool port_live(const struct cons_port *p)
{
	return p->id == 0 || p->c->multiport;
}

/* ---- control messages to the driver ---- */

static void ctrl_flush(struct cons *c);

static void ctrl_queue(struct cons *c, uint32_t id, uint16_t event,
		       uint16_t value)
{
	unsigned int i;

	if (!c->multiport)
		return;
	for (i = 0; i < c->nr_pending; i++)
		if (c->pending[i].id == id && c->pending[i].event == event) {
			c->pending[i].value = value;
			return;
		}
	if (c->nr_pending == sizeof(c->pending) / sizeof(c->pending[0])) {
		c->ctrl_dropped++;
		return;
	}
	c->pending[c->nr_pending++] = (struct cons_pending){ id, event, value };
	ctrl_flush(c);
}

/* Pending messages into the driver's control receive buffers. */
static void ctrl_flush(struct cons *c)
{
	while (c->nr_pending) {
		const struct cons_pending *m = &c->pending[0];
		struct cons_ctrl h = { m->id, m->event, m->value };
		const struct cons_port *p = &c->ports[m->id];
		uint8_t body[4];
		const void *extra = NULL;
		size_t extra_len = 0, n;
		struct va_req *req;

		req = va_dev_pop(c->dev, CTRL_RXQ);
		if (!req)
			return;
		if (m->event == VIRTIO_CONSOLE_PORT_NAME) {
			extra = p->o->name;
			extra_len = strlen(p->o->name);
		} else if (m->event == VIRTIO_CONSOLE_RESIZE) {
			cons_ctrl_resize_body(body, p->rows, p->cols);
			extra = body;
			extra_len = sizeof(body);
		}
		n = cons_ctrl_build(req->in, req->in_len, &h, extra, extra_len);
		if (!n) {
			/* A buffer too small for the message: it is lost. */
			va_warn("control receive buffer of %u bytes too small "
				"for %s", req->in_len,
				cons_ctrl_event_name(m->event));
			c->ctrl_dropped++;
		} else {
			c->ctrl_out++;
		}
		va_req_complete(req, (uint32_t)n);
		c->nr_pending--;
		memmove(&c->pending[0], &c->pending[1],
			c->nr_pending * sizeof(c->pending[0]));
	}
}

/* ---- control messages from the driver ---- */

static uint64_t added_mask(const struct cons *c)
{
	uint64_t m = 0;
	unsigned int i;

	for (i = 0; i < c->nr_ports; i++)
		if (c->ports[i].added)
			m |= 1ull << i;
	return m;
}

static void port_ready(struct cons_port *p)
{
	struct cons *c = p->c;

	p->ready = true;
	if (p->id == 0) {
		ctrl_queue(c, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
		if (p->rows || p->cols)
			ctrl_queue(c, 0, VIRTIO_CONSOLE_RESIZE, 0);
	}
	if (p->o->name)
		ctrl_queue(c, p->id, VIRTIO_CONSOLE_PORT_NAME, 1);
	ctrl_queue(c, p->id, VIRTIO_CONSOLE_PORT_OPEN, p->host_open);
}

/* ---- the driver session's state (device.h, va_dev_state_save) ---- */

#define CONS_STATE_VERSION	1u

/* What the driver told us through the control queue (host byte order:
 * the state file stays on this host). */
struct cons_state {
	uint32_t version;
	uint32_t nr_ports;
	uint32_t device_ready;		/* DEVICE_READY 1: the ports added */
	uint32_t ready;			/* bit N: PORT_READY 1 for port N */
	uint32_t guest_open;		/* bit N: the guest's PORT_OPEN */
};

static void cons_save_state(struct cons *c)
{
	struct cons_state s = {
		.version = CONS_STATE_VERSION,
		.nr_ports = c->nr_ports,
	};
	unsigned int i;

	for (i = 0; i < c->nr_ports; i++) {
		s.device_ready |= c->ports[i].added;
		s.ready |= (uint32_t)c->ports[i].ready << i;
		s.guest_open |= (uint32_t)c->ports[i].guest_open << i;
	}
	va_dev_state_save(c->dev, &s, sizeof(s));
}

/*
 * After the renegotiation of a restarted consoled (or a reset in the
 * session): the ports as the driver set them up, and what the driver
 * must hear about this process's host side.  Linux's virtio_console takes
 * again what it has (CONSOLE_PORT and PORT_NAME of a port it knows are
 * ignored, PORT_ADD of a known port is answered PORT_READY) and takes
 * RESIZE and PORT_OPEN as news, so every ready port gets port_ready()'s
 * messages again and a port added but not ready its PORT_ADD.
 */
static int cons_restore_state(void *opaque, const void *state, uint32_t len)
{
	struct cons *c = opaque;
	uint32_t mask = (1u << c->nr_ports) - 1u;
	struct cons_state s;
	unsigned int i;

	if (len != sizeof(s)) {
		va_warn("saved state refused: %u bytes, not %zu", len,
			sizeof(s));
		return -EINVAL;
	}
	memcpy(&s, state, sizeof(s));
	if (s.version != CONS_STATE_VERSION || s.nr_ports != c->nr_ports ||
	    s.device_ready > 1 || (s.ready & ~mask) || (s.guest_open & ~mask) ||
	    (!s.device_ready && (s.ready | s.guest_open)) || !c->multiport) {
		va_warn("saved state refused: version %u, %u ports (have %u), "
			"ready %#x open %#x, multiport %d", s.version,
			s.nr_ports, c->nr_ports, s.ready, s.guest_open,
			c->multiport);
		return -EINVAL;
	}
	if (!s.device_ready)
		return 0;
	for (i = 0; i < c->nr_ports; i++) {
		struct cons_port *p = &c->ports[i];

		p->added = true;
		p->guest_open = s.guest_open & (1u << i);
		if (s.ready & (1u << i))
			port_ready(p);
		else
			ctrl_queue(c, i, VIRTIO_CONSOLE_PORT_ADD, 1);
		cons_port_watch(p);
	}
	va_notice("restored: %u port(s), ready %#x, open in the guest %#x",
		  c->nr_ports, s.ready, s.guest_open);
	return 0;
}

static void ctrl_request(struct cons *c, const struct va_req *req)
{
	struct cons_ctrl m;
	const char *why;
	unsigned int i;

	c->ctrl_in++;
	if (cons_ctrl_check(req->out, req->out_len, c->nr_ports, added_mask(c),
			    &m, &why) < 0) {
		c->ctrl_refused++;
		if (cons_ctrl_parse(req->out, req->out_len, &m) < 0)
			va_warn("control message refused: %s (%u bytes)", why,
				req->out_len);
		else
			va_warn("control message refused: %s: event %u (%s) "
				"port %" PRIu32 " value %u", why, m.event,
				cons_ctrl_event_name(m.event), m.id, m.value);
		return;
	}
	switch (m.event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (!m.value) {
			va_warn("the driver failed to set up the device");
			return;
		}
		va_info("driver ready: adding %u port(s)", c->nr_ports);
		for (i = 0; i < c->nr_ports; i++) {
			c->ports[i].added = true;
			ctrl_queue(c, i, VIRTIO_CONSOLE_PORT_ADD, 1);
		}
		cons_save_state(c);
		return;
	case VIRTIO_CONSOLE_PORT_READY:
		if (!m.value) {
			va_warn("port %" PRIu32 ": the driver failed to add it",
				m.id);
			return;
		}
		port_ready(&c->ports[m.id]);
		cons_save_state(c);
		return;
	case VIRTIO_CONSOLE_PORT_OPEN:
		c->ports[m.id].guest_open = m.value != 0;
		va_info("port %" PRIu32 ": guest %s", m.id,
			m.value ? "open" : "closed");
		cons_port_watch(&c->ports[m.id]);
		cons_save_state(c);
		return;
	}
}

/* ---- data ---- */

/* Transmit requests of p into its host side, as far as it takes them. */
static void port_write(struct cons_port *p)
{
	struct cons *c = p->c;

	while (p->tx_count) {
		struct va_req *req = p->tx[p->tx_head];
		uint32_t left = req->out_len - p->tx_off;
		ssize_t n;

		if (!p->host_open) {
			p->discarded += left;
			n = (ssize_t)left;
		} else if (left) {
			n = write(p->out.fd, req->out + p->tx_off, left);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				cons_host_write_failed(p, -errno);
				continue;
			}
			p->tx_bytes += (uint64_t)n;
		} else {
			n = 0;
		}
		if (p->id == 0)
			cons_log_write(c, req->out + p->tx_off, (size_t)n);
		p->tx_off += (uint32_t)n;
		if (p->tx_off < req->out_len)
			continue;
		p->tx_off = 0;
		p->tx_head = (p->tx_head + 1u) % p->tx_cap;
		p->tx_count--;
		va_req_complete(req, 0);
	}
	cons_port_watch(p);
}

/*
 * Whether p's host side is to be read.  With MULTIPORT only while the
 * guest has the port open: a driver drops what arrives on a port nobody
 * holds open (Linux's virtio_console discards it), so the bytes wait in
 * the host side until a guest program opens the port.
 */
static bool port_wants_input(const struct cons_port *p)
{
	return p->host_open && !p->in_eof &&
	       (!p->c->multiport || p->guest_open);
}

/* Host input into the buffers the guest posted on p's receive queue. */
static void port_read(struct cons_port *p)
{
	struct cons *c = p->c;
	bool resized = false;
	unsigned int i;

	for (i = 0; i < CONS_READ_BATCH && port_wants_input(p); i++) {
		struct va_req *req = p->rx_spare;
		ssize_t n;

		p->rx_spare = NULL;
		if (!req)
			req = va_dev_pop(c->dev, rxq(p->id));
		if (!req)
			break;
		if (!req->in_len) {
			c->bad_requests++;
			va_req_complete(req, 0);
			continue;
		}
		n = read(p->in.fd, req->in, req->in_len);
		if (n > 0) {
			p->rx_bytes += (uint64_t)n;
			va_req_complete(req, (uint32_t)n);
			resized |= p->id == 0 && p->o->kind == CONS_PTY;
			continue;
		}
		p->rx_spare = req;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0 && p->o->kind == CONS_PTY && errno == EIO)
			break;	/* no slave open: cannot happen, ours is */
		cons_host_hangup(p);
		break;
	}
	/*
	 * A program on the console's pty that sets its window (TIOCSWINSZ)
	 * signals only its own session, never us: the size is looked at
	 * again whenever the pty brought input (a resized program redraws),
	 * as well as on SIGWINCH.
	 */
	if (resized)
		cons_winch(c);
	cons_port_watch(p);
}

void cons_port_watch(struct cons_port *p)
{
	struct cons *c = p->c;
	bool live = c->dev && (va_dev_status(c->dev) & VA_STATUS_DRIVER_OK) &&
		    port_live(p);
	bool want_in = live && port_wants_input(p) &&
		       (p->rx_spare || va_dev_held(c->dev, rxq(p->id)));
	bool want_out = p->host_open && p->tx_count;
	uint32_t hup = p->o->kind == CONS_SOCKET ? EPOLLRDHUP : 0;

	if (p->in.fd < 0)
		return;
	if (p->in.fd == p->out.fd) {
		cons_fdw_set(p, &p->in, (want_in ? EPOLLIN : 0) |
			     (want_out ? EPOLLOUT : 0) | hup);
		return;
	}
	cons_fdw_set(p, &p->in, want_in ? EPOLLIN : 0);
	if (p->out.fd >= 0)
		cons_fdw_set(p, &p->out, want_out ? EPOLLOUT : 0);
}

void cons_port_host_changed(struct cons_port *p)
{
	if (p->ready)
		ctrl_queue(p->c, p->id, VIRTIO_CONSOLE_PORT_OPEN, p->host_open);
	port_write(p);	/* without a client, what waits is dropped */
}

/* The fd callback of a port's host side. */
void cons_port_event(struct cons_port *p, int fd, uint32_t events);
void cons_port_event(struct cons_port *p, int fd, uint32_t events)
{
	if (fd == p->out.fd && (events & (EPOLLOUT | EPOLLERR)))
		port_write(p);
	if (fd == p->in.fd && p->in.fd >= 0 &&
	    (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		port_read(p);
	if (fd == p->in.fd && p->in.fd >= 0 && (events & EPOLLRDHUP) &&
	    p->o->kind == CONS_SOCKET)
		cons_host_hangup(p);
}

/* ---- the device's callbacks ---- */

static void cons_request(void *opaque, struct va_req *req)
{
	struct cons *c = opaque;
	struct cons_port *p;

	if (req->queue == CTRL_TXQ) {
		if (c->multiport)
			ctrl_request(c, req);
		else
			c->bad_requests++;
		va_req_complete(req, 0);
		return;
	}
	p = queue_port(c, req->queue);
	/* Receive queues are held: only transmit queues get here. */
	if (!p || !port_live(p) || req->queue != txq(p->id) ||
	    p->tx_count == p->tx_cap) {
		c->bad_requests++;
		va_req_complete(req, 0);
		return;
	}
	p->tx[(p->tx_head + p->tx_count) % p->tx_cap] = req;
	p->tx_count++;
	if (p->tx_count == 1)
		port_write(p);
}

static void cons_queue_ready(void *opaque, uint16_t queue)
{
	struct cons *c = opaque;
	struct cons_port *p;

	if (queue == CTRL_RXQ) {
		ctrl_flush(c);
		return;
	}
	p = queue_port(c, queue);
	if (p)
		cons_port_watch(p);
}

static int cons_set_features(void *opaque, uint64_t features)
{
	struct cons *c = opaque;

	c->features = features;
	c->multiport = features & F(VIRTIO_CONSOLE_F_MULTIPORT);
	return 0;
}

static void cons_config(void *opaque, uint8_t *cfg)
{
	struct cons *c = opaque;

	va_put_le16(cfg + offsetof(struct virtio_console_config, cols),
		    c->ports[0].cols);
	va_put_le16(cfg + offsetof(struct virtio_console_config, rows),
		    c->ports[0].rows);
	va_put_le32(cfg + offsetof(struct virtio_console_config, max_nr_ports),
		    c->nr_ports);
}

/* EMERG_WRITE: a write of emerg_wr is one character for the console. */
static int cons_write_config(void *opaque, const uint8_t *cfg, uint32_t off,
			     uint32_t size)
{
	struct cons *c = opaque;
	struct cons_port *p = &c->ports[0];
	uint32_t at = offsetof(struct virtio_console_config, emerg_wr);
	uint8_t ch;

	if (!(c->features & F(VIRTIO_CONSOLE_F_EMERG_WRITE)) || off != at ||
	    size != sizeof(uint32_t))
		return -EPERM;
	ch = (uint8_t)va_get_le32(cfg + at);
	c->emerg++;
	/* Not flow-controlled (the driver cannot wait): best effort. */
	if (p->host_open && p->tx_count == 0 && write(p->out.fd, &ch, 1) == 1)
		p->tx_bytes++;
	else
		p->discarded++;
	cons_log_write(c, &ch, 1);
	return 0;
}

static void cons_driver_ok(void *opaque)
{
	struct cons *c = opaque;
	unsigned int i;

	for (i = 0; i < c->nr_ports; i++)
		cons_port_watch(&c->ports[i]);
}

static void cons_reset(void *opaque)
{
	struct cons *c = opaque;
	unsigned int i;

	c->features = 0;
	c->multiport = false;
	c->nr_pending = 0;
	for (i = 0; i < c->nr_ports; i++) {
		struct cons_port *p = &c->ports[i];

		p->added = p->ready = p->guest_open = false;
		/* Their answers are discarded by the core. */
		while (p->tx_count) {
			va_req_complete(p->tx[p->tx_head], 0);
			p->tx_head = (p->tx_head + 1u) % p->tx_cap;
			p->tx_count--;
		}
		p->tx_off = 0;
		if (p->rx_spare)
			va_req_complete(p->rx_spare, 0);
		p->rx_spare = NULL;
		cons_port_watch(p);
	}
}

static const struct va_dev_ops cons_ops = {
	.request = cons_request,
	.queue_ready = cons_queue_ready,
	.set_features = cons_set_features,
	.get_config = cons_config,
	.write_config = cons_write_config,
	.driver_ok = cons_driver_ok,
	.restore_state = cons_restore_state,
	.reset = cons_reset,
};

const struct va_dev_ops *cons_dev_ops(void)
{
	return &cons_ops;
}

void cons_winch(struct cons *c)
{
	struct cons_port *p = &c->ports[0];
	uint16_t rows = p->rows, cols = p->cols;

	if (cons_host_winsize(p) < 0 || (rows == p->rows && cols == p->cols))
		return;
	va_notice("console size %ux%u", p->rows, p->cols);
	if (!c->dev)
		return;
	va_dev_config_update(c->dev);
	if (p->ready)
		ctrl_queue(c, 0, VIRTIO_CONSOLE_RESIZE, 0);
}

void cons_dev_info(const struct cons *c, struct va_dev_info *info)
{
	uint64_t held = 1ull << CTRL_RXQ;
	unsigned int i;

	for (i = 0; i < c->nr_ports; i++)
		held |= 1ull << rxq(i);
	*info = (struct va_dev_info){
		.device_id = VIRTIO_ID_CONSOLE,
		.features = F(VIRTIO_CONSOLE_F_SIZE) |
			    F(VIRTIO_CONSOLE_F_MULTIPORT) |
			    F(VIRTIO_CONSOLE_F_EMERG_WRITE),
		.num_queues = (uint16_t)(2u + 2u * c->nr_ports),
		.max_queue_size = c->o->queue_size,
		.config_size = sizeof(struct virtio_console_config),
		.max_request = CONS_MAX_REQUEST + 64u,
		.max_in = CONS_MAX_REQUEST,
		.held_queues = held,
	};
}

int cons_new(struct cons_opts *o, struct cons **ret)
{
	struct cons *c = calloc(1, sizeof(*c));
	unsigned int i;
	int r;

	if (!c)
		return -ENOMEM;
	c->o = o;
	c->nr_ports = o->nr_ports;
	c->log_bol = true;
	for (i = 0; i < c->nr_ports; i++) {
		struct cons_port *p = &c->ports[i];

		p->c = c;
		p->id = i;
		p->o = &o->ports[i];
		p->listen_fd = p->slave_fd = p->in.fd = p->out.fd = -1;
		p->tx_cap = o->queue_size;
		p->tx = calloc(p->tx_cap, sizeof(*p->tx));
		if (!p->tx) {
			cons_free(c);
			return -ENOMEM;
		}
	}
	for (i = 0; i < c->nr_ports; i++) {
		r = cons_host_open(&c->ports[i]);
		if (r < 0) {
			cons_free(c);
			return r;
		}
	}
	r = cons_log_open(c);
	if (r < 0) {
		cons_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int cons_attach(struct cons *c, struct va_dev *dev, struct va_loop *loop)
{
	unsigned int i;
	int r;

	c->dev = dev;
	c->loop = loop;
	for (i = 0; i < c->nr_ports; i++) {
		r = cons_host_attach(&c->ports[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

void cons_print_stats(const struct cons *c)
{
	unsigned int i;

	for (i = 0; i < c->nr_ports; i++) {
		const struct cons_port *p = &c->ports[i];

		/* tx_held: the guest's output waiting for the host side;
		 * rx_posted: the guest's receive buffers waiting for input */
		va_notice("port %u (%s): rx_bytes %" PRIu64 " tx_bytes %"
			  PRIu64 " discarded %" PRIu64 " clients %" PRIu64
			  " refused %" PRIu64 " tx_held %u rx_posted %u", i,
			  p->o->name ? p->o->name : "console", p->rx_bytes,
			  p->tx_bytes, p->discarded, p->clients, p->refused,
			  p->tx_count, c->dev ? va_dev_held(c->dev, rxq(i)) +
			  (p->rx_spare ? 1u : 0u) : 0u);
	}
	va_notice("control: in %" PRIu64 " refused %" PRIu64 " out %" PRIu64
		  " dropped %" PRIu64 " emerg %" PRIu64 " bad_requests %"
		  PRIu64, c->ctrl_in, c->ctrl_refused, c->ctrl_out,
		  c->ctrl_dropped, c->emerg, c->bad_requests);
}

void cons_detach(struct cons *c)
{
	unsigned int i;

	cons_print_stats(c);
	for (i = 0; i < c->nr_ports; i++) {
		struct cons_port *p = &c->ports[i];

		cons_fdw_set(p, &p->in, 0);
		cons_fdw_set(p, &p->out, 0);
		if (p->listen_fd >= 0)
			va_loop_del_fd(c->loop, p->listen_fd);
	}
	c->loop = NULL;
}

void cons_free(struct cons *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; i < c->nr_ports; i++) {
		cons_host_close(&c->ports[i]);
		free(c->ports[i].tx);
	}
	if (c->log)
		fclose(c->log);
	free(c);
}
