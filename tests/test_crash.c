/*
 * test_crash.c - crash at every write, sync and truncate of a workload.
 *
 * For each point the workload is replayed on the in-memory VFS until that
 * call, which "crashes" the machine; the disk image is then built in each of
 * the ways a crash can leave it (unsynced writes dropped, kept, kept in part,
 * reordered, torn at 512 bytes or 4 KiB, replaced by garbage or zeros, or
 * only the process died). The reopened database must hold exactly the last
 * acknowledged commit or the one in flight (with QUIRE_NOSYNC: any commit
 * from the last sync on), pass quire_check, and take ten more commits.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "internal.h"
#include "memvfs.h"
#include "testutil.h"
#include "workload.h"

static uint64_t states_checked;

static void crash_everywhere(const struct wl_opts *o)
{
	struct wl_plan p;
	struct wl_result r;
	const char *path = "/db.quire";
	wl_plan_make(&p, o);

	struct memvfs *m = memvfs_new(o->seed);
	wl_run(&p, memvfs_vfs(m), path, &r);
	if (r.err)
		fail_msg("clean run failed at %s: %s", r.where, r.msg);
	uint64_t points = memvfs_calls(m, MV_MUTATE);
	memvfs_free(m);

	for (uint64_t n = 1; n <= points; n++) {
		for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
			char ctx[128];
			m = memvfs_new(o->seed);
			memvfs_crash_at(m, MV_MUTATE, n);
			wl_run(&p, memvfs_vfs(m), path, &r);
			memvfs_crash(m, (enum mv_crash)mode,
				     o->seed * 31 + n * 7 + (uint64_t)mode);
			int lo = mode == MV_CRASH_PROCESS ? r.acked : r.durable;
			snprintf(ctx, sizeof ctx,
				 "seed %llu, crash at call %llu (%s), mode %d",
				 (unsigned long long)o->seed,
				 (unsigned long long)n, r.where, mode);
			uint64_t fb;
			size_t size;
			wl_verify(&p, memvfs_vfs(m), path, &r, lo,
				  r.acked + r.inflight, ctx, &fb);
			if (!memvfs_data(m, path, &size) || size != fb)
				fail_msg("%s: file holds %zu bytes, its last "
					 "commit ends at %llu: the torn tail "
					 "was not cut away",
					 ctx, size, (unsigned long long)fb);
			memvfs_free(m);
			states_checked++;
		}
	}
	wl_plan_free(&p);
}

/* Durable commits, deep trees (512-byte nodes), values in and out of line;
 * batches with a checkpoint every few commits. */
static void test_sync_deep(void **state)
{
	struct wl_opts o = {.seed = tu_seed(11), .commits = 24, .max_ops = 12,
			    .node_size = 512, .big_every = 6,
			    .abort_every = 7, .checkpoint_ops = 40};
	crash_everywhere(&o);
}

/* The same with every commit folded into the tree at once. */
static void test_sync_folded(void **state)
{
	struct wl_opts o = {.seed = tu_seed(14), .commits = 20, .max_ops = 12,
			    .node_size = 512, .big_every = 6,
			    .abort_every = 7, .checkpoint_ops = 1};
	crash_everywhere(&o);
}

/* NOSYNC commits with a quire_sync now and then. */
static void test_nosync(void **state)
{
	struct wl_opts o = {.seed = tu_seed(12), .commits = 24, .max_ops = 10,
			    .node_size = 512, .nosync = 1, .sync_every = 5,
			    .big_every = 8, .checkpoint_ops = 25};
	crash_everywhere(&o);
}

/* Close and reopen between commits: recovery, then writes on top. */
static void test_reopen_write(void **state)
{
	struct wl_opts o = {.seed = tu_seed(13), .commits = 20, .max_ops = 8,
			    .node_size = 1024, .reopen_every = 3,
			    .big_every = 5, .abort_every = 4};
	crash_everywhere(&o);
}

/* A NOSYNC writer that never calls quire_sync still syncs once
 * QUIRE_NOSYNC_WALK_BYTES have been appended (lowered here to 16 MiB), so a
 * power cut loses at most about that much and recovery walks no further. */
static void test_nosync_bounded(void **state)
{
	(void)state;
	enum { MIB = 1 << 20 };
	struct memvfs *m = memvfs_new(5);
	quire_options o;
	quire *db;
	quire_txn *t;
	uint8_t *v = calloc(1, MIB);
	uint64_t walk = 16 * MIB, commits = walk / MIB + 8;
	assert_non_null(v);
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | QUIRE_NOSYNC;
	QOK(qdb_open_vfs("/n.quire", &o, memvfs_vfs(m), &db));
	db->nosync_walk = walk;
	uint64_t syncs = memvfs_calls(m, MV_SYNC);
	for (uint64_t i = 0; i < commits; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%04llu", (unsigned long long)i);
		v[0] = (uint8_t)i;
		QOK(quire_begin(db, 0, &t));
		QOK(quire_put(t, k, 5, v, MIB));
		QOK(quire_commit(t));
	}
	uint64_t made = memvfs_calls(m, MV_SYNC) - syncs;
	assert_in_range(made, 1, 2);
	QOK(quire_close(db));
	memvfs_crash(m, MV_CRASH_DROP, 1); /* every unsynced write lost */
	o.flags = 0;
	QOK(qdb_open_vfs("/n.quire", &o, memvfs_vfs(m), &db));
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	assert_true(quire_txn_id(t) >= walk / MIB - 1);
	quire_abort(t);
	QOK(quire_close(db));
	memvfs_free(m);
	free(v);
}

static int report(void **state)
{
	print_message("# crash states checked: %llu\n",
		      (unsigned long long)states_checked);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_deep),
		cmocka_unit_test(test_sync_folded),
		cmocka_unit_test(test_nosync),
		cmocka_unit_test(test_reopen_write),
		cmocka_unit_test(test_nosync_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, report);
}
