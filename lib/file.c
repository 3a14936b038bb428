/*
 * file.c - the database file underneath a handle: its bytes, its commit
 * headers, the two live slots, opening and creating it, and the writer
 * lock. Everything here is about one file; which commit is the newest is
 * recover.c's, and writing a commit is append.c's.
 *
 * Invariants (numbered in docs/FORMAT.md, section 12) kept here: the live
 * slots are the only bytes ever written twice (1); a slot names a commit
 * only once it is in the file, and in sync mode on the disk (4); a failed
 * fdatasync poisons the handle (5); the writer lock is kept only on a
 * file the handle still names (16).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "gate.h"
#include "ident.h"
#include "internal.h"
#include "io.h"
#include "lock.h"
#include "util.h"

#define INIT_SIZE (QF_SUPER_SIZE + QF_HDR_FIXED)
/* The shortest database: one written before version 2 headers. */
#define MIN_SIZE (QF_SUPER_SIZE + QF_HDR_V1)

struct qfile *qfile_new(quire *db, qvfs_file *f)
{
	struct qfile *qf = calloc(1, sizeof *qf);
	if (qf && !(qf->cache = cache_new(db->opts.cache_size))) {
		free(qf);
		qf = NULL;
	}
	if (!qf) {
		f->ops->close(f);
		return NULL;
	}
	atomic_init(&qf->refs, 1);
	qf->f = f;
	qf->path = db->path;
	fmap_init(&qf->map);
	return qf;
}

void qfile_ref(struct qfile *qf)
{
	atomic_fetch_add(&qf->refs, 1);
}

void qfile_unref(struct qfile *qf)
{
	if (qf && atomic_fetch_sub(&qf->refs, 1) == 1) {
		fmap_done(&qf->map); /* before its views are unmapped */
		qf->f->ops->close(qf->f);
		cache_free(qf->cache);
		free(qf);
	}
}

int qfile_fault(const struct qfile *qf)
{
	return qerr(QUIRE_EIO, "%s: a page of the file could not be read (a "
			       "disk error, or another program truncated the "
			       "file); reopen the database",
		    qf->path);
}

int qdb_writable(quire *db)
{
	if (db->opts.flags & QUIRE_RDONLY)
		return qerr(QUIRE_ERDONLY, "%s: opened read-only", db->path);
	if (atomic_load(&db->failed))
		return qerr(QUIRE_EFATAL, "%s: an earlier fsync failed; reopen "
					  "the database",
			    db->path);
	return 0;
}

int df_read(struct qfile *qf, void *buf, size_t n, uint64_t off,
	    const char *what)
{
	size_t got;
	int e = io_read(qf->f, buf, n, off, &got);
	if (e)
		return qerr_os(-e, "%s: reading %s at offset %llu", qf->path,
			       what, (unsigned long long)off);
	if (got < n)
		return qerr(QUIRE_ECORRUPT,
			    "%s: %s at offset %llu extends past the end of the "
			    "file",
			    qf->path, what, (unsigned long long)off);
	return 0;
}

int df_write_at(quire *db, const void *buf, size_t n, uint64_t off)
{
	int e = io_write(db->qf->f, buf, n, off);
	return e ? qerr_os(-e, "%s: writing %zu bytes at offset %llu",
			   db->path, n, (unsigned long long)off)
		 : 0;
}

int df_file_size(quire *db, uint64_t *size)
{
	int e = db->qf->f->ops->size(db->qf->f, size);
	return e ? qerr_os(-e, "%s: stat", db->path) : 0;
}

int df_truncate(quire *db, uint64_t size)
{
	int e = db->qf->f->ops->truncate(db->qf->f, size);
	return e ? qerr_os(-e, "%s: truncating to %llu", db->path,
			   (unsigned long long)size)
		 : 0;
}

int df_fsync(quire *db)
{
	int e = db->qf->f->ops->sync(db->qf->f);
	if (e) {
		atomic_store(&db->failed, 1);
		return qerr_os(-e, "%s: fdatasync failed; the handle refuses "
				   "further commits until reopened",
			       db->path);
	}
	return 0;
}

/* Whether path names the open file f: 1, 0 (another file, or none), or a
 * negative errno: -ENOTSUP when f's identity is unknown (nothing can be
 * told), else the error opening path. */
int df_names_file(quire *db, const char *path, qvfs_file *f)
{
	int e = ident_names(db->vfs, path, f);
	return e == -ENOENT ? 0 : e;
}

/* Whether qf's current slot says a compaction replaced the file with
 * another one that the path now names. The mark alone is not enough: a
 * compaction that crashed between marking and renaming leaves it in a
 * file that is still the database (its next commit's slot clears it).
 * When sameness cannot be shown the path is reopened anyway: whatever it
 * names is the database, and opening it reports what fails. */
int df_superseded(quire *db, struct qfile *qf, const struct qslot *s)
{
	return (s->flags & QF_SLOT_SUPERSEDED) &&
	       df_names_file(db, db->path, qf->f) != 1;
}

/* Move the handle to the file the path names now (after another handle's
 * compaction). The new file's newest commit is published by the caller's
 * refresh; snapshots of the old file keep it open until they end. Called
 * with refresh_mu held. */
int df_switch_file(quire *db)
{
	struct qfile *old = db->qf, *nq;
	int e = df_open_file(db, &nq);
	if (e)
		return e;
	pthread_mutex_lock(&db->snap_mu);
	db->qf = nq;
	pthread_mutex_unlock(&db->snap_mu);
	qfile_unref(old);
	return 0;
}

/* The handle's current file, with a reference of the caller's. */
static struct qfile *current_file(quire *db)
{
	pthread_mutex_lock(&db->snap_mu);
	struct qfile *qf = db->qf;
	qfile_ref(qf);
	pthread_mutex_unlock(&db->snap_mu);
	return qf;
}

/*
 * Take the writer lock of the file the handle writes, waiting timeout_ms
 * at most in all (negative: forever), however many compactions replace
 * the file meanwhile.
 *
 * The lock is taken on a file object pinned for the purpose (lock_qf) and
 * kept only if, once it is held, the handle still names that file and the
 * file's slot does not say a compaction replaced it (invariant 16). A
 * reader thread may move the handle to a new file while this one waits
 * (refresh_from), and the old file's lock guards nothing: a writer that
 * kept it would commit into the new file beside that file's own writer.
 * While the lock is held nobody can replace the file (a compaction needs
 * the lock), so the handle stays on it until df_unlock.
 */
static int df_lock(quire *db, int timeout_ms)
{
	uint64_t deadline = lock_deadline(db, timeout_ms);
	for (;;) {
		struct qfile *qf = current_file(db);
		struct qslot s;
		int e = lock_queued(db, qf->f, deadline), moved = 0;
		if (e) {
			qfile_unref(qf);
			return e;
		}
		pthread_mutex_lock(&db->refresh_mu);
		if (db->qf != qf)
			moved = 1;
		else if (df_read_slots(qf, &s) == 0 && df_superseded(db, qf, &s))
			moved = 1, e = df_switch_file(db);
		pthread_mutex_unlock(&db->refresh_mu);
		if (!moved) {
			db->lock_qf = qf;
			return 0;
		}
		qf->f->ops->lock(qf->f, QVFS_UNLOCK);
		qfile_unref(qf);
		if (e)
			return e;
	}
}

static void df_unlock(quire *db)
{
	struct qfile *qf = db->lock_qf;
	db->lock_qf = NULL;
	if (qf && !db->keep_lock)
		qf->f->ops->lock(qf->f, QVFS_UNLOCK);
	qfile_unref(qf);
}

/*
 * Before this process's first commit to a file, make the file's directory
 * entry durable. Its creator syncs the directory, but when that sync fails
 * (the open reports it) the file stays, and the next opener takes it as
 * it is: a commit acknowledged as durable there must not vanish with an
 * entry a power cut can lose. One directory sync per file and process,
 * made by the commit (not the begin: a begin waits for the lock only,
 * within busy_timeout_ms).
 */
int writer_dir_durable(quire *db)
{
	struct qfile *qf = db->lock_qf;
	int e;
	if (atomic_load(&qf->dir_synced))
		return 0;
	if ((e = db->vfs->sync_dir(db->vfs, db->path)) != 0)
		return qerr_os(-e, "%s: syncing its directory", db->path);
	atomic_store(&qf->dir_synced, 1);
	return 0;
}

int writer_acquire_for(quire *db, int timeout_ms, _Atomic int *cancel)
{
	int e = gate_enter(db->gate, cancel);
	if (e == GATE_MINE)
		return qerr(QUIRE_EBUSY, "%s: this thread already holds a write "
					 "transaction of this file; end it first",
			    db->path);
	if (e == GATE_CANCELED)
		return qerr(QUIRE_ECANCELED, "%s: the handle is closing",
			    db->path);
	if ((e = df_lock(db, timeout_ms)) != 0)
		gate_leave(db->gate);
	return e;
}

int writer_acquire(quire *db)
{
	int e = writer_acquire_for(db, db->opts.busy_timeout_ms, NULL);
	if (!e && (e = writer_dir_durable(db)) != 0)
		writer_release(db);
	return e;
}

void writer_release(quire *db)
{
	df_unlock(db);
	gate_leave(db->gate);
}

/* The bytes of both slots: through the mapping when there is one (no
 * system call), else read. */
int df_slot_bytes(struct qfile *qf, uint8_t buf[SLOTS_BYTES])
{
	if (!qf->smap)
		return df_read(qf, buf, SLOTS_BYTES, QF_SLOT0_OFF, "slots");
	memcpy(buf, qf->smap + QF_SLOT0_OFF, SLOTS_BYTES);
	return 0;
}

/* Read both slots; the valid one with the larger counter wins. Returns 0,
 * QUIRE_NOTFOUND if neither is valid, or an I/O error. Any thread may call
 * it: it changes nothing (the writer keeps its own counter, see
 * df_writer_begin). */
int df_slot_list(struct qfile *qf, struct qslot s[2], int *n)
{
	uint8_t buf[SLOTS_BYTES];
	struct qslot t;
	int e = df_slot_bytes(qf, buf);
	if (e)
		return e;
	*n = 0;
	if (qslot_get(buf, &s[0]) == 0)
		++*n;
	if (qslot_get(buf + (QF_SLOT1_OFF - QF_SLOT0_OFF), &s[*n]) == 0)
		++*n;
	if (*n == 2 && s[1].counter > s[0].counter)
		t = s[0], s[0] = s[1], s[1] = t;
	return 0;
}

int df_read_slots(struct qfile *qf, struct qslot *best)
{
	struct qslot s[2];
	int n, e = df_slot_list(qf, s, &n);
	if (!e && !n)
		e = QUIRE_NOTFOUND;
	if (!e)
		*best = s[0];
	return e;
}

int df_write_slot(quire *db, const struct qhdr *latest, uint32_t flags)
{
	struct qslot s = {
		.flags = flags,
		.latest_off = latest->self_off,
		.latest_txn = latest->txn,
		.durable_off = db->durable_off,
		.durable_txn = db->durable_txn,
		.boot_id = db->boot_id,
		.counter = db->slot_counter + 1,
	};
	uint8_t buf[QF_SLOT_SIZE];
	qslot_put(buf, &s);
	int e = df_write_at(db, buf, sizeof buf,
			 (s.counter & 1) ? QF_SLOT1_OFF : QF_SLOT0_OFF);
	if (e)
		return e;
	db->slot_counter = s.counter;
	return 0;
}

/* The header's file id must be its file's. */
static int own_header(struct qfile *qf, uint64_t off, const struct qhdr *h)
{
	if (memcmp(h->file_id, qf->file_id, QF_FILE_ID) == 0)
		return 0;
	return qerr(QUIRE_ECORRUPT,
		    "%s: header at offset %llu belongs to another file",
		    qf->path, (unsigned long long)off);
}

int df_header(struct qfile *qf, uint64_t off, struct qhdr *h)
{
	const uint8_t *p = qf->smap ? fmap_at(&qf->map, qf->f, off, QF_HDR_V1)
				    : NULL;
	uint32_t need;
	int e;
	if (!p)
		return df_load_header(qf, off, h);
	if ((e = qhdr_get(p, QF_HDR_V1, off, h, &need)) != 0 && need) {
		if (!(p = fmap_at(&qf->map, qf->f, off, need)))
			return df_load_header(qf, off, h);
		e = qhdr_get(p, need, off, h, &need);
	}
	if (qfile_check(qf)) /* the cause of anything wrong seen */
		return qfile_fault(qf);
	if (e)
		return qerr_wrap(e, qf->path);
	qerr_clear(); /* the short look's complaint is moot */
	return own_header(qf, off, h);
}

int df_durable_header(struct qfile *qf, const struct qslot *s, struct qhdr *h)
{
	int e = df_load_header(qf, s->durable_off, h);
	if (e == 0 && h->txn != s->durable_txn)
		e = qerr(QUIRE_ECORRUPT,
			 "%s: durable commit %llu not found at offset %llu",
			 qf->path, (unsigned long long)s->durable_txn,
			 (unsigned long long)s->durable_off);
	return e;
}

int df_load_header(struct qfile *qf, uint64_t off, struct qhdr *h)
{
	uint8_t small[QF_HDR_V1]; /* the shortest header: no read past it */
	uint32_t need;
	int e = df_read(qf, small, sizeof small, off, "commit header");
	if (e)
		return e;
	e = qhdr_get(small, sizeof small, off, h, &need);
	if (e && need) {
		uint8_t *big = malloc(need);
		if (!big)
			return qerr(QUIRE_ENOMEM, "out of memory");
		if ((e = df_read(qf, big, need, off, "commit header")) == 0 &&
		    (e = qhdr_get(big, need, off, h, &need)) != 0)
			e = qerr_wrap(e, qf->path); /* df_read's names it */
		else if (!e)
			qerr_clear(); /* the short read's complaint is moot */
		free(big);
	} else if (e) {
		e = qerr_wrap(e, qf->path);
	}
	return e ? e : own_header(qf, off, h);
}

/* Write a new empty database into f, which the caller holds locked. */
static int init_file(quire *db, qvfs_file *f)
{
	uint8_t buf[INIT_SIZE];
	struct qsuper sb = {.version = QF_VERSION,
			    .created_ns = db->vfs->now_ns(db->vfs)};
	db->vfs->random(db->vfs, sb.file_id, QF_FILE_ID);
	memset(buf, 0, sizeof buf);
	qsuper_put(buf, &sb);

	struct qhdr h = {
		.node_size = db->opts.node_size,
		.self_off = QF_SUPER_SIZE,
		.time_ns = sb.created_ns,
		.commit_start = QF_SUPER_SIZE,
		.next_seq = 1,
		.history_seq = 1,
		.total_bytes = INIT_SIZE,
		.ckpt_off = QF_SUPER_SIZE,
		.retain_commits = QUIRE_RETAIN_DEFAULT,
	};
	memcpy(h.file_id, sb.file_id, QF_FILE_ID);
	qhdr_put(buf + QF_SUPER_SIZE, &h);
	struct qslot s = {.latest_off = QF_SUPER_SIZE,
			  .durable_off = QF_SUPER_SIZE,
			  .boot_id = db->boot_id,
			  .counter = 1};
	qslot_put(buf + QF_SLOT1_OFF, &s);

	int e = f->ops->truncate(f, 0);
	if (!e)
		e = io_write(f, buf, sizeof buf, 0);
	if (!e)
		e = f->ops->sync(f);
	return e ? qerr_os(-e, "%s: initialising", db->path) : 0;
}

/*
 * Create a new database atomically: build it in "<path>.init", fsync, rename
 * it into place (never over an existing file) and fsync the directory. A
 * crash leaves either no database or a complete one, plus perhaps the .init
 * file, which the next creator reuses.
 */
static int create_file(quire *db)
{
	size_t n = strlen(db->path) + 6;
	char *tmp = malloc(n);
	qvfs_file *f = NULL, *probe;
	int e;
	if (!tmp)
		return qerr(QUIRE_ENOMEM, "out of memory");
	snprintf(tmp, n, "%s.init", db->path);
	if ((e = db->vfs->open(db->vfs, tmp, QVFS_CREATE, db->opts.mode, &f))) {
		e = qerr_os(-e, "%s: creating", tmp);
		goto out;
	}
	if ((e = lock_wait(db, f, QVFS_LOCK_TRY,
			    lock_deadline(db, db->opts.busy_timeout_ms),
			    QUEUE_NAP_NS)) != 0)
		goto out;
	/* Another creator may have finished while we waited: then our
	 * descriptor may even name its database. Leave it alone. */
	if (db->vfs->open(db->vfs, db->path, QVFS_RDONLY, 0, &probe) == 0) {
		probe->ops->close(probe);
		goto out;
	}
	if ((e = init_file(db, f)) != 0)
		goto out;
	if ((e = db->vfs->rename(db->vfs, tmp, db->path, 1)) == -EEXIST) {
		db->vfs->remove(db->vfs, tmp);
		e = 0;
	} else if (e) {
		e = qerr_os(-e, "%s: renaming into place", tmp);
	} else if ((e = db->vfs->sync_dir(db->vfs, db->path)) != 0) {
		e = qerr_os(-e, "%s: syncing its directory", db->path);
	}
out:
	if (f)
		f->ops->close(f);
	free(tmp);
	return e;
}

/* A file too short to hold a database may be initialised only if it holds
 * nothing but (part of) our own signature or zeros: never clobber a foreign
 * file. */
static int may_initialise(qvfs_file *f, uint64_t size)
{
	uint8_t head[8] = {0};
	size_t n = (size_t)QMIN(size, (uint64_t)8), got;
	int e = n ? io_read(f, head, n, 0, &got) : 0;
	if (e)
		return e;
	static const uint8_t zero[8];
	return memcmp(head, qf_super_magic, n) == 0 ||
	       memcmp(head, zero, n) == 0;
}

/* An existing file shorter than an empty database (or one a crash cut
 * short while we initialised it in place): initialise it if allowed. */
static int short_file(quire *db, qvfs_file *f, uint64_t size, int create)
{
	if (!create)
		return qerr(QUIRE_ENOTDB, "%s: %s, not a quire database",
			    db->path, size ? "file too short" : "empty file");
	int e = lock_wait(db, f, QVFS_LOCK_TRY,
			  lock_deadline(db, db->opts.busy_timeout_ms),
			  QUEUE_NAP_NS);
	if (e)
		return e;
	if ((e = f->ops->size(f, &size)) != 0)
		e = qerr_os(-e, "%s: stat", db->path);
	else if (size < MIN_SIZE && (e = may_initialise(f, size)) < 0)
		e = qerr_os(-e, "%s: reading its first bytes", db->path);
	else if (size < MIN_SIZE)
		e = e ? init_file(db, f)
		      : qerr(QUIRE_ENOTDB, "%s: not a quire database",
			     db->path);
	f->ops->lock(f, QVFS_UNLOCK);
	return e;
}

/* Open the file the path names (creating it if the options say so) and
 * read its superblock: *out gets a new qfile. */
int df_open_file(quire *db, struct qfile **out)
{
	int ro = (db->opts.flags & QUIRE_RDONLY) != 0;
	int create = !ro && (db->opts.flags & QUIRE_CREATE);
	uint64_t size;
	qvfs_file *f;
	int e = db->vfs->open(db->vfs, db->path, ro ? QVFS_RDONLY : 0,
			      db->opts.mode, &f);
	if (e == -ENOENT && create) {
		if ((e = create_file(db)) != 0)
			return e;
		e = db->vfs->open(db->vfs, db->path, 0, db->opts.mode, &f);
	}
	if (e)
		return qerr_os(-e, "%s: open", db->path);
	struct qfile *qf = qfile_new(db, f);
	if (!qf)
		return qerr(QUIRE_ENOMEM, "out of memory");
	uint8_t sb[256];
	struct qsuper s;
	if ((e = f->ops->size(f, &size)) != 0)
		e = qerr_os(-e, "%s: stat", db->path);
	else if (size < MIN_SIZE)
		e = short_file(db, f, size, create);
	if (!e && (e = df_read(qf, sb, sizeof sb, 0, "superblock")) == 0 &&
	    (e = qsuper_get(sb, &s)) != 0)
		e = qerr_wrap(e, db->path);
	if (e) {
		qfile_unref(qf);
		return e;
	}
	memcpy(qf->file_id, s.file_id, QF_FILE_ID);
	if (!(db->opts.flags & QUIRE_NOMMAP))
		qf->smap = fmap_open(&qf->map, f, size);
	*out = qf;
	return 0;
}
