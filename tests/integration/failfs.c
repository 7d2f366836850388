/* SPDX-License-Identifier: MIT */
/*
 * failfs: a FUSE file system with one file, MOUNTDIR/disk, passed through
 * to a backing file, whose writes and fsyncs can be made to fail on demand.
 * It gives the block tests a disk that reports errors the way a dying one
 * does, without device-mapper:
 *
 *   failfs BACKING CTLDIR MOUNTDIR
 *
 * While CTLDIR/fail-fsync exists every fsync/fdatasync returns EIO; while
 * CTLDIR/fail-write exists every write returns EIO.  While CTLDIR/stall-write
 * exists, the first write to come waits (a disk that is slow to finish one
 * write) and CTLDIR/stalled says so; other writes pass.  Removing
 * stall-write lets that write go on.  A write that overlaps the stalled
 * one's range while it waits creates CTLDIR/overlap (its offset inside):
 * two writes to the same blocks executing at once, which a device's
 * fences must rule out.  Multi-threaded, so a stalled write
 * holds up nothing else.  Runs in the foreground until unmounted
 * (fusermount3 -u) or killed.  Test code only.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STALL_POLL_US	10000

static const char *backing;
static char ctl_fsync[PATH_MAX];
static char ctl_write[PATH_MAX];
static char ctl_stall[PATH_MAX];
static char ctl_stalled[PATH_MAX];
static char ctl_overlap[PATH_MAX];
static bool stall_taken;	/* a write is waiting (atomic) */
static bool stall_known;	/* stall_off, stall_size set (atomic) */
static off_t stall_off;		/* the waiting write's range */
static size_t stall_size;
static int backing_fd = -1;

static int is_disk(const char *path)
{
	return strcmp(path, "/disk") == 0;
}

static int failfs_getattr(const char *path, struct stat *st,
			  struct fuse_file_info *fi)
{
	if (strcmp(path, "/") == 0) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (!is_disk(path))
		return -ENOENT;
	if (fstat(backing_fd, st) < 0)
		return -errno;
	return 0;
}

static int failfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
			  off_t off, struct fuse_file_info *fi,
			  enum fuse_readdir_flags flags)
{
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "disk", NULL, 0, 0);
	return 0;
}

static int failfs_open(const char *path, struct fuse_file_info *fi)
{
	if (!is_disk(path))
		return -ENOENT;
	fi->direct_io = 0;
	fi->keep_cache = 0;
	return 0;
}

static int failfs_read(const char *path, char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	ssize_t n = pread(backing_fd, buf, size, off);

	return n < 0 ? -errno : (int)n;
}

static int failfs_write(const char *path, const char *buf, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	if (access(ctl_write, F_OK) == 0)
		return -EIO;
	if (__atomic_load_n(&stall_known, __ATOMIC_ACQUIRE) &&
	    off < stall_off + (off_t)stall_size &&
	    stall_off < off + (off_t)size) {
		FILE *f = fopen(ctl_overlap, "we");

		if (f) {
			fprintf(f, "%lld %zu\n", (long long)off, size);
			fclose(f);
		}
	}
	if (access(ctl_stall, F_OK) == 0 &&
	    !__atomic_exchange_n(&stall_taken, true, __ATOMIC_SEQ_CST)) {
		int fd;

		stall_off = off;
		stall_size = size;
		__atomic_store_n(&stall_known, true, __ATOMIC_RELEASE);
		fd = open(ctl_stalled, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		while (access(ctl_stall, F_OK) == 0)
			usleep(STALL_POLL_US);
		unlink(ctl_stalled);
		__atomic_store_n(&stall_known, false, __ATOMIC_RELEASE);
		__atomic_store_n(&stall_taken, false, __ATOMIC_SEQ_CST);
	}
	n = pwrite(backing_fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int failfs_fsync(const char *path, int datasync,
			struct fuse_file_info *fi)
{
	if (access(ctl_fsync, F_OK) == 0)
		return -EIO;
	if ((datasync ? fdatasync(backing_fd) : fsync(backing_fd)) < 0)
		return -errno;
	return 0;
}

static int failfs_truncate(const char *path, off_t size,
			   struct fuse_file_info *fi)
{
	if (!is_disk(path))
		return -ENOENT;
	return ftruncate(backing_fd, size) < 0 ? -errno : 0;
}

static const struct fuse_operations failfs_ops = {
	.getattr = failfs_getattr,
	.readdir = failfs_readdir,
	.open = failfs_open,
	.read = failfs_read,
	.write = failfs_write,
	.fsync = failfs_fsync,
	.truncate = failfs_truncate,
};

int main(int argc, char **argv)
{
	char opt_f[] = "-f", opt_o[] = "-o";
	char opt_perm[] = "default_permissions";
	char *fargv[] = { argv[0], opt_f, opt_o, opt_perm, NULL, NULL };

	if (argc != 4) {
		fprintf(stderr, "usage: failfs BACKING CTLDIR MOUNTDIR\n");
		return 2;
	}
	backing = argv[1];
	if (snprintf(ctl_fsync, sizeof(ctl_fsync), "%s/fail-fsync", argv[2]) >=
	    (int)sizeof(ctl_fsync) ||
	    snprintf(ctl_write, sizeof(ctl_write), "%s/fail-write", argv[2]) >=
	    (int)sizeof(ctl_write) ||
	    snprintf(ctl_stall, sizeof(ctl_stall), "%s/stall-write", argv[2]) >=
	    (int)sizeof(ctl_stall) ||
	    snprintf(ctl_stalled, sizeof(ctl_stalled), "%s/stalled", argv[2]) >=
	    (int)sizeof(ctl_stalled) ||
	    snprintf(ctl_overlap, sizeof(ctl_overlap), "%s/overlap", argv[2]) >=
	    (int)sizeof(ctl_overlap)) {
		fprintf(stderr, "failfs: control directory path too long\n");
		return 2;
	}
	backing_fd = open(backing, O_RDWR);
	if (backing_fd < 0) {
		fprintf(stderr, "failfs: %s: %s\n", backing, strerror(errno));
		return 1;
	}
	fargv[4] = argv[3];
	return fuse_main(5, fargv, &failfs_ops, NULL) ? 1 : 0;
}
