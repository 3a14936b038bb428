/*
 * internal.h - the handle, snapshot and transaction structures that the
 * modules share, and the library's constants. Not installed. Each module
 * declares its functions in its own header; HACKING.md maps the modules
 * and the one-way layers they form (scripts/layers.sh checks them).
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
	_Atomic int dir_synced;  /* this process synced its directory since
				  * opening it (before its first commit) */
};

/* An immutable view of one commit, shared by the transactions reading it:
 * the trees its header names plus the pending operations (those of the
 * memtable below h.next_seq). */
struct snap {
	_Atomic int refs;
	struct qhdr h;
	struct memtable *mt;     /* one reference held */
	struct qfile *qf;        /* the file it reads; one reference held */
	/* its keyspace catalog by name (keyspace.c), shared from the commit
	 * before when this one left the catalog alone, else built once
	 * enough quire_keyspace() calls paid for it; NULL: not yet */
	_Atomic(struct kscat *) cat;
	_Atomic uint32_t cat_misses; /* opens answered without it */
	_Atomic uint32_t cat_budget; /* how many before it is built
				      * (UINT32_MAX: not known yet) */
};

/* A snapshot's keyspace catalog, sorted by name; shared by snapshots.
 * The names follow the entries (e[n]), each at its offset. */
struct kscat {
	_Atomic int refs;
	size_t n;
	struct kscat_ent {
		uint32_t off, len, id;
	} e[];
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
	int headers_only;       /* qdb_open_copy: pending operations are
				 * never loaded (quire_backup appends bytes
				 * to a copy and reads only its headers) */
	int keep_lock;          /* a compaction's file: its writer lock is
				 * held from creation to the swap */
	int defer_checkpoint;   /* commits append batches only (the commits
				 * a compaction copies, see checkpoint_due) */

	/* The compaction attached by quire_open (autocompact.c), which the
	 * core reaches only through hooks; both NULL on the library's own
	 * handles (a compaction's new file, salvage's reader). */
	const struct compact_hooks *hooks;
	struct compactor *compactor;

	_Atomic int ntxn;       /* open transactions, for quire_close */
	struct txn_pool txn_pool; /* ended transactions, for reuse (txn.c) */
};

/* What the core asks of the compaction attached to a handle. */
struct compact_hooks {
	/* After a commit: start a background compaction if one is due, or
	 * (fold) because the commit left its pending operations to one. */
	void (*after_commit)(quire *db, int fold);
	/* Whether one runs on this handle now (it will fold them). */
	int (*running)(const quire *db);
	/* No folding by compaction below this file size (one failed). */
	uint64_t (*retry_floor)(const quire *db);
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
	uint64_t features;       /* QF_FEAT_* its commit turns on */
	int cat_dirty;           /* it wrote keyspace catalog records */
	/* A keyspace view (quire_keyspace) has base, the transaction it
	 * reads and writes through, and is on base's deps (ks_dep); only its
	 * state, db, snap and write mirror base's. */
	quire_txn *base;
	uint32_t ks_id;          /* 0: the default keyspace */
	struct txn_dep ks_dep;
	/* Once ended, the struct waits in db->txn_pool (see txn.c) */
	struct quire_txn *pool_next;
	uint64_t pool_begun;     /* txn_pool.begun when it ended */
	struct quire_txn *live_next, **live_pprev; /* in txn_pool.live */
};

/* db.c: quire_open() over another VFS (the tests' fault injector) */
int qdb_open_vfs(const char *path, const quire_options *opts, qvfs *vfs,
		 quire **db);
/* Read-only open for quire_salvage(): snapshots of a commit whose pending
 * batches are damaged read the trees alone (salvage reads the batches
 * itself). */
int qdb_open_salvage(const char *path, quire **db);
/* Writable open of a copy for quire_backup(): no compaction attached, and
 * snapshots without their pending operations (opening a big file does not
 * read its batches); only headers, slots and the writer lock are used.
 * Closed with qdb_free(). */
int qdb_open_copy(const char *path, qvfs *vfs, int busy_timeout_ms,
		  quire **db);
/* quire_receive() over a given VFS (tests: faults and crashes). */
int qdb_receive_vfs(const char *dst, const quire_options *opts, qvfs *vfs,
		    unsigned int flags, quire_stream_read_fn read, void *ctx,
		    quire_stream_stats *st);

#endif
