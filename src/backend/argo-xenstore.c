/* SPDX-License-Identifier: MIT */
/*
 * XenStore for the xen back-end (argo-xen.c): watches on domain
 * introduction and release, liveness and names of domains.  Built as its
 * own library (va-xenstore), the only one that links libxenstore; programs
 * that want domain names and liveness (the daemons) link it whole, and
 * argo-xen.c finds it through the weak symbol va_xenstore_ops
 * (argo-priv.h).  The simulator and the user-space guest do without.
 *
 * Access: in dom0, only through xenstored's socket, tried first (when
 * dom0 runs no xenstored, a request on /dev/xen/xenbus blocks forever, and
 * xs_open falls back to it); in any other domain also through the kernel's
 * xenbus device (xenstored runs elsewhere and is up, or the domain would
 * not exist).
 *
 * A driver domain other than dom0 is unprivileged: xenstored 4.17 answers
 * its IS_DOMAIN_INTRODUCED with EACCES, lets it not list /local/domain nor
 * read another domain's name, and sends it @introduceDomain and
 * @releaseDomain events only if dom0 granted it read access to those
 * nodes.  There the toolstack tells it which guests it serves: one key per
 * guest in its own subtree, VA_XS_GUESTS/NAME = the guest's domid
 * (config/virtio-argo-xs-guest writes it), which it may read and watch.  A name
 * resolves through that key alone; a domain is alive while a key names
 * it, or as long as no key exists at all (--domid without the toolstack's
 * keys: a guest's death is seen when sends fail, as without XenStore).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xenstore.h>
#include <xenstore_lib.h>

#include "argo-priv.h"
#include "log.h"

#define XS_WATCH_TOKEN	"virtio-argo"
/* Relative to the domain's own /local/domain/N (docs/architecture.md). */
#define VA_XS_GUESTS	"virtio-argo/guest"

struct va_xenstore {
	struct xs_handle *xs;
	uint16_t self_domid;
	bool unprivileged;	/* no IS_DOMAIN_INTRODUCED, no listing */
};

static bool xenstored_listening(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = xs_daemon_socket();
	bool ok;
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void xst_close(struct va_xenstore *s)
{
	if (!s)
		return;
	xs_close(s->xs);
	free(s);
}

static struct va_xenstore *xst_open(bool dom0, uint16_t self_domid)
{
	struct va_xenstore *s;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->self_domid = self_domid;
	errno = ENOENT;
	s->xs = !dom0 || xenstored_listening() ? xs_open(0) : NULL;
	if (!s->xs) {
		va_info("argo: no XenStore (%s): domains are waited for by "
			"retrying, a guest's death is seen when sends fail",
			dom0 ? "no xenstored socket" : strerror(errno));
		free(s);
		return NULL;
	}
	/* Asking about dom0, which always exists, tells the privilege. */
	errno = 0;
	if (!dom0 && !xs_is_domain_introduced(s->xs, 0) && errno == EACCES) {
		s->unprivileged = true;
		va_info("argo: XenStore without privilege: guests by the "
			"toolstack's keys under our " VA_XS_GUESTS "/");
	}
	if (!xs_watch(s->xs, "@introduceDomain", XS_WATCH_TOKEN) ||
	    !xs_watch(s->xs, "@releaseDomain", XS_WATCH_TOKEN) ||
	    (s->unprivileged &&
	     !xs_watch(s->xs, VA_XS_GUESTS, XS_WATCH_TOKEN))) {
		va_warn("argo: XenStore watches: %s; going on without XenStore",
			strerror(errno));
		xst_close(s);
		return NULL;
	}
	return s;
}

static int xst_fd(struct va_xenstore *s)
{
	return xs_fileno(s->xs);
}

static bool xst_changed(struct va_xenstore *s)
{
	bool changed = false;
	char **w;

	while ((w = xs_check_watch(s->xs)) != NULL) {
		free(w);
		changed = true;
	}
	return changed;
}

/* The domid in key VA_XS_GUESTS/name: 0, -ENOENT, -errno. */
static int guest_key(struct va_xenstore *s, const char *name, uint16_t *domid)
{
	char path[300], *v, *end;
	unsigned long id;
	unsigned int len;
	int err = -EINVAL;

	if ((size_t)snprintf(path, sizeof(path), VA_XS_GUESTS "/%s", name) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	v = xs_read(s->xs, XBT_NULL, path, &len);
	if (!v)
		return errno ? -errno : -EIO;
	errno = 0;
	id = strtoul(v, &end, 10);
	if (!errno && *end == '\0' && end != v && id <= VA_ARGO_DOMID_MAX) {
		*domid = (uint16_t)id;
		err = 0;
	}
	free(v);
	return err;
}

/* Unprivileged: does a key name domid, or is there no key at all? */
static bool unpriv_alive(struct va_xenstore *s, uint16_t domid)
{
	unsigned int i, n = 0;
	bool alive = false;
	char **names;

	names = xs_directory(s->xs, XBT_NULL, VA_XS_GUESTS, &n);
	if (!names)
		return true;
	for (i = 0; i < n && !alive; i++) {
		uint16_t id;

		alive = guest_key(s, names[i], &id) == 0 && id == domid;
	}
	free(names);
	return alive || n == 0;
}

/* Is domid introduced to XenStore?  Ourselves always. */
static bool xst_alive(struct va_xenstore *s, uint16_t domid)
{
	if (domid == s->self_domid)
		return true;
	if (s->unprivileged)
		return unpriv_alive(s, domid);
	return xs_is_domain_introduced(s->xs, domid);
}

static int xst_lookup(struct va_xenstore *s, const char *name,
		      uint16_t *ret_domid)
{
	unsigned int i, n = 0, len;
	char path[64], **ids;
	int err = -ENOENT;

	if (s->unprivileged)
		return guest_key(s, name, ret_domid);
	ids = xs_directory(s->xs, XBT_NULL, "/local/domain", &n);
	if (!ids)
		return errno ? -errno : -EIO;
	for (i = 0; i < n && err == -ENOENT; i++) {
		unsigned long id;
		char *end, *v;

		errno = 0;
		id = strtoul(ids[i], &end, 10);
		if (errno || *end || end == ids[i] || id > VA_ARGO_DOMID_MAX)
			continue;
		snprintf(path, sizeof(path), "/local/domain/%lu/name", id);
		v = xs_read(s->xs, XBT_NULL, path, &len);
		if (v && len == strlen(name) && !memcmp(v, name, len) &&
		    xst_alive(s, (uint16_t)id)) {
			*ret_domid = (uint16_t)id;
			err = 0;
		}
		free(v);
	}
	free(ids);
	return err;
}

const struct va_xenstore_ops va_xenstore_ops = {
	.open = xst_open,
	.close = xst_close,
	.fd = xst_fd,
	.changed = xst_changed,
	.alive = xst_alive,
	.lookup = xst_lookup,
};
