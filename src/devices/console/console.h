/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-consoled's device: virtio-console (virtio 1.2 section 5.3)
 * on the device core, with SIZE, MULTIPORT and EMERG_WRITE.
 *
 * Ports: port 0 is the console (its back-end chosen by --pty, --socket or
 * --stdio), ports 1.. the named ones of --extra-port.  Queue layout: port
 * 0 receive 0, transmit 1; control receive 2 (device to driver), control
 * transmit 3; port N >= 1 receive 2 + 2N, transmit 3 + 2N.  The receive
 * queues and the control receive queue are held (device.h): the driver's
 * buffers wait in the core until the device has bytes for them.
 *
 * Flow control.  A transmit request (the guest's output) is kept until the
 * host side has taken all its bytes, and only then completed; the rest is
 * written when the fd becomes writable, so a stalled reader stalls the
 * guest's writer and memory is bounded by the queue.  A host side with
 * nobody connected (a socket port without a client) takes the bytes and
 * drops them, as a serial line with nothing attached (counted as
 * `discarded`).  Host input is read only while the port's receive queue
 * holds buffers, straight into them.
 *
 * Restart.  DEVICE_READY and each port's PORT_READY and PORT_OPEN from the
 * guest are saved for the driver session (va_dev_state_save) and restored
 * when the session renegotiates with a restarted consoled, which then
 * tells the driver its own host side's state (virtio_console sends none
 * of them again).
 *
 * console.c: the device (queues, ports, control messages, config);
 * console-host.c: the host side of a port (pty, socket, stdio) and the
 * log; console-ctrl.c: the control messages' pure rules; main.c: options.
 */
#ifndef VA_DEVICES_CONSOLE_H
#define VA_DEVICES_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "console-ctrl.h"
#include "device.h"
#include "loop.h"

#define CONS_MAX_PORTS		16u

#define CONS_QUEUE_SIZE_DEFAULT	64u
#define CONS_QUEUE_SIZE_MAX	1024u
#define CONS_MAX_REQUEST	(64u * 1024)	/* one transmit buffer */
#define CONS_READ_BATCH		64u	/* receive buffers filled per wake-up */

enum cons_kind { CONS_PTY, CONS_SOCKET, CONS_STDIO };

struct cons_port_opts {
	const char *name;		/* NULL for the console */
	enum cons_kind kind;
	const char *path;		/* the socket's */
};

struct cons_opts {
	struct cons_port_opts ports[CONS_MAX_PORTS];	/* [0]: the console */
	unsigned int nr_ports;
	const char *pty_link;		/* --pty-link */
	const char *log_path;		/* --log */
	bool log_timestamps;
	uint32_t queue_size;
};

struct cons;
struct cons_port;

/* The host side of a port and the log (console-host.c). */
struct cons_fdw {			/* one fd in the loop */
	int fd;
	uint32_t events;		/* registered (0: not in the loop) */
};

struct cons_port {
	struct cons *c;
	unsigned int id;
	const struct cons_port_opts *o;
	/* host side */
	int listen_fd;			/* socket: the listening socket */
	int slave_fd;			/* pty: our own hold on the slave */
	char pty_path[64];
	struct cons_fdw in, out;	/* the same fd for pty and socket */
	bool host_open;			/* a client is connected (pty: always;
				 * stdio: until stdout fails) */
	bool in_eof;			/* stdio: stdin ended */
	uint16_t rows, cols;		/* window size (pty, terminal stdio) */
	/* guest side (MULTIPORT) */
	bool added, ready, guest_open;
	/* transmit requests being written, oldest first */
	struct va_req **tx;
	unsigned int tx_head, tx_count, tx_cap;
	uint32_t tx_off;		/* bytes of the oldest already written */
	struct va_req *rx_spare;	/* taken, read() found nothing */
	/* counters */
	uint64_t rx_bytes, tx_bytes, discarded, clients, refused;
};

struct cons_pending {			/* a control message to send */
	uint32_t id;
	uint16_t event, value;
};

struct cons {
	struct cons_opts *o;
	struct va_dev *dev;
	struct va_loop *loop;
	struct cons_port ports[CONS_MAX_PORTS];
	unsigned int nr_ports;
	uint64_t features;		/* negotiated */
	bool multiport;
	/* control messages waiting for a control receive buffer: at most
	 * one per (port, event), a later one replaces the value */
	struct cons_pending pending[CONS_MAX_PORTS * 8u];
	unsigned int nr_pending;
	/* the log */
	FILE *log;
	bool log_bol;			/* at the beginning of a line */
	/* counters */
	uint64_t ctrl_in, ctrl_refused, ctrl_out, ctrl_dropped, emerg,
		 bad_requests;
};

/* console.c */
int cons_new(struct cons_opts *o, struct cons **ret);
void cons_free(struct cons *c);
void cons_dev_info(const struct cons *c, struct va_dev_info *info);
const struct va_dev_ops *cons_dev_ops(void);
int cons_attach(struct cons *c, struct va_dev *dev, struct va_loop *loop);
void cons_detach(struct cons *c);
void cons_print_stats(const struct cons *c);
/* The host side of p connected (a client) or left. */
void cons_port_host_changed(struct cons_port *p);
/* Re-reads the window sizes (SIGWINCH) and tells the guest. */
void cons_winch(struct cons *c);
/* The fds of p in the loop as its state wants them. */
void cons_port_watch(struct cons_port *p);

/* console-host.c */
int cons_host_open(struct cons_port *p);	/* at create: pty, listen */
int cons_host_attach(struct cons_port *p);	/* in the loop */
void cons_host_close(struct cons_port *p);
/* The client (or stdin) is gone: drop it. */
void cons_host_hangup(struct cons_port *p);
/* Writing p's host side failed with -err: a socket client is dropped,
 * stdio's stdout closes the port (PORT_OPEN 0, output dropped). */
void cons_host_write_failed(struct cons_port *p, int err);
/* Registers fdw->fd for `events` (0: out of the loop). */
void cons_fdw_set(struct cons_port *p, struct cons_fdw *w, uint32_t events);
/* 0, or -errno: the window size of p's terminal into p->rows/cols. */
int cons_host_winsize(struct cons_port *p);
int cons_log_open(struct cons *c);
void cons_log_write(struct cons *c, const uint8_t *data, size_t len);
void cons_log_reopen(struct cons *c);

#endif /* VA_DEVICES_CONSOLE_H */
