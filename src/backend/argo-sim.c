/* SPDX-License-Identifier: MIT */
/*
 * The sim back-end of the Argo access layer: a connection to
 * virtio-argo-sim over its Unix socket (protocol: sim-proto.h).
 *
 * One request, one reply, synchronously; a mutex makes a connection usable
 * from several threads.  A NOTIFY without entries is only sent while one
 * of our rings has senders waiting on it (VA_SIM_RING_WAITERS, see
 * sim-proto.h): it would wake nobody otherwise, and it is one round trip
 * per drained ring.  The "virq" is an eventfd we create and hand to the
 * simulator at attach; rings are memfds we create, map and hand over at
 * register (sealable: the simulator seals them against shrinking, so
 * that its mapping cannot fault).  Nothing the simulator sends is trusted beyond the length of a
 * reply: a reply longer than expected is a broken connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "argo-priv.h"
#include "log.h"
#include "sim-proto.h"

/*
 * Send buffer asked for: a sendv of several large records then goes into
 * the socket in one system call, and the simulator takes it in one or a
 * few reads, instead of both sides taking turns per default-sized buffer.
 */
#define SIM_SNDBUF		(4 * 1024 * 1024)

struct sim_argo {
	struct va_argo a;
	int sock;
	int efd;
	uint32_t seq;
	bool broken;			/* the connection is gone */
	pthread_mutex_t lock;
	struct sim_ring *rings;		/* registered here, under lock */
};

struct sim_ring {
	struct va_ring r;
	int memfd;
	size_t map_size;
	bool unregistered;
	struct sim_ring *next;		/* in sim_argo.rings */
};

static struct sim_argo *to_sim(struct va_argo *a)
{
	return (struct sim_argo *)a;
}

static int write_all(int fd, struct msghdr *mh)
{
	ssize_t n;

	for (;;) {
		n = sendmsg(fd, mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		mh->msg_control = NULL;
		mh->msg_controllen = 0;
		while (n > 0 && mh->msg_iovlen) {
			if ((size_t)n >= mh->msg_iov->iov_len) {
				n -= mh->msg_iov->iov_len;
				mh->msg_iov++;
				mh->msg_iovlen--;
			} else {
				mh->msg_iov->iov_base = (char *)mh->msg_iov->iov_base + n;
				mh->msg_iov->iov_len -= n;
				n = 0;
			}
		}
		while (mh->msg_iovlen && !mh->msg_iov->iov_len) {
			mh->msg_iov++;
			mh->msg_iovlen--;
		}
		if (!mh->msg_iovlen)
			return 0;
	}
}

static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One RPC.  `iov[0]` must be left free for the frame header; `out`, if
 * non-NULL, receives up to out_len reply body bytes (*ret_out_len the
 * count).  Returns the reply status, or a negative errno for a broken
 * connection (which marks it broken: -ENOTCONN from then on).
 */
static int rpc(struct sim_argo *s, uint16_t op, struct iovec *iov,
	       unsigned int niov, int pass_fd, void *out, uint32_t out_len,
	       uint32_t *ret_out_len)
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = { 0 };
	struct va_sim_hdr h = { 0 }, rh;
	uint64_t body = 0;
	unsigned int i;
	int err;

	if (s->broken)
		return -ENOTCONN;
	for (i = 1; i < niov; i++)
		body += iov[i].iov_len;
	if (body > VA_SIM_MAX_BODY)
		return -EINVAL;
	h.len = (uint32_t)body;
	h.op = op;
	h.seq = ++s->seq;
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	mh.msg_iov = iov;
	mh.msg_iovlen = niov;
	if (pass_fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cm.c.cmsg_level = SOL_SOCKET;
		cm.c.cmsg_type = SCM_RIGHTS;
		cm.c.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.c), &pass_fd, sizeof(int));
	}
	err = write_all(s->sock, &mh);
	if (err < 0)
		goto broken;
	err = read_all(s->sock, &rh, sizeof(rh));
	if (err < 0)
		goto broken;
	if (rh.op != op || rh.seq != h.seq || rh.len > out_len) {
		err = -EPROTO;
		goto broken;
	}
	if (rh.len) {
		err = read_all(s->sock, out, rh.len);
		if (err < 0)
			goto broken;
	}
	if (ret_out_len)
		*ret_out_len = rh.len;
	return rh.status;
broken:
	s->broken = true;
	va_debug("sim: connection lost: %s", strerror(-err));
	return -ENOTCONN;
}

static void sim_close(struct va_argo *a)
{
	struct sim_argo *s = to_sim(a);

	close(s->sock);
	close(s->efd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int sim_ack(struct va_argo *a)
{
	uint64_t v;

	while (read(to_sim(a)->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	return 0;
}

static int sim_register_ring(struct va_argo *a, uint32_t port,
			     uint16_t partner, uint32_t len,
			     struct va_ring **ret)
{
	struct sim_argo *s = to_sim(a);
	struct va_sim_register req = { .port = port, .partner = partner,
				       .len = len };
	struct iovec iov[2] = { { 0 }, { &req, sizeof(req) } };
	struct sim_ring *sr;
	void *map;
	int err;

	sr = calloc(1, sizeof(*sr));
	if (!sr)
		return -ENOMEM;
	sr->map_size = va_sim_ring_map_size(len);
	sr->memfd = memfd_create("va-argo-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (sr->memfd < 0) {
		err = -errno;
		goto err_free;
	}
	if (ftruncate(sr->memfd, (off_t)sr->map_size) < 0) {
		err = -errno;
		goto err_close;
	}
	map = mmap(NULL, sr->map_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   sr->memfd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto err_close;
	}
	sr->r.hdr = map;
	pthread_mutex_lock(&s->lock);
	err = rpc(s, VA_SIM_OP_REGISTER, iov, 2, sr->memfd, NULL, 0, NULL);
	if (err >= 0) {
		sr->next = s->rings;
		s->rings = sr;
	}
	pthread_mutex_unlock(&s->lock);
	if (err < 0)
		goto err_unmap;
	*ret = &sr->r;
	return 0;
err_unmap:
	munmap(map, sr->map_size);
err_close:
	close(sr->memfd);
err_free:
	free(sr);
	return err;
}

static bool sim_ring_alive(const struct va_ring *r)
{
	const struct sim_ring *sr = (const struct sim_ring *)r;
	const struct sim_argo *s = (const struct sim_argo *)r->argo;
	uint32_t w;

	if (sr->unregistered || s->broken)
		return false;
	w = __atomic_load_n((const uint32_t *)(const void *)r->hdr->reserved,
			    __ATOMIC_ACQUIRE);
	return !(w & VA_SIM_RING_DEAD);
}

static void sim_unregister_ring(struct va_ring *r)
{
	struct sim_ring *sr = (struct sim_ring *)r;
	struct sim_argo *s = to_sim(r->argo);
	struct va_sim_unregister req = { .port = r->port, .partner = r->partner };
	struct iovec iov[2] = { { 0 }, { &req, sizeof(req) } };
	struct sim_ring **pp;
	bool alive = sim_ring_alive(r);

	pthread_mutex_lock(&s->lock);
	if (alive)
		rpc(s, VA_SIM_OP_UNREGISTER, iov, 2, -1, NULL, 0, NULL);
	for (pp = &s->rings; *pp; pp = &(*pp)->next) {
		if (*pp == sr) {
			*pp = sr->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	munmap(r->hdr, sr->map_size);
	close(sr->memfd);
	free(sr);
}

static ssize_t sim_sendv(struct va_argo *a, uint32_t src_port,
			 uint16_t dst_dom, uint32_t dst_port,
			 const struct iovec *iov, unsigned int niov,
			 uint32_t message_type)
{
	struct sim_argo *s = to_sim(a);
	struct va_sim_sendv req = {
		.src_port = src_port,
		.src_dom = a->self_domid,
		.dst_dom = dst_dom,
		.dst_port = dst_port,
		.message_type = message_type,
	};
	struct iovec v[2 + VA_ARGO_MAX_IOV];
	uint64_t total = 0;
	unsigned int i;
	int ret;

	if (niov > VA_ARGO_MAX_IOV)
		return -EINVAL;
	v[1].iov_base = &req;
	v[1].iov_len = sizeof(req);
	for (i = 0; i < niov; i++) {
		v[2 + i] = iov[i];
		total += iov[i].iov_len;
	}
	if (total > VA_ARGO_MAX_MSG_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	ret = rpc(s, VA_SIM_OP_SENDV, v, 2 + niov, -1, NULL, 0, NULL);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Does a NOTIFY without entries have anyone to wake?  Under s->lock. */
static bool sim_any_waiters(const struct sim_argo *s)
{
	const struct sim_ring *sr;
	uint32_t w;

	/* Our rx_ptr stores (va_ring_consume) before the simulator's word:
	 * pairs with its barrier after setting the bit. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (sr = s->rings; sr; sr = sr->next) {
		w = __atomic_load_n((const uint32_t *)(const void *)sr->r.hdr->reserved,
				    __ATOMIC_RELAXED);
		if ((w & VA_SIM_RING_WAITERS) && !(w & VA_SIM_RING_DEAD))
			return true;
	}
	return false;
}

static int sim_notify(struct va_argo *a, struct va_argo_query *ents,
		      unsigned int n)
{
	struct sim_argo *s = to_sim(a);
	struct va_sim_notify req = { .nent = n };
	struct va_sim_notify_ent *e = NULL;
	struct iovec iov[3] = { { 0 }, { &req, sizeof(req) } };
	uint32_t got = 0;
	unsigned int i;
	int ret;

	if (n) {
		e = calloc(n, sizeof(*e));
		if (!e)
			return -ENOMEM;
		for (i = 0; i < n; i++) {
			e[i].port = ents[i].port;
			e[i].domid = ents[i].domid;
			e[i].space_required = ents[i].space_required;
		}
	}
	iov[2].iov_base = e;
	iov[2].iov_len = n * sizeof(*e);
	pthread_mutex_lock(&s->lock);
	if (!n && !s->broken && !sim_any_waiters(s))
		ret = 0;
	else
		ret = rpc(s, VA_SIM_OP_NOTIFY, iov, n ? 3 : 2, -1, e,
			  n * sizeof(*e), &got);
	pthread_mutex_unlock(&s->lock);
	if (ret >= 0 && n) {
		if (got != n * sizeof(*e)) {
			ret = -EPROTO;
		} else {
			for (i = 0; i < n; i++) {
				ents[i].flags = e[i].flags;
				ents[i].max_message_size = e[i].max_message_size;
			}
		}
	}
	free(e);
	return ret;
}

static int sim_domain_exists(struct va_argo *a, uint16_t domid)
{
	struct sim_argo *s = to_sim(a);
	struct va_sim_domain req = { .domid = domid };
	struct iovec iov[2] = { { 0 }, { &req, sizeof(req) } };
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = rpc(s, VA_SIM_OP_DOMAIN_EXISTS, iov, 2, -1, NULL, 0, NULL);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static const struct va_argo_ops sim_ops = {
	.close = sim_close,
	.ack = sim_ack,
	.register_ring = sim_register_ring,
	.unregister_ring = sim_unregister_ring,
	.sendv = sim_sendv,
	.notify = sim_notify,
	.domain_exists = sim_domain_exists,
	.ring_alive = sim_ring_alive,
};

static int sim_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, sndbuf = SIM_SNDBUF;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Best effort (the kernel caps it at net.core.wmem_max). */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Connects and attaches; with VA_SIM_ATTACH_CONTROL no eventfd is made. */
static int sim_attach(const struct va_argo_opts *opts, uint32_t flags,
		      struct sim_argo **ret)
{
	const char *path = va_sim_socket_path(opts->sim_socket);
	struct va_sim_attach req = {
		.magic = VA_SIM_MAGIC,
		.version = VA_SIM_VERSION,
		.domid = opts->self_domid,
		.flags = flags,
	};
	struct iovec iov[2] = { { 0 }, { &req, sizeof(req) } };
	struct sim_argo *s;
	int err;

	if (!(flags & VA_SIM_ATTACH_CONTROL) &&
	    opts->self_domid > VA_ARGO_DOMID_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->efd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->sock = sim_connect(path);
	if (s->sock < 0) {
		err = s->sock;
		va_debug("sim: cannot connect to %s: %s", path, strerror(-err));
		goto err_free;
	}
	if (!(flags & VA_SIM_ATTACH_CONTROL)) {
		s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (s->efd < 0) {
			err = -errno;
			goto err_close;
		}
	}
	err = rpc(s, VA_SIM_OP_ATTACH, iov, 2, s->efd, NULL, 0, NULL);
	if (err < 0)
		goto err_close;
	s->a.ops = &sim_ops;
	s->a.transport = VA_TRANSPORT_SIM;
	s->a.self_domid = opts->self_domid;
	s->a.fd = s->efd;
	*ret = s;
	return 0;
err_close:
	if (s->efd >= 0)
		close(s->efd);
	close(s->sock);
err_free:
	pthread_mutex_destroy(&s->lock);
	free(s);
	return err;
}

int va_argo_sim_open(const struct va_argo_opts *opts, struct va_argo **ret)
{
	struct sim_argo *s = NULL;
	int err;

	err = sim_attach(opts, opts->create_domain ? VA_SIM_ATTACH_CREATE : 0,
			 &s);
	if (err < 0)
		return err;
	*ret = &s->a;
	return 0;
}
