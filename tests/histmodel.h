/*
 * histmodel.h - the model of a database's history that test_history and
 * test_compact check the history API against: every operation with its
 * sequence number, every commit with its time, sequence range and
 * metadata. The state at a commit is the replay of the operations before
 * its next_seq; AS-OF by time, the changes feed and key histories are
 * read off the same two arrays.
 *
 * A range delete (quire_del_range, quire_del_prefix) that removed at least
 * one key is one operation, as the changes feed reports it: op
 * QUIRE_OP_DEL_RANGE, k = the range's first key (kl 0: from the smallest),
 * v = its end, not in it (vl 0 and to_last 1: to the last key), count =
 * the keys it removed. A prefix delete is recorded as the range it spans
 * (tu_prefix_end). One that removed nothing is no operation at all.
 */
#ifndef QUIRE_HISTMODEL_H
#define QUIRE_HISTMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

struct hop {
	uint64_t seq, txn;
	int op; /* QUIRE_OP_* */
	uint8_t *k, *v; /* QUIRE_OP_DEL_RANGE: the range's first key and end */
	size_t kl, vl;
	int to_last;    /* QUIRE_OP_DEL_RANGE: the range runs to the last key */
	uint64_t count; /* QUIRE_OP_DEL_RANGE: the keys it removed */
};

struct hcommit {
	uint64_t txn, time_ns, first_seq, next_seq;
	char meta[48];
	size_t metalen;
};

struct hmodel {
	struct hop *ops; /* ops[s - 1] has sequence number s */
	size_t nops, capops;
	struct hcommit *c; /* c[t] is commit t; c[0] the empty new file */
	size_t nc, capc;
};

uint64_t hm_latest(const struct hmodel *hm);
/* The model owns an added operation's key and value from then on. */
void hm_add_op(struct hmodel *hm, const struct hop *o);
void hm_add_commit(struct hmodel *hm, const struct hcommit *c);
/* dst = a copy of src with keys and values of its own. */
void hm_copy(struct hmodel *dst, const struct hmodel *src);
/* Forget commits after txn (and their operations). */
void hm_truncate(struct hmodel *hm, uint64_t txn);
void hm_free(struct hmodel *hm);

/* o applied to m, and (vers not NULL) to vers, which maps each key to its
 * version: the 8-byte seq of its last put. Returns how many keys a range
 * delete removed from m (puts and deletes: 0). */
size_t hm_apply(struct model *m, struct model *vers, const struct hop *o);
/* Whether key k lies in the range of range delete o. */
int hm_in_range(const struct hop *o, const void *k, size_t kl);
/* Fill o's range (op, k, v, to_last) for quire_del_range(from, to) (from
 * NULL: the smallest key; to NULL: the last) or, prefix 1, for
 * quire_del_prefix(from); the bounds are copied. */
void hm_set_range(struct hop *o, const void *from, size_t fl, const void *to,
		  size_t tl, int prefix);

/* A random range delete over a region of a test's key alphabet: keys
 * "k<i>" for 100 <= i < hi (hi <= 150), the keys starting with 'L', the
 * empty key; a third of them at most, sometimes nothing, sometimes one
 * key. Call quire_del_prefix(from) if prefix, else quire_del_range(from or
 * NULL, to or NULL). */
struct hrange {
	uint8_t from[8], to[8];
	size_t fl, tl;
	int from_null, to_null, prefix;
};
void hm_pick_range(uint64_t *rng, unsigned hi, struct hrange *g);

/*
 * Whether operation s is a version of key k in its history (quire.h,
 * quire_history_open): an operation on k, unless a range delete later in
 * its commit covers k (no commit showed that version); a range delete
 * covering k, if k was present before its commit and no later range delete
 * of the commit covers k too (the last removal is the version).
 */
int hm_in_history(const struct hmodel *hm, uint64_t s, const void *k,
		  size_t kl);
/* The state after commit txn: every operation before its next_seq. */
void hm_state_at(const struct hmodel *hm, uint64_t txn, struct model *m);

/* States at increasing commits without replaying from the start each
 * time. */
struct hm_replay {
	struct model m;
	uint64_t seq; /* operations below it are applied */
};

const struct model *hm_replay_to(const struct hmodel *hm,
				 struct hm_replay *rp, uint64_t txn);

/* The commit of 0..upto quire_begin_at_time must pick for ns, at or
 * before it or at or after it (-1: none). */
int64_t hm_expect_at(const struct hmodel *hm, uint64_t upto, uint64_t ns,
		     int before);

#endif
