/*
 * wbuf.h - the write transaction's pending operations.
 *
 * A skip list keyed by user key holds the latest operation on each key, so
 * that reads and cursors of the transaction see its own writes and the
 * commit can walk the keys in order (the sorted batch that modify.c applies).
 * Beside it, a log of every operation in sequence order: the by-sequence tree
 * keeps all of them, including a put overwritten later in the same
 * transaction.
 *
 * A range delete masks the transaction's own keys in the range (their
 * operations stay in the log) and joins the *spans*: the union of the
 * transaction's ranges, sorted and disjoint, which hide the committed keys
 * inside them from the transaction's reads. A later put into a span is an
 * unmasked key of the skip list, which wins there.
 */
#ifndef QUIRE_WBUF_H
#define QUIRE_WBUF_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "util.h"

#define WOP_PUT 1
#define WOP_DEL 2
#define WOP_RANGE 3

/* A value as the transaction holds it: inline bytes or a block already
 * written to the file. */
struct wval {
	const uint8_t *data; /* inline bytes, when !ool */
	uint32_t len;
	int ool;
	uint64_t ool_off;
};

struct wnode {
	const uint8_t *key;
	uint32_t klen;
	uint8_t op;     /* WOP_* of the latest operation */
	uint8_t height;
	uint8_t masked; /* a range delete came after its latest operation */
	uint8_t linked; /* tseq was set: the operation its chain continues
			 * (keyspace.c: a default key the first keyspace
			 * escaped continues its raw key's chain; rebuild.c:
			 * a replayed operation keeps its chain) */
	uint32_t last;  /* index in the log of the latest operation */
	uint64_t tseq;  /* commit.c: the key's latest operation so far */
	struct wval v;
	struct wnode *next[];
};

/* A key range: from <= key < to (to_last: to the last key). */
struct wrange {
	const uint8_t *from, *to;
	uint32_t flen, tlen;
	int to_last;
	uint64_t count; /* a range delete: the keys it removed */
};

struct wop {
	struct wnode *n;              /* NULL for WOP_RANGE */
	uint8_t op;
	struct wval v;
	const struct wrange *r;       /* WOP_RANGE */
};

struct wbuf {
	struct arena ar;
	struct wnode *head;
	struct wnode *tail[20]; /* last node of each level (head if none) */
	int height;
	uint64_t rng;
	struct wop *ops;
	size_t nops, cap;
	size_t nkeys;
	struct wrange *spans;        /* the union of the range deletes */
	size_t nspans, capspans;
};

struct wbuf *wbuf_new(uint64_t seed);
void wbuf_free(struct wbuf *wb);

struct wnode *wbuf_find(struct wbuf *wb, const void *key, size_t klen);
/* Record an operation (copying key and inline value). 0 or QUIRE_ENOMEM. */
int wbuf_add(struct wbuf *wb, int op, const void *key, size_t klen,
	     const struct wval *v);

/* Record a range delete that removed count keys: mask the transaction's
 * keys in r, join r to the spans, log it. 0 or QUIRE_ENOMEM. */
int wbuf_add_range(struct wbuf *wb, const struct wrange *r);

/* The span holding key, or NULL. */
const struct wrange *wbuf_span(const struct wbuf *wb, const void *key,
			       size_t klen);

/* Whether key lies below the end of r. */
static inline int wrange_below_end(const struct wrange *r, const void *key,
				   size_t klen)
{
	return r->to_last || key_cmp(key, klen, r->to, r->tlen) < 0;
}

static inline struct wnode *wbuf_first(struct wbuf *wb)
{
	return wb->head->next[0];
}

static inline struct wnode *wbuf_next(struct wnode *n)
{
	return n->next[0];
}

/* First node with key >= key (or > key when !incl). */
struct wnode *wbuf_seek(struct wbuf *wb, const void *key, size_t klen,
			int incl);
/* Last node with key <= key (or < key when !incl); key NULL: the last. */
struct wnode *wbuf_seek_back(struct wbuf *wb, const void *key, size_t klen,
			     int incl);

#endif
