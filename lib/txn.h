/*
 * txn.h - transactions (txn.c): the pool of ended ones, library-internal
 * read transactions, and what lives on a transaction (struct txn_dep).
 */
#ifndef QUIRE_TXN_H
#define QUIRE_TXN_H

#include <stddef.h>

#include "internal.h"
#include "node.h"
#include "batch.h"
#include "wbuf.h"

/* The handle's pool of ended transactions: made by qdb_new(), freed by
 * qdb_free(). */
void txn_pool_init(quire *db);
void txn_pool_free(quire *db);

/* A read transaction on snap (whose reference it takes over). */
int txn_begin_read(quire *db, struct snap *snap, quire_txn **out);

/* A read transaction of the library's own on the newest snapshot, in t
 * (on the stack): not one of the handle's (quire_close does not wait for
 * it, and it does not count for the quarantine of ended ones). */
void txn_inner(quire *db, quire_txn *t);
void txn_inner_end(quire_txn *t);

/* A keyspace view of base (kspace.h): keyspace id, ended with base. */
int txn_view(quire_txn *base, uint32_t id, quire_txn **out);
/* End base's views of keyspace id (it was dropped). */
void txn_end_views(quire_txn *base, uint32_t id);

/* Writes of internal keys (kspace.h) to write transaction txn (no view),
 * as quire_put, quire_del and quire_del_range do after the checks of the
 * user's key. */
int txn_put_raw(quire_txn *txn, const void *key, size_t klen,
		const void *val, size_t vlen);
int txn_del_raw(quire_txn *txn, const void *key, size_t klen);
int txn_del_range_raw(quire_txn *txn, struct wrange *r, uint64_t *removed);

/* What the handle's running transactions pin: bytes of older files they
 * keep open (up to 8 files), and the oldest commit they read with its time
 * (0, 0: none). */
void txn_pinned(quire *db, uint64_t *bytes, uint64_t *txn, uint64_t *time);

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
