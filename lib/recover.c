/*
 * recover.c - which commit is the newest: read the slots, trust them
 * within one boot (docs/FORMAT.md, invariant 4), else walk forward from
 * the durable commit verifying every block (invariants 2 and 4); publish
 * what was found with its pending operations; follow the database to a
 * new file after another handle's compaction; and start a writer on an
 * up-to-date view with the torn tail cut away.
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
#include "memtable.h"
#include "pending.h"
#include "recover.h"
#include "snap.h"
#include "target.h"
#include "util.h"

#define RD_CAP ((size_t)1 << 20)
/* Sequential reader for the recovery walk. */
struct rd {
	quire *db;
	uint64_t size;
	uint8_t *buf;
	uint64_t boff;
	size_t blen;
};

/* Pointer to [off, off + n) (n <= RD_CAP), or NULL at end of file or on an
 * I/O error (then *err is set). */
static const uint8_t *rd_get(struct rd *r, uint64_t off, size_t n, int *err)
{
	*err = 0;
	if (off + n > r->size)
		return NULL;
	if (off >= r->boff && off + n <= r->boff + r->blen)
		return r->buf + (off - r->boff);
	size_t want = (size_t)QMIN((uint64_t)RD_CAP, r->size - off), got;
	int e = io_read(r->db->qf->f, r->buf, want, off, &got);
	if (e) {
		*err = qerr_os(-e, "%s: reading at offset %llu", r->db->path,
			       (unsigned long long)off);
		return NULL;
	}
	r->boff = off;
	r->blen = got;
	return got >= n ? r->buf : NULL;
}

/* Fold the bytes [off, off + n) into *crc. Returns 0, 1 at end of file, or
 * an error. */
static int rd_crc(struct rd *r, uint64_t off, uint64_t n, uint32_t *crc)
{
	while (n) {
		size_t k = (size_t)QMIN(n, (uint64_t)RD_CAP);
		int err;
		const uint8_t *p = rd_get(r, off, k, &err);
		if (!p)
			return err ? err : 1;
		*crc = crc32c(*crc, p, k);
		off += k;
		n -= k;
	}
	return 0;
}

/*
 * Follow the commits after `from` (NULL: from the start of the data area, in
 * which case the first header found is taken without chain checks) and return
 * the newest one whose bytes all verify. Stops at the first block that does
 * not parse: that is the torn tail of a crash, or another writer's commit in
 * progress. Every block a writer makes must pass: a batch may be as large
 * as its 32-bit size field allows (one big transaction), a value block as
 * QUIRE_MAX_VALUE_SIZE; refusing a larger one would cut a durable commit.
 */
int df_walk(quire *db, const struct qhdr *from, struct qhdr *out)
{
	struct rd r = {.db = db, .boff = UINT64_MAX};
	struct qhdr cur;
	int have = from != NULL, e = df_file_size(db, &r.size);
	if (e)
		return e;
	if (!(r.buf = malloc(RD_CAP)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	if (have)
		cur = *from;
	uint64_t start = have ? cur.total_bytes : QF_SUPER_SIZE;
	for (;;) {
		uint64_t pos = start;
		uint32_t chain = 0;
		const uint8_t *p;
		struct qblock b;
		for (;;) {
			if (!(p = rd_get(&r, pos, QF_BLOCK_HDR, &e)))
				goto end;
			qblock_get(p, &b);
			if (b.type == QB_HEADER)
				break;
			if ((b.type != QB_NODE && b.type != QB_VALUE &&
			     b.type != QB_BATCH) ||
			    b.size < QF_BLOCK_HDR ||
			    (b.type == QB_NODE && b.size > QF_NODE_MAX) ||
			    (b.type == QB_VALUE &&
			     b.size > QF_BLOCK_HDR + QUIRE_MAX_VALUE_SIZE))
				goto end;
			uint8_t stored[4];
			uint32_t crc = qblock_crc_start(pos);
			memcpy(stored, p, 4);
			if ((e = rd_crc(&r, pos + 4, b.size - 4, &crc)) != 0) {
				if (e == 1)
					e = 0;
				goto end;
			}
			if (crc != b.crc)
				goto end;
			chain = crc32c(chain, stored, 4);
			pos += b.size;
		}
		if (b.size < QF_HDR_V1 || b.size > QF_HDR_FIXED + QF_META_MAX ||
		    !(p = rd_get(&r, pos, b.size, &e)))
			goto end;
		struct qhdr h;
		uint32_t need;
		if (qhdr_get(p, b.size, pos, &h, &need) != 0 ||
		    memcmp(h.file_id, db->qf->file_id, QF_FILE_ID) != 0 ||
		    h.commit_start != start || h.range_crc != chain)
			goto end;
		if (have && (h.prev_off != cur.self_off || h.txn != cur.txn + 1 ||
			     h.time_ns < cur.time_ns ||
			     h.next_seq < cur.next_seq))
			goto end;
		cur = h;
		have = 1;
		start = h.total_bytes;
	}
end:
	free(r.buf);
	if (e)
		return e;
	qerr_clear(); /* the failures above only marked the end of the log */
	if (!have)
		return qerr(QUIRE_ECORRUPT, "%s: no valid commit header found",
			    db->path);
	*out = cur;
	return 0;
}

/* Publish h, with its pending operations loaded on top of cur's (the
 * trees alone on a copy's handle, and for salvage when they are damaged:
 * salvage reads the batches itself). */
static int publish_header(quire *db, const struct snap *cur,
			  const struct qhdr *h)
{
	struct memtable *mt = NULL;
	int e = 0;
	if (!db->headers_only)
		e = pending_load(db->qf, h, cur ? cur->mt : NULL, &mt);
	if (e == QUIRE_ECORRUPT && db->salvage)
		e = 0;
	if (e)
		return e;
	if (!mt && !(mt = mt_new(qhdr_ckpt_seq(h), h->txn, h->ckpt_off, 0)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	e = snap_publish(db, h, mt);
	mt_unref(mt);
	return e;
}

/*
 * Where the forward walk starts: the durable commit of the newest slot
 * that names one newer than cur and still verifies, else cur (NULL: the
 * file's first commit). A slot's durable commit that does not verify
 * (past the end of a file truncated after it, a damaged header) is a
 * commit lost with the file's bytes: the other slot, then the walk, find
 * the newest commit still whole, and quire_check() reports the loss. *h
 * holds the header *start may point to.
 */
static int walk_start(quire *db, const struct snap *cur,
		      const struct qslot *ss, int nslots, struct qhdr *h,
		      const struct qhdr **start)
{
	*start = cur ? &cur->h : NULL;
	for (int i = 0; i < nslots; i++) {
		if (cur && ss[i].durable_txn <= cur->h.txn)
			break;
		int e = df_durable_header(db->qf, &ss[i], h);
		if (e == 0) {
			*start = h;
			break;
		}
		if (e != QUIRE_ECORRUPT)
			return e;
		qerr_clear();
	}
	return 0;
}

/* refresh_locked() with the handle's current commit pinned in cur (the
 * writer may publish a newer one meanwhile). */
static int refresh_from(quire *db, const struct snap *cur, int *trusted)
{
	struct qslot ss[2], s;
	struct qhdr h, from;
	int nslots, e = df_slot_list(db->qf, ss, &nslots);
	if (e)
		return e;
	int have = nslots > 0;
	s = ss[0];
	if (have && df_superseded(db, db->qf, &s)) {
		if ((e = df_switch_file(db)) != 0)
			return e;
		return refresh_from(db, NULL, trusted);
	}
	if (cur && cur->qf != db->qf)
		cur = NULL; /* a new file: nothing of the old one carries over */
	*trusted = have && db->boot_id && s.boot_id == db->boot_id;

	if (cur && have && s.latest_txn == cur->h.txn &&
	    s.latest_off == cur->h.self_off)
		return 0;
	if (*trusted) {
		if (cur && s.latest_txn <= cur->h.txn)
			return 0;
		if (df_load_header(db->qf, s.latest_off, &h) == 0 &&
		    h.txn == s.latest_txn)
			return publish_header(db, cur, &h);
		/* The page cache lost a commit (writeback error after a
		 * NOSYNC commit): fall back to the walk. */
		*trusted = 0;
	}
	const struct qhdr *start;
	if ((e = walk_start(db, cur, ss, nslots, &from, &start)) != 0 ||
	    (e = df_walk(db, start, &h)) != 0)
		return e;
	if (cur && h.txn == cur->h.txn)
		return 0;
	return publish_header(db, cur, &h);
}

/*
 * Bring db->cur up to the newest commit in the file. Called with refresh_mu
 * held (or by the writer, which holds it too). *trusted tells whether the
 * slots were written in this boot (invariant 4).
 */
static int refresh_locked(quire *db, int *trusted)
{
	struct snap *cur = snap_acquire(db); /* NULL while opening */
	int e = refresh_from(db, cur, trusted);
	snap_release(cur);
	return e;
}

/* Load the newest commit for a new snapshot. refresh_mu is held only by
 * threads loading a header (never by a committer), so waiting for it means
 * waiting for another reader's short read of the same header. */
int df_refresh(quire *db)
{
	int trusted, e = 0;
	pthread_mutex_lock(&db->refresh_mu);
	if (df_stale(db)) /* maybe another thread loaded it meanwhile */
		e = refresh_locked(db, &trusted);
	pthread_mutex_unlock(&db->refresh_mu);
	return e;
}

/* Whether the slots show a commit this handle has not seen. Cheap enough
 * for every snapshot: a read of the mapped superblock. */
int df_stale_snap(const struct snap *cur)
{
	struct qslot s;
	if (!cur || df_read_slots(cur->qf, &s) != 0)
		return 1;
	return s.latest_txn != cur->h.txn || (s.flags & QF_SLOT_SUPERSEDED);
}

int df_stale(quire *db)
{
	struct snap *cur = snap_acquire(db);
	int stale = df_stale_snap(cur);
	snap_release(cur);
	return stale;
}

int df_open(quire *db)
{
	db->boot_id = db->vfs->boot_id(db->vfs);
	int e = df_open_file(db, &db->qf);
	if (e)
		return e;
	if (!(db->opts.flags & QUIRE_RDONLY))
		df_remove_leftover(db);
	pthread_mutex_lock(&db->refresh_mu);
	int trusted;
	e = refresh_locked(db, &trusted);
	pthread_mutex_unlock(&db->refresh_mu);
	return e;
}

/*
 * Start a write transaction's file work; the caller holds both writer locks.
 * Brings the view up to date and cuts away any tail that belongs to no
 * acknowledged commit (invariant 4). The first writer after a reboot also
 * makes the recovered state durable and claims the slots for this boot.
 */
int df_writer_begin(quire *db)
{
	int trusted, e;
	uint64_t size;
	struct qslot s;
	pthread_mutex_lock(&db->refresh_mu);
	e = refresh_locked(db, &trusted);
	pthread_mutex_unlock(&db->refresh_mu);
	if (e)
		return e;
	/* Only a writer writes slots, so the counters it reads now are the
	 * newest; its next slot must outnumber both. */
	uint8_t buf[SLOTS_BYTES];
	struct qslot s0, s1;
	if ((e = df_slot_bytes(db->qf, buf)) != 0)
		return e;
	db->slot_counter = 0;
	if (qslot_get(buf, &s0) == 0)
		db->slot_counter = s0.counter;
	if (qslot_get(buf + (QF_SLOT1_OFF - QF_SLOT0_OFF), &s1) == 0)
		db->slot_counter = QMAX(db->slot_counter, s1.counter);

	struct snap *cur = snap_acquire(db);
	const struct qhdr *h = &cur->h;
	if ((e = df_file_size(db, &size)) != 0)
		goto out;
	if (size > h->total_bytes) { /* those places will be written again */
		fmap_unmark_from(&db->qf->map, h->total_bytes);
		if ((e = df_truncate(db, h->total_bytes)) != 0)
			goto out;
	}
	if (df_read_slots(db->qf, &s) == 0 && trusted) {
		db->durable_off = s.durable_off;
		db->durable_txn = s.durable_txn;
	} else {
		if ((e = df_fsync(db)) != 0)
			goto out;
		db->durable_off = h->self_off;
		db->durable_txn = h->txn;
		if ((e = df_write_slot(db, h, 0)) != 0)
			goto out;
	}
	e = df_append_start(db, h->total_bytes);
out:
	snap_release(cur);
	return e;
}
