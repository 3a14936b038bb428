/*
 * autocompact.c - the compaction attached to a handle: a background
 * compaction once opts.auto_compact_ratio of the file is reclaimable (or
 * when a commit left its pending operations for a compaction to fold, see
 * commit.c), its cancellation at close, and a back-off after a failure
 * or after finding another compaction running.
 *
 * The core never calls into compaction: quire_open attaches a struct
 * compactor and the hooks below (struct compact_hooks), and commits call
 * them. Compaction is built on the core, never the other way round.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "error.h"
#include "file.h"
#include "gate.h"
#include "pace.h"
#include "snap.h"
#include "space.h"
#include "txn.h"
#include "util.h"

/* The auto_compact_ratio threshold also needs this much garbage (a
 * compactor's default min_garbage). */
#define AUTO_MIN_GARBAGE ((uint64_t)1 << 20)

struct compact_marks compact_marks_now(quire *db, uint64_t *size)
{
	struct compactor *cp = db->compactor;
	struct snap *cur = snap_acquire(db);
	uint64_t file;
	memcpy(&file, cur->qf->file_id, sizeof file);
	*size = cur->h.total_bytes;
	snap_release(cur);
	pthread_mutex_lock(&cp->mark_mu);
	if (cp->marks.file != file)
		cp->marks = (struct compact_marks){.file = file};
	struct compact_marks m = cp->marks;
	pthread_mutex_unlock(&cp->mark_mu);
	return m;
}

/* A background compaction that failed (a full disk, a file with several
 * links) is not tried again, nor left to fold pending operations, until
 * the file has grown by a quarter: checkpoints do the folding meanwhile.
 * One that found another compaction of the handle or of the database
 * running (another handle's, another process's) leaves the garbage and
 * the pending operations to that one: it counts as running until the file
 * has grown by a 32nd (the one it found moves the handle to a new file,
 * where the marks no longer hold). pace: NULL, or the thread's (it yields
 * the CPU to busy threads while no writer waits for it, pace.c). */
static void background(quire *db, struct pace *pace)
{
	struct compactor *cp = db->compactor;
	int raced = 0;
	int e = compact_run(db, NULL, pace, &raced);
	if (!e || e == QUIRE_ECANCELED)
		return;
	uint64_t file;
	struct compact_marks m = compact_marks_now(db, &file);
	if (raced)
		m.busy = file + file / 32;
	else
		m.floor = m.next = file + file / 4;
	pthread_mutex_lock(&cp->mark_mu);
	if (cp->marks.file == m.file)
		cp->marks = m;
	pthread_mutex_unlock(&cp->mark_mu);
}

/* The thread of a background compaction: it paces itself (unless
 * QUIRE_COMPACT_NOYIELD), so that on busy CPUs it leaves them to the
 * application's threads and other processes' readers, while a writer
 * that outruns it waits at the fold limit (commit.c), which keeps the
 * pending operations bounded; such a writer sets cp->hurry, and it goes
 * at full speed. */
static void *background_thread(void *arg)
{
	quire *db = arg;
	struct pace pace;
	int paced = !(db->opts.flags & QUIRE_COMPACT_NOYIELD);
	if (paced)
		pace_start(&pace, db->vfs, &db->compactor->hurry);
	atomic_store(&db->compactor->bg_paced, paced && pace.fd >= 0);
	while (atomic_load(&db->compactor->test_hold) && /* see compact.h */
	       !atomic_load(&db->compactor->closing))
		db->vfs->sleep_ns(db->vfs, 1000000);
	background(db, paced ? &pace : NULL);
	if (paced)
		pace_end(&pace);
	atomic_store(&db->compactor->bg_active, 0); /* only the exit is left */
	return NULL;
}

/* compact_due() of a file of size bytes under marks m. */
static int due(quire *db, uint64_t file, const struct compact_marks *m)
{
	quire_txn t;
	if (m->floor > file) /* one failed */
		return 0;
	struct space sp;
	txn_inner(db, &t);
	int ok = space_account(&t, &sp) == 0 &&
		 sp.reclaimable >= db->compactor->min_garbage &&
		 (double)sp.reclaimable >
			 db->opts.auto_compact_ratio *
				 (double)t.snap->h.total_bytes;
	txn_inner_end(&t);
	qerr_clear(); /* the caller's commit succeeded */
	return ok;
}

int compact_due(quire *db)
{
	uint64_t file;
	struct compact_marks m = compact_marks_now(db, &file);
	return due(db, file, &m);
}

/* due(), looked at again only once the file has grown by a 32nd since
 * the last look: the estimate reads headers. */
static int auto_due(quire *db, uint64_t file, const struct compact_marks *m)
{
	struct compactor *cp = db->compactor;
	if (file < m->next)
		return 0;
	pthread_mutex_lock(&cp->mark_mu);
	if (cp->marks.file == m->file)
		cp->marks.next = file + QMAX(file / 32, cp->min_garbage / 4);
	pthread_mutex_unlock(&cp->mark_mu);
	return due(db, file, m);
}

/* A compaction of this handle runs, or a background thread was started
 * for one: from its creation on (bg_active), not from the moment it gets
 * to quire_compact's own flag, so that a commit in between neither
 * starts another nor mistakes it for finished and joins it (waiting
 * for a whole compaction); or the last one found another running (marks'
 * busy, see background()). file, m: the handle's, from
 * compact_marks_now(). */
static int busy(const struct compactor *cp, uint64_t file,
		const struct compact_marks *m)
{
	return atomic_load(&cp->running) || atomic_load(&cp->bg_active) ||
	       m->busy > file;
}

static int running(const quire *db)
{
	uint64_t file;
	struct compact_marks m = compact_marks_now((quire *)db, &file);
	return busy(db->compactor, file, &m);
}

/* The committing thread waits for the background compaction that folds
 * the pending operations: they have reached their bound while it runs
 * (fold 2, commit.c's fold_by_compaction), and each commit made meanwhile
 * is held twice, in the memtable and in the compaction's copy. The
 * compaction, finding nothing more to copy, finishes at once. Without a
 * background one (quire_compact() called by the user) there is nothing
 * to wait for here. */
static void wait_background(quire *db)
{
	struct compactor *cp = db->compactor;
	pthread_mutex_lock(&cp->bg_mu);
	if (cp->bg_started && !pthread_equal(cp->bg, pthread_self())) {
		atomic_store(&cp->hurry, 1);
		pthread_join(cp->bg, NULL);
		atomic_store(&cp->hurry, 0);
		cp->bg_started = 0;
	}
	pthread_mutex_unlock(&cp->bg_mu);
}

/* The after_commit hook: start the background compaction if it is due,
 * or asked for to fold (fold 1), or wait for the one that folds (fold 2). */
static void after_commit(quire *db, int fold)
{
	struct compactor *cp = db->compactor;
	if (fold == 2) {
		wait_background(db);
		return;
	}
	if (db->opts.auto_compact_ratio <= 0 || atomic_load(&cp->closing))
		return;
	uint64_t file; /* after the commit just made */
	struct compact_marks m = compact_marks_now(db, &file);
	if (busy(cp, file, &m) || (!fold && !auto_due(db, file, &m)))
		return;
	if (cp->inline_run) {
		background(db, NULL);
		return;
	}
	pthread_mutex_lock(&cp->bg_mu);
	if (cp->bg_started && !atomic_load(&cp->bg_active)) {
		pthread_join(cp->bg, NULL); /* the last one has finished */
		cp->bg_started = 0;
	}
	if (!cp->bg_started && !atomic_load(&cp->closing)) {
		atomic_store(&cp->bg_active, 1);
		cp->bg_started = pthread_create(&cp->bg, NULL,
						background_thread, db) == 0;
		if (!cp->bg_started)
			atomic_store(&cp->bg_active, 0);
	}
	pthread_mutex_unlock(&cp->bg_mu);
}

static uint64_t retry_floor(const quire *db)
{
	uint64_t file;
	return compact_marks_now((quire *)db, &file).floor;
}

static const struct compact_hooks hooks = {after_commit, running,
					   retry_floor};

int compact_attach(quire *db)
{
	struct compactor *cp = calloc(1, sizeof *cp);
	if (!cp)
		return qerr(QUIRE_ENOMEM, "out of memory");
	pthread_mutex_init(&cp->bg_mu, NULL);
	pthread_mutex_init(&cp->mark_mu, NULL);
	cp->min_garbage = AUTO_MIN_GARBAGE;
	db->compactor = cp;
	db->hooks = &hooks;
	return 0;
}

void compact_run_inline(quire *db, uint64_t min_garbage)
{
	db->compactor->inline_run = 1;
	db->compactor->min_garbage = min_garbage;
}

void compact_stop(quire *db)
{
	struct compactor *cp = db->compactor;
	atomic_store(&cp->closing, 1);
	gate_wake(db->gate); /* it may wait for a writer of this process */
	pthread_mutex_lock(&cp->bg_mu);
	if (cp->bg_started)
		pthread_join(cp->bg, NULL);
	cp->bg_started = 0;
	pthread_mutex_unlock(&cp->bg_mu);
	atomic_store(&cp->closing, 0);
}

void compact_detach(quire *db)
{
	struct compactor *cp = db->compactor;
	if (!cp)
		return;
	compact_stop(db);
	pthread_mutex_destroy(&cp->bg_mu);
	pthread_mutex_destroy(&cp->mark_mu);
	free(cp);
	db->compactor = NULL;
	db->hooks = NULL;
}
