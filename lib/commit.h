/*
 * commit.h - making a write transaction's commit (commit.c).
 */
#ifndef QUIRE_COMMIT_H
#define QUIRE_COMMIT_H

#include "batch.h"
#include "internal.h"

/* Commit the write transaction (as a batch or a checkpoint). */
int commit_write(quire_txn *txn, int force_checkpoint);
/* Commit, in the write transaction txn of a compaction's new file, a copy
 * of another file's commit src that was a batch commit: its verified
 * batch block b (without value blocks: bi->xbytes 0) and metadata; the
 * records stay as they are (the same sequence numbers, the same previous
 * operations), the counts come from src. Much cheaper than making the
 * commit again from its operations. */
int commit_copy(quire_txn *txn, const uint8_t *b, const struct batch_info *bi,
		const struct qhdr *src, const void *meta);
/* Whether a handle that closes should fold its file's pending operations
 * first (a quarter of a checkpoint's worth or more, where compactions fold them):
 * the readers that open the file next then find the tree, not a large
 * set of pending operations to load and merge. */
int commit_fold_at_close(quire *db);

#endif
