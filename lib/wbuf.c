/*
 * wbuf.c - skip list of pending operations plus the operation log.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "quire.h"
#include "util.h"
#include "wbuf.h"

#define MAXH ((int)(sizeof ((struct wbuf *)0)->tail / sizeof(struct wnode *)))

struct wbuf *wbuf_new(uint64_t seed)
{
	struct wbuf *wb = calloc(1, sizeof *wb);
	if (!wb)
		return NULL;
	wb->head = arena_alloc(&wb->ar, sizeof *wb->head +
						MAXH * sizeof(struct wnode *));
	if (!wb->head) {
		free(wb);
		return NULL;
	}
	memset(wb->head, 0, sizeof *wb->head + MAXH * sizeof(struct wnode *));
	for (int l = 0; l < MAXH; l++)
		wb->tail[l] = wb->head;
	wb->height = 1;
	wb->rng = seed | 1;
	return wb;
}

void wbuf_free(struct wbuf *wb)
{
	if (!wb)
		return;
	arena_free(&wb->ar);
	free(wb->ops);
	free(wb->spans);
	free(wb);
}

static int rand_height(struct wbuf *wb)
{
	int h = 1;
	for (;;) {
		wb->rng ^= wb->rng << 13;
		wb->rng ^= wb->rng >> 7;
		wb->rng ^= wb->rng << 17;
		if ((wb->rng & 3) || h == MAXH)
			return h;
		h++;
	}
}

static inline int ncmp(const struct wnode *n, const void *key, size_t klen)
{
	return key_cmp(n->key, n->klen, key, klen);
}

/* Fill prev[] with, at each level, the last node whose key is < key. */
static struct wnode *find_lt(struct wbuf *wb, const void *key, size_t klen,
			     struct wnode **prev)
{
	struct wnode *x = wb->head;
	for (int l = wb->height - 1; l >= 0; l--) {
		while (x->next[l] && ncmp(x->next[l], key, klen) < 0)
			x = x->next[l];
		if (prev)
			prev[l] = x;
	}
	return x;
}

struct wnode *wbuf_find(struct wbuf *wb, const void *key, size_t klen)
{
	struct wnode *x = find_lt(wb, key, klen, NULL)->next[0];
	return x && ncmp(x, key, klen) == 0 ? x : NULL;
}

struct wnode *wbuf_seek(struct wbuf *wb, const void *key, size_t klen,
			int incl)
{
	struct wnode *x = find_lt(wb, key, klen, NULL)->next[0];
	if (x && !incl && ncmp(x, key, klen) == 0)
		x = x->next[0];
	return x;
}

struct wnode *wbuf_seek_back(struct wbuf *wb, const void *key, size_t klen,
			     int incl)
{
	struct wnode *x = wb->head;
	for (int l = wb->height - 1; l >= 0; l--)
		while (x->next[l] &&
		       (!key || ncmp(x->next[l], key, klen) < (incl ? 1 : 0)))
			x = x->next[l];
	return x == wb->head ? NULL : x;
}

/* Room for one more operation in the log. */
static int log_reserve(struct wbuf *wb)
{
	if (wb->nops < wb->cap)
		return 0;
	size_t cap = wb->cap ? wb->cap * 2 : 64;
	struct wop *ops = realloc(wb->ops, cap * sizeof *ops);
	if (!ops)
		return QUIRE_ENOMEM;
	wb->ops = ops;
	wb->cap = cap;
	return 0;
}

int wbuf_add(struct wbuf *wb, int op, const void *key, size_t klen,
	     const struct wval *v)
{
	if (log_reserve(wb))
		return QUIRE_ENOMEM;
	struct wval val = {0};
	if (op == WOP_PUT) {
		val = *v;
		if (!val.ool && !(val.data = arena_dup(&wb->ar, v->data, v->len)))
			return QUIRE_ENOMEM;
	}
	struct wnode *prev[MAXH], *x, *last = wb->tail[0];
	if (last != wb->head && ncmp(last, key, klen) < 0) {
		/* past the end, as in sequential loads: no search */
		memcpy(prev, wb->tail, sizeof prev);
		x = NULL;
	} else {
		x = find_lt(wb, key, klen, prev)->next[0];
	}
	if (!x || ncmp(x, key, klen) != 0) {
		int h = rand_height(wb);
		x = arena_alloc(&wb->ar, sizeof *x + h * sizeof(struct wnode *));
		if (!x || !(x->key = arena_dup(&wb->ar, key, klen)))
			return QUIRE_ENOMEM;
		x->klen = (uint32_t)klen;
		x->height = (uint8_t)h;
		x->linked = 0;
		for (int l = wb->height; l < h; l++)
			prev[l] = wb->head;
		if (h > wb->height)
			wb->height = h;
		for (int l = 0; l < h; l++) {
			x->next[l] = prev[l]->next[l];
			prev[l]->next[l] = x;
			if (!x->next[l])
				wb->tail[l] = x;
		}
		wb->nkeys++;
	}
	x->op = (uint8_t)op;
	x->masked = 0;
	x->v = val;
	x->last = (uint32_t)wb->nops;
	wb->ops[wb->nops++] = (struct wop){.n = x, .op = (uint8_t)op, .v = val};
	return 0;
}

/* Whether a and b overlap or touch (their union is one range). */
static int joinable(const struct wrange *a, const struct wrange *b)
{
	return (a->to_last || key_cmp(b->from, b->flen, a->to, a->tlen) <= 0) &&
	       (b->to_last || key_cmp(a->from, a->flen, b->to, b->tlen) <= 0);
}

/* Join r to the spans: every span it overlaps or touches becomes part of
 * one span, kept in key order. */
static int join_span(struct wbuf *wb, struct wrange r)
{
	size_t lo = 0, hi;
	while (lo < wb->nspans && !joinable(&wb->spans[lo], &r) &&
	       key_cmp(wb->spans[lo].from, wb->spans[lo].flen, r.from,
		       r.flen) < 0)
		lo++;
	for (hi = lo; hi < wb->nspans && joinable(&wb->spans[hi], &r); hi++) {
		const struct wrange *s = &wb->spans[hi];
		if (key_cmp(s->from, s->flen, r.from, r.flen) < 0) {
			r.from = s->from;
			r.flen = s->flen;
		}
		if (s->to_last || (!r.to_last &&
				   key_cmp(s->to, s->tlen, r.to, r.tlen) > 0)) {
			r.to = s->to;
			r.tlen = s->tlen;
			r.to_last = s->to_last;
		}
	}
	if (hi == lo && wb->nspans == wb->capspans) { /* one more */
		size_t cap = wb->capspans ? wb->capspans * 2 : 4;
		struct wrange *sp = realloc(wb->spans, cap * sizeof *sp);
		if (!sp)
			return QUIRE_ENOMEM;
		wb->spans = sp;
		wb->capspans = cap;
	}
	memmove(wb->spans + lo + 1, wb->spans + hi,
		(wb->nspans - hi) * sizeof *wb->spans);
	wb->nspans = wb->nspans - (hi - lo) + 1;
	r.count = 0;
	wb->spans[lo] = r;
	return 0;
}

int wbuf_add_range(struct wbuf *wb, const struct wrange *r)
{
	struct wrange *c = arena_alloc(&wb->ar, sizeof *c);
	if (!c || log_reserve(wb))
		return QUIRE_ENOMEM;
	*c = *r;
	c->from = r->flen ? arena_dup(&wb->ar, r->from, r->flen) : NULL;
	c->to = r->to_last ? NULL
		: r->tlen  ? arena_dup(&wb->ar, r->to, r->tlen)
			   : (const uint8_t *)"";
	if ((r->flen && !c->from) || !(c->to || r->to_last))
		return QUIRE_ENOMEM;
	if (join_span(wb, *c))
		return QUIRE_ENOMEM;
	for (struct wnode *n = wbuf_seek(wb, c->from, c->flen, 1);
	     n && wrange_below_end(c, n->key, n->klen); n = n->next[0])
		n->masked = 1;
	wb->ops[wb->nops++] = (struct wop){.op = WOP_RANGE, .r = c};
	return 0;
}

const struct wrange *wbuf_span(const struct wbuf *wb, const void *key,
			       size_t klen)
{
	size_t lo = 0, hi = wb->nspans;
	while (lo < hi) { /* the first span starting after key */
		size_t mid = (lo + hi) / 2;
		const struct wrange *s = &wb->spans[mid];
		if (key_cmp(s->from, s->flen, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || !wrange_below_end(&wb->spans[lo - 1], key, klen))
		return NULL;
	return &wb->spans[lo - 1];
}
