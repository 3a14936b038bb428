/*
 * copymodel.h - the model test_backup and test_stream check copies
 * against: the source's content after each of its commits, random
 * commits that keep it, and the check that a copy (a backup, a follower)
 * is the source at one of them.
 */
#ifndef QUIRE_COPYMODEL_H
#define QUIRE_COPYMODEL_H

#include <stdint.h>

#include "internal.h"
#include "memvfs.h"
#include "testutil.h"

#define MAXSTATES 200

/* state[i] is the content after commit txn[i] (state[0]: empty). */
struct hist {
	struct model state[MAXSTATES];
	uint64_t txn[MAXSTATES];  /* the txn id of commit i */
	uint64_t time[MAXSTATES]; /* its time (noted by hist_note_time) */
	int n;
};

/* The newest commit db sees. */
uint64_t hist_newest_txn(quire *db);
/* Record a commit that changed no key (a retention policy set). */
void hist_note_empty(quire *db, struct hist *h);
/* Record the time of the newest commit, from the commit log. */
void hist_note_time(quire *db, struct hist *h);
/* A random commit: puts (now and then a value block) and deletes of 150
 * keys, recorded when it changed anything. */
void hist_commit(quire *db, struct hist *h, uint64_t *rng);
/* The index of commit txn (fails the test if none). */
int hist_state_of(const struct hist *h, uint64_t txn);
/* path (over vfs) opens at commit txn with that commit's content and
 * checks clean, and AS-OF a random older commit shows that one's (or,
 * with may_lack_history, QUIRE_EHISTORY: the source was compacted
 * keeping less). */
void hist_check_copy(qvfs *vfs, const char *path, const struct hist *h,
		     uint64_t txn, uint64_t *rng, int may_lack_history);
void hist_free(struct hist *h);
/* Files a and b of m are byte for byte equal past the superblock (whose
 * live slots differ between a file and its copy). */
void same_past_superblock(struct memvfs *m, const char *a, const char *b);

#endif
