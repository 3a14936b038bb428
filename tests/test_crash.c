/*
 * test_crash.c - crash at every write, sync, truncate, rename, remove and
 * directory sync of a workload (automatic compactions included).
 *
 * For each point the workload is replayed on the in-memory VFS until that
 * call, which "crashes" the machine; the disk image is then built in each of
 * the ways a crash can leave it (unsynced writes dropped, kept, kept in part,
 * reordered, torn at 512 bytes or 4 KiB, replaced by garbage or zeros, or
 * only the process died). The reopened database must hold exactly the last
 * acknowledged commit or the one in flight (with QUIRE_NOSYNC: any commit
 * from the last sync on), pass quire_check, and take ten more commits.
 * Most workloads hold range deletes (quire_del_range, quire_del_prefix:
 * of ten keys up to every key, among puts and deletes; each such commit a
 * checkpoint), so a crash lands in those commits too.
 *
 * Two tiers: the normal one (make check) enumerates > 20k crash states over
 * eight seeds of each workload; QUIRE_LONG=1 (make crash-long) more than a
 * million, over 300 seeds of longer workloads, values up to 1 MiB and
 * deeper trees. Each prints its count ("# crash states checked: N"). A
 * failure names its seed; QUIRE_SEED=<seed> makes it the first one run.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "memvfs.h"
#include "testutil.h"
#include "workload.h"

/* Seeds per workload: the normal tier (>= 20k states in all) and the
 * long one (>= 1M, with somewhat longer workloads: every crash point
 * replays its workload from the start, so a state costs in proportion to
 * the workload's length and many seeds are cheaper than long plans). */
#ifndef SEEDS_NORMAL
#define SEEDS_NORMAL 8
#endif
#ifndef SEEDS_LONG
#define SEEDS_LONG 300
#endif

static uint64_t states_checked;
/* range deletes in the plans run: calls, commits where one removed keys,
 * keys removed, the most in one call */
static uint64_t range_calls, range_commits, range_keys, range_max;
static uint64_t dir_calls; /* renames, removes, directory syncs: clean runs */
static int long_tier; /* QUIRE_LONG=1 */

/* Crash points are independent, so they are shared out among forked
 * workers (one per core). A worker reports its count, or the first broken
 * contract, in one record; it never unwinds into cmocka's runner. */
#define WORKERS 2
struct wresult {
	uint64_t states;
	int failed;
	char msg[1024];
};
static int wfd = -1;

static void worker_failed(const char *msg)
{
	struct wresult w = {.failed = 1};
	snprintf(w.msg, sizeof w.msg, "%s", msg);
	if (write(wfd, &w, sizeof w) < 0)
		_exit(2);
	_exit(1);
}

/* Every crash point n with n % nw == w, in every mode. */
static uint64_t crash_points(const struct wl_plan *p, uint64_t points,
			     uint64_t w, uint64_t nw)
{
	const struct wl_opts *o = &p->o;
	const char *path = "/db.quire";
	struct wl_result r;
	uint64_t states = 0;
	for (uint64_t n = 1 + w; n <= points; n += nw) {
		for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
			char ctx[160];
			struct memvfs *m = memvfs_new(o->seed);
			memvfs_crash_at(m, MV_MUTATE | MV_DIR, n);
			wl_run(p, memvfs_vfs(m), path, &r);
			memvfs_crash(m, (enum mv_crash)mode,
				     o->seed * 31 + n * 7 + (uint64_t)mode);
			int lo = mode == MV_CRASH_PROCESS ? r.acked : r.durable;
			snprintf(ctx, sizeof ctx,
				 "seed %llu (replay: QUIRE_SEED=%llu), crash at "
				 "call %llu (%s), mode %d",
				 (unsigned long long)o->seed,
				 (unsigned long long)o->seed,
				 (unsigned long long)n, r.where, mode);
			uint64_t fb;
			size_t size;
			wl_verify(p, memvfs_vfs(m), path, &r, lo,
				  r.acked + r.inflight, ctx, &fb);
			if (!memvfs_data(m, path, &size) || size != fb)
				wl_fail("%s: file holds %zu bytes, its last "
					"commit ends at %llu: the torn tail "
					"was not cut away",
					ctx, size, (unsigned long long)fb);
			memvfs_free(m);
			states++;
		}
	}
	return states;
}

static void crash_everywhere(const struct wl_opts *o)
{
	struct wl_plan p;
	struct wl_result r;
	wl_plan_make(&p, o);

	struct memvfs *m = memvfs_new(o->seed);
	wl_run(&p, memvfs_vfs(m), "/db.quire", &r);
	if (r.err)
		fail_msg("seed %llu: clean run failed at %s: %s",
			 (unsigned long long)o->seed, r.where, r.msg);
	uint64_t points = memvfs_calls(m, MV_MUTATE | MV_DIR);
	dir_calls += memvfs_calls(m, MV_DIR);
	memvfs_free(m);
	range_calls += (uint64_t)p.ranges;
	range_commits += (uint64_t)p.range_commits;
	range_keys += p.range_keys;
	if ((uint64_t)p.range_max > range_max)
		range_max = (uint64_t)p.range_max;

	pid_t pid[WORKERS];
	int fd[WORKERS];
	for (int w = 0; w < WORKERS; w++) {
		int pp[2];
		assert_int_equal(pipe(pp), 0);
		fflush(NULL);
		pid[w] = fork();
		assert_true(pid[w] >= 0);
		if (pid[w] == 0) {
			close(pp[0]);
			wfd = pp[1];
			wl_fail_hook = worker_failed;
			struct wresult res = {
				.states = crash_points(&p, points, (uint64_t)w,
						       WORKERS)};
			_exit(write(wfd, &res, sizeof res) == sizeof res ? 0
									 : 2);
		}
		close(pp[1]);
		fd[w] = pp[0];
	}
	struct wresult first = {0};
	uint64_t states = 0;
	for (int w = 0; w < WORKERS; w++) {
		struct wresult res;
		size_t got = 0;
		int status;
		while (got < sizeof res) {
			ssize_t k = read(fd[w], (char *)&res + got,
					 sizeof res - got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		close(fd[w]);
		assert_int_equal(waitpid(pid[w], &status, 0), pid[w]);
		if (got != sizeof res) {
			res.failed = 1;
			snprintf(res.msg, sizeof res.msg,
				 "seed %llu: worker %d died (status %#x)",
				 (unsigned long long)o->seed, w, status);
		}
		if (res.failed && !first.failed)
			first = res;
		if (!res.failed)
			states += res.states;
	}
	wl_plan_free(&p);
	if (first.failed)
		fail_msg("%s", first.msg);
	/* the workers together took every point in every mode */
	assert_true(states == points * MV_CRASH_NMODES);
	states_checked += states;
}

/* The workload o over the tier's seeds (seed, seed + 1, ...); the long
 * tier also makes every workload longer. */
static void tier(struct wl_opts o, int seeds, int long_seeds,
		 int long_commits)
{
	uint64_t base = o.seed;
	if (long_tier) {
		seeds = long_seeds;
		o.commits = long_commits;
	}
	uint64_t before = states_checked, rc0 = range_commits,
		 rk0 = range_keys;
	for (int i = 0; i < seeds; i++) {
		o.seed = base + (uint64_t)i;
		crash_everywhere(&o);
	}
	print_message("# seeds %llu..%llu, %d commits: %llu states; %llu "
		      "commits with a range delete (%llu keys removed)\n",
		      (unsigned long long)base,
		      (unsigned long long)(base + (uint64_t)seeds - 1),
		      o.commits,
		      (unsigned long long)(states_checked - before),
		      (unsigned long long)(range_commits - rc0),
		      (unsigned long long)(range_keys - rk0));
	/* 33 to 75 crash points a seed today, in every mode */
	assert_true(states_checked - before >=
		    (uint64_t)seeds * 20 * MV_CRASH_NMODES);
	/* range deletes where asked for: a third of the commits asked for
	 * at least (a commit in range_every draws one, which may remove
	 * nothing) */
	if (o.range_every)
		assert_true(range_commits - rc0 >= (uint64_t)seeds *
							   o.commits /
							   o.range_every / 3);
}

/* Durable commits, deep trees (512-byte nodes), values in and out of line;
 * batches with a checkpoint every few commits, and range deletes (each a
 * checkpoint of the batches before it). */
static void test_sync_deep(void **state)
{
	struct wl_opts o = {.seed = tu_seed(11), .commits = 24, .max_ops = 12,
			    .node_size = 512, .big_every = 6,
			    .abort_every = 7, .checkpoint_ops = 40,
			    .retention_every = 5, .range_every = 4};
	tier(o, SEEDS_NORMAL, SEEDS_LONG, 32);
}

/* The same with every commit folded into the tree at once (no range
 * deletes: these plans stay as they were). */
static void test_sync_folded(void **state)
{
	struct wl_opts o = {.seed = tu_seed(14), .commits = 20, .max_ops = 12,
			    .node_size = 512, .big_every = 6,
			    .abort_every = 7, .checkpoint_ops = 1};
	tier(o, SEEDS_NORMAL, SEEDS_LONG, 28);
}

/* NOSYNC commits with a quire_sync now and then; range deletes. */
static void test_nosync(void **state)
{
	struct wl_opts o = {.seed = tu_seed(12), .commits = 24, .max_ops = 10,
			    .node_size = 512, .nosync = 1, .sync_every = 5,
			    .big_every = 8, .checkpoint_ops = 25,
			    .range_every = 4};
	tier(o, SEEDS_NORMAL, SEEDS_LONG, 32);
}

/* Close and reopen between commits: recovery, then writes on top; range
 * deletes over batches loaded at the reopen. */
static void test_reopen_write(void **state)
{
	struct wl_opts o = {.seed = tu_seed(13), .commits = 20, .max_ops = 8,
			    .node_size = 1024, .reopen_every = 3,
			    .big_every = 5, .abort_every = 4, .range_every = 4};
	tier(o, SEEDS_NORMAL, SEEDS_LONG, 28);
}

/* Large values (64 KiB up to 256 KiB, 1 MiB in the long tier) among small
 * ones, NOSYNC with syncs and reopens: a crash inside a value block, and
 * recovery that walks over megabytes. */
static void test_huge(void **state)
{
	struct wl_opts o = {.seed = tu_seed(15), .commits = 12, .max_ops = 4,
			    .node_size = 4096, .nosync = 1, .sync_every = 4,
			    .reopen_every = 5, .big_every = 4, .huge_every = 6,
			    .huge_max = (size_t)256 << 10,
			    .checkpoint_ops = 16};
	if (long_tier)
		o.huge_max = (size_t)1 << 20;
	tier(o, 2, 4, 16);
}

/* Many keys in small nodes: trees four and more levels deep, splits and
 * merges at every level, checkpoints of a few hundred operations; range
 * deletes, one of them of the middle four fifths of the key space at
 * commit 8 (about a hundred keys: whole subtrees dropped, the two boundary
 * paths rewritten). */
static void test_wide(void **state)
{
	struct wl_opts o = {.seed = tu_seed(16), .commits = 10, .max_ops = 80,
			    .node_size = 512, .nkeys = 5000, .big_every = 30,
			    .checkpoint_ops = 150, .range_every = 3,
			    .range_big_at = 8};
	uint64_t max0 = range_max;
	range_max = 0;
	tier(o, 1, 8, 24);
	print_message("# wide: at most %llu keys in one range delete\n",
		      (unsigned long long)range_max);
	assert_true(range_max >= 60); /* 108 today, 68..138 over seeds 16..29 */
	if (max0 > range_max)
		range_max = max0;
}

/* Automatic compaction: overwrites of a few keys make the file mostly
 * reclaimable, so a quarter of it is several times over; the compactions
 * run inside the commits that make them due and at close (a reopen every
 * few commits), under a retention policy that changes now and then. A
 * crash anywhere in one (the copy, its sync, the rename, the directory
 * sync) leaves the commit acknowledged before it. A few range deletes
 * (commits that compactions replay): with 24 keys each takes much of the
 * content, and fewer compactions come due (with one in every eighth
 * commit, 13 instead of 16 over 20 commits; 9 for some seeds), so the
 * plans are 24 commits long (15). */
static void test_autocompact(void **state)
{
	struct wl_opts o = {.seed = tu_seed(17), .commits = 24, .max_ops = 6,
			    .node_size = 512, .nkeys = 24, .big_every = 6,
			    .reopen_every = 7, .checkpoint_ops = 12,
			    .retention_every = 6, .autocompact = 1,
			    .range_every = 8};
	uint64_t dir0 = dir_calls;
	int seeds = long_tier ? 30 : 3;
	tier(o, seeds, seeds, 28);
	/* creation renames and syncs the directory; each compaction does
	 * both again */
	print_message("# automatic compactions: about %llu\n",
		      (unsigned long long)((dir_calls - dir0) / 2 - seeds));
	assert_true(dir_calls - dir0 >= (uint64_t)seeds * 2 * 4);
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
		char k[24];
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

static int setup(void **state)
{
	const char *e = getenv("QUIRE_LONG");
	long_tier = e && atoi(e) > 0;
	return 0;
}

static int report(void **state)
{
	print_message("# crash states checked: %llu\n",
		      (unsigned long long)states_checked);
	print_message("# range deletes: %llu calls, %llu commits removing "
		      "%llu keys (at most %llu in one)\n",
		      (unsigned long long)range_calls,
		      (unsigned long long)range_commits,
		      (unsigned long long)range_keys,
		      (unsigned long long)range_max);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_deep),
		cmocka_unit_test(test_sync_folded),
		cmocka_unit_test(test_nosync),
		cmocka_unit_test(test_reopen_write),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_wide),
		cmocka_unit_test(test_autocompact),
		cmocka_unit_test(test_nosync_bounded),
	};
	return cmocka_run_group_tests(tests, setup, report);
}
