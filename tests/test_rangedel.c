/*
 * test_rangedel.c - range deletes in the batch modify (modify.c).
 *
 * Random batches of puts, deletes and ranges (empty, everything, at the
 * edges, inside one leaf, across many subtrees) go to a key tree straight
 * through modify_tree, in one write transaction that is never committed.
 * After each batch the tree is scanned against a model, its structure is
 * checked (order, separators, counts and bytes, levels, fill), the count
 * the ranges removed is compared, the old root is read again, and the
 * shape is compared with what the same batch spelled out as single deletes
 * makes of the old tree. And a range over a large tree costs the two paths
 * to its ends, not the keys between.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "append.h"
#include "internal.h"
#include "modify.h"
#include "testutil.h"
#include "tree.h"

#define KMAX 256 /* the longest key or range bound */

/* A key tree under test. Key kid: kid * 4 as 4 bytes big-endian, then pad
 * bytes (so bounds can fall between keys, and be shorter or longer). */
struct env {
	quire *db;
	quire_txn *t;
	unsigned pad, vmax;
	uint32_t nkids;
	uint64_t seed, meta;
	struct qroot root;
};

/* The model: each kid's version (meta 0: absent) and its value. */
struct slot {
	uint64_t meta;
	uint32_t vlen;
	int ool;
	uint64_t ool_off;
};

struct bound {
	uint8_t b[KMAX];
	uint32_t len;
	int inf; /* an end: none (to the last key) */
};

static uint32_t key_of(const struct env *v, uint32_t kid, uint8_t *k)
{
	uint32_t x = kid * 4;
	k[0] = (uint8_t)(x >> 24);
	k[1] = (uint8_t)(x >> 16);
	k[2] = (uint8_t)(x >> 8);
	k[3] = (uint8_t)x;
	memset(k + 4, 'p', v->pad);
	return 4 + v->pad;
}

static int kcmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static uint8_t val_byte(uint64_t meta, uint32_t i)
{
	return (uint8_t)(meta * 131 + i);
}

static struct env *env_open(const char *name, unsigned node_size,
			    unsigned pad, unsigned vmax, uint32_t nkids,
			    uint64_t seed)
{
	struct env *v = calloc(1, sizeof *v);
	quire_options o;
	assert_non_null(v);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.node_size = node_size;
	QOK(quire_open(tu_path(name), &o, &v->db));
	QOK(quire_begin(v->db, 0, &v->t)); /* the writer: appends, never commits */
	v->pad = pad;
	v->vmax = vmax;
	v->nkids = nkids;
	v->seed = seed;
	return v;
}

static void env_close(struct env *v)
{
	quire_abort(v->t);
	QOK(quire_close(v->db));
	free(v);
}

/* Apply muts to root (in place) with modify_tree; m (initialized by the
 * caller) keeps its figures for the caller until modify_done. */
static int apply(struct env *v, struct modify *m, struct qroot *root,
		 const struct mut *mu, size_t n)
{
	struct qroot out;
	int e = modify_tree(m, QT_KEYS, root, mu, n, NULL, &out);
	if (!e)
		e = df_flush(v->db); /* read back from the file */
	if (!e)
		*root = out;
	return e;
}

/* A put of kid: its mutation and its model slot. */
static void make_put(struct env *v, uint32_t kid, uint8_t *kb, uint8_t *vb,
		     struct mut *mu, struct slot *s)
{
	uint32_t vlen = (uint32_t)tu_below(&v->seed, v->vmax + 1);
	*s = (struct slot){.meta = ++v->meta, .vlen = vlen};
	for (uint32_t i = 0; i < vlen; i++)
		vb[i] = val_byte(s->meta, i);
	s->ool = tu_below(&v->seed, 10) == 0;
	if (s->ool)
		QOK(df_append_value(v->db, vb, vlen, &s->ool_off));
	*mu = (struct mut){.key = kb,
			   .klen = key_of(v, kid, kb),
			   .del = MUT_PUT,
			   .meta = s->meta,
			   .v = {.data = vb,
				 .len = vlen,
				 .ool = s->ool,
				 .ool_off = s->ool_off}};
}

/* The whole tree against the model. */
static void scan_equals(struct env *v, const struct qroot *r,
			const struct slot *model)
{
	struct tcur c;
	uint32_t kid = 0;
	uint64_t n = 0;
	int e;
	tcur_init(&c, v->db->qf, QT_KEYS, r);
	for (e = tcur_first(&c); e == 0; e = tcur_next(&c), kid++, n++) {
		struct lentry le;
		uint8_t k[KMAX];
		tcur_entry(&c, &le);
		while (kid < v->nkids && !model[kid].meta)
			kid++;
		assert_true(kid < v->nkids);
		uint32_t kl = key_of(v, kid, k);
		assert_true(tu_same(le.key, le.klen, k, kl));
		const struct slot *s = &model[kid];
		assert_int_equal(le.meta, s->meta);
		assert_int_equal(le.vlen, s->vlen);
		assert_int_equal(le.ool, s->ool);
		if (le.ool)
			assert_int_equal(le.ool_off, s->ool_off);
		for (uint32_t i = 0; !le.ool && i < le.vlen; i++)
			assert_int_equal(le.val[i], val_byte(s->meta, i));
	}
	assert_int_equal(e, QUIRE_NOTFOUND);
	while (kid < v->nkids && !model[kid].meta)
		kid++;
	assert_int_equal(kid, v->nkids);
	assert_int_equal(r->count, n);
}

struct shape {
	uint64_t nodes, under; /* under half the node size, off the edge */
	uint8_t last[KMAX];    /* the previous key, in key order */
	uint32_t lastlen;
	int have_last;
};

/*
 * Check the subtree at (off, size, level): entries in order across the
 * whole tree, each separator the first key of its child, counts and bytes
 * as the parent records them (*count, *bytes), no empty node, an internal
 * root with two children at least.
 */
static void check_node(struct env *v, uint64_t off, uint32_t size, int level,
		       int edge, int root, uint64_t *count, uint64_t *bytes,
		       struct shape *s)
{
	const uint8_t *n;
	QOK(node_get(v->db->qf, off, size, QT_KEYS, level, &n));
	unsigned c = node_count(n);
	assert_true(c >= (root && level > 0 ? 2u : 1u));
	s->nodes++;
	if (!edge && !root && size < v->db->opts.node_size / 2)
		s->under++;
	*count = 0;
	*bytes = size;
	for (unsigned i = 0; i < c; i++) {
		if (level == 0) {
			struct lentry le;
			node_leaf_entry(n, i, &le);
			assert_true(le.klen <= KMAX);
			assert_true(!s->have_last || kcmp(s->last, s->lastlen,
							  le.key, le.klen) < 0);
			memcpy(s->last, le.key, le.klen);
			s->lastlen = le.klen;
			s->have_last = 1;
			*count += 1;
			*bytes += le.ool ? QF_BLOCK_HDR + (uint64_t)le.vlen : 0;
			continue;
		}
		struct ientry ie;
		const uint8_t *child;
		uint64_t cc, cb;
		uint32_t kl;
		node_int_entry(n, i, &ie);
		QOK(node_get(v->db->qf, ie.child_off, ie.child_size, QT_KEYS,
			     level - 1, &child));
		const uint8_t *first = node_key(child, 0, &kl);
		assert_true(tu_same(ie.key, ie.klen, first, kl));
		check_node(v, ie.child_off, ie.child_size, level - 1,
			   edge && i + 1 == c, 0, &cc, &cb, s);
		assert_int_equal(ie.count, cc);
		assert_int_equal(ie.bytes, cb);
		*count += cc;
		*bytes += cb;
	}
}

static void check_tree(struct env *v, const struct qroot *r, struct shape *s)
{
	uint64_t count, bytes;
	memset(s, 0, sizeof *s);
	if (!r->off) {
		assert_int_equal(r->height, 0);
		assert_int_equal(r->count, 0);
		return;
	}
	check_node(v, r->off, r->size, r->height - 1, 1, 1, &count, &bytes, s);
	assert_int_equal(r->count, count);
	assert_int_equal(r->bytes, bytes);
}

/* A bound near kid x: its key, a 4-byte prefix (just below its key, or
 * between it and the next), a 3-byte one, or just past its key. */
static void bound_near(struct env *v, uint32_t x, struct bound *b)
{
	uint8_t k[KMAX];
	uint32_t kl = key_of(v, x, k);
	b->inf = 0;
	switch (tu_below(&v->seed, 4)) {
	case 0:
		memcpy(b->b, k, kl);
		b->len = kl;
		break;
	case 1:
		memcpy(b->b, k, 4);
		b->b[3] += (uint8_t)tu_below(&v->seed, 4);
		b->len = 4;
		break;
	case 2:
		memcpy(b->b, k, 3);
		b->len = 3;
		break;
	default:
		memcpy(b->b, k, kl);
		b->b[kl] = 0;
		b->len = kl + 1;
	}
}

enum { R_ALL, R_LEFT, R_RIGHT, R_LEAF, R_WIDE, R_EMPTY, R_KINDS };

/* A random range of the given kind (-1: a random one). */
static int make_range(struct env *v, int kind, struct bound *from,
		      struct bound *to)
{
	uint32_t a = (uint32_t)tu_below(&v->seed, v->nkids);
	if (kind < 0 && (kind = (int)tu_below(&v->seed, R_KINDS)) == R_ALL &&
	    tu_below(&v->seed, 8))
		kind = R_WIDE; /* it empties the tree: rarely */
	from->len = 0;
	from->inf = to->inf = 0;
	switch (kind) {
	case R_ALL:
		to->inf = 1;
		break;
	case R_LEFT:
		bound_near(v, a, to);
		break;
	case R_RIGHT:
		bound_near(v, a, from);
		to->inf = 1;
		break;
	case R_LEAF:
	case R_WIDE: {
		uint64_t span = kind == R_LEAF ? 1 + tu_below(&v->seed, 6)
					       : tu_below(&v->seed, v->nkids / 2);
		bound_near(v, a, from);
		bound_near(v, (uint32_t)QMIN(a + span, v->nkids), to);
		break;
	}
	default: /* nothing between: one bound twice, or past a key to the next */
		if (tu_below(&v->seed, 2)) {
			bound_near(v, a, from);
			*to = *from;
		} else {
			from->len = key_of(v, a, from->b);
			from->b[from->len++] = 0;
			to->len = key_of(v, a + 1, to->b);
		}
	}
	if (!to->inf && kcmp(from->b, from->len, to->b, to->len) > 0) {
		struct bound x = *from;
		*from = *to;
		*to = x;
	}
	return kind;
}

static int in_range(const uint8_t *k, uint32_t kl, const struct bound *from,
		    const struct bound *to)
{
	return kcmp(from->b, from->len, k, kl) <= 0 &&
	       (to->inf || kcmp(k, kl, to->b, to->len) < 0);
}

struct stats {
	uint64_t batches, ranges, kinds[R_KINDS], removed, most_removed;
	uint64_t under_range, under_single, nodes_range, nodes_single;
	uint64_t heights;
	unsigned lower, turn;
};

/* Random batch number b: apply it, then check everything against the
 * model. Its first range is of each kind in turn (one of all keys once),
 * the others random; every tenth batch has none. */
static void one_batch(struct env *v, int b, struct slot *model,
		      struct slot *prev, struct stats *st)
{
	struct bound from[4], to[4];
	size_t nr = 0, want = b % 10 == 5 ? 0 : 1 + tu_below(&v->seed, 3);
	/* ranges, sorted by start and without overlaps */
	for (size_t i = 0; i < want; i++) {
		int kind = i ? -1 : b == 30 ? R_ALL : 1 + (int)(st->turn++ % 5);
		kind = make_range(v, kind, &from[nr], &to[nr]);
		size_t p = nr;
		while (p > 0 && kcmp(from[p - 1].b, from[p - 1].len, from[nr].b,
				     from[nr].len) > 0)
			p--;
		int overlap =
			(p > 0 && (to[p - 1].inf ||
				   kcmp(to[p - 1].b, to[p - 1].len, from[nr].b,
					from[nr].len) > 0)) ||
			(p < nr && (to[nr].inf ||
				    kcmp(to[nr].b, to[nr].len, from[p].b,
					 from[p].len) > 0));
		if (overlap)
			continue;
		struct bound f = from[nr], t = to[nr];
		memmove(from + p + 1, from + p, (nr - p) * sizeof *from);
		memmove(to + p + 1, to + p, (nr - p) * sizeof *to);
		from[p] = f;
		to[p] = t;
		nr++;
		st->kinds[kind]++;
	}
	/* puts and deletes of random kids: many of them now and then, and
	 * when the ranges left few keys, so that the tree stays deep */
	size_t live = 0;
	for (uint32_t kid = 0; kid < v->nkids; kid++)
		live += model[kid].meta != 0;
	size_t np = (size_t)tu_below(&v->seed, tu_below(&v->seed, 8) ? 200
								       : 4000);
	if (live < v->nkids / 4)
		np = v->nkids / 3;
	uint8_t *op = calloc(v->nkids, 1); /* 1: put, 2: delete */
	assert_non_null(op);
	for (size_t i = 0; i < np; i++)
		op[tu_below(&v->seed, v->nkids)] = tu_below(&v->seed, 4) ? 1 : 2;

	memcpy(prev, model, v->nkids * sizeof *model);
	struct mut *mu = malloc((v->nkids + nr) * sizeof *mu);
	struct mut *single = malloc(v->nkids * sizeof *single);
	uint8_t *kb = malloc((size_t)v->nkids * KMAX);
	uint8_t *vb = malloc((size_t)v->nkids * v->vmax + 1);
	assert_true(mu && single && kb && vb);
	size_t n = 0, ns = 0, r = 0;
	uint64_t removed = 0;
	for (uint32_t kid = 0; kid < v->nkids; kid++) {
		uint8_t *k = kb + (size_t)kid * KMAX;
		uint32_t kl = key_of(v, kid, k);
		for (; r < nr && kcmp(from[r].b, from[r].len, k, kl) <= 0; r++)
			mu[n++] = (struct mut){
				.key = from[r].b,
				.klen = from[r].len,
				.del = MUT_RANGE,
				.end = {to[r].inf ? NULL : to[r].b, to[r].len}};
		int inside = 0;
		for (size_t i = 0; i < nr && !inside; i++)
			inside = in_range(k, kl, &from[i], &to[i]);
		if (inside && model[kid].meta) {
			model[kid].meta = 0;
			removed++;
		}
		if (op[kid] == 1) {
			make_put(v, kid, k, vb + (size_t)kid * v->vmax, &mu[n],
				 &model[kid]);
			single[ns++] = mu[n++];
		} else if (op[kid] == 2) {
			model[kid].meta = 0;
			mu[n++] = single[ns++] = (struct mut){
				.key = k, .klen = kl, .del = MUT_DEL};
		} else if (inside && prev[kid].meta) {
			single[ns++] = (struct mut){
				.key = k, .klen = kl, .del = MUT_DEL};
		}
	}
	for (; r < nr; r++)
		mu[n++] = (struct mut){
			.key = from[r].b,
			.klen = from[r].len,
			.del = MUT_RANGE,
			.end = {to[r].inf ? NULL : to[r].b, to[r].len}};

	/* the batch with its ranges, and spelled out as single deletes */
	struct qroot old = v->root, alt = v->root;
	struct modify m;
	struct shape sr, ss;
	modify_init(&m, v->db, 1);
	QOK(apply(v, &m, &v->root, mu, n));
	assert_int_equal(m.rm_keys, removed);
	/* an entry takes its offset slot, klen, key, meta and value head */
	assert_true(m.rm_bytes >= removed * (2 + 1 + 4 + v->pad + 2) &&
		    m.rm_bytes <= old.bytes);
	modify_done(&m, 1);
	modify_init(&m, v->db, 1);
	QOK(apply(v, &m, &alt, single, ns));
	modify_done(&m, 1);

	scan_equals(v, &v->root, model);
	check_tree(v, &v->root, &sr);
	scan_equals(v, &old, prev); /* copy-on-write: the old tree as it was */
	scan_equals(v, &alt, model);
	check_tree(v, &alt, &ss);
	/* joining the two paths leaves no more slivers than single deletes */
	assert_true(sr.under <= ss.under + v->root.height);
	st->under_range += sr.under;
	st->under_single += ss.under;
	st->nodes_range += sr.nodes;
	st->nodes_single += ss.nodes;
	st->lower += v->root.height < alt.height;
	st->batches++;
	st->ranges += nr;
	st->removed += removed;
	st->most_removed = QMAX(st->most_removed, removed);
	st->heights += v->root.height;
	free(op);
	free(mu);
	free(single);
	free(kb);
	free(vb);
}

static void random_batches(const char *name, unsigned node_size,
			   unsigned pad, unsigned vmax, uint64_t seed)
{
	uint32_t nkids = 20000;
	struct env *v = env_open(name, node_size, pad, vmax, nkids,
				 tu_seed(seed));
	struct slot *model = calloc(nkids, sizeof *model);
	struct slot *prev = calloc(nkids, sizeof *prev);
	struct stats st = {0};
	assert_true(model && prev);
	/* start from a deep tree: half the kids, in a few batches */
	for (int b = 0; b < 4; b++) {
		struct mut *mu = malloc(nkids * sizeof *mu);
		uint8_t *kb = malloc((size_t)nkids * KMAX);
		uint8_t *vb = malloc((size_t)nkids * vmax + 1);
		size_t n = 0;
		assert_true(mu && kb && vb);
		for (uint32_t kid = 0; kid < nkids; kid++)
			if (tu_below(&v->seed, 6) == 0)
				make_put(v, kid, kb + (size_t)kid * KMAX,
					 vb + (size_t)kid * vmax, &mu[n++],
					 &model[kid]);
		struct modify m;
		modify_init(&m, v->db, 1);
		QOK(apply(v, &m, &v->root, mu, n));
		modify_done(&m, 1);
		free(mu);
		free(kb);
		free(vb);
	}
	unsigned start_height = v->root.height;
	for (int i = 0; i < 60; i++)
		one_batch(v, i, model, prev, &st);
	print_message("# node %u: height %u (mean %.1f), %llu batches, %llu "
		      "ranges (all %llu, left %llu, right %llu, leaf %llu, "
		      "wide %llu, empty %llu), %llu keys removed (at most "
		      "%llu at once); under half full: %llu of %llu nodes, "
		      "single deletes %llu of %llu; %u times lower\n",
		      node_size, start_height,
		      (double)st.heights / (double)st.batches,
		      (unsigned long long)st.batches,
		      (unsigned long long)st.ranges,
		      (unsigned long long)st.kinds[R_ALL],
		      (unsigned long long)st.kinds[R_LEFT],
		      (unsigned long long)st.kinds[R_RIGHT],
		      (unsigned long long)st.kinds[R_LEAF],
		      (unsigned long long)st.kinds[R_WIDE],
		      (unsigned long long)st.kinds[R_EMPTY],
		      (unsigned long long)st.removed,
		      (unsigned long long)st.most_removed,
		      (unsigned long long)st.under_range,
		      (unsigned long long)st.nodes_range,
		      (unsigned long long)st.under_single,
		      (unsigned long long)st.nodes_single, st.lower);
	/* it enumerated what it claims: deep trees, every kind of range */
	assert_true(start_height >= 3);
	for (int k = 0; k < R_KINDS; k++)
		assert_true(st.kinds[k] >= (k == R_ALL ? 1u : 8u));
	assert_true(st.most_removed >= 1000);
	free(model);
	free(prev);
	env_close(v);
}

static void test_random_512(void **state)
{
	random_batches("rd512", 512, 12, 40, 140);
}

static void test_random_4096(void **state)
{
	/* long keys and values: a 4 KiB node holds few, so the tree is deep */
	random_batches("rd4096", 4096, 200, 600, 141);
}

/* A range over most of a large tree reads and writes the two paths to its
 * ends: a few nodes per level, however many keys it removes. */
static void test_range_cost(void **state)
{
	uint32_t nkids = 200000;
	struct env *v = env_open("cost", 512, 4, 24, nkids, tu_seed(142));
	struct slot *model = calloc(nkids, sizeof *model);
	struct mut *mu = malloc(nkids * sizeof *mu);
	uint8_t *kb = malloc((size_t)nkids * KMAX);
	uint8_t *vb = malloc((size_t)nkids * v->vmax + 1);
	struct modify m;
	assert_true(model && mu && kb && vb);
	for (uint32_t kid = 0; kid < nkids; kid++)
		make_put(v, kid, kb + (size_t)kid * KMAX,
			 vb + (size_t)kid * v->vmax, &mu[kid], &model[kid]);
	modify_init(&m, v->db, 0);
	QOK(apply(v, &m, &v->root, mu, nkids));
	modify_done(&m, 1);
	unsigned h = v->root.height;
	uint64_t bytes = v->root.bytes;

	/* [key 10%, key 90%); then one more around what is left, with a put
	 * on either side and one inside, which goes in after the range */
	static const uint32_t cut[][2] = {{20000, 180000}, {5000, 195000}};
	static const uint32_t puts[] = {1000, 100000, 199000};
	for (int round = 0; round < 2; round++) {
		uint8_t a[KMAX], b[KMAX];
		uint64_t removed = 0;
		size_t n = 0;
		for (uint32_t kid = cut[round][0]; kid < cut[round][1]; kid++) {
			removed += model[kid].meta != 0;
			model[kid].meta = 0;
		}
		for (int i = 0; i < 3; i++) {
			if (i == 1)
				mu[n++] = (struct mut){
					.key = a,
					.klen = key_of(v, cut[round][0], a),
					.del = MUT_RANGE,
					.end = {b, key_of(v, cut[round][1], b)}};
			if (round)
				make_put(v, puts[i], kb + (size_t)puts[i] * KMAX,
					 vb + (size_t)puts[i] * v->vmax,
					 &mu[n++], &model[puts[i]]);
		}
		modify_init(&m, v->db, 1);
		QOK(apply(v, &m, &v->root, mu, n));
		print_message("# height %u: %llu keys removed, %zu nodes "
			      "written, %zu read and replaced; height now %u\n",
			      h, (unsigned long long)m.rm_keys, m.nnodes,
			      m.nreplaced, v->root.height);
		assert_int_equal(m.rm_keys, removed);
		assert_true(h >= 4 && removed >= 10000);
		/* a few nodes per level of each path: the range's two ends
		 * and each put */
		size_t paths = round ? 5 : 2;
		assert_true(m.nnodes <= (paths + 1) * h);
		assert_true(m.nreplaced <= (paths + 1) * h);
		if (!round) /* most of it dropped by its counts, unread */
			assert_true(m.rm_bytes > bytes / 2);
		modify_done(&m, 1);
		scan_equals(v, &v->root, model);
		struct shape s;
		check_tree(v, &v->root, &s);
	}
	free(model);
	free(mu);
	free(kb);
	free(vb);
	env_close(v);
}

/* Ranges that overlap, or end before they start, are refused. */
static void test_bad_ranges(void **state)
{
	struct env *v = env_open("bad", 512, 0, 8, 100, 1);
	uint8_t k[5][KMAX];
	struct modify m;
	for (uint32_t i = 0; i < 5; i++)
		key_of(v, i, k[i]);
	const struct mut over[] = {
		{.key = k[0], .klen = 4, .del = MUT_RANGE, .end = {k[2], 4}},
		{.key = k[1], .klen = 4, .del = MUT_RANGE, .end = {k[3], 4}}};
	const struct mut open[] = {
		{.key = k[0], .klen = 4, .del = MUT_RANGE, .end = {NULL, 0}},
		{.key = k[4], .klen = 4, .del = MUT_RANGE, .end = {NULL, 0}}};
	const struct mut back[] = {
		{.key = k[3], .klen = 4, .del = MUT_RANGE, .end = {k[1], 4}}};
	const struct mut fine[] = {
		{.key = k[0], .klen = 4, .del = MUT_RANGE, .end = {k[1], 4}},
		{.key = k[1], .klen = 4, .del = MUT_RANGE, .end = {k[1], 4}},
		{.key = k[1], .klen = 4, .del = MUT_RANGE, .end = {NULL, 0}}};
	struct {
		const struct mut *mu;
		size_t n;
		int e;
	} cases[] = {{over, 2, QUIRE_EINVAL},
		     {open, 2, QUIRE_EINVAL},
		     {back, 1, QUIRE_EINVAL},
		     {fine, 3, 0}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		modify_init(&m, v->db, 1);
		assert_int_equal(apply(v, &m, &v->root, cases[i].mu, cases[i].n),
				 cases[i].e);
		modify_done(&m, 0);
	}
	env_close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_512),
		cmocka_unit_test(test_random_4096),
		cmocka_unit_test(test_range_cost),
		cmocka_unit_test(test_bad_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
