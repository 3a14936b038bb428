/*
 * space.h - retention (which commits a compaction keeps) and accounting
 * (what it would keep and free), see space.c.
 */
#ifndef QUIRE_SPACE_H
#define QUIRE_SPACE_H

#include "internal.h"

/* What to keep: the newest `last` commits, every commit from since_txn
 * on, every commit made at or after since_ns (each 0: not asked; none
 * asked: only the newest). */
struct keep {
	uint64_t last, since_txn, since_ns;
};

/* The keep_* of the retention policy of header h, at wall time now. */
void space_policy(const struct qhdr *h, uint64_t now, struct keep *k);

/* The first commit to keep, as of the commit txn reads (never older than
 * what the file still has). */
int space_first_kept(quire_txn *txn, const struct keep *k, uint64_t *first);

struct space {
	uint64_t kept;        /* what compaction under the policy writes */
	uint64_t history;     /* of it, the commits kept besides the newest */
	uint64_t reclaimable; /* the file's bytes beyond kept */
};

/* Estimate, for the commit txn reads, what a compaction under its
 * retention policy would keep and free. */
int space_account(quire_txn *txn, struct space *sp);

#endif
