/*
 * cursor.h - what the keyspace calls need of cursors (cursor.c): a cursor
 * over a given keyspace, or over the raw internal keys (the catalog), and
 * the length of the current value without reading it.
 */
#ifndef QUIRE_CURSOR_H
#define QUIRE_CURSOR_H

#include "kspace.h"

/* A cursor of transaction txn (no view) over keyspace ks; ks {0} (no
 * escaping): every internal key as it is stored. */
int cursor_open_ks(quire_txn *txn, const struct kspace *ks,
		   quire_cursor **out);

/* The length of the current entry's value: 0, or QUIRE_NOTFOUND. */
int cursor_vlen(quire_cursor *c, uint64_t *vlen);

#endif
