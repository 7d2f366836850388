/* SPDX-License-Identifier: MIT */
/*
 * virtio-argo-guest blk fuse MOUNTDIR: the virtio-blk device as one file,
 * MOUNTDIR/disk, through libfuse3, so that real tools (mkfs.ext4, e2fsck,
 * losetup and mount, fio with psync or libaio+direct=1) run against a
 * virtio-argo backend in simulator mode.
 *
 * Threads: libfuse's worker threads turn each read/write/fsync into
 * virtio-blk requests; one poller thread runs va_guest_process().  libva-
 * guest is single-threaded, so `lock` guards every call into it; a caller
 * submits under the lock, wakes the poller (eventfd) and sleeps on `cond`
 * until its request's callback ran.  Requests larger than what one request
 * may carry are split; unaligned writes are read-modify-write, made
 * exclusive against other writes by `rmw` (aligned I/O takes it shared).
 *
 * Semantics: no writeback cache in FUSE (every write reaches the device
 * before write() returns), fsync/fdatasync on the file is a FLUSH, a
 * device error is EIO.  The file cannot be resized; SIGHUP on the backend
 * (a capacity change) is picked up from EVENT_CONFIG.
 */
#define FUSE_USE_VERSION 31

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_blk.h>

#include "guest-blk.h"
#include "guest-tool.h"

struct fblk {
	struct gblk gb;
	pthread_mutex_t lock;		/* guards gb (libva-guest) */
	pthread_cond_t cond;		/* a request completed */
	pthread_rwlock_t rmw;		/* read-modify-write exclusion */
	int wake_fd;
	pthread_t poller;
	bool stop;			/* under lock */
	bool refresh;			/* under lock: config changed */
	unsigned int next_queue;	/* under lock */
	char path[256];			/* "/" + file name */
};

struct fwait {
	bool done;
	int result;
	uint8_t status;
};

static struct fblk *fb_get(void)
{
	return fuse_get_context()->private_data;
}

static void wake_poller(struct fblk *fb)
{
	uint64_t one = 1;

	if (write(fb->wake_fd, &one, sizeof(one)) < 0) {
		/* eventfd counter saturated: the poller is awake anyway. */
	}
}

static void on_done(struct va_guest *g, uint32_t id, int result, void *opaque)
{
	struct fwait *w = opaque;

	w->result = result;
	w->done = true;
}

static void on_config(struct va_guest *g, void *opaque)
{
	struct fblk *fb = opaque;

	fb->refresh = true;
}

static void *poller_main(void *arg)
{
	struct fblk *fb = arg;
	uint64_t v;

	pthread_mutex_lock(&fb->lock);
	while (!fb->stop) {
		struct pollfd pfd[2] = {
			{ .fd = va_guest_fd(fb->gb.g), .events = POLLIN },
			{ .fd = fb->wake_fd, .events = POLLIN },
		};
		int t = va_guest_timeout_ms(fb->gb.g);

		pthread_mutex_unlock(&fb->lock);
		poll(pfd, 2, t < 0 || t > 1000 ? 1000 : t);
		if (pfd[1].revents & POLLIN) {
			if (read(fb->wake_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: someone else drained it. */
			}
		}
		pthread_mutex_lock(&fb->lock);
		va_guest_process(fb->gb.g);
		va_guest_flush(fb->gb.g);
		if (fb->refresh) {
			fb->refresh = false;
			gblk_refresh(&fb->gb);
		}
		pthread_cond_broadcast(&fb->cond);
	}
	pthread_mutex_unlock(&fb->lock);
	return NULL;
}

/* One request of at most max_data bytes, synchronously. */
static int do_req(struct fblk *fb, uint32_t type, uint64_t sector, void *buf,
		  uint32_t len)
{
	struct fwait w = { 0 };
	int64_t id;
	uint16_t nq;

	pthread_mutex_lock(&fb->lock);
	for (;;) {
		nq = va_guest_num_queues(fb->gb.g);
		id = gblk_submit(&fb->gb, (uint16_t)(fb->next_queue++ % (nq ? nq : 1)),
				 type, sector, buf, len, &w.status, on_done, &w);
		if (id != -ENOSPC)
			break;
		/* The queue is full: wait for a completion. */
		pthread_cond_wait(&fb->cond, &fb->lock);
	}
	if (id < 0) {
		pthread_mutex_unlock(&fb->lock);
		return -EIO;
	}
	va_guest_flush(fb->gb.g);
	wake_poller(fb);
	while (!w.done)
		pthread_cond_wait(&fb->cond, &fb->lock);
	pthread_mutex_unlock(&fb->lock);
	if (w.result < 0 || w.status != VIRTIO_BLK_S_OK)
		return -EIO;
	return 0;
}

/* Aligned transfer of any length, split into requests. */
static int do_io(struct fblk *fb, uint32_t type, uint64_t off, uint8_t *buf,
		 uint64_t len)
{
	uint32_t max = fb->gb.max_data;

	while (len) {
		uint32_t n = len < max ? (uint32_t)len : max;
		int r = do_req(fb, type, off / 512, buf, n);

		if (r < 0)
			return r;
		off += n;
		buf += n;
		len -= n;
	}
	return 0;
}

static uint64_t dev_size(struct fblk *fb)
{
	uint64_t s;

	pthread_mutex_lock(&fb->lock);
	s = fb->gb.capacity * 512;
	pthread_mutex_unlock(&fb->lock);
	return s;
}

static int f_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fblk *fb = fb_get();

	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, fb->path))
		return -ENOENT;
	st->st_mode = S_IFREG | (fb->gb.readonly ? 0444 : 0644);
	st->st_nlink = 1;
	st->st_size = (off_t)dev_size(fb);
	st->st_blksize = (blksize_t)fb->gb.block_size;
	st->st_blocks = st->st_size / 512;
	st->st_uid = getuid();
	st->st_gid = getgid();
	return 0;
}

static int f_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		     off_t off, struct fuse_file_info *fi,
		     enum fuse_readdir_flags flags)
{
	struct fblk *fb = fb_get();

	if (strcmp(path, "/"))
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, fb->path + 1, NULL, 0, 0);
	return 0;
}

static int f_open(const char *path, struct fuse_file_info *fi)
{
	struct fblk *fb = fb_get();

	if (strcmp(path, fb->path))
		return -ENOENT;
	if (fb->gb.readonly && (fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	fi->keep_cache = 0;
	return 0;
}

static int f_read(const char *path, char *buf, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct fblk *fb = fb_get();
	uint64_t dsize = dev_size(fb), bs = fb->gb.block_size, start, end;
	uint8_t *tmp;
	int r;

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= dsize || size == 0)
		return 0;
	if (size > dsize - (uint64_t)off)
		size = (size_t)(dsize - (uint64_t)off);
	start = (uint64_t)off / bs * bs;
	end = ((uint64_t)off + size + bs - 1) / bs * bs;
	pthread_rwlock_rdlock(&fb->rmw);
	if (start == (uint64_t)off && end == (uint64_t)off + size) {
		r = do_io(fb, VIRTIO_BLK_T_IN, start, (uint8_t *)buf, size);
	} else {
		tmp = malloc(end - start);
		if (!tmp) {
			pthread_rwlock_unlock(&fb->rmw);
			return -ENOMEM;
		}
		r = do_io(fb, VIRTIO_BLK_T_IN, start, tmp, end - start);
		if (r == 0)
			memcpy(buf, tmp + ((uint64_t)off - start), size);
		free(tmp);
	}
	pthread_rwlock_unlock(&fb->rmw);
	return r < 0 ? r : (int)size;
}

static int f_write(const char *path, const char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fblk *fb = fb_get();
	uint64_t dsize = dev_size(fb), bs = fb->gb.block_size, start, end;
	uint8_t *tmp;
	int r;

	if (fb->gb.readonly)
		return -EROFS;
	if (off < 0)
		return -EINVAL;
	if (size == 0)
		return 0;
	if ((uint64_t)off >= dsize || size > dsize - (uint64_t)off)
		return -ENOSPC;
	start = (uint64_t)off / bs * bs;
	end = ((uint64_t)off + size + bs - 1) / bs * bs;
	if (start == (uint64_t)off && end == (uint64_t)off + size) {
		pthread_rwlock_rdlock(&fb->rmw);
		r = do_io(fb, VIRTIO_BLK_T_OUT, start, (uint8_t *)buf, size);
		pthread_rwlock_unlock(&fb->rmw);
		return r < 0 ? r : (int)size;
	}
	/* Read-modify-write of the partial blocks at the ends. */
	tmp = malloc(end - start);
	if (!tmp)
		return -ENOMEM;
	pthread_rwlock_wrlock(&fb->rmw);
	r = do_io(fb, VIRTIO_BLK_T_IN, start, tmp, bs);
	if (r == 0 && end - start > bs)
		r = do_io(fb, VIRTIO_BLK_T_IN, end - bs, tmp + (end - start - bs), bs);
	if (r == 0) {
		memcpy(tmp + ((uint64_t)off - start), buf, size);
		r = do_io(fb, VIRTIO_BLK_T_OUT, start, tmp, end - start);
	}
	pthread_rwlock_unlock(&fb->rmw);
	free(tmp);
	return r < 0 ? r : (int)size;
}

/*
 * fallocate: PUNCH_HOLE (with KEEP_SIZE) becomes DISCARD, ZERO_RANGE
 * WRITE_ZEROES, each of whole blocks and split at the device's limits.
 * So fstrim, blkdiscard and mkfs on a loop device over the file reach
 * the device.
 */
static int f_fallocate(const char *path, int mode, off_t off, off_t len,
		       struct fuse_file_info *fi)
{
	struct fblk *fb = fb_get();
	uint64_t bs = fb->gb.block_size, dsize = dev_size(fb), pos, end;
	uint32_t type, max;
	int r;

	if (fb->gb.readonly)
		return -EROFS;
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		type = VIRTIO_BLK_T_DISCARD;
		max = fb->gb.max_discard;
	} else if (mode == FALLOC_FL_ZERO_RANGE ||
		   mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
		type = VIRTIO_BLK_T_WRITE_ZEROES;
		max = fb->gb.max_write_zeroes;
	} else {
		return -EOPNOTSUPP;
	}
	if (!max)
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0 || (uint64_t)off % bs || (uint64_t)len % bs)
		return -EINVAL;
	if ((uint64_t)off > dsize || (uint64_t)len > dsize - (uint64_t)off)
		return -ENOSPC;
	/* Whole blocks of the limit, at least one block. */
	max -= max % (uint32_t)(bs / 512);
	if (!max)
		max = (uint32_t)(bs / 512);
	end = ((uint64_t)off + (uint64_t)len) / 512;
	pthread_rwlock_rdlock(&fb->rmw);
	for (pos = (uint64_t)off / 512, r = 0; pos < end && r == 0;) {
		uint32_t n = end - pos < max ? (uint32_t)(end - pos) : max;
		struct virtio_blk_discard_write_zeroes seg = {
			.sector = htole64(pos),
			.num_sectors = htole32(n),
		};

		r = do_req(fb, type, 0, &seg, sizeof(seg));
		pos += n;
	}
	pthread_rwlock_unlock(&fb->rmw);
	return r;
}

static int f_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct fblk *fb = fb_get();

	/* Without FLUSH the device is writethrough: nothing to do. */
	if (!fb->gb.flush)
		return 0;
	return do_req(fb, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
}

static int f_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fblk *fb = fb_get();

	if (strcmp(path, fb->path))
		return -ENOENT;
	return (uint64_t)size == dev_size(fb) ? 0 : -EPERM;
}

static int f_utimens(const char *path, const struct timespec tv[2],
		     struct fuse_file_info *fi)
{
	return 0;
}

static void *f_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* No caching in the kernel beyond what a request needs: the device
	 * is the truth, and write() returns after the device answered. */
	cfg->kernel_cache = 0;
	cfg->direct_io = 0;
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	return fuse_get_context()->private_data;
}

static const struct fuse_operations fblk_ops = {
	.init = f_init,
	.getattr = f_getattr,
	.readdir = f_readdir,
	.open = f_open,
	.fallocate = f_fallocate,
	.read = f_read,
	.write = f_write,
	.fsync = f_fsync,
	.truncate = f_truncate,
	.utimens = f_utimens,
};

static const char fuse_usage[] =
"Usage: virtio-argo-guest blk fuse MOUNTDIR [options]\n"
"Expose the virtio-blk device as the file MOUNTDIR/disk (runs in the\n"
"foreground until unmounted or signalled).\n"
"\n"
"  --name NAME           file name inside MOUNTDIR (default disk)\n"
"  --allow-other         let other users (e.g. the loop driver's callers) in\n"
"  --debug               libfuse debug output\n"
"  --help\n";

enum { OPT_NAME = 1, OPT_ALLOW_OTHER, OPT_DEBUG, OPT_HELP };

static const struct option fuse_opts[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "allow-other", no_argument, NULL, OPT_ALLOW_OTHER },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* What fuse's options say. */
struct fblk_args {
	const char *name;
	const char *mountdir;
	bool allow_other;
	bool debug;
};

/* 0: run; 1: --help printed; -1: bad usage (said why). */
static int fblk_parse(struct fblk_args *a, int argc, char **argv)
{
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", fuse_opts, NULL)) != -1) {
		switch (c) {
		case OPT_NAME:
			a->name = optarg;
			if (!*a->name || strchr(a->name, '/') ||
			    strlen(a->name) > 200 || !strcmp(a->name, ".") ||
			    !strcmp(a->name, "..")) {
				fprintf(stderr, "virtio-argo-guest: bad --name\n");
				return -1;
			}
			break;
		case OPT_ALLOW_OTHER:
			a->allow_other = true;
			break;
		case OPT_DEBUG:
			a->debug = true;
			break;
		case OPT_HELP:
			fputs(fuse_usage, stdout);
			return 1;
		default:
			return -1;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "virtio-argo-guest: blk fuse needs one MOUNTDIR\n");
		return -1;
	}
	a->mountdir = argv[optind];
	return 0;
}

/* Serves the device as a FUSE file until unmounted: fuse_main's result. */
static int fblk_serve(struct fblk *fb, const struct fblk_args *a,
		      char *argv0)
{
	char *fargv[8];
	int fargc = 0;

	fargv[fargc++] = argv0;
	fargv[fargc++] = (char *)"-f";
	fargv[fargc++] = (char *)"-o";
	fargv[fargc++] = a->allow_other ?
		(char *)"fsname=virtio-argo-blk,subtype=virtio-argo,max_threads=64,allow_other" :
		(char *)"fsname=virtio-argo-blk,subtype=virtio-argo,max_threads=64";
	if (a->debug)
		fargv[fargc++] = (char *)"-d";
	fargv[fargc++] = (char *)a->mountdir;
	fargv[fargc] = NULL;
	fprintf(stderr, "virtio-argo-guest: %s%s: %llu bytes, block size %u%s\n",
		a->mountdir, fb->path, (unsigned long long)fb->gb.capacity * 512,
		fb->gb.block_size, fb->gb.readonly ? ", read-only" : "");
	return fuse_main(fargc, fargv, &fblk_ops, fb);
}

/* Stops the poller thread and prints the library's counters. */
static void fblk_stop(struct fblk *fb, const char *mountdir)
{
	struct va_guest_stats st;

	pthread_mutex_lock(&fb->lock);
	fb->stop = true;
	pthread_mutex_unlock(&fb->lock);
	wake_poller(fb);
	pthread_join(fb->poller, NULL);
	va_guest_get_stats(fb->gb.g, &st);
	fprintf(stderr, "virtio-argo-guest: %s: submitted %" PRIu64
		", completed %" PRIu64 ", failed %" PRIu64
		", replayed %" PRIu64 ", renegotiations %" PRIu64
		", violations %" PRIu64 ", stale %" PRIu64 "\n",
		mountdir, st.submitted, st.completed, st.failed,
		st.replayed, st.renegotiations, st.violations,
		st.stale);
}

int guest_blk_fuse(struct guest_ctx *ctx, int argc, char **argv)
{
	struct fblk_args a = { .name = "disk" };
	struct fblk *fb;
	int rc = 1;

	switch (fblk_parse(&a, argc, argv)) {
	case 0:
		break;
	case 1:
		return 0;
	default:
		fputs("Try 'virtio-argo-guest blk fuse --help'.\n", stderr);
		return 2;
	}
	fb = calloc(1, sizeof(*fb));
	if (!fb)
		return 1;
	snprintf(fb->path, sizeof(fb->path), "/%s", a.name);
	pthread_mutex_init(&fb->lock, NULL);
	pthread_cond_init(&fb->cond, NULL);
	pthread_rwlock_init(&fb->rmw, NULL);
	fb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fb->wake_fd < 0) {
		perror("virtio-argo-guest: eventfd");
		free(fb);
		return 1;
	}
	if (gblk_open(ctx, 0, &fb->gb) < 0)
		goto out;
	va_guest_set_config_cb(fb->gb.g, on_config, fb);
	if (pthread_create(&fb->poller, NULL, poller_main, fb)) {
		fprintf(stderr, "virtio-argo-guest: cannot start a thread\n");
		goto out_close;
	}
	rc = fblk_serve(fb, &a, argv[0]) ? 1 : 0;
	fblk_stop(fb, a.mountdir);
out_close:
	gblk_close(&fb->gb);
out:
	close(fb->wake_fd);
	pthread_rwlock_destroy(&fb->rmw);
	pthread_cond_destroy(&fb->cond);
	pthread_mutex_destroy(&fb->lock);
	free(fb);
	return rc;
}
