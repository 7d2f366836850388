/* SPDX-License-Identifier: MIT */
/*
 * The driver session's device state (protocol.md section 11.4): what a
 * driver established through control commands, kept by the core for the
 * session that established it and mirrored in a file, so that a restarted
 * daemon gives it back to the device when the same driver session
 * renegotiates.
 *
 * File: <state_dir>/<name>-<guest>-<port>.state, a header (below) and the
 * device's bytes; written whole to a temporary file, synced, and renamed
 * over the old one, the directory synced after: a reader sees the old or
 * the new contents, never a mix, also after the driver domain itself was
 * destroyed or crashed (its state directory on a disk that outlives it).
 * Host byte order: the file never leaves the host.  A file that does not
 * check out (size, magic, version, device id, port, length, checksum) is
 * refused with a log line and left alone until the next save replaces it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device-priv.h"
#include "log.h"

#define STATE_MAGIC	"VA-STATE"
#define STATE_VERSION	1u

struct state_hdr {
	char magic[8];
	uint32_t version;
	uint32_t device_id;
	uint32_t port;
	uint32_t session;		/* the driver session it belongs to */
	uint16_t domid;			/* the guest it came from */
	uint16_t reserved;
	uint32_t len;			/* the device's bytes that follow */
	uint32_t check;			/* FNV-1a of header (check 0) and bytes */
};

static uint32_t fnv1a(uint32_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static uint32_t state_check(const struct state_hdr *h, const void *data)
{
	struct state_hdr c = *h;

	c.check = 0;
	return fnv1a(fnv1a(2166136261u, &c, sizeof(c)), data, h->len);
}

/* mkdir -p, 0755 for what it creates. */
static int make_dirs(const char *dir)
{
	char *p, *s = strdup(dir);
	int r = 0;

	if (!s)
		return -ENOMEM;
	for (p = s + 1; ; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = 0;
		if (mkdir(s, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(s);
	return r;
}

static void state_forget(struct va_dev *dev)
{
	free(dev->st.data);
	dev->st.data = NULL;
	dev->st.len = 0;
	dev->st.session = 0;
}

/* Reads the file into dev->st; a file that does not check out is
 * refused (logged) and leaves dev->st empty. */
static void state_load(struct va_dev *dev)
{
	struct state_hdr h;
	const char *why = NULL;
	uint8_t *data = NULL;
	struct stat sb;
	ssize_t n;
	int fd;

	fd = open(dev->st.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			va_warn("%s: state file %s ignored: %s", dev->name,
				dev->st.path, strerror(errno));
		return;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		why = "not a regular file";
	else if ((size_t)sb.st_size < sizeof(h))
		why = "truncated header";
	else if (read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h))
		why = "unreadable";
	else if (memcmp(h.magic, STATE_MAGIC, sizeof(h.magic)))
		why = "not a state file";
	else if (h.version != STATE_VERSION)
		why = "unknown version";
	else if (h.device_id != dev->info.device_id || h.port != dev->port)
		why = "another device's";
	else if (!h.session || !h.len || h.len > VA_DEV_STATE_MAX)
		why = "bad length or session";
	else if ((size_t)sb.st_size != sizeof(h) + h.len)
		why = "wrong size";
	else if (!(data = malloc(h.len)))
		why = "out of memory";
	else if ((n = read(fd, data, h.len)) != (ssize_t)h.len)
		why = "unreadable";
	else if (state_check(&h, data) != h.check)
		why = "checksum mismatch";
	close(fd);
	if (why) {
		va_warn("%s: state file %s ignored: %s", dev->name,
			dev->st.path, why);
		free(data);
		return;
	}
	dev->st.data = data;
	dev->st.len = h.len;
	dev->st.session = h.session;
	dev->st.domid = h.domid;
	va_info("%s: state file %s: driver session %#x of dom%u, %u bytes",
		dev->name, dev->st.path, h.session, h.domid, h.len);
}

int dev_state_open(struct va_dev *dev, const char *dir,
		   const char *guest_name)
{
	char guest[64];
	size_t i;
	int r;

	/* A device that restores nothing (blkd) needs no file. */
	if (!dir || !*dir || !dev->ops->restore_state)
		return 0;
	if (guest_name) {
		/* A file name of the domain's name, whatever it holds. */
		snprintf(guest, sizeof(guest), "%s", guest_name);
		for (i = 0; guest[i]; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
				    guest[i]))
				guest[i] = '_';
	} else {
		snprintf(guest, sizeof(guest), "dom%u", dev->guest);
	}
	r = make_dirs(dir);
	if (r < 0) {
		va_err("%s: state directory %s: %s", dev->name, dir,
		       strerror(-r));
		return r;
	}
	if (asprintf(&dev->st.path, "%s/%s-%s-%#x.state", dir, dev->name,
		     guest, dev->port) < 0) {
		dev->st.path = NULL;
		return -ENOMEM;
	}
	state_load(dev);
	return 0;
}

void dev_state_free(struct va_dev *dev)
{
	state_forget(dev);
	free(dev->st.path);
	dev->st.path = NULL;
}

void dev_state_session(struct va_dev *dev)
{
	if (!dev->st.session || (dev->st.session == dev->drv_session &&
				 dev->st.domid == dev->guest))
		return;
	va_notice("%s: dom%u: state of driver session %#x (dom%u) discarded: "
		  "the driver's session is %#x", dev->name, dev->guest,
		  dev->st.session, dev->st.domid, dev->drv_session);
	state_forget(dev);
	if (dev->st.path && unlink(dev->st.path) < 0 && errno != ENOENT)
		va_warn("%s: state file %s: %s", dev->name, dev->st.path,
			strerror(errno));
}

void dev_state_restore(struct va_dev *dev)
{
	if (!dev->st.session || dev->st.session != dev->drv_session ||
	    !dev->ops->restore_state)
		return;
	if (dev->ops->restore_state(dev->opaque, dev->st.data,
				    dev->st.len) < 0) {
		va_warn("%s: dom%u: state of driver session %#x refused by "
			"the device, discarded", dev->name, dev->guest,
			dev->st.session);
		state_forget(dev);
		return;
	}
	va_notice("%s: dom%u: state of driver session %#x restored (%u bytes)",
		  dev->name, dev->guest, dev->st.session, dev->st.len);
}

/* fsync the directory that holds PATH: the rename itself made durable. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, r = 0;

	dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return -ENOMEM;
	fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
	} else {
		if (fsync(fd) < 0)
			r = -errno;
		close(fd);
	}
	free(dir);
	return r;
}

/*
 * The state file written and put in place: 0, or -errno with `*what`
 * saying how far it got (the directory's sync failing leaves the new
 * file in place, which a restarted daemon of this domain reads, but maybe
 * not after the domain's end).
 */
static int state_write(struct va_dev *dev, const char **what)
{
	struct state_hdr h;
	char *tmp;
	int fd, r = 0;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, STATE_MAGIC, sizeof(h.magic));
	h.version = STATE_VERSION;
	h.device_id = dev->info.device_id;
	h.port = dev->port;
	h.session = dev->st.session;
	h.domid = dev->st.domid;
	h.len = dev->st.len;
	h.check = state_check(&h, dev->st.data);
	*what = "not written";
	if (asprintf(&tmp, "%s.tmp", dev->st.path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
	} else {
		if (write(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
		    write(fd, dev->st.data, h.len) != (ssize_t)h.len)
			r = errno ? -errno : -EIO;
		if (!r && fdatasync(fd) < 0)
			r = -errno;
		if (close(fd) < 0 && !r)
			r = -errno;
		if (!r && rename(tmp, dev->st.path) < 0)
			r = -errno;
		if (r) {
			unlink(tmp);
		} else {
			r = sync_dir(dev->st.path);
			*what = "written, but its directory not synced";
		}
	}
	free(tmp);
	return r;
}

int va_dev_state_save(struct va_dev *dev, const void *data, uint32_t len)
{
	const char *what;
	uint8_t *copy;
	int r;

	if (!len || len > VA_DEV_STATE_MAX)
		return -EINVAL;
	if (!dev->drv_session)
		return -ENOTCONN;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	free(dev->st.data);
	dev->st.data = copy;
	dev->st.len = len;
	dev->st.session = dev->drv_session;
	dev->st.domid = dev->guest;
	if (!dev->st.path)
		return 0;
	errno = 0;
	r = state_write(dev, &what);
	if (r < 0)
		va_log_ratelimited(&dev->rl_log, VA_LOG_WARN,
				   "%s: state file %s %s: %s",
				   dev->name, dev->st.path, what, strerror(-r));
	return r;
}
