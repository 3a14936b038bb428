/*
 * history.h - what compaction needs from history.c: the changes feed's
 * operations in full (with the previous operation of their key).
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

/* The feed's next operation in full (its bytes valid until the next call
 * and while the transaction's epoch holds): what quire_changes_next()
 * reports, plus prev_seq; in sequence, without op_at()'s search. */
int changes_next_op(quire_changes *f, struct op *o);

#endif
