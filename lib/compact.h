/*
 * compact.h - the compaction attached to a handle (compact.c runs one,
 * autocompact.c starts them by itself and stops them at close).
 */
#ifndef QUIRE_COMPACT_H
#define QUIRE_COMPACT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "internal.h"

/* File sizes at which a handle's automatic compaction acts again, on the
 * file they were set on: a compaction (this handle's or another's) moves
 * the handle to a new file, where they no longer hold. */
struct compact_marks {
	uint64_t file;  /* the first 8 bytes of that file's id */
	uint64_t next;  /* look at the reclaimable bytes again from here */
	uint64_t floor; /* one failed: no automatic compaction, nor folding
			 * by compaction, below this size */
	uint64_t busy;  /* another compaction of the file ran when this
			 * handle's began: counted as running (commits leave
			 * their folding to it) below this size */
};

/* Compaction's state of one handle (db->compactor). */
struct compactor {
	_Atomic int running;         /* one compaction at a time per handle */
	_Atomic int closing;         /* quire_close: cancel the running one */
	pthread_mutex_t bg_mu;       /* guards bg and bg_started */
	pthread_t bg;                /* auto_compact_ratio's thread */
	int bg_started;              /* bg must be joined */
	_Atomic int bg_active;       /* bg was started and has not finished
				      * its compaction (set before its
				      * creation, so no commit in between
				      * takes it for finished) */
	pthread_mutex_t mark_mu;     /* guards marks */
	struct compact_marks marks;
	uint64_t min_garbage;        /* reclaimable bytes auto compaction
				      * needs besides the ratio */
	int inline_run;              /* compact in the committing thread */
	_Atomic int hurry;           /* a writer waits for the background
				      * compaction: it stops pacing itself */
	_Atomic int bg_paced;        /* the last background compaction paced
				      * itself (for tests) */
	_Atomic int test_hold;       /* set by tests: a background thread
				      * waits before it compacts */
};

struct pace;

/* quire_compact(), paced by pace (NULL: never sleeps; see pace.h): the
 * background compaction's. *raced (raced may be NULL): set when it
 * returns QUIRE_EBUSY because another compaction of the handle or of the
 * database runs. */
int compact_run(quire *db, const quire_compact_options *opts,
		struct pace *pace, int *raced);

/* The handle's file size, and the automatic compaction's marks that hold
 * on its file (marks.file: its tag), cleared where they were set on
 * another (a compaction moved the handle since). */
struct compact_marks compact_marks_now(quire *db, uint64_t *size);

/* Give db a compactor and the core its hooks (quire_open). */
int compact_attach(quire *db);
/* Cancel and join the background compaction (quire_close, before it
 * looks for open transactions: the compaction's would count). */
void compact_stop(quire *db);
/* compact_stop(), then free the compactor; nothing if there is none. */
void compact_detach(quire *db);
/* Whether the reclaimable bytes passed opts.auto_compact_ratio (and 1 MiB):
 * quire_close compacts then rather than leave it to the next writer. */
int compact_due(quire *db);
/*
 * For the crash and fault enumerations, which replay a workload call by
 * call and so need it deterministic: automatic compactions run in the
 * thread that committed, inside quire_commit after the commit is
 * published, and need only min_garbage reclaimable bytes besides the
 * ratio. The behaviour is otherwise the background one's, failures
 * included (the commit still returns 0).
 */
void compact_run_inline(quire *db, uint64_t min_garbage);

#endif
