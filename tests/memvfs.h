/*
 * memvfs.h - an in-memory VFS for tests: fault injection and crash images.
 *
 * Every file has two states: what the page cache holds (what reads return)
 * and what the disk holds (what survives a power cut). Writes and truncates
 * change the first at once and queue up as pending operations; sync moves
 * the file's disk state up to its cache state. A crash image is built from
 * the disk state plus some of the pending operations: dropped, applied in
 * order up to a point, applied in any order, torn at a sector boundary, or
 * replaced by garbage or zeros (what ALICE and SQLite's crash tests do).
 *
 * Fault injection counts calls; the n-th call of the chosen kinds can fail
 * with an errno (once or from then on), be cut short, or trigger a crash,
 * after which every call fails with EIO until the image is built.
 *
 * Threads may share it: every call takes one mutex. map() hands out the
 * file's memory itself, though: a test whose threads read while another
 * writes opens its handles with QUIRE_NOMMAP.
 */
#ifndef QUIRE_MEMVFS_H
#define QUIRE_MEMVFS_H

#include <stddef.h>
#include <stdint.h>

#include "vfs.h"

struct memvfs;

struct memvfs *memvfs_new(uint64_t seed);
void memvfs_free(struct memvfs *m);
qvfs *memvfs_vfs(struct memvfs *m);

/* Kinds of calls, for counting and for faults. */
#define MV_READ 0x01
#define MV_WRITE 0x02
#define MV_SYNC 0x04
#define MV_TRUNC 0x08
#define MV_SIZE 0x10
#define MV_LOCK 0x20
#define MV_OPEN 0x40
#define MV_DIR 0x80 /* rename, remove, sync_dir */
#define MV_ATTR 0x100 /* attrs, set_owner, set_mode, resolve */
#define MV_ALL 0x1ff
#define MV_MUTATE (MV_WRITE | MV_SYNC | MV_TRUNC)

/* Calls of the given kinds made so far. */
uint64_t memvfs_calls(struct memvfs *m, int kinds);

/* Fault plan: the n-th call (1-based, counted over `kinds`) fails with
 * -err; with persist, every later call of those kinds fails too. err 0
 * with shortio: the transfer moves only part of the bytes instead. */
void memvfs_fault(struct memvfs *m, int kinds, uint64_t n, int err,
		  int persist, int shortio);
/* Crash plan: the n-th call of `kinds` (and everything after it) fails
 * with EIO; the call itself has no effect. */
void memvfs_crash_at(struct memvfs *m, int kinds, uint64_t n);
int memvfs_crashed(struct memvfs *m);
void memvfs_clear_faults(struct memvfs *m);

/* What a crash leaves on disk. */
enum mv_crash {
	MV_CRASH_PROCESS, /* only the process died: cache kept, same boot */
	MV_CRASH_DROP,    /* power cut: every unsynced operation lost */
	MV_CRASH_ALL,     /* power cut right after the disk wrote everything */
	MV_CRASH_PREFIX,  /* the first k unsynced operations reached the disk */
	MV_CRASH_SUBSET,  /* any subset, in any order */
	MV_CRASH_TORN512, /* a prefix, then one write torn at 512-byte sectors */
	MV_CRASH_TORN4K,  /* the same with 4096-byte pages */
	MV_CRASH_GARBAGE, /* a subset; the lost writes leave random bytes */
	MV_CRASH_ZERO,    /* a subset; the lost writes leave zeros */
	MV_CRASH_SECTORS, /* every unsynced write kept or lost per sector */
	MV_CRASH_NMODES
};

/* Replace every file's state by what the crash leaves (both cache and disk
 * become the image), clear pending operations, faults and locks, and (but
 * for MV_CRASH_PROCESS) start a new boot. seed picks the random choices. */
void memvfs_crash(struct memvfs *m, enum mv_crash mode, uint64_t seed);

/* The clock: the next reading is ns + step, each one step later (1 us by
 * default, strictly increasing); step 0 stops time, a smaller ns turns it
 * back. */
void memvfs_clock(struct memvfs *m, uint64_t ns, uint64_t step);

/* The monotonic clock (the VFS's mono_ns, what timeouts and back-off are
 * measured on) moves only when the library sleeps (sleep_ns) or naps
 * (cond_wait: quire_wait), by as much as it asked for, and no real time
 * passes: timeouts run out at once, deterministically. A nap first waits
 * up to ns of real time for a broadcast (0, the default, when one thread
 * uses the VFS: nothing could end the nap sooner): a test whose other
 * thread commits through the waiting handle sets it. */
void memvfs_wait_real(struct memvfs *m, uint64_t ns);

/* Direct access to a file's cached content (NULL if missing) and
 * replacement of a file's content (cache and disk). */
const uint8_t *memvfs_data(struct memvfs *m, const char *path, size_t *size);
void memvfs_set(struct memvfs *m, const char *path, const void *data,
		size_t size);

/* File attributes. Every file has a mode, owner, group and link count
 * (new ones: the mode asked for less a umask of 022, the VFS's user, one
 * link; the count is only a number: no second name exists). The VFS acts
 * as user uid of group gid (0, 0: root, by default): as another user it
 * may give a file of its own only its own owner and group (else -EPERM)
 * and set the mode of its own files only, as POSIX has it. */
void memvfs_user(struct memvfs *m, uint32_t uid, uint32_t gid);
/* The attributes of path (links followed): 0 or -ENOENT. */
int memvfs_attrs(struct memvfs *m, const char *path, struct qvfs_attrs *a);
void memvfs_set_attrs(struct memvfs *m, const char *path,
		      const struct qvfs_attrs *a);

/* A symbolic link at link to target (a path as the VFS takes it, not
 * relative to link's directory): opening and resolving link follow it,
 * removing link or renaming over it replaces the link itself. */
void memvfs_symlink(struct memvfs *m, const char *link, const char *target);
/* What link points to (NULL: not a link). */
const char *memvfs_readlink(struct memvfs *m, const char *link);

#endif
