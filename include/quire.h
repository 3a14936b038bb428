/*
 * quire.h - public interface of quire, an append-only copy-on-write B+tree
 * database in a single file.
 *
 * A quire database is one file, written only at its end. A commit appends
 * its operations (a batch) and then a checksummed header naming the new
 * state; now and then a checkpoint folds the pending batches into the
 * B+tree, appending the nodes it rewrites. Bytes that a committed header
 * can reach are never written again, so a crash leaves the last complete
 * commit. Readers work on snapshots (a pinned header), read the file in
 * place through a read-only mapping, and are never blocked by the single
 * writer. Every header points to the one before: old commits stay readable
 * (AS-OF reads, the commit log, the changes feed, key history, diffs)
 * until a compaction, which copies what the retention policy keeps into a
 * fresh file and swaps it in, drops them.
 *
 * Conventions used throughout this file:
 *  - Functions return 0 on success or a negative QUIRE_E* code (QUIRE_NOTFOUND
 *    is a status, not a failure). quire_strerror() names a code;
 *    quire_errmsg() gives the detail of the last failure in this thread (file
 *    name, offset, errno text).
 *  - Output parameters come last and are written only on success.
 *  - Keys are byte strings compared with memcmp(); a shorter key sorts before
 *    every longer key it is a prefix of. Empty keys and empty values are valid.
 *  - Handles are opaque. A quire handle may be shared by any number of
 *    threads. A transaction and its cursors belong to one thread at a time.
 *
 * See quire(3) for a tutorial and docs/FORMAT.md for the file format.
 */
#ifndef QUIRE_H
#define QUIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QUIRE_VERSION_MAJOR 0
#define QUIRE_VERSION_MINOR 1
#define QUIRE_VERSION_PATCH 0
#define QUIRE_VERSION_STRING "0.1.0"

/**
 * Return the library version as a string ("0.1.0") and, for each pointer
 * that is not NULL, its parts. The result may differ from QUIRE_VERSION_*
 * when the program runs against a newer shared library.
 */
const char *quire_version(int *major, int *minor, int *patch);

/** @name Return codes
 * Every code is negative except QUIRE_OK. Codes are stable across versions.
 * @{ */
#define QUIRE_OK 0
/** The key (or cursor position) does not exist. Not an error. */
#define QUIRE_NOTFOUND (-1)
/** Invalid argument or API misuse (NULL handle, a write through a read-only
 *  transaction, a transaction used after it ended, ...).
 *
 *  A transaction handle used after quire_commit() or quire_abort() ended it
 *  gets QUIRE_EINVAL from every call, which changes nothing (quire_abort()
 *  just returns, quire_txn_id() returns 0), at least until 64 later
 *  transactions of the same quire handle have begun, though not after
 *  quire_close() of that handle; later its memory may serve a new
 *  transaction. So the check catches the mistake soon after it happens,
 *  but it is a bug to fix, not a way to ask whether a transaction ended.
 *  Cursors, changes feeds, key histories and diffs whose transaction
 *  (either one, for a diff) ended get QUIRE_EINVAL from every call until
 *  they are closed, with no such limit. */
#define QUIRE_EINVAL (-2)
/** Out of memory. */
#define QUIRE_ENOMEM (-3)
/** The operating system reported an I/O error. Nothing committed is lost. */
#define QUIRE_EIO (-4)
/** The disk is full. The commit did not happen; free space and retry. */
#define QUIRE_ENOSPC (-5)
/** A checksum or structural check failed on data that a committed header
 *  reaches. quire_errmsg() names the file offset. The data is never served. */
#define QUIRE_ECORRUPT (-6)
/** Another process holds the writer lock (see quire_options.busy_timeout_ms),
 *  or the handle still has open transactions at quire_close(). */
#define QUIRE_EBUSY (-7)
/** A write was attempted on a database opened with QUIRE_RDONLY. */
#define QUIRE_ERDONLY (-8)
/** A key longer than QUIRE_MAX_KEY_SIZE or a value longer than
 *  QUIRE_MAX_VALUE_SIZE. */
#define QUIRE_ETOOBIG (-9)
/** An earlier fsync (or a write the database depends on) failed, so this
 *  handle can no longer tell what reached the disk. It refuses further
 *  commits; close it and open the database again to recover. */
#define QUIRE_EFATAL (-10)
/** The file is not a quire database. */
#define QUIRE_ENOTDB (-11)
/** The file was written by an incompatible version of the format. */
#define QUIRE_EVERSION (-12)
/** The file does not exist and QUIRE_CREATE was not given. */
#define QUIRE_ENOENT (-13)
/** The operating system denied access to the file or its directory. */
#define QUIRE_EACCES (-14)
/** The history asked for (an old commit, operations before some sequence
 *  number) is no longer in the file: compaction removed it. */
#define QUIRE_EHISTORY (-15)
/** A conditional put or delete found the key at another version. */
#define QUIRE_ECONFLICT (-16)
/** quire_wait() ran out of time. */
#define QUIRE_ETIMEDOUT (-17)
/** A progress callback asked to stop (quire_compact()). */
#define QUIRE_ECANCELED (-18)
/** A keyspace of that name exists already (quire_keyspace_rename()). */
#define QUIRE_EEXIST (-19)
/** @} */

/** Largest key, in bytes. */
#define QUIRE_MAX_KEY_SIZE 8192
/** Largest commit metadata (quire_commit_with), in bytes. */
#define QUIRE_MAX_META_SIZE 65536u
/** Largest value, in bytes (1 GiB). Values above a small threshold are stored
 *  out of line, one contiguous checksummed block each. */
#define QUIRE_MAX_VALUE_SIZE ((size_t)1 << 30)

/**
 * Name an error code ("corrupt database", ...). Never NULL; unknown codes
 * give "unknown error". The string is static.
 */
const char *quire_strerror(int err);

/**
 * Detail of the most recent failure returned by a quire call in the calling
 * thread, e.g. "/tmp/a.quire: node at offset 81920: checksum mismatch".
 * Returns "" if there is none. The string belongs to the thread and stays
 * valid until its next quire call.
 */
const char *quire_errmsg(void);

/** Opaque database handle. Thread-safe. */
typedef struct quire quire;
/** Opaque transaction: a read snapshot or the single write transaction. */
typedef struct quire_txn quire_txn;
/** Opaque cursor over the keys of a transaction, in key order. */
typedef struct quire_cursor quire_cursor;

/** A byte string returned by quire: a key or a value. */
typedef struct quire_val {
	const void *data;
	size_t size;
} quire_val;

/** @name Flags
 * @{ */
/** quire_open: create the file if it does not exist. */
#define QUIRE_CREATE 0x1u
/** quire_open: open read-only; never write the file. quire_begin: begin a
 *  read-only snapshot of the latest commit. */
#define QUIRE_RDONLY 0x2u
/** quire_open: do not fsync at commit. Commits stay atomic: after a crash the
 *  database opens at an earlier commit, never in a corrupt state. Use
 *  quire_sync() to make everything committed so far durable. The handle
 *  still syncs on its own once 256 MiB have been appended since the last
 *  durable commit, so that opening after a reboot (which verifies what was
 *  written since then) reads a bounded amount. */
#define QUIRE_NOSYNC 0x4u
/** quire_open: read the file with read() into a node cache of cache_size
 *  bytes instead of in place through a memory mapping (the default).
 *  The mapping serves committed nodes and values from the operating
 *  system's page cache without copying; reading a page of it can fail only
 *  with a disk error or when another program truncates the file, and quire
 *  contains that (the call returns QUIRE_EIO, see quire(3)) unless the
 *  application replaces quire's SIGBUS handler. Use this flag where a
 *  mapping is unwelcome (a file system without coherent shared mappings,
 *  an application that owns SIGBUS) or cannot be made. */
#define QUIRE_NOMMAP 0x8u
/** quire_open: let the background compaction (auto_compact_ratio) use
 *  the CPU as much as the scheduler gives it. By default it yields: while
 *  other threads wait for a CPU (Linux counts that per thread) it sleeps
 *  twice the CPU time it got, so that on busy CPUs it leaves most of them
 *  to the application's threads and to readers in other processes, and on
 *  idle ones it runs at full speed. It never sleeps while it holds the
 *  writers off, nor while a writer waits for it: a writer that outruns it
 *  waits once the pending operations reach their limit (see
 *  checkpoint_ops), so writes slow down rather than memory grow, and the
 *  compaction then runs at full speed. Set this flag where the compaction
 *  must keep up on CPUs that other work keeps busy. Elsewhere than Linux
 *  the compaction never yields. */
#define QUIRE_COMPACT_NOYIELD 0x10u
/** @} */

#define QUIRE_OPTIONS_VERSION 1

/** Options for quire_open(). Initialise with quire_options_init(). */
typedef struct quire_options {
	/** Set by quire_options_init(); lets the library grow this struct. */
	unsigned int version;
	/** QUIRE_CREATE, QUIRE_RDONLY, QUIRE_NOSYNC, QUIRE_NOMMAP,
	 *  QUIRE_COMPACT_NOYIELD. Default 0. */
	unsigned int flags;
	/** Permission bits of a new file, before the umask. Default 0644. */
	unsigned int mode;
	/** Target size of tree nodes written by this handle, 512 to 32768 bytes.
	 *  Default 4096. Files with different node sizes stay compatible. */
	unsigned int node_size;
	/** Used only when the file is read with read() (QUIRE_NOMMAP, or a
	 *  mapping could not be made): bytes of decoded nodes kept in memory,
	 *  shared by every transaction of the handle, counting each node's
	 *  search index and bookkeeping (8 bytes an entry: a tenth of a 4 KiB
	 *  leaf of 100-byte values). Default 64 MiB; minimum 1 MiB. By default
	 *  nodes are read in place from the operating system's page cache and
	 *  this budget is not used: there is nothing to tune. With
	 *  QUIRE_NOMMAP, reads of a tree larger than the cache go to the file
	 *  on every miss; raise it toward the file size (quire_stat) when reads
	 *  matter and memory allows. */
	size_t cache_size;
	/** How long quire_begin() of a write transaction waits for a writer in
	 *  another process: 0 fails at once with QUIRE_EBUSY (default), a
	 *  negative value waits forever. The bound holds for the whole wait,
	 *  also when a compaction moves the database to a new file meanwhile.
	 *  Writers in the same process (any handle of the same file) always
	 *  wait their turn, without a bound. quire_compact() does not obey it:
	 *  it waits for another process's writer while it goes on copying. */
	int busy_timeout_ms;
	/** A commit appends only its operations (a batch) until this many
	 *  operations are pending; the commit that reaches it folds them all
	 *  into the tree (a checkpoint). Larger values write less but keep more
	 *  in memory and make opening after a crash read more. Default 131072,
	 *  and at the default or above, while automatic compaction is on and
	 *  the retention policy does not keep every commit, the threshold
	 *  grows to a quarter of the keys (within pending batches of an
	 *  eighth of the key tree's bytes, or 64 MiB if that is more: the
	 *  memory pending operations take grows with the data) and a
	 *  checkpoint that would rewrite more than half of a large tree
	 *  is left to a background compaction, which writes the tree once, in
	 *  order, into a file without garbage (README: write amplification).
	 *  Values below the default are used as given; 1 folds every commit
	 *  into the tree at once. */
	unsigned long checkpoint_ops;
	/** Compact in a background thread of the handle (quire_compact()
	 *  without options: the file's retention policy decides what history
	 *  stays, see quire_set_retention()) once a commit of this handle
	 *  leaves more than this fraction of the file reclaimable
	 *  (quire_stat.reclaimable_bytes, garbage_ratio) and at least 1 MiB
	 *  of it. Default 0.4: the file peaks at about 1.7 times what
	 *  compaction keeps (about twice the key and value bytes under
	 *  random overwrites), and the compactions cost the writer less than
	 *  a sixth of its throughput (README). 0 never compacts by itself;
	 *  values must lie in [0, 1). One that fails (a full disk) is tried
	 *  again once the file has grown by a quarter; one that finds another
	 *  compaction of the database running leaves the work to it and
	 *  looks again after a 32nd, or in the file that one moves the
	 *  handle to. */
	double auto_compact_ratio;
} quire_options;

/** Fill opts with the defaults. Always call it before setting fields. */
void quire_options_init(quire_options *opts);

/**
 * Open (and with QUIRE_CREATE, create) the database file at path.
 *
 * Opening finds the newest commit that is complete on disk; it reads a
 * bounded amount of data, independent of the file size. A torn tail left by
 * a crash is ignored, and cut away by the next writer. A read-only open
 * never writes to the file.
 *
 * @param path  file name; the directory must exist.
 * @param opts  options, or NULL for the defaults.
 * @param db    receives the handle; release it with quire_close().
 * A file whose newest commit is gone or damaged (truncated by someone
 * else, say) opens at the last commit that verifies; quire_check()
 * reports what is missing, and the next writer cuts away what follows, so
 * check or copy a suspect file before writing to it.
 *
 * @return 0, QUIRE_ENOENT, QUIRE_EACCES, QUIRE_ENOTDB, QUIRE_EVERSION,
 *         QUIRE_ECORRUPT, QUIRE_EIO, QUIRE_ENOSPC (creating the file),
 *         QUIRE_ENOMEM, QUIRE_EINVAL, QUIRE_EBUSY (with QUIRE_CREATE:
 *         another process is creating the file and busy_timeout_ms ran
 *         out).
 */
int quire_open(const char *path, const quire_options *opts, quire **db);

/**
 * Close the handle. Every transaction (and cursor) of the handle must have
 * ended; otherwise QUIRE_EBUSY is returned and the handle stays open.
 * quire_close(NULL) returns 0.
 *
 * A background compaction of the handle is canceled. Then, on a writable
 * handle with automatic compaction on (auto_compact_ratio > 0), closing
 * compacts the file if a compaction is due or at least half a checkpoint
 * of operations is pending (as SQLite's last connection checkpoints its
 * WAL), so the next open finds the tree, not a long chain of batches: a
 * close can then take as long as a compaction. A failure of that
 * compaction leaves the file as it was and close still returns 0.
 * Otherwise closing does not sync: with QUIRE_NOSYNC call quire_sync()
 * first if the last commits must be durable (a compaction at close syncs
 * what it writes).
 * @return 0, QUIRE_EBUSY (transactions still open).
 */
int quire_close(quire *db);

/**
 * Make every commit of this handle durable (one fdatasync). Needed only with
 * QUIRE_NOSYNC.
 * @return 0, QUIRE_EIO (the handle then fails further commits with
 *         QUIRE_EFATAL), QUIRE_ERDONLY, QUIRE_EFATAL, QUIRE_EBUSY (the
 *         calling thread holds the write transaction), QUIRE_ENOMEM,
 *         QUIRE_EINVAL.
 */
int quire_sync(quire *db);

/**
 * Fold every pending operation into the tree now (see
 * quire_options.checkpoint_ops), as one commit. Later reads need not merge
 * pending operations, and opening after a crash has less to read. Takes the
 * writer lock like a write transaction.
 * @return 0 (also when nothing was pending), QUIRE_EBUSY, QUIRE_ERDONLY,
 *         QUIRE_EFATAL, QUIRE_EIO, QUIRE_ENOSPC, QUIRE_ECORRUPT,
 *         QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_checkpoint(quire *db);

/**
 * Begin a transaction.
 *
 * With flags == QUIRE_RDONLY: a snapshot of the latest commit, including
 * commits made by other processes. It takes no lock a writer holds longer than
 * a pointer swap and is never blocked; it sees the same data until it ends.
 * Any number may be open in any number of threads.
 *
 * With flags == 0: the write transaction. One per database at a time: a
 * second writer in this process (on the same handle, or on another handle
 * of the same file) waits until the first ends, but a thread that already
 * holds the write transaction gets QUIRE_EBUSY at once (waiting for itself
 * would never end; the same holds for quire_sync() and quire_checkpoint());
 * a writer in
 * another process makes this call wait for busy_timeout_ms and then return
 * QUIRE_EBUSY. The transaction sees its own writes through quire_get() and
 * cursors; nobody else sees them before quire_commit().
 *
 * @return 0, QUIRE_EBUSY, QUIRE_ERDONLY (write on a read-only handle),
 *         QUIRE_EFATAL (handle failed earlier), QUIRE_EIO, QUIRE_ECORRUPT,
 *         QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_begin(quire *db, unsigned int flags, quire_txn **txn);

/**
 * Commit and end the transaction. On return the transaction has ended
 * whether or not the commit succeeded: the handle must not be used again
 * (see QUIRE_EINVAL), and its cursors, feeds, histories and diffs only fail
 * with QUIRE_EINVAL until closed. On a transaction that had ended already
 * it does nothing and returns QUIRE_EINVAL.
 *
 * A write transaction appends its operations (usually as one batch block,
 * see quire_options.checkpoint_ops) and a new header, then (unless
 * QUIRE_NOSYNC) calls fdatasync once; 0 means the commit is durable. On
 * failure nothing of the transaction is visible and earlier commits are
 * intact. A transaction without changes commits nothing. Committing a read
 * snapshot just ends it.
 *
 * @return 0, QUIRE_EIO, QUIRE_ENOSPC, QUIRE_EFATAL (the fsync failed: the
 *         handle refuses further commits until reopened), QUIRE_ECORRUPT
 *         (a node a checkpoint folds into), QUIRE_ENOMEM, QUIRE_EINVAL
 *         (NULL, or the transaction had ended).
 */
int quire_commit(quire_txn *txn);

/**
 * quire_commit() with metadata: a small blob (up to QUIRE_MAX_META_SIZE
 * bytes; who made the change and why, say) stored in the commit's header and
 * returned by quire_log_get(). A write transaction with metadata but no
 * changes still commits. On a read snapshot the metadata is ignored. Ends
 * the transaction in every case (one that had ended: QUIRE_EINVAL).
 * @return 0, QUIRE_EIO, QUIRE_ENOSPC, QUIRE_EFATAL, QUIRE_ECORRUPT,
 *         QUIRE_ENOMEM, QUIRE_EINVAL (as quire_commit(), and meta NULL
 *         with len > 0), QUIRE_ETOOBIG (metadata too long).
 */
int quire_commit_with(quire_txn *txn, const void *meta, size_t len);

/** Discard the transaction and end it (its cursors, feeds, histories and
 *  diffs are detached: they fail with QUIRE_EINVAL but must still be
 *  closed). quire_abort(NULL) does nothing, and so does quire_abort() of a
 *  transaction that ended already (for as long as QUIRE_EINVAL says such a
 *  handle is recognised). */
void quire_abort(quire_txn *txn);

/**
 * Transaction id: for a snapshot, the id of the commit it shows (0 for an
 * empty new database); for a write transaction, the id its commit will get.
 * 0 for NULL and for a transaction that ended (see QUIRE_EINVAL).
 */
uint64_t quire_txn_id(const quire_txn *txn);

/**
 * Look up key.
 *
 * @param val receives the value. The bytes stay valid until the transaction
 *        ends (for a write transaction, also until the next put or del of
 *        the same key) and must not be modified.
 * @return 0, QUIRE_NOTFOUND, QUIRE_ETOOBIG (key too long), QUIRE_ECORRUPT,
 *         QUIRE_EIO, QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_get(quire_txn *txn, const void *key, size_t klen, quire_val *val);

/**
 * Insert or replace key in a write transaction. quire copies key and value
 * (large values are written to the file at once, so a transaction may hold
 * more than fits in memory).
 *
 * @return 0, QUIRE_ETOOBIG, QUIRE_EINVAL (read-only txn), QUIRE_EIO,
 *         QUIRE_ENOSPC, QUIRE_ENOMEM.
 */
int quire_put(quire_txn *txn, const void *key, size_t klen, const void *val,
	      size_t vlen);

/**
 * Delete key in a write transaction.
 * @return 0, QUIRE_NOTFOUND (nothing to delete; the transaction is
 *         unchanged), QUIRE_ETOOBIG, QUIRE_EINVAL, QUIRE_ECORRUPT, QUIRE_EIO,
 *         QUIRE_ENOMEM.
 */
int quire_del(quire_txn *txn, const void *key, size_t klen);

/**
 * Delete every key k with from <= k < to in a write transaction, in
 * O(log n + nodes touched) when it commits: subtrees wholly inside the
 * range are dropped unread, only the paths to its two ends are rewritten.
 * The transaction sees the keys gone at once (gets, cursors); puts into the
 * range after this call stay. AS-OF reads of earlier commits still see the
 * keys, and the changes feed reports the call as one operation
 * (QUIRE_OP_DEL_RANGE, with the range and the count). A commit that holds a
 * range delete folds the pending operations into the trees (a checkpoint).
 *
 * @param from the first key of the range (NULL with flen 0: from the
 *        smallest key).
 * @param to the end of the range, not in it (NULL: to the last key).
 * @param removed if not NULL, receives how many keys the transaction saw in
 *        the range; 0 leaves the transaction unchanged.
 * @return 0, QUIRE_ETOOBIG (a bound too long), QUIRE_EINVAL (to before
 *         from, or a read-only txn), QUIRE_ECORRUPT, QUIRE_EIO,
 *         QUIRE_ENOMEM.
 */
int quire_del_range(quire_txn *txn, const void *from, size_t flen,
		    const void *to, size_t tlen, uint64_t *removed);

/**
 * Delete every key that starts with prefix (plen 0: every key), as
 * quire_del_range() does for the range the prefix spans.
 * @return 0, QUIRE_ETOOBIG, QUIRE_EINVAL, QUIRE_ECORRUPT, QUIRE_EIO,
 *         QUIRE_ENOMEM.
 */
int quire_del_prefix(quire_txn *txn, const void *prefix, size_t plen,
		     uint64_t *removed);

/**
 * Open a cursor on the transaction. It starts unpositioned; position it with
 * quire_cursor_first/last/seek. On a write transaction it reflects puts and
 * deletes made after it was opened. Close it with quire_cursor_close(),
 * before or after the transaction ends (a cursor outliving its transaction
 * only fails with QUIRE_EINVAL).
 * @return 0, QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_cursor_open(quire_txn *txn, quire_cursor **cur);

/** Close the cursor. quire_cursor_close(NULL) does nothing. */
void quire_cursor_close(quire_cursor *cur);

/**
 * Position at the first key >= key. Like every cursor move, it may fail
 * with the errors of reading a node (the cursor is then unpositioned).
 * @return 0, QUIRE_NOTFOUND (every key is smaller; the cursor is then
 *         unpositioned), QUIRE_ETOOBIG, QUIRE_ECORRUPT, QUIRE_EIO,
 *         QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_cursor_seek(quire_cursor *cur, const void *key, size_t klen);

/** Position at the first / last key.
 *  @return 0, QUIRE_NOTFOUND (empty), QUIRE_ECORRUPT, QUIRE_EIO,
 *          QUIRE_ENOMEM, QUIRE_EINVAL. */
int quire_cursor_first(quire_cursor *cur);
int quire_cursor_last(quire_cursor *cur);

/**
 * Move to the next / previous key. On an unpositioned cursor next behaves
 * as first and prev as last.
 * @return 0, QUIRE_NOTFOUND (past the end: the cursor is then
 *         unpositioned), QUIRE_ECORRUPT, QUIRE_EIO, QUIRE_ENOMEM,
 *         QUIRE_EINVAL.
 */
int quire_cursor_next(quire_cursor *cur);
int quire_cursor_prev(quire_cursor *cur);

/**
 * The key / value at the cursor. The bytes stay valid until the cursor moves
 * or closes (and, on a write transaction, until the next put or del). On a
 * write transaction they reflect puts made after the cursor moved; if the key
 * under the cursor was deleted, both return QUIRE_NOTFOUND until the cursor
 * moves (next and prev then go on from the deleted key's place).
 * @return 0, QUIRE_NOTFOUND (unpositioned), QUIRE_ECORRUPT, QUIRE_EIO,
 *         QUIRE_ENOMEM (reading a value stored out of line), QUIRE_EINVAL.
 */
int quire_cursor_key(quire_cursor *cur, quire_val *key);
int quire_cursor_value(quire_cursor *cur, quire_val *val);

/** Keep every commit (quire_retention.commits). */
#define QUIRE_KEEP_ALL UINT64_MAX
/** The retention of new files: the newest commit only. */
#define QUIRE_RETAIN_DEFAULT 1

/** History retention policy (quire_set_retention()). */
typedef struct quire_retention {
	uint64_t commits; /**< keep the newest this many commits (at least
			       1); QUIRE_KEEP_ALL: every commit */
	uint64_t ns;      /**< and those made in the last ns ns (0: none) */
} quire_retention;

/** Figures of one commit, as recorded in its header (quire_txn_stat()). */
typedef struct quire_stat {
	uint64_t txn_id;         /**< commit id (0: the empty initial state) */
	uint64_t commit_time_ns; /**< wall clock, ns since 1970; never decreases */
	uint64_t next_seq;       /**< sequence number the next operation gets */
	uint64_t key_count;      /**< keys in the database */
	uint64_t live_bytes;     /**< bytes the newest state needs: key tree
				      nodes, values and pending batches */
	uint64_t oplog_bytes;    /**< bytes of the by-sequence tree (oplog) */
	uint64_t file_bytes;     /**< file size up to the end of this commit */
	uint32_t depth;          /**< key tree height (0 when empty) */
	uint32_t node_size;      /**< target node size of the writing handle */
	uint64_t pending_ops;    /**< operations not yet folded into the tree */
	uint64_t pending_bytes;  /**< bytes of their batches (in live_bytes) */
	double garbage_ratio;    /**< reclaimable_bytes / file_bytes: the
				      share of the file a compaction under
				      the retention policy would free */
	uint64_t history_txn;    /**< oldest commit still readable (0 until a
				      compaction dropped older ones) */
	uint64_t history_seq;    /**< oldest operation still in the changes
				      feed (1 until compaction) */
	quire_retention retention; /**< the file's history retention policy */
	uint64_t raw_bytes;      /**< key and value bytes of the live keys
				      (UINT64_MAX: not known, in a file not
				      yet compacted since it was written by
				      quire 0.1; after a range delete, an
				      estimate until the next compaction
				      counts them) */
	uint64_t kept_bytes;     /**< what a compaction under the retention
				      policy would write: the live state plus
				      the history the policy keeps (an
				      estimate from the counts, within about
				      1% of the result) */
	uint64_t history_bytes;  /**< of kept_bytes, the retained history */
	uint64_t reclaimable_bytes; /**< file_bytes - kept_bytes (0 if less):
				      what that compaction would free */
	uint64_t pinned_bytes;   /**< bytes of older files this handle's
				      snapshots still hold open (a compaction
				      frees their space only when they end) */
	uint64_t pinned_txn;     /**< the oldest commit a snapshot of this
				      handle reads (0 if none) */
	uint64_t pinned_age_ns;  /**< how long ago that commit was made */
} quire_stat;

/** Fill st with the figures of the commit the transaction reads.
 *  @return 0, QUIRE_EINVAL (no st, or a transaction that ended),
 *          QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM. */
int quire_txn_stat(quire_txn *txn, quire_stat *st);

/**
 * Set the file's history retention policy: which commits stay readable
 * (AS-OF reads, the commit log, the changes feed, key history) when a
 * compaction drops history. A commit is kept if it is one of the newest
 * r->commits commits or was made in the last r->ns nanoseconds (before the
 * compaction runs). The policy is stored in the file, in every commit
 * header, so every handle and process (and the quire tool) sees the same
 * one; setting it is a commit of its own (no operations). Automatic
 * compaction and quire_compact() without keep_* options obey it; history
 * outside it may be gone at any later commit (QUIRE_EHISTORY).
 *
 * New files start with { QUIRE_RETAIN_DEFAULT, 0 }: only the newest
 * commit survives a compaction, what quire_compact() always kept. With
 * automatic compaction on by default (quire_options.auto_compact_ratio)
 * that bounds the file under any workload: a policy that keeps every
 * commit makes the file grow with every overwrite, since each version
 * stays readable, and how much history to keep is the application's
 * call. History is still there between compactions; an application that
 * reads the past (AS-OF, a changes-feed follower that may lag, key
 * history) sets the window it needs, or QUIRE_KEEP_ALL for a complete
 * log. Files written by quire 0.1 keep every commit until a policy is
 * set.
 *
 * @return 0, QUIRE_EINVAL (r->commits 0), QUIRE_EBUSY, QUIRE_ERDONLY,
 *         QUIRE_EFATAL, QUIRE_EIO, QUIRE_ENOSPC, QUIRE_ENOMEM.
 */
int quire_set_retention(quire *db, const quire_retention *r);

/** @name History
 * Every commit stays readable until compaction drops it: its snapshot, its
 * figures and metadata, and every operation it made, in order.
 * @{ */

/**
 * Begin a read snapshot of commit txn_id (as quire_begin(db, QUIRE_RDONLY)
 * does for the latest). Gets, cursors, stat and the history calls work on
 * it as on any snapshot. Finding the commit costs O(log commits).
 * @return 0, QUIRE_NOTFOUND (no such commit yet), QUIRE_EHISTORY (compacted
 *         away), QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_begin_at(quire *db, uint64_t txn_id, quire_txn **txn);

/** quire_begin_at_time(): the last commit made at or before the time. */
#define QUIRE_AT_OR_BEFORE 0x10u
/** quire_begin_at_time(): the first commit made at or after the time. */
#define QUIRE_AT_OR_AFTER 0x20u

/**
 * Begin a read snapshot of the commit made at or before (or after) unix_ns,
 * nanoseconds since 1970. Commit times never decrease, so the answer is
 * well defined; see quire_begin_at() for the rest.
 * @param flags QUIRE_AT_OR_BEFORE or QUIRE_AT_OR_AFTER.
 * @return 0, QUIRE_NOTFOUND (no commit qualifies), QUIRE_EHISTORY
 *         (compacted away), QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM,
 *         QUIRE_EINVAL (also any other flags).
 */
int quire_begin_at_time(quire *db, uint64_t unix_ns, unsigned int flags,
			quire_txn **txn);

/** One commit of the commit log, as recorded in its header. */
typedef struct quire_log_entry {
	uint64_t txn_id;
	uint64_t time_ns;   /**< commit time, ns since 1970 */
	uint64_t first_seq; /**< its operations have sequence numbers */
	uint64_t next_seq;  /**<   first_seq .. next_seq - 1 (none if equal) */
	uint64_t bytes;     /**< bytes the commit appended to the file */
	quire_val meta;     /**< quire_commit_with() metadata (size 0: none);
			     *   valid until the transaction ends */
} quire_log_entry;

/**
 * The commit log entry of commit txn_id, any commit up to the one the
 * transaction reads. Walk the log by calling it for txn_id - 1 or + 1; each
 * call costs O(log commits).
 * @return 0, QUIRE_NOTFOUND (beyond the transaction's commit),
 *         QUIRE_EHISTORY, QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM,
 *         QUIRE_EINVAL.
 */
int quire_log_get(quire_txn *txn, uint64_t txn_id, quire_log_entry *entry);

/** Operations, as the changes feed and key history report them. */
#define QUIRE_OP_PUT 1
#define QUIRE_OP_DEL 2
#define QUIRE_OP_DEL_RANGE 3 /**< quire_del_range(), quire_del_prefix(); in
				  *   a key's history, also a keyspace drop */
#define QUIRE_OP_KEYSPACE 4  /**< a keyspace got its name (key): created,
				  *   or renamed (keyspace: its old name) */
#define QUIRE_OP_KEYSPACE_DROP 5 /**< a keyspace was dropped (its name in
				      *   key and keyspace) with all its keys
				      *   (count, to_last set) */

/** One operation of the changes feed. */
typedef struct quire_change {
	uint64_t seq;
	uint64_t txn_id;    /**< the commit that made it */
	int op;             /**< QUIRE_OP_PUT, QUIRE_OP_DEL,
			     *   QUIRE_OP_DEL_RANGE, QUIRE_OP_KEYSPACE or
			     *   QUIRE_OP_KEYSPACE_DROP */
	quire_val key;      /**< valid until the next call on the feed; a
			     *   range's first key */
	quire_val value;    /**< the value put (size 0 for a delete); a
			     *   range's end (not in it) unless to_last */
	int to_last;        /**< QUIRE_OP_DEL_RANGE: the range runs to the
			     *   last key (value is empty) */
	uint64_t count;     /**< QUIRE_OP_DEL_RANGE, QUIRE_OP_KEYSPACE_DROP:
			     *   the keys it removed */
	uint32_t keyspace_id; /**< the keyspace: 0 the default one, else the
			       *   number the file gave the named one (never
			       *   reused, kept across renames) */
	quire_val keyspace; /**< its name when the operation was made (size
			     *   0: the default keyspace; also when the name
			     *   is no longer in the file's history: an
			     *   operation of the oldest commit a compaction
			     *   kept, which renamed or dropped the keyspace
			     *   after it) */
} quire_change;

typedef struct quire_changes quire_changes;

/**
 * Open the changes feed of the transaction's snapshot: every operation with
 * a sequence number above since, in order, up to the snapshot's last one
 * (empty when since is that one or beyond, up to UINT64_MAX). To follow
 * new commits, reopen it on a newer snapshot from the last seq seen (see
 * quire_wait()). A feed, like a key history and a diff, reads through its
 * transaction: once that ended its calls fail with QUIRE_EINVAL, but it
 * must still be closed.
 * @return 0, QUIRE_EHISTORY (operations after since were compacted away),
 *         QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_changes_open(quire_txn *txn, uint64_t since, quire_changes **feed);

/** The next operation.
 *  @return 0, QUIRE_NOTFOUND (at the end), QUIRE_EIO, QUIRE_ECORRUPT,
 *          QUIRE_ENOMEM, QUIRE_EINVAL. */
int quire_changes_next(quire_changes *feed, quire_change *change);
void quire_changes_close(quire_changes *feed);

/** One version of a key. */
typedef struct quire_key_version {
	uint64_t seq;
	uint64_t txn_id;
	uint64_t time_ns;   /**< the commit's time */
	int op;             /**< QUIRE_OP_PUT, QUIRE_OP_DEL (a tombstone), or
			     *   QUIRE_OP_DEL_RANGE (a range delete or a
			     *   keyspace drop removed the key) */
	quire_val value;    /**< valid until the next call on the history */
} quire_key_version;

typedef struct quire_history quire_history;

/**
 * Open the history of key in the transaction's snapshot: its committed
 * versions, newest first (puts, deletes, and the range deletes and
 * keyspace drops that removed it). Each step costs O(log n), but the step
 * past a range delete: it reads the key in the commit before, as an AS-OF
 * snapshot would. Versions a range delete removed in the transaction that
 * made them are not listed (no commit showed them).
 * @return 0 (also for a key never written: the history is just empty),
 *         QUIRE_ETOOBIG, QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM,
 *         QUIRE_EINVAL.
 */
int quire_history_open(quire_txn *txn, const void *key, size_t klen,
		       quire_history **hist);

/** The next older version.
 *  @return 0, QUIRE_NOTFOUND (past the first version), QUIRE_EHISTORY
 *          (older versions were compacted away), QUIRE_EIO,
 *          QUIRE_ECORRUPT, QUIRE_ENOMEM, QUIRE_EINVAL. */
int quire_history_next(quire_history *hist, quire_key_version *version);
void quire_history_close(quire_history *hist);

/** One key that differs between two snapshots. */
typedef struct quire_delta {
	quire_val key;
	int in_a, in_b;     /**< whether the key exists in each snapshot */
	quire_val a, b;     /**< its values there (when it exists) */
} quire_delta;

typedef struct quire_diff quire_diff;

/**
 * Open the difference between two snapshots of the same file (of one
 * handle or of two handles that opened the same file): every key
 * whose value differs (or that exists in one only), in key order. Subtrees
 * the two commits share are skipped, so the cost follows the size of the
 * difference, not of the database. Given two views of one keyspace
 * (quire_keyspace()), the difference in that keyspace. When either
 * transaction ends the diff's calls fail with QUIRE_EINVAL; it must still
 * be closed.
 * @return 0, QUIRE_EINVAL (different files, views of two keyspaces, or a
 *         transaction that ended),
 *         QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM.
 */
int quire_diff_open(quire_txn *a, quire_txn *b, quire_diff **diff);

/** The next differing key. The bytes stay valid until the next call.
 *  @return 0, QUIRE_NOTFOUND (at the end), QUIRE_EIO, QUIRE_ECORRUPT,
 *          QUIRE_ENOMEM, QUIRE_EINVAL. */
int quire_diff_next(quire_diff *diff, quire_delta *delta);
void quire_diff_close(quire_diff *diff);

/**
 * @defgroup keyspaces Keyspaces
 *
 * A file holds the *default keyspace* plus any number of named ones, each
 * its own sorted set of keys. A transaction reaches a named keyspace
 * through a *keyspace view*: a quire_txn that quire_keyspace() returns,
 * which every call taking a transaction accepts (get, put, del, CAS, range
 * deletes, cursors, key history, changes feed, diff, quire_txn_id). The
 * view reads and writes the keyspace inside the transaction it came from:
 * one commit of that transaction commits every keyspace it touched
 * atomically, and a snapshot sees all keyspaces at one commit. A view needs
 * no closing; it ends with its transaction (later calls on it fail with
 * QUIRE_EINVAL), and quire_commit()/quire_abort() of a view are refused
 * (QUIRE_EINVAL; abort just returns): end the transaction instead. The
 * transaction itself reads and writes the default keyspace, except that
 * its changes feed reports every keyspace (a view's feed reports its own).
 *
 * Names are 1 to QUIRE_MAX_KEYSPACE_NAME bytes, any bytes. Keys of named
 * keyspaces have the same limits as the default keyspace's. A file gets
 * its first named keyspace in a version 3 header with the keyspace feature
 * (docs/FORMAT.md), which readers older than this library refuse with
 * QUIRE_EVERSION; files without named keyspaces keep their format.
 * @{
 */

/** Longest keyspace name, in bytes. */
#define QUIRE_MAX_KEYSPACE_NAME 255

/**
 * A view of keyspace name in txn, in *ks (see above): O(log keyspaces), a
 * binary search in the catalog of the transaction's snapshot, which the
 * first open in a snapshot reads (O(keyspaces)) unless the handle's own
 * commit before it left the catalog alone; in a transaction that created,
 * renamed or dropped a keyspace, one lookup in the key tree (O(log n)).
 * With name NULL (nlen 0), the default keyspace (a view whose feed reports
 * the default keyspace only).
 * @param flags QUIRE_CREATE: create it when it does not exist (a write
 *        transaction; it exists for others once the transaction commits).
 * @return 0, QUIRE_NOTFOUND (no such keyspace and no QUIRE_CREATE),
 *         QUIRE_EINVAL (empty or longer than QUIRE_MAX_KEYSPACE_NAME,
 *         QUIRE_CREATE in a read-only transaction, bad flags, an ended
 *         transaction), QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM.
 */
int quire_keyspace(quire_txn *txn, const void *name, size_t nlen,
		   unsigned int flags, quire_txn **ks);

/**
 * Rename keyspace name to newname in a write transaction. Its keys, its
 * number (quire_change.keyspace_id) and views opened on it stay.
 * @return 0, QUIRE_NOTFOUND (no keyspace name), QUIRE_EEXIST (newname
 *         exists), QUIRE_EINVAL, QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM.
 */
int quire_keyspace_rename(quire_txn *txn, const void *name, size_t nlen,
			  const void *newname, size_t newlen);

/**
 * Drop keyspace name and all its keys in a write transaction, in
 * O(log n + nodes touched) like quire_del_range(). The changes feed reports
 * it as one QUIRE_OP_KEYSPACE_DROP with the count of keys removed (a range
 * delete of the whole keyspace just before it in the transaction is
 * counted there too); AS-OF reads of earlier commits still see the
 * keyspace and its keys. Views of it in this transaction end.
 * @param removed if not NULL, receives how many keys it held.
 * @return 0, QUIRE_NOTFOUND (no such keyspace), QUIRE_EINVAL, QUIRE_EIO,
 *         QUIRE_ECORRUPT, QUIRE_ENOMEM.
 */
int quire_keyspace_drop(quire_txn *txn, const void *name, size_t nlen,
			uint64_t *removed);

/** Called by quire_keyspace_list() for each named keyspace; a nonzero
 *  return stops the listing and is returned by it. */
typedef int (*quire_keyspace_fn)(void *ctx, const void *name, size_t nlen);

/**
 * Call fn for every named keyspace the transaction sees, in bytewise order
 * of the names (the default keyspace is not listed).
 * @return 0, what fn returned, QUIRE_EINVAL, QUIRE_EIO, QUIRE_ECORRUPT,
 *         QUIRE_ENOMEM.
 */
int quire_keyspace_list(quire_txn *txn, quire_keyspace_fn fn, void *ctx);

/**
 * How many keys the keyspace of view ks (or the default keyspace, given a
 * transaction) holds as the transaction sees it, in O(log n) (subtree
 * counts), and if bytes is not NULL the bytes of its keys and values, which
 * reads every key of it: O(keys).
 * @return 0, QUIRE_EINVAL, QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM.
 */
int quire_keyspace_stat(quire_txn *ks, uint64_t *keys, uint64_t *bytes);

/** @} */

/**
 * Wait until the operation with sequence number seq is committed (durable,
 * without QUIRE_NOSYNC), by this or any other process: until a new snapshot
 * would see next_seq > seq. Commits of this handle wake the caller at once;
 * those of other processes are noticed within a few milliseconds.
 * timeout_ms < 0 waits forever.
 * @return 0, QUIRE_ETIMEDOUT, QUIRE_EIO, QUIRE_ECORRUPT, QUIRE_ENOMEM
 *         (reading other processes' commits), QUIRE_EINVAL.
 */
int quire_wait(quire *db, uint64_t seq, int timeout_ms);

/** @} */

/** @name Versions and compare-and-swap
 * A key's version is the sequence number of the operation that set its
 * current value; 0 means the key does not exist.
 * @{ */

/**
 * quire_get() that also returns the key's version in *seq (0 and
 * QUIRE_NOTFOUND if absent). val may be NULL.
 * @return 0, QUIRE_NOTFOUND, QUIRE_ETOOBIG, QUIRE_ECORRUPT, QUIRE_EIO,
 *         QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_get_seq(quire_txn *txn, const void *key, size_t klen,
		  quire_val *val, uint64_t *seq);

/**
 * Put only if the key is at version expect_seq (0: only if absent).
 * @return 0, QUIRE_ECONFLICT (nothing written), QUIRE_ETOOBIG,
 *         QUIRE_EINVAL, QUIRE_ECORRUPT, QUIRE_EIO, QUIRE_ENOSPC,
 *         QUIRE_ENOMEM.
 */
int quire_put_if(quire_txn *txn, const void *key, size_t klen,
		 const void *val, size_t vlen, uint64_t expect_seq);

/** Delete only if the key is at version expect_seq (0, absent, gives
 *  QUIRE_NOTFOUND: there is nothing to delete).
 *  @return 0, QUIRE_NOTFOUND, QUIRE_ECONFLICT, QUIRE_ETOOBIG,
 *          QUIRE_EINVAL, QUIRE_ECORRUPT, QUIRE_EIO, QUIRE_ENOMEM. */
int quire_del_if(quire_txn *txn, const void *key, size_t klen,
		 uint64_t expect_seq);

/** @} */

/**
 * Called by quire_check() once for every problem found. offset is the file
 * offset of the damaged structure; what says what is wrong.
 */
typedef void (*quire_check_fn)(void *ctx, uint64_t offset, const char *what);

/**
 * Verify everything the transaction's commit reaches: every node and value
 * block checksum, key order within and across nodes, entry counts and byte
 * totals against the parent entries, and both trees. Unlike ordinary reads it
 * continues after damage, reporting each problem to fn (may be NULL).
 *
 * @param problems receives the number of problems found (0: clean).
 * @return 0 when the check ran (even if it found problems), or QUIRE_EIO,
 *         QUIRE_ENOMEM, QUIRE_EINVAL.
 */
int quire_check(quire_txn *txn, quire_check_fn fn, void *ctx,
		uint64_t *problems);

/** What quire_salvage() copied and lost. */
typedef struct quire_salvage_stats {
	uint64_t txn;            /**< the commit salvaged (the newest that opens) */
	uint64_t keys_copied;    /**< keys written to the new file */
	uint64_t keys_restored_older; /**< of those, taken from an older
				   *   checkpoint because the newer node was
				   *   damaged (their values are that old) */
	uint64_t keys_lost;      /**< keys in damaged nodes no older copy had */
	uint64_t values_lost;    /**< keys dropped because their value block
				   *   was damaged */
	uint64_t nodes_damaged;  /**< key-tree nodes that could not be read */
	uint64_t batches_lost;   /**< damaged pending batches (each loses its
				   *   operations and all older pending ones) */
} quire_salvage_stats;

/**
 * Copy everything still readable of the database at path into a new
 * database at newpath (which must not exist), for a file that quire_check()
 * found damaged. The newest commit the file opens at is copied key by key;
 * a damaged node's key range is taken from the newest older checkpoint that
 * still holds all of it readable, or else lost; pending operations are
 * applied on top. Every loss and every older range is reported to fn (may
 * be NULL) with the offset of the damage; st receives the counts. Only the
 * latest state is copied, not the history. The source is opened read-only
 * and never written. The new file is synced before the call returns; if
 * the call fails (a full disk, say), the new file is removed.
 * @return 0 (also when something was lost: see st), QUIRE_EINVAL (newpath
 *         exists), QUIRE_ENOENT, QUIRE_EACCES, QUIRE_ENOTDB,
 *         QUIRE_EVERSION, QUIRE_EBUSY, QUIRE_ECORRUPT (nothing of the file
 *         opens), QUIRE_EIO, QUIRE_ENOSPC, QUIRE_ENOMEM.
 */
int quire_salvage(const char *path, const char *newpath, quire_check_fn fn,
		  void *ctx, quire_salvage_stats *st);

/** @name Backup
 * The file is append-only, so a copy consistent at one commit is the
 * file's prefix up to that commit's header, which nothing writes again. A
 * backup copies it while writers go on: it takes no lock of the database,
 * only a read snapshot.
 * @{ */

/** quire_backup(): if dst exists, append to it what was committed after
 *  its newest commit (it must be an earlier copy of this database). */
#define QUIRE_BACKUP_INCREMENTAL 0x1u
/** quire_backup() with QUIRE_BACKUP_INCREMENTAL: if dst is a quire file
 *  but no earlier copy of this database (another database, one that was
 *  compacted since, or a copy written to), replace it with a full copy
 *  instead of failing with QUIRE_ECONFLICT. */
#define QUIRE_BACKUP_FULL_IF_NEEDED 0x2u

/** What quire_backup() did. */
typedef struct quire_backup_stats {
	uint64_t txn;          /**< the commit the copy now ends at */
	uint64_t txn_before;   /**< incremental: the copy's newest commit
				    before (0 for a new copy) */
	uint64_t bytes_copied; /**< bytes read from the database and written */
	int full;              /**< 1: a whole new copy was written */
} quire_backup_stats;

/**
 * Copy the database, as of its newest commit (including other processes'
 * commits), to the file dst: a copy that opens as a quire database at that
 * commit with the whole history the database holds (its commit log,
 * changes feed, AS-OF reads), the same file id, and the owner, group and
 * mode of the database file (never more readable than it). Commits go on
 * meanwhile; they are not in the copy.
 *
 * A new copy is written to "<dst>.partial", synced, and renamed to dst, so
 * dst is either absent or complete after a crash (an existing dst that is
 * a symbolic link is followed: the file it names is replaced, beside it,
 * and the link stays; a "<dst>.partial" a crash left, which no backup
 * holds, is removed first); dst must not exist
 * unless flags has QUIRE_BACKUP_INCREMENTAL. Then an existing dst that is
 * an earlier copy of this database (the same file id and the same bytes
 * at its newest commit) gets only the bytes committed since, under its
 * writer lock (a writer of dst makes the call wait busy_timeout_ms), and
 * is synced before and after its newest commit is recorded: a crash
 * leaves it at its old newest commit, the new one, or a commit between
 * (complete: the commits are appended one after another, and an open that
 * walks past the recorded one takes the last complete). The cost follows the
 * bytes copied, not the size of the database. A copy is a quire file like
 * any other: it opens for reading while increments arrive, and for
 * writing (after which it is no longer a copy of anything).
 *
 * @param st  receives what was done (may be NULL).
 * @return 0, QUIRE_EINVAL (dst exists without QUIRE_BACKUP_INCREMENTAL,
 *         is the database itself, is to be replaced but has several hard
 *         links, which a rename would split, or bad arguments), QUIRE_ECONFLICT (dst
 *         is not an earlier copy of this database, nothing was written),
 *         QUIRE_EBUSY (another backup is writing "<dst>.partial", or a writer of dst past
 *         busy_timeout_ms), QUIRE_ENOTDB, QUIRE_EVERSION, QUIRE_EACCES,
 *         QUIRE_ECORRUPT, QUIRE_EIO, QUIRE_ENOSPC, QUIRE_ENOMEM.
 */
int quire_backup(quire *db, const char *dst, unsigned int flags,
		 quire_backup_stats *st);

/** quire_compact()'s options, declared under Compaction below. */
struct quire_compact_options;

/**
 * Write a compacted copy of the database, as of its newest commit
 * (including other processes' commits), to the new file dst: the file
 * quire_compact() would make (the state of the first kept commit written
 * bottom-up in full nodes, then every later commit), while the database
 * is only read. The copy is made from one read snapshot: no lock of the
 * database is taken, no writer waits for it, commits go on meanwhile
 * (they are not in the copy), and the handle stays on its file (nothing
 * is swapped or marked).
 *
 * opts chooses the commits the copy keeps exactly as for quire_compact()
 * (several keep_* fields: the most history any of them asks for; none:
 * the commits the file's retention policy keeps, see
 * quire_set_retention()); they keep their txn ids, sequence numbers,
 * times and metadata (AS-OF reads, the commit log, key history, the
 * changes feed), and older ones give QUIRE_EHISTORY in the copy.
 * opts->progress, if set, is called as by quire_compact(), the last call
 * (done == total) after the rename. The copy has a new file id (so an
 * incremental quire_backup() onto it is refused) and the owner, group and
 * mode of the database file (never more readable than it, also while it
 * is written).
 *
 * It is written to "<dst>.partial", synced, renamed to dst and the
 * directory synced, so after a crash dst is absent or complete; dst must
 * not exist (a symbolic link there is followed, as by quire_backup(): to
 * an existing file it counts as existing). On failure "<dst>.partial" is
 * removed.
 *
 * @param opts  NULL: the defaults of quire_compact_options_init().
 * @param st    receives txn (the commit the copy ends at), bytes_copied
 *              (the copy's size) and full (1); may be NULL.
 * @return 0, QUIRE_EINVAL (dst exists or is the database itself; bad
 *         options: a keep_since past the newest commit or in the future;
 *         bad arguments), QUIRE_ECANCELED (the progress callback asked),
 *         QUIRE_EBUSY (another backup is writing "<dst>.partial"), QUIRE_ENOENT (dst's
 *         directory does not exist), QUIRE_EACCES (the owner cannot be
 *         given to the copy), QUIRE_ECORRUPT, QUIRE_EIO, QUIRE_ENOSPC,
 *         QUIRE_ENOMEM.
 */
int quire_backup_compacted(quire *db, const char *dst,
			   const struct quire_compact_options *opts,
			   quire_backup_stats *st);

/** @} */

/** @name Streams and followers
 * A stream carries a database's committed bytes, in frames that are
 * checksummed and numbered (docs/FORMAT.md section 13), from quire_ship()
 * to quire_receive() over any transport: a pipe, ssh, a socket, the
 * application's own messages. The receiving file is byte for byte a
 * prefix of the sender's, so it is a quire database like any other: it
 * serves readers of other processes (snapshots, AS-OF, the commit log,
 * the changes feed) while commits arrive, and once the receive ends it
 * opens for writing (a promoted follower). See docs/REPLICATION.md.
 * @{ */

/** quire_ship(): after the newest commit, go on: ship each new commit as
 *  it lands (waiting with quire_wait()), and a heartbeat frame after a
 *  second without one, until the write function stops it. A compaction
 *  of the database does not end the stream: it goes on with the new file
 *  from its first byte, which the receiver builds and swaps in. */
#define QUIRE_SHIP_FOLLOW 0x1u

/** quire_receive(): a stream that starts at the first byte replaces a
 *  dst it does not extend (another database, this one before a
 *  compaction, a copy that diverged or is ahead of it), built beside dst
 *  and renamed over it, instead of being refused with QUIRE_ECONFLICT. */
#define QUIRE_RECEIVE_FULL_IF_NEEDED 0x1u

/** Called by quire_ship() with the next bytes of the stream (one frame,
 *  at most a little over 1 MiB). Return 0 to go on; anything else stops
 *  the ship, which returns QUIRE_ECANCELED. */
typedef int (*quire_stream_write_fn)(void *ctx, const void *buf, size_t len);

/** Called by quire_receive() for more of the stream: put between 1 and
 *  len bytes into buf and their count into *got, or set *got to 0 at the
 *  end of the stream; return 0, or nonzero when the transport failed
 *  (quire_receive() then returns QUIRE_EIO). */
typedef int (*quire_stream_read_fn)(void *ctx, void *buf, size_t len,
				    size_t *got);

/** What quire_ship() sent or quire_receive() applied. */
typedef struct quire_stream_stats {
	uint64_t txn_before; /**< ship: the commit the stream extends (0:
				  from the first byte); receive: dst's newest
				  commit before (0: a new copy) */
	uint64_t txn;        /**< the newest commit sent or applied */
	uint64_t commits;    /**< commit frames sent or applied */
	uint64_t bytes;      /**< file bytes sent, or written to dst */
	uint64_t rebases;    /**< ship: compactions of the database that
				  restarted the stream with the new file */
} quire_stream_stats;

/**
 * Write the database's committed bytes after commit from_txn (0: all of
 * them, from the first byte) up to its newest commit as a stream, through
 * write; with QUIRE_SHIP_FOLLOW, go on with every later commit. The
 * stream starts with a frame naming the file and the commit it extends,
 * sends each snapshot's new bytes followed by a frame naming the commit
 * they end with, and ends with an end frame (a following ship ends only
 * when stopped). Like quire_backup() it takes no lock: commits go on.
 * Only synced commits are shipped: one made with QUIRE_NOSYNC goes once
 * quire_sync() or a later synced commit covers it (a follower never holds
 * a commit a power loss could still take from the database).
 *
 * @param st  receives what was sent (may be NULL).
 * @return 0, QUIRE_ECANCELED (the write function stopped it),
 *         QUIRE_EHISTORY (from_txn was compacted away), QUIRE_EINVAL
 *         (from_txn past the newest commit, bad arguments), QUIRE_ECORRUPT,
 *         QUIRE_EIO, QUIRE_ENOMEM.
 */
int quire_ship(quire *db, uint64_t from_txn, unsigned int flags,
	       quire_stream_write_fn write, void *ctx, quire_stream_stats *st);

/**
 * Apply a stream from quire_ship(), read through read, to the file dst
 * until its end frame. A dst that does not exist is built as
 * "<dst>.partial" (mode opts->mode) and renamed into place at the
 * stream's first commit; an existing dst must be a copy of the stream's
 * database ending at or after the commit the stream extends (bytes it
 * already holds are compared, not written). Each commit is written past
 * dst's newest, verified block by block, synced, and then made dst's
 * newest, which readers of dst in other processes see as any writer's
 * commit. dst's writer lock is held throughout: it is written only by the
 * stream. A crash leaves dst at its last complete commit.
 *
 * A stream that fails a check (a damaged, cut, reordered or replayed
 * frame, a commit that does not verify) or does not extend dst (another
 * database, diverged histories, a gap) is refused: dst is left at its last
 * complete commit, with nothing past it. When the database was compacted
 * during a following stream, the new file is built beside dst and swapped
 * in (dst's readers move to it, as after a compaction).
 *
 * @param opts  mode of a new dst and busy_timeout_ms for dst's writer lock
 *              (NULL: defaults); other fields are ignored.
 * @param st    receives what was applied (may be NULL).
 * @return 0 (the end frame was applied), QUIRE_ECONFLICT (the stream does
 *         not extend dst; dst unchanged), QUIRE_ECORRUPT (a damaged,
 *         malformed, cut or reordered stream, or one that ended without
 *         its end frame; dst holds the last commit applied), QUIRE_EIO (the
 *         read function failed, or a disk error), QUIRE_ENOSPC, QUIRE_EBUSY
 *         (dst's writer lock past busy_timeout_ms, or another receive is
 *         writing "<dst>.partial"), QUIRE_EINVAL (bad arguments, or a replaced dst with
 *         several hard links), QUIRE_ENOENT, QUIRE_EACCES, QUIRE_ENOTDB,
 *         QUIRE_EVERSION, QUIRE_ENOMEM.
 */
int quire_receive(const char *dst, const quire_options *opts,
		  unsigned int flags, quire_stream_read_fn read, void *ctx,
		  quire_stream_stats *st);

/** @} */

/** @name Compaction
 * An append-only file grows with every commit. Compaction copies what is
 * still needed into a fresh file next to it ("<path>.compact"), catches up
 * with the commits made meanwhile, and swaps the files atomically.
 * @{ */

/** Called while compacting (after the base state is copied, after each
 *  round of catching up, and every MiB written): bytes copied so far of an
 *  estimated total, which grows when the estimate proves low or writers
 *  keep committing. A nonzero return cancels the compaction
 *  (QUIRE_ECANCELED), except from the last call, done == total, made after
 *  the swap. */
typedef int (*quire_progress_fn)(void *ctx, uint64_t done, uint64_t total);

#define QUIRE_COMPACT_OPTIONS_VERSION 1

typedef struct quire_compact_options {
	/** Set by quire_compact_options_init(). */
	unsigned int version;
	/** Keep every commit from this txn id on (0: not asked). A txn id
	 *  past the newest commit is refused (QUIRE_EINVAL). */
	uint64_t keep_since_txn;
	/** Keep every commit made at or after this time, ns since 1970
	 *  (0: not asked). A time in the future (after both the clock and
	 *  the newest commit) is refused (QUIRE_EINVAL). */
	uint64_t keep_since_ns;
	/** Keep the last N commits (0: not asked). */
	uint64_t keep_last;
	/** Progress callback, or NULL. */
	quire_progress_fn progress;
	void *progress_ctx;
} quire_compact_options;

/** Fill opts with the defaults: no keep_* option (the file's retention
 *  policy decides, see quire_set_retention()), no callback. */
void quire_compact_options_init(quire_compact_options *opts);

/**
 * Compact the database into a fresh file and continue on it.
 *
 * The newest commit's state is written bottom-up into "<path>.compact"
 * (full nodes, sequential writes), together with every commit the options
 * ask to keep (several keep_* fields: the most history any of them asks
 * for; none: the commits the file's retention policy keeps, see
 * quire_set_retention(); a new file's policy keeps only the newest). Kept commits stay fully usable: AS-OF
 * reads, the commit log with its metadata, key history and the changes
 * feed, with the same txn ids, sequence numbers and times; older ones
 * return QUIRE_EHISTORY afterwards. Readers are never blocked, and the
 * writer (of any process) keeps committing: those commits are copied too,
 * and only the last few are copied while the writer waits. The new file is
 * synced, renamed over path and the directory synced; snapshots begun
 * before keep reading the old file until they end, later ones (in every
 * process) see the new file.
 *
 * The file replaced is the one path resolves to (symbolic links
 * followed: a link stays a link), and "<path>.compact" lives next to it
 * (that name with ".compact" appended). The new file keeps its mode, owner
 * and group, and is given them before any data goes in, so it is never
 * readable by anyone the database file is not readable by; a process that
 * may not give it the owner (not root, someone else's file) gets
 * QUIRE_EACCES, and one that may not give it the group keeps its own group
 * and drops the group's permission bits. A file with several hard links
 * is refused (QUIRE_EINVAL): a rename would replace one of its names only.
 * A crash at any point leaves the original file complete; a leftover
 * "<path>.compact" is removed by the next writable quire_open() (or by
 * the next compaction). On failure (a full disk, say) the new file is
 * removed and the database is untouched. While the files are swapped the
 * node cache is held twice (the old file's until its last snapshot ends).
 * quire_diff_open() needs two snapshots of the same file: not one from
 * before and one from after a compaction.
 * Must not be called by a thread that holds the write transaction.
 * @return 0, QUIRE_ECANCELED (the progress callback asked), QUIRE_EBUSY
 *         (the thread holds the write transaction, or another compaction
 *         of the file is running, or the file was replaced meanwhile),
 *         QUIRE_ERDONLY, QUIRE_EFATAL, QUIRE_ENOSPC, QUIRE_EIO,
 *         QUIRE_ECORRUPT, QUIRE_ENOMEM, QUIRE_EACCES (the owner cannot be
 *         kept), QUIRE_ENOENT (the file was moved away meanwhile),
 *         QUIRE_EINVAL (bad options: a keep_since past the newest commit
 *         or in the future; a file with several hard links). When it fails
 *         the file is as it was.
 */
int quire_compact(quire *db, const quire_compact_options *opts);

/** @} */

#ifdef __cplusplus
}
#endif
#endif /* QUIRE_H */
