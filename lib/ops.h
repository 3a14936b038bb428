/*
 * ops.h - commits by txn id or time and operations by sequence number, as
 * of a snapshot (ops.c): what history.c and feed.c read the past with.
 */
#ifndef QUIRE_OPS_H
#define QUIRE_OPS_H

#include "batch.h"
#include "internal.h"
#include "keyspace.h"
#include "node.h"
#include "wbuf.h"

struct mt_block;

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

/* The header offset of commit txn as of snapshot s. */
int find_txn(quire *db, const struct snap *s, uint64_t txn, uint64_t *off);
/* The header offset of the last commit at or before ns (before) or the
 * first at or after it, as of snapshot s. */
int find_time(quire *db, const struct snap *s, uint64_t ns, int before,
	      uint64_t *off);
/* The live block of s's memtable holding seq (seq above the checkpoint). */
const struct mt_block *block_of(const struct snap *s, uint64_t seq);
/* The operation an oplog-tree entry records. */
int decode_tree_op(struct qfile *qf, const struct lentry *le, struct op *o);
/* The operation a record r of pending batch b holds. */
void decode_brec(const struct mt_block *b, const struct brec *r,
		 struct op *o);
/* The operation with sequence number seq in snapshot s. */
int op_at(quire *db, const struct snap *s, uint64_t seq, struct op *o);
/* Where the operations of txn's file have internal keys (kspace.h). */
int keyspace_meta(quire_txn *txn, struct ks_meta *m);

#endif
