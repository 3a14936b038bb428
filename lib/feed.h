/*
 * feed.h - what compaction's copy needs from the changes feed (feed.c):
 * its operations in full, with the previous operation of their key.
 */
#ifndef QUIRE_FEED_H
#define QUIRE_FEED_H

#include "internal.h"
#include "ops.h"

/* The feed's next operation in full (its bytes valid until the next call
 * and while the transaction's epoch holds): what quire_changes_next()
 * reports, plus prev_seq; in sequence, without op_at()'s search. */
int changes_next_op(quire_changes *f, struct op *o);
/* The feed's next operation as quire_changes_next() reports it, but with
 * the internal keys as recorded (kspace.h), and the previous operation of
 * its key: what a copy replays. */
int changes_next_raw(quire_changes *f, quire_change *c, uint64_t *prev_seq);

#endif
