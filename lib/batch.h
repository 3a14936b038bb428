/*
 * batch.h - batch blocks: one commit's operations, appended instead of
 * rewriting tree nodes (see docs/FORMAT.md, "Batches").
 *
 * The records are the commit's operations in sequence order (the oplog of
 * the commit); an index sorted by key names, for every key the commit
 * touched, its last record, so readers can build the pending state without
 * replaying superseded operations.
 */
#ifndef QUIRE_BATCH_H
#define QUIRE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "wbuf.h"

#define BATCH_FIXED 56u

struct batch_info {
	uint32_t size;
	uint32_t nkeys;     /* index entries */
	uint32_t nops;      /* records */
	uint64_t prev_off;  /* older batch of the same pending chain, or 0 */
	uint32_t prev_size;
	uint64_t txn;
	uint64_t first_seq; /* record i has sequence number first_seq + i */
	uint64_t time_ns;   /* the commit's time */
	uint64_t xbytes;    /* value blocks its records name (not stored) */
	uint64_t off;       /* where the block is (not stored) */
};

/* A record: op is WOP_PUT or WOP_DEL; v is the value of a put (inline bytes
 * point into the block). */
struct brec {
	int op;
	const uint8_t *key;
	uint32_t klen;
	struct wval v;
	uint64_t seq;
	uint64_t prev_seq;  /* the key's previous operation, 0 if none */
};

/* Encode the operations of a write buffer as a batch block (malloc'd,
 * sealed for offset bi->off); prev[i] is the prev_seq of operation i. 0 or
 * QUIRE_ENOMEM / QUIRE_ETOOBIG. */
int batch_encode(const struct wbuf *wb, const struct batch_info *bi,
		 const uint64_t *prev, uint8_t **out, uint32_t *size);

/* The record with sequence number seq (which the batch must hold). */
void batch_record(const uint8_t *b, const struct batch_info *bi, uint64_t seq,
		  struct brec *r);

/* Full check of a batch block read from offset off: checksum, fields,
 * every record, and the index (sorted keys naming records). On success *bi
 * describes it and the accessors below may trust it. */
int batch_verify(const uint8_t *b, uint32_t size, uint64_t off,
		 struct batch_info *bi);

/* The i-th index entry (key order): the key's last record. */
void batch_key(const uint8_t *b, const struct batch_info *bi, unsigned i,
	       struct brec *r);

/* Records in sequence order, from a zeroed iterator; 0 past the end. */
struct batch_iter {
	uint32_t pos, i;
};
int batch_next(const uint8_t *b, const struct batch_info *bi,
	       struct batch_iter *it, struct brec *r);

#endif
