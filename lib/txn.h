/*
 * txn.h - what cursor.c, check.c and db.c need from txn.c.
 */
#ifndef QUIRE_TXN_H
#define QUIRE_TXN_H

#include "internal.h"
#include "node.h"
#include "wbuf.h"

/* The in-process and cross-process writer locks, in that order. */
int writer_acquire(quire *db);
void writer_release(quire *db);

/* Read the value block at off into a buffer linked to *list. */
int txn_read_value(quire_txn *txn, uint64_t off, uint32_t vlen,
		   struct vbuf **list, const void **out);
/* The bytes of a value: inline, or read from its block into *list. */
int txn_value(quire_txn *txn, const struct wval *v, struct vbuf **list,
	      quire_val *out);
int txn_leaf_value(quire_txn *txn, const struct lentry *le,
		   struct vbuf **list, quire_val *out);
/* The committed value of key in the transaction's snapshot (pending
 * operations, then the tree), ignoring the transaction's own writes. */
int txn_lookup_committed(quire_txn *txn, const void *key, size_t klen,
			 struct wval *v);

/* The key's latest committed operation in the transaction's snapshot:
 * *seq (0: none) and whether it left the key present. */
int txn_latest_op(quire_txn *txn, const void *key, size_t klen,
		  uint64_t *seq, int *live);

/* commit.c: commit the write transaction (as a batch or a checkpoint). */
int commit_write(quire_txn *txn, int force_checkpoint);

/* cursor.c: detach every cursor of a transaction that is ending */
void cursors_detach(quire_txn *txn);

#endif
