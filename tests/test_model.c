/*
 * test_model.c - randomized operations checked against an in-memory model.
 *
 * Each seed runs a long random sequence of puts, deletes, gets, cursor walks
 * (from a random seek point, turning around at random, with puts and
 * deletes made under the open cursor), commits, aborts, reopens and read
 * snapshots held across commits, and snapshots of a second handle that
 * follows the commits as another process does. Every result is compared
 * with two models: the committed state and the state the open write
 * transaction sees. Keys come from a small alphabet so that they collide
 * and share prefixes; values straddle the inline limit and sometimes run to
 * 200 KiB. The seed's phases grow the tree, shrink it (and delete almost
 * everything in one commit, so nodes merge and the tree loses levels) and
 * grow it again.
 * With node_size 512 the tree is deep, so splits and merges happen at every
 * level. quire_check must find nothing after every reopen and at the end.
 *
 * Once the first tree has grown, range and prefix deletes (quire_del_range,
 * quire_del_prefix) run as operations of the write transaction among the
 * others: several in one transaction, overlapping, with puts and deletes
 * into the range before and after them, open-ended at either side, empty,
 * with bad bounds, then committed or aborted. Each call's count must be
 * what the transaction saw in the range; right after it, gets and cursors
 * (one left on a key inside the range, a fresh seek, walks both ways) must
 * agree with the model; a commit holding one must be a checkpoint, use one
 * sequence number per call and show in the changes feed as one
 * QUIRE_OP_DEL_RANGE with the range and the count, and the follower must
 * see the result. Keys take 0x00 and 0xff bytes now and then, so prefixes
 * whose end carries over are met. Six times a seed thousands of keys under
 * one prefix are committed (folded into the tree or left pending) and
 * removed by large ranges, so whole subtrees are dropped; then the commit
 * before stays readable (AS-OF) and a diff of the two shows exactly the
 * keys removed.
 *
 * A failure names its seed; QUIRE_SEED=<seed> replays it as the first run.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define OPS_PER_SEED 30000
#define MAX_HELD 3
#define LONG_KEY 2048
#define BIG_VALUE (200u << 10)

enum phase { GROW, SHRINK, REFILL, MIXED };
static const char *const phase_name[] = {"grow", "shrink", "refill", "mixed"};

/* The operations; WCHECK compares the whole write transaction, RANGE runs
 * one to four range or prefix deletes. */
enum op { PUT, DEL, GET, SCAN, COMMIT, ABORT, SNAP, REOPEN, WCHECK, RANGE,
	  NOPS };

/* Weights of the operations in a phase, and how often a put writes a new
 * key and a delete hits an existing one (percent). */
struct mix {
	unsigned w[NOPS];
	unsigned put_new, del_hit;
};

#define RARE [COMMIT] = 35, [ABORT] = 7, [SNAP] = 12, [REOPEN] = 2, [WCHECK] = 2
static const struct mix mixes[] = {
	/* no ranges while the first tree grows: it must grow deep */
	[GROW] = {{[PUT] = 420, [DEL] = 60, [GET] = 200, [SCAN] = 150,
		   RARE},
		  85, 70},
	[SHRINK] = {{[PUT] = 100, [DEL] = 450, [GET] = 170, [SCAN] = 150,
		     [RANGE] = 25, RARE},
		    50, 95},
	[REFILL] = {{[PUT] = 420, [DEL] = 60, [GET] = 200, [SCAN] = 150,
		     [RANGE] = 4, RARE},
		    85, 70},
	[MIXED] = {{[PUT] = 280, [DEL] = 240, [GET] = 200, [SCAN] = 150,
		    [RANGE] = 16, RARE},
		   50, 75},
};
#undef RARE

/* The changes of the open write transaction, replayed onto the committed
 * model when it commits, in the order (and so with the sequence numbers)
 * the changes feed must show them. A range: k, kl the first key, v, vl the
 * end unless to_last; a prefix: k, kl the prefix. */
enum jkind { J_PUT, J_DEL, J_RANGE, J_PREFIX };
struct jent {
	enum jkind kind;
	uint8_t *k, *v;
	size_t kl, vl;
	int to_last;
	uint64_t count; /* J_RANGE, J_PREFIX: the keys it removed */
};

/* A key kept aside (a copy). */
struct key {
	uint8_t *k;
	size_t kl;
};
#define MAX_SAMPLES 6

struct held {
	quire_txn *t;
	struct model m; /* what it must keep showing */
	uint64_t id;
};

struct run {
	uint64_t seed, rng, op;
	enum phase phase;
	unsigned node_size, flags;
	unsigned long ckpt;   /* checkpoint_ops (0: default; 1 folds every
			       * commit into the tree) */
	char *path;
	quire *db;
	quire *follower;       /* a second handle: it learns each commit
				* from the file, as another process does */
	quire_txn *w;          /* the open write transaction */
	int dirty;             /* w has changed something */
	uint64_t id;           /* id of the last commit */
	struct model committed, cur;
	struct jent *j;
	size_t nj, capj;
	struct held held[MAX_HELD];
	int nheld;
	uint8_t *kbuf, *kbuf2, *vbuf;
	uint8_t *fbuf, *tbuf;  /* range bounds (one byte over the limit) */
	uint64_t next_seq;     /* the sequence number the next commit's first
				* operation gets */
	struct key samp[MAX_SAMPLES]; /* keys the last range removed (or,
				       * when it failed, kept) */
	size_t nsamp;
	/* figures for the summary */
	uint64_t nops[NOPS], commits, max_keys;
	unsigned max_depth;
	uint64_t nrange, nprefix, nranged, nempty, nopen, nbad, nhuge,
		 nrcommits, nraborts, nfeed, nfeed_skipped, nfollow, nasof,
		 ndiff, nbulk, ncursor_in;
};

static void failf(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void failf(struct run *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fail_msg("seed %llu (replay: QUIRE_SEED=%llu), node_size %u, op %llu "
		 "(%s phase): %s",
		 (unsigned long long)r->seed, (unsigned long long)r->seed,
		 r->node_size, (unsigned long long)r->op,
		 phase_name[r->phase], msg);
}

#define ROK(r, x)                                                            \
	do {                                                                 \
		int rok_ = (x);                                              \
		if (rok_ != 0)                                               \
			failf(r, "%s = %d (%s: %s)", #x, rok_,               \
			      quire_strerror(rok_), quire_errmsg());         \
	} while (0)

static uint64_t below(struct run *r, uint64_t n)
{
	return tu_below(&r->rng, n);
}

/* A key byte: mostly from "abcd" (collisions, shared prefixes), now and
 * then 0xff or 0x00 (prefixes whose end carries over, keys right after
 * others). */
static uint8_t key_byte(struct run *r)
{
	uint64_t p = below(r, 64);
	return p == 0 ? 0x00 : p < 3 ? 0xff : (uint8_t)("abcd"[p & 3]);
}

/* A key into r->kbuf: empty, short, sometimes long; a quarter extend a
 * prefix of a present key. */
static size_t gen_key(struct run *r, uint8_t *k)
{
	uint64_t p = below(r, 1000);
	size_t len, i = 0;
	if (p < 8)
		return 0;
	if (p < 14)
		len = 17 + below(r, LONG_KEY - 16);
	else
		len = 1 + below(r, 1 + below(r, 16)); /* mostly short */
	if (r->cur.n && below(r, 4) == 0) {
		const struct model_ent *e = &r->cur.v[below(r, r->cur.n)];
		i = below(r, (e->klen < len ? e->klen : len) + 1);
		memcpy(k, e->key, i);
	}
	for (; i < len; i++)
		k[i] = key_byte(r);
	return len;
}

/* A value into r->vbuf; its bytes depend on the operation number, so a
 * stale value never passes for a new one. */
static size_t gen_val(struct run *r)
{
	uint64_t p = below(r, 1000), s = r->seed ^ (r->op << 20), x = 0;
	size_t len;
	if (p < 50)
		len = 0;
	else if (p < 750)
		len = 1 + below(r, 64);
	else if (p < 900)
		len = 1000 + below(r, 50); /* around the 1024-byte limit */
	else if (p < 997)
		len = 1050 + below(r, 5000);
	else
		len = (20u << 10) + below(r, BIG_VALUE - (20u << 10));
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			x = tu_rand(&s);
		r->vbuf[i] = (uint8_t)(x >> (i % 8 * 8));
	}
	return len;
}

/* v NULL (with vl 0) for a delete, a prefix, a range to the last key. */
static struct jent *journal_add(struct run *r, enum jkind kind, const void *k,
				size_t kl, const void *v, size_t vl)
{
	if (r->nj == r->capj) {
		r->capj = r->capj ? r->capj * 2 : 64;
		r->j = realloc(r->j, r->capj * sizeof *r->j);
		assert_non_null(r->j);
	}
	r->j[r->nj] = (struct jent){kind, tu_dup(k, kl),
				    v || vl ? tu_dup(v, vl) : NULL, kl, vl, 0,
				    0};
	return &r->j[r->nj++];
}

static void journal_clear(struct run *r)
{
	for (size_t i = 0; i < r->nj; i++) {
		free(r->j[i].k);
		free(r->j[i].v);
	}
	r->nj = 0;
}

static void do_put(struct run *r, const void *k, size_t kl, const void *v,
		   size_t vl)
{
	ROK(r, quire_put(r->w, k, kl, v, vl));
	journal_add(r, J_PUT, k, kl, v, vl);
	model_put(&r->cur, k, kl, v, vl);
	r->dirty = 1;
}

/* k must not point into the model. */
static void do_del(struct run *r, const void *k, size_t kl)
{
	int rc = quire_del(r->w, k, kl);
	if (model_get(&r->cur, k, kl)) {
		if (rc != 0)
			failf(r, "del of a present key (%zu bytes) = %d (%s)",
			      kl, rc, quire_strerror(rc));
		journal_add(r, J_DEL, k, kl, NULL, 0);
		model_del(&r->cur, k, kl);
		r->dirty = 1;
	} else if (rc != QUIRE_NOTFOUND) {
		failf(r, "del of a missing key (%zu bytes) = %d (%s)", kl, rc,
		      quire_strerror(rc));
	}
}

static void begin_write(struct run *r)
{
	ROK(r, quire_begin(r->db, 0, &r->w));
	if (quire_txn_id(r->w) != r->id + 1)
		failf(r, "write transaction id %llu after commit %llu",
		      (unsigned long long)quire_txn_id(r->w),
		      (unsigned long long)r->id);
	r->dirty = 0;
}

/* A fresh snapshot shows the last commit, whole. */
static void verify_latest(struct run *r)
{
	quire_txn *t;
	quire_stat st;
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(r, quire_txn_stat(t, &st));
	if (quire_txn_id(t) != r->id || st.txn_id != r->id ||
	    st.key_count != r->committed.n || st.next_seq != r->next_seq)
		failf(r, "snapshot of commit %llu with %llu keys, next seq "
			 "%llu, expected commit %llu with %zu keys, next seq "
			 "%llu",
		      (unsigned long long)st.txn_id,
		      (unsigned long long)st.key_count,
		      (unsigned long long)st.next_seq,
		      (unsigned long long)r->id, r->committed.n,
		      (unsigned long long)r->next_seq);
	model_check_txn(&r->committed, t);
	if (st.depth > r->max_depth)
		r->max_depth = st.depth;
	ROK(r, quire_commit(t));
}

static void on_problem(void *ctx, uint64_t off, const char *what)
{
	char *first = ctx;
	if (!*first)
		snprintf(first, 512, "offset %llu: %s", (unsigned long long)off,
			 what);
}

static void check_db(struct run *r)
{
	quire_txn *t;
	uint64_t problems = 0;
	char first[512] = "";
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(r, quire_check(t, on_problem, first, &problems));
	ROK(r, quire_commit(t));
	if (problems)
		failf(r, "quire_check found %llu problems, the first: %s",
		      (unsigned long long)problems, first);
}

static void after_range_commit(struct run *r, uint64_t first_seq);

/* End the write transaction by committing it (no new one is begun). */
static void finish_commit(struct run *r)
{
	uint64_t first_seq = r->next_seq;
	int ranged = 0;
	ROK(r, quire_commit(r->w));
	r->w = NULL;
	for (size_t i = 0; i < r->nj; i++) {
		const struct jent *e = &r->j[i];
		size_t n;
		switch (e->kind) {
		case J_PUT:
			model_put(&r->committed, e->k, e->kl, e->v, e->vl);
			break;
		case J_DEL:
			model_del(&r->committed, e->k, e->kl);
			break;
		default: /* the model's own consistency */
			n = e->kind == J_PREFIX
				    ? model_del_prefix(&r->committed, e->k,
						       e->kl)
				    : model_del_range(&r->committed, e->k,
						      e->kl, e->to_last ? NULL : e->v,
						      e->vl);
			if (n != e->count)
				failf(r, "test bug: a range replayed removes "
					 "%zu keys, in the transaction %llu",
				      n, (unsigned long long)e->count);
			ranged = 1;
		}
	}
	/* one sequence number per put, per delete, per range that removed
	 * something */
	r->next_seq += r->nj;
	if (r->dirty != (r->nj > 0))
		failf(r, "test bug: dirty %d with %zu journal entries",
		      r->dirty, r->nj);
	if (r->dirty)
		r->id++;
	if (ranged)
		after_range_commit(r, first_seq);
	journal_clear(r);
	r->commits++;
	if (r->committed.n > r->max_keys)
		r->max_keys = r->committed.n;
}

static void finish_abort(struct run *r)
{
	for (size_t i = 0; i < r->nj; i++)
		if (r->j[i].kind >= J_RANGE) {
			r->nraborts++;
			break;
		}
	quire_abort(r->w);
	r->w = NULL;
	journal_clear(r);
	model_copy(&r->cur, &r->committed);
}

static void op_commit(struct run *r)
{
	finish_commit(r);
	begin_write(r);
	/* checked with a write transaction open: it must not show */
	if (r->commits % 8 == 0)
		verify_latest(r);
}

static void op_abort(struct run *r)
{
	finish_abort(r);
	begin_write(r);
	if (below(r, 2))
		model_check_txn(&r->cur, r->w);
}

static void release_held(struct run *r, int i)
{
	struct held *h = &r->held[i];
	if (quire_txn_id(h->t) != h->id)
		failf(r, "held snapshot of commit %llu now says %llu",
		      (unsigned long long)h->id,
		      (unsigned long long)quire_txn_id(h->t));
	model_check_txn(&h->m, h->t);
	ROK(r, quire_commit(h->t));
	model_clear(&h->m);
	r->held[i] = r->held[--r->nheld];
}

/* Take a snapshot to keep across commits, or check and drop one. */
static void op_snap(struct run *r)
{
	if (r->nheld == MAX_HELD || (r->nheld && below(r, 2))) {
		release_held(r, (int)below(r, (uint64_t)r->nheld));
		return;
	}
	struct held *h = &r->held[r->nheld++];
	*h = (struct held){0};
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &h->t));
	h->id = r->id;
	model_copy(&h->m, &r->committed);
}

static void reopen(struct run *r, unsigned node_size)
{
	quire_options o;
	if (below(r, 2))
		finish_commit(r);
	else
		finish_abort(r);
	while (r->nheld)
		release_held(r, r->nheld - 1);
	ROK(r, quire_close(r->db));
	r->db = NULL;
	quire_options_init(&o);
	o.flags = r->flags;
	o.node_size = r->node_size = node_size;
	if (r->ckpt)
		o.checkpoint_ops = r->ckpt;
	ROK(r, quire_open(r->path, &o, &r->db));
	verify_latest(r);
	check_db(r);
	begin_write(r);
}

/* A transaction to read from and the model it must match: mostly the write
 * transaction, else a fresh snapshot of either handle or a held snapshot.
 * The follower's point reads leave the keys of the commits it loads out of
 * its memtable's order until one of its scans needs them. *own: end it
 * after use. */
static quire_txn *pick_txn(struct run *r, const struct model **m, int *own)
{
	uint64_t p = below(r, 100);
	*own = 0;
	if (p < 70) {
		*m = &r->cur;
		return r->w;
	}
	if (p < 88 || !r->nheld) {
		quire_txn *t;
		ROK(r, quire_begin(p < 78 ? r->db : r->follower, QUIRE_RDONLY,
				   &t));
		if (quire_txn_id(t) != r->id)
			failf(r, "a new snapshot of the %s handle shows commit "
				 "%llu, the last is %llu",
			      p < 78 ? "writing" : "following",
			      (unsigned long long)quire_txn_id(t),
			      (unsigned long long)r->id);
		*own = 1;
		*m = &r->committed;
		return t;
	}
	struct held *h = &r->held[below(r, (uint64_t)r->nheld)];
	*m = &h->m;
	return h->t;
}

static void op_get(struct run *r)
{
	const struct model *m;
	int own;
	quire_txn *t = pick_txn(r, &m, &own);
	const uint8_t *k = r->kbuf;
	size_t kl;
	quire_val v;
	if (m->n && below(r, 100) < 60) {
		const struct model_ent *e = &m->v[below(r, m->n)];
		k = e->key;
		kl = e->klen;
	} else {
		kl = gen_key(r, r->kbuf);
	}
	int rc = quire_get(t, k, kl, &v);
	const struct model_ent *e = model_get(m, k, kl);
	if (e && rc != 0)
		failf(r, "get of a present key (%zu bytes) = %d (%s)", kl, rc,
		      quire_strerror(rc));
	if (e && !tu_same(v.data, v.size, e->val, e->vlen))
		failf(r, "get returned %zu bytes, the model holds %zu", v.size,
		      e->vlen);
	if (!e && rc != QUIRE_NOTFOUND)
		failf(r, "get of a missing key (%zu bytes) = %d (%s)", kl, rc,
		      quire_strerror(rc));
	if (own)
		ROK(r, quire_commit(t));
}

static void op_put(struct run *r)
{
	const struct mix *x = &mixes[r->phase];
	size_t vl = gen_val(r);
	if (r->cur.n && below(r, 100) >= x->put_new) {
		const struct model_ent *e = &r->cur.v[below(r, r->cur.n)];
		/* a present key stays in the model, so its bytes do too */
		do_put(r, e->key, e->klen, r->vbuf, vl);
	} else {
		size_t kl = gen_key(r, r->kbuf);
		do_put(r, r->kbuf, kl, r->vbuf, vl);
	}
}

static void op_del(struct run *r)
{
	const struct mix *x = &mixes[r->phase];
	size_t kl;
	if (r->cur.n && below(r, 100) < x->del_hit) {
		const struct model_ent *e = &r->cur.v[below(r, r->cur.n)];
		kl = e->klen;
		memcpy(r->kbuf, e->key, kl);
	} else {
		kl = gen_key(r, r->kbuf);
	}
	do_del(r, r->kbuf, kl);
}

/* The cursor position the model predicts (m->n: unpositioned). */
struct cpos {
	int valid;
	uint8_t *key; /* copy of the key at the cursor */
	size_t klen;
};

/* rc is the result of a move that the model says lands on index i. */
static void expect_at(struct run *r, quire_cursor *c, const struct model *m,
		      int rc, size_t i, struct cpos *p)
{
	quire_val k, v;
	if (i >= m->n) {
		if (rc != QUIRE_NOTFOUND)
			failf(r, "cursor move = %d, expected the end", rc);
		if ((rc = quire_cursor_key(c, &k)) != QUIRE_NOTFOUND)
			failf(r, "key of an unpositioned cursor = %d", rc);
		p->valid = 0;
		return;
	}
	if (rc != 0)
		failf(r, "cursor move = %d (%s), expected entry %zu of %zu", rc,
		      quire_strerror(rc), i, m->n);
	ROK(r, quire_cursor_key(c, &k));
	if (!tu_same(k.data, k.size, m->v[i].key, m->v[i].klen))
		failf(r, "cursor at a key of %zu bytes, expected entry %zu of "
			 "%zu (%zu bytes)",
		      k.size, i, m->n, m->v[i].klen);
	if (below(r, 4) == 0) {
		ROK(r, quire_cursor_value(c, &v));
		if (!tu_same(v.data, v.size, m->v[i].val, m->v[i].vlen))
			failf(r, "cursor value of entry %zu: %zu bytes, the "
				 "model holds %zu",
			      i, v.size, m->v[i].vlen);
	}
	memcpy(p->key, k.data, k.size);
	p->klen = k.size;
	p->valid = 1;
}

/* Change the write transaction around an open cursor: delete the key under
 * it, insert right after or before it, or anywhere. */
static void mutate_near(struct run *r, const struct cpos *p)
{
	uint8_t *k = r->kbuf;
	size_t kl;
	/* (extensions of extensions stay far below QUIRE_MAX_KEY_SIZE) */
	switch (p->valid && p->klen < 2 * LONG_KEY ? below(r, 4) : 3) {
	case 0:
		do_del(r, p->key, p->klen);
		return;
	case 1: /* an extension sorts right after its prefix */
		memcpy(k, p->key, p->klen);
		k[p->klen] = (uint8_t)("abcd"[below(r, 4)]);
		kl = p->klen + 1;
		break;
	case 2: /* a proper prefix sorts before */
		kl = below(r, p->klen + 1);
		memcpy(k, p->key, kl);
		if (kl == p->klen) {
			do_del(r, k, kl);
			return;
		}
		break;
	default:
		kl = gen_key(r, k);
		if (below(r, 2)) {
			do_del(r, k, kl);
			return;
		}
	}
	size_t vl = gen_val(r);
	do_put(r, k, kl, r->vbuf, vl);
}

/* Move c (at p) n times in random directions, turning around at random;
 * on the write transaction, change it under the cursor now and then. */
static void walk(struct run *r, quire_cursor *c, quire_txn *t,
		 const struct model *m, struct cpos *pp, uint64_t n)
{
	struct cpos p = *pp;
	int dir = below(r, 2) ? 1 : -1;
	for (; n; n--) {
		size_t i;
		if (t == r->w && below(r, 8) == 0)
			mutate_near(r, &p);
		if (below(r, 5) == 0)
			dir = -dir;
		int rc = dir > 0 ? quire_cursor_next(c) : quire_cursor_prev(c);
		if (!p.valid) { /* next starts at the first, prev at the last */
			i = dir > 0 || !m->n ? 0 : m->n - 1;
		} else {
			i = model_lower(m, p.key, p.klen);
			if (dir > 0 && i < m->n &&
			    tu_same(m->v[i].key, m->v[i].klen, p.key, p.klen))
				i++;
			else if (dir < 0)
				i = i ? i - 1 : m->n;
		}
		expect_at(r, c, m, rc, i, &p);
	}
	*pp = p;
}

/* Walk a cursor from a random seek point in random directions. */
static void op_scan(struct run *r)
{
	const struct model *m;
	int own;
	quire_txn *t = pick_txn(r, &m, &own);
	struct cpos p = {0, r->kbuf2, 0};
	quire_cursor *c;
	const uint8_t *k = r->kbuf;
	size_t kl;
	ROK(r, quire_cursor_open(t, &c));
	if (m->n && below(r, 100) < 50) {
		const struct model_ent *e = &m->v[below(r, m->n)];
		kl = e->klen;
		memcpy(r->kbuf, e->key, kl);
		if (below(r, 2)) /* just after it */
			r->kbuf[kl++] = 0;
	} else {
		kl = gen_key(r, r->kbuf);
	}
	expect_at(r, c, m, quire_cursor_seek(c, k, kl), model_lower(m, k, kl),
		  &p);
	walk(r, c, t, m, &p, below(r, 25));
	quire_cursor_close(c);
	if (own)
		ROK(r, quire_commit(t));
}

/* ---- range and prefix deletes ---- */

static void keys_clear(struct key *s, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(s[i].k);
	*n = 0;
}

static void sample_add(struct run *r, const struct model_ent *e)
{
	if (r->nsamp < MAX_SAMPLES)
		r->samp[r->nsamp++] = (struct key){tu_dup(e->key, e->klen),
						   e->klen};
}

/* A get (with its version) in the write transaction agrees with the
 * model. */
static void check_get(struct run *r, const uint8_t *k, size_t kl,
		      const char *what)
{
	quire_val v;
	uint64_t seq = 99;
	int rc = quire_get_seq(r->w, k, kl, &v, &seq);
	const struct model_ent *e = model_get(&r->cur, k, kl);
	if (e && (rc != 0 || seq == 0))
		failf(r, "get of %s (%zu bytes) = %d (%s), version %llu", what,
		      kl, rc, quire_strerror(rc), (unsigned long long)seq);
	if (e && !tu_same(v.data, v.size, e->val, e->vlen))
		failf(r, "get of %s returned %zu bytes, the model holds %zu",
		      what, v.size, e->vlen);
	if (!e && (rc != QUIRE_NOTFOUND || seq != 0))
		failf(r, "get of %s (%zu bytes, not in the model) = %d (%s), "
			 "version %llu",
		      what, kl, rc, quire_strerror(rc),
		      (unsigned long long)seq);
}

/* quire_put_if(expect 0): it succeeds exactly when the transaction sees no
 * such key (also one a range just removed). */
static void do_put_if(struct run *r, const void *k, size_t kl, const void *v,
		      size_t vl)
{
	int want = model_get(&r->cur, k, kl) ? QUIRE_ECONFLICT : 0;
	int rc = quire_put_if(r->w, k, kl, v, vl, 0);
	if (rc != want)
		failf(r, "put_if(expect absent) of a key of %zu bytes = %d "
			 "(%s), expected %d",
		      kl, rc, quire_strerror(rc), want);
	if (rc == 0) {
		journal_add(r, J_PUT, k, kl, v, vl);
		model_put(&r->cur, k, kl, v, vl);
		r->dirty = 1;
	}
}

/* A range bound near entry i of m (i == m->n: beyond the last) into k: the
 * key, right after it, a prefix of it (at or before it), the key with its
 * last byte raised (between it and the next), or any key. */
static size_t bound_near(struct run *r, const struct model *m, size_t i,
			 uint8_t *k)
{
	uint64_t p = below(r, 100);
	if (i >= m->n || p < 12)
		return gen_key(r, k);
	size_t kl = m->v[i].klen;
	memcpy(k, m->v[i].key, kl);
	if (p < 55)
		return kl;
	if (p < 70) {
		k[kl] = 0;
		return kl + 1;
	}
	if (p < 85)
		return below(r, kl + 1);
	if (kl && k[kl - 1] < 0xff)
		k[kl - 1]++;
	return kl;
}

/* One quire_del_range (prefix 0; from NULL: from the smallest key, to
 * NULL: to the last) or quire_del_prefix (prefix 1: from, fl) in the write
 * transaction, checked against the model: the result, the count, then
 * gets of keys removed and of the keys on either side, and a cursor (one
 * opened before the call, often left on a key the call removes, or a
 * fresh seek) walked both ways. */
static void range_call(struct run *r, int prefix, const uint8_t *from,
		       size_t fl, const uint8_t *to, size_t tl)
{
	struct model *m = &r->cur;
	const char *fn = prefix ? "quire_del_prefix" : "quire_del_range";
	int want = 0;
	size_t lo = 0, hi = 0;
	if (fl > QUIRE_MAX_KEY_SIZE ||
	    (!prefix && to && tl > QUIRE_MAX_KEY_SIZE))
		want = QUIRE_ETOOBIG;
	else if (!prefix && to && tu_keycmp(to, tl, from, fl) < 0)
		want = QUIRE_EINVAL;
	else if (prefix)
		for (hi = lo = model_lower(m, from, fl);
		     hi < m->n && tu_has_prefix(m->v[hi].key, m->v[hi].klen,
						from, fl);
		     hi++)
			;
	else {
		lo = from ? model_lower(m, from, fl) : 0;
		hi = to ? model_lower(m, to, tl) : m->n;
	}

	/* keys it must remove (or, when it must fail, keep) */
	keys_clear(r->samp, &r->nsamp);
	if (!want && hi > lo) {
		sample_add(r, &m->v[lo]);
		if (hi - 1 > lo)
			sample_add(r, &m->v[hi - 1]);
		for (int k = 0; k < 4 && hi - lo > 2; k++)
			sample_add(r, &m->v[lo + 1 + below(r, hi - lo - 2)]);
	} else if (m->n) {
		for (int k = 0; k < 3; k++)
			sample_add(r, &m->v[below(r, m->n)]);
	}
	struct key side[2];
	size_t nside = 0;
	if (!want && lo > 0)
		side[nside++] = (struct key){tu_dup(m->v[lo - 1].key,
						    m->v[lo - 1].klen),
					     m->v[lo - 1].klen};
	if (!want && hi < m->n)
		side[nside++] = (struct key){tu_dup(m->v[hi].key,
						    m->v[hi].klen),
					     m->v[hi].klen};

	/* a cursor open across the call: on a key it removes, beside the
	 * range, or anywhere */
	quire_cursor *c = NULL;
	struct cpos p = {0, r->kbuf2, 0};
	int on_removed = 0;
	if (below(r, 4) == 0) {
		const struct key *s = NULL;
		ROK(r, quire_cursor_open(r->w, &c));
		if (r->nsamp && below(r, 3)) {
			s = &r->samp[below(r, r->nsamp)];
			on_removed = !want && hi > lo;
		} else if (nside) {
			s = &side[0];
		}
		if (s)
			expect_at(r, c, m, quire_cursor_seek(c, s->k, s->kl),
				  model_lower(m, s->k, s->kl), &p);
		else
			expect_at(r, c, m, quire_cursor_first(c), 0, &p);
		r->ncursor_in += on_removed;
	}

	uint64_t cnt = UINT64_MAX, *cp = below(r, 10) ? &cnt : NULL;
	int rc = prefix ? quire_del_prefix(r->w, from, fl, cp)
			: quire_del_range(r->w, from, fl, to, tl, cp);
	if (rc != want)
		failf(r, "%s (bounds of %zu and %s%zu bytes, %zu keys in it) = "
			 "%d (%s: %s), expected %d",
		      fn, fl, prefix || to ? "" : "last/", to ? tl : 0, hi - lo, rc,
		      quire_strerror(rc), quire_errmsg(), want);
	if (want) {
		r->nbad++;
		for (size_t i = 0; i < r->nsamp; i++)
			check_get(r, r->samp[i].k, r->samp[i].kl,
				  "a key a failed range kept");
		if (c) {
			quire_val kk;
			if (p.valid &&
			    (quire_cursor_key(c, &kk) != 0 ||
			     !tu_same(kk.data, kk.size, p.key, p.klen)))
				failf(r, "a failed %s moved a cursor", fn);
			walk(r, c, r->w, m, &p, 1 + below(r, 6));
			quire_cursor_close(c);
		}
		return;
	}

	size_t got = prefix ? model_del_prefix(m, from, fl)
			    : model_del_range(m, from, fl, to, tl);
	if (got != hi - lo)
		failf(r, "test bug: the model removed %zu, expected %zu", got,
		      hi - lo);
	if (cp && cnt != got)
		failf(r, "%s (bounds of %zu and %s%zu bytes) removed %llu keys, "
			 "the transaction saw %zu in the range",
		      fn, fl, prefix || to ? "" : "last/", to ? tl : 0,
		      (unsigned long long)cnt, got);
	if (got) {
		struct jent *e = journal_add(r, prefix ? J_PREFIX : J_RANGE,
					     from, fl, prefix ? NULL : to,
					     prefix ? 0 : tl);
		e->to_last = !prefix && !to;
		e->count = got;
		r->dirty = 1;
	}
	r->nrange++;
	r->nprefix += prefix;
	r->nranged += got;
	r->nempty += !got;
	r->nopen += !prefix && (!fl || !to);
	r->nhuge += got >= 1000;

	for (size_t i = 0; i < r->nsamp; i++)
		check_get(r, r->samp[i].k, r->samp[i].kl, "a key the range "
							  "removed");
	for (size_t i = 0; i < nside; i++) {
		check_get(r, side[i].k, side[i].kl, "a key beside the range");
		free(side[i].k);
	}
	if (c) {
		quire_val kk;
		int krc;
		if (on_removed && (krc = quire_cursor_key(c, &kk)) !=
					  QUIRE_NOTFOUND)
			failf(r, "the key under a cursor, removed by %s: %d",
			      fn, krc);
	} else {
		/* a fresh cursor: seek into the range, to its start, its end */
		const uint8_t *k = NULL;
		size_t kl = 0;
		uint64_t q = below(r, 4);
		ROK(r, quire_cursor_open(r->w, &c));
		if (q == 0 && r->nsamp) {
			const struct key *s = &r->samp[below(r, r->nsamp)];
			k = s->k;
			kl = s->kl;
		} else if (q == 1 && !prefix && to) {
			k = to;
			kl = tl;
		} else {
			k = from;
			kl = fl;
		}
		expect_at(r, c, m, quire_cursor_seek(c, k ? k : (const uint8_t *)"", kl),
			  model_lower(m, k, kl), &p);
	}
	walk(r, c, r->w, m, &p, 1 + below(r, 10));
	quire_cursor_close(c);
	if (below(r, 10) == 0)
		model_check_txn(m, r->w);
}

/* Into the range the last call removed: put some of its keys back (put or
 * put_if), delete others again (nothing there), put keys beside them. */
static void refill_range(struct run *r)
{
	for (size_t i = 0; i < r->nsamp; i++) {
		const struct key *s = &r->samp[i];
		size_t vl = gen_val(r);
		switch (below(r, 5)) {
		case 0:
			do_put(r, s->k, s->kl, r->vbuf, vl);
			break;
		case 1:
			do_put_if(r, s->k, s->kl, r->vbuf, vl);
			break;
		case 2:
			do_del(r, s->k, s->kl);
			break;
		case 3:
			if (s->kl < 2 * LONG_KEY) {
				memcpy(r->kbuf, s->k, s->kl);
				r->kbuf[s->kl] = key_byte(r);
				do_put(r, r->kbuf, s->kl + 1, r->vbuf, vl);
			}
			break;
		}
	}
}

/* A range of a few keys, dozens, sometimes a large share; open at either
 * end now and then; empty, reversed or too long bounds now and then. A
 * later range of the same transaction often starts inside the one
 * before. */
static void range_round(struct run *r, int later)
{
	const struct model *m = &r->cur;
	size_t n = m->n, span, i, j, fl, tl;
	const uint8_t *from = r->fbuf, *to = r->tbuf;
	uint64_t p = below(r, 100), q;
	if (p < 60)
		span = below(r, 8);
	else if (p < 95)
		span = below(r, 32);
	else if (p < 99 || r->phase == GROW || r->phase == REFILL)
		span = below(r, n / 8 + 1);
	else
		span = below(r, n / 2 + 1);
	if (span > n)
		span = n;
	q = below(r, 100);
	if (later && r->nsamp && below(r, 2)) { /* overlapping the last */
		const struct key *s = &r->samp[below(r, r->nsamp)];
		memcpy(r->fbuf, s->k, s->kl);
		fl = s->kl;
		i = model_lower(m, s->k, s->kl);
		j = i + span > n ? n : i + span;
		if (q < 16)
			q = 16;
	} else {
		if (q < 8) {
			i = 0;
			j = span;
		} else if (q < 16) {
			i = n - span;
			j = n;
		} else {
			i = below(r, n - span + 1);
			j = i + span;
		}
		fl = bound_near(r, m, i, r->fbuf);
	}
	tl = bound_near(r, m, j, r->tbuf);
	if (q < 8) { /* from the smallest key */
		from = below(r, 2) ? NULL : r->fbuf;
		fl = 0;
	} else if (q < 16) { /* to the last key */
		to = NULL;
		tl = 0;
	} else if (tu_keycmp(to, tl, from, fl) < 0) {
		const uint8_t *x = from;
		size_t xl = fl;
		from = to;
		fl = tl;
		to = x;
		tl = xl;
	}
	/* edges: to is the empty key (empty, or before from), to equals
	 * from, to is a proper prefix of from (before it), too long */
	uint8_t *tb = (uint8_t *)(from == r->fbuf ? r->tbuf : r->fbuf);
	switch (below(r, 100)) {
	case 0: case 1: case 2:
		to = tb;
		tl = 0;
		break;
	case 3: case 4: case 5:
		if (fl)
			memcpy(tb, from, fl);
		to = tb;
		tl = fl;
		break;
	case 6: case 7: case 8:
		if (fl) {
			tl = below(r, fl);
			memcpy(tb, from, tl);
			to = tb;
		}
		break;
	case 9:
		if (below(r, 2)) {
			memset(r->fbuf, 'a', QUIRE_MAX_KEY_SIZE + 1);
			from = r->fbuf;
			fl = QUIRE_MAX_KEY_SIZE + 1;
			to = NULL;
		} else {
			memset(tb, 0xff, QUIRE_MAX_KEY_SIZE + 1);
			to = tb;
			tl = QUIRE_MAX_KEY_SIZE + 1;
		}
		break;
	}
	range_call(r, 0, from, fl, to, tl);
}

/* A prefix: mostly a prefix of a present key (sometimes with 0xff
 * after it), now and then all 0xff, empty (every key), too long, or made
 * up. */
static void prefix_round(struct run *r, int later)
{
	const struct model *m = &r->cur;
	uint8_t *pb = r->fbuf;
	const uint8_t *pre = pb;
	size_t pl;
	uint64_t p = below(r, 200);
	if (p < 1) {
		pl = 0;
		pre = below(r, 2) ? NULL : pb;
	} else if (p < 5) {
		pl = 1 + below(r, 3);
		memset(pb, 0xff, pl);
	} else if (p < 6) {
		pl = QUIRE_MAX_KEY_SIZE + 1;
		memset(pb, 'b', pl);
	} else if (p < 180 && m->n) {
		const struct model_ent *e = &m->v[below(r, m->n)];
		const uint8_t *k = e->key;
		size_t kl = e->klen;
		if (later && r->nsamp && below(r, 2)) {
			k = r->samp[0].k;
			kl = r->samp[0].kl;
		}
		p = below(r, 100);
		pl = p < 2 ? 1 : p < 10 ? 2 : p < 40 ? 3 : 4 + below(r, 4);
		if (pl > kl)
			pl = kl;
		memcpy(pb, k, pl);
		if (below(r, 8) == 0)
			pb[pl++] = 0xff;
	} else {
		pl = 1 + below(r, 3);
		for (size_t i = 0; i < pl; i++)
			pb[i] = key_byte(r);
	}
	range_call(r, 1, pre, pl, NULL, 0);
}

static void op_range(struct run *r)
{
	int rounds = below(r, 4) ? 1 : 2 + (int)below(r, 3);
	for (int i = 0; i < rounds; i++) {
		if (i)
			refill_range(r);
		if (below(r, 4) == 0)
			prefix_round(r, i);
		else
			range_round(r, i);
	}
	if (below(r, 2))
		refill_range(r);
}

/* The changes feed of the commit just made (t shows it) is the journal:
 * one change per operation, a range as one QUIRE_OP_DEL_RANGE with its
 * bounds and count. */
static void check_feed(struct run *r, quire_txn *t, uint64_t first_seq)
{
	quire_changes *f;
	quire_change ch;
	int rc = quire_changes_open(t, first_seq - 1, &f);
	if (rc == QUIRE_EHISTORY) { /* a background compaction */
		r->nfeed_skipped++;
		return;
	}
	ROK(r, rc);
	for (size_t i = 0; i < r->nj; i++) {
		const struct jent *e = &r->j[i];
		static const int ops[] = {QUIRE_OP_PUT, QUIRE_OP_DEL,
					  QUIRE_OP_DEL_RANGE,
					  QUIRE_OP_DEL_RANGE};
		const uint8_t *ev = e->v;
		size_t evl = e->vl;
		int last = e->to_last;
		uint8_t *end = NULL;
		if ((rc = quire_changes_next(f, &ch)) != 0)
			failf(r, "changes feed: entry %zu of the commit's %zu = "
				 "%d (%s)",
			      i, r->nj, rc, quire_strerror(rc));
		if (ch.seq != first_seq + i || ch.txn_id != r->id ||
		    ch.op != ops[e->kind])
			failf(r, "changes feed: entry %zu of the commit's %zu: "
				 "seq %llu, txn %llu, op %d; expected seq "
				 "%llu, txn %llu, op %d",
			      i, r->nj, (unsigned long long)ch.seq,
			      (unsigned long long)ch.txn_id, ch.op,
			      (unsigned long long)(first_seq + i),
			      (unsigned long long)r->id, ops[e->kind]);
		if (e->kind == J_PREFIX) {
			end = malloc(e->kl + 1);
			assert_non_null(end);
			last = !tu_prefix_end(e->k, e->kl, end, &evl);
			ev = end;
		}
		if (!tu_same(ch.key.data, ch.key.size, e->k, e->kl))
			failf(r, "changes feed: entry %zu (op %d): a key of "
				 "%zu bytes, expected %zu",
			      i, ch.op, ch.key.size, e->kl);
		if (e->kind >= J_RANGE &&
		    (ch.to_last != last || ch.count != e->count ||
		     (last ? ch.value.size != 0
			   : !tu_same(ch.value.data, ch.value.size, ev, evl))))
			failf(r, "changes feed: entry %zu, a %s: to_last %d, "
				 "count %llu, end of %zu bytes; expected "
				 "to_last %d, count %llu, end of %zu bytes",
			      i, e->kind == J_PREFIX ? "prefix" : "range",
			      ch.to_last, (unsigned long long)ch.count,
			      ch.value.size, last,
			      (unsigned long long)e->count, last ? 0 : evl);
		if (e->kind < J_RANGE &&
		    (ch.to_last != 0 || ch.count != 0 ||
		     !tu_same(ch.value.data, ch.value.size, ev, evl)))
			failf(r, "changes feed: entry %zu (op %d): value of "
				 "%zu bytes, to_last %d, count %llu; expected "
				 "%zu bytes, 0, 0",
			      i, ch.op, ch.value.size, ch.to_last,
			      (unsigned long long)ch.count, evl);
		free(end);
	}
	if ((rc = quire_changes_next(f, &ch)) != QUIRE_NOTFOUND)
		failf(r, "changes feed: after the commit's %zu entries: %d "
			 "(op %d)",
		      r->nj, rc, ch.op);
	quire_changes_close(f);
	r->nfeed++;
}

/* After a commit that held a range delete (the journal still holds it):
 * a checkpoint, the right figures, the feed; the follower shows it. */
static void after_range_commit(struct run *r, uint64_t first_seq)
{
	quire_txn *t;
	quire_stat st;
	r->nrcommits++;
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(r, quire_txn_stat(t, &st));
	if (st.txn_id != r->id || st.next_seq != r->next_seq ||
	    st.key_count != r->committed.n)
		failf(r, "after a commit with a range delete: commit %llu, "
			 "next seq %llu, %llu keys; expected %llu, %llu, %zu",
		      (unsigned long long)st.txn_id,
		      (unsigned long long)st.next_seq,
		      (unsigned long long)st.key_count,
		      (unsigned long long)r->id,
		      (unsigned long long)r->next_seq, r->committed.n);
	if (st.pending_ops != 0)
		failf(r, "a commit with a range delete left %llu operations "
			 "pending: it must be a checkpoint",
		      (unsigned long long)st.pending_ops);
	check_feed(r, t, first_seq);
	ROK(r, quire_commit(t));

	/* the follower: the commit, and each range's start */
	ROK(r, quire_begin(r->follower, QUIRE_RDONLY, &t));
	if (quire_txn_id(t) != r->id)
		failf(r, "the follower shows commit %llu after commit %llu",
		      (unsigned long long)quire_txn_id(t),
		      (unsigned long long)r->id);
	if (below(r, 4) == 0) {
		model_check_txn(&r->committed, t);
	} else {
		quire_cursor *c;
		struct cpos p = {0, r->kbuf2, 0};
		ROK(r, quire_cursor_open(t, &c));
		for (size_t i = 0; i < r->nj; i++) {
			const struct jent *e = &r->j[i];
			if (e->kind < J_RANGE)
				continue;
			expect_at(r, c, &r->committed,
				  quire_cursor_seek(c, e->k, e->kl),
				  model_lower(&r->committed, e->k, e->kl), &p);
			walk(r, c, t, &r->committed, &p, 1 + below(r, 4));
		}
		quire_cursor_close(c);
	}
	ROK(r, quire_commit(t));
	r->nfollow++;
}

/* Fold what is pending into the tree (quire_checkpoint: a commit of its
 * own when anything is pending), between write transactions. */
static void fold(struct run *r)
{
	quire_txn *t;
	quire_stat st;
	finish_abort(r);
	ROK(r, quire_checkpoint(r->db));
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(r, quire_txn_stat(t, &st));
	ROK(r, quire_commit(t));
	if (st.pending_ops || st.txn_id < r->id || st.txn_id > r->id + 1)
		failf(r, "quire_checkpoint after commit %llu: commit %llu with "
			 "%llu operations pending",
		      (unsigned long long)r->id, (unsigned long long)st.txn_id,
		      (unsigned long long)st.pending_ops);
	r->id = st.txn_id;
	begin_write(r);
}

/* Keys of m that start with pre. */
static size_t count_prefix(const struct model *m, const uint8_t *pre,
			   size_t pl)
{
	size_t i = model_lower(m, pre, pl), n = 0;
	while (i + n < m->n &&
	       tu_has_prefix(m->v[i + n].key, m->v[i + n].klen, pre, pl))
		n++;
	return n;
}

/* Thousands of keys under one two-byte prefix, committed (folded into the
 * tree, or pending), then removed by large ranges that drop whole
 * subtrees, mixed with other changes; committed or aborted. The commit
 * before stays readable as it was, and a diff from it to the new one shows
 * exactly the keys that went. */
static void bulk(struct run *r)
{
	uint8_t pre[2], k[160], v[1100], a[4], b[4];
	size_t n = 2000 + below(r, 3000), kl, vl;
	int longer = below(r, 3) == 0; /* deeper trees */
	quire_txn *old, *asof, *t;
	quire_diff *d;
	struct model before = {0};
	int rc;
	r->nbulk++;
	pre[0] = (uint8_t)"abcd"[below(r, 4)];
	pre[1] = (uint8_t)"abcd"[below(r, 4)];
	for (size_t i = 0; i < n; i++) {
		memcpy(k, pre, 2);
		kl = 8 + below(r, longer ? 150 : 2);
		for (size_t j = 2; j < kl; j++)
			k[j] = (uint8_t)"abcd"[below(r, 4)];
		vl = below(r, 100) ? below(r, 24) : sizeof v;
		memset(v, (int)(r->op + i), vl);
		do_put(r, k, kl, v, vl);
	}
	op_commit(r);
	if (below(r, 2))
		fold(r);
	model_copy(&before, &r->committed);
	uint64_t before_id = r->id;
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &old));
	/* the newest commit: no compaction has dropped it */
	ROK(r, quire_begin_at(r->db, before_id, &asof));
	for (size_t i = below(r, 20); i; i--) {
		if (below(r, 2))
			op_put(r);
		else
			op_del(r);
	}
	memcpy(a, pre, 2);
	memcpy(b, pre, 2);
	switch (below(r, 5)) {
	case 0: /* all of them */
		range_call(r, 1, pre, 2, NULL, 0);
		break;
	case 1: /* the middle: both ends inside the subtrees */
		a[2] = 'b';
		b[2] = 'd';
		range_call(r, 0, a, 3, b, 3);
		break;
	case 2: /* to the last key */
		a[2] = 'a';
		a[3] = 'c';
		range_call(r, 0, a, 4, NULL, 0);
		break;
	case 3: /* from the smallest key */
		b[2] = 'c';
		range_call(r, 0, NULL, 0, b, 3);
		break;
	default: /* two overlapping ones, some keys put back between */
		a[2] = 'a';
		b[2] = 'c';
		range_call(r, 0, a, 3, b, 3);
		refill_range(r);
		a[2] = 'b';
		b[2] = 'd';
		range_call(r, 0, a, 3, b, 3);
		break;
	}
	refill_range(r);
	if (below(r, 2))
		model_check_txn(&r->cur, r->w);
	if (below(r, 5) == 0) { /* abort: the keys are all back */
		finish_abort(r);
		begin_write(r);
		model_check_txn(&r->cur, r->w);
		range_call(r, 1, pre, 2, NULL, 0);
	}
	op_commit(r);
	verify_latest(r);

	ROK(r, quire_begin(r->follower, QUIRE_RDONLY, &t));
	if (quire_txn_id(t) != r->id)
		failf(r, "the follower shows commit %llu after commit %llu",
		      (unsigned long long)quire_txn_id(t),
		      (unsigned long long)r->id);
	model_check_txn(&r->committed, t);
	ROK(r, quire_commit(t));

	/* AS-OF the commit before: as it was, in a snapshot begun before
	 * the commit and in one begun now (unless compacted away) */
	if (quire_txn_id(asof) != before_id)
		failf(r, "begin_at %llu shows commit %llu",
		      (unsigned long long)before_id,
		      (unsigned long long)quire_txn_id(asof));
	model_check_txn(&before, asof);
	ROK(r, quire_commit(asof));
	rc = quire_begin_at(r->db, before_id, &t);
	if (rc != QUIRE_EHISTORY) {
		ROK(r, rc);
		if (quire_txn_id(t) != before_id)
			failf(r, "begin_at %llu shows commit %llu",
			      (unsigned long long)before_id,
			      (unsigned long long)quire_txn_id(t));
		model_check_txn(&before, t);
		ROK(r, quire_commit(t));
		r->nasof++;
	}
	/* a diff from the snapshot before (refused across a compaction) */
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &t));
	rc = quire_diff_open(old, t, &d);
	if (rc != QUIRE_EINVAL) {
		ROK(r, rc);
		model_check_diff(&before, &r->committed, d);
		quire_diff_close(d);
		r->ndiff++;
	}
	ROK(r, quire_commit(t));
	ROK(r, quire_commit(old));
	model_clear(&before);

	/* what the ranges left under the prefix goes, mostly */
	if (count_prefix(&r->cur, pre, 2) > 100) {
		range_call(r, 1, pre, 2, NULL, 0);
		op_commit(r);
	}
}

/* Delete all but a few keys in one transaction: the tree must collapse. */
static void mass_delete(struct run *r)
{
	quire_txn *t;
	quire_stat st;
	size_t keep = below(r, 4);
	while (r->cur.n > keep) {
		const struct model_ent *e = &r->cur.v[below(r, r->cur.n)];
		size_t kl = e->klen;
		memcpy(r->kbuf, e->key, kl);
		do_del(r, r->kbuf, kl);
	}
	op_commit(r);
	verify_latest(r);
	ROK(r, quire_begin(r->db, QUIRE_RDONLY, &t));
	ROK(r, quire_txn_stat(t, &st));
	ROK(r, quire_commit(t));
	if (r->ckpt == 1 && st.depth > 2)
		failf(r, "%zu keys left, yet the tree has %u levels", keep,
		      st.depth);
}

static void run_seed(uint64_t seed)
{
	struct run r = {.seed = seed, .rng = seed};
	quire_options o;
	/* odd seeds build deep trees of small nodes; commits go into the tree
	 * at once, in batches with a checkpoint every 7 or 50 operations, or
	 * in batches with the default threshold */
	static const unsigned long ckpts[] = {0 /* default */, 1, 7, 50};
	r.node_size = seed & 1 ? 512 : 4096;
	r.ckpt = ckpts[seed % 4];
	r.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	r.path = strdup(tu_path("model"));
	r.kbuf = malloc(QUIRE_MAX_KEY_SIZE);
	r.kbuf2 = malloc(QUIRE_MAX_KEY_SIZE);
	r.vbuf = malloc(BIG_VALUE);
	r.fbuf = malloc(QUIRE_MAX_KEY_SIZE + 2);
	r.tbuf = malloc(QUIRE_MAX_KEY_SIZE + 2);
	assert_true(r.path && r.kbuf && r.kbuf2 && r.vbuf && r.fbuf && r.tbuf);
	print_message("# seed %llu, node_size %u, checkpoint_ops %lu\n",
		      (unsigned long long)seed, r.node_size, r.ckpt);

	quire_options_init(&o);
	o.flags = r.flags;
	o.node_size = r.node_size;
	if (r.ckpt)
		o.checkpoint_ops = r.ckpt;
	ROK(&r, quire_open(r.path, &o, &r.db));
	o.flags = QUIRE_NOSYNC;
	ROK(&r, quire_open(r.path, &o, &r.follower));
	{
		quire_txn *t;
		quire_stat st;
		ROK(&r, quire_begin(r.db, QUIRE_RDONLY, &t));
		ROK(&r, quire_txn_stat(t, &st));
		ROK(&r, quire_commit(t));
		r.next_seq = st.next_seq;
	}
	begin_write(&r);
	for (r.op = 0; r.op < OPS_PER_SEED; r.op++) {
		uint64_t at = r.op * 20 / OPS_PER_SEED;
		enum phase ph = at < 6 ? GROW : at < 10 ? SHRINK
				: at < 15 ? REFILL : MIXED;
		if (ph == REFILL && r.phase == SHRINK) {
			/* the first deep tree must really have been deep */
			verify_latest(&r);
			if (r.ckpt == 1 && r.node_size == 512 && r.max_depth < 3)
				failf(&r, "the tree never grew past %u levels",
				      r.max_depth);
			mass_delete(&r);
		}
		r.phase = ph;
		/* six times a seed, once the first deep tree has grown */
		if (r.op % 3500 == 1750 && r.op >= 9000)
			bulk(&r);
		const unsigned *w = mixes[ph].w;
		unsigned total = 0;
		int k;
		for (k = 0; k < NOPS; k++)
			total += w[k];
		uint64_t p = below(&r, total);
		for (k = 0; p >= w[k]; k++)
			p -= w[k];
		r.nops[k]++;
		switch ((enum op)k) {
		case PUT: op_put(&r); break;
		case DEL: op_del(&r); break;
		case GET: op_get(&r); break;
		case SCAN: op_scan(&r); break;
		case COMMIT: op_commit(&r); break;
		case ABORT: op_abort(&r); break;
		case SNAP: op_snap(&r); break;
		case RANGE: op_range(&r); break;
		case REOPEN: /* late reopens may change the node size: files
			      * stay compatible */
			reopen(&r, ph == MIXED && below(&r, 2)
					   ? (r.node_size == 512 ? 4096 : 512)
					   : r.node_size);
			break;
		default: /* WCHECK */
			model_check_txn(&r.cur, r.w);
			break;
		}
	}
	/* the end: everything checked before and after a last reopen */
	finish_commit(&r);
	while (r.nheld)
		release_held(&r, r.nheld - 1);
	verify_latest(&r);
	check_db(&r);
	begin_write(&r);
	reopen(&r, r.node_size);
	finish_abort(&r);
	ROK(&r, quire_close(r.db));
	ROK(&r, quire_close(r.follower));
	print_message("# seed %llu: %llu range deletes (%llu prefixes, %llu "
		      "empty, %llu open-ended, %llu over 1000 keys; %llu "
		      "keys), %llu refused; %llu commits and %llu aborts "
		      "holding them; feed checked %llu times (%llu "
		      "compacted away), follower %llu, AS-OF %llu, diff "
		      "%llu; %llu bulk loads; %llu cursors on removed keys\n",
		      (unsigned long long)seed, (unsigned long long)r.nrange,
		      (unsigned long long)r.nprefix,
		      (unsigned long long)r.nempty,
		      (unsigned long long)r.nopen, (unsigned long long)r.nhuge,
		      (unsigned long long)r.nranged,
		      (unsigned long long)r.nbad,
		      (unsigned long long)r.nrcommits,
		      (unsigned long long)r.nraborts,
		      (unsigned long long)r.nfeed,
		      (unsigned long long)r.nfeed_skipped,
		      (unsigned long long)r.nfollow,
		      (unsigned long long)r.nasof, (unsigned long long)r.ndiff,
		      (unsigned long long)r.nbulk,
		      (unsigned long long)r.ncursor_in);
	print_message("# seed %llu: %d ops: %llu puts, %llu dels, %llu gets, "
		      "%llu scans, %llu commits (%llu ids), %llu aborts, "
		      "%llu snapshot ops, %llu reopens; up to %llu keys, "
		      "depth %u\n",
		      (unsigned long long)seed, OPS_PER_SEED,
		      (unsigned long long)r.nops[PUT],
		      (unsigned long long)r.nops[DEL],
		      (unsigned long long)r.nops[GET],
		      (unsigned long long)r.nops[SCAN],
		      (unsigned long long)r.commits, (unsigned long long)r.id,
		      (unsigned long long)r.nops[ABORT],
		      (unsigned long long)r.nops[SNAP],
		      (unsigned long long)r.nops[REOPEN] + 1,
		      (unsigned long long)r.max_keys, r.max_depth);
	/* over 10000 puts, 5800 deletes, 1200 commits and 1250 keys today */
	assert_true(r.nops[PUT] >= 5000 && r.nops[DEL] >= 2500 &&
		    r.commits >= 500 && r.max_keys >= 500);
	/* about 480 range deletes (130 prefixes, 220 empty, 75 open-ended,
	 * 8 over 1000 keys; 22000 keys), 25 refused; 130 commits and 25
	 * aborts holding them; AS-OF and diff 6 each (fewer when a
	 * background compaction came first); 35 cursors left on a removed
	 * key */
	assert_true(r.nrange >= 200 && r.nprefix >= 50 && r.nempty >= 50 &&
		    r.nopen >= 25 && r.nhuge >= 3 && r.nbad >= 5 &&
		    r.nranged >= 8000 && r.nrcommits >= 60 &&
		    r.nraborts >= 8 && r.nfollow == r.nrcommits &&
		    r.nfeed + r.nfeed_skipped == r.nrcommits &&
		    r.nfeed >= r.nrcommits / 2 && r.nasof >= 1 &&
		    r.ndiff >= 1 && r.nbulk == 6 && r.ncursor_in >= 10);
	unlink(r.path);
	model_clear(&r.committed);
	model_clear(&r.cur);
	journal_clear(&r);
	free(r.j);
	free(r.path);
	free(r.kbuf);
	free(r.kbuf2);
	free(r.vbuf);
	free(r.fbuf);
	free(r.tbuf);
	keys_clear(r.samp, &r.nsamp);
}

/* Four seeds from QUIRE_SEED (default 1): two of each node size. */
static void test_seed0(void **state)
{
	run_seed(tu_seed(1));
}

static void test_seed1(void **state)
{
	run_seed(tu_seed(1) + 1);
}

static void test_seed2(void **state)
{
	run_seed(tu_seed(1) + 2);
}

static void test_seed3(void **state)
{
	run_seed(tu_seed(1) + 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed0),
		cmocka_unit_test(test_seed1),
		cmocka_unit_test(test_seed2),
		cmocka_unit_test(test_seed3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
