/*
 * tomb.c - the tombstone tree as a map of deletions.
 *
 * A key's history starts at its latest operation, which for a key the key
 * tree no longer holds is a deletion: a delete leaves an entry of its key
 * with its sequence number. A range delete cuts its keys out of the key
 * tree without visiting them (O(log n + nodes touched)), so it cannot
 * leave an entry per key. Instead an entry may carry a *tail* (its value):
 * the keys after its own, up to the tail's end, were last decided by the
 * tail's range delete. The entry with the greatest key at or before k
 * decides k: by its own sequence number if it is k's entry, else by its
 * tail if that reaches k.
 *
 * A checkpoint keeps that rule true. Each span (the union of the
 * transaction's range deletes over one stretch of keys) clears the entries
 * inside it and starts an entry at each part of it that one range delete
 * was the newest over (a delete inside made before that range is the
 * range's: in a key's history, a range covers the transaction's earlier
 * operations on the key); where an older tail reached past the span's end,
 * a copy of it starts there. A delete records its key's entry and carries
 * on the tail that reached its key; a put removes its key's entry unless a
 * tail starts there. A tail is self-contained (sequence number and end),
 * so carrying one on reuses the old entry's value bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "file.h"
#include "tomb.h"
#include "tree.h"
#include "util.h"

/* A tail's value: varint seq, varint end (0: to the last key; else the end
 * key's length + 1), the end key. */
int ttail_get(const uint8_t *v, uint32_t vlen, struct ttail *t)
{
	const uint8_t *end = v + vlen;
	uint64_t e;
	size_t k;
	if (!vlen)
		return 0;
	if (!(k = varint_get(v, end, &t->seq)) || !t->seq)
		return -1;
	v += k;
	if (!(k = varint_get(v, end, &e)) || e > QF_MAX_KEY + 1 ||
	    (uint64_t)(end - v - k) != (e ? e - 1 : 0))
		return -1;
	t->to_last = !e;
	t->end = v + k;
	t->elen = e ? (uint32_t)(e - 1) : 0;
	return 1;
}

/* The value of tail (seq, end) in ar. */
static const uint8_t *ttail_put(struct arena *ar, uint64_t seq,
				const uint8_t *end, uint32_t elen,
				uint32_t *len)
{
	uint8_t *p = arena_alloc(ar, 2 * VARINT_MAX + elen), *q = p;
	if (!p)
		return NULL;
	q += varint_put(q, seq);
	q += varint_put(q, end ? (uint64_t)elen + 1 : 0);
	if (end && elen)
		memcpy(q, end, elen);
	*len = (uint32_t)(q - p) + (end ? elen : 0);
	return p;
}

/* The entry with the greatest key at or before key: 0, QUIRE_NOTFOUND
 * (none), or an error. */
static int tomb_floor(struct qfile *qf, const struct qroot *root,
		      const void *key, size_t klen, struct lentry *le)
{
	struct tcur c;
	tcur_init(&c, qf, QT_DEAD, root);
	int e = tcur_seek(&c, key, klen);
	if (!e) {
		uint32_t kl;
		const uint8_t *k = tcur_key(&c, &kl);
		if (key_cmp(k, kl, key, klen) > 0)
			e = tcur_prev(&c);
	} else if (e == QUIRE_NOTFOUND) {
		e = tcur_last(&c);
	}
	if (!e)
		tcur_entry(&c, le);
	if (!e && le->ool)
		e = qerr(QUIRE_ECORRUPT, "%s: a tombstone with a value block",
			 qf->path);
	return qfile_check(qf) ? qfile_fault(qf) : e;
}

static int malformed(const struct qfile *qf)
{
	return qerr(QUIRE_ECORRUPT, "%s: malformed tombstone tail", qf->path);
}

/* Where key stands in the tree: the entry at or before it (*le; le->key
 * NULL: none), whether that is key's own (*exact), and its tail (*has). */
static int standing(struct qfile *qf, const struct qroot *root,
		    const void *key, size_t klen, struct lentry *le,
		    int *exact, struct ttail *t, int *has)
{
	*exact = *has = 0;
	le->key = NULL;
	int e = tomb_floor(qf, root, key, klen, le);
	if (e)
		return e == QUIRE_NOTFOUND ? 0 : e;
	*exact = !key_cmp(le->key, le->klen, key, klen);
	*has = ttail_get(le->val, le->vlen, t);
	return *has < 0 ? malformed(qf) : 0;
}

int tomb_lookup(struct qfile *qf, const struct qroot *root, int tails,
		const void *key, size_t klen, uint64_t *seq)
{
	struct lentry le;
	struct ttail t;
	int e;
	*seq = 0;
	if (!tails) {
		e = tree_get(qf, root, QT_DEAD, key, klen, &le);
		if (!e)
			*seq = le.meta;
		return e == QUIRE_NOTFOUND ? 0 : e;
	}
	int exact, has;
	if ((e = standing(qf, root, key, klen, &le, &exact, &t, &has)) != 0)
		return e;
	if (exact)
		*seq = le.meta;
	else if (has && ttail_reaches(&t, key, klen))
		*seq = t.seq;
	return 0;
}

int tomb_carry(struct qfile *qf, const struct qroot *root, const void *key,
	       size_t klen, int *exact, const uint8_t **v, uint32_t *vlen)
{
	struct lentry le;
	struct ttail t;
	int has, e = standing(qf, root, key, klen, &le, exact, &t, &has);
	*v = NULL;
	*vlen = 0;
	if (!e && has && (*exact || ttail_reaches(&t, key, klen))) {
		*v = le.val;
		*vlen = le.vlen;
	}
	return e;
}

int tomb_last(struct qfile *qf, const struct qroot *root, const uint8_t **k,
	      uint32_t *kl, struct ttail *t, int *has)
{
	struct tcur c;
	struct lentry le;
	*k = NULL;
	*kl = 0;
	*has = 0;
	tcur_init(&c, qf, QT_DEAD, root);
	int e = tcur_last(&c);
	if (e)
		return e == QUIRE_NOTFOUND ? 0 : e;
	tcur_entry(&c, &le);
	if ((*has = le.ool ? -1 : ttail_get(le.val, le.vlen, t)) < 0)
		return malformed(qf);
	*k = le.key;
	*kl = le.klen;
	return 0;
}

/* ---- a checkpoint's mutations ---------------------------------------- */

/* A range delete of the transaction and its sequence number. */
struct rdel {
	const struct wrange *r;
	uint64_t seq;
};

struct tmuts {
	struct mut *v;
	size_t n, cap;
	struct arena *ar;
	struct qfile *qf;
	const struct qroot *root; /* the tree before the checkpoint */
	int tails;                /* it may hold tails */
	struct rdel *rd;          /* the transaction's range deletes by first
				   * key: each span's are the next ones */
	size_t nrd, at;
};

static int push(struct tmuts *t, struct mut m)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? 2 * t->cap : 64;
		struct mut *nv = realloc(t->v, nc * sizeof *nv);
		if (!nv)
			return qerr(QUIRE_ENOMEM, "out of memory");
		t->v = nv;
		t->cap = nc;
	}
	t->v[t->n++] = m;
	return 0;
}

static int put(struct tmuts *t, const uint8_t *k, uint32_t kl, uint64_t seq,
	       const uint8_t *v, uint32_t vlen)
{
	return push(t, (struct mut){.key = k,
				    .klen = kl,
				    .del = MUT_PUT,
				    .meta = seq,
				    .v = {.data = v, .len = vlen}});
}

/* tomb_carry() in the tree before the checkpoint (nothing without tails). */
static int before(struct tmuts *t, const uint8_t *k, uint32_t kl, int *exact,
		  const uint8_t **v, uint32_t *vlen)
{
	*exact = 0;
	*v = NULL;
	*vlen = 0;
	return t->tails ? tomb_carry(t->qf, t->root, k, kl, exact, v, vlen)
			: 0;
}

/* A part of a span: from its start to the next part's (or the span's end),
 * the range delete that was the newest there. */
struct part {
	const uint8_t *from;
	uint32_t flen;
	uint64_t seq;
	const uint8_t *tail; /* its entry's value */
	uint32_t tlen;
};

struct bound {
	const uint8_t *k;
	uint32_t kl;
};

static int bound_cmp(const void *a, const void *b)
{
	const struct bound *x = a, *y = b;
	return key_cmp(x->k, x->kl, y->k, y->kl);
}

static int in_span(const struct wrange *sp, const uint8_t *k, uint32_t kl)
{
	return key_cmp(k, kl, sp->from, sp->flen) >= 0 &&
	       wrange_below_end(sp, k, kl);
}

static int rdel_cmp(const void *a, const void *b)
{
	const struct wrange *x = ((const struct rdel *)a)->r,
			    *y = ((const struct rdel *)b)->r;
	return key_cmp(x->from, x->flen, y->from, y->flen);
}

/* The transaction's range deletes, by first key. */
static int range_dels(struct tmuts *t, const struct wbuf *wb, uint64_t seq0)
{
	if (!wb->nspans)
		return 0;
	if (!(t->rd = malloc(wb->nops * sizeof *t->rd)))
		return qerr(QUIRE_ENOMEM, "out of memory");
	for (size_t i = 0; i < wb->nops; i++)
		if (wb->ops[i].op == WOP_RANGE)
			t->rd[t->nrd++] = (struct rdel){wb->ops[i].r, seq0 + i};
	qsort(t->rd, t->nrd, sizeof *t->rd, rdel_cmp);
	return 0;
}

/* The parts of span sp: where each of the transaction's range deletes in
 * it starts or ends, the newest one covering the stretch after. */
static int span_parts(struct tmuts *t, const struct wrange *sp,
		      struct part **out, size_t *nout)
{
	const struct rdel *rd = t->rd + t->at;
	size_t m = 0, nb = 0, np = 0;
	while (t->at + m < t->nrd &&
	       in_span(sp, rd[m].r->from, rd[m].r->flen))
		m++;
	t->at += m;
	struct bound *b = malloc((2 * m + 1) * sizeof *b);
	struct part *p = malloc((2 * m + 1) * sizeof *p);
	int e = 0;
	if (!b || !p) {
		e = qerr(QUIRE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m; i++) {
		const struct wrange *r = rd[i].r;
		b[nb++] = (struct bound){r->from, r->flen};
		if (!r->to_last && wrange_below_end(sp, r->to, r->tlen))
			b[nb++] = (struct bound){r->to, r->tlen};
	}
	qsort(b, nb, sizeof *b, bound_cmp);
	for (size_t j = 0; j < nb; j++) {
		if (j && !bound_cmp(&b[j - 1], &b[j]))
			continue;
		uint64_t newest = 0;
		for (size_t i = 0; i < m; i++) {
			const struct wrange *r = rd[i].r;
			if (key_cmp(r->from, r->flen, b[j].k, b[j].kl) > 0)
				break; /* by first key: none further */
			if (wrange_below_end(r, b[j].k, b[j].kl))
				newest = QMAX(newest, rd[i].seq);
		}
		if (!newest) { /* a span is the union of its ranges */
			e = qerr(QUIRE_ECORRUPT, "range deletes do not cover "
						 "their span");
			goto out;
		}
		if (!np || p[np - 1].seq != newest)
			p[np++] = (struct part){b[j].k, b[j].kl, newest, NULL,
						0};
	}
	if (!np) {
		e = qerr(QUIRE_ECORRUPT, "a span without range deletes");
		goto out;
	}
	for (size_t j = 0; j < np; j++) { /* each part's tail */
		const uint8_t *end = j + 1 < np ? p[j + 1].from
				     : sp->to_last ? NULL
						   : sp->to;
		uint32_t elen = j + 1 < np ? p[j + 1].flen : sp->tlen;
		if (!(p[j].tail = ttail_put(t->ar, p[j].seq, end, elen,
					    &p[j].tlen))) {
			e = qerr(QUIRE_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	free(b);
	if (e) {
		free(p);
		p = NULL;
	}
	*out = p;
	*nout = np;
	return e;
}

/* Span sp (km[*i], the MUT_RANGE) and the key mutations inside it. */
static int span_muts(struct tmuts *t, const struct mut *km, size_t nk,
		     size_t *i)
{
	const struct mut *r = &km[(*i)++];
	struct wrange sp = {.from = r->key,
			    .flen = r->klen,
			    .to = r->end.key,
			    .tlen = r->end.klen,
			    .to_last = !r->end.key};
	struct part *p;
	size_t np, j = 0;
	int e = span_parts(t, &sp, &p, &np);
	if (e || (e = push(t, *r)) != 0)
		goto out;
	/* the parts' entries and the deletes inside, in key order */
	while (!e && (j < np || (*i < nk && km[*i].del != MUT_RANGE &&
				 in_span(&sp, km[*i].key, km[*i].klen)))) {
		const struct mut *k = &km[*i];
		int inside = *i < nk && k->del != MUT_RANGE &&
			     in_span(&sp, k->key, k->klen);
		int c = j == np ? 1
			: !inside
			    ? -1
			    : key_cmp(p[j].from, p[j].flen, k->key, k->klen);
		if (c <= 0) { /* a part starts (a delete of its key too) */
			int del = !c && k->del;
			e = put(t, p[j].from, p[j].flen,
				del ? QMAX(k->meta, p[j].seq) : p[j].seq,
				p[j].tail, p[j].tlen);
			j++;
			*i += !c;
		} else { /* inside part j - 1: a delete after its range has
			  * an entry, one before it is the range's */
			if (k->del && k->meta > p[j - 1].seq)
				e = put(t, k->key, k->klen, k->meta,
					p[j - 1].tail, p[j - 1].tlen);
			(*i)++;
		}
	}
	if (e || sp.to_last || !t->tails)
		goto out;
	/* an older tail that reached past the span goes on from its end
	 * (a delete of that key carries it on itself) */
	int exact;
	const uint8_t *v;
	uint32_t vlen;
	struct ttail tt;
	if ((e = before(t, sp.to, sp.tlen, &exact, &v, &vlen)) != 0 || exact ||
	    !vlen)
		goto out;
	if (*i < nk && km[*i].del == MUT_DEL &&
	    !key_cmp(km[*i].key, km[*i].klen, sp.to, sp.tlen))
		goto out;
	if (*i < nk && km[*i].del == MUT_PUT &&
	    !key_cmp(km[*i].key, km[*i].klen, sp.to, sp.tlen))
		(*i)++; /* live: the tail's entry stands for it */
	ttail_get(v, vlen, &tt);
	e = put(t, sp.to, sp.tlen, tt.seq, v, vlen);
out:
	free(p);
	return e;
}

int tomb_muts(quire_txn *txn, const struct mut *km, size_t nk, int append,
	      struct arena *ar, struct mut **out, size_t *nout)
{
	const struct snap *s = txn->snap;
	struct tmuts t = {.ar = ar,
		       .qf = s->qf,
		       .root = &s->h.root[QT_DEAD],
		       .tails = (s->h.features & QF_FEAT_TAILS) != 0};
	int e = range_dels(&t, txn->wb, s->h.next_seq);
	for (size_t i = 0; !e && i < nk;) {
		const struct mut *k = &km[i];
		int exact;
		const uint8_t *v;
		uint32_t vlen;
		if (k->del == MUT_RANGE) {
			e = span_muts(&t, km, nk, &i);
			continue;
		}
		i++;
		if (append && !k->del)
			continue; /* past every entry: none to remove */
		if ((e = before(&t, k->key, k->klen, &exact, &v, &vlen)) != 0)
			break;
		if (k->del) /* its entry, carrying on the tail there */
			e = put(&t, k->key, k->klen, k->meta, v, vlen);
		else if (!(exact && vlen)) /* a tail starting there stays */
			e = push(&t, (struct mut){.key = k->key,
						  .klen = k->klen,
						  .del = MUT_DEL});
	}
	free(t.rd);
	if (e) {
		free(t.v);
		t.v = NULL;
		t.n = 0;
	}
	*out = t.v;
	*nout = t.n;
	return e;
}
