/*
 * rebuild.h - writing a compacted file (rebuild.c): the state of the first
 * kept commit bottom-up, then every later commit copied. Compaction
 * (compact.c) swaps the result in for the database; a compacted backup
 * (backup.c) renames it to the copy's name.
 */
#ifndef QUIRE_REBUILD_H
#define QUIRE_REBUILD_H

#include <stdatomic.h>
#include <stdint.h>

#include "format.h"
#include "internal.h"

struct pace;

struct rebuild {
	quire *db;           /* the source's handle */
	quire *t;            /* the new file's handle, opened by the caller
			      * (qdb_open_target, qdb_open_new) */
	const quire_compact_options *o; /* what to keep; the progress
					 * callback */
	const char *what;    /* "compaction", "backup": for messages */
	_Atomic int *cancel; /* set: stop with QUIRE_ECANCELED (NULL: only
			      * the callback cancels) */
	uint64_t total;      /* progress estimate */
	uint64_t reported;
	uint64_t src_end;    /* source bytes the estimate covers */
	int ckpt_next;       /* the next commit copied is a checkpoint */
	struct pace *pace;   /* set: rebuild_progress may sleep to yield the
			      * CPU (pace.c), unless this thread holds the
			      * writer gate */
};

/* The keep_* options against commit h of db: QUIRE_EINVAL for history
 * that does not exist yet (a txn id past h, a time in the future), with
 * fn, the caller's name, in the message; else 0. */
int rebuild_check(quire *db, const struct qhdr *h,
		  const quire_compact_options *o, const char *fn);

/* Choose the first kept commit K as of src's commit (r->o's keep_*
 * options, or src's retention policy when they ask nothing) and write
 * K's state into r->t, bottom-up, as its first commit (synced; r->t
 * appends without syncing from then on). */
int rebuild_base(struct rebuild *r, quire_txn *src);

/* Copy the commits of src after r->t's newest (with budget_ns, only as
 * many as fit in it); *n: how many were copied (0: r->t is at src's
 * commit). */
int rebuild_replay(struct rebuild *r, quire_txn *src, uint64_t budget_ns,
		   uint64_t *n);

/* Whether r->t's pending operations are due to be folded: then set
 * r->ckpt_next before the next rebuild_replay. */
int rebuild_checkpoint_due(struct rebuild *r);

/* Report progress to r->o's callback (force: now, else every MiB);
 * QUIRE_ECANCELED when the callback or r->cancel asks. A pace point
 * (r->pace). */
int rebuild_progress(struct rebuild *r, int force);

#endif
