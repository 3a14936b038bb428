/*
 * txn.h - what cursor.c, check.c, db.c, history.c and diff.c need from txn.c.
 */
#ifndef QUIRE_TXN_H
#define QUIRE_TXN_H

#include <stddef.h>

#include "internal.h"
#include "node.h"
#include "batch.h"
#include "wbuf.h"

/* A read transaction on snap (whose reference it takes over). */
int txn_begin_read(quire *db, struct snap *snap, quire_txn **out);

/* A read transaction of the library's own on the newest snapshot, in t
 * (on the stack): not one of the handle's (quire_close does not wait for
 * it, and it does not count for the quarantine of ended ones). */
void txn_inner(quire *db, quire_txn *t);
void txn_inner_end(quire_txn *t);

/* What the handle's running transactions pin: bytes of older files they
 * keep open (up to 8 files), and the oldest commit they read with its time
 * (0, 0: none). */
void txn_pinned(quire *db, uint64_t *bytes, uint64_t *txn, uint64_t *time);

/* Read the value block at off into a buffer linked to *list. */
int txn_read_value(quire_txn *txn, uint64_t off, uint32_t vlen,
		   struct vbuf **list, const void **out);
/* Free a list of value buffers and leave it empty. */
void vbufs_free(struct vbuf **list);
/* The bytes of a value: inline, or read from its block into *list. */
int txn_value(quire_txn *txn, const struct wval *v, struct vbuf **list,
	      quire_val *out);
int txn_leaf_value(quire_txn *txn, const struct lentry *le,
		   struct vbuf **list, quire_val *out);

/* The value of key as the transaction sees it and its version (*seq, 0
 * when absent): its own operations first, then the pending operations of
 * its commit, then the tree. */
int txn_lookup(quire_txn *txn, const void *key, size_t klen,
	       struct wval *v, uint64_t *seq);

/* The key's latest committed operation in the transaction's snapshot:
 * *seq (0: none), whether it left the key present and then (vlen may be
 * NULL) its value's length. */
int txn_latest_op(quire_txn *txn, const void *key, size_t klen,
		  uint64_t *seq, int *live, uint32_t *vlen);

/* commit.c: commit the write transaction (as a batch or a checkpoint). */
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
 * first (half a checkpoint's worth or more, where compactions fold them):
 * the readers that open the file next then find the tree, not a large
 * set of pending operations to load and merge. */
int commit_fold_at_close(quire *db);

/* Whether txn may be used: not NULL and not ended. Every public call that
 * takes a transaction checks it first (one load and compare). */
static inline int txn_usable(const quire_txn *txn)
{
	return txn && txn->state == TXN_LIVE;
}

/* QUIRE_EINVAL with the reason txn is not usable (NULL, ended), for fn. */
int txn_unusable(const quire_txn *txn, const char *fn);

/* Register d on txn (detach is called when txn ends), or take it off its
 * transaction's list (nothing if it is on none). */
void txn_dep_add(quire_txn *txn, struct txn_dep *d,
		 void (*detach)(struct txn_dep *d));
void txn_dep_del(struct txn_dep *d);
/* The object of type whose txn_dep member d is. */
#define DEP_OWNER(d, type, member)                                           \
	((type *)(void *)((char *)(d) - offsetof(type, member)))

#endif
