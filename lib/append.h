/*
 * append.h - the writer's appender (append.c). Used only by the thread
 * that holds the writer locks.
 */
#ifndef QUIRE_APPEND_H
#define QUIRE_APPEND_H

#include <stdint.h>

#include "internal.h"

/* Start appending at start (the end of the newest commit). */
int df_append_start(quire *db, uint64_t start);
/* Where the next appended block will go (blocks are sealed for their
 * offset). */
uint64_t df_next_offset(quire *db);
/* Where the blocks still queued start: those before are in the file. */
uint64_t df_written(quire *db);
int df_append_block(quire *db, const uint8_t *blk, uint32_t size,
		    uint64_t *off);
int df_append_value(quire *db, const void *val, size_t vlen, uint64_t *off);
/* Write everything queued (a reader of the writer's own value needs it). */
int df_flush(quire *db);
/* Append the header h (and meta_len bytes of meta) and make the commit
 * durable and visible. h->ckpt_off 0 means "this header". */
int df_commit(quire *db, struct qhdr *h, const void *meta);
/* Forget the commit being built (and cut what of it was written). */
void df_rollback(quire *db);
/* Make the newest commit durable (quire_sync). */
int df_sync(quire *db);
/* Rewrite the current slot with flags (QF_SLOT_SUPERSEDED or 0); the
 * writer locks are held. */
int df_mark(quire *db, uint32_t flags);

#endif
