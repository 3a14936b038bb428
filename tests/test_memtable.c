/*
 * test_memtable.c - the memtable's hash and its lazily linked list, with
 * every operation pending (no checkpoint, no compaction), against a model:
 * point reads of keys present and absent (the hash), forward and backward
 * scans and seeks (the list, linked when a scan first needs it: the keys
 * sorted on the bytes after the prefix they all share), a second handle
 * that loads the pending batches and then follows new commits (of 1 to
 * 12 operations now and then, fewer keys than its insertion reads ahead,
 * and of 150), and reopens. Key shapes that make the sort work: short keys, keys that are
 * prefixes of others, zero bytes, long shared prefixes that differ only at
 * the end, eight-byte windows that tie. Once with the hash table's packed
 * slots (address and hash tag in one word), once with the wide tables that
 * addresses of 48 bits or more get (forced through mt_test_wide).
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
#include "memtable.h"
#include "snap.h"
#include "testutil.h"

#define NSHAPES 6
#define ROUNDS 240
#define PER_COMMIT 150

struct run {
	uint64_t rng;
	struct model m;
	uint64_t hits, misses, scans, seeks, loads;
};

/* A key of the given shape in buf (64 bytes); its length. */
static size_t make_key(struct run *r, int shape, uint8_t *buf)
{
	size_t n = 0;
	switch (shape) {
	case 0: /* short, tiny alphabet: prefixes of each other, zeros */
		n = tu_below(&r->rng, 12);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)tu_below(&r->rng, 3);
		break;
	case 1: /* the bench's: decimal digits after a shared prefix */
		n = (size_t)snprintf((char *)buf, 64, "user:%012llu",
				     (unsigned long long)tu_below(&r->rng,
								  100000));
		break;
	case 2: /* 30 shared bytes, differing at the end or shorter */
		n = 30 + tu_below(&r->rng, 10);
		memset(buf, 'x', 30);
		for (size_t i = 30; i < n; i++)
			buf[i] = (uint8_t)tu_below(&r->rng, 4);
		break;
	case 3: /* 0x00 and 0xff, one to three bytes */
		n = 1 + tu_below(&r->rng, 3);
		for (size_t i = 0; i < n; i++)
			buf[i] = tu_below(&r->rng, 2) ? 0xff : 0;
		break;
	case 4: /* eight equal bytes, then random ones (ties on the window) */
		n = 8 + tu_below(&r->rng, 12);
		memset(buf, 7, 8);
		for (size_t i = 8; i < n; i++)
			buf[i] = (uint8_t)tu_rand(&r->rng);
		break;
	default: /* random binary */
		n = 1 + tu_below(&r->rng, 24);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)tu_rand(&r->rng);
		break;
	}
	return n;
}

static void check_get(struct run *r, quire_txn *t, const uint8_t *k, size_t kl)
{
	const struct model_ent *e = model_get(&r->m, k, kl);
	quire_val v;
	int rc = quire_get(t, k, kl, &v);
	if (e) {
		QOK(rc);
		if (!tu_same(v.data, v.size, e->val, e->vlen))
			fail_msg("get: wrong value (%zu bytes, want %zu)",
				 v.size, e->vlen);
		r->hits++;
	} else {
		if (rc != QUIRE_NOTFOUND)
			fail_msg("get of a missing key: %d", rc);
		r->misses++;
	}
}

/* Every key, forwards and backwards, and a few seeks. */
static void check_scan(struct run *r, quire_txn *t)
{
	quire_cursor *c;
	quire_val k;
	size_t i = 0;
	int e;
	QOK(quire_cursor_open(t, &c));
	for (e = quire_cursor_first(c); e == 0; e = quire_cursor_next(c), i++) {
		QOK(quire_cursor_key(c, &k));
		if (i >= r->m.n || !tu_same(k.data, k.size, r->m.v[i].key,
					    r->m.v[i].klen))
			fail_msg("forward scan: key %zu of %zu differs", i,
				 r->m.n);
	}
	assert_int_equal(e, QUIRE_NOTFOUND);
	assert_int_equal(i, r->m.n);
	for (e = quire_cursor_last(c); e == 0; e = quire_cursor_prev(c)) {
		QOK(quire_cursor_key(c, &k));
		if (!i || !tu_same(k.data, k.size, r->m.v[i - 1].key,
				   r->m.v[i - 1].klen))
			fail_msg("backward scan: key %zu differs", i);
		i--;
	}
	assert_int_equal(e, QUIRE_NOTFOUND);
	assert_int_equal(i, 0);
	for (int s = 0; s < 20; s++) {
		uint8_t kb[64];
		size_t kl = make_key(r, (int)tu_below(&r->rng, NSHAPES), kb);
		size_t at = model_lower(&r->m, kb, kl);
		e = quire_cursor_seek(c, kb, kl);
		if (at == r->m.n) {
			assert_int_equal(e, QUIRE_NOTFOUND);
		} else {
			QOK(e);
			QOK(quire_cursor_key(c, &k));
			if (!tu_same(k.data, k.size, r->m.v[at].key,
				     r->m.v[at].klen))
				fail_msg("seek: wrong key");
		}
		r->seeks++;
	}
	quire_cursor_close(c);
	r->scans++;
}

/* Reads through a handle: the model's keys and as many others. */
static void check_handle(struct run *r, quire *db)
{
	quire_txn *t;
	uint8_t kb[64];
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	for (int i = 0; i < 200 && r->m.n; i++) {
		const struct model_ent *e =
			&r->m.v[tu_below(&r->rng, r->m.n)];
		check_get(r, t, e->key, e->klen);
		size_t kl = make_key(r, (int)tu_below(&r->rng, NSHAPES), kb);
		check_get(r, t, kb, kl);
	}
	check_scan(r, t);
	quire_abort(t);
}

static int wide_now(quire *db)
{
	struct snap *s = snap_acquire(db);
	int w = mt_wide(s->mt);
	snap_release(s);
	return w;
}

static void run_memtable(int wide)
{
	struct run r = {.rng = tu_seed(11) + (uint64_t)wide};
	char path[4096];
	quire_options o;
	quire *db = NULL, *rd = NULL;
	uint8_t kb[64], val[2048];
	mt_test_wide = wide;
	snprintf(path, sizeof path, "%s", tu_path(wide ? "mt-wide" : "mt"));
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	o.checkpoint_ops = 1ul << 30; /* all pending: the memtable only */
	o.auto_compact_ratio = 0;
	QOK(quire_open(path, &o, &db));
	for (int round = 0; round < ROUNDS; round++) {
		quire_txn *w;
		int shape = round % NSHAPES;
		/* some commits of fewer keys than mt_add_batch reads ahead */
		int nops = round % 5 == 2 ? 1 + (int)tu_below(&r.rng, 12)
					  : PER_COMMIT;
		QOK(quire_begin(db, 0, &w));
		for (int j = 0; j < nops; j++) {
			size_t kl = make_key(&r, shape, kb);
			if (tu_below(&r.rng, 6) == 0) {
				int e = quire_del(w, kb, kl);
				if (e != QUIRE_NOTFOUND)
					QOK(e);
				assert_int_equal(e == 0,
						 model_del(&r.m, kb, kl));
				continue;
			}
			/* now and then a value stored out of line */
			size_t vl = tu_below(&r.rng, 50) ? tu_below(&r.rng, 40)
							 : 1500;
			for (size_t i = 0; i < vl; i++)
				val[i] = (uint8_t)tu_rand(&r.rng);
			QOK(quire_put(w, kb, kl, val, vl));
			model_put(&r.m, kb, kl, val, vl);
		}
		QOK(quire_commit(w));
		if (round % 7 == 3)
			check_handle(&r, db);
		if (round % 11 == 5) {
			/* a second handle loads the pending batches at
			 * open, then the new ones as it follows */
			if (!rd) {
				quire_options ro;
				quire_options_init(&ro);
				ro.flags = QUIRE_RDONLY;
				QOK(quire_open(path, &ro, &rd));
				r.loads++;
			}
			check_handle(&r, rd);
		}
		if (round == ROUNDS / 2) { /* the writer loads them too */
			QOK(quire_close(db));
			QOK(quire_open(path, &o, &db));
			r.loads++;
		}
	}
	check_handle(&r, db);
	check_handle(&r, rd);
	assert_int_equal(wide_now(db), wide);
	assert_int_equal(wide_now(rd), wide);
	quire_stat st;
	quire_txn *t;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &st));
	quire_abort(t);
	print_message("# %s tables: %zu keys, %llu pending operations; "
		      "%llu gets found, %llu missing, %llu scans, %llu seeks, "
		      "%llu loads\n",
		      wide ? "wide" : "packed", r.m.n,
		      (unsigned long long)st.pending_ops,
		      (unsigned long long)r.hits, (unsigned long long)r.misses,
		      (unsigned long long)r.scans, (unsigned long long)r.seeks,
		      (unsigned long long)r.loads);
	/* (nearly) everything stayed pending, and every path ran; the
	 * first commit into the empty tree is folded at once */
	assert_true(st.pending_ops >= (uint64_t)ROUNDS * PER_COMMIT / 2);
	assert_true(r.m.n >= 10000);
	assert_true(r.hits >= 10000 && r.misses >= 5000);
	assert_true(r.scans >= 50 && r.seeks >= 1000 && r.loads == 2);
	QOK(quire_close(rd));
	QOK(quire_close(db));
	mt_test_wide = 0;
	model_clear(&r.m);
	remove(path);
}

static void test_packed(void **state)
{
	(void)state;
	run_memtable(0);
}

static void test_wide(void **state)
{
	(void)state;
	run_memtable(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packed),
		cmocka_unit_test(test_wide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
