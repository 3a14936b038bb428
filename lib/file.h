/*
 * file.h - the database file underneath a handle (file.c).
 */
#ifndef QUIRE_FILE_H
#define QUIRE_FILE_H

#include <stdint.h>

#include "internal.h"

/* Both live slots, as one range of the superblock. */
#define SLOTS_BYTES (QF_SLOT1_OFF + QF_SLOT_SIZE - QF_SLOT0_OFF)

/* qfile_new() wraps the open file f (one reference, a cache of
 * opts.cache_size; file_id and smap are the opener's to fill). It takes f
 * over: on failure (NULL, out of memory) f is closed. */
struct qfile *qfile_new(quire *db, qvfs_file *f);
void qfile_ref(struct qfile *qf);
void qfile_unref(struct qfile *qf);
/* QUIRE_EIO with a message: a page of qf's mapping could not be read. */
int qfile_fault(const struct qfile *qf);
/* 0, or qfile_fault(): checked after reading in place, since a page that
 * could not be read reads as zeros (fmap.h). */
static inline int qfile_check(struct qfile *qf)
{
	return QUNLIKELY(atomic_load_explicit(&qf->map.failed,
					      memory_order_relaxed))
		       ? qfile_fault(qf)
		       : 0;
}

/* Read n bytes at off (what names them in a message); reading past the
 * end of the file is QUIRE_ECORRUPT. */
int df_read(struct qfile *qf, void *buf, size_t n, uint64_t off,
	    const char *what);
/* Read and verify the header at off. df_header() reads a header a
 * committed header reaches (its predecessor, checkpoint, a commit index
 * entry) in place when the file is mapped; df_load_header() always reads
 * with read(): for headers only a slot names, which may lie past the end
 * of a damaged file, and for check and salvage. */
int df_header(struct qfile *qf, uint64_t off, struct qhdr *h);
int df_load_header(struct qfile *qf, uint64_t off, struct qhdr *h);
/* The header of slot s's durable commit, verified to be that commit. */
int df_durable_header(struct qfile *qf, const struct qslot *s, struct qhdr *h);

/* The handle's current file (db->qf), each with a message naming it. */
int df_write_at(quire *db, const void *buf, size_t n, uint64_t off);
int df_file_size(quire *db, uint64_t *size);
int df_truncate(quire *db, uint64_t size);
/* fdatasync; a failure poisons the handle (invariant 5: QUIRE_EFATAL from
 * then on). */
int df_fsync(quire *db);

/* The bytes of both slots: through the mapping when there is one. */
int df_slot_bytes(struct qfile *qf, uint8_t buf[SLOTS_BYTES]);
/* The valid slots (*n of them, 0 to 2), the larger counter first. */
int df_slot_list(struct qfile *qf, struct qslot s[2], int *n);
/* The valid slot with the larger counter: 0, QUIRE_NOTFOUND if neither is
 * valid, or an I/O error. */
int df_read_slots(struct qfile *qf, struct qslot *best);
/* Write the next slot (the writer's counter + 1) naming latest and the
 * handle's durable commit, with flags (QF_SLOT_SUPERSEDED or 0). */
int df_write_slot(quire *db, const struct qhdr *latest, uint32_t flags);

/* Whether path names the open file f: 1, 0 (another file, or none), or a
 * negative errno (-ENOTSUP: f's identity is unknown). */
int df_names_file(quire *db, const char *path, qvfs_file *f);
/* Whether qf's slot s says a compaction replaced it by the file the path
 * now names. */
int df_superseded(quire *db, struct qfile *qf, const struct qslot *s);
/* Open the file the path names (creating it if the options say so) and
 * read its superblock: *out gets a new qfile. */
int df_open_file(quire *db, struct qfile **out);
/* Move the handle to the file the path names now; refresh_mu is held. */
int df_switch_file(quire *db);

/* The writer locks: this process's gate of the file, then the file's
 * writer lock (which another process may hold: waited for timeout_ms at
 * most, negative forever). A nonzero *cancel (may be NULL) ends a wait for
 * the gate with QUIRE_ECANCELED; gate_wake() makes waiters look at it. */
int writer_acquire_for(quire *db, int timeout_ms, _Atomic int *cancel);
/* writer_acquire_for() with busy_timeout_ms, then writer_dir_durable():
 * for writers that commit without a transaction (sync, backup, receive). */
int writer_acquire(quire *db);
/* Once per file and process, before the first commit a writer makes:
 * sync the file's directory (its entry must survive a power cut). */
int writer_dir_durable(quire *db);
void writer_release(quire *db);
/* 0, or why the handle cannot write: QUIRE_ERDONLY, QUIRE_EFATAL. */
int qdb_writable(quire *db);

#endif
