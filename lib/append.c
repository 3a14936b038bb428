/*
 * append.c - the writer's appender: the blocks of the commit being built,
 * queued and written with gather writes, then the header that makes them
 * a commit (docs/FORMAT.md, invariant 2), its fdatasync (5; with
 * QUIRE_NOSYNC one per 256 MiB, 12) and then the slot that names it (4).
 *
 * Large appends (checkpoints, compaction) are written in 2 MiB pieces
 * aligned in the file, and while a commit is being built only whole
 * pieces go out (the rest waits for more): a write that covers an aligned
 * 2 MiB lets Linux (6.x, on file systems with large folios) cache those
 * bytes as one huge page, which readers then map with a single TLB entry.
 * A tree written that way is read in place about a quarter faster at 10M
 * keys than one cached in small pages, which is what writes that start
 * anywhere in a page give.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "crc32c.h"
#include "error.h"
#include "file.h"
#include "internal.h"
#include "io.h"
#include "snap.h"
#include "util.h"

#define STAGE_CAP ((size_t)4 << 20)
/* The file's pieces written by one call each (a huge page). */
#define PIECE ((uint64_t)2 << 20)
/* Queued bytes that make a commit being built write what it can. */
#define FLUSH_AT (PIECE * 2)
/* Values from this size on are written at once instead of copied into
 * the stage: copying 100 KiB cost more than the write call it saves. */
#define DIRECT_VALUE ((size_t)64 << 10)

int df_append_start(quire *db, uint64_t start)
{
	struct appender *a = &db->app;
	if (!a->stage && !(a->stage = malloc(STAGE_CAP)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	a->cap = STAGE_CAP;
	a->start = a->pos = a->end = start;
	a->chain = 0;
	a->used = 0;
	a->niov = 0;
	return 0;
}

static int in_stage(const struct appender *a, const void *p)
{
	uintptr_t b = (uintptr_t)p, lo = (uintptr_t)a->stage;
	return b >= lo && b < lo + a->cap;
}

/* Write the queued bytes before limit (> a->pos), one call per aligned
 * piece, and drop them from the queue. */
static int write_upto(quire *db, uint64_t limit)
{
	struct appender *a = &db->app;
	int i = 0;
	while (a->pos < limit) {
		uint64_t stop = (a->pos | (PIECE - 1)) + 1;
		if (stop > limit)
			stop = limit;
		/* the iovecs of [pos, stop): the last one cut at stop */
		uint64_t at = a->pos;
		int j = i;
		size_t cut = 0;
		while (at < stop)
			at += a->iov[j++].iov_len;
		if (at > stop) {
			cut = (size_t)(at - stop);
			a->iov[j - 1].iov_len -= cut;
		}
		int e = io_writev(db->qf->f, a->iov + i, j - i, a->pos);
		if (e)
			return qerr_os(-e, "%s: writing %llu bytes at offset %llu",
				       db->path,
				       (unsigned long long)(stop - a->pos),
				       (unsigned long long)a->pos);
		/* io_writev moved the bases past what it wrote */
		if (cut) {
			a->iov[j - 1].iov_len = cut;
			j--;
		}
		i = j;
		a->pos = stop;
	}
	memmove(a->iov, a->iov + i, (size_t)(a->niov - i) * sizeof *a->iov);
	a->niov -= i;
	return 0;
}

/* Write what is queued: all of it, or (whole 0) only the whole aligned
 * pieces, the rest staying queued (the stage's part of it moved to the
 * stage's start). */
static int flush_some(quire *db, int whole)
{
	struct appender *a = &db->app;
	uint64_t limit = whole ? a->end : a->end & ~(PIECE - 1);
	if (!a->niov || limit <= a->pos)
		return 0;
	int e = write_upto(db, limit);
	if (e)
		return e;
	if (!a->niov) {
		a->used = 0;
		return 0;
	}
	/* the stage's bytes still queued are its last ones, in queue order */
	size_t from = a->used;
	for (int i = 0; i < a->niov && from == a->used; i++)
		if (in_stage(a, a->iov[i].iov_base))
			from = (size_t)((uint8_t *)a->iov[i].iov_base - a->stage);
	if (from) {
		memmove(a->stage, a->stage + from, a->used - from);
		for (int i = 0; i < a->niov; i++)
			if (in_stage(a, a->iov[i].iov_base))
				a->iov[i].iov_base =
					(uint8_t *)a->iov[i].iov_base - from;
		a->used -= from;
	}
	return 0;
}

/* Write everything queued. */
static int flush(quire *db)
{
	return flush_some(db, 1);
}

/* Queue n bytes at p (kept by reference until they are written: a flush
 * of everything, or df_written past them). */
static int queue(quire *db, const void *p, size_t n)
{
	struct appender *a = &db->app;
	if (a->niov == a->capiov) {
		int cap = a->capiov ? a->capiov * 2 : 256;
		struct iovec *v = realloc(a->iov, (size_t)cap * sizeof *v);
		if (!v)
			return qerr(QUIRE_ENOMEM, "out of memory");
		a->iov = v;
		a->capiov = cap;
	}
	a->iov[a->niov++] = (struct iovec){(void *)p, n};
	a->end += n;
	return 0;
}

/* Queue a copy of n bytes (n <= STAGE_CAP). Copies queued one after
 * another share an iovec: a piece of small values stays within the 1024
 * a single call can take. */
static int queue_copy(quire *db, const void *p, size_t n)
{
	struct appender *a = &db->app;
	int e;
	if (a->used + n > a->cap &&
	    ((e = flush_some(db, 0)) != 0 ||
	     (a->used + n > a->cap && (e = flush(db)) != 0)))
		return e;
	uint8_t *to = a->stage + a->used;
	memcpy(to, p, n);
	a->used += n;
	struct iovec *last = a->niov ? &a->iov[a->niov - 1] : NULL;
	if (last && in_stage(a, last->iov_base) &&
	    (uint8_t *)last->iov_base + last->iov_len == to) {
		last->iov_len += n;
		a->end += n;
		return 0;
	}
	return queue(db, to, n);
}

uint64_t df_next_offset(quire *db)
{
	return db->app.end;
}

uint64_t df_written(quire *db)
{
	return db->app.pos;
}

int df_append_block(quire *db, const uint8_t *blk, uint32_t size,
		    uint64_t *off)
{
	struct appender *a = &db->app;
	*off = a->end;
	a->chain = crc32c(a->chain, blk, 4);
	int e = queue(db, blk, size);
	if (!e && a->end - a->pos >= FLUSH_AT)
		e = flush_some(db, 0);
	else if (!e && a->niov >= 4096) /* small blocks: no huge page */
		e = flush(db);
	return e;
}

int df_append_value(quire *db, const void *val, size_t vlen, uint64_t *off)
{
	struct appender *a = &db->app;
	uint8_t hdr[QF_BLOCK_HDR];
	struct qblock b = {.type = QB_VALUE,
			   .size = (uint32_t)(QF_BLOCK_HDR + vlen)};
	qblock_put(hdr, &b);
	uint32_t crc = crc32c(qblock_crc_start(a->end), hdr + 4,
			      QF_BLOCK_HDR - 4);
	st32(hdr, vlen ? crc32c(crc, val, vlen) : crc);
	*off = a->end;
	a->chain = crc32c(a->chain, hdr, 4);
	int e = queue_copy(db, hdr, sizeof hdr);
	if (e || !vlen)
		return e;
	if (vlen < DIRECT_VALUE)
		return queue_copy(db, val, vlen);
	/* a large value is written now, from the caller's buffer (not ours
	 * after the call) */
	if ((e = queue(db, val, vlen)) == 0)
		e = flush(db);
	return e;
}

int df_commit(quire *db, struct qhdr *h, const void *meta)
{
	struct appender *a = &db->app;
	int e;
	h->self_off = a->end;
	h->commit_start = a->start;
	h->range_crc = a->chain;
	h->size = QF_HDR_FIXED + h->meta_len;
	h->total_bytes = h->self_off + h->size;
	if (!h->ckpt_off)
		h->ckpt_off = h->self_off;
	memcpy(h->file_id, db->qf->file_id, QF_FILE_ID);
	uint8_t *hb = malloc(h->size);
	if (!hb)
		return qerr(QUIRE_ENOMEM, "out of memory");
	if (h->meta_len)
		memcpy(hb + QF_HDR_FIXED, meta, h->meta_len);
	qhdr_put(hb, h);
	e = queue_copy(db, hb, h->size);
	free(hb);
	if (e || (e = flush(db)) != 0)
		return e;
	/* NOSYNC still syncs now and then: recovery after a reboot walks
	 * forward from the durable commit, and that walk must stay short */
	if (!(db->opts.flags & QUIRE_NOSYNC) ||
	    h->self_off - db->durable_off >= db->nosync_walk) {
		if ((e = df_fsync(db)) != 0)
			return e;
		db->durable_off = h->self_off;
		db->durable_txn = h->txn;
	}
	if ((e = df_write_slot(db, h, 0)) != 0) {
		/* The commit is in the file, but the slot that makes it count
		 * in this boot is not: it will be cut away. */
		atomic_store(&db->failed, 1);
		return e;
	}
	a->start = a->pos = a->end = h->total_bytes;
	a->chain = 0;
	return 0;
}

void df_rollback(quire *db)
{
	struct appender *a = &db->app;
	if (a->pos > a->start) /* best effort: the next writer cuts it too */
		db->qf->f->ops->truncate(db->qf->f, a->start);
	a->pos = a->end = a->start;
	a->chain = 0;
	a->used = 0;
	a->niov = 0;
}

int df_sync(quire *db)
{
	int e = df_fsync(db);
	if (e)
		return e;
	struct snap *cur = snap_acquire(db);
	db->durable_off = cur->h.self_off;
	db->durable_txn = cur->h.txn;
	e = df_write_slot(db, &cur->h, 0);
	snap_release(cur);
	return e;
}

int df_flush(quire *db)
{
	return flush(db);
}

int df_mark(quire *db, uint32_t flags)
{
	struct snap *cur = snap_acquire(db);
	int e = df_write_slot(db, &cur->h, flags);
	snap_release(cur);
	return e;
}
