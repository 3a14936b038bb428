/*
 * test_backup.c - quire_backup and quire_backup_compacted: full,
 * incremental and compacted copies checked against a model of every
 * commit (a compacted copy also against what quire_compact makes of the
 * same commit), a crash at every write, sync, rename and directory sync
 * of each kind of backup, EIO and ENOSPC at every VFS call of one, and
 * bad input.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "memvfs.h"
#include "copymodel.h"
#include "testutil.h"

#define NCOMMITS 60

/* A new source that keeps every commit (flags: QUIRE_NOMMAP or 0); h
 * (empty) learns its first two commits (the creation and the policy). */
static quire *open_src(qvfs *vfs, const char *path, struct hist *h,
		       unsigned flags)
{
	quire_options o;
	quire *db;
	quire_retention r = {.commits = QUIRE_KEEP_ALL};
	quire_options_init(&o);
	o.flags = QUIRE_CREATE | flags;
	o.auto_compact_ratio = 0; /* compactions are the test's */
	QOK(qdb_open_vfs(path, &o, vfs, &db));
	hist_note_time(db, h);
	QOK(quire_set_retention(db, &r));
	hist_note_empty(db, h);
	hist_note_time(db, h);
	return db;
}

/* ---- compacted copies ------------------------------------------------- */

/* The first commit quire_compact keeps (space.c's rule, written again
 * from its documentation): for options o, or when they ask nothing for
 * the policy p at wall time now, of a source whose newest commit is h's
 * last and whose oldest kept is history. */
static uint64_t first_kept(const struct hist *h, uint64_t history,
			   const quire_compact_options *o,
			   const quire_retention *p, uint64_t now)
{
	uint64_t n = h->txn[h->n], kept = n;
	uint64_t last = o->keep_last, since_txn = o->keep_since_txn;
	uint64_t since_ns = o->keep_since_ns;
	if (!last && !since_txn && !since_ns) {
		if (p->commits == QUIRE_KEEP_ALL) {
			since_txn = 1;
		} else {
			last = p->commits;
			if (p->ns)
				since_ns = now > p->ns ? now - p->ns : 1;
		}
	}
	if (last)
		kept = last > n ? 0 : n + 1 - last;
	if (since_txn && since_txn < kept)
		kept = since_txn;
	if (since_ns) { /* the oldest commit made since (times ascend) */
		uint64_t t = n + 1;
		for (int i = h->n; i >= 0 && h->txn[i] >= history; i--)
			if (h->time[i] >= since_ns)
				t = h->txn[i];
		if (t < kept)
			kept = t;
	}
	return kept < history ? history : kept;
}

/* dst, a compacted copy, opens at commit s with its content and passes
 * quire_check; it keeps commits k..s (AS-OF by txn and by time, the
 * log with the times of the source) and none older (QUIRE_EHISTORY). */
static void check_compacted(qvfs *vfs, const char *dst, const struct hist *h,
			    uint64_t s, uint64_t k, uint64_t *rng)
{
	quire_options o;
	quire *d;
	quire_txn *t;
	quire_stat st;
	quire_log_entry le;
	uint64_t problems = 1;
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(qdb_open_vfs(dst, &o, vfs, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), s);
	model_check_txn(&h->state[hist_state_of(h, s)], t);
	QOK(quire_check(t, NULL, NULL, &problems));
	assert_int_equal(problems, 0);
	QOK(quire_txn_stat(t, &st));
	assert_int_equal(st.history_txn, k);
	QOK(quire_log_get(t, k, &le));
	assert_int_equal(le.txn_id, k);
	if (k > 0) {
		assert_int_equal(quire_log_get(t, k - 1, &le), QUIRE_EHISTORY);
		quire_txn *old;
		assert_int_equal(quire_begin_at(d, k - 1, &old),
				 QUIRE_EHISTORY);
	}
	quire_abort(t);
	for (int probe = 0; probe < 3; probe++) {
		int i = (int)tu_below(rng, (uint64_t)h->n + 1);
		if (h->txn[i] < k || h->txn[i] > s)
			continue;
		QOK(quire_begin_at(d, h->txn[i], &t));
		assert_int_equal(quire_txn_id(t), h->txn[i]);
		model_check_txn(&h->state[i], t);
		QOK(quire_log_get(t, h->txn[i], &le));
		if (h->time[i])
			assert_int_equal(le.time_ns, h->time[i]);
		quire_abort(t);
		if (!h->time[i])
			continue;
		QOK(quire_begin_at_time(d, h->time[i], QUIRE_AT_OR_BEFORE, &t));
		assert_int_equal(quire_txn_id(t), h->txn[i]);
		quire_abort(t);
	}
	QOK(quire_close(d));
}

/* keep_* options drawn at random (none at all now and then: the
 * policy), each valid for the newest commit of h. */
static void random_keep(const struct hist *h, uint64_t *rng,
			quire_compact_options *o)
{
	uint64_t n = h->txn[h->n];
	quire_compact_options_init(o);
	if (tu_below(rng, 3) == 0)
		o->keep_last = 1 + tu_below(rng, n + 4);
	if (tu_below(rng, 3) == 0)
		o->keep_since_txn = 1 + tu_below(rng, n);
	if (tu_below(rng, 3) == 0) {
		uint64_t at = h->time[tu_below(rng, (uint64_t)h->n + 1)];
		o->keep_since_ns = at + tu_below(rng, 3) - 1; /* about at */
		if (!o->keep_since_ns)
			o->keep_since_ns = 1;
	}
}

/* A policy drawn at random: every commit, or the newest few, and those
 * of the last few microseconds (the clock steps 1 us a reading). */
static void random_policy(uint64_t *rng, quire_retention *r)
{
	r->commits = tu_below(rng, 3) == 0 ? QUIRE_KEEP_ALL
					   : 1 + tu_below(rng, 12);
	r->ns = r->commits != QUIRE_KEEP_ALL && tu_below(rng, 2)
			? 1000 * (1 + tu_below(rng, 400))
			: 0;
}

static uint8_t *dup_file(struct memvfs *m, const char *path, size_t *size)
{
	const uint8_t *p = memvfs_data(m, path, size);
	assert_non_null(p);
	uint8_t *c = malloc(*size ? *size : 1);
	assert_non_null(c);
	memcpy(c, p, *size);
	return c;
}

/* Files a and b of n bytes are equal past their superblocks but for
 * their file ids, which every header repeats (at offset 32 of the
 * header, whose first 4 bytes, its checksum, differ with it). */
static void same_but_file_id(const uint8_t *a, const uint8_t *b, size_t n,
			     const uint8_t *ida, const uint8_t *idb)
{
	size_t headers = 0;
	for (size_t i = 4096; i < n;) {
		if (i + 48 <= n && memcmp(a + i + 32, ida, QF_FILE_ID) == 0 &&
		    memcmp(b + i + 32, idb, QF_FILE_ID) == 0) {
			assert_memory_equal(a + i + 4, b + i + 4, 28);
			i += 48;
			headers++;
			continue;
		}
		if (a[i] != b[i])
			fail_msg("the files differ at offset %zu", i);
		i++;
	}
	assert_true(headers >= 1);
}

static quire *open_plain(qvfs *vfs, const char *path)
{
	quire_options o;
	quire *db;
	quire_options_init(&o);
	o.auto_compact_ratio = 0;
	QOK(qdb_open_vfs(path, &o, vfs, &db));
	return db;
}

/* One compacted backup of db (newest commit s) with random options, on
 * a frozen clock (so a policy's time limit is known): the copy keeps
 * exactly what first_kept says, holds the model, is byte for byte past
 * the superblock what quire_compact makes of a full copy, and leaves the
 * source as it was. */
static void one_compacted(struct memvfs *m, quire *db, const struct hist *h,
			  const quire_retention *pol, uint64_t *rng)
{
	qvfs *vfs = memvfs_vfs(m);
	quire_compact_options o, *op = &o;
	quire_backup_stats st;
	quire_txn *t;
	quire_stat sst;
	size_t before_n, n, rn;
	uint64_t s = h->txn[h->n], now = h->time[h->n] + 1000000;
	uint8_t id[QF_FILE_ID];
	struct qfile *qf = db->qf;
	QOK(quire_begin(db, QUIRE_RDONLY, &t));
	QOK(quire_txn_stat(t, &sst));
	quire_abort(t);
	memcpy(id, db->qf->file_id, QF_FILE_ID);
	uint8_t *before = dup_file(m, "/src.q", &before_n);
	random_keep(h, rng, &o);
	if (tu_below(rng, 4) == 0) { /* the defaults: the policy */
		op = NULL;
		quire_compact_options_init(&o);
	}
	uint64_t k = first_kept(h, sst.history_txn, &o, pol, now);
	memvfs_clock(m, now, 0);
	QOK(quire_backup_compacted(db, "/cc.q", op, &st));
	assert_int_equal(st.txn, s);
	assert_int_equal(st.txn_before, 0);
	assert_int_equal(st.full, 1);
	const uint8_t *copy = memvfs_data(m, "/cc.q", &n);
	assert_non_null(copy);
	assert_int_equal(st.bytes_copied, n);
	assert_null(memvfs_data(m, "/cc.q.partial", &rn));
	/* the source: not swapped, not marked, not written */
	assert_ptr_equal(db->qf, qf);
	assert_memory_equal(db->qf->file_id, id, QF_FILE_ID);
	const uint8_t *after = memvfs_data(m, "/src.q", &n);
	assert_int_equal(n, before_n);
	assert_memory_equal(after, before, n);
	free(before);
	check_compacted(vfs, "/cc.q", h, s, k, rng);
	/* what quire_compact makes of the same commit, with the same
	 * options at the same time */
	uint8_t rid[QF_FILE_ID], cid[QF_FILE_ID];
	QOK(quire_backup(db, "/ref.q", 0, NULL));
	quire *ref = open_plain(vfs, "/ref.q");
	QOK(quire_compact(ref, op));
	memcpy(rid, ref->qf->file_id, QF_FILE_ID);
	QOK(quire_close(ref));
	quire_options ro;
	quire *d;
	quire_options_init(&ro);
	ro.flags = QUIRE_RDONLY;
	QOK(qdb_open_vfs("/cc.q", &ro, vfs, &d)); /* a file of its own */
	memcpy(cid, d->qf->file_id, QF_FILE_ID);
	QOK(quire_close(d));
	assert_memory_not_equal(cid, id, QF_FILE_ID);
	const uint8_t *r = memvfs_data(m, "/ref.q", &rn);
	copy = memvfs_data(m, "/cc.q", &n);
	assert_int_equal(rn, n);
	same_but_file_id(r, copy, n, rid, cid);
	memvfs_clock(m, now + 1000, 1000);
	QOK(vfs->remove(vfs, "/ref.q"));
	QOK(vfs->remove(vfs, "/cc.q"));
}

/* Random commits, policies and compactions of the source (random
 * options); now and then a compacted backup with random options. */
static void test_compacted_model(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xc0bac), rng = seed;
	struct memvfs *m = memvfs_new(seed);
	struct hist *h = calloc(1, sizeof *h);
	quire_retention pol = {.commits = QUIRE_KEEP_ALL};
	quire_compact_options o;
	int copies = 0, compactions = 0, policies = 0;
	assert_non_null(h);
	quire *db = open_src(memvfs_vfs(m), "/src.q", h, 0);
	print_message("# seed %llu (QUIRE_SEED)\n", (unsigned long long)seed);
	for (int c = 0; c < 150; c++) {
		hist_commit(db, h, &rng);
		hist_note_time(db, h);
		switch (tu_below(&rng, 10)) {
		case 0:
			random_policy(&rng, &pol);
			QOK(quire_set_retention(db, &pol));
			hist_note_empty(db, h);
			hist_note_time(db, h);
			policies++;
			break;
		case 1:
			random_keep(h, &rng, &o);
			QOK(quire_compact(db, tu_below(&rng, 3) ? &o : NULL));
			compactions++;
			break;
		case 2:
		case 3:
			one_compacted(m, db, h, &pol, &rng);
			copies++;
			break;
		default:
			break;
		}
		assert_int_equal(h->txn[h->n], (uint64_t)h->n);
	}
	print_message("# %d compacted backups, %d compactions and %d "
		      "policies of the source\n",
		      copies, compactions, policies);
	assert_true(copies >= 12);
	assert_true(compactions >= 5);
	QOK(quire_close(db));
	hist_free(h);
	free(h);
	memvfs_free(m);
}

/* Random commits; now and then a full backup to a new file, an
 * incremental one to a chain, or a compaction of the source (after which
 * the chain is refused, then replaced with QUIRE_BACKUP_FULL_IF_NEEDED).
 * Every copy must be the source at the commit it reports. */
static void test_model(void **state)
{
	(void)state;
	uint64_t seed = tu_seed(0xbac0), rng = seed;
	struct memvfs *m = memvfs_new(seed);
	qvfs *vfs = memvfs_vfs(m);
	struct hist h = {0};
	quire_backup_stats st;
	quire *db = open_src(vfs, "/src.q", &h, 0);
	int fulls = 0, incs = 0, compactions = 0, conflicts = 0;
	print_message("# seed %llu (QUIRE_SEED)\n", (unsigned long long)seed);
	for (int c = 0; c < NCOMMITS; c++) {
		hist_commit(db, &h, &rng);
		switch (tu_below(&rng, 8)) {
		case 0: {
			char dst[32];
			snprintf(dst, sizeof dst, "/full%d.q", fulls++);
			QOK(quire_backup(db, dst, 0, &st));
			assert_int_equal(st.full, 1);
			assert_int_equal(st.txn, h.txn[h.n]);
			hist_check_copy(vfs, dst, &h, st.txn, &rng, 0);
			break;
		}
		case 1:
		case 2: {
			int e = quire_backup(db, "/chain.q",
					     QUIRE_BACKUP_INCREMENTAL, &st);
			if (e == QUIRE_ECONFLICT) { /* compacted since */
				conflicts++;
				QOK(quire_backup(db, "/chain.q",
						 QUIRE_BACKUP_INCREMENTAL |
							 QUIRE_BACKUP_FULL_IF_NEEDED,
						 &st));
				assert_int_equal(st.full, 1);
			} else {
				QOK(e);
				incs++;
			}
			assert_int_equal(st.txn, h.txn[h.n]);
			hist_check_copy(vfs, "/chain.q", &h, st.txn, &rng, 0);
			break;
		}
		case 3:
			if (tu_below(&rng, 3) == 0) {
				QOK(quire_compact(db, NULL));
				compactions++;
			}
			break;
		default:
			break;
		}
	}
	/* the end of the chain, byte for byte a full copy past the
	 * superblock (whose slots differ) */
	QOK(quire_backup(db, "/chain.q", QUIRE_BACKUP_INCREMENTAL |
						 QUIRE_BACKUP_FULL_IF_NEEDED,
			 &st));
	QOK(quire_backup(db, "/last.q", 0, &st));
	same_past_superblock(m, "/chain.q", "/last.q");
	print_message("# %d full, %d incremental backups, %d compactions, "
		      "%d refused after one\n",
		      fulls, incs, compactions, conflicts);
	assert_true(incs >= 5);
	QOK(quire_close(db));
	hist_free(&h);
	memvfs_free(m);
}

/* ---- crashes and faults ---------------------------------------------- */

enum kind { K_FULL, K_INCREMENTAL, K_COMPACTED };
static const char *const kind_name[] = {"full", "incremental", "compacted"};

/* The source of the crash and fault runs, made the same way from seed
 * each time (flags: open_src's): 6 commits, for an incremental backup a
 * copy of them (*before: its commit, else 0), 6 more commits (value
 * blocks among them), synced. */
static quire *setup(qvfs *vfs, struct hist *h, int kind, unsigned flags,
		    uint64_t seed, uint64_t *before)
{
	uint64_t rng = seed;
	quire_backup_stats st;
	quire *db = open_src(vfs, "/src.q", h, flags);
	for (int c = 0; c < 6; c++)
		hist_commit(db, h, &rng);
	*before = 0;
	if (kind == K_INCREMENTAL) {
		QOK(quire_backup(db, "/copy.q", 0, &st));
		*before = st.txn;
	}
	for (int c = 0; c < 6; c++)
		hist_commit(db, h, &rng);
	QOK(quire_sync(db));
	return db;
}

/* The backup of kind to "/copy.q"; a compacted one keeps the last
 * keep_last commits (0: the source's policy, every commit). */
static int run_backup(quire *db, int kind, uint64_t keep_last,
		      quire_backup_stats *st)
{
	quire_compact_options o;
	if (kind == K_FULL)
		return quire_backup(db, "/copy.q", 0, st);
	if (kind == K_INCREMENTAL)
		return quire_backup(db, "/copy.q", QUIRE_BACKUP_INCREMENTAL, st);
	quire_compact_options_init(&o);
	o.keep_last = keep_last;
	return quire_backup_compacted(db, "/copy.q", &o, st);
}

/* "/copy.q" after a backup that crashed or failed (done: that returned
 * 0): a new copy is absent (unless done) or complete at the source's
 * newest commit; an incremental one opens at a commit of the source from
 * its old newest one (before) to the newest (done: the newest). A crash
 * can leave it at a commit between: the appended commits are complete
 * one after the other, and an open that walks past the slot's commit
 * (FORMAT.md section 4) takes the last complete one. Every copy passes
 * quire_check and holds its commit's content. */
static void check_after(struct memvfs *m, const struct hist *h, int kind,
			uint64_t keep_last, uint64_t before, int done,
			uint64_t *rng)
{
	qvfs *vfs = memvfs_vfs(m);
	uint64_t s = h->txn[h->n];
	quire_options o;
	quire *d;
	quire_txn *t;
	size_t sz;
	if (!memvfs_data(m, "/copy.q", &sz)) {
		assert_true(kind != K_INCREMENTAL && !done);
		return;
	}
	if (kind == K_COMPACTED) {
		quire_compact_options co;
		quire_retention all = {.commits = QUIRE_KEEP_ALL};
		quire_compact_options_init(&co);
		co.keep_last = keep_last;
		check_compacted(vfs, "/copy.q", h, s,
				first_kept(h, 0, &co, &all, 0), rng);
		return;
	}
	quire_options_init(&o);
	o.flags = QUIRE_RDONLY;
	QOK(qdb_open_vfs("/copy.q", &o, vfs, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	uint64_t got = quire_txn_id(t);
	quire_abort(t);
	QOK(quire_close(d));
	if (kind != K_INCREMENTAL || done)
		assert_int_equal(got, s);
	assert_true(got >= before && got <= s);
	hist_check_copy(vfs, "/copy.q", h, got, rng, 0);
}

/* A crash at every write, sync, rename and directory sync of a backup of
 * kind, in every way a crash can leave the disk, and a power cut after
 * the backup returned 0 (check_after). */
static void crash_backup(int kind, uint64_t keep_last, uint64_t *states)
{
	uint64_t seed = tu_seed(0xc0b), rng = seed;
	for (uint64_t n = 1;; n++) {
		int crashed = 0;
		for (int mode = 0; mode < MV_CRASH_NMODES; mode++) {
			struct memvfs *m = memvfs_new(seed);
			struct hist h = {0};
			quire_backup_stats st;
			uint64_t before;
			quire *db = setup(memvfs_vfs(m), &h, kind, 0, seed,
					  &before);
			memvfs_crash_at(m, MV_MUTATE | MV_DIR, n);
			int e = run_backup(db, kind, keep_last, &st);
			crashed = memvfs_crashed(m);
			quire_close(db);
			memvfs_crash(m,
				     crashed ? (enum mv_crash)mode
					     : MV_CRASH_DROP,
				     seed + n * 13 + (uint64_t)mode);
			if (!crashed)
				QOK(e);
			check_after(m, &h, kind, keep_last, before, !crashed,
				    &rng);
			*states += crashed;
			hist_free(&h);
			memvfs_free(m);
			if (!crashed)
				break;
		}
		if (!crashed)
			break;
	}
}

static void test_crash(void **state)
{
	(void)state;
	static const struct {
		int kind;
		uint64_t keep_last;
	} runs[] = {{K_FULL, 0}, {K_INCREMENTAL, 0}, {K_COMPACTED, 3},
		    {K_COMPACTED, 0}};
	for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
		uint64_t states = 0;
		crash_backup(runs[r].kind, runs[r].keep_last, &states);
		print_message("# crash states of a %s backup (keep_last %llu): "
			      "%llu\n",
			      kind_name[runs[r].kind],
			      (unsigned long long)runs[r].keep_last,
			      (unsigned long long)states);
		assert_true(states >= 5 * MV_CRASH_NMODES);
	}
}

/* EIO or ENOSPC, once or from then on, at every VFS call of a backup of
 * kind: the backup returns that error with a message (or 0, where the
 * failed call was one it can do without), the source is unharmed (the
 * same bytes, the handle reads and commits), and the copy is as
 * check_after says, with no ".partial" left unless the fault also failed
 * its removal (persistent); once the fault is gone the backup succeeds. */
static uint64_t fault_backup(int kind, unsigned flags, uint64_t keep_last)
{
	static const struct {
		int err, persist;
	} faults[] = {{EIO, 0}, {EIO, 1}, {ENOSPC, 0}, {ENOSPC, 1}};
	uint64_t seed = tu_seed(0xfa17), rng = seed, before;
	uint64_t injections = 0, failed = 0, leftovers = 0;
	quire_backup_stats st;
	struct memvfs *m = memvfs_new(seed);
	struct hist h = {0};
	quire *db = setup(memvfs_vfs(m), &h, kind, flags, seed, &before);
	uint64_t c0 = memvfs_calls(m, MV_ALL);
	QOK(run_backup(db, kind, keep_last, &st));
	uint64_t calls = memvfs_calls(m, MV_ALL) - c0;
	QOK(quire_close(db));
	hist_free(&h);
	memvfs_free(m);
	assert_true(calls >= 10);
	for (uint64_t n = 1; n <= calls; n++) {
		for (size_t f = 0; f < sizeof faults / sizeof *faults; f++) {
			size_t srcn, sz;
			char msg[512];
			m = memvfs_new(seed);
			memset(&h, 0, sizeof h);
			db = setup(memvfs_vfs(m), &h, kind, flags, seed,
				   &before);
			uint8_t *src = dup_file(m, "/src.q", &srcn);
			memvfs_fault(m, MV_ALL, n, faults[f].err,
				     faults[f].persist, 0);
			int e = run_backup(db, kind, keep_last, &st);
			snprintf(msg, sizeof msg, "%s", quire_errmsg());
			memvfs_clear_faults(m);
			if (e) {
				int want = faults[f].err == EIO ? QUIRE_EIO
								: QUIRE_ENOSPC;
				if (e != want || !*msg)
					fail_msg("%s backup, %s%s at call %llu "
						 "of %llu: got %d (%s)",
						 kind_name[kind],
						 faults[f].err == EIO ? "EIO"
								      : "ENOSPC",
						 faults[f].persist
							 ? " persistent"
							 : "",
						 (unsigned long long)n,
						 (unsigned long long)calls, e,
						 msg);
				failed++;
			}
			/* the source: the same bytes; the handle reads the
			 * newest commit and commits */
			const uint8_t *now = memvfs_data(m, "/src.q", &sz);
			assert_int_equal(sz, srcn);
			assert_memory_equal(now, src, sz);
			free(src);
			quire_txn *t;
			QOK(quire_begin(db, QUIRE_RDONLY, &t));
			model_check_txn(&h.state[h.n], t);
			quire_abort(t);
			/* a leftover only where the cleanup failed too */
			if (memvfs_data(m, "/copy.q.partial", &sz)) {
				assert_true(e && faults[f].persist);
				QOK(memvfs_vfs(m)->remove(memvfs_vfs(m),
							  "/copy.q.partial"));
				leftovers++;
			}
			/* a new copy renamed into place whose directory sync
			 * failed is complete, and says so */
			if (e && kind != K_INCREMENTAL &&
			    memvfs_data(m, "/copy.q", &sz))
				assert_non_null(strstr(msg, "directory"));
			check_after(m, &h, kind, keep_last, before, !e, &rng);
			if (e && !memvfs_data(m, "/copy.q", &sz)) {
				QOK(run_backup(db, kind, keep_last, &st));
				check_after(m, &h, kind, keep_last, before, 1,
					    &rng);
			} else if (e && kind == K_INCREMENTAL) {
				QOK(run_backup(db, kind, keep_last, &st));
				check_after(m, &h, kind, keep_last, before, 1,
					    &rng);
			}
			hist_commit(db, &h, &rng);
			QOK(quire_close(db));
			hist_free(&h);
			memvfs_free(m);
			injections++;
		}
	}
	print_message("# %s backup%s: %llu calls, %llu injections, %llu "
		      "failed, %llu leftovers removed by hand\n",
		      kind_name[kind], flags ? " (no mapping)" : "",
		      (unsigned long long)calls,
		      (unsigned long long)injections,
		      (unsigned long long)failed,
		      (unsigned long long)leftovers);
	assert_true(failed >= calls); /* most injections fail the backup */
	return injections;
}

static void test_faults(void **state)
{
	(void)state;
	uint64_t total = 0;
	/* without the mapping the source is read through the VFS too */
	for (unsigned flags = 0; flags <= QUIRE_NOMMAP; flags += QUIRE_NOMMAP) {
		total += fault_backup(K_FULL, flags, 0);
		total += fault_backup(K_INCREMENTAL, flags, 0);
		total += fault_backup(K_COMPACTED, flags, 3);
	}
	print_message("# EIO/ENOSPC injections: %llu\n",
		      (unsigned long long)total);
	assert_true(total >= 4 * 120);
}

/* In buf: the test directory's file name, which does not exist. */
static void scratch(char *buf, size_t n, const char *name)
{
	mkdir(tu_path("backup"), 0700);
	tu_pathcat(buf, n, tu_path("backup"), name);
	unlink(buf);
}

/* A new database of mode 0640 at path (o: its options). */
static quire *create_real(const char *path, quire_options *o)
{
	quire *db;
	quire_options_init(o);
	o->flags = QUIRE_CREATE;
	o->mode = 0640;
	o->auto_compact_ratio = 0; /* compactions are the test's */
	QOK(quire_open(path, o, &db));
	return db;
}

/* Real files: the copy takes the source's mode; bad input is refused
 * with nothing written. */
static void test_files(void **state)
{
	(void)state;
	char src[512], dst[512], part[600];
	quire_options o;
	quire *db;
	quire_backup_stats st;
	struct stat sb;
	scratch(src, sizeof src, "src.q");
	scratch(dst, sizeof dst, "dst.q");
	scratch(part, sizeof part, "dst.q.partial");
	db = create_real(src, &o);
	tu_put1(db, "a", "1");
	assert_int_equal(quire_backup(NULL, dst, 0, &st), QUIRE_EINVAL);
	assert_int_equal(quire_backup(db, NULL, 0, &st), QUIRE_EINVAL);
	assert_int_equal(quire_backup(db, dst, 0x80, &st), QUIRE_EINVAL);
	assert_int_equal(quire_backup(db, src, QUIRE_BACKUP_INCREMENTAL, &st),
			 QUIRE_EINVAL);
	QOK(quire_backup(db, dst, 0, &st));
	QOK(stat(dst, &sb));
	assert_int_equal(sb.st_mode & 07777, 0640);
	/* exists: only an incremental backup appends */
	tu_put1(db, "b", "2");
	assert_int_equal(quire_backup(db, dst, 0, &st), QUIRE_EINVAL);
	QOK(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL, &st));
	assert_int_equal(st.full, 0);
	assert_true(st.txn > st.txn_before);
	/* up to date: nothing to copy */
	QOK(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL, &st));
	assert_int_equal(st.bytes_copied, 0);
	/* a crash's leftover .partial (nobody holds it) is cleared away */
	FILE *f = fopen(part, "w");
	assert_non_null(f);
	fputs("half a copy", f);
	fclose(f);
	unlink(dst);
	QOK(quire_backup(db, dst, 0, &st));
	assert_int_equal(access(part, F_OK), -1);
	/* one another backup is writing (its lock held) blocks a new copy */
	qvfs *uv = qvfs_unix();
	qvfs_file *held;
	unlink(dst);
	QOK(uv->open(uv, part, QVFS_CREATE, 0600, &held));
	QOK(held->ops->lock(held, QVFS_LOCK_TRY));
	assert_int_equal(quire_backup(db, dst, 0, &st), QUIRE_EBUSY);
	assert_int_equal(access(dst, F_OK), -1);
	assert_int_equal(access(part, F_OK), 0);
	held->ops->close(held);
	unlink(part);
	/* a copy written to is no longer a copy */
	QOK(quire_backup(db, dst, 0, &st));
	quire *d;
	o.flags = 0;
	QOK(quire_open(dst, &o, &d));
	tu_put1(d, "c", "3");
	QOK(quire_close(d));
	tu_put1(db, "e", "5");
	assert_int_equal(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL, &st),
			 QUIRE_ECONFLICT);
	QOK(quire_open(dst, &o, &d));
	tu_expect(d, "c", "3"); /* unchanged */
	QOK(quire_close(d));
	QOK(quire_backup(db, dst,
			 QUIRE_BACKUP_INCREMENTAL | QUIRE_BACKUP_FULL_IF_NEEDED,
			 &st));
	assert_int_equal(st.full, 1);
	QOK(quire_open(dst, &o, &d));
	quire_txn *t;
	quire_val v;
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_get(t, "c", 1, &v), QUIRE_NOTFOUND);
	quire_abort(t);
	tu_expect(d, "e", "5");
	QOK(quire_close(d));
	/* through a symbolic link: the copy replaced stays behind the link */
	char lnk[520];
	snprintf(lnk, sizeof lnk, "%s.link", dst);
	unlink(lnk);
	QOK(symlink(dst, lnk));
	QOK(quire_open(dst, &o, &d));
	tu_put1(d, "f", "6"); /* no longer a copy */
	QOK(quire_close(d));
	QOK(quire_backup(db, lnk,
			 QUIRE_BACKUP_INCREMENTAL | QUIRE_BACKUP_FULL_IF_NEEDED,
			 &st));
	assert_int_equal(st.full, 1);
	QOK(lstat(lnk, &sb));
	assert_true(S_ISLNK(sb.st_mode));
	QOK(quire_open(dst, &o, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_get(t, "f", 1, &v), QUIRE_NOTFOUND);
	quire_abort(t);
	tu_expect(d, "e", "5");
	QOK(quire_close(d));
	unlink(lnk);
	/* a copy with two names is not replaced: it would split in two */
	char twin[520];
	snprintf(twin, sizeof twin, "%s.twin", dst);
	unlink(twin);
	QOK(link(dst, twin));
	QOK(quire_open(dst, &o, &d));
	tu_put1(d, "g", "7");
	QOK(quire_close(d));
	assert_int_equal(quire_backup(db, dst, QUIRE_BACKUP_INCREMENTAL |
						       QUIRE_BACKUP_FULL_IF_NEEDED,
				      &st),
			 QUIRE_EINVAL);
	QOK(quire_open(twin, &o, &d));
	tu_expect(d, "g", "7"); /* unchanged, still one file */
	QOK(quire_close(d));
	unlink(twin);
	QOK(quire_close(db));
}

struct prog {
	quire *db;     /* commit to it at each call (a writer goes on) */
	int calls, commits, cancel_at;
	uint64_t done, total;
};

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct prog *p = ctx;
	p->calls++;
	p->done = done;
	p->total = total;
	if (p->db) {
		tu_put1(p->db, "during", "x");
		p->commits++;
	}
	return p->cancel_at && p->calls >= p->cancel_at;
}

/* Real files: a compacted copy takes the source's mode; the source's
 * writer commits while it is made (from its progress callback, and a
 * write transaction open in the same thread): no lock of the source is
 * held; cancel, bad input and an existing name leave nothing behind. */
static void test_compacted_files(void **state)
{
	(void)state;
	char src[512], dst[512], part[600], other[512], lnk[512];
	quire_options o;
	quire_compact_options co;
	quire_backup_stats st;
	quire *db, *d;
	quire_txn *t, *w;
	quire_val v;
	struct stat sb;
	struct prog p = {0};
	quire_retention all = {.commits = QUIRE_KEEP_ALL};
	scratch(src, sizeof src, "csrc.q");
	scratch(dst, sizeof dst, "cdst.q");
	scratch(part, sizeof part, "cdst.q.partial");
	scratch(other, sizeof other, "cdst2.q");
	scratch(lnk, sizeof lnk, "cdst.link");
	db = create_real(src, &o);
	QOK(quire_set_retention(db, &all));
	tu_put1(db, "a", "1");
	tu_put1(db, "b", "2");
	tu_put1(db, "c", "3");
	uint64_t s = hist_newest_txn(db);
	quire_compact_options_init(&co);
	assert_int_equal(quire_backup_compacted(NULL, dst, &co, &st),
			 QUIRE_EINVAL);
	assert_int_equal(quire_backup_compacted(db, NULL, &co, &st),
			 QUIRE_EINVAL);
	assert_int_equal(quire_backup_compacted(db, "", &co, &st),
			 QUIRE_EINVAL);
	co.version = 0;
	assert_int_equal(quire_backup_compacted(db, dst, &co, &st),
			 QUIRE_EINVAL);
	quire_compact_options_init(&co);
	co.keep_since_txn = s + 1; /* no such commit yet */
	assert_int_equal(quire_backup_compacted(db, dst, &co, &st),
			 QUIRE_EINVAL);
	quire_compact_options_init(&co);
	co.keep_since_ns = UINT64_MAX / 2; /* the future */
	assert_int_equal(quire_backup_compacted(db, dst, &co, &st),
			 QUIRE_EINVAL);
	assert_int_equal(quire_backup_compacted(db, src, NULL, &st),
			 QUIRE_EINVAL); /* the database itself */
	assert_int_equal(access(dst, F_OK), -1);
	assert_int_equal(access(part, F_OK), -1);
	/* cancelled by the callback: nothing left */
	quire_compact_options_init(&co);
	co.progress = on_progress;
	co.progress_ctx = &p;
	p.cancel_at = 1;
	assert_int_equal(quire_backup_compacted(db, dst, &co, &st),
			 QUIRE_ECANCELED);
	assert_true(*quire_errmsg());
	assert_int_equal(access(dst, F_OK), -1);
	assert_int_equal(access(part, F_OK), -1);
	/* the writer commits at every progress call */
	p = (struct prog){.db = db};
	co.keep_last = 2;
	QOK(quire_backup_compacted(db, dst, &co, &st));
	assert_int_equal(st.txn, s);
	assert_int_equal(st.full, 1);
	assert_true(p.calls >= 2 && p.commits == p.calls);
	assert_int_equal(p.done, st.bytes_copied); /* the last call */
	assert_int_equal(p.total, st.bytes_copied);
	QOK(stat(dst, &sb));
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_int_equal((uint64_t)sb.st_size, st.bytes_copied);
	assert_int_equal(access(part, F_OK), -1);
	o.flags = QUIRE_RDONLY;
	QOK(quire_open(dst, &o, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_txn_id(t), s);
	assert_int_equal(quire_get(t, "during", 6, &v), QUIRE_NOTFOUND);
	quire_abort(t);
	tu_expect(d, "c", "3");
	assert_int_equal(quire_begin_at(d, s - 2, &t), QUIRE_EHISTORY);
	QOK(quire_begin_at(d, s - 1, &t));
	quire_abort(t);
	QOK(quire_close(d));
	/* an existing copy is not replaced */
	assert_int_equal(quire_backup_compacted(db, dst, NULL, &st),
			 QUIRE_EINVAL);
	/* this thread holds the source's write transaction meanwhile */
	QOK(quire_begin(db, 0, &w));
	QOK(quire_put(w, "pending", 7, "y", 1));
	QOK(quire_backup_compacted(db, other, NULL, &st));
	QOK(quire_commit(w));
	QOK(quire_open(other, &o, &d));
	QOK(quire_begin(d, QUIRE_RDONLY, &t));
	assert_int_equal(quire_get(t, "pending", 7, &v), QUIRE_NOTFOUND);
	QOK(quire_get(t, "during", 6, &v));
	quire_abort(t);
	QOK(quire_close(d));
	/* a symbolic link to nothing at the name: it exists, and stays */
	QOK(symlink("nowhere", lnk));
	assert_int_equal(quire_backup_compacted(db, lnk, NULL, &st),
			 QUIRE_EINVAL);
	QOK(lstat(lnk, &sb));
	assert_true(S_ISLNK(sb.st_mode));
	char lpart[600];
	snprintf(lpart, sizeof lpart, "%s.partial", lnk);
	assert_int_equal(access(lpart, F_OK), -1);
	unlink(lnk);
	unlink(other);
	unlink(dst);
	QOK(quire_close(db));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_compacted_model),
		cmocka_unit_test(test_crash),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_compacted_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
