/*
 * cursor.c - public cursors.
 *
 * On a snapshot a cursor is a tree cursor. On a write transaction it merges
 * two sources: the tree of the commit the transaction started from and the
 * transaction's pending operations; a pending operation hides the tree entry
 * with the same key, and a pending delete hides the key altogether. When the
 * transaction changes under the cursor (txn->gen moves) or the cursor turns
 * around, both sources are re-positioned from the current key, which stays
 * valid because tree nodes and pending keys live until the transaction ends.
 */
#include "config.h"

#include <stdlib.h>

#include "error.h"
#include "tree.h"
#include "txn.h"
#include "wbuf.h"

struct quire_cursor {
	quire_txn *txn;             /* NULL once the transaction ended */
	struct quire_cursor *next;  /* in txn->cursors */
	struct tcur t;
	struct wnode *w;            /* pending-operation source */
	int pos;                    /* 0 unpositioned, 1 at t, 2 at w */
	int dir;                    /* +1 / -1: direction of the last move */
	uint64_t gen;
	const uint8_t *key;         /* current key (write transactions) */
	uint32_t klen;
	struct vbuf *vb;            /* out-of-line value of the current entry */
};

static void drop_value(quire_cursor *c)
{
	for (struct vbuf *v = c->vb, *next; v; v = next) {
		next = v->next;
		free(v);
	}
	c->vb = NULL;
}

int quire_cursor_open(quire_txn *txn, quire_cursor **out)
{
	qerr_clear();
	if (!txn || !out)
		return qerr(QUIRE_EINVAL, "quire_cursor_open: bad arguments");
	quire_cursor *c = calloc(1, sizeof *c);
	if (!c)
		return qerr(QUIRE_ENOMEM, "out of memory");
	c->txn = txn;
	tcur_init(&c->t, txn->db, QT_KEYS, &txn->snap->h.root[QT_KEYS]);
	c->next = txn->cursors;
	txn->cursors = c;
	*out = c;
	return 0;
}

void cursors_detach(quire_txn *txn)
{
	for (quire_cursor *c = txn->cursors; c; c = c->next) {
		drop_value(c);
		c->txn = NULL;
		c->pos = 0;
	}
	txn->cursors = NULL;
}

void quire_cursor_close(quire_cursor *c)
{
	if (!c)
		return;
	if (c->txn) {
		quire_cursor **pp = &c->txn->cursors;
		while (*pp != c)
			pp = &(*pp)->next;
		*pp = c->next;
	}
	drop_value(c);
	free(c);
}

static int usable(quire_cursor *c)
{
	qerr_clear();
	if (!c || !c->txn)
		return qerr(QUIRE_EINVAL, "cursor is closed or its transaction "
					  "ended");
	drop_value(c);
	return 0;
}

/* Whether the tree source is positioned at key (0 if not), else the sign
 * of its key against key. */
static int tree_cmp(const quire_cursor *c, const void *key, size_t klen)
{
	uint32_t kl;
	const uint8_t *k = tcur_key(&c->t, &kl);
	return key_cmp(k, kl, key, klen);
}

/* Tree errors end the position; NOTFOUND is not an error here. */
static int tree_step(quire_cursor *c, int r)
{
	return r == QUIRE_NOTFOUND ? 0 : r;
}

/* Pick the entry that comes first in direction dir, skipping keys deleted
 * by the transaction. */
static int settle(quire_cursor *c, int dir)
{
	struct wbuf *wb = c->txn->wb;
	int e;
	c->dir = dir;
	c->gen = c->txn->gen;
	for (;;) {
		uint32_t tkl = 0;
		const uint8_t *tk = c->t.valid ? tcur_key(&c->t, &tkl) : NULL;
		struct wnode *w = c->w;
		if (!tk && !w) {
			c->pos = 0;
			return QUIRE_NOTFOUND;
		}
		int cmp = !w ? -1 : !tk ? 1 : key_cmp(tk, tkl, w->key, w->klen) * dir;
		if (cmp < 0) {
			c->pos = 1;
			c->key = tk;
			c->klen = tkl;
			return 0;
		}
		if (w->op == WOP_PUT) {
			c->pos = 2;
			c->key = w->key;
			c->klen = w->klen;
			return 0;
		}
		if (cmp == 0 &&
		    (e = tree_step(c, dir > 0 ? tcur_next(&c->t)
					      : tcur_prev(&c->t))) != 0)
			return e;
		c->w = dir > 0 ? wbuf_next(w)
			       : wbuf_seek_back(wb, w->key, w->klen, 0);
	}
}

/* Position both sources at key (incl: key itself may be the answer). */
static int position(quire_cursor *c, const void *key, size_t klen, int dir,
		    int incl)
{
	struct wbuf *wb = c->txn->wb;
	int r = tcur_seek(&c->t, key, klen);
	if (r && r != QUIRE_NOTFOUND)
		return r;
	if (dir > 0) {
		if (c->t.valid && !incl && tree_cmp(c, key, klen) == 0 &&
		    (r = tree_step(c, tcur_next(&c->t))) != 0)
			return r;
		c->w = wb ? wbuf_seek(wb, key, klen, incl) : NULL;
	} else {
		if (!c->t.valid) {
			r = tcur_last(&c->t);
		} else {
			int cmp = tree_cmp(c, key, klen);
			if (cmp > 0 || (cmp == 0 && !incl))
				r = tcur_prev(&c->t);
		}
		if ((r = tree_step(c, r)) != 0)
			return r;
		c->w = wb ? wbuf_seek_back(wb, key, klen, incl) : NULL;
	}
	return settle(c, dir);
}

int quire_cursor_seek(quire_cursor *c, const void *key, size_t klen)
{
	int e = usable(c);
	if (e)
		return e;
	if (!key && klen)
		return qerr(QUIRE_EINVAL, "quire_cursor_seek: bad arguments");
	if (klen > QUIRE_MAX_KEY_SIZE)
		return qerr(QUIRE_ETOOBIG, "quire_cursor_seek: key too long");
	if (!c->txn->wb) {
		e = tcur_seek(&c->t, key, klen);
		c->pos = c->t.valid;
		return e;
	}
	return position(c, key, klen, 1, 1);
}

static int edge(quire_cursor *c, int dir)
{
	int e = usable(c);
	if (e)
		return e;
	e = dir > 0 ? tcur_first(&c->t) : tcur_last(&c->t);
	if (!c->txn->wb) {
		c->pos = c->t.valid;
		return e;
	}
	if ((e = tree_step(c, e)) != 0)
		return e;
	c->w = dir > 0 ? wbuf_first(c->txn->wb)
		       : wbuf_seek_back(c->txn->wb, NULL, 0, 1);
	return settle(c, dir);
}

int quire_cursor_first(quire_cursor *c)
{
	return edge(c, 1);
}

int quire_cursor_last(quire_cursor *c)
{
	return edge(c, -1);
}

static int step(quire_cursor *c, int dir)
{
	int e = usable(c);
	if (e)
		return e;
	if (!c->txn->wb) {
		e = dir > 0 ? tcur_next(&c->t) : tcur_prev(&c->t);
		c->pos = c->t.valid;
		return e;
	}
	if (!c->pos)
		return edge(c, dir);
	if (c->gen != c->txn->gen || c->dir != dir)
		return position(c, c->key, c->klen, dir, 0);
	if (c->t.valid && tree_cmp(c, c->key, c->klen) == 0 &&
	    (e = tree_step(c, dir > 0 ? tcur_next(&c->t) : tcur_prev(&c->t))))
		return e;
	if (c->w && key_cmp(c->w->key, c->w->klen, c->key, c->klen) == 0)
		c->w = dir > 0 ? wbuf_next(c->w)
			       : wbuf_seek_back(c->txn->wb, c->key, c->klen, 0);
	return settle(c, dir);
}

int quire_cursor_next(quire_cursor *c)
{
	return step(c, 1);
}

int quire_cursor_prev(quire_cursor *c)
{
	return step(c, -1);
}

/* On a write transaction the entry under the cursor may have been replaced
 * or deleted since the cursor moved there: look again. A deleted key leaves
 * the cursor between keys (QUIRE_NOTFOUND) until it moves. */
static int current(quire_cursor *c)
{
	if (!c->txn->wb || c->gen == c->txn->gen)
		return 0;
	struct wnode *w = wbuf_find(c->txn->wb, c->key, c->klen);
	if (!w)
		return 0;
	if (w->op == WOP_DEL)
		return QUIRE_NOTFOUND;
	c->w = w; /* the next move re-positions: c->gen stays behind */
	c->pos = 2;
	c->key = w->key;
	return 0;
}

int quire_cursor_key(quire_cursor *c, quire_val *k)
{
	qerr_clear();
	if (!c || !c->txn || !k)
		return qerr(QUIRE_EINVAL, "quire_cursor_key: bad arguments");
	if (!c->pos)
		return QUIRE_NOTFOUND;
	if (!c->txn->wb) {
		uint32_t kl = 0;
		k->data = tcur_key(&c->t, &kl);
		k->size = kl;
	} else {
		k->data = c->key;
		k->size = c->klen;
	}
	return 0;
}

int quire_cursor_value(quire_cursor *c, quire_val *v)
{
	qerr_clear();
	if (!c || !c->txn || !v)
		return qerr(QUIRE_EINVAL, "quire_cursor_value: bad arguments");
	if (!c->pos || current(c))
		return QUIRE_NOTFOUND;
	drop_value(c);
	if (c->pos == 2)
		return txn_value(c->txn, &c->w->v, &c->vb, v);
	struct lentry le;
	tcur_entry(&c->t, &le);
	return txn_leaf_value(c->txn, &le, &c->vb, v);
}
