/*
 * cursor.c - public cursors.
 *
 * A cursor merges up to three sources, in rising priority: the tree of the
 * transaction's commit, that commit's pending operations (the memtable, read
 * at the snapshot's bound), and, in a write transaction, its own pending
 * writes. For equal keys the highest source wins, and a delete there hides
 * the key altogether. A snapshot without pending operations is a plain tree
 * cursor, the fast path of long scans.
 *
 * When the write transaction changes under the cursor (txn->gen moves) or
 * the cursor turns around, the sources are re-positioned from the current
 * key, which stays valid because tree nodes, memtable keys and pending keys
 * all live until the transaction ends.
 *
 * A cursor of a keyspace (kspace.h) moves over internal keys, stops at
 * the edges of the keyspace's range and hands out the user's part of the
 * key; a cursor of the default keyspace of a file without keyspaces has no
 * edges and nothing to strip.
 */
#include "config.h"

#include <stdlib.h>

#include "error.h"
#include "cursor.h"
#include "file.h"
#include "kspace.h"
#include "lookup.h"
#include "memtable.h"
#include "tree.h"
#include "txn.h"
#include "wbuf.h"

enum { SRC_NONE, SRC_TREE, SRC_MT, SRC_WB };

struct quire_cursor {
	quire_txn *txn;             /* NULL once the transaction ended */
	struct txn_dep dep;         /* on txn */
	int simple;                 /* tree only: no pending operations */
	uint8_t edges;              /* the keyspace's range has edges (lo, hi):
				     * a move checks them */
	uint8_t plain;              /* keys are the user's as they are */
	uint8_t tree_only;          /* simple and without edges */
	struct tcur t;
	struct mt_iter m;
	int mvalid;
	struct wnode *w;            /* write transaction source */
	int pos;                    /* SRC_* of the current entry */
	unsigned at;                /* 1 << SRC_* of every source sitting at
				     * the current key (settle) */
	int dir;                    /* +1 / -1: direction of the last move */
	uint64_t gen;
	const uint8_t *key;         /* current key */
	uint32_t klen;
	struct lentry le;           /* current tree entry, decoded once */
	struct vbuf *vb;            /* out-of-line value of the current entry */
	struct kspace ks;
	uint8_t lo[KS_DATA_PFX], hi[KS_DATA_PFX]; /* the keyspace's range */
	size_t lol, hil;            /* 0: no edge there */
};

static void drop_value(quire_cursor *c)
{
	if (c->vb)
		vbufs_free(&c->vb);
}

/* The cursor now sits on the tree's current entry. */
static void at_tree_entry(quire_cursor *c)
{
	tcur_entry(&c->t, &c->le);
	c->key = c->le.key;
	c->klen = c->le.klen;
}

/* A move of a tree-only cursor: where it landed. */
static int tree_moved(quire_cursor *c, int e)
{
	c->pos = c->t.valid ? SRC_TREE : SRC_NONE;
	if (!e)
		at_tree_entry(c);
	return e;
}

/* The transaction ended: only closing is left. */
static void cursor_detach(struct txn_dep *d)
{
	quire_cursor *c = DEP_OWNER(d, quire_cursor, dep);
	drop_value(c);
	c->txn = NULL;
	c->pos = SRC_NONE;
}

int cursor_open_ks(quire_txn *txn, const struct kspace *ks,
		   quire_cursor **out)
{
	quire_cursor *c = calloc(1, sizeof *c);
	if (!c)
		return qerr(QUIRE_ENOMEM, "out of memory");
	c->ks = *ks;
	c->plain = !ks->id && !ks->esc;
	if (!c->plain)
		ks_bounds(ks, c->lo, &c->lol, c->hi, &c->hil);
	c->edges = c->lol || c->hil;
	c->txn = txn;
	tcur_init(&c->t, txn->snap->qf, QT_KEYS, &txn->snap->h.root[QT_KEYS]);
	mt_iter_init(&c->m, txn->snap->mt, txn->snap->h.next_seq);
	c->simple = !txn->wb && txn->snap->h.pending_ops == 0;
	c->tree_only = c->simple && !c->edges;
	txn_dep_add(txn, &c->dep, cursor_detach);
	*out = c;
	return 0;
}

int quire_cursor_open(quire_txn *txn, quire_cursor **out)
{
	qerr_clear();
	if (!txn_usable(txn))
		return txn_unusable(txn, "quire_cursor_open");
	if (!out)
		return qerr(QUIRE_EINVAL, "quire_cursor_open: bad arguments");
	struct kspace ks = ks_of(txn);
	return cursor_open_ks(ks_base(txn), &ks, out);
}

void quire_cursor_close(quire_cursor *c)
{
	if (!c)
		return;
	txn_dep_del(&c->dep);
	drop_value(c);
	free(c);
}

/* Cursor calls run once per entry of a scan: they leave the thread's
 * message alone unless they fail (quire_errmsg() is about the most recent
 * failure). */
static int usable(quire_cursor *c)
{
	if (!c || !c->txn)
		return qerr(QUIRE_EINVAL, "cursor is closed or its transaction "
					  "ended");
	drop_value(c);
	return 0;
}

/* Tree moves: NOTFOUND just ends that source. */
static int tree_done(int r)
{
	return r == QUIRE_NOTFOUND ? 0 : r;
}

static int tree_cmp(const quire_cursor *c, const void *key, size_t klen)
{
	uint32_t kl;
	const uint8_t *k = tcur_key(&c->t, &kl);
	return key_cmp(k, kl, key, klen);
}

static void mt_step(quire_cursor *c, int dir)
{
	c->mvalid = (dir > 0 ? mt_next(&c->m) : mt_prev(&c->m)) == 0;
}

static void wb_step(quire_cursor *c, int dir)
{
	struct wnode *w = c->w;
	c->w = dir > 0 ? wbuf_next(w)
		       : wbuf_seek_back(c->txn->wb, w->key, w->klen, 0);
}

/* Move every source that sits at the current key (c->at, which settle
 * found) one step in direction dir. */
static int step_past(quire_cursor *c, int dir)
{
	int e;
	if ((c->at & 1u << SRC_TREE) &&
	    (e = tree_done(dir > 0 ? tcur_next(&c->t) : tcur_prev(&c->t))))
		return e;
	if (c->at & 1u << SRC_MT)
		mt_step(c, dir);
	if (c->at & 1u << SRC_WB)
		wb_step(c, dir);
	return 0;
}

/* Move the tree and the memtable past span sp (a range the transaction
 * deleted) in direction dir; the transaction's own keys stay where they
 * are, since those inside it came after the delete. */
static int skip_span(quire_cursor *c, const struct wrange *sp, int dir)
{
	int r;
	if (dir > 0) {
		if (sp->to_last) {
			c->t.valid = 0;
			c->mvalid = 0;
			return 0;
		}
		c->mvalid = mt_seek(&c->m, sp->to, sp->tlen, 1) == 0;
		return tree_done(tcur_seek(&c->t, sp->to, sp->tlen));
	}
	c->mvalid = mt_seek_back(&c->m, sp->from, sp->flen, 0) == 0;
	r = tcur_seek(&c->t, sp->from, sp->flen);
	if (r && r != QUIRE_NOTFOUND)
		return r;
	return tree_done(c->t.valid ? tcur_prev(&c->t) : tcur_last(&c->t));
}

/* Take the entry that comes first in direction dir; a delete in a higher
 * source hides the key in the lower ones, and so does a range the
 * transaction deleted. */
static int settle(quire_cursor *c, int dir)
{
	c->dir = dir;
	c->gen = c->txn->gen;
	for (;;) {
		const uint8_t *k = NULL, *ck;
		uint32_t kl = 0, ckl;
		int src = SRC_NONE, del = 0, e, r;
		const struct wrange *sp;
		unsigned at = 0;
		if (c->t.valid) { /* decoded once: the likely winner */
			tcur_entry(&c->t, &c->le);
			k = c->le.key;
			kl = c->le.klen;
			src = SRC_TREE;
			at = 1u << SRC_TREE;
		}
		if (c->mvalid) {
			ck = mt_key(&c->m, &ckl);
			r = k ? key_cmp(ck, ckl, k, kl) * dir : -1;
			if (r <= 0) {
				k = ck;
				kl = ckl;
				src = SRC_MT;
				del = mt_ver(&c->m)->op == WOP_DEL;
				at = (r ? 0 : at) | 1u << SRC_MT;
			}
		}
		if (c->w) {
			r = k ? key_cmp(c->w->key, c->w->klen, k, kl) * dir : -1;
			if (r <= 0) {
				k = c->w->key;
				kl = c->w->klen;
				src = SRC_WB;
				del = c->w->op == WOP_DEL || c->w->masked;
				at = (r ? 0 : at) | 1u << SRC_WB;
			}
		}
		c->at = at;
		if (src == SRC_NONE) {
			c->pos = SRC_NONE;
			return QUIRE_NOTFOUND;
		}
		if (!del && src != SRC_WB && c->txn->wb && c->txn->wb->nspans &&
		    (sp = wbuf_span(c->txn->wb, k, kl)) != NULL) {
			if ((e = skip_span(c, sp, dir)) != 0)
				return e;
			continue;
		}
		if (!del) {
			c->pos = src;
			c->key = k;
			c->klen = kl;
			return 0;
		}
		if ((e = step_past(c, dir)) != 0)
			return e;
	}
}

/* Position every source at key (incl: key itself may be the answer). */
static int position(quire_cursor *c, const void *key, size_t klen, int dir,
		    int incl)
{
	struct wbuf *wb = c->txn->wb;
	int r = tcur_seek(&c->t, key, klen);
	if (r && r != QUIRE_NOTFOUND)
		return r;
	if (dir > 0) {
		if (c->t.valid && !incl && tree_cmp(c, key, klen) == 0 &&
		    (r = tree_done(tcur_next(&c->t))) != 0)
			return r;
		c->mvalid = mt_seek(&c->m, key, klen, incl) == 0;
		c->w = wb ? wbuf_seek(wb, key, klen, incl) : NULL;
	} else {
		if (!c->t.valid) {
			r = tcur_last(&c->t);
		} else {
			int cmp = tree_cmp(c, key, klen);
			if (cmp > 0 || (cmp == 0 && !incl))
				r = tcur_prev(&c->t);
		}
		if ((r = tree_done(r)) != 0)
			return r;
		c->mvalid = mt_seek_back(&c->m, key, klen, incl) == 0;
		c->w = wb ? wbuf_seek_back(wb, key, klen, incl) : NULL;
	}
	return settle(c, dir);
}

/* A move that read nodes in place: a page that could not be read reads
 * as zeros (fmap.h), so the move's result stands only if none failed. */
static int checked(quire_cursor *c, int e)
{
	return e ? e : qfile_check(c->txn->snap->qf);
}

/* A cursor that moved past an edge of its keyspace is off it; a move in
 * direction dir (0: a seek, either) can pass only the edge ahead. */
static int past_edge(quire_cursor *c, int dir)
{
	if (c->pos != SRC_NONE &&
	    ((dir <= 0 && c->lol &&
	      key_cmp(c->key, c->klen, c->lo, c->lol) < 0) ||
	     (dir >= 0 && c->hil &&
	      key_cmp(c->key, c->klen, c->hi, c->hil) >= 0))) {
		c->pos = SRC_NONE;
		return QUIRE_NOTFOUND;
	}
	return 0;
}

/* After a move that gave e: a cursor of a keyspace with edges checks them
 * (kept out of the way of the other cursors' scans). */
static inline int bound(quire_cursor *c, int e, int dir)
{
	if (QUNLIKELY(e == 0 && c->edges))
		return past_edge(c, dir);
	return e;
}

/* Internal key ik, or the first key after it. */
static int seek(quire_cursor *c, const void *ik, size_t il)
{
	if (c->simple)
		return tree_moved(c, tcur_seek(&c->t, ik, il));
	return position(c, ik, il, 1, 1);
}

int quire_cursor_seek(quire_cursor *c, const void *key, size_t klen)
{
	struct ikey k;
	int e = usable(c);
	if (e)
		return e;
	if (!key && klen)
		return qerr(QUIRE_EINVAL, "quire_cursor_seek: bad arguments");
	if (klen > QUIRE_MAX_KEY_SIZE)
		return qerr(QUIRE_ETOOBIG, "quire_cursor_seek: key too long");
	if (ikey_make(&k, &c->ks, key, klen))
		return qerr(QUIRE_ENOMEM, "out of memory");
	e = checked(c, bound(c, seek(c, k.p, k.len), 0));
	ikey_done(&k);
	return e;
}

/* The last key before the keyspace's upper edge. */
static int before_hi(quire_cursor *c)
{
	if (!c->simple)
		return position(c, c->hi, c->hil, -1, 0);
	int e = tcur_seek(&c->t, c->hi, c->hil);
	if (e && e != QUIRE_NOTFOUND)
		return e;
	return tree_moved(c, c->t.valid ? tcur_prev(&c->t) : tcur_last(&c->t));
}

static int edge(quire_cursor *c, int dir)
{
	int e = usable(c);
	if (e)
		return e;
	if (dir > 0 && c->lol)
		return seek(c, c->lo, c->lol);
	if (dir < 0 && c->hil)
		return before_hi(c);
	e = dir > 0 ? tcur_first(&c->t) : tcur_last(&c->t);
	if (c->simple)
		return tree_moved(c, e);
	if ((e = tree_done(e)) != 0)
		return e;
	c->mvalid = (dir > 0 ? mt_first(&c->m) : mt_last(&c->m)) == 0;
	c->w = !c->txn->wb ? NULL
	       : dir > 0   ? wbuf_first(c->txn->wb)
			   : wbuf_seek_back(c->txn->wb, NULL, 0, 1);
	return settle(c, dir);
}

int quire_cursor_first(quire_cursor *c)
{
	return checked(c, bound(c, edge(c, 1), 0));
}

int quire_cursor_last(quire_cursor *c)
{
	return checked(c, bound(c, edge(c, -1), 0));
}

/* A step of a cursor with pending sources or keyspace edges. */
static int step_merged(quire_cursor *c, int dir)
{
	int e;
	/* off the keyspace (or never on it): start from its edge, as a
	 * cursor past the tree's end starts from the tree's */
	if (c->pos == SRC_NONE)
		return edge(c, dir);
	if (c->simple)
		return tree_moved(c, dir > 0 ? tcur_next(&c->t)
					     : tcur_prev(&c->t));
	if (c->gen != c->txn->gen || c->dir != dir)
		return position(c, c->key, c->klen, dir, 0);
	if ((e = step_past(c, dir)) != 0)
		return e;
	return settle(c, dir);
}

/* The next (dir 1) or previous entry: a tree-only cursor without edges,
 * the usual scan, takes one test to its tree's step. */
static int step(quire_cursor *c, int dir)
{
	int e = usable(c);
	if (e)
		return e;
	if (QLIKELY(c->tree_only))
		return tree_moved(c, dir > 0 ? tcur_next(&c->t)
					     : tcur_prev(&c->t));
	return bound(c, step_merged(c, dir), dir);
}

int quire_cursor_next(quire_cursor *c)
{
	return checked(c, step(c, 1));
}

int quire_cursor_prev(quire_cursor *c)
{
	return checked(c, step(c, -1));
}

/* On a write transaction the entry under the cursor may have been replaced
 * or deleted since the cursor moved there: look again. A deleted key leaves
 * the cursor between keys (QUIRE_NOTFOUND) until it moves. */
static int recheck(quire_cursor *c)
{
	struct wnode *w = wbuf_find(c->txn->wb, c->key, c->klen);
	if (!w)
		return wbuf_span(c->txn->wb, c->key, c->klen) ? QUIRE_NOTFOUND
							      : 0;
	if (w->op == WOP_DEL || w->masked)
		return QUIRE_NOTFOUND;
	c->w = w; /* the next move re-positions: c->gen stays behind */
	c->pos = SRC_WB;
	c->key = w->key;
	return 0;
}

static inline int current(quire_cursor *c)
{
	return !c->txn->wb || c->gen == c->txn->gen ? 0 : recheck(c);
}

int quire_cursor_key(quire_cursor *c, quire_val *k)
{
	if (!c || !c->txn || !k)
		return qerr(QUIRE_EINVAL, "quire_cursor_key: bad arguments");
	if (c->pos == SRC_NONE || current(c))
		return QUIRE_NOTFOUND;
	size_t skip = c->plain ? 0 : ks_skip(&c->ks, c->key, c->klen);
	k->data = c->key + skip;
	k->size = c->klen - skip;
	return qfile_check(c->txn->snap->qf);
}

int quire_cursor_value(quire_cursor *c, quire_val *v)
{
	if (!c || !c->txn || !v)
		return qerr(QUIRE_EINVAL, "quire_cursor_value: bad arguments");
	if (c->pos == SRC_NONE || current(c))
		return QUIRE_NOTFOUND;
	drop_value(c);
	if (c->pos == SRC_WB)
		return txn_value(c->txn, &c->w->v, &c->vb, v);
	if (c->pos == SRC_MT)
		return txn_value(c->txn, &mt_ver(&c->m)->v, &c->vb, v);
	return checked(c, txn_leaf_value(c->txn, &c->le, &c->vb, v));
}

int cursor_vlen(quire_cursor *c, uint64_t *vlen)
{
	if (c->pos == SRC_NONE || current(c))
		return QUIRE_NOTFOUND;
	*vlen = c->pos == SRC_WB   ? c->w->v.len
		: c->pos == SRC_MT ? mt_ver(&c->m)->v.len
				   : c->le.vlen;
	return 0;
}
