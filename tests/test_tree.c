/*
 * test_tree.c - the shape of the trees that batch modification builds.
 *
 * Sequential inserts leave full nodes; random inserts leave nodes at least
 * half full on average; deletes merge nodes and the tree shrinks back to a
 * single leaf and then to nothing; a commit writes each touched node once;
 * and the by-sequence tree records every operation, in order, pointing at
 * the leaf entry where each put landed.
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

#include "internal.h"
#include "oplog.h"
#include "testutil.h"
#include "tree.h"

struct shape {
	uint64_t nodes[TREE_MAX_HEIGHT], bytes[TREE_MAX_HEIGHT];
	uint64_t small;  /* nodes under a quarter of the target, off the edge */
	uint64_t leaves;
};

static void walk(quire *db, int tree, uint64_t off, uint32_t size, int level,
		 int edge, unsigned target, struct shape *s)
{
	const uint8_t *n;
	QOK(node_get(db->qf, off, size, tree, level, &n));
	s->nodes[level]++;
	s->bytes[level] += size;
	if (!edge && size < target / 4)
		s->small++;
	if (level == 0) {
		s->leaves++;
		return;
	}
	for (unsigned i = 0; i < node_count(n); i++) {
		struct ientry ie;
		node_int_entry(n, i, &ie);
		walk(db, tree, ie.child_off, ie.child_size, level - 1,
		     edge && i + 1 == node_count(n), target, s);
	}
}

static void shape_of(quire_txn *t, int tree, struct shape *s)
{
	const struct qroot *r = &t->snap->h.root[tree];
	memset(s, 0, sizeof *s);
	if (r->off)
		walk(t->db, tree, r->off, r->size, r->height - 1, 1,
		     t->db->opts.node_size, s);
}

static quire *open_new(const char *name, unsigned node_size)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.node_size = node_size;
	o.checkpoint_ops = 1; /* the tree itself is under test, */
	o.auto_compact_ratio = 0; /* not the shape compaction gives it */
	QOK(quire_open(tu_path(name), &o, &db));
	return db;
}

static void put_keys(quire *db, const uint32_t *ids, size_t n, size_t batch)
{
	char k[17], v[100];
	memset(v, 'v', sizeof v);
	for (size_t i = 0; i < n;) {
		quire_txn *t;
		QOK(quire_begin(db, 0, &t));
		for (size_t j = 0; j < batch && i < n; j++, i++) {
			snprintf(k, sizeof k, "%016u", ids[i]);
			QOK(quire_put(t, k, 16, v, sizeof v));
		}
		QOK(quire_commit(t));
	}
}

static void test_sequential_fill(void **state)
{
	quire *db = open_new("seq", 4096);
	size_t n = 50000;
	uint32_t *ids = malloc(n * sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = (uint32_t)i;
	put_keys(db, ids, n, 1000);
	quire_txn *t;
	struct shape s;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	shape_of(t, QT_KEYS, &s);
	/* every leaf but the last is full to within one entry */
	double fill = (double)s.bytes[0] / (double)(s.nodes[0] * 4096);
	print_message("# sequential: %llu leaves, fill %.3f\n",
		      (unsigned long long)s.nodes[0], fill);
	assert_true(s.nodes[0] >= 1000 && fill > 0.95);
	shape_of(t, QT_SEQ, &s);
	assert_true((double)s.bytes[0] / (double)(s.nodes[0] * 4096) > 0.95);
	quire_abort(t);
	QOK(quire_close(db));
	free(ids);
}

static void test_random_then_delete(void **state)
{
	quire *db = open_new("rnd", 512);
	size_t n = 20000;
	uint64_t seed = tu_seed(41);
	uint32_t *ids = malloc(n * sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = (uint32_t)tu_below(&seed, 1000000000);
	put_keys(db, ids, n, 500);
	quire_txn *t;
	quire_stat st;
	struct shape s;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	shape_of(t, QT_KEYS, &s);
	QOK(quire_txn_stat(t, &st));
	unsigned full_depth = st.depth;
	double fill = (double)s.bytes[0] / (double)(s.nodes[0] * 512);
	print_message("# random: depth %u, %llu leaves, fill %.3f, %llu small\n",
		      st.depth, (unsigned long long)s.nodes[0], fill,
		      (unsigned long long)s.small);
	assert_true(s.nodes[0] >= 3000 && fill > 0.5);
	assert_int_equal(s.small, 0);
	quire_abort(t);

	/* delete 95% in random batches: nodes merge, the tree gets lower */
	for (size_t i = 0; i < n; i++) {
		size_t j = i + (size_t)tu_below(&seed, n - i);
		uint32_t x = ids[i];
		ids[i] = ids[j];
		ids[j] = x;
	}
	size_t keep = n / 20;
	for (size_t i = keep; i < n;) {
		QOK(quire_begin(db, 0, &t));
		for (size_t j = 0; j < 300 && i < n; j++, i++) {
			char k[17];
			snprintf(k, sizeof k, "%016u", ids[i]);
			int e = quire_del(t, k, 16);
			assert_true(e == 0 || e == QUIRE_NOTFOUND); /* dup ids */
		}
		QOK(quire_commit(t));
	}
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	shape_of(t, QT_KEYS, &s);
	QOK(quire_txn_stat(t, &st));
	fill = (double)s.bytes[0] / (double)(s.nodes[0] * 512);
	print_message("# after deletes: %llu keys, depth %u, %llu leaves, "
		      "fill %.3f, %llu small\n",
		      (unsigned long long)st.key_count, st.depth,
		      (unsigned long long)s.nodes[0], fill,
		      (unsigned long long)s.small);
	assert_true(st.key_count >= 900 && s.nodes[0] >= 100);
	assert_true(st.depth < full_depth);
	assert_true(fill > 0.35);
	assert_true(s.small * 20 <= s.leaves); /* at most 5% slivers */
	uint64_t problems;
	QOK(quire_check(t, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	quire_abort(t);

	/* delete everything: no tree at all */
	QOK(quire_begin(db, 0, &t));
	for (size_t i = 0; i < keep; i++) {
		char k[17];
		snprintf(k, sizeof k, "%016u", ids[i]);
		int e = quire_del(t, k, 16);
		assert_true(e == 0 || e == QUIRE_NOTFOUND);
	}
	QOK(quire_commit(t));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &st));
	assert_int_equal(st.key_count, 0);
	assert_int_equal(st.depth, 0);
	assert_int_equal(st.live_bytes, 0);
	assert_int_equal(t->snap->h.root[QT_KEYS].off, 0);
	quire_abort(t);
	QOK(quire_close(db));
	free(ids);
}

/* One put rewrites one path per tree, nothing more. */
static void test_one_put_writes_one_path(void **state)
{
	quire *db = open_new("path", 512);
	size_t n = 20000;
	uint32_t *ids = malloc(n * sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = (uint32_t)(i * 7919 % n);
	put_keys(db, ids, n, 1000);
	quire_txn *t;
	quire_stat a, b;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &a));
	unsigned hseq = t->snap->h.root[QT_SEQ].height;
	quire_abort(t);
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "0000000000001234", 16, "x", 1));
	QOK(quire_commit(t));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &b));
	quire_abort(t);
	uint64_t appended = b.file_bytes - a.file_bytes;
	uint64_t bound = (a.depth + hseq) * (512 + 200) + QF_HDR_FIXED;
	print_message("# one put, depths %u+%u: %llu bytes appended\n", a.depth,
		      hseq, (unsigned long long)appended);
	assert_true(appended > QF_HDR_FIXED && appended <= bound);
	QOK(quire_close(db));
	free(ids);
}

/* The oplog holds every operation in order; puts point at their entry. */
static void test_oplog_records(void **state)
{
	quire *db = open_new("oplog", 512);
	quire_txn *t;
	struct {
		char key[16];
		int del;
		char val[16];
	} log[600];
	int nlog = 0;
	uint64_t seed = tu_seed(42);
	for (int c = 0; c < 30; c++) {
		QOK(quire_begin(db, 0, &t));
		for (int i = 0; i < 20; i++) {
			char k[16];
			snprintf(k, sizeof k, "key%03u",
				 (unsigned)tu_below(&seed, 60));
			quire_val v;
			int del = quire_get(t, k, strlen(k), &v) == 0 &&
				  tu_below(&seed, 3) == 0;
			strcpy(log[nlog].key, k);
			log[nlog].del = del;
			if (del) {
				QOK(quire_del(t, k, strlen(k)));
			} else {
				snprintf(log[nlog].val, 16, "v%d", nlog);
				QOK(quire_put(t, k, strlen(k), log[nlog].val,
					      strlen(log[nlog].val)));
			}
			nlog++;
		}
		QOK(quire_commit(t));
	}
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	struct tcur c;
	tcur_init(&c, db->qf, QT_SEQ, &t->snap->h.root[QT_SEQ]);
	int i = 0, r;
	for (r = tcur_first(&c); r == 0; r = tcur_next(&c), i++) {
		struct lentry e;
		struct oprec op;
		tcur_entry(&c, &e);
		assert_true(i < nlog);
		assert_int_equal(e.klen, 8);
		assert_int_equal(ld64be(e.key), (uint64_t)i + 1);
		assert_int_equal(e.meta, (uint64_t)(i / 20) + 1); /* txn id */
		QOK(oprec_parse(e.val, e.vlen, &op));
		const uint8_t *key = op.key, *val = op.val;
		uint32_t klen = op.klen, vlen = op.vlen;
		if (op.kind == OP_PUTREF) {
			const uint8_t *leaf;
			struct lentry le;
			QOK(node_get(db->qf, op.leaf_off, op.leaf_size, QT_KEYS, 0,
				     &leaf));
			assert_true(op.slot < node_count(leaf));
			node_leaf_entry(leaf, op.slot, &le);
			assert_int_equal(le.meta, (uint64_t)i + 1);
			key = le.key;
			klen = le.klen;
			val = le.val;
			vlen = le.vlen;
		}
		assert_int_equal(op.kind == OP_DEL, log[i].del);
		assert_int_equal(klen, strlen(log[i].key));
		assert_memory_equal(key, log[i].key, klen);
		if (!log[i].del) {
			assert_int_equal(vlen, strlen(log[i].val));
			assert_memory_equal(val, log[i].val, vlen);
		}
	}
	assert_int_equal(r, QUIRE_NOTFOUND);
	assert_int_equal(i, nlog);
	quire_abort(t);
	QOK(quire_close(db));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequential_fill),
		cmocka_unit_test(test_random_then_delete),
		cmocka_unit_test(test_one_put_writes_one_path),
		cmocka_unit_test(test_oplog_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
