/*
 * history.h - what compaction needs from history.c: the changes feed's
 * operations in full (with the previous operation of their key), a
 * commit's header with its log entry, finding commits by time, and an
 * AS-OF snapshot in the file of a pinned one.
 */
#ifndef QUIRE_HISTORY_H
#define QUIRE_HISTORY_H

#include "internal.h"
#include "wbuf.h"

/* An operation in full: what the feed and key history report. */
struct op {
	uint64_t seq, txn, prev_seq;
	int kind; /* QUIRE_OP_* */
	const uint8_t *key;     /* a range delete: its first key */
	uint32_t klen;
	struct wval v;
	const uint8_t *end;     /* a range delete: its end, unless to_last */
	uint32_t elen;
	int to_last;
	uint64_t count;         /* a range delete: the keys it removed */
};

/* The feed's next operation in full (its bytes valid until the next call
 * and while the transaction's epoch holds): what quire_changes_next()
 * reports, plus prev_seq; in sequence, without op_at()'s search. */
int changes_next_op(quire_changes *f, struct op *o);
/* The feed's next operation as quire_changes_next() reports it, but with
 * the internal keys as recorded (kspace.h), and the previous operation of
 * its key: what a copy replays. */
int changes_next_raw(quire_changes *f, quire_change *c, uint64_t *prev_seq);

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
