/*
 * vfs.h - the one interface through which quire touches the operating system.
 *
 * Like SQLite's VFS, every read, write, sync, truncate, lock, rename, clock
 * read and timed wait goes through a table of functions, so that tests can
 * substitute an in-memory file system that injects I/O errors, short
 * transfers and crashes and whose clocks pass no real time
 * (tests/memvfs.c). The methods have system-call semantics on purpose:
 * transfers may be short and may fail with EINTR, so the retry loops in
 * io.c are exercised by the fault injector too.
 *
 * Errors are returned as negative errno values. Optional methods may be
 * NULL; new ones are added at the end of the structs.
 */
#ifndef QUIRE_VFS_H
#define QUIRE_VFS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct qvfs qvfs;
typedef struct qvfs_file qvfs_file;

/* open flags */
#define QVFS_RDONLY 0x1
#define QVFS_CREATE 0x2 /* create if missing */
#define QVFS_EXCL 0x4   /* with CREATE: fail with -EEXIST if it exists */

/* Lock operations. Every file has two advisory locks: the writer lock,
 * held by the one writer of the file, and the queue lock, held by the
 * writer that waits next (lock.c: lock_queued), so that a writer that
 * commits in a loop cannot take the writer lock back before the others. */
#define QVFS_LOCK_TRY 1  /* take the writer lock or fail with -EAGAIN */
#define QVFS_UNLOCK 2
#define QVFS_QUEUE_TRY 3 /* the same for the queue lock */
#define QVFS_QUEUE_UNLOCK 4

struct qvfs_file {
	const struct qvfs_file_ops *ops;
};

/* What attrs() reports of an open file. */
struct qvfs_attrs {
	unsigned mode;   /* permission bits (07777) */
	uint32_t uid, gid;
	uint64_t nlink;  /* names the file has (hard links) */
};

struct qvfs_file_ops {
	/* pread/pwrite semantics: bytes moved (maybe short; 0 at EOF), or
	 * -errno. */
	ssize_t (*read)(qvfs_file *f, void *buf, size_t n, uint64_t off);
	ssize_t (*write)(qvfs_file *f, const void *buf, size_t n, uint64_t off);
	/* pwritev semantics, for a commit's nodes in one call. */
	ssize_t (*writev)(qvfs_file *f, const struct iovec *iov, int n,
			  uint64_t off);
	/* fdatasync: file data and the size, not necessarily the mtime. */
	int (*sync)(qvfs_file *f);
	int (*truncate)(qvfs_file *f, uint64_t size);
	int (*size)(qvfs_file *f, uint64_t *size);
	/* The cross-process locks (advisory, per open file; QVFS_*). */
	int (*lock)(qvfs_file *f, int op);
	/* Optional: a read-only view of the first len bytes (len may pass
	 * the end of the file; such pages must not be touched) that follows
	 * writes made by any process. A call asking for more than earlier
	 * views cover may return a new address; every view stays mapped until
	 * the file is closed. NULL when not supported or failed: callers
	 * then read with read(). */
	const void *(*map)(qvfs_file *f, uint64_t len);
	/* Optional: the pages of a view from map() in [p, p + len) will not
	 * be read through it for a while (a larger view replaced it): let
	 * the process give them up (they stay in the page cache, and a
	 * later read of them still sees the file). */
	void (*unneeded)(qvfs_file *f, const void *p, uint64_t len);
	/* Optional: the bytes [off, off + len) will be read soon (a long
	 * scan reading in place): start reading them from the disk. */
	void (*willneed)(qvfs_file *f, uint64_t off, uint64_t len);
	/* Optional: what identifies the file itself (device and inode), so
	 * that handles of one file in one process can find each other. 0 or
	 * -errno. */
	int (*identity)(qvfs_file *f, uint64_t *dev, uint64_t *ino);
	void (*close)(qvfs_file *f);
	/* Optional (compaction keeps the identity of the file it replaces):
	 * the permission bits, owner, group and link count of the file
	 * (fstat). 0 or -errno. */
	int (*attrs)(qvfs_file *f, struct qvfs_attrs *a);
	/* Optional: give the file an owner and group (fchown). 0 or -errno
	 * (-EPERM when the caller may not). */
	int (*set_owner)(qvfs_file *f, uint32_t uid, uint32_t gid);
	/* Optional: set the permission bits (fchmod; mode & 07777). 0 or
	 * -errno. */
	int (*set_mode)(qvfs_file *f, unsigned mode);
};

struct qvfs {
	int (*open)(qvfs *vfs, const char *path, int flags, unsigned mode,
		    qvfs_file **out);
	int (*remove)(qvfs *vfs, const char *path);
	/* Rename from to to; with noreplace, fail with -EEXIST if to exists. */
	int (*rename)(qvfs *vfs, const char *from, const char *to,
		      int noreplace);
	/* fsync the directory that holds path, so that a create or rename of
	 * path survives a crash. */
	int (*sync_dir)(qvfs *vfs, const char *path);
	/* Wall clock in ns since 1970. */
	uint64_t (*now_ns)(qvfs *vfs);
	/* A clock that never goes back (ns from an arbitrary start): every
	 * timeout and back-off is measured on it, so that setting the wall
	 * clock neither stretches nor cuts a wait. */
	uint64_t (*mono_ns)(qvfs *vfs);
	/* Sleep for about ns (timeouts and back-off; a test VFS may only
	 * advance its clock). */
	void (*sleep_ns)(qvfs *vfs, uint64_t ns);
	/* An id that differs after every boot of the machine, or 0 if unknown.
	 * It tells an open whether the page cache may still hold writes that
	 * never reached the disk (see append.c). */
	uint64_t (*boot_id)(qvfs *vfs);
	/* Fill buf with unpredictable bytes (file ids). */
	void (*random)(qvfs *vfs, void *buf, size_t n);
	/* Optional: the canonical name of an existing path, every symbolic
	 * link followed (realpath), in *out (malloc'd, the caller frees it).
	 * 0 or -errno. Without it paths are taken as given. */
	int (*resolve)(qvfs *vfs, const char *path, char **out);
	/* Optional: pthread_cond_timedwait on cv (mu held; cv made with
	 * CLOCK_MONOTONIC) for at most ns of mono_ns()'s time. quire_wait
	 * naps here rather than on the system's clock, so that a test VFS
	 * can let a timeout pass without waiting for real while a commit of
	 * the handle (a broadcast of cv) still ends the nap. Without it the
	 * nap is a sleep_ns() with mu released, and such a commit is seen
	 * when the nap ends. */
	void (*cond_wait)(qvfs *vfs, pthread_cond_t *cv, pthread_mutex_t *mu,
			  uint64_t ns);
};

/* The POSIX implementation used by quire_open(). */
qvfs *qvfs_unix(void);

#endif
