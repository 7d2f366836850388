/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-sim: a user-space model of Xen's Argo service.
 *
 * Clients (libvirtio-argo's sim back-end, virtio-argo-simctl) connect over
 * a Unix stream socket and speak sim-proto.h.  The simulator plays the
 * hypervisor: it keeps the domains, the rings registered by each domain's
 * clients (memfds it maps), and applies xen/common/argo.c's rules to
 * register, sendv and notify; it writes messages into the destination ring
 * and signals the owner's eventfd in place of VIRQ_ARGO.  Domains never
 * share memory with each other: a ring is mapped by its owner and by us.
 *
 * Single-threaded, one epoll loop.  Bounds: at most SIM_MAX_CLIENTS
 * connections; per connection one frame buffer of at most
 * 16 + VA_SIM_MAX_BODY bytes (shrunk back after large frames) and at most
 * one outstanding request; per domain VA_ARGO_MAX_RINGS_PER_DOMAIN rings;
 * per ring VA_ARGO_MAX_PENDING_PER_RING queued wake-ups.  A client that
 * breaks the framing (bad length, pipelined requests, a reply it does not
 * read) is disconnected; a well-framed bad request gets an errno.
 *
 * The socket is open to every local user (the policy decides at ATTACH),
 * so a connection not attached yet costs little and not for long: its
 * only acceptable frame is one ATTACH of VA_SIM_ATTACH_BODY bytes (any
 * other header disconnects it before a body byte is buffered), it must
 * attach within the attach timeout (SIM_ATTACH_TIMEOUT_MS, --attach-timeout)
 * and one uid holds at most SIM_MAX_WAITING_PER_UID such connections at a
 * time; beyond that the simulator closes new ones as it accepts them.
 * Connections wait for their ATTACH in s->waiting, oldest first: their
 * deadlines come in the same order, so the head's is the next to expire.
 *
 * Copies: a small sendv is read into the client's frame buffer and copied
 * into the ring once; the rest of a large one (>= SIM_DIRECT_MIN) is read
 * from the socket straight into the ring (see struct sim_client), after at
 * most SIM_DIRECT_MIN bytes read with the header.  A small frame costs one
 * read, a large one a few (the clients ask for a large send buffer).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "argo.h"
#include "log.h"
#include "sim-policy.h"
#include "sim-proto.h"
#include "va-config.h"

#define SIM_MAX_CLIENTS		1024u
#define SIM_ATTACH_TIMEOUT_MS	5000u	/* connect to ATTACH, by default */
#define SIM_ATTACH_TIMEOUT_MAX	3600000u
#define SIM_MAX_WAITING_PER_UID	16u	/* connections not attached yet */
#define SIM_BUF_KEEP		(256u * 1024u)	/* frame buffer kept between frames */
#define SIM_BUF_MIN		(64u * 1024u)
#define SIM_DIRECT_MIN		(16u * 1024u)	/* payloads received in place */

struct sim_client;

struct sim_pending {
	struct sim_client *client;	/* the waiting sender */
	uint32_t len;			/* largest payload it waits to send */
};

struct sim_ring {
	struct sim_domain *dom;		/* owner domain */
	struct sim_client *owner;	/* owner client */
	struct sim_ring *dnext;		/* in dom->rings */
	uint32_t port;
	uint16_t partner;
	uint32_t len;
	struct va_argo_ring *hdr;
	size_t map_size;
	uint32_t tx;			/* our cached tx (Xen caches it too) */
	struct sim_client *direct;	/* receiving a payload at tx, see below */
	unsigned int npend;
	struct sim_pending pend[VA_ARGO_MAX_PENDING_PER_RING];
};

struct sim_domain {
	uint16_t domid;
	unsigned int nrings;
	struct sim_ring *rings;
	struct sim_domain *next;	/* in sim.domains */
};

struct sim_client {
	int fd;
	int efd;			/* -1 for a control connection */
	bool attached;
	bool control;
	bool dead;			/* to be freed at the end of this round */
	bool waiting;			/* in sim.waiting: not attached yet */
	uint16_t domid;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	/* frame assembly: buf[0..got) */
	uint8_t *buf;
	size_t cap;
	size_t got;
	int frame_fd;			/* fd received with the current frame */
	/*
	 * Direct receive: the rest of a large sendv payload goes from the
	 * socket straight into the destination ring at [tx + 16, ...),
	 * saving a copy.  The ring is reserved meanwhile (ring->direct):
	 * other senders get -EAGAIN with a queued wake-up, as if it were
	 * full.  dring turns NULL if the ring goes away; the rest of the
	 * payload is then read and discarded and the answer is
	 * -ECONNREFUSED.
	 */
	bool direct;
	struct sim_ring *dring;
	struct va_sim_hdr dhdr;
	struct va_sim_sendv dreq;
	uint32_t dpos;			/* ring offset of the next byte */
	uint32_t dleft;			/* payload bytes still to come */
	struct sim_client *prev, *next;
	/* sim.waiting, while not attached */
	uint64_t deadline;		/* va_now_ms() by which to attach */
	struct sim_client *wprev, *wnext;
};

struct sim {
	int epfd;
	int lfd;
	int sigfd;
	const char *path;
	struct va_policy *policy;
	struct sim_domain *dom[VA_SIM_MAX_DOMAINS];
	struct sim_domain *domains;
	struct sim_client *clients;
	unsigned int nclients;
	/* Not attached yet, in accept order (so in deadline order). */
	struct sim_client *waiting, *waiting_tail;
	unsigned int attach_timeout_ms;
	bool quit;
};

static struct va_ratelimit rl_peer = VA_RATELIMIT_INIT(5000, 10);

#define peer_log(level, ...) va_log_ratelimited(&rl_peer, level, __VA_ARGS__)

/* ---- signalling ---- */

static void signal_client(struct sim_client *c)
{
	uint64_t one = 1;

	if (!c || c->efd < 0 || c->dead)
		return;
	/* Non-blocking: a saturated counter is still readable. */
	if (write(c->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		va_debug("client pid %d: eventfd write: %s", (int)c->pid,
			 strerror(errno));
}

static void signal_all(struct sim *s)
{
	struct sim_client *c;

	for (c = s->clients; c; c = c->next)
		if (c->attached && !c->control)
			signal_client(c);
}

/* ---- rings ---- */

static uint32_t ring_rx(const struct sim_ring *r)
{
	uint32_t rx = __atomic_load_n(&r->hdr->rx_ptr, __ATOMIC_ACQUIRE);

	return va_argo_sanitize_rx(rx, r->len);
}

/* Largest payload that fits now (Xen's ringbuf_payload_space). */
static uint32_t ring_payload_space(const struct sim_ring *r)
{
	uint32_t f = va_argo_ring_space(ring_rx(r), r->tx, r->len);

	/* roundup16(n) + 16 < f, f a multiple of 16: n <= f - 32. */
	return f >= 2 * VA_ARGO_SLOT ? f - 2 * VA_ARGO_SLOT : 0;
}

static void ring_unlink(struct sim_ring *r)
{
	struct sim_ring **pp;

	for (pp = &r->dom->rings; *pp; pp = &(*pp)->dnext) {
		if (*pp == r) {
			*pp = r->dnext;
			r->dom->nrings--;
			return;
		}
	}
}

/* Removes a ring; `tell` marks it dead in its header and signals the owner
 * (removal the owner did not ask for). */
static void ring_remove(struct sim_ring *r, bool tell)
{
	uint32_t *word = (uint32_t *)(void *)r->hdr->reserved;

	ring_unlink(r);
	if (r->direct)
		r->direct->dring = NULL;
	if (tell) {
		__atomic_store_n(word, VA_SIM_RING_DEAD, __ATOMIC_RELEASE);
		signal_client(r->owner);
	}
	munmap(r->hdr, r->map_size);
	free(r);
}

static struct sim_ring *ring_find(struct sim_domain *d, uint32_t port,
				  uint16_t partner)
{
	struct sim_ring *r;

	for (r = d->rings; r; r = r->dnext)
		if (r->port == port && r->partner == partner)
			return r;
	return NULL;
}

/* sendv/notify lookup: exact partner first, then the wildcard. */
static struct sim_ring *ring_lookup(struct sim_domain *d, uint32_t port,
				    uint16_t from)
{
	struct sim_ring *r = ring_find(d, port, from);

	return r ? r : ring_find(d, port, VA_ARGO_DOMID_ANY);
}

/*
 * VA_SIM_RING_WAITERS follows npend (sim-proto.h).  Setting it is a full
 * barrier: the caller reads rx_ptr again afterwards.
 */
static void ring_mark_waiters(struct sim_ring *r)
{
	uint32_t *word = (uint32_t *)(void *)r->hdr->reserved;

	if (r->npend)
		__atomic_fetch_or(word, VA_SIM_RING_WAITERS, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(word, ~VA_SIM_RING_WAITERS, __ATOMIC_RELEASE);
}

/*
 * Queue (or raise) a wake-up for `c` on `r`.  Returns 1 for a new entry,
 * 0 for a raised one, -EBUSY if the queue is full.
 */
static int pending_queue(struct sim_ring *r, struct sim_client *c, uint32_t len)
{
	unsigned int i;

	for (i = 0; i < r->npend; i++) {
		if (r->pend[i].client == c) {
			if (len > r->pend[i].len)
				r->pend[i].len = len;
			ring_mark_waiters(r);
			return 0;
		}
	}
	if (r->npend == VA_ARGO_MAX_PENDING_PER_RING)
		return -EBUSY;
	r->pend[r->npend].client = c;
	r->pend[r->npend].len = len;
	r->npend++;
	ring_mark_waiters(r);
	return 1;
}

static void pending_drop(struct sim_ring *r, unsigned int i)
{
	r->pend[i] = r->pend[--r->npend];
	if (!r->npend)
		ring_mark_waiters(r);
}

static void pending_cancel(struct sim_ring *r, struct sim_client *c)
{
	unsigned int i;

	for (i = 0; i < r->npend; i++) {
		if (r->pend[i].client == c) {
			pending_drop(r, i);
			return;
		}
	}
}

/* Wakes the waiting senders whose message fits now. */
static void pending_check_ring(struct sim_ring *r)
{
	unsigned int i;
	uint32_t space;

	if (!r->npend || r->direct)
		return;
	space = ring_payload_space(r);
	for (i = 0; i < r->npend;) {
		if (r->pend[i].len <= space) {
			signal_client(r->pend[i].client);
			pending_drop(r, i);
		} else {
			i++;
		}
	}
}

/* Xen's notify_check_pending for one domain's rings. */
static void pending_check(struct sim_domain *d)
{
	struct sim_ring *r;

	if (!d)
		return;
	for (r = d->rings; r; r = r->dnext)
		pending_check_ring(r);
}

/* ---- domains ---- */

static struct sim_domain *dom_get(struct sim *s, uint32_t domid)
{
	return domid < VA_SIM_MAX_DOMAINS ? s->dom[domid] : NULL;
}

static int dom_create(struct sim *s, uint32_t domid)
{
	struct sim_domain *d;

	if (domid > VA_ARGO_DOMID_MAX)
		return -EINVAL;
	if (s->dom[domid])
		return -EEXIST;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->domid = (uint16_t)domid;
	d->next = s->domains;
	s->domains = d;
	s->dom[domid] = d;
	va_info("domain %u created", domid);
	signal_all(s);
	return 0;
}

static void client_drop(struct sim *s, struct sim_client *c);

static int dom_destroy(struct sim *s, uint32_t domid)
{
	struct sim_domain *d = dom_get(s, domid), **pp, *o;
	struct sim_client *c;
	struct sim_ring *r, *rn;

	if (!d)
		return -ESRCH;
	if (domid == 0)
		return -EPERM;
	/* Its clients go: their rings are marked dead first, so a client
	 * still holding the mapping sees va_ring_alive() false. */
	while (d->rings)
		ring_remove(d->rings, true);
	for (c = s->clients; c; c = c->next) {
		if (c->attached && !c->control && c->domid == domid) {
			signal_client(c);
			client_drop(s, c);
		}
	}
	/* Rings of other domains that name it as partner. */
	for (o = s->domains; o; o = o->next) {
		for (r = o->rings; r; r = rn) {
			rn = r->dnext;
			if (r->partner == domid)
				ring_remove(r, true);
		}
	}
	for (pp = &s->domains; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	s->dom[domid] = NULL;
	free(d);
	va_info("domain %u destroyed", domid);
	signal_all(s);
	return 0;
}

/* ---- clients ---- */

/* A new connection starts waiting for its ATTACH. */
static void waiting_add(struct sim *s, struct sim_client *c)
{
	c->deadline = va_now_ms() + s->attach_timeout_ms;
	c->wnext = NULL;
	c->wprev = s->waiting_tail;
	if (s->waiting_tail)
		s->waiting_tail->wnext = c;
	else
		s->waiting = c;
	s->waiting_tail = c;
	c->waiting = true;
}

/* Attached or gone. */
static void waiting_del(struct sim *s, struct sim_client *c)
{
	if (!c->waiting)
		return;
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		s->waiting = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	else
		s->waiting_tail = c->wprev;
	c->wprev = c->wnext = NULL;
	c->waiting = false;
}

static unsigned int waiting_count(const struct sim *s, uid_t uid)
{
	const struct sim_client *c;
	unsigned int n = 0;

	for (c = s->waiting; c; c = c->wnext)
		n += c->uid == uid;
	return n;
}

/* Marks a client for removal at the end of the round: its rings go now,
 * its wake-ups are forgotten, its sockets close. */
static void client_drop(struct sim *s, struct sim_client *c)
{
	struct sim_domain *d;
	struct sim_ring *r, *rn;

	if (c->dead)
		return;
	c->dead = true;
	waiting_del(s, c);
	if (c->dring) {
		c->dring->direct = NULL;
		pending_check_ring(c->dring);
		c->dring = NULL;
	}
	for (d = s->domains; d; d = d->next) {
		for (r = d->rings; r; r = rn) {
			rn = r->dnext;
			if (r->owner == c)
				ring_remove(r, false);
			else
				pending_cancel(r, c);
		}
	}
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->efd >= 0)
		close(c->efd);
	c->efd = -1;
	if (c->frame_fd >= 0)
		close(c->frame_fd);
	c->frame_fd = -1;
}

static void client_reap(struct sim *s)
{
	struct sim_client *c, *n;

	for (c = s->clients; c; c = n) {
		n = c->next;
		if (!c->dead)
			continue;
		if (c->prev)
			c->prev->next = c->next;
		else
			s->clients = c->next;
		if (c->next)
			c->next->prev = c->prev;
		s->nclients--;
		free(c->buf);
		free(c);
	}
}

static void client_violation(struct sim *s, struct sim_client *c,
			     const char *what)
{
	if (c->attached)
		peer_log(VA_LOG_WARN,
			 "client pid %d uid %u (domain %u): %s; disconnecting",
			 (int)c->pid, (unsigned)c->uid, c->domid, what);
	else
		peer_log(VA_LOG_WARN,
			 "client pid %d uid %u (not attached): %s; disconnecting",
			 (int)c->pid, (unsigned)c->uid, what);
	client_drop(s, c);
}

/*
 * Drops the connections whose attach deadline has passed; returns the
 * epoll timeout until the next deadline (-1: none waits).
 */
static int waiting_expire(struct sim *s)
{
	uint64_t now;

	if (!s->waiting)
		return -1;
	now = va_now_ms();
	while (s->waiting && s->waiting->deadline <= now)
		client_violation(s, s->waiting, "no attach before the deadline");
	return s->waiting ? (int)(s->waiting->deadline - now) : -1;
}

/* Sends a reply; a client that does not take it is dropped. */
static void reply(struct sim *s, struct sim_client *c,
		  const struct va_sim_hdr *req, int32_t status,
		  const void *body, uint32_t len)
{
	struct va_sim_hdr h = {
		.len = len, .op = req->op, .status = status, .seq = req->seq,
	};
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (c->dead)
		return;
	do {
		n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)(sizeof(h) + len))
		client_violation(s, c, "reply not taken");
}

static int take_fd(struct sim_client *c)
{
	int fd = c->frame_fd;

	c->frame_fd = -1;
	return fd;
}

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventfd]");
}

static int op_attach(struct sim *s, struct sim_client *c, const void *body,
		     uint32_t len)
{
	struct va_sim_attach a;
	int fd, err;

	if (len != sizeof(a))
		return -EINVAL;
	memcpy(&a, body, sizeof(a));
	if (a.magic != VA_SIM_MAGIC || a.version != VA_SIM_VERSION)
		return -EPROTO;
	if (a.flags & ~(VA_SIM_ATTACH_CREATE | VA_SIM_ATTACH_CONTROL))
		return -EINVAL;
	if (a.flags & VA_SIM_ATTACH_CONTROL) {
		if (!va_policy_may_control(s->policy, c->uid, c->gid)) {
			peer_log(VA_LOG_WARN,
				 "control refused to uid %u gid %u (pid %d) by policy",
				 (unsigned)c->uid, (unsigned)c->gid, (int)c->pid);
			return -EACCES;
		}
		c->control = true;
		c->attached = true;
		return 0;
	}
	if (a.domid > VA_ARGO_DOMID_MAX)
		return -EINVAL;
	fd = take_fd(c);
	if (fd < 0 || !is_eventfd(fd)) {
		if (fd >= 0)
			close(fd);
		return -EBADF;
	}
	if (!va_policy_may_attach(s->policy, a.domid, c->uid, c->gid)) {
		peer_log(VA_LOG_WARN,
			 "attach to domain %u refused to uid %u gid %u (pid %d) by policy",
			 a.domid, (unsigned)c->uid, (unsigned)c->gid, (int)c->pid);
		close(fd);
		return -EACCES;
	}
	if (!s->dom[a.domid]) {
		if (!(a.flags & VA_SIM_ATTACH_CREATE)) {
			close(fd);
			return -ESRCH;
		}
		err = dom_create(s, a.domid);
		if (err < 0) {
			close(fd);
			return err;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->efd = fd;
	c->domid = a.domid;
	c->attached = true;
	va_debug("client pid %d attached to domain %u", (int)c->pid, a.domid);
	return 0;
}

/* Check a REGISTER against the domains, the policy and the rings that
 * exist.  Returns 0 (and the request) or -errno. */
static int register_check(struct sim *s, const struct sim_client *c,
			  struct sim_domain *d, const void *body, uint32_t len,
			  struct va_sim_register *req)
{
	if (!d || len != sizeof(*req))
		return -EINVAL;
	memcpy(req, body, sizeof(*req));
	if (!va_argo_ring_len_valid(req->len))
		return -EINVAL;
	if (req->partner == VA_ARGO_DOMID_ANY)
		return -EPERM;	/* Xen without mac-permissive */
	if (!dom_get(s, req->partner))
		return -ESRCH;
	if (!va_policy_may_send(s->policy, req->partner, c->domid)) {
		peer_log(VA_LOG_NOTICE, "register %u:%u partner %u refused by policy",
			 c->domid, req->port, req->partner);
		return -EACCES;
	}
	if (ring_find(d, req->port, req->partner))
		return -EEXIST;
	if (d->nrings >= VA_ARGO_MAX_RINGS_PER_DOMAIN)
		return -ENOSPC;
	return 0;
}

/* A new ring over the client's memory fd of a ring of `len` bytes (the
 * fd stays the caller's).  Returns 0 or -errno. */
static int ring_map(int fd, uint32_t len, struct sim_ring **ret)
{
	struct sim_ring *r;
	struct stat st;
	void *map;

	if (fd < 0)
		return -EBADF;
	/* Only a memfd sealed against shrinking is safe to write through:
	 * a file the client could truncate would fault us. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0 || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size < va_sim_ring_map_size(len))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->map_size = va_sim_ring_map_size(len);
	map = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		free(r);
		return -EINVAL;
	}
	r->hdr = map;
	*ret = r;
	return 0;
}

/* Make a mapped ring the client's, on its domain's list. */
static void ring_add(struct sim_domain *d, struct sim_client *c,
		     struct sim_ring *r, const struct va_sim_register *req)
{
	r->dom = d;
	r->owner = c;
	r->port = req->port;
	r->partner = req->partner;
	r->len = req->len;
	/* As Xen: keep a valid tx_ptr found in the ring, else start at rx. */
	r->tx = __atomic_load_n(&r->hdr->tx_ptr, __ATOMIC_RELAXED);
	if (r->tx >= r->len || (r->tx % VA_ARGO_SLOT))
		r->tx = ring_rx(r);
	__atomic_store_n(&r->hdr->tx_ptr, r->tx, __ATOMIC_RELEASE);
	r->dnext = d->rings;
	d->rings = r;
	d->nrings++;
	va_debug("ring %u:%u partner %u len %u registered", c->domid, r->port,
		 r->partner, r->len);
}

static int op_register(struct sim *s, struct sim_client *c, const void *body,
		       uint32_t len)
{
	struct sim_domain *d = dom_get(s, c->domid);
	struct va_sim_register req;
	struct sim_ring *r;
	int fd, err;

	fd = take_fd(c);
	err = register_check(s, c, d, body, len, &req);
	if (!err)
		err = ring_map(fd, req.len, &r);
	if (!err)
		ring_add(d, c, r, &req);
	if (fd >= 0)
		close(fd);
	return err;
}

static int op_unregister(struct sim *s, struct sim_client *c, const void *body,
			 uint32_t len)
{
	struct va_sim_unregister req;
	struct sim_domain *d;
	struct sim_ring *r;

	if (len != sizeof(req))
		return -EINVAL;
	memcpy(&req, body, sizeof(req));
	d = dom_get(s, c->domid);
	r = d ? ring_find(d, req.port, req.partner) : NULL;
	if (!r || r->owner != c)
		return -ENOENT;
	ring_remove(r, false);
	return 0;
}

/*
 * The checks of sendv, in Xen's order, up to the ring that takes the
 * message now.  `final`: this is the answer (queue a wake-up on -EAGAIN,
 * log a policy refusal); otherwise a probe for direct receive.
 */
static int sendv_target(struct sim *s, struct sim_client *c,
			const struct va_sim_sendv *req, uint32_t payload,
			bool final, struct sim_ring **ret)
{
	struct sim_domain *d;
	struct sim_ring *r;
	int err;

	if (req->src_dom != c->domid && req->src_dom != VA_ARGO_DOMID_ANY)
		return -EPERM;
	if (payload > VA_ARGO_MAX_MSG_SIZE)
		return -EINVAL;
	d = dom_get(s, req->dst_dom);
	if (!d)
		return -ESRCH;
	if (!va_policy_may_send(s->policy, c->domid, req->dst_dom)) {
		if (final)
			peer_log(VA_LOG_NOTICE, "sendv %u -> %u:%u refused by policy",
				 c->domid, req->dst_dom, req->dst_port);
		return -EACCES;
	}
	r = ring_lookup(d, req->dst_port, c->domid);
	if (!r)
		return -ECONNREFUSED;
	if (va_argo_ring_too_big(r->len, payload))
		return -EMSGSIZE;
	if (r->direct || !va_argo_ring_fits(ring_rx(r), r->tx, r->len, payload)) {
		if (!final)
			return -EAGAIN;
		err = pending_queue(r, c, payload);
		if (err < 0)
			return err;
		/* The owner may have consumed after we read rx_ptr and skipped
		 * its NOTIFY, the bit not yet set (sim-proto.h): look again. */
		if (r->direct ||
		    !va_argo_ring_fits(ring_rx(r), r->tx, r->len, payload))
			return -EAGAIN;
		if (err == 1)
			pending_cancel(r, c);
	}
	*ret = r;
	return 0;
}

/* Writes the header at tx and publishes the message. */
static void sendv_commit(struct sim_client *c, struct sim_ring *r,
			 const struct va_sim_sendv *req, uint32_t payload)
{
	struct va_argo_msg_hdr mh = {
		.len = payload + VA_ARGO_MSG_HDR_SIZE,
		.source = { .aport = req->src_port, .domain_id = c->domid },
		.message_type = req->message_type,
	};

	/* tx is 16-aligned and < len, a multiple of 16: the header slot
	 * never wraps. */
	memcpy(r->hdr->ring + r->tx, &mh, sizeof(mh));
	r->tx = va_argo_ring_advance(r->tx, mh.len, r->len);
	__atomic_store_n(&r->hdr->tx_ptr, r->tx, __ATOMIC_RELEASE);
	signal_client(r->owner);
}

static int op_sendv(struct sim *s, struct sim_client *c, const uint8_t *body,
		    uint32_t len)
{
	struct va_sim_sendv req;
	struct sim_ring *r;
	uint32_t payload, pos;
	int err;

	if (len < sizeof(req))
		return -EINVAL;
	memcpy(&req, body, sizeof(req));
	payload = len - (uint32_t)sizeof(req);
	err = sendv_target(s, c, &req, payload, true, &r);
	if (err < 0)
		return err;
	/* fits() guarantees the message ends before rx: the copy never
	 * overwrites unconsumed bytes; payload <= len - 32. */
	pos = (r->tx + VA_ARGO_MSG_HDR_SIZE) % r->len;
	va_argo_ring_copy_in(r->hdr->ring, r->len, pos, body + sizeof(req),
			     payload);
	sendv_commit(c, r, &req, payload);
	return (int)payload;
}

/*
 * c->buf holds the start of a large sendv frame.  If its ring takes it
 * now, reserve the ring, move the buffered part of the payload in and
 * switch the client to direct receive.  Otherwise the frame is buffered
 * as usual and checked again when complete.
 */
static bool direct_begin(struct sim *s, struct sim_client *c)
{
	const uint32_t fixed = sizeof(struct va_sim_hdr) + sizeof(c->dreq);
	struct sim_ring *r;
	uint32_t payload, have;

	memcpy(&c->dhdr, c->buf, sizeof(c->dhdr));
	memcpy(&c->dreq, c->buf + sizeof(c->dhdr), sizeof(c->dreq));
	payload = c->dhdr.len - (uint32_t)sizeof(c->dreq);
	if (sendv_target(s, c, &c->dreq, payload, false, &r) < 0)
		return false;
	/* The frame is incomplete: have < payload <= len - 32. */
	have = (uint32_t)c->got - fixed;
	c->dpos = (r->tx + VA_ARGO_MSG_HDR_SIZE) % r->len;
	if (have)
		c->dpos = va_argo_ring_copy_in(r->hdr->ring, r->len, c->dpos,
					       c->buf + fixed, have);
	c->dleft = payload - have;
	c->direct = true;
	c->dring = r;
	r->direct = c;
	c->got = 0;
	return true;
}

static void direct_end(struct sim *s, struct sim_client *c)
{
	struct sim_ring *r = c->dring;
	uint32_t payload = c->dhdr.len - (uint32_t)sizeof(c->dreq);

	c->direct = false;
	if (c->frame_fd >= 0) {
		close(c->frame_fd);
		c->frame_fd = -1;
	}
	if (!r) {
		reply(s, c, &c->dhdr, -ECONNREFUSED, NULL, 0);
		return;
	}
	c->dring = NULL;
	r->direct = NULL;
	sendv_commit(c, r, &c->dreq, payload);
	pending_check_ring(r);
	reply(s, c, &c->dhdr, (int32_t)payload, NULL, 0);
}

static int op_notify(struct sim *s, struct sim_client *c, uint8_t *body,
		     uint32_t len, uint32_t *ret_out_len)
{
	struct va_sim_notify req;
	struct va_sim_notify_ent e;
	struct sim_domain *d;
	struct sim_ring *r;
	uint32_t i, space, maxm;
	int q;

	*ret_out_len = 0;
	if (len < sizeof(req))
		return -EINVAL;
	memcpy(&req, body, sizeof(req));
	if (req.nent > VA_ARGO_MAX_NOTIFY_COUNT ||
	    len != sizeof(req) + req.nent * sizeof(e))
		return -EINVAL;
	pending_check(dom_get(s, c->domid));
	for (i = 0; i < req.nent; i++) {
		uint8_t *p = body + sizeof(req) + i * sizeof(e);

		memcpy(&e, p, sizeof(e));
		e.flags = 0;
		e.max_message_size = 0;
		d = dom_get(s, e.domid);
		r = d && va_policy_may_send(s->policy, c->domid, e.domid) ?
			ring_lookup(d, e.port, c->domid) : NULL;
		if (r) {
			maxm = va_argo_ring_max_payload(r->len);
			e.flags = VA_ARGO_RING_EXISTS;
			e.max_message_size = maxm;
			if (r->partner == VA_ARGO_DOMID_ANY)
				e.flags |= VA_ARGO_RING_SHARED;
			/* A ring being filled by a direct receive counts as
			 * full until that message is in. */
			space = r->direct ? 0 : ring_payload_space(r);
			if (space == maxm)
				e.flags |= VA_ARGO_RING_EMPTY;
			if (e.space_required > maxm) {
				e.flags |= VA_ARGO_RING_EMSGSIZE;
			} else if (space >= e.space_required) {
				e.flags |= VA_ARGO_RING_SUFFICIENT;
				pending_cancel(r, c);
			} else if ((q = pending_queue(r, c, e.space_required)) < 0) {
				e.flags |= VA_ARGO_RING_EBUSY;
			} else if (!r->direct &&
				   ring_payload_space(r) >= e.space_required) {
				/* Consumed meanwhile, as in sendv_target. */
				e.flags |= VA_ARGO_RING_SUFFICIENT;
				if (q == 1)
					pending_cancel(r, c);
			}
		}
		memcpy(p, &e, sizeof(e));
	}
	*ret_out_len = req.nent * (uint32_t)sizeof(e);
	return 0;
}

static void handle_frame(struct sim *s, struct sim_client *c)
{
	struct va_sim_hdr h;
	uint8_t *body = c->buf + sizeof(h);
	static uint16_t list[VA_SIM_MAX_DOMAINS];
	struct va_sim_domain dr;
	struct sim_domain *d;
	uint32_t out_len = 0, n;
	int ret;

	/* Unattached, only an ATTACH gets here (client_process). */
	memcpy(&h, c->buf, sizeof(h));
	switch (h.op) {
	case VA_SIM_OP_ATTACH:
		ret = c->attached ? -EALREADY : op_attach(s, c, body, h.len);
		if (!ret)
			waiting_del(s, c);
		reply(s, c, &h, ret, NULL, 0);
		if (ret < 0)
			client_drop(s, c);
		return;
	case VA_SIM_OP_REGISTER:
		ret = c->control ? -EPERM : op_register(s, c, body, h.len);
		break;
	case VA_SIM_OP_UNREGISTER:
		ret = c->control ? -EPERM : op_unregister(s, c, body, h.len);
		break;
	case VA_SIM_OP_SENDV:
		ret = c->control ? -EPERM : op_sendv(s, c, body, h.len);
		break;
	case VA_SIM_OP_NOTIFY:
		ret = c->control ? -EPERM :
			op_notify(s, c, body, h.len, &out_len);
		reply(s, c, &h, ret, body + sizeof(struct va_sim_notify),
		      ret < 0 ? 0 : out_len);
		return;
	case VA_SIM_OP_DOMAIN_EXISTS:
	case VA_SIM_OP_DOMAIN_CREATE:
	case VA_SIM_OP_DOMAIN_DESTROY:
		if (h.len != sizeof(dr)) {
			ret = -EINVAL;
			break;
		}
		memcpy(&dr, body, sizeof(dr));
		if (h.op == VA_SIM_OP_DOMAIN_EXISTS)
			ret = dom_get(s, dr.domid) != NULL;
		else if (!c->control)
			ret = -EPERM;
		else if (h.op == VA_SIM_OP_DOMAIN_CREATE)
			ret = dom_create(s, dr.domid);
		else
			ret = dom_destroy(s, dr.domid);
		break;
	case VA_SIM_OP_DOMAIN_LIST:
		if (!c->control) {
			ret = -EPERM;
			break;
		}
		n = 0;
		for (d = s->domains; d; d = d->next)
			list[n++] = d->domid;
		reply(s, c, &h, (int32_t)n, list, n * 2);
		return;
	default:
		ret = -EOPNOTSUPP;
		break;
	}
	reply(s, c, &h, ret, NULL, 0);
}

/* Grows the frame buffer to hold `need` bytes (bounded by the caller). */
static int buf_reserve(struct sim_client *c, size_t need)
{
	size_t cap = c->cap ? c->cap : SIM_BUF_MIN;
	uint8_t *b;

	if (need <= c->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	b = realloc(c->buf, cap);
	if (!b)
		return -ENOMEM;
	c->buf = b;
	c->cap = cap;
	return 0;
}

/*
 * Takes the complete frames at the start of c->buf, one at a time.
 * Returns true while the caller should read more.
 */
static bool client_process(struct sim *s, struct sim_client *c)
{
	struct va_sim_hdr h;
	size_t total;

	while (c->got >= sizeof(h)) {
		memcpy(&h, c->buf, sizeof(h));
		if (h.len > VA_SIM_MAX_BODY || h.flags) {
			client_violation(s, c, "bad frame header");
			return false;
		}
		/* Checked before any of the body is buffered: a client the
		 * policy may refuse never gets more than an ATTACH's worth. */
		if (!c->attached && (h.op != VA_SIM_OP_ATTACH ||
				     h.len != VA_SIM_ATTACH_BODY)) {
			client_violation(s, c, "a frame other than ATTACH before attach");
			return false;
		}
		total = sizeof(h) + h.len;
		if (c->got < total && h.op == VA_SIM_OP_SENDV && c->attached &&
		    !c->control &&
		    c->got >= sizeof(h) + sizeof(struct va_sim_sendv) &&
		    h.len >= sizeof(struct va_sim_sendv) + SIM_DIRECT_MIN &&
		    direct_begin(s, c))
			return true;
		if (buf_reserve(c, total) < 0) {
			client_violation(s, c, "out of memory");
			return false;
		}
		if (c->got < total)
			return true;
		handle_frame(s, c);
		if (c->dead)
			return false;
		if (c->frame_fd >= 0) {
			close(c->frame_fd);
			c->frame_fd = -1;
		}
		c->got -= total;
		if (c->got) {
			/* Only a client breaking the one-request rule gets
			 * here; serve it in order anyway. */
			memmove(c->buf, c->buf + total, c->got);
			continue;
		}
		if (c->cap > SIM_BUF_KEEP) {
			free(c->buf);
			c->buf = NULL;
			c->cap = 0;
			if (buf_reserve(c, SIM_BUF_MIN) < 0) {
				client_violation(s, c, "out of memory");
				return false;
			}
		}
		/* Level-triggered epoll calls again if more is queued:
		 * no read ending in EAGAIN on the hot path. */
		return false;
	}
	return true;
}

/* Where the next read of c goes: the rest of a direct frame into its
 * ring, or the buffer.  Returns the number of iovecs (1 or 2). */
static size_t client_read_iov(struct sim_client *c, struct iovec *iov)
{
	const size_t attach_frame = sizeof(struct va_sim_hdr) + VA_SIM_ATTACH_BODY;
	uint32_t n1, n2;
	size_t room;

	if (c->direct && c->dring) {
		va_argo_ring_split(c->dpos, c->dleft, c->dring->len, &n1, &n2);
		iov[0].iov_base = c->dring->hdr->ring + c->dpos;
		iov[0].iov_len = n1;
		iov[1].iov_base = c->dring->hdr->ring;
		iov[1].iov_len = n2;
		return n2 ? 2 : 1;
	}
	if (c->direct) {
		/* Ring gone: read the rest into the buffer, discard. */
		iov[0].iov_base = c->buf;
		iov[0].iov_len = c->dleft < c->cap ? c->dleft : c->cap;
		return 1;
	}
	/* The start of a frame: at most SIM_DIRECT_MIN, so a large sendv
	 * copies at most that much from the buffer when it turns to direct
	 * receive. */
	room = c->cap - c->got;
	if (c->got < SIM_DIRECT_MIN && room > SIM_DIRECT_MIN - c->got)
		room = SIM_DIRECT_MIN - c->got;
	/* Not attached: no more than the ATTACH frame (a complete one is
	 * processed before the next read). */
	if (!c->attached && room > attach_frame - c->got)
		room = attach_frame - c->got;
	iov[0].iov_base = c->buf + c->got;
	iov[0].iov_len = room;
	return 1;
}

/* Keep the first fd a read brought as the frame's, close the others. */
static void client_take_fds(struct sim_client *c, struct msghdr *mh)
{
	struct cmsghdr *cmsg;
	unsigned int i, nfd;
	int fds[4];

	for (cmsg = CMSG_FIRSTHDR(mh); cmsg; cmsg = CMSG_NXTHDR(mh, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (unsigned int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (nfd > 4)
			nfd = 4;
		memcpy(fds, CMSG_DATA(cmsg), nfd * sizeof(int));
		for (i = 0; i < nfd; i++) {
			if (c->frame_fd < 0)
				c->frame_fd = fds[i];
			else
				close(fds[i]);
		}
	}
}

/*
 * Reads what the socket has into c->buf (a correct client has at most one
 * frame in flight, so one read usually takes a whole small frame; the
 * first read of a frame stops at SIM_DIRECT_MIN) and processes complete
 * frames.
 */
static void client_read(struct sim *s, struct sim_client *c)
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct msghdr mh;
	struct iovec iov[2];
	ssize_t n;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iovlen = client_read_iov(c, iov);
		mh.msg_iov = iov;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				client_drop(s, c);
			return;
		}
		client_take_fds(c, &mh);
		if (mh.msg_flags & MSG_CTRUNC) {
			client_violation(s, c, "too many fds");
			return;
		}
		if (n == 0) {
			if (c->got || c->direct)
				peer_log(VA_LOG_INFO,
					 "client pid %d: closed mid-frame",
					 (int)c->pid);
			client_drop(s, c);
			return;
		}
		if (c->direct) {
			/* n <= dleft: the iovecs cover exactly what is left. */
			if (c->dring)
				c->dpos = (uint32_t)(((uint64_t)c->dpos + (uint64_t)n) %
						     c->dring->len);
			c->dleft -= (uint32_t)n;
			if (c->dleft)
				continue;
			direct_end(s, c);
			return;
		}
		c->got += (size_t)n;
		if (!client_process(s, c))
			return;
	}
}

static void accept_clients(struct sim *s)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sim_client *c;
	struct ucred cred;
	socklen_t sl;
	int fd;

	for (;;) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				peer_log(VA_LOG_WARN, "accept: %s", strerror(errno));
			return;
		}
		if (s->nclients >= SIM_MAX_CLIENTS) {
			peer_log(VA_LOG_WARN, "too many clients, refusing one");
			close(fd);
			continue;
		}
		sl = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0) {
			close(fd);
			continue;
		}
		if (waiting_count(s, cred.uid) >= SIM_MAX_WAITING_PER_UID) {
			peer_log(VA_LOG_WARN,
				 "uid %u (pid %d) has %u connections not attached yet, refusing one",
				 (unsigned)cred.uid, (int)cred.pid,
				 SIM_MAX_WAITING_PER_UID);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || buf_reserve(c, SIM_BUF_MIN) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->efd = -1;
		c->frame_fd = -1;
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
		ev.data.ptr = c;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->buf);
			free(c);
			close(fd);
			continue;
		}
		c->next = s->clients;
		if (s->clients)
			s->clients->prev = c;
		s->clients = c;
		s->nclients++;
		waiting_add(s, c);
	}
}

/* ---- start-up ---- */

static int mkdir_parents(const char *path)
{
	char buf[PATH_MAX], *p;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	p = strrchr(buf, '/');
	if (!p || p == buf)
		return 0;
	*p = '\0';
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int listen_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sockaddr_un tmp = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, probe, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return va_log_errno(VA_LOG_ERR, -ENAMETOOLONG, "socket %s", path);
	strcpy(sa.sun_path, path);
	err = mkdir_parents(path);
	if (err < 0)
		return va_log_errno(VA_LOG_ERR, err, "cannot create the directory of %s",
				    path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			va_err("%s exists and is not a socket", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			va_err("another simulator is running on %s", path);
			return -EADDRINUSE;
		}
		err = -errno;
		close(probe);
		if (err != -ECONNREFUSED)
			return va_log_errno(VA_LOG_ERR, err, "cannot probe %s", path);
		va_info("removing stale socket %s", path);
		unlink(path);
	}
	/* Bound and listening under a temporary name, then renamed: a
	 * client never finds a socket file that refuses connections. */
	if (snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d", path,
		     (int)getpid()) >= (int)sizeof(tmp.sun_path))
		return va_log_errno(VA_LOG_ERR, -ENAMETOOLONG, "socket %s", path);
	unlink(tmp.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0) {
		err = -errno;
		close(fd);
		return va_log_errno(VA_LOG_ERR, err, "bind %s", tmp.sun_path);
	}
	/* Who may attach is the policy's business (SO_PEERCRED). */
	if (chmod(tmp.sun_path, 0666) < 0 || listen(fd, 64) < 0 ||
	    rename(tmp.sun_path, path) < 0) {
		err = -errno;
		close(fd);
		unlink(tmp.sun_path);
		return va_log_errno(VA_LOG_ERR, err, "listen on %s", path);
	}
	return fd;
}

/* "1,2,5-7" */
static int parse_domains(const char *arg, uint8_t *set)
{
	char buf[4096], *tok, *save = NULL, *dash, *end;
	unsigned long a, b, i;

	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		dash = strchr(tok, '-');
		if (dash)
			*dash = '\0';
		errno = 0;
		a = strtoul(tok, &end, 10);
		if (!*tok || *end || errno || a > VA_ARGO_DOMID_MAX)
			return -EINVAL;
		b = a;
		if (dash) {
			b = strtoul(dash + 1, &end, 10);
			if (!dash[1] || *end || errno || b > VA_ARGO_DOMID_MAX || b < a)
				return -EINVAL;
		}
		for (i = a; i <= b; i++)
			set[i] = 1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: virtio-argo-sim [OPTIONS]\n"
		"A user-space model of Xen's Argo service for virtio-argo.\n\n"
		"  -s, --sim-socket PATH listen on PATH (default: $%s, else %s)\n"
		"  -p, --policy FILE    access policy (default: allow everything)\n"
		"  -d, --domains LIST   create these domains at start, e.g. 1,2,5-7\n"
		"                       (domain 0 always exists)\n"
		"  -t, --attach-timeout MS\n"
		"                       close a connection that has not attached\n"
		"                       within MS milliseconds (default %u)\n"
		"  --log-level L        error, warning, notice, info, debug\n"
		"                       (default notice)\n"
		"  -h, --help           this help\n"
		"  -V, --version        version\n",
		VA_SIM_SOCKET_ENV, VA_SIM_SOCKET_DEFAULT, SIM_ATTACH_TIMEOUT_MS);
}

static void on_signal(struct sim *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
		va_info("signal %u, exiting", si.ssi_signo);
		s->quit = true;
	}
}

static int run(struct sim *s)
{
	struct epoll_event ev[64];
	int n, i, timeout = -1;

	while (!s->quit) {
		n = epoll_wait(s->epfd, ev, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return va_log_errno(VA_LOG_ERR, -errno, "epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr == &s->lfd)
				accept_clients(s);
			else if (ev[i].data.ptr == &s->sigfd)
				on_signal(s);
			else if (!((struct sim_client *)ev[i].data.ptr)->dead)
				client_read(s, ev[i].data.ptr);
		}
		timeout = waiting_expire(s);
		/* Freed only here: a later event of this batch may still
		 * name a dropped client. */
		client_reap(s);
	}
	return 0;
}

static void sim_cleanup(struct sim *s)
{
	struct sim_client *c;
	struct sim_domain *d;

	/* Every ring is marked dead and every client woken, so that they
	 * notice the service went away without waiting for an RPC. */
	for (d = s->domains; d; d = d->next)
		while (d->rings)
			ring_remove(d->rings, true);
	signal_all(s);
	for (c = s->clients; c; c = c->next)
		client_drop(s, c);
	client_reap(s);
	while ((d = s->domains)) {
		s->domains = d->next;
		free(d);
	}
	va_policy_free(s->policy);
}

struct sim_opts {
	const char *socket;		/* NULL: the default */
	const char *policy;		/* NULL: none */
	enum va_log_level log_level;
	uint8_t initial[VA_SIM_MAX_DOMAINS];	/* domains created at start */
};

/* Parse the command line into s and o.  Returns -1 to go on, else the
 * exit status. */
static int parse_options(int argc, char **argv, struct sim *s,
			 struct sim_opts *o)
{
	static const struct option opts[] = {
		{ "sim-socket", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "domains", required_argument, NULL, 'd' },
		{ "attach-timeout", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	unsigned long ul;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "s:p:d:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'p':
			o->policy = optarg;
			break;
		case 'd':
			if (parse_domains(optarg, o->initial) < 0) {
				fprintf(stderr, "virtio-argo-sim: bad --domains '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			errno = 0;
			ul = strtoul(optarg, &end, 10);
			if (!*optarg || *end || errno || !ul ||
			    ul > SIM_ATTACH_TIMEOUT_MAX) {
				fprintf(stderr, "virtio-argo-sim: bad --attach-timeout '%s' (1-%u ms)\n",
					optarg, SIM_ATTACH_TIMEOUT_MAX);
				return 2;
			}
			s->attach_timeout_ms = (unsigned int)ul;
			break;
		case 'L':
			if (va_log_parse_level(optarg, &o->log_level) < 0) {
				fprintf(stderr, "virtio-argo-sim: bad --log-level '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("virtio-argo-sim %s\n", VA_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Block SIGTERM/SIGINT into s->sigfd, and listen on s->path; both are
 * watched by s->epfd.  Returns 0, or -1 if the socket cannot be had. */
static int sim_open(struct sim *s)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->sigfd < 0 || s->epfd < 0)
		va_fatal("signalfd/epoll: %s", strerror(errno));
	s->lfd = listen_socket(s->path);
	if (s->lfd < 0)
		return -1;
	ev.data.ptr = &s->lfd;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev);
	ev.data.ptr = &s->sigfd;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev);
	return 0;
}

int main(int argc, char **argv)
{
	static struct sim s = { .attach_timeout_ms = SIM_ATTACH_TIMEOUT_MS };
	static struct sim_opts o = { .log_level = VA_LOG_INFO };
	unsigned int i;
	int err;

	err = parse_options(argc, argv, &s, &o);
	if (err >= 0)
		return err;
	va_log_init("virtio-argo-sim", o.log_level,
		    false);
	if (va_policy_load(o.policy, &s.policy) < 0)
		return 2;
	s.path = va_sim_socket_path(o.socket);
	if (sim_open(&s) < 0)
		return 1;

	o.initial[0] = 1;
	for (i = 0; i < VA_SIM_MAX_DOMAINS; i++)
		if (o.initial[i] && dom_create(&s, i) < 0)
			va_fatal("cannot create domain %u", i);
	va_info("listening on %s%s%s", s.path, o.policy ? ", policy " : "",
		o.policy ? o.policy : "");

	err = run(&s);
	close(s.lfd);
	unlink(s.path);
	sim_cleanup(&s);
	close(s.epfd);
	close(s.sigfd);
	return err < 0 ? 1 : 0;
}
