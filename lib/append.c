/*
 * append.c - the writer's appender: the blocks of the commit being built,
 * queued and written with one gather write per flush, then the header that
 * makes them a commit (docs/FORMAT.md, invariant 2), its fdatasync (5;
 * with QUIRE_NOSYNC one per 256 MiB, 12) and then the slot that names it
 * (4).
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

#define STAGE_CAP ((size_t)1 << 20)
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

/* Write everything queued. */
static int flush(quire *db)
{
	struct appender *a = &db->app;
	if (!a->niov)
		return 0;
	int e = io_writev(db->qf->f, a->iov, a->niov, a->pos);
	if (e)
		return qerr_os(-e, "%s: writing %llu bytes at offset %llu",
			       db->path, (unsigned long long)(a->end - a->pos),
			       (unsigned long long)a->pos);
	a->pos = a->end;
	a->niov = 0;
	a->used = 0;
	return 0;
}

/* Queue n bytes at p (kept by reference until the next flush). */
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

/* Queue a copy of n bytes (n <= STAGE_CAP). */
static int queue_copy(quire *db, const void *p, size_t n)
{
	struct appender *a = &db->app;
	int e;
	if (a->used + n > a->cap && (e = flush(db)) != 0)
		return e;
	memcpy(a->stage + a->used, p, n);
	a->used += n;
	return queue(db, a->stage + a->used - n, n);
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
	if (!e && (a->niov >= 1024 || a->end - a->pos >= STAGE_CAP * 8))
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
