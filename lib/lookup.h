/*
 * lookup.h - reading through a transaction (lookup.c).
 */
#ifndef QUIRE_LOOKUP_H
#define QUIRE_LOOKUP_H

#include <stddef.h>

#include "internal.h"
#include "node.h"
#include "wbuf.h"

/* Read the value block at off into a buffer linked to *list. */
int txn_read_value(quire_txn *txn, uint64_t off, uint32_t vlen,
		   struct vbuf **list, const void **out);
/* Free a list of value buffers and leave it empty. */
void vbufs_free(struct vbuf **list);
/* The bytes of a value: inline, or read from its block into *list. */
int txn_value(quire_txn *txn, const struct wval *v, struct vbuf **list,
	      quire_val *out);

/* txn_value of a tree entry; an inline value (every step of a scan asks
 * for one) without a call. */
static inline int txn_leaf_value(quire_txn *txn, const struct lentry *le,
				 struct vbuf **list, quire_val *out)
{
	if (!le->ool) {
		*out = (quire_val){le->val, le->vlen};
		return 0;
	}
	struct wval v = {NULL, le->vlen, 1, le->ool_off};
	return txn_value(txn, &v, list, out);
}

/* The value of key as the transaction sees it and its version (*seq, 0
 * when absent): its own operations first, then the pending operations of
 * its commit, then the tree. */
int txn_lookup(quire_txn *txn, const void *key, size_t klen,
	       struct wval *v, uint64_t *seq);

/* The key's latest operation in snapshot s: *seq (0: none; a range
 * delete's when the newest tombstone tail reaching the key decided it),
 * whether it left the key present and then (vlen may be NULL) its value's
 * length. */
int snap_latest_op(const struct snap *s, const void *key, size_t klen,
		   uint64_t *seq, int *live, uint32_t *vlen);

/* The keys of the transaction's commit in r (its own operations aside):
 * the tree's from its subtree counts, corrected by every pending operation
 * in r. */
int committed_count(quire_txn *txn, const struct wrange *r, int64_t *n);

/* How many keys the transaction sees in r. */
int txn_count_range(quire_txn *txn, const struct wrange *r, uint64_t *count);

#endif
