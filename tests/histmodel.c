/*
 * histmodel.c - the history model shared by test_history and test_compact
 * (range deletes included: see histmodel.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histmodel.h"

uint64_t hm_latest(const struct hmodel *hm)
{
	return hm->nc - 1;
}

void hm_add_op(struct hmodel *hm, const struct hop *o)
{
	hm->ops = tu_push(hm->ops, &hm->capops, hm->nops, sizeof *hm->ops,
			  1024);
	hm->ops[hm->nops++] = *o;
}

void hm_add_commit(struct hmodel *hm, const struct hcommit *c)
{
	hm->c = tu_push(hm->c, &hm->capc, hm->nc, sizeof *hm->c, 256);
	hm->c[hm->nc++] = *c;
}

void hm_copy(struct hmodel *dst, const struct hmodel *src)
{
	*dst = (struct hmodel){0};
	for (size_t i = 0; i < src->nops; i++) {
		struct hop o = src->ops[i];
		o.k = tu_dup(o.k, o.kl);
		o.v = o.v ? tu_dup(o.v, o.vl) : NULL;
		hm_add_op(dst, &o);
	}
	for (size_t i = 0; i < src->nc; i++)
		hm_add_commit(dst, &src->c[i]);
}

void hm_truncate(struct hmodel *hm, uint64_t txn)
{
	uint64_t keep = hm->c[txn].next_seq - 1;
	for (size_t i = keep; i < hm->nops; i++) {
		free(hm->ops[i].k);
		free(hm->ops[i].v);
	}
	hm->nops = keep;
	hm->nc = txn + 1;
}

void hm_free(struct hmodel *hm)
{
	for (size_t i = 0; i < hm->nops; i++) {
		free(hm->ops[i].k);
		free(hm->ops[i].v);
	}
	free(hm->ops);
	free(hm->c);
	*hm = (struct hmodel){0};
}

int hm_in_range(const struct hop *o, const void *k, size_t kl)
{
	return tu_keycmp(k, kl, o->k, o->kl) >= 0 &&
	       (o->to_last || tu_keycmp(k, kl, o->v, o->vl) < 0);
}

void hm_set_range(struct hop *o, const void *from, size_t fl, const void *to,
		  size_t tl, int prefix)
{
	o->op = QUIRE_OP_DEL_RANGE;
	o->k = tu_dup(from, fl);
	o->kl = fl;
	o->v = NULL;
	o->vl = 0;
	o->to_last = 0;
	if (prefix) {
		uint8_t *end = tu_dup(from, fl);
		size_t el;
		if (tu_prefix_end(from, fl, end, &el)) {
			o->v = end;
			o->vl = el;
		} else {
			free(end);
			o->to_last = 1;
		}
	} else if (to) {
		o->v = tu_dup(to, tl);
		o->vl = tl;
	} else {
		o->to_last = 1;
	}
}

size_t hm_apply(struct model *m, struct model *vers, const struct hop *o)
{
	if (o->op == QUIRE_OP_DEL_RANGE) {
		const void *to = o->to_last ? NULL : o->v ? (void *)o->v : "";
		size_t n = model_del_range(m, o->k, o->kl, to, o->vl);
		if (vers)
			model_del_range(vers, o->k, o->kl, to, o->vl);
		return n;
	}
	if (o->op == QUIRE_OP_PUT) {
		model_put(m, o->k, o->kl, o->v, o->vl);
		if (vers)
			model_put(vers, o->k, o->kl, &o->seq, sizeof o->seq);
	} else {
		model_del(m, o->k, o->kl);
		if (vers)
			model_del(vers, o->k, o->kl);
	}
	return 0;
}

/* Whether operation o touches key k: an operation on it, or a range
 * delete covering it. */
static int touches(const struct hop *o, const void *k, size_t kl)
{
	return o->op == QUIRE_OP_DEL_RANGE ? hm_in_range(o, k, kl)
					   : tu_same(o->k, o->kl, k, kl);
}

int hm_in_history(const struct hmodel *hm, uint64_t s, const void *k,
		  size_t kl)
{
	const struct hop *o = &hm->ops[s - 1];
	if (!touches(o, k, kl))
		return 0;
	for (uint64_t q = s + 1; q <= hm->nops && hm->ops[q - 1].txn == o->txn;
	     q++)
		if (hm->ops[q - 1].op == QUIRE_OP_DEL_RANGE &&
		    hm_in_range(&hm->ops[q - 1], k, kl))
			return 0;
	if (o->op != QUIRE_OP_DEL_RANGE)
		return 1;
	for (uint64_t q = hm->c[o->txn].first_seq; --q > 0;) /* before it */
		if (touches(&hm->ops[q - 1], k, kl))
			return hm->ops[q - 1].op == QUIRE_OP_PUT;
	return 0;
}

void hm_state_at(const struct hmodel *hm, uint64_t txn, struct model *m)
{
	model_clear(m);
	for (uint64_t s = 1; s < hm->c[txn].next_seq; s++)
		hm_apply(m, NULL, &hm->ops[s - 1]);
}

const struct model *hm_replay_to(const struct hmodel *hm,
				 struct hm_replay *rp, uint64_t txn)
{
	uint64_t end = hm->c[txn].next_seq;
	if (rp->seq == 0 || end < rp->seq) {
		model_clear(&rp->m);
		rp->seq = 1;
	}
	for (; rp->seq < end; rp->seq++)
		hm_apply(&rp->m, NULL, &hm->ops[rp->seq - 1]);
	return &rp->m;
}

int64_t hm_expect_at(const struct hmodel *hm, uint64_t upto, uint64_t ns,
		     int before)
{
	int64_t want = -1;
	for (uint64_t i = 0; i <= upto; i++) {
		if (before && hm->c[i].time_ns <= ns)
			want = (int64_t)i; /* the last one */
		if (!before && hm->c[i].time_ns >= ns)
			return (int64_t)i; /* the first one */
	}
	return want;
}

static size_t region_key(unsigned i, uint8_t *k)
{
	return (size_t)snprintf((char *)k, 8, "k%03u", i);
}

void hm_pick_range(uint64_t *rng, unsigned hi, struct hrange *g)
{
	unsigned n = hi - 100;
	*g = (struct hrange){0};
	switch (tu_below(rng, 10)) {
	case 0: /* the whole region */
		g->fl = 2;
		memcpy(g->from, "k1", 2);
		g->prefix = 1;
		break;
	case 1: /* ten keys */
		g->fl = (size_t)snprintf((char *)g->from, 8, "k1%u",
					 (unsigned)tu_below(rng, n / 10));
		g->prefix = 1;
		break;
	case 2: /* the long keys */
		g->fl = 1;
		g->from[0] = 'L';
		g->prefix = 1;
		break;
	case 3: /* between two keys of the region (maybe none) */
		g->fl = region_key(100 + (unsigned)tu_below(rng, n), g->from);
		g->tl = region_key(100 + (unsigned)tu_below(rng, n), g->to);
		if (tu_keycmp(g->to, g->tl, g->from, g->fl) < 0) {
			uint8_t x[8];
			memcpy(x, g->from, 8);
			memcpy(g->from, g->to, 8);
			memcpy(g->to, x, 8);
			size_t l = g->fl;
			g->fl = g->tl;
			g->tl = l;
		}
		break;
	case 4: /* from the smallest key (NULL): the empty key, long keys */
		g->from_null = 1;
		g->tl = (size_t)snprintf((char *)g->to, 8, "L050");
		break;
	case 5: /* to the last key (NULL) */
		g->fl = region_key(100 + (unsigned)tu_below(rng, n), g->from);
		g->to_null = 1;
		break;
	case 6: /* from the smallest key (empty, not NULL): the empty key */
		g->tl = 1;
		g->to[0] = 'K';
		break;
	case 7: /* nothing there */
		if (tu_below(rng, 2)) {
			g->fl = 3;
			memcpy(g->from, "k1\xff", 3);
			g->prefix = 1;
		} else {
			g->fl = 2;
			memcpy(g->from, "zz", 2);
			g->to_null = 1;
		}
		break;
	case 8: /* some long keys */
		g->fl = (size_t)snprintf((char *)g->from, 8, "L050");
		g->tl = (size_t)snprintf((char *)g->to, 8, "L120");
		break;
	default: /* exactly one key: [k, k + "\0") */
		g->fl = region_key(100 + (unsigned)tu_below(rng, n), g->from);
		memcpy(g->to, g->from, g->fl);
		g->to[g->fl] = 0;
		g->tl = g->fl + 1;
	}
}
