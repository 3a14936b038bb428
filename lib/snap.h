/*
 * snap.h - snapshots and their publication (snap.c).
 */
#ifndef QUIRE_SNAP_H
#define QUIRE_SNAP_H

#include "internal.h"

struct memtable;

/* Pin the newest snapshot (NULL before open has found one). */
struct snap *snap_acquire(quire *db);
void snap_release(struct snap *s);
/* Make h the newest commit, reading pending operations from mt (the
 * function takes a reference of its own). */
int snap_publish(quire *db, const struct qhdr *h, struct memtable *mt);
/* A snapshot of h (one reference), not published; NULL when out of
 * memory. Takes a reference of mt. */
struct snap *snap_make(const struct qhdr *h, struct memtable *mt,
		       struct qfile *qf);
/* Committers allocate the snapshot before the commit becomes durable and
 * install it after, which cannot fail: a commit that reached the disk is
 * never reported as failed. snap_install consumes s. */
struct snap *snap_alloc(void);
/* cat_from (or NULL): the snapshot whose keyspace catalog h's commit left
 * as it was, to share. */
void snap_install(quire *db, struct snap *s, const struct qhdr *h,
		  struct memtable *mt, const struct snap *cat_from);
/* Drop a reference of a keyspace catalog (NULL: nothing). */
void kscat_unref(struct kscat *c);

#endif
