/*
 * holdvfs.h - a VFS wrapper for concurrency tests: it stands for one
 * process, and it can hold chosen calls until the test lets them go.
 *
 * Writers of one process take turns through a gate keyed by their VFS
 * (gate.c), so handles opened through two holdvfs instances over the same
 * VFS behave like two processes: they meet only at the file locks. A test
 * orders threads by holding a call (a compaction's directory sync, a lock
 * attempt) and waiting until it is held, or until a waiter has been
 * refused a lock, instead of sleeping and hoping; single-threaded tests
 * over memvfs can run code of their own inside a sleep or a nap of the
 * library's (the hook), which is where a waiting writer or quire_wait is.
 */
#ifndef QUIRE_HOLDVFS_H
#define QUIRE_HOLDVFS_H

#include <stddef.h>
#include <stdint.h>

#include "vfs.h"

struct holdvfs;

/* Kinds of calls. */
#define HV_LOCK 0x01    /* every lock operation but unlocking */
#define HV_SYNC 0x02    /* fdatasync of a file */
#define HV_SYNCDIR 0x04 /* fsync of a directory */
#define HV_RENAME 0x08
#define HV_SLEEP 0x10
#define HV_OPEN 0x20   /* open (and create) */
#define HV_WRITE 0x40  /* write, writev, truncate */
#define HV_ATTR 0x80   /* attrs, set_owner, set_mode, resolve */
#define HV_WAIT 0x100  /* a nap of quire_wait (its handle's mutex held) */

struct holdvfs *holdvfs_new(qvfs *in);
void holdvfs_free(struct holdvfs *h);
qvfs *holdvfs_vfs(struct holdvfs *h);

/* From now on, calls of these kinds wait (before they run) until
 * holdvfs_release() lets them go. */
void holdvfs_hold(struct holdvfs *h, int kinds);
void holdvfs_release(struct holdvfs *h, int kinds);
/* Wait until a call of one of these kinds is being held. */
void holdvfs_wait_held(struct holdvfs *h, int kinds);
/* Wait until at least n lock attempts were refused (-EAGAIN) so far. */
void holdvfs_wait_refused(struct holdvfs *h, uint64_t n);
uint64_t holdvfs_refused(struct holdvfs *h);
/* Nanoseconds of sleep asked for so far. */
uint64_t holdvfs_slept(struct holdvfs *h);

/* Mappings larger than max bytes fail (map() returns NULL); UINT64_MAX
 * (the default) lets every one through. */
void holdvfs_map_limit(struct holdvfs *h, uint64_t max);

/* The path of the last call of kind HV_OPEN, HV_SYNCDIR or HV_RENAME
 * (its target) into buf ("" if none yet). */
void holdvfs_last_path(struct holdvfs *h, int kind, char *buf, size_t n);

/* A function called after every call of the kinds given (with the call's
 * result), in the calling thread; NULL removes it. After a nap (HV_WAIT)
 * the waiting handle's mutex is held: the hook may use other handles. */
void holdvfs_hook(struct holdvfs *h, int kinds,
		  void (*fn)(void *ctx, int kind, int result), void *ctx);

#endif
