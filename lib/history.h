/*
 * history.h - what compaction needs from history.c: any operation by its
 * sequence number, decoded.
 */
#ifndef QUIRE_HISTORY_H
#define QUIRE_HISTORY_H

#include "internal.h"
#include "wbuf.h"

/* An operation in full: what the feed and key history report. */
struct op {
	uint64_t seq, txn, prev_seq;
	int kind; /* QUIRE_OP_* */
	const uint8_t *key;
	uint32_t klen;
	struct wval v;
};

/* The operation with sequence number seq in snapshot s (seq at least the
 * snapshot's history_seq and below its next_seq). Its key and value stay
 * valid while the snapshot lives and the caller's epoch holds. */
int op_at(quire *db, const struct snap *s, uint64_t seq, struct op *o);

#endif
