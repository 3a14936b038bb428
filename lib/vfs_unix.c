/*
 * vfs_unix.c - the POSIX (Linux-first) implementation of the VFS.
 *
 * The writer lock is an open-file-description lock (F_OFD_SETLK) on byte 1 of
 * the file, the queue lock one on byte 2: they belong to the open file, not
 * to the process, so they work between threads that opened the file
 * separately and are released when the descriptor closes, however the
 * process ends. Where OFD locks are missing they fall back to classic POSIX
 * record locks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "vfs.h"

#ifndef F_OFD_SETLK
#define F_OFD_SETLK F_SETLK
#endif

struct umap {
	void *p;
	size_t len;
	struct umap *older;
};

struct ufile {
	qvfs_file base;
	int fd;
	struct umap *maps; /* newest (largest) first */
};

static ssize_t u_read(qvfs_file *f, void *buf, size_t n, uint64_t off)
{
	ssize_t r = pread(((struct ufile *)f)->fd, buf, n, (off_t)off);
	return r < 0 ? -errno : r;
}

static ssize_t u_write(qvfs_file *f, const void *buf, size_t n, uint64_t off)
{
	ssize_t r = pwrite(((struct ufile *)f)->fd, buf, n, (off_t)off);
	return r < 0 ? -errno : r;
}

static ssize_t u_writev(qvfs_file *f, const struct iovec *iov, int n,
			uint64_t off)
{
	ssize_t r = pwritev(((struct ufile *)f)->fd, iov, n, (off_t)off);
	return r < 0 ? -errno : r;
}

static int u_sync(qvfs_file *f)
{
#ifdef HAVE_FDATASYNC
	int r = fdatasync(((struct ufile *)f)->fd);
#else
	int r = fsync(((struct ufile *)f)->fd);
#endif
	return r < 0 ? -errno : 0;
}

static int u_truncate(qvfs_file *f, uint64_t size)
{
	int r;
	do
		r = ftruncate(((struct ufile *)f)->fd, (off_t)size);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int u_size(qvfs_file *f, uint64_t *size)
{
	struct stat st;
	if (fstat(((struct ufile *)f)->fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int u_lock(qvfs_file *f, int op)
{
	int queue = op == QVFS_QUEUE_TRY || op == QVFS_QUEUE_UNLOCK;
	struct flock fl = {
		.l_type = op == QVFS_UNLOCK || op == QVFS_QUEUE_UNLOCK
				  ? F_UNLCK
				  : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = queue ? 2 : 1,
		.l_len = 1,
	};
	int fd = ((struct ufile *)f)->fd;
	int r = fcntl(fd, F_OFD_SETLK, &fl);
	if (r < 0 && errno == EINVAL && F_OFD_SETLK != F_SETLK)
		r = fcntl(fd, F_SETLK, &fl); /* kernel without OFD locks */
	if (r < 0)
		return errno == EACCES ? -EAGAIN : -errno;
	return 0;
}

static void u_unneeded(qvfs_file *f, const void *p, uint64_t len)
{
	madvise((void *)p, (size_t)len, MADV_DONTNEED);
}

static void u_willneed(qvfs_file *f, uint64_t off, uint64_t len)
{
#ifdef POSIX_FADV_WILLNEED
	posix_fadvise(((struct ufile *)f)->fd, (off_t)off, (off_t)len,
		      POSIX_FADV_WILLNEED);
#endif
}

static int u_identity(qvfs_file *f, uint64_t *dev, uint64_t *ino)
{
	struct stat st;
	if (fstat(((struct ufile *)f)->fd, &st) < 0)
		return -errno;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	return 0;
}

static int u_attrs(qvfs_file *f, struct qvfs_attrs *a)
{
	struct stat st;
	if (fstat(((struct ufile *)f)->fd, &st) < 0)
		return -errno;
	a->mode = (unsigned)st.st_mode & 07777;
	a->uid = (uint32_t)st.st_uid;
	a->gid = (uint32_t)st.st_gid;
	a->nlink = (uint64_t)st.st_nlink;
	return 0;
}

static int u_set_owner(qvfs_file *f, uint32_t uid, uint32_t gid)
{
	return fchown(((struct ufile *)f)->fd, (uid_t)uid, (gid_t)gid) < 0
		       ? -errno
		       : 0;
}

static int u_set_mode(qvfs_file *f, unsigned mode)
{
	return fchmod(((struct ufile *)f)->fd, (mode_t)(mode & 07777)) < 0
		       ? -errno
		       : 0;
}

static const void *u_map(qvfs_file *f, uint64_t len)
{
	struct ufile *u = (struct ufile *)f;
	if (u->maps && u->maps->len >= len)
		return u->maps->p;
	if (len > SIZE_MAX)
		return NULL;
	struct umap *m = malloc(sizeof *m);
	if (!m)
		return NULL;
	m->p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, u->fd, 0);
	if (m->p == MAP_FAILED) {
		free(m);
		return NULL;
	}
	m->len = (size_t)len;
	m->older = u->maps;
	u->maps = m;
	return m->p;
}

static void u_close(qvfs_file *f)
{
	struct ufile *u = (struct ufile *)f;
	while (u->maps) {
		struct umap *m = u->maps;
		u->maps = m->older;
		munmap(m->p, m->len);
		free(m);
	}
	close(u->fd);
	free(u);
}

static const struct qvfs_file_ops ufile_ops = {
	.read = u_read,
	.write = u_write,
	.writev = u_writev,
	.sync = u_sync,
	.truncate = u_truncate,
	.size = u_size,
	.lock = u_lock,
	.map = u_map,
	.unneeded = u_unneeded,
	.willneed = u_willneed,
	.identity = u_identity,
	.close = u_close,
	.attrs = u_attrs,
	.set_owner = u_set_owner,
	.set_mode = u_set_mode,
};

static int u_open(qvfs *vfs, const char *path, int flags, unsigned mode,
		  qvfs_file **out)
{
	int oflags = O_CLOEXEC | ((flags & QVFS_RDONLY) ? O_RDONLY : O_RDWR);
	if (flags & QVFS_CREATE)
		oflags |= O_CREAT | ((flags & QVFS_EXCL) ? O_EXCL : 0);
	struct ufile *u = calloc(1, sizeof *u);
	if (!u)
		return -ENOMEM;
	u->fd = open(path, oflags, (mode_t)mode);
	if (u->fd < 0) {
		int e = errno;
		free(u);
		return -e;
	}
	struct stat st;
	if (fstat(u->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(u->fd);
		free(u);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	u->base.ops = &ufile_ops;
	*out = &u->base;
	return 0;
}

static int u_remove(qvfs *vfs, const char *path)
{
	return unlink(path) < 0 ? -errno : 0;
}

static int u_rename(qvfs *vfs, const char *from, const char *to, int noreplace)
{
	if (!noreplace)
		return rename(from, to) < 0 ? -errno : 0;
#ifdef HAVE_RENAMEAT2
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
#endif
	/* link() fails if the target exists, which gives the same guarantee. */
	if (link(from, to) < 0)
		return -errno;
	unlink(from);
	return 0;
}

static int u_sync_dir(qvfs *vfs, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	/* Some file systems refuse fsync on directories; nothing to do then. */
	return r < 0 && e != EINVAL && e != EBADF ? -e : 0;
}

static int u_resolve(qvfs *vfs, const char *path, char **out)
{
	char *p = realpath(path, NULL);
	if (!p)
		return -errno;
	*out = p;
	return 0;
}

static uint64_t u_now_ns(qvfs *vfs)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t u_mono_ns(qvfs *vfs)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void u_sleep_ns(qvfs *vfs, uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u),
			      (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void u_cond_wait(qvfs *vfs, pthread_cond_t *cv, pthread_mutex_t *mu,
			uint64_t ns)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	uint64_t nsec = ns % 1000000000u + (uint64_t)t.tv_nsec;
	t.tv_sec += (time_t)(ns / 1000000000u + nsec / 1000000000u);
	t.tv_nsec = (long)(nsec % 1000000000u);
	pthread_cond_timedwait(cv, mu, &t);
}

static uint64_t u_boot_id(qvfs *vfs)
{
	char buf[64];
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!fp)
		return 0;
	size_t n = fread(buf, 1, sizeof buf, fp);
	fclose(fp);
	if (n < 32)
		return 0;
	uint64_t id = ((uint64_t)crc32c(0, buf, n) << 32) |
		      crc32c(0x5157, buf, n);
	return id ? id : 1;
}

static void u_random(qvfs *vfs, void *buf, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, buf, n) : -1;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)n) { /* no urandom: mix time and pid */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint8_t *p = buf;
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
			     u_now_ns(vfs);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (uint8_t)x;
		}
	}
}

static qvfs unix_vfs = {
	.open = u_open,
	.remove = u_remove,
	.rename = u_rename,
	.sync_dir = u_sync_dir,
	.now_ns = u_now_ns,
	.mono_ns = u_mono_ns,
	.sleep_ns = u_sleep_ns,
	.boot_id = u_boot_id,
	.random = u_random,
	.resolve = u_resolve,
	.cond_wait = u_cond_wait,
};

qvfs *qvfs_unix(void)
{
	return &unix_vfs;
}
