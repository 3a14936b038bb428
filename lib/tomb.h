/*
 * tomb.h - the tombstone tree as a map of deletions: deleted keys, and the
 * keys range deletes removed (tails). See tomb.c.
 */
#ifndef QUIRE_TOMB_H
#define QUIRE_TOMB_H

#include "internal.h"
#include "modify.h"
#include "node.h"

/* The tail of a tombstone entry: every key after the entry's own, up to
 * end (not in it; to_last: every later key), was last decided by the range
 * delete at seq. */
struct ttail {
	uint64_t seq;
	const uint8_t *end;
	uint32_t elen;
	int to_last;
};

/* The tail a tombstone entry's value holds: 1 (*t filled), 0 (an empty
 * value: no tail) or -1 (malformed). */
int ttail_get(const uint8_t *v, uint32_t vlen, struct ttail *t);

static inline int ttail_reaches(const struct ttail *t, const void *key,
				size_t klen)
{
	return t->to_last || key_cmp(key, klen, t->end, t->elen) < 0;
}

/* What tombstone tree root has for key: its own entry (*exact), and the
 * value of the entry that decides the keys just after key (its own, or the
 * tail before it that reaches past key; *vlen 0: none), which an entry of
 * key carries on. */
int tomb_carry(struct qfile *qf, const struct qroot *root, const void *key,
	       size_t klen, int *exact, const uint8_t **v, uint32_t *vlen);

/* The sequence number of the deletion that decided key in the tombstone
 * tree root (*seq 0: none): its own entry's, else the tail of the entry
 * before it if that reaches it. tails: the tree may hold tails
 * (QF_FEAT_TAILS); without, only an entry of key itself counts. */
int tomb_lookup(struct qfile *qf, const struct qroot *root, int tails,
		const void *key, size_t klen, uint64_t *seq);

/* The tombstone tree's last entry: its key (*k NULL: an empty tree) and
 * its tail (*has 0: none), which decides every key after it. */
int tomb_last(struct qfile *qf, const struct qroot *root, const uint8_t **k,
	      uint32_t *kl, struct ttail *t, int *has);

/* The tombstone-tree mutations of a checkpoint of txn whose key-tree
 * mutations are km[0..nk) (spans as MUT_RANGE before their keys); append:
 * no key of it is covered by the tree. Encoded tails go into ar. */
int tomb_muts(quire_txn *txn, const struct mut *km, size_t nk, int append,
	      struct arena *ar, struct mut **out, size_t *nout);

#endif
