/*
 * test_faults.c - I/O errors at every call of a workload.
 *
 * The n-th VFS call of any kind fails with EIO or ENOSPC (once, or from then
 * on), for every n in the workload. The failing operation must return an
 * error; nothing acknowledged may be lost (after reopening, the content is the
 * last acknowledged commit or the one in flight); a failed fsync must leave
 * the handle refusing to commit (QUIRE_EFATAL) until it is reopened. EINTR
 * and short transfers, once or on every call, must not show at all.
 *
 * The workloads together make every kind of call (read, write, sync,
 * truncate, size, lock, open, and rename/remove/sync_dir at creation and
 * compaction), which the report checks: sync commits with reopens and aborted large values;
 * NOSYNC commits made durable by quire_sync; and a third with explicit
 * checkpoints, values written at put time (over a quarter of the append
 * buffer), reopen-then-write, and history reads (log, changes feed, key
 * history, AS-OF snapshots, gets of out-of-line values) after commits;
 * a fourth with automatic compaction, which a fault fails but never the
 * commit that started it.
 * After any failure whose message names fdatasync (a commit, quire_sync,
 * or the first write transaction after a reopen), a new write transaction
 * and quire_sync must both give QUIRE_EFATAL: the handle never again
 * reports anything durable.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "memvfs.h"
#include "workload.h"

static uint64_t runs, poison_checks, huge_values;
static uint64_t kind_calls[8]; /* calls of each MV_ kind, clean runs */
static const char *const kind_name[8] = {"read", "write", "sync", "truncate",
					 "size", "lock", "open", "dir"};

struct fault {
	const char *name;
	int err, persist, shortio;
};

static const struct fault faults[] = {
	{"EIO", EIO, 0, 0},      {"EIO persistent", EIO, 1, 0},
	{"ENOSPC", ENOSPC, 0, 0}, {"ENOSPC persistent", ENOSPC, 1, 0},
};

static const struct fault invisible[] = {
	{"EINTR", EINTR, 0, 0},
	{"short", 0, 0, 1},
	{"short persistent", 0, 1, 1},
};

static void fault_everywhere(const struct wl_opts *o)
{
	struct wl_plan p;
	struct wl_result r;
	const char *path = "/db.quire";
	wl_plan_make(&p, o);
	for (int c = 1; c <= o->commits; c++)
		for (int i = 0; i < p.c[c].nops; i++)
			huge_values += p.c[c].ops[i].vlen > (256u << 10);
	struct memvfs *m = memvfs_new(o->seed);
	wl_run(&p, memvfs_vfs(m), path, &r);
	if (r.err)
		fail_msg("clean run failed at %s: %s", r.where, r.msg);
	uint64_t calls = memvfs_calls(m, MV_ALL);
	for (int k = 0; k < 8; k++)
		kind_calls[k] += memvfs_calls(m, 1 << k);
	memvfs_free(m);
	assert_true(calls >= 40); /* about a hundred a workload today */

	for (uint64_t n = 1; n <= calls; n++) {
		for (size_t f = 0; f < sizeof faults / sizeof *faults; f++) {
			char ctx[160];
			m = memvfs_new(o->seed);
			memvfs_fault(m, MV_ALL, n, faults[f].err,
				     faults[f].persist, 0);
			wl_run(&p, memvfs_vfs(m), path, &r);
			snprintf(ctx, sizeof ctx, "seed %llu, %s at call %llu (%s)",
				 (unsigned long long)o->seed, faults[f].name,
				 (unsigned long long)n, r.where);
			if (r.err && !*r.msg)
				fail_msg("%s: error without a message", ctx);
			if (r.err && strcmp(r.where, "commit") == 0 &&
			    strstr(r.msg, "fdatasync") &&
			    r.begin_after_fail != QUIRE_EFATAL)
				fail_msg("%s: after a failed fsync a new write "
					 "transaction got %d, not QUIRE_EFATAL",
					 ctx, r.begin_after_fail);
			if (o->probe_poison && r.err && strstr(r.msg, "fdatasync"))
				poison_checks++;
			if (o->probe_poison && r.err && strstr(r.msg, "fdatasync") &&
			    (r.poisoned_begin != QUIRE_EFATAL ||
			     r.poisoned_sync != QUIRE_EFATAL))
				fail_msg("%s: after a failed fsync, begin gave "
					 "%d and quire_sync %d, not QUIRE_EFATAL",
					 ctx, r.poisoned_begin, r.poisoned_sync);
			memvfs_clear_faults(m);
			wl_verify(&p, memvfs_vfs(m), path, &r, r.acked,
				  r.acked + r.inflight, ctx, NULL);
			memvfs_free(m);
			runs++;
		}
		for (size_t f = 0; f < sizeof invisible / sizeof *invisible; f++) {
			m = memvfs_new(o->seed);
			memvfs_fault(m, MV_READ | MV_WRITE, n, invisible[f].err,
				     invisible[f].persist, invisible[f].shortio);
			wl_run(&p, memvfs_vfs(m), path, &r);
			if (r.err)
				fail_msg("%s at call %llu must be retried, but %s "
					 "failed: %s",
					 invisible[f].name, (unsigned long long)n,
					 r.where, r.msg);
			memvfs_clear_faults(m);
			wl_verify(&p, memvfs_vfs(m), path, &r, o->commits,
				  o->commits, invisible[f].name, NULL);
			memvfs_free(m);
			runs++;
		}
	}
	wl_plan_free(&p);
}

static void test_sync(void **state)
{
	struct wl_opts o = {.seed = tu_seed(21), .commits = 12, .max_ops = 10,
			    .node_size = 512, .big_every = 5, .reopen_every = 5,
			    .abort_every = 4, .checkpoint_ops = 30};
	fault_everywhere(&o);
}

static void test_nosync(void **state)
{
	struct wl_opts o = {.seed = tu_seed(22), .commits = 12, .max_ops = 10,
			    .node_size = 1024, .nosync = 1, .sync_every = 4,
			    .big_every = 6, .checkpoint_ops = 1};
	fault_everywhere(&o);
}

/* NOSYNC with quire_sync, explicit checkpoints, values written at put
 * time, reopen-then-write and history reads. */
static void test_history_reads(void **state)
{
	struct wl_opts o = {.seed = tu_seed(23), .commits = 10, .max_ops = 8,
			    .node_size = 512, .nosync = 1, .sync_every = 3,
			    .big_every = 4, .reopen_every = 4, .abort_every = 5,
			    .checkpoint_ops = 20, .huge_every = 8,
			    .huge_max = 320 << 10, .checkpoint_every = 3,
			    .retention_every = 4, .history_every = 2,
			    .probe_poison = 1};
	fault_everywhere(&o);
	assert_true(poison_checks >= 3); /* 12 today */
}

/* Automatic compaction inside the commits that make it due and at close
 * (see test_crash's test_autocompact): a fault anywhere in one fails the
 * compaction, never the commit, and loses nothing; the history reads
 * after commits see the new file. */
static void test_autocompact(void **state)
{
	struct wl_opts o = {.seed = tu_seed(24), .commits = 14, .max_ops = 6,
			    .node_size = 512, .nkeys = 24, .big_every = 6,
			    .reopen_every = 6, .checkpoint_ops = 12,
			    .retention_every = 5, .history_every = 3,
			    .autocompact = 1, .probe_poison = 1};
	uint64_t dir0 = kind_calls[7];
	fault_everywhere(&o);
	/* creation's rename and directory sync, then a pair per compaction:
	 * at least two compactions ran */
	assert_true(kind_calls[7] - dir0 >= 6);
}

/* A failed fsync poisons the handle; a reopen recovers. */
static void test_fsync_poisons(void **state)
{
	struct memvfs *m = memvfs_new(5);
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	QOK(qdb_open_vfs("/p.quire", &o, memvfs_vfs(m), &db));
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "a", 1, "1", 1));
	QOK(quire_commit(t));
	memvfs_fault(m, MV_SYNC, 1, EIO, 0, 0);
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "b", 1, "2", 1));
	assert_int_equal(quire_commit(t), QUIRE_EIO);
	assert_int_equal(quire_begin(db, 0, &t), QUIRE_EFATAL);
	assert_int_equal(quire_sync(db), QUIRE_EFATAL);
	/* reads still work and show the last acknowledged commit */
	quire_val v;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_get(t, "a", 1, &v));
	assert_int_equal(quire_get(t, "b", 1, &v), QUIRE_NOTFOUND);
	quire_abort(t);
	QOK(quire_close(db));
	QOK(qdb_open_vfs("/p.quire", &o, memvfs_vfs(m), &db));
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "c", 1, "3", 1));
	QOK(quire_commit(t));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_get(t, "a", 1, &v));
	assert_int_equal(quire_get(t, "b", 1, &v), QUIRE_NOTFOUND);
	QOK(quire_get(t, "c", 1, &v));
	quire_abort(t);
	QOK(quire_close(db));
	memvfs_free(m);
}

/* ENOSPC in the middle of a large put (larger than the append buffer, so
 * written at once): the transaction can only abort, and the database takes
 * commits again once space is back. */
static void test_enospc_put(void **state)
{
	static uint8_t big[3 << 20];
	struct memvfs *m = memvfs_new(6);
	quire_options o;
	quire *db;
	quire_txn *t;
	quire_val v;
	quire_options_init(&o);
	o.flags = QUIRE_CREATE;
	QOK(qdb_open_vfs("/s.quire", &o, memvfs_vfs(m), &db));
	memvfs_fault(m, MV_WRITE, 1, ENOSPC, 1, 0);
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "small", 5, "x", 1));
	assert_int_equal(quire_put(t, "big", 3, big, sizeof big), QUIRE_ENOSPC);
	assert_int_equal(quire_put(t, "more", 4, "y", 1), QUIRE_ENOSPC);
	assert_int_equal(quire_commit(t), QUIRE_ENOSPC);
	memvfs_clear_faults(m);
	QOK(quire_begin(db, 0, &t));
	QOK(quire_put(t, "big", 3, big, sizeof big));
	QOK(quire_commit(t));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_get(t, "big", 3, &v));
	assert_int_equal(v.size, sizeof big);
	assert_int_equal(quire_get(t, "small", 5, &v), QUIRE_NOTFOUND);
	quire_abort(t);
	QOK(quire_close(db));
	memvfs_free(m);
}

static int report(void **state)
{
	print_message("# I/O error injections: %llu\n",
		      (unsigned long long)runs);
	print_message("# failed fsyncs checked for poisoning: %llu\n",
		      (unsigned long long)poison_checks);
	print_message("# values written at put time: %llu\n",
		      (unsigned long long)huge_values);
	for (int k = 0; k < 8; k++) {
		print_message("# %s calls per clean run pass: %llu\n",
			      kind_name[k], (unsigned long long)kind_calls[k]);
		if (!kind_calls[k]) { /* a kind never failed */
			print_message("# no %s call was ever failed\n",
				      kind_name[k]);
			return -1;
		}
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsync_poisons),
		cmocka_unit_test(test_enospc_put),
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_nosync),
		cmocka_unit_test(test_history_reads),
		cmocka_unit_test(test_autocompact),
	};
	return cmocka_run_group_tests(tests, NULL, report);
}
