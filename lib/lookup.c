/*
 * lookup.c - reading through a transaction: a key's value as the
 * transaction sees it (its own operations, then the pending operations
 * of its commit, then the tree), values out of line read in place or into
 * a buffer, and a key's latest committed operation.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "append.h"
#include "error.h"
#include "file.h"
#include "lookup.h"
#include "memtable.h"
#include "tomb.h"
#include "tree.h"
#include "wbuf.h"

/* Whether the bytes at off are the value block of size bytes an entry
 * names: a verified one (full), or one verified before (its header). */
static int value_ok(quire *db, const uint8_t *p, size_t size, uint64_t off,
		    int full)
{
	struct qblock b;
	qblock_get(p, &b);
	if (b.type == QB_VALUE && b.size == size &&
	    (!full || qblock_crc_ok(p, b.size, off)))
		return 0;
	return qerr(QUIRE_ECORRUPT, "%s: value block at offset %llu: %s",
		    db->path, (unsigned long long)off,
		    b.type != QB_VALUE || b.size != size
			    ? "not the value its entry describes"
			    : "checksum mismatch");
}

int txn_read_value(quire_txn *txn, uint64_t off, uint32_t vlen,
		   struct vbuf **list, const void **out)
{
	struct qfile *qf = txn->snap->qf;
	size_t size = QF_BLOCK_HDR + (size_t)vlen;
	const uint8_t *p = qf->smap ? fmap_at(&qf->map, qf->f, off, size) : NULL;
	int e;
	if (p) { /* in place: verified at its first use in the process */
		int marked = fmap_marked(&qf->map, off);
		e = value_ok(txn->db, p, size, off, !marked);
		if (qfile_check(qf))
			e = qfile_fault(qf); /* the cause of any damage seen */
		if (!e) {
			/* a write transaction's own value is not committed:
			 * its place may be written again */
			if (!marked && off < txn->snap->h.total_bytes)
				fmap_mark(&qf->map, off);
			*out = p + QF_BLOCK_HDR;
		}
		return e;
	}
	struct vbuf *vb = malloc(sizeof *vb + size);
	if (!vb)
		return qerr(QUIRE_ENOMEM, "out of memory");
	if ((e = df_read(qf, vb->data, size, off, "value")) == 0)
		e = value_ok(txn->db, vb->data, size, off, 1);
	if (e) {
		free(vb);
		return e;
	}
	vb->next = *list;
	*list = vb;
	*out = vb->data + QF_BLOCK_HDR;
	return 0;
}

int txn_value(quire_txn *txn, const struct wval *v, struct vbuf **list,
	      quire_val *out)
{
	if (!v->ool) {
		*out = (quire_val){v->data, v->len};
		return 0;
	}
	/* our own out-of-line value may still sit in the append buffer */
	int e = txn->write ? df_flush(txn->db) : 0;
	if (!e)
		e = txn_read_value(txn, v->ool_off, v->len, list, &out->data);
	if (!e)
		out->size = v->len;
	return e;
}

void vbufs_free(struct vbuf **list)
{
	while (*list) {
		struct vbuf *n = (*list)->next;
		free(*list);
		*list = n;
	}
}

int txn_lookup(quire_txn *txn, const void *key, size_t klen,
	       struct wval *v, uint64_t *seq)
{
	*seq = 0;
	if (txn->wb) {
		struct wnode *n = wbuf_find(txn->wb, key, klen);
		if (n) {
			if (n->op == WOP_DEL || n->masked)
				return QUIRE_NOTFOUND;
			*v = n->v;
			*seq = txn->snap->h.next_seq + n->last;
			return 0;
		}
		if (wbuf_span(txn->wb, key, klen))
			return QUIRE_NOTFOUND; /* the transaction deleted it */
	}
	const struct mt_ver *mv =
		mt_get(txn->snap->mt, key, klen, txn->snap->h.next_seq);
	if (mv) {
		if (mv->op == WOP_DEL)
			return QUIRE_NOTFOUND;
		*v = mv->v;
		*seq = mv->seq;
		return 0;
	}
	struct lentry le;
	int e = tree_get(txn->snap->qf, &txn->snap->h.root[QT_KEYS], QT_KEYS, key,
			 klen, &le);
	if (!e) {
		*v = (struct wval){le.val, le.vlen, le.ool, le.ool_off};
		*seq = le.meta;
	}
	return e;
}

int snap_latest_op(const struct snap *s, const void *key, size_t klen,
		   uint64_t *seq, int *live, uint32_t *vlen)
{
	const struct mt_ver *mv = mt_get(s->mt, key, klen, s->h.next_seq);
	struct lentry le;
	int e;
	*seq = 0;
	*live = 0;
	if (mv) {
		*seq = mv->seq;
		*live = mv->op == WOP_PUT;
		if (vlen)
			*vlen = mv->v.len;
		return 0;
	}
	const struct qroot *r = s->h.root;
	if ((e = tree_get(s->qf, &r[QT_KEYS], QT_KEYS, key, klen, &le)) == 0) {
		*seq = le.meta;
		*live = 1;
		if (vlen)
			*vlen = le.vlen;
		return 0;
	}
	if (e != QUIRE_NOTFOUND)
		return e;
	return tomb_lookup(s->qf, &r[QT_DEAD],
			   (s->h.features & QF_FEAT_TAILS) != 0, key, klen, seq);
}

/* Whether key is present in the commit the transaction read (pending
 * operations, then the tree), its own operations aside. */
static int committed_live(quire_txn *txn, const void *key, size_t klen,
			  int *live)
{
	const struct snap *s = txn->snap;
	const struct mt_ver *mv = mt_get(s->mt, key, klen, s->h.next_seq);
	struct lentry le;
	if (mv) {
		*live = mv->op == WOP_PUT;
		return 0;
	}
	int e = tree_get(s->qf, &s->h.root[QT_KEYS], QT_KEYS, key, klen, &le);
	*live = e == 0;
	return e == QUIRE_NOTFOUND ? 0 : e;
}

int committed_count(quire_txn *txn, const struct wrange *r,
			   int64_t *n)
{
	const struct snap *s = txn->snap;
	const struct qroot *root = &s->h.root[QT_KEYS];
	uint64_t lo, hi = root->count;
	struct mt_iter it;
	int e = tree_rank(s->qf, root, QT_KEYS, r->from, r->flen, &lo);
	if (!e && !r->to_last)
		e = tree_rank(s->qf, root, QT_KEYS, r->to, r->tlen, &hi);
	if (e)
		return e;
	*n = (int64_t)(hi - lo);
	mt_iter_init(&it, s->mt, s->h.next_seq);
	for (int m = mt_seek(&it, r->from, r->flen, 1); m == 0;
	     m = mt_next(&it)) {
		uint32_t kl;
		const uint8_t *k = mt_key(&it, &kl);
		struct lentry le;
		if (!wrange_below_end(r, k, kl))
			break;
		e = tree_get(s->qf, root, QT_KEYS, k, kl, &le);
		if (e && e != QUIRE_NOTFOUND)
			return e;
		*n += (mt_ver(&it)->op == WOP_PUT) - (e == 0);
	}
	return 0;
}

int txn_count_range(quire_txn *txn, const struct wrange *r, uint64_t *count)
{
	struct wbuf *wb = txn->wb;
	struct wrange gap = *r;
	int64_t n = 0, part;
	int e = 0;
	/* the committed keys outside the transaction's earlier ranges */
	for (size_t i = 0; wb && i < wb->nspans && !e; i++) {
		const struct wrange *sp = &wb->spans[i];
		if (!wrange_below_end(&gap, sp->from, sp->flen))
			break;
		if (!wrange_below_end(sp, gap.from, gap.flen))
			continue; /* wholly before */
		if (key_cmp(gap.from, gap.flen, sp->from, sp->flen) < 0) {
			struct wrange g = gap;
			g.to = sp->from;
			g.tlen = sp->flen;
			g.to_last = 0;
			if ((e = committed_count(txn, &g, &part)) == 0)
				n += part;
		}
		if (sp->to_last) {
			gap.to_last = 0; /* the rest is inside the span */
			gap.to = gap.from;
			gap.tlen = gap.flen;
			break;
		}
		gap.from = sp->to;
		gap.flen = sp->tlen;
	}
	if (!e && (gap.to_last ||
		   key_cmp(gap.from, gap.flen, gap.to, gap.tlen) < 0) &&
	    (e = committed_count(txn, &gap, &part)) == 0)
		n += part;
	/* the transaction's own operations win over what they hide */
	for (struct wnode *w = wb ? wbuf_seek(wb, r->from, r->flen, 1) : NULL;
	     !e && w && wrange_below_end(r, w->key, w->klen); w = wbuf_next(w)) {
		int live = 0;
		if (w->masked)
			continue; /* an earlier range counted it */
		if (!wbuf_span(wb, w->key, w->klen))
			e = committed_live(txn, w->key, w->klen, &live);
		n += (w->op == WOP_PUT) - live;
	}
	*count = n > 0 ? (uint64_t)n : 0;
	return e;
}
