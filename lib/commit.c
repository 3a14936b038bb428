/*
 * commit.c - making a write transaction's commit: as a batch or as a
 * checkpoint.
 *
 * A batch commit appends the transaction's operations as one batch block
 * (after any value blocks its puts wrote) and a header; the trees stay as
 * they are. A checkpoint folds every pending operation and the
 * transaction's own into the trees, one sorted pass per tree:
 *
 *   key tree      the final operation on each key
 *   oplog tree    every operation, by sequence number
 *   tombstones    deleted keys -> the sequence number of the delete
 *   commit index  (time, txn) -> header offset, for every commit since the
 *                 previous checkpoint and that checkpoint itself
 *
 * Every operation records its key's previous operation (prev_seq), so the
 * history of a key is a chain through batches and the oplog tree.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "batch.h"
#include "commit.h"
#include "error.h"
#include "file.h"
#include "lookup.h"
#include "memtable.h"
#include "modify.h"
#include "oplog.h"
#include "snap.h"
#include "tomb.h"
#include "tree.h"
#include "txn.h"
#include "wbuf.h"

/* The header of the commit txn is making, before its trees change. */
static void next_header(quire_txn *txn, struct qhdr *h)
{
	const struct qhdr *base = &txn->snap->h;
	uint64_t now = txn->db->vfs->now_ns(txn->db->vfs);
	*h = *base;
	if (txn->set_retention) { /* quire_set_retention, or a copy of one */
		h->retain_commits = txn->retention.commits;
		h->retain_ns = txn->retention.ns;
	}
	h->meta_len = (uint32_t)txn->meta_len;
	h->node_size = txn->db->opts.node_size;
	h->txn = base->txn + 1;
	h->time_ns = now > base->time_ns ? now : base->time_ns;
	if (txn->replay_time) /* a compaction copies the commit as it was */
		h->time_ns = txn->replay_time;
	h->prev_off = base->self_off;
	h->next_seq = txn->next_seq;
	h->features |= txn->features;
}

/* How the commit moves the counts of the live state. */
struct live_delta {
	int64_t keys;
	int64_t raw;            /* key and value bytes */
	int64_t ool, ool_count; /* values stored out of line */
};

/* A value of len bytes was added (sign 1) or removed (-1). */
static void count_value(struct live_delta *d, uint32_t klen, uint32_t len,
			int sign)
{
	d->raw += sign * ((int64_t)klen + len);
	if (len > QUIRE_INLINE_MAX) {
		d->ool += sign * (int64_t)len;
		d->ool_count += sign;
	}
}

/* The live counts of h after d. */
static uint64_t moved(uint64_t v, int64_t d)
{
	return d < 0 && (uint64_t)-d > v ? 0 : (uint64_t)((int64_t)v + d);
}

/* The live counts of h after d. The byte counts are exact but after a
 * range delete (estimated there), so they are kept consistent, never
 * negative; a compaction counts them anew. */
static void apply_delta(struct qhdr *h, const struct qhdr *base,
			const struct live_delta *d)
{
	h->key_count = moved(base->key_count, d->keys);
	if (base->live_raw != QF_RAW_UNKNOWN) {
		h->live_raw = moved(base->live_raw, d->raw);
		h->live_ool = QMIN(moved(base->live_ool, d->ool), h->live_raw);
		h->live_ool_count = QMIN(moved(base->live_ool_count,
					       d->ool_count),
					 h->key_count);
	}
}

/* What the range deletes of the transaction remove from the live counts:
 * the keys exactly (counted when they were made), their bytes estimated
 * at the mean of the live keys, since the subtrees they drop go unread. */
static void count_ranges(const quire_txn *txn, struct live_delta *d)
{
	const struct qhdr *b = &txn->snap->h;
	const struct wbuf *wb = txn->wb;
	uint64_t gone = 0;
	if (!wb->nspans) /* no range delete: the usual commit */
		return;
	for (size_t i = 0; i < wb->nops; i++)
		if (wb->ops[i].op == WOP_RANGE)
			gone += wb->ops[i].r->count;
	if (!gone)
		return;
	d->keys -= (int64_t)gone;
	if (!b->key_count || b->live_raw == QF_RAW_UNKNOWN)
		return;
	double share = (double)QMIN(gone, b->key_count) / (double)b->key_count;
	d->raw -= (int64_t)(share * (double)b->live_raw);
	d->ool -= (int64_t)(share * (double)b->live_ool);
	d->ool_count -= (int64_t)(share * (double)b->live_ool_count);
}

/* The largest key the trees of txn's snapshot have an entry of, and with
 * pending of its pending operations (*k NULL: none): a key past it was
 * never written, or last removed by the tail of the tombstones' last entry
 * (*t, if *has) if that reaches it. */
static int written_end(quire_txn *txn, int pending, const uint8_t **k,
		       uint32_t *kl, struct ttail *t, int *has)
{
	const struct snap *s = txn->snap;
	struct tcur tc;
	const uint8_t *dk;
	uint32_t dkl;
	int e;
	*k = NULL;
	*kl = 0;
	tcur_init(&tc, s->qf, QT_KEYS, &s->h.root[QT_KEYS]);
	if ((e = tcur_last(&tc)) == 0)
		*k = tcur_key(&tc, kl);
	else if (e != QUIRE_NOTFOUND)
		return e;
	if ((e = tomb_last(s->qf, &s->h.root[QT_DEAD], &dk, &dkl, t, has)) !=
	    0)
		return e;
	if (dk && (!*k || key_cmp(dk, dkl, *k, *kl) > 0)) {
		*k = dk;
		*kl = dkl;
	}
	const struct mt_node *mx = pending ? s->mt->max : NULL;
	if (mx && (!*k || key_cmp(mx->key, mx->klen, *k, *kl) > 0)) {
		*k = mx->key;
		*kl = mx->klen;
	}
	return 0;
}

/* The previous operation of op i of txn, whose key's operation before it
 * is prev: the newest of txn's range deletes before it (ops ranges[0..nr))
 * that covers the key and came after prev, else prev. Versions a range
 * delete of the same transaction removed were never committed: the chain
 * goes from the range on to the key's version before the transaction. */
static uint64_t range_before(quire_txn *txn, const size_t *ranges, size_t nr,
			     size_t i, uint64_t prev)
{
	const struct wbuf *wb = txn->wb;
	const struct wnode *n = wb->ops[i].n;
	uint64_t seq0 = txn->snap->h.next_seq;
	if (!wbuf_span(wb, n->key, n->klen))
		return prev;
	for (size_t j = nr; j-- > 0 && seq0 + ranges[j] > prev;) {
		const struct wrange *r = wb->ops[ranges[j]].r;
		if (key_cmp(r->from, r->flen, n->key, n->klen) <= 0 &&
		    wrange_below_end(r, n->key, n->klen))
			return seq0 + ranges[j];
	}
	return prev;
}

/*
 * The previous operation of each of the transaction's operations (prev[i]
 * for op i): the key's latest committed operation for its first operation
 * in the transaction, then its own. *delta: how the live counts move.
 * Keys past every committed key (appends) need no lookup.
 */
static int chain_ops(quire_txn *txn, uint64_t *prev, struct live_delta *delta)
{
	struct wbuf *wb = txn->wb;
	const uint8_t *maxk = NULL;
	uint32_t maxkl = 0;
	struct ttail last; /* the tail after maxk */
	int tail, e = 0;
	*delta = (struct live_delta){0, 0, 0, 0};
	if ((e = written_end(txn, 1, &maxk, &maxkl, &last, &tail)) != 0)
		return e;
	for (struct wnode *n = wbuf_first(wb); n; n = wbuf_next(n)) {
		int live = 0;
		uint32_t vlen = 0;
		uint64_t given = n->tseq;
		n->tseq = 0;
		if (maxk && key_cmp(n->key, n->klen, maxk, maxkl) <= 0) {
			if ((e = snap_latest_op(txn->snap, n->key, n->klen,
						&n->tseq, &live, &vlen)) != 0)
				return e;
		} else if (tail && ttail_reaches(&last, n->key, n->klen)) {
			n->tseq = last.seq; /* past every entry: the tail's */
		}
		if (n->linked)
			n->tseq = given;
		if (n->masked)
			continue; /* a range delete removed it: count_ranges */
		if (wb->nspans && wbuf_span(wb, n->key, n->klen))
			live = 0; /* put again after a range removed it */
		if (live)
			count_value(delta, n->klen, vlen, -1);
		if (n->op == WOP_PUT)
			count_value(delta, n->klen, n->v.len, 1);
		if (n->op == WOP_PUT && !live)
			delta->keys++;
		else if (n->op == WOP_DEL && live)
			delta->keys--;
	}
	size_t *ranges = NULL, nr = 0;
	if (wb->nspans && !(ranges = malloc(wb->nops * sizeof *ranges)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	for (size_t i = 0; i < wb->nops; i++) {
		struct wnode *n = wb->ops[i].n;
		prev[i] = n ? n->tseq : 0; /* a range is in no key's chain */
		if (!n) {
			if (ranges)
				ranges[nr++] = i;
			continue;
		}
		/* (a given chain, linked, is the one it had) */
		if (nr && !(n->linked && n->tseq < txn->snap->h.next_seq))
			prev[i] = range_before(txn, ranges, nr, i, prev[i]);
		n->tseq = txn->snap->h.next_seq + i;
	}
	free(ranges);
	count_ranges(txn, delta);
	return 0;
}

/*
 * Make the batch just added to mt a commit: write its header (unless e, a
 * failure before it), or take the batch back out of mt. A reader of this
 * handle may see the new slot and publish the commit first; snap_install()
 * then drops ours.
 */
static int batch_publish(quire *db, struct snap *s, struct qhdr *h,
			 struct memtable *mt, const void *meta, int e,
			 const struct snap *cat_from)
{
	if (!e && (e = df_commit(db, h, meta)) == 0) {
		snap_install(db, s, h, mt, cat_from);
		return 0;
	}
	free(s);
	mt_lock(mt);
	mt_undo_last(mt);
	mt_unlock(mt);
	return e;
}

/*
 * The usual commit: append the operations as one batch block (plus any
 * value blocks written at put time) and a header; the trees stay as they
 * are. The memtable learns the batch before the header is written, which
 * no snapshot can notice: its versions lie beyond every published
 * next_seq, and are undone if the commit fails.
 */
static int commit_batch(quire_txn *txn)
{
	quire *db = txn->db;
	struct wbuf *wb = txn->wb;
	const struct qhdr *base = &txn->snap->h;
	struct memtable *mt = txn->snap->mt;
	uint64_t *prev = malloc((wb->nops ? wb->nops : 1) * sizeof *prev);
	struct qhdr h;
	struct live_delta delta;
	int e;
	if (!prev)
		return qerr(QUIRE_ENOMEM, "out of memory");
	next_header(txn, &h);
	if ((e = chain_ops(txn, prev, &delta)) != 0) {
		free(prev);
		return e;
	}
	uint64_t xbytes = 0;
	for (size_t i = 0; i < wb->nops; i++)
		if (wb->ops[i].v.ool)
			xbytes += QF_BLOCK_HDR + (uint64_t)wb->ops[i].v.len;
	struct batch_info bi = {.nkeys = (uint32_t)wb->nkeys,
				.nops = (uint32_t)wb->nops,
				.prev_off = base->pending_off,
				.prev_size = base->pending_size,
				.txn = h.txn,
				.first_seq = base->next_seq,
				.time_ns = h.time_ns,
				.xbytes = xbytes,
				.off = df_next_offset(db)};
	uint8_t *block;
	uint64_t off;
	e = batch_encode(wb, &bi, prev, &block, &bi.size);
	free(prev);
	if (e)
		return e;
	mt_lock(mt);
	e = mt_add_batch(mt, block, &bi, 1); /* mt owns block from here */
	mt_unlock(mt);
	if (e)
		return e;
	struct snap *s = snap_alloc();
	if (!s)
		e = qerr(QUIRE_ENOMEM, "out of memory");
	else if ((e = df_append_block(db, block, bi.size, &off)) == 0) {
		h.pending_off = off;
		h.pending_size = bi.size;
		h.pending_batches++;
		h.pending_ops += wb->nops;
		h.pending_bytes += bi.size + xbytes;
		apply_delta(&h, base, &delta);
		h.live_bytes = h.root[QT_KEYS].bytes + h.pending_bytes;
	}
	return batch_publish(db, s, &h, mt, txn->meta, e,
			     txn->cat_dirty ? NULL : txn->snap);
}

int commit_copy(quire_txn *txn, const uint8_t *b, const struct batch_info *bi,
		const struct qhdr *src, const void *meta)
{
	quire *db = txn->db;
	const struct qhdr *base = &txn->snap->h;
	struct memtable *mt = txn->snap->mt;
	uint64_t off = df_next_offset(db);
	struct batch_info nb = *bi;
	struct qhdr h = *base;
	int e;
	h.features |= src->features; /* the first keyspace's commit */
	if (src->txn != base->txn + 1 || bi->first_seq != base->next_seq ||
	    bi->xbytes)
		return qerr(QUIRE_EINVAL, "%s: batch of commit %llu cannot be "
					  "copied here",
			    db->path, (unsigned long long)src->txn);
	uint8_t *block = malloc(bi->size);
	struct snap *s = snap_alloc();
	if (!block || !s) {
		free(block);
		free(s);
		return qerr(QUIRE_ENOMEM, "out of memory");
	}
	memcpy(block, b, bi->size); /* the same records: only its chain and
				     * place change */
	st64(block + 16, base->pending_off);
	st32(block + 24, base->pending_size);
	qblock_seal(block, bi->size, off);
	nb.prev_off = base->pending_off;
	nb.prev_size = base->pending_size;
	nb.off = off;
	mt_lock(mt);
	e = mt_add_batch(mt, block, &nb, 1); /* mt owns block from here */
	mt_unlock(mt);
	if (e) {
		free(s);
		return e;
	}
	h.txn = src->txn;
	h.time_ns = src->time_ns;
	h.meta_len = src->meta_len;
	h.next_seq = src->next_seq;
	h.prev_off = base->self_off;
	h.key_count = src->key_count;
	h.live_raw = src->live_raw;
	h.live_ool = src->live_ool;
	h.live_ool_count = src->live_ool_count;
	h.retain_commits = src->retain_commits;
	h.retain_ns = src->retain_ns;
	h.node_size = db->opts.node_size;
	if ((e = df_append_block(db, block, bi->size, &off)) == 0) {
		h.pending_off = off;
		h.pending_size = bi->size;
		h.pending_batches++;
		h.pending_ops += bi->nops;
		h.pending_bytes += bi->size;
		h.live_bytes = h.root[QT_KEYS].bytes + h.pending_bytes;
	}
	if ((e = batch_publish(db, s, &h, mt, meta, e, NULL)) != 0)
		df_rollback(db);
	return e;
}

/* The range mutation of span sp. */
static struct mut range_mut(const struct wrange *sp)
{
	struct mut m = {.key = sp->from, .klen = sp->flen, .del = MUT_RANGE};
	m.end.key = sp->to_last ? NULL : sp->to;
	m.end.klen = sp->to_last ? 0 : sp->tlen;
	return m;
}

/*
 * Key-tree mutations of a checkpoint: the pending operations visible to
 * the transaction merged with its own, which win. The transaction's range
 * deletes (its spans) come as range mutations before every key they hold:
 * the pending operations inside them are gone, its own operations there
 * (masked: before the range, the rest after it) follow the range.
 */
static int checkpoint_muts(quire_txn *txn, struct mut **out, size_t *nout)
{
	struct memtable *mt = txn->snap->mt;
	struct wbuf *wb = txn->wb;
	struct mt_iter it;
	size_t n = 0, s = 0;
	struct mut *km = malloc((mt->nkeys + wb->nkeys + wb->nspans + 1) *
				sizeof *km);
	if (!km)
		return qerr(QUIRE_ENOMEM, "out of memory");
	mt_iter_init(&it, mt, txn->snap->h.next_seq);
	int r = mt_first(&it);
	struct wnode *w = wbuf_first(wb);
	while (r == 0 || w || s < wb->nspans) {
		uint32_t kl = 0;
		const uint8_t *k = r == 0 ? mt_key(&it, &kl) : NULL;
		int c = !w ? -1 : r ? 1 : key_cmp(k, kl, w->key, w->klen);
		if (c > 0 || !k) { /* the next key is the transaction's */
			k = w ? w->key : NULL;
			kl = w ? w->klen : 0;
		}
		if (s < wb->nspans &&
		    (!k || key_cmp(wb->spans[s].from, wb->spans[s].flen, k,
				   kl) <= 0)) {
			km[n++] = range_mut(&wb->spans[s++]);
			continue;
		}
		if (c < 0) {
			const struct mt_ver *v = mt_ver(&it);
			/* a delete inside a span still leaves its tombstone
			 * (key history); the range removes nothing for it */
			if (!s || !wbuf_span(wb, k, kl) || v->op == WOP_DEL)
				km[n++] = (struct mut){.key = k,
						       .klen = kl,
						       .del = v->op == WOP_DEL,
						       .meta = v->seq,
						       .v = v->v};
		} else {
			if (!w->masked || w->op == WOP_DEL) {
				km[n++] = (struct mut){
					.key = w->key,
					.klen = w->klen,
					.del = w->op == WOP_DEL,
					.meta = txn->snap->h.next_seq + w->last,
					.v = w->v};
			}
			w = wbuf_next(w);
		}
		if (c <= 0)
			r = mt_next(&it);
	}
	*out = km;
	*nout = n;
	return 0;
}

/* The sequence-tree mutation of record r. */
static int seq_rec(struct modify *m, struct mut *sm, uint64_t seq,
		   uint64_t txn_id, const struct oprec *r)
{
	size_t len = oprec_size(r);
	uint8_t *k = arena_alloc(&m->ar, 8), *rec = arena_alloc(&m->ar, len);
	if (!k || !rec)
		return qerr(QUIRE_ENOMEM, "out of memory");
	st64be(k, seq);
	oprec_put(rec, r);
	*sm = (struct mut){.key = k,
			   .klen = 8,
			   .meta = txn_id,
			   .v = {.data = rec, .len = (uint32_t)len}};
	return 0;
}

/* The oplog record of one operation; fin: the key-tree mutation it became,
 * if it is its key's last operation and a put. */
static int seq_mut(struct modify *m, struct mut *sm, uint64_t seq,
		   uint64_t txn_id, const struct brec *op,
		   const struct leafpos *fin)
{
	struct oprec r = {.prev_seq = op->prev_seq};
	if (fin) {
		r.kind = OP_PUTREF;
		r.leaf_off = fin->off;
		r.leaf_size = fin->size;
		r.slot = fin->slot;
	} else {
		r.kind = op->op == WOP_DEL ? OP_DEL : OP_PUT;
		r.key = op->key;
		r.klen = op->klen;
		r.vlen = op->v.len;
		r.ool = op->v.ool;
		r.ool_off = op->v.ool_off;
		r.val = op->v.data;
	}
	return seq_rec(m, sm, seq, txn_id, &r);
}

/* The oplog record of range delete w. */
static int range_rec(struct modify *m, struct mut *sm, uint64_t seq,
		     uint64_t txn_id, const struct wrange *w)
{
	struct oprec r = {.kind = OP_RANGE,
			  .key = w->from,
			  .klen = w->flen,
			  .end = w->to,
			  .elen = w->to_last ? 0 : w->tlen,
			  .to_last = w->to_last,
			  .count = w->count};
	return seq_rec(m, sm, seq, txn_id, &r);
}

/* Commit-index mutations: every commit since the previous checkpoint
 * (which the pending batches name) and that checkpoint itself. */
static int commit_muts(quire_txn *txn, struct modify *m, struct mut **out,
		       size_t *nout)
{
	const struct qhdr *base = &txn->snap->h;
	struct memtable *mt = txn->snap->mt;
	struct qhdr ck = *base; /* base is often the checkpoint itself */
	size_t n = 0;
	int e = base->ckpt_off == base->self_off
			? 0
			: df_header(txn->snap->qf, base->ckpt_off, &ck);
	if (e)
		return e;
	struct mut *cm = malloc((mt->nblocks + 1) * sizeof *cm);
	if (!cm)
		return qerr(QUIRE_ENOMEM, "out of memory");
	for (size_t b = 0; !e && b <= mt->nblocks; b++) {
		uint64_t txn_id = ck.txn, time = ck.time_ns, off = ck.self_off;
		if (b > 0) {
			const struct mt_block *mb = &mt->blocks[b - 1];
			if (mb->dead || mb->bi.txn > base->txn)
				continue;
			txn_id = mb->bi.txn;
			time = mb->bi.time_ns;
			off = mb->bi.off + mb->bi.size;
		}
		uint8_t *k = arena_alloc(&m->ar, 16),
			*v = arena_alloc(&m->ar, VARINT_MAX);
		if (!k || !v) {
			e = qerr(QUIRE_ENOMEM, "out of memory");
			break;
		}
		st64be(k, time);
		st64be(k + 8, txn_id);
		cm[n++] = (struct mut){.key = k,
				       .klen = 16,
				       .meta = txn_id,
				       .v = {.data = v,
					     .len = (uint32_t)varint_put(v, off)}};
	}
	if (e) {
		free(cm);
		return e;
	}
	*out = cm;
	*nout = n;
	return 0;
}

/*
 * A checkpoint: fold every pending operation and the transaction's own into
 * the trees in one sorted pass each, and start an empty pending chain.
 * append: the transaction only appends (its full leaves are not cached).
 */
static int commit_checkpoint(quire_txn *txn, int append)
{
	quire *db = txn->db;
	struct wbuf *wb = txn->wb;
	const struct qhdr *base = &txn->snap->h;
	struct memtable *mt = txn->snap->mt, *fresh = NULL;
	struct snap *s = NULL;
	uint64_t ckpt = qhdr_ckpt_seq(base), nall = txn->next_seq - ckpt;
	struct mut *km = NULL, *sm = NULL, *dm = NULL, *cm = NULL;
	struct leafpos *pos = NULL;
	uint64_t *prev = NULL;
	int32_t *fin = NULL;
	size_t nk = 0, ns = 0, nc = 0, nd = 0;
	struct live_delta delta;
	struct modify m;
	struct qhdr h;
	int e;
	modify_init(&m, db, !append);
	next_header(txn, &h);
	sm = malloc((nall ? nall : 1) * sizeof *sm);
	fin = malloc((nall ? nall : 1) * sizeof *fin);
	prev = malloc((wb->nops ? wb->nops : 1) * sizeof *prev);
	if (!sm || !fin || !prev) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	if ((e = chain_ops(txn, prev, &delta)) != 0 ||
	    (e = checkpoint_muts(txn, &km, &nk)) != 0 ||
	    (e = tomb_muts(txn, km, nk, append, &m.ar, &dm, &nd)) != 0 ||
	    (e = commit_muts(txn, &m, &cm, &nc)) != 0)
		goto out;
	if (!(pos = calloc(nk ? nk : 1, sizeof *pos))) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	if ((e = modify_tree(&m, QT_KEYS, &base->root[QT_KEYS], km, nk, pos,
			     &h.root[QT_KEYS])) != 0)
		goto out;
	for (uint64_t i = 0; i < nall; i++)
		fin[i] = -1;
	for (size_t i = 0; i < nk; i++)
		if (!km[i].del)
			fin[km[i].meta - ckpt] = (int32_t)i;
	for (size_t b = 0; !e && b < mt->nblocks; b++) {
		const struct mt_block *mb = &mt->blocks[b];
		struct batch_iter it = {0};
		struct brec r;
		if (mb->dead || mb->bi.first_seq >= base->next_seq)
			continue;
		while (!e && batch_next(mb->b, &mb->bi, &it, &r)) {
			int32_t f = fin[r.seq - ckpt];
			e = seq_mut(&m, &sm[ns++], r.seq, mb->bi.txn, &r,
				    f >= 0 ? &pos[f] : NULL);
		}
	}
	for (size_t i = 0; !e && i < wb->nops; i++) {
		const struct wop *o = &wb->ops[i];
		uint64_t seq = base->next_seq + i;
		int32_t f = fin[seq - ckpt];
		if (o->op == WOP_RANGE) {
			e = range_rec(&m, &sm[ns++], seq, h.txn, o->r);
			continue;
		}
		struct brec r = {.op = o->op,
				 .key = o->n->key,
				 .klen = o->n->klen,
				 .v = o->v,
				 .prev_seq = prev[i]};
		e = seq_mut(&m, &sm[ns++], seq, h.txn, &r,
			    f >= 0 ? &pos[f] : NULL);
	}
	if (e)
		goto out;
	if (ns != nall) {
		e = qerr(QUIRE_ECORRUPT, "%s: pending operations missing at "
					 "checkpoint",
			 db->path);
		goto out;
	}
	if ((e = modify_tree(&m, QT_SEQ, &base->root[QT_SEQ], sm, ns, NULL,
			     &h.root[QT_SEQ])) != 0 ||
	    (e = modify_tree(&m, QT_DEAD, &base->root[QT_DEAD], dm, nd, NULL,
			     &h.root[QT_DEAD])) != 0 ||
	    (e = modify_tree(&m, QT_COMMITS, &base->root[QT_COMMITS], cm, nc,
			     NULL, &h.root[QT_COMMITS])) != 0)
		goto out;
	h.pending_off = h.pending_ops = h.pending_bytes = 0;
	h.pending_size = h.pending_batches = 0;
	h.ckpt_off = 0; /* df_commit: this header itself */
	if (wb->nspans) /* from here on, readers must know range records
			 * and tombstone tails */
		h.features |= QF_FEAT_RANGES | QF_FEAT_TAILS;
	apply_delta(&h, base, &delta);
	h.key_count = h.root[QT_KEYS].count;
	h.live_ool_count = QMIN(h.live_ool_count, h.key_count);
	h.live_bytes = h.root[QT_KEYS].bytes;
	/* everything publishing needs, before the commit is durable */
	if (!(fresh = mt_new(h.next_seq, h.txn, 0, mt_keys(txn->snap->mt))) ||
	    !(s = snap_alloc())) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	if ((e = df_commit(db, &h, txn->meta)) != 0)
		goto out;
	fresh->ckpt_off = h.ckpt_off; /* known now; nobody reads it yet */
	snap_install(db, s, &h, fresh, txn->cat_dirty ? NULL : txn->snap);
	s = NULL;
out:
	free(s);
	modify_done(&m, e == 0);
	mt_unref(fresh);
	free(km);
	free(sm);
	free(dm);
	free(cm);
	free(pos);
	free(fin);
	free(prev);
	return e;
}

/* Whether the transaction's entries fill at least one leaf. A smaller
 * append would rewrite the tree's right edge (a path of nodes) for a few
 * bytes, where a batch costs about its own size. */
static int fills_a_leaf(const quire_txn *txn)
{
	size_t bytes = 0;
	for (struct wnode *n = wbuf_first(txn->wb); n; n = wbuf_next(n)) {
		bytes += n->klen + (n->v.ool ? 8 : n->v.len) + 4;
		if (bytes >= txn->db->opts.node_size)
			return 1;
	}
	return 0;
}

/* Whether every key the transaction writes lies past the largest key of
 * its commit's trees (a pure append, as in loading sorted data). */
static int appends_only(quire_txn *txn, int *err)
{
	struct wnode *first = wbuf_first(txn->wb);
	const uint8_t *k;
	uint32_t kl;
	struct ttail t;
	int tail;
	*err = 0;
	if (!first || (*err = written_end(txn, 0, &k, &kl, &t, &tail)) != 0)
		return 0;
	return !k || key_cmp(first->key, first->klen, k, kl) > 0;
}

/*
 * How many leaves of the key tree a checkpoint of the pending operations
 * would rewrite, counting no further than `enough`: one descent per leaf
 * (to the leaf the modification would put the key in, then on to the
 * first pending key past that leaf), a fraction of what rewriting it
 * would cost.
 */
static int touched_leaves(quire_txn *txn, uint64_t enough, uint64_t *n)
{
	const struct snap *s = txn->snap;
	struct mt_iter it;
	int r, e = 0;
	*n = 0;
	mt_iter_init(&it, s->mt, s->h.next_seq);
	for (r = mt_first(&it); r == 0 && *n < enough;) {
		uint32_t kl, ul;
		const uint8_t *k = mt_key(&it, &kl), *upper;
		uint64_t leaf;
		if ((e = tree_leaf_for(s->qf, &s->h.root[QT_KEYS], QT_KEYS, k, kl,
				       &leaf, &upper, &ul)) != 0)
			return e;
		++*n;
		if (!upper)
			break;
		r = mt_seek(&it, upper, ul, 1);
	}
	return 0;
}

/*
 * Whether the pending operations should go into the trees through a
 * compaction instead of a checkpoint (see commit_write): 0 no, 1 yes (a
 * compaction is started, or one runs and folds them: go on meanwhile), 2
 * yes, but one runs and they have reached a quarter more than the
 * threshold: the commit appends a batch and the committer then waits for
 * that compaction (the after_commit hook). Memory: the compaction's new
 * file holds its own copy of the commits made while it runs, so a writer
 * that went on to twice the threshold (as it did) held the threshold
 * three times over, and a checkpoint there, which also writes the tree
 * the compaction is writing, its working memory besides. Waiting costs
 * the writer less than that checkpoint did; it is faster than the
 * compaction only while the compaction copies a few commits. Where
 * nobody waits (a compaction not started in the background), the
 * checkpoint comes at twice the threshold. *err: a failure to find out.
 */
static int fold_by_compaction(quire_txn *txn, uint64_t threshold,
			      uint64_t bytes, int *err)
{
	const quire *db = txn->db;
	const struct qhdr *h = &txn->snap->h;
	uint64_t tree = h->root[QT_KEYS].bytes, n;
	*err = 0;
	if (!db->hooks || h->pending_ops >= 2 * threshold ||
	    h->total_bytes < db->hooks->retry_floor(db) ||
	    h->pending_bytes >= 2 * bytes) /* memory */
		return 0;
	if (db->hooks->running(db)) /* it folds them */
		return h->pending_ops < threshold + threshold / 4 &&
		       h->pending_bytes < bytes + bytes / 4 ? 1 : 2;
	uint64_t enough = tree / 2 / db->opts.node_size;
	if (enough < 64 || (*err = touched_leaves(txn, enough, &n)) != 0)
		return 0;
	return n >= enough;
}

/* The pending operations that make a checkpoint, and (*bytes) the pending
 * batch bytes that do; *adapt: whether they grow with the tree and
 * compactions may fold them (see commit_write). A checkpoint_ops below the
 * default asks for early checkpoints. */
static uint64_t fold_threshold(const quire *db, const struct qhdr *h,
			       int *adapt, uint64_t *bytes)
{
	uint64_t threshold = db->opts.checkpoint_ops;
	*adapt = threshold >= QUIRE_CHECKPOINT_OPS && db->hooks &&
		 db->opts.auto_compact_ratio > 0 &&
		 h->retain_commits != QF_KEEP_ALL;
	*bytes = QUIRE_CHECKPOINT_BYTES;
	if (!*adapt)
		return threshold;
	*bytes = QMAX(*bytes, h->root[QT_KEYS].bytes / 8);
	return QMAX(threshold, h->key_count / 4);
}

/* A quarter of the threshold: what a fold by compaction leaves pending
 * (the commits made while it ran, see fold_by_compaction), so that a
 * writer that closes after committing steadily leaves the tree, as it did
 * when it went on to twice the threshold while compactions ran. */
int commit_fold_at_close(quire *db)
{
	struct snap *cur = snap_acquire(db);
	int adapt;
	uint64_t bytes, threshold = fold_threshold(db, &cur->h, &adapt, &bytes);
	int due = adapt &&
		  (cur->h.pending_ops >= threshold / 4 ||
		   cur->h.pending_bytes >= bytes / 4) &&
		  cur->h.total_bytes >= db->hooks->retry_floor(db);
	snap_release(cur);
	return due;
}

/*
 * Batch or checkpoint. Small random commits append a batch: rewriting the
 * tree for them would copy a path of nodes per key. A commit that reaches
 * the checkpoint threshold folds everything. And while nothing is pending,
 * a commit that only appends past the largest key and fills at least a
 * leaf goes straight into the tree: its new leaves are full, the right edge
 * above them is rewritten once, and that costs about what the batch would.
 *
 * Write amplification: a checkpoint rewrites every leaf the pending
 * operations touch, which for random keys in a large tree is about one
 * leaf per operation, whatever the tree's size, and leaves the old leaves
 * as garbage for a compaction to copy the tree once more. So the
 * threshold grows with the tree (a quarter of its keys, within pending
 * batches of an eighth of its bytes, or 64 MiB if more: memory for
 * pending operations stays in proportion to the data, and a compaction
 * writes the tree again only once per eighth of it written anew: a
 * bounded number of bytes per operation, whatever the tree's size), and
 * where a checkpoint would rewrite more than
 * half the tree, a background compaction folds the pending operations
 * instead, writing the tree once, sequentially, into a file without
 * garbage (the next commit of the compaction's own file, later, starts the
 * count again; a writer that reaches a quarter past the threshold
 * meanwhile waits for it, see fold_by_compaction). With automatic
 * compaction off, every commit kept (a compaction then keeps them all as
 * batches) or checkpoint_ops set below its default (early checkpoints
 * asked for), checkpoints do it all.
 */
int commit_write(quire_txn *txn, int force_checkpoint)
{
	const struct qhdr *base = &txn->snap->h;
	quire *db = txn->db;
	int e = 0;
	if (!txn->wb->nops && !txn->meta_len && !force_checkpoint &&
	    !txn->replay_time && !txn->set_retention)
		return 0;
	if ((e = writer_dir_durable(db)) != 0) {
		df_rollback(db); /* the values it appended */
		return e;
	}
	int adapt;
	uint64_t bytes, threshold = fold_threshold(db, base, &adapt, &bytes);
	/* the pending operations cannot hold a range delete: it goes into
	 * the trees at once, with them */
	force_checkpoint |= txn->wb->nspans > 0;
	int full = !db->defer_checkpoint &&
		   (base->pending_ops + txn->wb->nops >= threshold ||
		    base->pending_bytes >= bytes);
	if (full && adapt && !force_checkpoint && !txn->replay_ckpt &&
	    (txn->fold = fold_by_compaction(txn, threshold, bytes, &e)))
		full = 0; /* quire_commit starts the compaction (or waits) */
	if (e) /* the count failed */
		;
	else if (force_checkpoint || full || txn->replay_ckpt)
		e = commit_checkpoint(txn, 0);
	else if (base->pending_ops == 0 && fills_a_leaf(txn) &&
		 appends_only(txn, &e))
		e = e ? e : commit_checkpoint(txn, 1);
	else if (!e)
		e = commit_batch(txn);
	if (e)
		df_rollback(txn->db);
	return e;
}
