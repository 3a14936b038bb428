/*
 * internal.h - the handle, snapshot and transaction structures, and the
 * functions modules call across each other. Not installed.
 *
 * Module map (one concern each):
 *   vfs_unix.c  operating-system I/O behind struct qvfs
 *   io.c        full-length reads and writes over the VFS
 *   format.c    superblock, slots, commit header encodings
 *   node.c      node layout: verify, search, build
 *   cache.c     shared node cache and epoch reclamation
 *   dbfile.c    opening, recovery, the live slots, appending a commit
 *   tree.c      node loading, lookups and tree cursors
 *   wbuf.c      the write transaction's buffer of pending operations
 *   modify.c    batch copy-on-write modification of a tree
 *   oplog.c     the by-sequence tree's operation records
 *   txn.c       transactions: begin, get, put, del, commit, abort
 *   cursor.c    public cursors (tree merged with the write buffer)
 *   check.c     integrity check
 *   db.c        quire_open/close/sync, options, snapshot publication
 */
#ifndef QUIRE_INTERNAL_H
#define QUIRE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cache.h"
#include "fmap.h"
#include "format.h"
#include "quire.h"
#include "util.h"
#include "vfs.h"

/* Values longer than this are stored out of line in their own block. */
#define QUIRE_INLINE_MAX 1024u

#define QUIRE_CHECKPOINT_OPS 131072ul
/* Pending batches beyond this many bytes also force a checkpoint. */
#define QUIRE_CHECKPOINT_BYTES ((uint64_t)64 << 20)

/* With QUIRE_NOSYNC a commit still syncs once this much has been appended
 * since the last durable commit, which bounds the recovery walk (about a
 * quarter second of reading). */
#define QUIRE_NOSYNC_WALK_BYTES ((uint64_t)256 << 20)

struct memtable;

/* One database file as this handle sees it. The handle holds a reference
 * to its current file and every snapshot one to the file it reads, so a
 * compaction can move the handle to a new file while older snapshots keep
 * reading the old one; the last reference closes it. Offsets (node cache
 * keys, memtable value references) are meaningful only within one file. */
struct qfile {
	_Atomic int refs;
	qvfs_file *f;
	const char *path;        /* the handle's path (the handle outlives it) */
	uint8_t file_id[QF_FILE_ID];
	const uint8_t *smap;     /* the mapping's start (the superblock and
				  * its live slots), or NULL: not mapped */
	struct fmap map;         /* blocks read in place (smap != NULL) */
	struct cache *cache;     /* verified nodes read with read(), when the
				  * file is not mapped */
};

/* An immutable view of one commit, shared by the transactions reading it:
 * the trees its header names plus the pending operations (those of the
 * memtable below h.next_seq). */
struct snap {
	_Atomic int refs;
	struct qhdr h;
	struct memtable *mt;     /* one reference held */
	struct qfile *qf;        /* the file it reads; one reference held */
};

/* The writer's append position for the commit being built. Blocks are
 * queued as iovecs (nodes by reference, small pieces copied into stage) and
 * written with one gather write per flush. */
struct appender {
	uint64_t start;  /* first byte of the commit (end of the last header) */
	uint64_t pos;    /* file offset of the first queued byte */
	uint64_t end;    /* file offset after the last queued byte */
	uint32_t chain;  /* CRC-32C of the checksums of the blocks so far */
	uint8_t *stage;
	size_t used, cap;
	struct iovec *iov;
	int niov, capiov;
};

/* Ended transaction structs of a handle (txn.c): never given back to
 * malloc while the handle is open, and reused oldest first only after
 * TXN_QUARANTINE later transactions began, so that a handle used after its
 * transaction ended finds it ended (QUIRE_EINVAL). */
struct txn_pool {
	pthread_mutex_t mu;
	struct quire_txn *head, *tail; /* oldest first */
	size_t n;
	_Atomic uint64_t begun;        /* transactions begun on the handle */
	struct quire_txn *live;        /* the running ones (quire_txn_stat
					* reports what they pin) */
};

struct quire {
	char *path;
	qvfs *vfs;
	struct qfile *qf;        /* the current file (changed by compaction,
				  * under the writer locks and snap_mu) */
	quire_options opts;
	uint64_t boot_id;        /* this boot, 0 if unknown */

	pthread_mutex_t snap_mu; /* held only to swap or pin cur */
	struct snap *cur;        /* newest commit known to this handle */
	_Atomic uint64_t cur_txn;
	_Atomic uint64_t cur_next_seq;
	pthread_mutex_t pub_mu;  /* quire_wait() sleeps on pub_cv */
	pthread_cond_t pub_cv;

	pthread_mutex_t refresh_mu; /* one thread loads new headers at a time;
				     * never held by a committer */

	struct gate *gate;          /* writers of this process take turns */
	struct qfile *lock_qf;      /* the file whose writer lock the writer
				     * holds (one reference), NULL if none */

	/* Writer state: used only by the thread owning the write txn. */
	struct appender app;
	uint64_t durable_off, durable_txn; /* newest commit known on disk */
	uint64_t slot_counter;
	_Atomic int failed;     /* nonzero after a failed fsync: EFATAL */
	uint64_t nosync_walk;   /* QUIRE_NOSYNC_WALK_BYTES (tests lower it) */
	int salvage;            /* qdb_open_salvage: damaged pending batches
				 * leave the pending operations out */
	int keep_lock;          /* a compaction's file: its writer lock is
				 * held from creation to the swap */
	int defer_checkpoint;   /* commits append batches only (the commits
				 * a compaction copies, see checkpoint_due) */

	/* Compaction (compact.c) */
	_Atomic int compacting;     /* one at a time per handle */
	_Atomic int closing;        /* quire_close: cancel the background one */
	pthread_mutex_t bg_mu;      /* guards bg and bg_started */
	pthread_t bg;               /* auto_compact_ratio's thread */
	int bg_started;             /* bg must be joined */
	_Atomic uint64_t auto_next; /* file size of the next look */
	_Atomic uint64_t compact_retry; /* no folding by compaction below
					 * this file size (one failed) */

	_Atomic int ntxn;       /* open transactions, for quire_close */
	struct txn_pool txn_pool; /* ended transactions, for reuse (txn.c) */
};

struct wbuf;

/* A buffer of a value read from the file for the caller; freed with the
 * transaction (or the cursor). */
struct vbuf {
	struct vbuf *next;
	_Alignas(16) uint8_t data[];
};

/* Something that lives on a transaction and must not outlive it: a cursor,
 * a changes feed, a key history, a diff (on both of its transactions).
 * When the transaction ends, detach() is called for each; it leaves the
 * object usable only for closing (its calls fail with QUIRE_EINVAL).
 * Closing it first takes it off the list (txn_dep_del). */
struct txn_dep {
	struct txn_dep *next, **pprev; /* pprev NULL: on no list */
	void (*detach)(struct txn_dep *d);
};

/* quire_txn.state: TXN_LIVE from begin to end, then TXN_ENDED. */
#define TXN_LIVE 0x71c0ffeeu
#define TXN_ENDED 0xdeadf00du

struct quire_txn {
	uint32_t state;          /* TXN_LIVE while usable: every public call
				  * checks it first */
	int write;
	quire *db;
	struct snap *snap;       /* the commit this transaction reads */
	struct epoch_slot es;    /* keeps nodes we point at alive */
	struct vbuf *vbufs;      /* out-of-line values handed to the caller */
	struct wbuf *wb;         /* write transaction: pending operations */
	uint64_t next_seq;       /* write transaction: next sequence number */
	uint64_t gen;            /* bumped by every put/del (cursors re-seek) */
	uint64_t replay_time;    /* compaction's copy of a commit: its time,
				  * and commit even if empty */
	int replay_ckpt;         /* and make it a checkpoint */
	int set_retention;       /* the commit sets retention (and commits
				  * even if empty) */
	int fold;                /* its commit wants a compaction to fold
				  * the pending operations */
	quire_retention retention;
	int err;                 /* a failed put left the commit unusable */
	uint8_t *meta;           /* quire_commit_with() metadata */
	size_t meta_len;
	struct txn_dep *deps;    /* cursors, feeds, histories, diffs on it */
	/* Once ended, the struct waits in db->txn_pool (see txn.c) */
	struct quire_txn *pool_next;
	uint64_t pool_begun;     /* txn_pool.begun when it ended */
	struct quire_txn *live_next, **live_pprev; /* in txn_pool.live */
};

/* db.c: quire_open() over another VFS (the tests' fault injector) */
int qdb_open_vfs(const char *path, const quire_options *opts, qvfs *vfs,
		 quire **db);
/* A handle for the file a compaction of db writes, "<path>.compact":
 * created (or reused), locked and given a superblock with a new file id;
 * it has no commit yet. Closed with qdb_free(). */
int qdb_open_target(quire *db, quire **out);
/* 0, or why the handle cannot write: QUIRE_ERDONLY, QUIRE_EFATAL. */
int qdb_writable(quire *db);
/* "<path>.compact", malloc'd (NULL: out of memory). */
char *qdb_target_path(const char *path);
void qdb_free(quire *db);
/* txn.c: the handle's pool of ended transactions; init by handle_new(),
 * free by qdb_free() */
void txn_pool_init(quire *db);
void txn_pool_free(quire *db);
/* Read-only open for quire_salvage(): snapshots of a commit whose pending
 * batches are damaged read the trees alone (salvage reads the batches
 * itself). */
int qdb_open_salvage(const char *path, quire **db);

/* files (db.c): qfile_new() wraps the open file f (one reference, a cache
 * of opts.cache_size; file_id and smap are df_open's to fill). It takes f
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

/* snapshots (db.c); snap_acquire() pins the newest (NULL before open has
 * found one) */
struct snap *snap_acquire(quire *db);
void snap_release(struct snap *s);
/* Make h the newest commit, reading pending operations from mt (the
 * function takes a reference of its own). */
int snap_publish(quire *db, const struct qhdr *h, struct memtable *mt);
/* A snapshot of h (one reference), not published; NULL when out of
 * memory. Takes a reference of mt. */
struct snap *snap_make(const struct qhdr *h, struct memtable *mt,
			struct qfile *qf);
/* Committers allocate the snapshot before the commit becomes durable and
 * install it after, which cannot fail: a commit that reached the disk is
 * never reported as failed. snap_install consumes s. */
struct snap *snap_alloc(void);
void snap_install(quire *db, struct snap *s, const struct qhdr *h,
		  struct memtable *mt);

/* compact.c: after a commit, start a background compaction if the
 * reclaimable bytes passed opts.auto_compact_ratio, or fold (the commit
 * left the pending operations for a compaction to fold, see commit.c);
 * compact_stop() cancels and joins it (quire_close). */
void compact_auto(quire *db, int fold);
/* Whether the reclaimable bytes passed opts.auto_compact_ratio (and 1 MiB):
 * quire_close compacts then rather than leave it to the next writer. */
int compact_due(quire *db);
void compact_stop(quire *db);

/* dbfile.c */
/* The writer locks: this process's gate of the file, then the file's
 * writer lock (which another process may hold: waited for timeout_ms at
 * most, negative forever). A nonzero *cancel (may be NULL) ends a wait for
 * the gate with QUIRE_ECANCELED; gate_wake() makes waiters look at it. */
int writer_acquire_for(quire *db, int timeout_ms, _Atomic int *cancel);
/* writer_acquire_for() with busy_timeout_ms, for a write transaction. */
int writer_acquire(quire *db);
void writer_release(quire *db);
int df_open(quire *db);
int df_refresh(quire *db);
int df_writer_begin(quire *db);
/* Where the next appended block will go (blocks are sealed for their
 * offset). */
uint64_t df_next_offset(quire *db);
/* Where the blocks still queued start: those before are in the file. */
uint64_t df_written(quire *db);
int df_append_block(quire *db, const uint8_t *blk, uint32_t size,
		    uint64_t *off);
int df_append_value(quire *db, const void *val, size_t vlen, uint64_t *off);
/* Append the header h (and meta_len bytes of meta) and make the commit
 * durable and visible. h->ckpt_off 0 means "this header". */
int df_commit(quire *db, struct qhdr *h, const void *meta);
/* Read and verify the header at off. df_header() reads a header a
 * committed header reaches (its predecessor, checkpoint, a commit index
 * entry) in place when the file is mapped; df_load_header() always reads
 * with read(): for headers only a slot names, which may lie past the end
 * of a damaged file, and for check and salvage. */
int df_header(struct qfile *qf, uint64_t off, struct qhdr *h);
int df_load_header(struct qfile *qf, uint64_t off, struct qhdr *h);
void df_rollback(quire *db);
int df_sync(quire *db);
int df_flush(quire *db);
/* qdb_open_target()'s file work (dbfile.c). */
int df_create_target(quire *t);
/* fdatasync the file, as a commit would (a failure poisons the handle). */
int df_sync_data(quire *db);
/* Rewrite the current slot with flags (QF_SLOT_SUPERSEDED or 0); the
 * writer locks are held. */
int df_mark(quire *db, uint32_t flags);

int df_stale(quire *db);
/* Whether the file holds a newer commit than cur (or was replaced). */
int df_stale_snap(const struct snap *cur);
int df_read(struct qfile *qf, void *buf, size_t n, uint64_t off,
	    const char *what);


#endif
