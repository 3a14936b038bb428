/*
 * pending.h - reading a commit's chain of pending batches.
 */
#ifndef QUIRE_PENDING_H
#define QUIRE_PENDING_H

#include "batch.h"
#include "internal.h"

struct memtable;

/* Read and verify the batch block at off. *out is malloc'd. */
int pending_read(struct qfile *qf, uint64_t off, uint32_t size, uint8_t **out,
		 struct batch_info *bi);

/*
 * The memtable holding h's pending operations: base itself (with the
 * batches h has that base lacks added) when h continues base's chain, else a
 * new one. The caller owns one reference of *out.
 */
int pending_load(struct qfile *qf, const struct qhdr *h, struct memtable *base,
		 struct memtable **out);

#endif
