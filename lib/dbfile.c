/*
 * dbfile.c - the file underneath: creation, finding the newest commit,
 * the live slots, and appending a commit.
 *
 * Invariants (numbered as in SQLite's pager.c; docs/FORMAT.md restates them):
 *
 *  1. Bytes that a committed header can reach are never written again. The
 *     only bytes ever rewritten are the two 64-byte live slots in the
 *     superblock, which no header reaches.
 *  2. A commit is: blocks appended at the end of the previous header, then a
 *     header whose range checksum is the CRC of those blocks' own checksums,
 *     in order. A header counts only if it, the range checksum and every
 *     block of the range verify, and it chains to the previous header (prev
 *     offset, txn + 1). So one fdatasync suffices: a header whose blocks did
 *     not all reach the disk (or whose place holds stale blocks of an
 *     abandoned commit) fails the check.
 *  3. The slot's "durable" commit was fdatasync'ed before the slot named it.
 *     After a reboot, recovery starts there and walks forward block by block,
 *     verifying range checksums; it never scans backwards for something that
 *     looks like a header, so user data can never be mistaken for one.
 *  4. Within one boot the page cache is shared by every process, so a slot
 *     written in this boot (boot id matches) is authoritative: its "latest"
 *     commit is complete in the cache, and bytes after that commit belong to
 *     no acknowledged commit (a crashed or failed writer) and are cut away by
 *     the next writer. In sync mode the slot is written only after the
 *     fdatasync succeeded, so no process sees a commit that failed.
 *  5. After a failed fdatasync the handle refuses to commit (EFATAL): Linux
 *     may have dropped the dirty pages, so nothing it wrote can be trusted.
 *  6. A failed commit leaves no trace another reader could follow: the slot
 *     was not updated, and its nodes never entered the cache.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "error.h"
#include "gate.h"
#include "ident.h"
#include "internal.h"
#include "io.h"
#include "memtable.h"
#include "pending.h"
#include "util.h"

#define INIT_SIZE (QF_SUPER_SIZE + QF_HDR_FIXED)
/* The shortest database: one written before version 2 headers. */
#define MIN_SIZE (QF_SUPER_SIZE + QF_HDR_V1)

static int open_file(quire *db, struct qfile **out);
static int read_slots(struct qfile *qf, struct qslot *best);
static int write_slot(quire *db, const struct qhdr *latest, uint32_t flags);
#define RD_CAP ((size_t)1 << 20)
#define STAGE_CAP ((size_t)1 << 20)

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

static int write_at(quire *db, const void *buf, size_t n, uint64_t off)
{
	int e = io_write(db->qf->f, buf, n, off);
	return e ? qerr_os(-e, "%s: writing %zu bytes at offset %llu",
			   db->path, n, (unsigned long long)off)
		 : 0;
}

static int file_size(quire *db, uint64_t *size)
{
	int e = db->qf->f->ops->size(db->qf->f, size);
	return e ? qerr_os(-e, "%s: stat", db->path) : 0;
}

static int truncate_to(quire *db, uint64_t size)
{
	int e = db->qf->f->ops->truncate(db->qf->f, size);
	return e ? qerr_os(-e, "%s: truncating to %llu", db->path,
			   (unsigned long long)size)
		 : 0;
}

static int sync_file(quire *db)
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

/* Deadline of a wait of timeout_ms from now on the VFS's monotonic clock;
 * 0: no deadline (a negative timeout waits forever). */
static uint64_t deadline_of(quire *db, int timeout_ms)
{
	return timeout_ms < 0 ? 0
			      : db->vfs->mono_ns(db->vfs) +
					(uint64_t)timeout_ms * 1000000u + 1;
}

/* Take lock op (QVFS_LOCK_TRY or QVFS_QUEUE_TRY) of f, polling with naps
 * that grow to max_nap_ns, until deadline (0: none). */
static int wait_lock(quire *db, qvfs_file *f, int op, uint64_t deadline,
		     uint64_t max_nap_ns)
{
	uint64_t nap = 50000;
	for (;;) {
		int e = f->ops->lock(f, op);
		if (e == 0)
			return 0;
		if (e != -EAGAIN)
			return qerr_os(-e, "%s: taking the writer lock",
				       db->path);
		uint64_t now = db->vfs->mono_ns(db->vfs);
		if (deadline && now >= deadline)
			return qerr(QUIRE_EBUSY,
				    "%s: another process holds the writer lock",
				    db->path);
		if (deadline && nap > deadline - now)
			nap = deadline - now;
		db->vfs->sleep_ns(db->vfs, nap);
		nap = QMIN(nap * 2, max_nap_ns);
	}
}

/* Naps of a writer waiting for the queue lock, and of the one that holds
 * it and waits for the writer lock (it is next: a short nap hands the
 * lock over quickly). */
#define QUEUE_NAP_NS 1000000u
#define NEXT_NAP_NS 200000u

/*
 * The writer lock of f, taken through the queue lock: every writer passes
 * the queue lock, and a writer that has to wait for the writer lock does
 * so holding it. A writer that commits in a loop thus cannot take the
 * writer lock back at once when another process waits for it: its next
 * turn needs the queue lock, which the waiter holds until the writer lock
 * is its own. Polling keeps the waits bounded by the deadline.
 */
static int lock_queued(quire *db, qvfs_file *f, uint64_t deadline)
{
	int e = wait_lock(db, f, QVFS_QUEUE_TRY, deadline, QUEUE_NAP_NS);
	if (e)
		return e;
	e = wait_lock(db, f, QVFS_LOCK_TRY, deadline, NEXT_NAP_NS);
	f->ops->lock(f, QVFS_QUEUE_UNLOCK);
	return e;
}

/* Whether path names the open file f: 1, 0 (another file, or none), or a
 * negative errno: -ENOTSUP when f's identity is unknown (nothing can be
 * told), else the error opening path. */
static int names_file(quire *db, const char *path, qvfs_file *f)
{
	uint64_t dev, ino, ndev, nino;
	qvfs_file *nf;
	if (!f->ops->identity || f->ops->identity(f, &dev, &ino) != 0)
		return -ENOTSUP;
	int e = db->vfs->open(db->vfs, path, QVFS_RDONLY, 0, &nf);
	if (e)
		return e == -ENOENT ? 0 : e;
	if ((e = nf->ops->identity(nf, &ndev, &nino)) == 0)
		e = ndev == dev && nino == ino;
	nf->ops->close(nf);
	return e;
}

/* Whether qf's current slot says a compaction replaced the file with
 * another one that the path now names. The mark alone is not enough: a
 * compaction that crashed between marking and renaming leaves it in a
 * file that is still the database (its next commit's slot clears it).
 * When sameness cannot be shown the path is reopened anyway: whatever it
 * names is the database, and opening it reports what fails. */
static int superseded(quire *db, struct qfile *qf, const struct qslot *s)
{
	return (s->flags & QF_SLOT_SUPERSEDED) &&
	       names_file(db, db->path, qf->f) != 1;
}

/* Move the handle to the file the path names now (after another handle's
 * compaction). The new file's newest commit is published by the caller's
 * refresh; snapshots of the old file keep it open until they end. Called
 * with refresh_mu held. */
static int switch_file(quire *db)
{
	struct qfile *old = db->qf, *nq;
	int e = open_file(db, &nq);
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
	uint64_t deadline = deadline_of(db, timeout_ms);
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
		else if (read_slots(qf, &s) == 0 && superseded(db, qf, &s))
			moved = 1, e = switch_file(db);
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
	return writer_acquire_for(db, db->opts.busy_timeout_ms, NULL);
}

void writer_release(quire *db)
{
	df_unlock(db);
	gate_leave(db->gate);
}

int df_sync_data(quire *db)
{
	return sync_file(db);
}

int df_mark(quire *db, uint32_t flags)
{
	struct snap *cur = snap_acquire(db);
	int e = write_slot(db, &cur->h, flags);
	snap_release(cur);
	return e;
}

/*
 * Clear the way for a compaction's file at tpath: a file there whose lock
 * nobody holds is a crashed compaction's leftover and is removed. Once
 * locked it must still be the file the name gives: a compaction may have
 * renamed it over the database in between (then the name is free or
 * another compaction's new file). 0 (the name is free, or was taken over
 * meanwhile: try again), -EAGAIN (a compaction holds it), or -errno.
 */
static int clear_leftover(quire *db, const char *tpath)
{
	qvfs_file *f;
	int e = db->vfs->open(db->vfs, tpath, 0, 0, &f);
	if (e)
		return e == -ENOENT ? 0 : e;
	if ((e = f->ops->lock(f, QVFS_LOCK_TRY)) == 0) {
		if ((e = names_file(db, tpath, f)) == 1)
			e = db->vfs->remove(db->vfs, tpath);
		e = e == -ENOENT ? 0 : e;
		f->ops->lock(f, QVFS_UNLOCK);
	}
	f->ops->close(f);
	return e;
}

/*
 * The file a compaction writes: "<resolved path>.compact", next to the
 * file the database path resolves to (t->path comes in as the path as
 * given plus ".compact" and is replaced by that name). Its writer lock,
 * held until the swap, tells other compactions (and remove_leftover) that
 * it is in use. It is always a new file (a leftover of a crashed
 * compaction is removed first: someone may hold it open), created with
 * the owner's bits of the database file's mode at most and given the
 * database file's owner, group and mode before any byte is written, so
 * that it is never readable by anyone the database file is not readable
 * by. Its first commit comes from compact.c.
 */
int df_create_target(quire *t)
{
	qvfs_file *f = NULL, *df;
	struct qvfs_attrs orig;
	uint8_t sb[QF_SUPER_SIZE];
	struct qsuper s = {.version = QF_VERSION,
			   .created_ns = t->vfs->now_ns(t->vfs)};
	struct appender *a = &t->app;
	size_t plen = strlen(t->path) - (sizeof ".compact" - 1);
	char *dbpath = malloc(plen + 1), *tpath = NULL;
	if (!dbpath)
		return qerr(QUIRE_ENOMEM, "out of memory");
	memcpy(dbpath, t->path, plen);
	dbpath[plen] = 0;
	int e = ident_target(t->vfs, dbpath, &tpath);
	free(dbpath);
	if (e)
		return e;
	free(t->path);
	t->path = tpath;
	/* the file it replaces: tpath without its suffix for a while */
	size_t cut = strlen(tpath) - (sizeof ".compact" - 1);
	dbpath = tpath;
	tpath[cut] = 0;
	if ((e = t->vfs->open(t->vfs, dbpath, QVFS_RDONLY, 0, &df)) != 0)
		e = qerr_os(-e, "%s: open", dbpath);
	else {
		e = ident_attrs(df, dbpath, &orig);
		df->ops->close(df);
	}
	if (!e)
		e = ident_single(dbpath, &orig);
	tpath[cut] = '.';
	if (e && e != QUIRE_NOTFOUND)
		return e;
	int known = e == 0;
	/* without the attributes: the mode the database was created with */
	unsigned mode = known ? orig.mode & 0600 : t->opts.mode;
	for (int tries = 0;; tries++) {
		e = t->vfs->open(t->vfs, t->path, QVFS_CREATE | QVFS_EXCL, mode,
				 &f);
		if (e != -EEXIST || tries == 3 ||
		    (e = clear_leftover(t, t->path)) != 0)
			break;
	}
	if (e == -EAGAIN || e == -EEXIST)
		return qerr(QUIRE_EBUSY, "%s: another compaction of the "
					 "database is running",
			    t->path);
	if (e)
		return qerr_os(-e, "%s: creating", t->path);
	if (!(a->stage = malloc(STAGE_CAP)) || !(t->qf = qfile_new(t, f))) {
		if (!a->stage)
			f->ops->close(f);
		t->vfs->remove(t->vfs, t->path); /* nobody else's yet */
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	a->cap = STAGE_CAP;
	a->start = a->pos = a->end = QF_SUPER_SIZE;
	/* a remover may have taken it for a leftover before we locked it */
	if ((e = f->ops->lock(f, QVFS_LOCK_TRY)) == 0 &&
	    (e = names_file(t, t->path, f)) >= 0)
		e = e ? 0 : -EAGAIN;
	if (e == -EAGAIN)
		return qerr(QUIRE_EBUSY, "%s: another compaction of the "
					 "database is running",
			    t->path);
	if (e && e != -ENOTSUP)
		return qerr_os(-e, "%s: taking its lock", t->path);
	t->vfs->random(t->vfs, s.file_id, QF_FILE_ID);
	memcpy(t->qf->file_id, s.file_id, QF_FILE_ID);
	memset(sb, 0, sizeof sb);
	qsuper_put(sb, &s);
	if ((known && (e = ident_give(f, t->path, &orig)) != 0) ||
	    (e = write_at(t, sb, sizeof sb, 0)) != 0) {
		t->vfs->remove(t->vfs, t->path); /* ours: its lock is held */
		return e;
	}
	if (!(t->opts.flags & QUIRE_NOMMAP))
		t->qf->smap = fmap_open(&t->qf->map, f, QF_SUPER_SIZE);
	return 0;
}

/* Remove a crashed compaction's "<path>.compact" (beside the file the
 * path resolves to), if there is one nobody uses. */
static void remove_leftover(quire *db)
{
	char *tpath = NULL;
	if (ident_target(db->vfs, db->path, &tpath) == 0)
		clear_leftover(db, tpath);
	else
		qerr_clear();
	free(tpath);
}

#define SLOTS_BYTES (QF_SLOT1_OFF + QF_SLOT_SIZE - QF_SLOT0_OFF)

/* The bytes of both slots: through the mapping when there is one (no
 * system call), else read. */
static int slot_bytes(struct qfile *qf, uint8_t buf[SLOTS_BYTES])
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
static int read_slots(struct qfile *qf, struct qslot *best)
{
	uint8_t buf[SLOTS_BYTES];
	int e = slot_bytes(qf, buf);
	if (e)
		return e;
	struct qslot s[2];
	int ok0 = qslot_get(buf, &s[0]) == 0;
	int ok1 = qslot_get(buf + (QF_SLOT1_OFF - QF_SLOT0_OFF), &s[1]) == 0;
	if (!ok0 && !ok1)
		return QUIRE_NOTFOUND;
	*best = ok0 && (!ok1 || s[0].counter > s[1].counter) ? s[0] : s[1];
	return 0;
}

static int write_slot(quire *db, const struct qhdr *latest, uint32_t flags)
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
	int e = write_at(db, buf, sizeof buf,
			 (s.counter & 1) ? QF_SLOT1_OFF : QF_SLOT0_OFF);
	if (e)
		return e;
	db->slot_counter = s.counter;
	return 0;
}

/* Read and verify the header at off. */
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

/* Sequential reader for the recovery walk. */
struct rd {
	quire *db;
	uint64_t size;
	uint8_t *buf;
	uint64_t boff;
	size_t blen;
};

/* Pointer to [off, off + n) (n <= RD_CAP), or NULL at end of file or on an
 * I/O error (then *err is set). */
static const uint8_t *rd_get(struct rd *r, uint64_t off, size_t n, int *err)
{
	*err = 0;
	if (off + n > r->size)
		return NULL;
	if (off >= r->boff && off + n <= r->boff + r->blen)
		return r->buf + (off - r->boff);
	size_t want = (size_t)QMIN((uint64_t)RD_CAP, r->size - off), got;
	int e = io_read(r->db->qf->f, r->buf, want, off, &got);
	if (e) {
		*err = qerr_os(-e, "%s: reading at offset %llu", r->db->path,
			       (unsigned long long)off);
		return NULL;
	}
	r->boff = off;
	r->blen = got;
	return got >= n ? r->buf : NULL;
}

/* Fold the bytes [off, off + n) into *crc. Returns 0, 1 at end of file, or
 * an error. */
static int rd_crc(struct rd *r, uint64_t off, uint64_t n, uint32_t *crc)
{
	while (n) {
		size_t k = (size_t)QMIN(n, (uint64_t)RD_CAP);
		int err;
		const uint8_t *p = rd_get(r, off, k, &err);
		if (!p)
			return err ? err : 1;
		*crc = crc32c(*crc, p, k);
		off += k;
		n -= k;
	}
	return 0;
}

/*
 * Follow the commits after `from` (NULL: from the start of the data area, in
 * which case the first header found is taken without chain checks) and return
 * the newest one whose bytes all verify. Stops at the first block that does
 * not parse: that is the torn tail of a crash, or another writer's commit in
 * progress. Every block a writer makes must pass: a batch may be as large
 * as its 32-bit size field allows (one big transaction), a value block as
 * QUIRE_MAX_VALUE_SIZE; refusing a larger one would cut a durable commit.
 */
static int walk(quire *db, const struct qhdr *from, struct qhdr *out)
{
	struct rd r = {.db = db, .boff = UINT64_MAX};
	struct qhdr cur;
	int have = from != NULL, e = file_size(db, &r.size);
	if (e)
		return e;
	if (!(r.buf = malloc(RD_CAP)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	if (have)
		cur = *from;
	uint64_t start = have ? cur.total_bytes : QF_SUPER_SIZE;
	for (;;) {
		uint64_t pos = start;
		uint32_t chain = 0;
		const uint8_t *p;
		struct qblock b;
		for (;;) {
			if (!(p = rd_get(&r, pos, QF_BLOCK_HDR, &e)))
				goto end;
			qblock_get(p, &b);
			if (b.type == QB_HEADER)
				break;
			if ((b.type != QB_NODE && b.type != QB_VALUE &&
			     b.type != QB_BATCH) ||
			    b.size < QF_BLOCK_HDR ||
			    (b.type == QB_NODE && b.size > QF_NODE_MAX) ||
			    (b.type == QB_VALUE &&
			     b.size > QF_BLOCK_HDR + QUIRE_MAX_VALUE_SIZE))
				goto end;
			uint8_t stored[4];
			uint32_t crc = qblock_crc_start(pos);
			memcpy(stored, p, 4);
			if ((e = rd_crc(&r, pos + 4, b.size - 4, &crc)) != 0) {
				if (e == 1)
					e = 0;
				goto end;
			}
			if (crc != b.crc)
				goto end;
			chain = crc32c(chain, stored, 4);
			pos += b.size;
		}
		if (b.size < QF_HDR_V1 || b.size > QF_HDR_FIXED + QF_META_MAX ||
		    !(p = rd_get(&r, pos, b.size, &e)))
			goto end;
		struct qhdr h;
		uint32_t need;
		if (qhdr_get(p, b.size, pos, &h, &need) != 0 ||
		    memcmp(h.file_id, db->qf->file_id, QF_FILE_ID) != 0 ||
		    h.commit_start != start || h.range_crc != chain)
			goto end;
		if (have && (h.prev_off != cur.self_off || h.txn != cur.txn + 1 ||
			     h.time_ns < cur.time_ns ||
			     h.next_seq < cur.next_seq))
			goto end;
		cur = h;
		have = 1;
		start = h.total_bytes;
	}
end:
	free(r.buf);
	if (e)
		return e;
	qerr_clear(); /* the failures above only marked the end of the log */
	if (!have)
		return qerr(QUIRE_ECORRUPT, "%s: no valid commit header found",
			    db->path);
	*out = cur;
	return 0;
}

/*
 * Bring db->cur up to the newest commit in the file. Called with refresh_mu
 * held (or by the writer, which holds it too). *trusted tells whether the
 * slots were written in this boot (invariant 4).
 */
/* Publish h, with its pending operations loaded on top of cur's. */
static int publish_header(quire *db, const struct snap *cur,
			  const struct qhdr *h)
{
	struct memtable *mt;
	int e = pending_load(db->qf, h, cur ? cur->mt : NULL, &mt);
	if (e == QUIRE_ECORRUPT && db->salvage) {
		/* salvage reads the batches itself: the trees alone here */
		if (!(mt = mt_new(qhdr_ckpt_seq(h), h->txn, h->ckpt_off)))
			return qerr(QUIRE_ENOMEM, "out of memory");
	} else if (e) {
		return e;
	}
	e = snap_publish(db, h, mt);
	mt_unref(mt);
	return e;
}

/* refresh_locked() with the handle's current commit pinned in cur (the
 * writer may publish a newer one meanwhile). */
static int refresh_from(quire *db, const struct snap *cur, int *trusted)
{
	struct qslot s;
	struct qhdr h, from;
	int e = read_slots(db->qf, &s);
	if (e && e != QUIRE_NOTFOUND)
		return e;
	int have = e == 0;
	if (have && superseded(db, db->qf, &s)) {
		if ((e = switch_file(db)) != 0)
			return e;
		return refresh_from(db, NULL, trusted);
	}
	if (cur && cur->qf != db->qf)
		cur = NULL; /* a new file: nothing of the old one carries over */
	*trusted = have && db->boot_id && s.boot_id == db->boot_id;

	if (cur && have && s.latest_txn == cur->h.txn &&
	    s.latest_off == cur->h.self_off)
		return 0;
	if (*trusted) {
		if (cur && s.latest_txn <= cur->h.txn)
			return 0;
		if (df_load_header(db->qf, s.latest_off, &h) == 0 &&
		    h.txn == s.latest_txn)
			return publish_header(db, cur, &h);
		/* The page cache lost a commit (writeback error after a
		 * NOSYNC commit): fall back to the walk. */
		*trusted = 0;
	}
	const struct qhdr *start = cur ? &cur->h : NULL;
	if (have && (!cur || s.durable_txn > cur->h.txn)) {
		e = df_load_header(db->qf, s.durable_off, &from);
		if (e == 0 && from.txn != s.durable_txn)
			e = qerr(QUIRE_ECORRUPT,
				 "%s: durable commit %llu not found at offset "
				 "%llu",
				 db->path, (unsigned long long)s.durable_txn,
				 (unsigned long long)s.durable_off);
		if (e)
			return e; /* a synced commit is damaged */
		start = &from;
	}
	if ((e = walk(db, start, &h)) != 0)
		return e;
	if (cur && h.txn == cur->h.txn)
		return 0;
	return publish_header(db, cur, &h);
}

static int refresh_locked(quire *db, int *trusted)
{
	struct snap *cur = snap_acquire(db); /* NULL while opening */
	int e = refresh_from(db, cur, trusted);
	snap_release(cur);
	return e;
}

/* Load the newest commit for a new snapshot. refresh_mu is held only by
 * threads loading a header (never by a committer), so waiting for it means
 * waiting for another reader's short read of the same header. */
int df_refresh(quire *db)
{
	int trusted, e = 0;
	pthread_mutex_lock(&db->refresh_mu);
	if (df_stale(db)) /* maybe another thread loaded it meanwhile */
		e = refresh_locked(db, &trusted);
	pthread_mutex_unlock(&db->refresh_mu);
	return e;
}

/* Whether the slots show a commit this handle has not seen. Cheap enough
 * for every snapshot: a read of the mapped superblock. */
int df_stale_snap(const struct snap *cur)
{
	struct qslot s;
	if (!cur || read_slots(cur->qf, &s) != 0)
		return 1;
	return s.latest_txn != cur->h.txn || (s.flags & QF_SLOT_SUPERSEDED);
}

int df_stale(quire *db)
{
	struct snap *cur = snap_acquire(db);
	int stale = df_stale_snap(cur);
	snap_release(cur);
	return stale;
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
	if ((e = wait_lock(db, f, QVFS_LOCK_TRY,
			    deadline_of(db, db->opts.busy_timeout_ms),
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
	int e = wait_lock(db, f, QVFS_LOCK_TRY,
			  deadline_of(db, db->opts.busy_timeout_ms),
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
static int open_file(quire *db, struct qfile **out)
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

int df_open(quire *db)
{
	db->boot_id = db->vfs->boot_id(db->vfs);
	int e = open_file(db, &db->qf);
	if (e)
		return e;
	if (!(db->opts.flags & QUIRE_RDONLY))
		remove_leftover(db);
	pthread_mutex_lock(&db->refresh_mu);
	int trusted;
	e = refresh_locked(db, &trusted);
	pthread_mutex_unlock(&db->refresh_mu);
	return e;
}

/*
 * Start a write transaction's file work; the caller holds both writer locks.
 * Brings the view up to date and cuts away any tail that belongs to no
 * acknowledged commit (invariant 4). The first writer after a reboot also
 * makes the recovered state durable and claims the slots for this boot.
 */
int df_writer_begin(quire *db)
{
	int trusted, e;
	uint64_t size;
	struct qslot s;
	pthread_mutex_lock(&db->refresh_mu);
	e = refresh_locked(db, &trusted);
	pthread_mutex_unlock(&db->refresh_mu);
	if (e)
		return e;
	/* Only a writer writes slots, so the counters it reads now are the
	 * newest; its next slot must outnumber both. */
	uint8_t buf[SLOTS_BYTES];
	struct qslot s0, s1;
	if ((e = slot_bytes(db->qf, buf)) != 0)
		return e;
	db->slot_counter = 0;
	if (qslot_get(buf, &s0) == 0)
		db->slot_counter = s0.counter;
	if (qslot_get(buf + (QF_SLOT1_OFF - QF_SLOT0_OFF), &s1) == 0)
		db->slot_counter = QMAX(db->slot_counter, s1.counter);

	struct snap *cur = snap_acquire(db);
	const struct qhdr *h = &cur->h;
	if ((e = file_size(db, &size)) != 0)
		goto out;
	if (size > h->total_bytes) { /* those places will be written again */
		fmap_unmark_from(&db->qf->map, h->total_bytes);
		if ((e = truncate_to(db, h->total_bytes)) != 0)
			goto out;
	}
	if (read_slots(db->qf, &s) == 0 && trusted) {
		db->durable_off = s.durable_off;
		db->durable_txn = s.durable_txn;
	} else {
		if ((e = sync_file(db)) != 0)
			goto out;
		db->durable_off = h->self_off;
		db->durable_txn = h->txn;
		if ((e = write_slot(db, h, 0)) != 0)
			goto out;
	}
	struct appender *a = &db->app;
	if (!a->stage && !(a->stage = malloc(STAGE_CAP))) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	a->cap = STAGE_CAP;
	a->start = a->pos = a->end = h->total_bytes;
	a->chain = 0;
	a->used = 0;
	a->niov = 0;
out:
	snap_release(cur);
	return e;
}

/* Write everything queued. */
static int flush(quire *db)
{
	struct appender *a = &db->app;
	if (!a->niov)
		return 0;
	int e = io_writev(db->qf->f, a->iov, a->niov, a->pos);
	if (e)
		return qerr_os(-e, "%s: writing %llu bytes at offset %llu",
			       db->path, (unsigned long long)(a->end - a->pos),
			       (unsigned long long)a->pos);
	a->pos = a->end;
	a->niov = 0;
	a->used = 0;
	return 0;
}

/* Queue n bytes at p (kept by reference until the next flush). */
static int queue(quire *db, const void *p, size_t n)
{
	struct appender *a = &db->app;
	if (a->niov == a->capiov) {
		int cap = a->capiov ? a->capiov * 2 : 256;
		struct iovec *v = realloc(a->iov, (size_t)cap * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		a->iov = v;
		a->capiov = cap;
	}
	a->iov[a->niov++] = (struct iovec){(void *)p, n};
	a->end += n;
	return 0;
}

/* Queue a copy of n bytes (n <= STAGE_CAP). */
static int queue_copy(quire *db, const void *p, size_t n)
{
	struct appender *a = &db->app;
	int e;
	if (a->used + n > a->cap && (e = flush(db)) != 0)
		return e;
	memcpy(a->stage + a->used, p, n);
	a->used += n;
	return queue(db, a->stage + a->used - n, n);
}

uint64_t df_next_offset(quire *db)
{
	return db->app.end;
}

uint64_t df_written(quire *db)
{
	return db->app.pos;
}

int df_append_block(quire *db, const uint8_t *blk, uint32_t size,
		    uint64_t *off)
{
	struct appender *a = &db->app;
	*off = a->end;
	a->chain = crc32c(a->chain, blk, 4);
	int e = queue(db, blk, size);
	if (!e && (a->niov >= 1024 || a->end - a->pos >= STAGE_CAP * 8))
		e = flush(db);
	return e;
}

int df_append_value(quire *db, const void *val, size_t vlen, uint64_t *off)
{
	struct appender *a = &db->app;
	uint8_t hdr[QF_BLOCK_HDR];
	struct qblock b = {.type = QB_VALUE,
			   .size = (uint32_t)(QF_BLOCK_HDR + vlen)};
	qblock_put(hdr, &b);
	uint32_t crc = crc32c(qblock_crc_start(a->end), hdr + 4,
			      QF_BLOCK_HDR - 4);
	st32(hdr, vlen ? crc32c(crc, val, vlen) : crc);
	*off = a->end;
	a->chain = crc32c(a->chain, hdr, 4);
	int e = queue_copy(db, hdr, sizeof hdr);
	if (e || !vlen)
		return e;
	if (vlen <= a->cap / 4)
		return queue_copy(db, val, vlen);
	/* a large value is written now: the caller's buffer is not ours */
	if ((e = queue(db, val, vlen)) == 0)
		e = flush(db);
	return e;
}

int df_commit(quire *db, struct qhdr *h, const void *meta)
{
	struct appender *a = &db->app;
	int e;
	h->self_off = a->end;
	h->commit_start = a->start;
	h->range_crc = a->chain;
	h->size = QF_HDR_FIXED + h->meta_len;
	h->total_bytes = h->self_off + h->size;
	if (!h->ckpt_off)
		h->ckpt_off = h->self_off;
	memcpy(h->file_id, db->qf->file_id, QF_FILE_ID);
	uint8_t *hb = malloc(h->size);
	if (!hb)
		return qerr(QUIRE_ENOMEM, "out of memory");
	if (h->meta_len)
		memcpy(hb + QF_HDR_FIXED, meta, h->meta_len);
	qhdr_put(hb, h);
	e = queue_copy(db, hb, h->size);
	free(hb);
	if (e || (e = flush(db)) != 0)
		return e;
	/* NOSYNC still syncs now and then: recovery after a reboot walks
	 * forward from the durable commit, and that walk must stay short */
	if (!(db->opts.flags & QUIRE_NOSYNC) ||
	    h->self_off - db->durable_off >= db->nosync_walk) {
		if ((e = sync_file(db)) != 0)
			return e;
		db->durable_off = h->self_off;
		db->durable_txn = h->txn;
	}
	if ((e = write_slot(db, h, 0)) != 0) {
		/* The commit is in the file, but the slot that makes it count
		 * in this boot is not: it will be cut away. */
		atomic_store(&db->failed, 1);
		return e;
	}
	a->start = a->pos = a->end = h->total_bytes;
	a->chain = 0;
	return 0;
}

void df_rollback(quire *db)
{
	struct appender *a = &db->app;
	if (a->pos > a->start) /* best effort: the next writer cuts it too */
		db->qf->f->ops->truncate(db->qf->f, a->start);
	a->pos = a->end = a->start;
	a->chain = 0;
	a->used = 0;
	a->niov = 0;
}

int df_sync(quire *db)
{
	int e = sync_file(db);
	if (e)
		return e;
	struct snap *cur = snap_acquire(db);
	db->durable_off = cur->h.self_off;
	db->durable_txn = cur->h.txn;
	e = write_slot(db, &cur->h, 0);
	snap_release(cur);
	return e;
}

int df_flush(quire *db)
{
	return flush(db);
}
