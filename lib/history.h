/*
 * history.h - what compaction needs from history.c: a commit's header
 * with its log entry, finding commits by time, and an AS-OF snapshot in
 * the file of a pinned one. The feed's operations are in feed.h.
 */
#ifndef QUIRE_HISTORY_H
#define QUIRE_HISTORY_H

#include "internal.h"

/* The oldest commit of snapshot s made at or after ns: history_txn if
 * older ones were compacted away, s's txn + 1 if none was. The caller
 * holds an epoch of s's cache. */
int history_since(quire *db, const struct snap *s, uint64_t ns,
		  uint64_t *txn);

/* quire_begin_at() seen from the snapshot of from: commit txn_id of the
 * file from reads, even when the handle has moved to a compacted one
 * since. */
int history_begin_at(quire_txn *from, uint64_t txn_id, quire_txn **txn);

/* quire_log_get() plus the commit's header. */
int log_commit(quire_txn *txn, uint64_t txn_id, quire_log_entry *entry,
	       struct qhdr *h);

#endif
