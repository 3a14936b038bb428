/*
 * compact.c - online compaction: copy what is still needed into
 * "<path>.compact", catch up with the writers, swap the files.
 *
 * 1. Pin the newest commit T0 and build the state of the first kept
 *    commit K in the new file, then copy the commits after it (rebuild.c:
 *    the options choose K; never older than the file's own history).
 * 2. Catch up: writers go on committing to the old file meanwhile; rounds
 *    copy what they committed, and repeat while a round still has much to
 *    copy. After the first few, each round holds the writer locks (so the
 *    writers of every process) for at most SLICE_NS, so the copy gains on
 *    writers at full speed. Then both files are synced, so that the final
 *    round syncs little.
 * 3. Final round with the writer locks of the old file held (the writer
 *    pause): copy the rest, sync the new file, mark the old file's slot
 *    superseded, rename the new file over the path, sync the directory,
 *    and move the handle to the new file. Marking before renaming matters:
 *    a process that finds the mark while the path still names the old file
 *    (a compaction that died in between) ignores it, and one that finds
 *    the path moved reopens it, so no writer of another process can commit
 *    into the old, unlinked file.
 *
 * A background compaction paces itself (pace.c) in steps 1 and 2 while it
 * does not hold the writers off: it gives the CPUs to busy threads unless a
 * writer waits for it.
 *
 * Until the rename, the old file is never written (the mark is a slot
 * write, like any commit's), so a crash or an error at any point leaves
 * the database as it was; the new file is removed, or by the next open if
 * the process died. Snapshots keep their own file (struct qfile), so
 * readers begun before the swap go on reading the old one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "compact.h"
#include "error.h"
#include "file.h"
#include "gate.h"
#include "handle.h"
#include "ident.h"
#include "rebuild.h"
#include "recover.h"
#include "snap.h"
#include "txn.h"

/* Rounds that copied fewer commits than this end the catch-up. */
#define SMALL_ROUND 16
/* Rounds run beside the writers; later ones hold the writers off for at
 * most SLICE_NS each, so that the copy gains on writers that commit as
 * fast as they can be copied. */
#define FREE_ROUNDS 3
#define SLICE_NS 20000000ull

void quire_compact_options_init(quire_compact_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof *opts);
	opts->version = QUIRE_COMPACT_OPTIONS_VERSION;
}

/* ---- 3: the swap ------------------------------------------------------- */

/* Move the handle to the new file: its file, newest snapshot and writer
 * state. Called with the writer locks of both files held. */
static void adopt(quire *db, quire *t)
{
	pthread_mutex_lock(&db->refresh_mu);
	pthread_mutex_lock(&db->snap_mu);
	struct qfile *oldqf = db->qf, *oldlock = db->lock_qf;
	struct snap *old = db->cur;
	t->qf->path = db->path;
	db->qf = t->qf;
	db->lock_qf = t->qf; /* held since its creation; writer_release
			      * lets it go */
	qfile_ref(t->qf);
	db->cur = t->cur;
	atomic_store(&db->cur_txn, db->cur->h.txn);
	atomic_store(&db->cur_next_seq, db->cur->h.next_seq);
	t->qf = NULL;
	t->cur = NULL;
	pthread_mutex_unlock(&db->snap_mu);
	pthread_mutex_unlock(&db->refresh_mu);

	struct appender a = db->app;
	db->app = t->app;
	t->app = a;
	db->durable_off = t->durable_off;
	db->durable_txn = t->durable_txn;
	db->slot_counter = t->slot_counter;
	/* the old file's writers (other processes) may go on: they will find
	 * the mark and follow the path */
	oldlock->f->ops->lock(oldlock->f, QVFS_UNLOCK);
	qfile_unref(oldlock);
	qfile_unref(oldqf);
	snap_release(old);
	pthread_mutex_lock(&db->pub_mu);
	pthread_cond_broadcast(&db->pub_cv);
	pthread_mutex_unlock(&db->pub_mu);
}

/* Under the writer locks, before the rename: dest (where the copy goes)
 * still names the database file, which still has one name, and the copy
 * has its owner, group and mode (given at its creation; someone may have
 * changed them since). */
static int same_file(struct rebuild *c, const char *dest)
{
	qvfs_file *f = c->db->qf->f, *tf = c->t->qf->f;
	struct qvfs_attrs a, ta;
	int e = ident_names(c->db->vfs, dest, f);
	if (e == 0)
		return qerr(QUIRE_EBUSY, "%s: the name no longer gives the "
					 "database file (moved or replaced while "
					 "it was compacted); nothing was changed",
			    dest);
	if (e == -ENOENT)
		return qerr_os(ENOENT, "%s: the database file is gone (moved "
				       "or removed while it was compacted); "
				       "nothing was changed",
			       dest);
	if (e < 0 && e != -ENOTSUP)
		return qerr_os(-e, "%s: open", dest);
	if ((e = ident_attrs(f, dest, &a)) != 0 ||
	    (e = ident_single(dest, &a)) != 0 ||
	    (e = ident_attrs(tf, c->t->path, &ta)) != 0)
		return e == QUIRE_NOTFOUND ? 0 : e;
	if (ta.mode == a.mode && ta.uid == a.uid && ta.gid == a.gid)
		return 0;
	return ident_give(tf, c->t->path, &a);
}

/* The final round and the swap, with the writer paused. */
static int finish(struct rebuild *c)
{
	quire *db = c->db;
	quire_txn *src = NULL;
	uint64_t n;
	int e;
	/* the copy replaces the file the path resolves to: its name is the
	 * copy's without ".compact" (df_create_target) */
	size_t dlen = strlen(c->t->path) - (sizeof ".compact" - 1);
	char *dest = malloc(dlen + 1);
	if (!dest)
		return qerr(QUIRE_ENOMEM, "out of memory");
	memcpy(dest, c->t->path, dlen);
	dest[dlen] = 0;
	/* A writer of another process holds the lock (busy_timeout_ms is the
	 * callers' patience, not ours): go on copying while it commits. A
	 * closing handle cancels the wait for this process's writers. */
	while ((e = writer_acquire_for(db, 0, &db->compactor->closing)) == QUIRE_EBUSY) {
		if ((e = quire_begin(db, QUIRE_RDONLY, &src)) == 0)
			e = rebuild_replay(c, src, 0, &n);
		if (src)
			quire_abort(src);
		src = NULL;
		if (e || (e = rebuild_progress(c, 0)) != 0) {
			free(dest);
			return e;
		}
		db->vfs->sleep_ns(db->vfs, 1000000);
	}
	if (e) {
		free(dest);
		return e;
	}
	c->ckpt_next = 0; /* a checkpoint here would be the pause */
	if ((e = df_writer_begin(db)) != 0 ||
	    (e = txn_begin_read(db, snap_acquire(db), &src)) != 0 ||
	    (e = rebuild_replay(c, src, 0, &n)) != 0 || (e = df_sync(c->t)) != 0 ||
	    (e = same_file(c, dest)) != 0 ||
	    (e = df_mark(db, QF_SLOT_SUPERSEDED)) != 0)
		goto out;
	if ((e = db->vfs->rename(db->vfs, c->t->path, dest, 0)) != 0) {
		e = qerr_os(-e, "%s: renaming over %s", c->t->path, dest);
		df_mark(db, 0); /* best effort: the mark alone is harmless */
		goto out;
	}
	int dir = db->vfs->sync_dir(db->vfs, dest);
	adopt(db, c->t);
	if (dir)
		e = qerr_os(-dir, "%s: compacted, but syncing the directory of "
				  "%s failed: after a power loss the old file "
				  "may be back (complete)",
			    db->path, dest);
out:
	writer_release(db);
	if (src) /* may close the old file: slow for a big one, so after */
		quire_abort(src);
	free(dest);
	return e;
}

/* ---- driving it ----------------------------------------------------------- */

static int run(struct rebuild *c)
{
	quire *db = c->db;
	quire_txn *src = NULL;
	const quire_compact_options *o = c->o;
	int e = quire_begin(db, QUIRE_RDONLY, &src);
	if (e)
		return e;
	if ((e = qdb_open_target(db, &c->t)) != 0 ||
	    (e = rebuild_base(c, src)) != 0)
		goto out;
	/* Catch up until a round is short; then sync what was copied (the
	 * writer's pause should sync only the last few commits) and catch up
	 * with what was committed during that sync. */
	quire_abort(src);
	src = NULL;
	for (int round = 1, synced = 0;; round++) {
		uint64_t n = 0;
		int held = round > FREE_ROUNDS;
		if (rebuild_checkpoint_due(c)) /* fold it in a free round */
			held = 0, c->ckpt_next = 1;
		/* a held round stops every writer, of any process, for a
		 * slice: it takes the writer locks (in turn with the others:
		 * the file lock's queue) */
		held = held && writer_acquire_for(db, SLICE_NS / 1000000,
						  &db->compactor->closing) == 0;
		qerr_clear();
		if ((e = quire_begin(db, QUIRE_RDONLY, &src)) == 0)
			e = rebuild_replay(c, src, held ? SLICE_NS : 0, &n);
		if (held)
			writer_release(db);
		if (e || (e = rebuild_progress(c, 1)) != 0)
			goto out;
		quire_abort(src);
		src = NULL;
		if (n < SMALL_ROUND) {
			if (synced)
				break;
			/* the old file too: on ext4 the final fsync would
			 * otherwise wait for the writers' unsynced data */
			if ((e = df_sync(c->t)) != 0 ||
			    (e = df_fsync(db)) != 0)
				goto out;
			synced = 1;
		}
	}
	c->pace = NULL; /* the end: the writers will be paused for it */
	if ((e = finish(c)) == 0 && o->progress) /* done: too late to cancel */
		o->progress(o->progress_ctx, c->total, c->total);
out:
	if (src)
		quire_abort(src);
	return e;
}

/* The options against the newest commit, and the file: history that
 * does not exist yet cannot be kept (a typo, a time in the wrong unit),
 * and a file with several names cannot be replaced by one rename. */
static int check_args(quire *db, const quire_compact_options *o)
{
	quire_txn *t;
	struct qvfs_attrs a;
	int e = quire_begin(db, QUIRE_RDONLY, &t);
	if (e)
		return e;
	if ((e = rebuild_check(db, &t->snap->h, o, "quire_compact")) == 0 &&
	    (e = ident_attrs(t->snap->qf->f, db->path, &a)) == 0)
		e = ident_single(db->path, &a);
	quire_abort(t);
	return e == QUIRE_NOTFOUND ? 0 : e;
}

int quire_compact(quire *db, const quire_compact_options *opts)
{
	return compact_run(db, opts, NULL, NULL);
}

int compact_run(quire *db, const quire_compact_options *opts,
		struct pace *pace, int *raced)
{
	quire_compact_options defaults;
	qerr_clear();
	if (!opts) {
		quire_compact_options_init(&defaults);
		opts = &defaults;
	}
	if (!db || opts->version != QUIRE_COMPACT_OPTIONS_VERSION)
		return qerr(QUIRE_EINVAL, "quire_compact: bad arguments");
	int e = qdb_writable(db);
	if (e)
		return e;
	if (gate_held(db->gate))
		return qerr(QUIRE_EBUSY, "%s: this thread holds the write "
					 "transaction; end it before compacting",
			    db->path);
	if ((e = check_args(db, opts)) != 0)
		return e;
	int no = 0;
	if (!db->compactor)
		return qerr(QUIRE_EINVAL, "%s: quire_compact: a handle of the "
					  "library's own",
			    db->path);
	if (!atomic_compare_exchange_strong(&db->compactor->running, &no, 1)) {
		if (raced)
			*raced = 1;
		return qerr(QUIRE_EBUSY, "%s: a compaction of this handle is "
					 "running",
			    db->path);
	}
	struct rebuild c = {.db = db, .o = opts, .what = "compaction",
			    .cancel = &db->compactor->closing, .pace = pace};
	e = run(&c);
	if (e == QUIRE_EBUSY && !c.t && raced)
		*raced = 1; /* its copy could not be made: another's is */
	if (c.t) {
		int swapped = c.t->qf == NULL;
		if (!swapped) /* the database is as it was: drop the copy */
			db->vfs->remove(db->vfs, c.t->path);
		qdb_free(c.t);
	}
	atomic_store(&db->compactor->running, 0);
	return e;
}

