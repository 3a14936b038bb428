/*
 * keyspace.h - what the changes feed needs of the keyspace catalog
 * (keyspace.c).
 */
#ifndef QUIRE_KEYSPACE_H
#define QUIRE_KEYSPACE_H

#include "internal.h"

/* The catalog's meta record (a file with the keyspace feature). */
struct ks_meta {
	/* operations [conv_seq, flip_seq) escaped the default keys that
	 * started with 0xff (feeds skip them, key histories go through
	 * them); those below conv_seq have plain default keys, those from
	 * flip_seq on internal keys */
	uint64_t conv_seq, flip_seq;
	uint32_t next_id; /* the next keyspace id to give */
};

/* The meta record as txn sees it. */
int ks_meta(quire_txn *txn, struct ks_meta *m);

#endif
