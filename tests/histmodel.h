/*
 * histmodel.h - the model of a database's history that test_history and
 * test_compact check the history API against: every operation with its
 * sequence number, every commit with its time, sequence range and
 * metadata. The state at a commit is the replay of the operations before
 * its next_seq; AS-OF by time, the changes feed and key histories are
 * read off the same two arrays.
 */
#ifndef QUIRE_HISTMODEL_H
#define QUIRE_HISTMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

struct hop {
	uint64_t seq, txn;
	int op; /* QUIRE_OP_* */
	uint8_t *k, *v;
	size_t kl, vl;
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
 * version: the 8-byte seq of its last put. */
void hm_apply(struct model *m, struct model *vers, const struct hop *o);
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
