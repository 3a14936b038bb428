/*
 * test_space.c - accounting and retention.
 *
 *  - Over random workloads (puts, overwrites, deletes, small and
 *    out-of-line values, checkpoints) and retention policies, the
 *    reclaimable bytes quire_txn_stat() predicts are what the compaction
 *    that follows frees, within 1% of it; right after the compaction the
 *    file shows almost nothing reclaimable.
 *  - The retention policy is stored in the file: every handle sees it, it
 *    survives reopening and compaction, quire_compact() without options
 *    obeys it (AS-OF inside the window works, outside it QUIRE_EHISTORY),
 *    and a bad policy is refused.
 *  - What snapshots pin: the oldest commit a snapshot reads and its age,
 *    and an old file a snapshot keeps open after a compaction.
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

#include "internal.h"
#include "memvfs.h"
#include "testutil.h"

static quire *open_mem(struct memvfs *m, unsigned flags)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.flags = flags;
	o.auto_compact_ratio = 0; /* the test compacts when it wants */
	o.checkpoint_ops = 2000;
	QOK(qdb_open_vfs("db", &o, memvfs_vfs(m), &db));
	return db;
}

static quire_stat stat_of(quire *db)
{
	quire_txn *t;
	quire_stat st;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &st));
	quire_abort(t);
	return st;
}

/* A random workload of ncommits commits over nkeys keys. */
static void workload(quire *db, uint64_t *rng, int ncommits, int nkeys,
		     int big_every)
{
	uint8_t *v = malloc(5000);
	assert_non_null(v);
	for (int c = 0; c < ncommits; c++) {
		quire_txn *t;
		int nops = 1 + (int)tu_below(rng, 60);
		QOK(quire_begin(db, 0, &t));
		for (int i = 0; i < nops; i++) {
			char k[32];
			int key = (int)tu_below(rng, (uint64_t)nkeys);
			snprintf(k, sizeof k, "key-%07d", key);
			if (tu_below(rng, 10) == 0) {
				int e = quire_del(t, k, strlen(k));
				if (e != QUIRE_NOTFOUND)
					QOK(e);
				continue;
			}
			size_t n = big_every && key % big_every == 0
					   ? 1100 + tu_below(rng, 3000)
					   : 10 + tu_below(rng, 200);
			memset(v, (int)tu_below(rng, 256), n);
			QOK(quire_put(t, k, strlen(k), v, n));
		}
		QOK(quire_commit(t));
	}
	free(v);
}

static void check_prediction(quire *db, const char *what)
{
	quire_stat before = stat_of(db);
	QOK(quire_compact(db, NULL));
	quire_stat after = stat_of(db);
	double freed = (double)before.file_bytes - (double)after.file_bytes;
	double err = (double)before.reclaimable_bytes - freed;
	printf("# %s: file %llu, predicted %llu reclaimable, freed %.0f "
	       "(error %.2f%% of freed), kept %llu vs %llu\n",
	       what, (unsigned long long)before.file_bytes,
	       (unsigned long long)before.reclaimable_bytes, freed,
	       freed > 0 ? 100 * err / freed : 0.0,
	       (unsigned long long)before.kept_bytes,
	       (unsigned long long)after.file_bytes);
	if (err > 0.01 * freed || err < -0.01 * freed)
		fail_msg("%s: predicted %llu reclaimable, compaction freed %.0f",
			 what, (unsigned long long)before.reclaimable_bytes,
			 freed);
	/* all live now */
	if ((double)after.reclaimable_bytes > 0.01 * (double)after.file_bytes)
		fail_msg("%s: %llu of %llu bytes reclaimable after compacting",
			 what, (unsigned long long)after.reclaimable_bytes,
			 (unsigned long long)after.file_bytes);
}

static void test_prediction(void **state)
{
	static const struct {
		const char *what;
		uint64_t commits, ns;
		int nkeys, big_every;
	} cases[] = {
		{"newest 100 commits", 100, 0, 3000, 0},
		{"newest commit only", 1, 0, 3000, 0},
		{"newest 10, large values", 10, 0, 2000, 7},
		{"newest 500", 500, 0, 5000, 0},
		{"small key set", 50, 0, 300, 11},
	};
	uint64_t rng = tu_seed(77);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct memvfs *m = memvfs_new(i + 1);
		quire *db = open_mem(m, QUIRE_CREATE);
		quire_retention r = {cases[i].commits, cases[i].ns};
		QOK(quire_set_retention(db, &r));
		workload(db, &rng, 1500, cases[i].nkeys, cases[i].big_every);
		check_prediction(db, cases[i].what);
		workload(db, &rng, 700, cases[i].nkeys, cases[i].big_every);
		check_prediction(db, cases[i].what);
		QOK(quire_close(db));
		memvfs_free(m);
	}
}

static void test_policy_in_file(void **state)
{
	struct memvfs *m = memvfs_new(3);
	quire *a = open_mem(m, QUIRE_CREATE), *b = open_mem(m, 0);
	quire_stat st = stat_of(a);
	assert_int_equal(st.retention.commits, QUIRE_RETAIN_DEFAULT);
	assert_int_equal(st.retention.ns, 0);
	quire_retention bad = {0, 0}, r = {5, 0};
	assert_int_equal(quire_set_retention(a, &bad), QUIRE_EINVAL);
	assert_int_equal(quire_set_retention(a, NULL), QUIRE_EINVAL);
	QOK(quire_set_retention(a, &r));
	st = stat_of(b); /* another handle sees it */
	assert_int_equal(st.retention.commits, 5);
	uint64_t rng = 9;
	workload(a, &rng, 40, 100, 0);
	st = stat_of(a);
	uint64_t newest = st.txn_id;
	QOK(quire_compact(b, NULL)); /* obeys the file's policy */
	quire_txn *t;
	for (uint64_t id = newest - 4; id <= newest; id++) {
		QOK(quire_begin_at(a, id, &t));
		quire_abort(t);
	}
	assert_int_equal(quire_begin_at(a, newest - 5, &t), QUIRE_EHISTORY);
	st = stat_of(a);
	assert_int_equal(st.retention.commits, 5); /* kept by compaction */
	assert_int_equal(st.history_txn, newest - 4);
	QOK(quire_close(a));
	QOK(quire_close(b));
	a = open_mem(m, 0); /* and by reopening */
	st = stat_of(a);
	assert_int_equal(st.retention.commits, 5);
	quire_retention all = {QUIRE_KEEP_ALL, 0};
	QOK(quire_set_retention(a, &all));
	workload(a, &rng, 30, 100, 0);
	newest = stat_of(a).txn_id;
	QOK(quire_compact(a, NULL));
	QOK(quire_begin_at(a, newest - 29, &t)); /* everything still there */
	quire_abort(t);
	QOK(quire_close(a));
	memvfs_free(m);
}

static void test_pinned(void **state)
{
	struct memvfs *m = memvfs_new(4);
	quire *db = open_mem(m, QUIRE_CREATE);
	uint64_t rng = 5;
	workload(db, &rng, 20, 100, 0);
	quire_txn *old;
	QOK(quire_begin(db, QUIRE_RDONLY, &old));
	uint64_t pinned_txn = quire_txn_id(old);
	workload(db, &rng, 20, 100, 0);
	quire_stat st = stat_of(db);
	assert_int_equal(st.pinned_txn, pinned_txn);
	assert_int_equal(st.pinned_bytes, 0); /* the current file */
	uint64_t file = st.file_bytes;
	QOK(quire_compact(db, NULL));
	st = stat_of(db);
	assert_int_equal(st.pinned_txn, pinned_txn);
	assert_int_equal(st.pinned_bytes, file); /* the old file */
	quire_abort(old);
	st = stat_of(db); /* only its own snapshot now */
	assert_int_equal(st.pinned_bytes, 0);
	assert_int_equal(st.pinned_txn, st.txn_id);
	QOK(quire_close(db));
	memvfs_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prediction),
		cmocka_unit_test(test_policy_in_file),
		cmocka_unit_test(test_pinned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
